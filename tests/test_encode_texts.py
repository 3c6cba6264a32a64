"""`encode_texts`, the examples' fast path to `encode_batch`, returns exactly what `tokenizer(...)` returns, for every
algorithm and variant, with and without truncation, and leaves the tokenizer as it found it."""

import copy

import pytest
from tokenizers import processors
from transformers import PreTrainedTokenizerFast

from vanilla_transformer.tokenization import ALGORITHMS, VARIANTS, encode_texts

from tokenizer_helpers import DE, EN, trained


ALL = [(algorithm, variant) for algorithm in ALGORITHMS for variant in VARIANTS]
SOURCES = [*EN, "", "  spaces   around  ", EN[2] + " " + EN[3]]
TARGETS = [*DE, "", "!", DE[2] + " " + DE[3]]
TRUNCATION = {
    "none": {},
    "truncation and max_length": dict(truncation=True, max_length=6),
    "max_length alone": dict(max_length=5),  # turns truncation on, as in tokenizer(...)
    "truncation to model_max_length": dict(truncation=True),
}


def fresh(algorithm: str, variant: str = "seq2seq"):
    """A copy of the shared tokenizer: tokenizer(..., truncation=True) leaves its settings on the backend."""
    return copy.deepcopy(trained(algorithm, variant))


def expected(tokenizer, *args, **kwargs) -> dict:
    return dict(tokenizer(*args, **kwargs))


@pytest.mark.parametrize("options", list(TRUNCATION))
@pytest.mark.parametrize("algorithm,variant", ALL)
def test_texts(algorithm, variant, options):
    tokenizer = fresh(algorithm, variant)
    kwargs = TRUNCATION[options]
    assert encode_texts(tokenizer, SOURCES, **kwargs) == expected(tokenizer, SOURCES, **kwargs)


@pytest.mark.parametrize("options", list(TRUNCATION))
@pytest.mark.parametrize("algorithm,variant", ALL)
def test_pairs_with_special_tokens_mask(algorithm, variant, options):
    tokenizer = fresh(algorithm, variant)
    kwargs = dict(return_special_tokens_mask=True, **TRUNCATION[options])
    assert encode_texts(tokenizer, SOURCES, TARGETS, **kwargs) == expected(tokenizer, SOURCES, TARGETS, **kwargs)


@pytest.mark.parametrize("algorithm,variant", ALL)
def test_pairs_truncated_in_the_first_text_only(algorithm, variant):
    tokenizer = fresh(algorithm, variant)
    questions = ["Why?"] * len(SOURCES)  # short enough to leave room for the first text
    kwargs = dict(truncation="only_first", max_length=10)
    features = encode_texts(tokenizer, SOURCES, questions, **kwargs)
    assert features == expected(tokenizer, SOURCES, questions, **kwargs)
    assert max(map(len, features["input_ids"])) == 10


@pytest.mark.parametrize("options", ["none", "truncation and max_length", "truncation to model_max_length"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_labels_from_text_target(algorithm, options):
    tokenizer = fresh(algorithm, "seq2seq")
    kwargs = dict(text_target=TARGETS, **TRUNCATION[options])
    assert encode_texts(tokenizer, SOURCES, **kwargs) == expected(tokenizer, SOURCES, **kwargs)
    assert encode_texts(tokenizer, None, **kwargs) == expected(tokenizer, None, **kwargs)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_separate_max_target_length(algorithm):
    tokenizer = fresh(algorithm, "seq2seq")
    kwargs = dict(text_target=TARGETS, truncation=True, max_length=8, max_target_length=4)
    features = encode_texts(tokenizer, SOURCES, **kwargs)
    assert features == expected(tokenizer, SOURCES, **kwargs)
    assert max(map(len, features["input_ids"])) == 8 and max(map(len, features["labels"])) == 4


@pytest.mark.parametrize("algorithm,variant", ALL)
def test_truncation_side_left(algorithm, variant):
    tokenizer = fresh(algorithm, variant)
    tokenizer.truncation_side = "left"
    features = encode_texts(tokenizer, SOURCES, truncation=True, max_length=6)
    assert features == expected(tokenizer, SOURCES, truncation=True, max_length=6)
    assert features != encode_texts(fresh(algorithm, variant), SOURCES, truncation=True, max_length=6)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_special_tokens_and_no_attention_mask(algorithm):
    tokenizer = fresh(algorithm, "decoder")
    kwargs = dict(add_special_tokens=False, return_attention_mask=False)
    features = encode_texts(tokenizer, SOURCES, **kwargs)
    assert features == expected(tokenizer, SOURCES, **kwargs) and list(features) == ["input_ids"]


@pytest.mark.parametrize("backend_settings", ["none", "truncation and padding"])
def test_the_backend_settings_are_left_as_they_were(backend_settings):
    tokenizer = fresh("bpe")
    backend = tokenizer.backend_tokenizer
    if backend_settings != "none":
        backend.enable_truncation(max_length=50, stride=2, strategy="only_first", direction="left")
        backend.enable_padding(length=40, pad_id=0, pad_token="<pad>")
    before = backend.truncation, backend.padding, backend.encode_special_tokens
    features = encode_texts(tokenizer, SOURCES, text_target=TARGETS, truncation=True, max_length=6)
    assert (backend.truncation, backend.padding, backend.encode_special_tokens) == before
    # and the settings found there did not change the result: tokenizer(...) ignores them too
    assert features == expected(tokenizer, SOURCES, text_target=TARGETS, truncation=True, max_length=6)


class TargetModeTokenizer(PreTrainedTokenizerFast):
    """Encodes targets with another template, as the Marian and mBART tokenizers do."""

    def _switch_to_target_mode(self):
        self._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])

    def _switch_to_input_mode(self):
        self._tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3)])


def test_tokenizers_with_a_target_mode_are_called_the_ordinary_way():
    source = trained("bpe", "seq2seq")  # its backend is copied
    tokenizer = TargetModeTokenizer(tokenizer_object=source.backend_tokenizer, bos_token="<s>", eos_token="</s>")
    features = encode_texts(tokenizer, SOURCES, text_target=TARGETS, max_length=6)
    assert features == expected(tokenizer, SOURCES, text_target=TARGETS, max_length=6)
    assert features["labels"][0][0] == 2 and features["input_ids"][0][-1] == 3  # the two templates


def test_a_single_string_is_refused():
    with pytest.raises(TypeError, match="pass lists of strings"):
        encode_texts(fresh("bpe"), "A man rides a horse.")
    with pytest.raises(ValueError, match="needs texts, text_target or both"):
        encode_texts(fresh("bpe"), None)
