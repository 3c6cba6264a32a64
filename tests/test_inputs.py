"""Every bad input is a ValueError at the model's boundary that names the problem, never an error deep inside."""

import pytest
import torch
from transformers import DynamicCache

import vanilla_transformer as vt

from helpers import ALL_MODEL_CLASSES, EXTRA_HEAD_CLASSES, is_seq2seq, model_inputs, tiny_model


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


EMBEDS_CASES = ("ids and embeds", "no ids", "embeds of the wrong width")


@pytest.mark.parametrize("model_class", [*ALL_MODEL_CLASSES, *EXTRA_HEAD_CLASSES])
@pytest.mark.parametrize("case", list(BAD_SOURCE_INPUTS))
def test_bad_inputs_raise_value_error_naming_the_problem(model_class, case):
    model = tiny_model(model_class)
    corrupt, message = BAD_SOURCE_INPUTS[case]
    if model_class is vt.TransformerEncoderDecoderForSequenceClassification and case in EMBEDS_CASES:
        message = "Pass `input_ids`"  # it shifts the ids into the decoder's inputs: embeddings cannot be shifted
    with pytest.raises(ValueError, match=message):
        model(**corrupt(model_inputs(model_class)))


LABELLED_CLASSES = [
    vt.TransformerForCausalLM,
    vt.TransformerForConditionalGeneration,
    vt.TransformerForMaskedLM,
    vt.TransformerForTokenClassification,
    vt.TransformerForSequenceClassification,
]
PER_TOKEN_LABELLED_CLASSES = [
    vt.TransformerForCausalLM,
    vt.TransformerForMaskedLM,
    vt.TransformerForTokenClassification,
]


@pytest.mark.parametrize("model_class", LABELLED_CLASSES)
def test_a_label_outside_the_label_range_raises_value_error(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=True)
    too_big = model.config.num_labels if model_class is vt.TransformerForSequenceClassification else 10**4
    bad = inputs["labels"].clone()
    bad.view(-1)[0] = too_big
    with pytest.raises(ValueError, match="outside"):
        model(**{**inputs, "labels": bad})


@pytest.mark.parametrize("model_class", PER_TOKEN_LABELLED_CLASSES)
def test_per_token_labels_of_another_shape_than_the_input_raise_value_error(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=True)
    with pytest.raises(ValueError, match="input's shape"):
        model(**{**inputs, "labels": inputs["labels"][:, :-1]})


# The encoder-decoder's own mistakes: (config overrides, what to call the model with, words the error must contain).
SEQ2SEQ_MISTAKES = {
    "decoder ids out of vocabulary": (
        {},
        lambda i: {**i, "decoder_input_ids": i["decoder_input_ids"].clone().fill_(500)},
        "decoder_input_ids",
    ),
    "decoder batch size differs": ({}, lambda i: {**i, "decoder_input_ids": i["decoder_input_ids"][:2]}, "batch size"),
    "a decoder-only cache": ({}, lambda i: {**i, "cache": DynamicCache(), "use_cache": True}, "EncoderDecoderCache"),
    "a legacy tuple cache": ({}, lambda i: {**i, "cache": ((torch.zeros(1), torch.zeros(1)),)}, "tuples"),
    "labels disagreeing with the decoder inputs": (
        {},
        lambda i: {**i, "labels": torch.randint(5, 99, (3, 2))},
        "labels",
    ),
    "labels without a decoder start token": (
        dict(decoder_start_token_id=None),
        lambda i: {"input_ids": i["input_ids"], "labels": torch.randint(5, 99, (3, 4))},
        "decoder_start_token_id",
    ),
}


@pytest.mark.parametrize("case", list(SEQ2SEQ_MISTAKES))
def test_seq2seq_mistakes_raise_value_error_naming_the_problem(case):
    overrides, call, message = SEQ2SEQ_MISTAKES[case]
    model = tiny_model(vt.TransformerForConditionalGeneration, **overrides)
    with pytest.raises(ValueError, match=message):
        model(**call(model_inputs(vt.TransformerForConditionalGeneration)))


def test_cached_decoding_mask_must_cover_cached_tokens():
    model = tiny_model(vt.TransformerForCausalLM)
    ids = torch.randint(5, 99, (2, 4))
    cache = model(ids, use_cache=True).cache
    with pytest.raises(ValueError, match=r"4 cached \+ 1 new tokens"):
        model(ids[:, :1], attention_mask=torch.ones(2, 1), cache=cache)


def learned_positions_model():
    return tiny_model(vt.TransformerForCausalLM, position_embedding_type="learned", max_position_embeddings=8)


@pytest.mark.parametrize(
    "inputs",
    [
        lambda: dict(input_ids=torch.randint(5, 99, (1, 9))),
        lambda: dict(input_ids=torch.randint(5, 99, (1, 3)), position_ids=torch.tensor([[0, 1, 8]])),
    ],
    ids=["a sequence longer than the table", "a position id beyond the table"],
)
def test_learned_positions_reject_positions_beyond_the_table(inputs):
    with pytest.raises(ValueError, match="max_position_embeddings=8"):
        learned_positions_model()(**inputs())


def test_learned_positions_accept_a_sequence_as_long_as_the_table():
    assert torch.isfinite(learned_positions_model()(torch.randint(5, 99, (1, 8))).logits).all()


@pytest.mark.parametrize(
    "position_ids, message",
    [(torch.arange(3)[None], "position_ids"), (torch.tensor([[-1, 0, 1, 2]]), "non-negative")],
    ids=["wrong length", "negative"],
)
def test_bad_position_ids_raise_value_error(position_ids, message):
    model = tiny_model(vt.TransformerForCausalLM)
    with pytest.raises(ValueError, match=message):
        model(torch.randint(5, 99, (2, 4)), position_ids=position_ids)


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
