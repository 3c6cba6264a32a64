"""The training loss without the logits (`modeling/loss.py`): the same loss and gradients as the plain path (float32
there, as the library's losses upcast to it; the function itself is exact in float64)."""

import pytest
import torch

import vanilla_transformer as vt
from vanilla_transformer.modeling.loss import linear_cross_entropy

from helpers import make_labels, model_inputs, tiny_model


LM_HEADS = [vt.TransformerForCausalLM, vt.TransformerForConditionalGeneration, vt.TransformerForMaskedLM]


def _masked_lm_labels(inputs):
    labels = inputs["input_ids"].clone()
    labels[:, ::3] = -100  # as the MLM collator leaves most positions unlabelled
    return labels.masked_fill(inputs["attention_mask"] == 0, -100)


def _loss_and_grads(model, inputs, labels, skip_logits):
    model.zero_grad()
    out = model(**inputs, labels=labels, skip_logits=skip_logits)
    out.loss.backward()
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def _training_batch(model_class):
    inputs = model_inputs(model_class)
    labels = (
        _masked_lm_labels(inputs) if model_class is vt.TransformerForMaskedLM else make_labels(model_class, inputs)
    )
    return inputs, labels


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_the_loss_without_logits_equals_the_plain_loss(model_class):
    model = tiny_model(model_class).train()
    inputs, labels = _training_batch(model_class)
    fused, _ = _loss_and_grads(model, inputs, labels, skip_logits=True)
    plain, _ = _loss_and_grads(model, inputs, labels, skip_logits=False)
    torch.testing.assert_close(fused.loss, plain.loss, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_the_loss_without_logits_gives_the_plain_gradients(model_class):
    model = tiny_model(model_class).train()
    inputs, labels = _training_batch(model_class)
    _, fused = _loss_and_grads(model, inputs, labels, skip_logits=True)
    _, plain = _loss_and_grads(model, inputs, labels, skip_logits=False)
    assert fused.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(fused[name], plain[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_num_items_in_batch_divides_the_summed_loss_as_the_plain_path_does(model_class):
    model = tiny_model(model_class).train()
    inputs, labels = _training_batch(model_class)
    count = torch.tensor(40)
    fused = model(**inputs, labels=labels, skip_logits=True, num_items_in_batch=count).loss
    plain = model(**inputs, labels=labels, skip_logits=False, num_items_in_batch=count).loss
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_training_with_labels_skips_the_logits_by_default(model_class):
    inputs, labels = _training_batch(model_class)
    assert tiny_model(model_class).train()(**inputs, labels=labels).logits is None


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_evaluation_returns_the_logits(model_class):
    inputs, labels = _training_batch(model_class)
    out = tiny_model(model_class).eval()(**inputs, labels=labels)
    assert out.logits is not None and out.loss is not None


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_a_caller_who_asks_gets_the_logits_in_training(model_class):
    inputs, labels = _training_batch(model_class)
    out = tiny_model(model_class).train()(**inputs, labels=labels, skip_logits=False)
    assert out.logits is not None


def test_skipping_the_logits_without_labels_is_refused():
    model = tiny_model(vt.TransformerForCausalLM)
    with pytest.raises(ValueError, match="needs `labels`"):
        model(**model_inputs(vt.TransformerForCausalLM), skip_logits=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no bias", "bias"])
def test_linear_cross_entropy_matches_the_library_cross_entropy_in_chunks(smoothing, with_bias):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 16, dtype=torch.double, generator=generator, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.double, generator=generator, requires_grad=True)
    bias = torch.randn(50, dtype=torch.double, generator=generator, requires_grad=True) if with_bias else None
    labels = torch.randint(0, 50, (37,), generator=generator)
    labels[::5] = -100
    params = [hidden, weight] + ([bias] if with_bias else [])
    fused = linear_cross_entropy(hidden, weight, labels, bias=bias, label_smoothing=smoothing, chunk_size=7)
    plain = torch.nn.functional.cross_entropy(
        torch.nn.functional.linear(hidden, weight, bias), labels, label_smoothing=smoothing
    )
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    for got, expected in zip(torch.autograd.grad(fused, params), torch.autograd.grad(plain, params)):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_a_batch_without_labelled_tokens_gives_a_zero_loss_not_nan():
    model = tiny_model(vt.TransformerForCausalLM).train()
    inputs = model_inputs(vt.TransformerForCausalLM)
    out = model(**inputs, labels=torch.full_like(inputs["input_ids"], -100))
    out.loss.backward()
    assert out.loss.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
