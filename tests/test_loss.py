"""The training loss without the logits (`modeling/loss.py`): the same loss and gradients as the plain path (float32
there, as the library's losses upcast to it; the function itself is exact in float64)."""

import math

import pytest
import torch
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainingArguments
from transformers.utils import find_labels

import vanilla_transformer as vt
from vanilla_transformer.modeling.loss import linear_cross_entropy
from vanilla_transformer.training import InOrderSeq2SeqTrainer, InOrderTrainer

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


def _projection_case(dtype):
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(37, 16, generator=generator).to(dtype).requires_grad_()
    weight = torch.randn(50, 16, generator=generator).to(dtype).requires_grad_()
    labels = torch.randint(0, 50, (37,), generator=generator)
    return hidden, weight, labels


def test_an_upstream_gradient_scales_the_fused_gradients():
    hidden, weight, labels = _projection_case(torch.double)
    fused = linear_cross_entropy(hidden, weight, labels, chunk_size=7)
    plain = torch.nn.functional.cross_entropy(torch.nn.functional.linear(hidden, weight), labels)
    got = torch.autograd.grad(2.5 * fused, [hidden, weight])
    expected = torch.autograd.grad(2.5 * plain, [hidden, weight])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


def test_bfloat16_rows_accumulate_the_weight_gradient_in_float32():
    hidden, weight, labels = _projection_case(torch.bfloat16)
    fused = linear_cross_entropy(hidden, weight, labels, chunk_size=7)
    reference_hidden, reference_weight = (t.detach().double().requires_grad_() for t in (hidden, weight))
    plain = torch.nn.functional.cross_entropy(torch.nn.functional.linear(reference_hidden, reference_weight), labels)
    got = torch.autograd.grad(fused, [hidden, weight])
    expected = torch.autograd.grad(plain, [reference_hidden, reference_weight])
    assert got[1].dtype == torch.bfloat16
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.double(), e, rtol=0.05, atol=2e-3)


def test_a_second_backward_through_the_fused_loss_fails_loudly():
    hidden, weight, labels = _projection_case(torch.float32)
    loss = linear_cross_entropy(hidden, weight, labels)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward pass"):
        loss.backward()


def test_a_batch_without_labelled_tokens_gives_a_zero_loss_not_nan():
    model = tiny_model(vt.TransformerForCausalLM).train()
    inputs = model_inputs(vt.TransformerForCausalLM)
    out = model(**inputs, labels=torch.full_like(inputs["input_ids"], -100))
    out.loss.backward()
    assert out.loss.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ---- label smoothing in the model, and through the package's Trainers ----------------------------------------------


@pytest.mark.parametrize("model_class", LM_HEADS)
def test_label_smoothing_without_logits_equals_the_plain_smoothed_loss(model_class):
    model = tiny_model(model_class).train()
    inputs, labels = _training_batch(model_class)
    fused = model(**inputs, labels=labels, smoothing=0.1, skip_logits=True).loss
    plain = model(**inputs, labels=labels, smoothing=0.1, skip_logits=False).loss
    torch.testing.assert_close(fused, plain, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, True])
def test_a_label_smoothing_outside_zero_to_one_is_refused(smoothing):
    inputs, labels = _training_batch(vt.TransformerForCausalLM)
    with pytest.raises(ValueError, match="smoothing"):
        tiny_model(vt.TransformerForCausalLM)(**inputs, labels=labels, smoothing=smoothing)


TRAINERS = {  # ours, and the library's own, for each generative head
    vt.TransformerForCausalLM: (InOrderTrainer, Trainer, TrainingArguments),
    vt.TransformerForConditionalGeneration: (InOrderSeq2SeqTrainer, Seq2SeqTrainer, Seq2SeqTrainingArguments),
}


def _trainer_loss_and_grads(trainer_class, arguments_class, model_class, tmp_path, num_items):
    model = tiny_model(model_class).train()
    args = arguments_class(str(tmp_path), label_smoothing_factor=0.1, report_to=[], use_cpu=True)
    inputs, labels = _training_batch(model_class)
    if model_class is vt.TransformerForConditionalGeneration:  # the collator's decoder inputs: the Trainer pops labels
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels)
    loss, outputs = trainer_class(model=model, args=args).compute_loss(
        model, {**inputs, "labels": labels}, return_outputs=True, num_items_in_batch=num_items
    )
    loss.backward()
    return loss, outputs, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("num_items", [None, torch.tensor(40)], ids=["mean", "num_items_in_batch"])
@pytest.mark.parametrize("model_class", list(TRAINERS))
def test_our_trainer_smooths_through_the_model_with_the_librarys_loss_and_gradients(model_class, num_items, tmp_path):
    ours, library, arguments = TRAINERS[model_class]
    loss, outputs, grads = _trainer_loss_and_grads(ours, arguments, model_class, tmp_path, num_items)
    expected_loss, _, expected_grads = _trainer_loss_and_grads(library, arguments, model_class, tmp_path, num_items)
    assert outputs.logits is None  # the loss was computed without the logits
    torch.testing.assert_close(loss, expected_loss, rtol=1e-6, atol=1e-6)
    for name in expected_grads:
        torch.testing.assert_close(grads[name], expected_grads[name], rtol=1e-5, atol=1e-7, msg=name)


ALL_HEADS = [getattr(vt, name) for name in vt.__all__ if name.startswith("Transformer") and "For" in name]


@pytest.mark.parametrize("model_class", ALL_HEADS, ids=lambda c: c.__name__)
def test_the_trainer_finds_only_the_true_label_arguments(model_class):
    """`Trainer` treats every forward argument whose name contains "label" as a label each batch must carry: an
    extra one (a `label_smoothing` argument, say) makes it skip the evaluation loss without a word."""
    expected = (
        ["start_positions", "end_positions"] if model_class is vt.TransformerForQuestionAnswering else ["labels"]
    )
    assert find_labels(model_class) == expected


@pytest.mark.parametrize("model_class", list(TRAINERS))
def test_evaluation_with_label_smoothing_reports_the_loss(model_class, tmp_path):
    ours, _, arguments = TRAINERS[model_class]
    model = tiny_model(model_class)
    inputs, labels = _training_batch(model_class)
    rows = [{name: value[i] for name, value in {**inputs, "labels": labels}.items()} for i in range(len(labels))]
    args = arguments(
        str(tmp_path), label_smoothing_factor=0.1, report_to=[], use_cpu=True, per_device_eval_batch_size=2
    )
    metrics = ours(model=model, args=args).evaluate(eval_dataset=rows)
    assert math.isfinite(metrics["eval_loss"])
