"""Every bad input is a ValueError at the model's boundary that names the problem, never an error deep inside."""

import pytest
import torch
from transformers import DynamicCache

import vanilla_transformer as vt

from helpers import ALL_MODEL_CLASSES, is_seq2seq, model_inputs, tiny_model


def _drop(inputs, key):
    inputs = dict(inputs)
    inputs.pop(key)
    return inputs


BAD_SOURCE_INPUTS = {
    "ids out of vocabulary": (
        lambda i: {**i, "input_ids": i["input_ids"].clone().fill_(99)},
        "outside the vocabulary",
    ),
    "negative ids": (lambda i: {**i, "input_ids": i["input_ids"].clone().fill_(-1)}, "outside the vocabulary"),
    "float ids": (lambda i: {**i, "input_ids": i["input_ids"].float()}, "integer token ids"),
    "1D ids": (lambda i: {**_drop(i, "attention_mask"), "input_ids": i["input_ids"][0]}, r"unsqueeze\(0\)"),
    "list ids": (
        lambda i: {**_drop(i, "attention_mask"), "input_ids": i["input_ids"].tolist()},
        "must be a torch.Tensor",
    ),
    "ids and embeds": (lambda i: {**i, "inputs_embeds": torch.zeros(3, 7, 32)}, "exactly one of"),
    "no ids": (lambda i: _drop(i, "input_ids"), "exactly one of"),
    "embeds of the wrong width": (
        lambda i: {**_drop(i, "input_ids"), "inputs_embeds": torch.zeros(3, 7, 31)},
        "d_model=32",
    ),
    "mask of the wrong length": (lambda i: {**i, "attention_mask": i["attention_mask"][:, :-1]}, "attention_mask"),
    "mask of the wrong rank": (lambda i: {**i, "attention_mask": i["attention_mask"][:, None]}, "attention_mask"),
    "empty sequence": (
        lambda i: {
            "input_ids": i["input_ids"][:, :0],
            **({"decoder_input_ids": i["decoder_input_ids"]} if "decoder_input_ids" in i else {}),
        },
        "empty",
    ),
}


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("case", list(BAD_SOURCE_INPUTS))
def test_bad_inputs_raise_value_error_naming_the_problem(model_class, case):
    model = tiny_model(model_class)
    corrupt, message = BAD_SOURCE_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        model(**corrupt(model_inputs(model_class)))


@pytest.mark.parametrize(
    "model_class",
    [
        vt.TransformerForCausalLM,
        vt.TransformerForConditionalGeneration,
        vt.TransformerForMaskedLM,
        vt.TransformerForTokenClassification,
        vt.TransformerForSequenceClassification,
    ],
)
def test_bad_labels_raise_value_error(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=True)
    too_big = model.config.num_labels if model_class is vt.TransformerForSequenceClassification else 10**4
    bad = inputs["labels"].clone()
    bad.view(-1)[0] = too_big
    with pytest.raises(ValueError, match="outside"):
        model(**{**inputs, "labels": bad})
    if model_class in (vt.TransformerForCausalLM, vt.TransformerForMaskedLM, vt.TransformerForTokenClassification):
        with pytest.raises(ValueError, match="input's shape"):
            model(**{**inputs, "labels": inputs["labels"][:, :-1]})


def test_seq2seq_specific_mistakes():
    model = tiny_model(vt.TransformerForConditionalGeneration)
    inputs = model_inputs(vt.TransformerForConditionalGeneration)
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(**{**inputs, "decoder_input_ids": inputs["decoder_input_ids"].clone().fill_(500)})
    with pytest.raises(ValueError, match="batch size"):
        model(**{**inputs, "decoder_input_ids": inputs["decoder_input_ids"][:2]})
    with pytest.raises(ValueError, match="EncoderDecoderCache"):
        model(**inputs, cache=DynamicCache(), use_cache=True)
    with pytest.raises(ValueError, match="tuples"):
        model(**inputs, cache=((torch.zeros(1), torch.zeros(1)),))
    with pytest.raises(ValueError, match="labels"):
        model(**inputs, labels=torch.randint(5, 99, (3, 2)))  # labels and decoder inputs disagree
    no_start = tiny_model(vt.TransformerForConditionalGeneration, decoder_start_token_id=None)
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        no_start(input_ids=inputs["input_ids"], labels=torch.randint(5, 99, (3, 4)))


def test_cached_decoding_mask_must_cover_cached_tokens():
    model = tiny_model(vt.TransformerForCausalLM)
    ids = torch.randint(5, 99, (2, 4))
    cache = model(ids, use_cache=True).cache
    with pytest.raises(ValueError, match=r"4 cached \+ 1 new tokens"):
        model(ids[:, :1], attention_mask=torch.ones(2, 1), cache=cache)


def test_learned_positions_reject_sequences_longer_than_the_table():
    model = tiny_model(vt.TransformerForCausalLM, position_embedding_type="learned", max_position_embeddings=8)
    with pytest.raises(ValueError, match="max_position_embeddings=8"):
        model(torch.randint(5, 99, (1, 9)))
    with pytest.raises(ValueError, match="max_position_embeddings=8"):
        model(torch.randint(5, 99, (1, 3)), position_ids=torch.tensor([[0, 1, 8]]))
    assert torch.isfinite(model(torch.randint(5, 99, (1, 8))).logits).all()


def test_position_ids_are_checked():
    model = tiny_model(vt.TransformerForCausalLM)
    ids = torch.randint(5, 99, (2, 4))
    with pytest.raises(ValueError, match="position_ids"):
        model(ids, position_ids=torch.arange(3)[None])
    with pytest.raises(ValueError, match="non-negative"):
        model(ids, position_ids=torch.tensor([[-1, 0, 1, 2]]))


@pytest.mark.parametrize("model_class", [c for c in ALL_MODEL_CLASSES if not is_seq2seq(c)])
def test_checks_run_before_any_matmul(model_class, monkeypatch):
    model = tiny_model(model_class)
    called = []
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: called.append(1))
    with pytest.raises(ValueError):
        model(input_ids=torch.full((2, 3), 500))
    assert not called


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_an_unknown_keyword_argument_raises_type_error_naming_it(model_class):
    # A keyword no layer reads must not vanish into **kwargs: that is how a renamed cache argument once decoded
    # silently without its past.
    model = tiny_model(model_class)
    with pytest.raises(TypeError, match="`atention_mask`"):
        model(**model_inputs(model_class), atention_mask=torch.ones(3, 7))
