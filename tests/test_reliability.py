"""What an adversarial user found, and the protection each case now has: one row per case, with the error it must
raise at our boundary and the words that error must contain, then the behaviours that are not errors (losses,
resizing, numerics), one test each.

Every row was checked to fail with its protection removed (see the closing note of the reliability issue).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainingArguments

import vanilla_transformer as vt

from helpers import model_inputs, padding_mask, random_ids, tiny_config, tiny_model


@dataclass
class Case:
    """`run(tmp_path)` must raise `error` with every one of `words` in its message."""

    run: Callable
    error: type[Exception]
    words: tuple[str, ...]


def _forward(model_class, **changes):
    def run(tmp_path):
        model = tiny_model(model_class)
        inputs = {**model_inputs(model_class), **changes}
        return model(**{name: value for name, value in inputs.items() if value is not None})

    return run


def _fractional_mask(tmp_path):
    inputs = model_inputs(vt.TransformerForCausalLM)
    mask = inputs["attention_mask"].float()
    mask[0, 0] = 0.5
    return tiny_model(vt.TransformerForCausalLM)(input_ids=inputs["input_ids"], attention_mask=mask)


def _edited_config(edit):
    def run(tmp_path):
        config = tiny_config(vt.TransformerDecoderConfig)
        edit(config)
        return vt.TransformerForCausalLM(config)

    return run


def _from_pretrained_override(tmp_path):
    tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path)
    return vt.TransformerForCausalLM.from_pretrained(tmp_path, num_heads=5)


def _generation_past_learned_positions(tmp_path):
    model = tiny_model(vt.TransformerForCausalLM, position_embedding_type="learned", max_position_embeddings=12)
    steps = []
    model.register_forward_hook(lambda *args: steps.append(1))
    try:
        return model.generate(random_ids(1, 8), max_new_tokens=10, do_sample=False)
    finally:
        assert not steps, f"{len(steps)} decoding steps ran before the error"


def _bad_decoder_ids_before_the_encoder(tmp_path):
    model = tiny_model(vt.TransformerForConditionalGeneration)
    encoder_calls = []
    model.get_encoder().register_forward_hook(lambda *args: encoder_calls.append(1))
    inputs = model_inputs(vt.TransformerForConditionalGeneration)
    inputs["decoder_input_ids"] = inputs["decoder_input_ids"].clone().fill_(10**4)
    try:
        return model(**inputs)
    finally:
        assert not encoder_calls, "the encoder ran before the decoder inputs were checked"


def _pickle_only_folder(tmp_path):
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path)
    torch.save({name: tensor.clone() for name, tensor in model.state_dict().items()}, tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    return vt.TransformerForCausalLM.from_pretrained(tmp_path)


def _corrupted_tensor(tmp_path):
    tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["model.layers.0.feed_forward.fc1.weight"][0, 0] += 1.0  # a valid file, one wrong number
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    return vt.TransformerForCausalLM.from_pretrained(tmp_path)


# Mistakes at the model's boundary.
MODEL_CASES = {
    "fractional float attention mask": Case(_fractional_mask, ValueError, ("attention_mask", "only 0", "and 1")),
    "empty batch": Case(
        _forward(vt.TransformerForCausalLM, input_ids=torch.zeros(0, 7, dtype=torch.long), attention_mask=None),
        ValueError,
        ("batch size 0",),
    ),
    "empty batch (encoder)": Case(
        _forward(vt.TransformerForMaskedLM, input_ids=torch.zeros(0, 7, dtype=torch.long), attention_mask=None),
        ValueError,
        ("batch size 0",),
    ),
    "token_type_ids from a pair tokenizer": Case(
        _forward(vt.TransformerForSequenceClassification, token_type_ids=torch.zeros(3, 7, dtype=torch.long)),
        TypeError,
        ("token_type_ids", "segment", "return_token_type_ids=False"),
    ),
    "a keyword no layer reads": Case(
        _forward(vt.TransformerForCausalLM, cache_position=torch.arange(7)), TypeError, ("cache_position",)
    ),
    "num_heads set after construction": Case(
        _edited_config(lambda config: setattr(config, "num_heads", 5)), ValueError, ("divisible by num_heads",)
    ),
    "config.update with an unknown activation": Case(
        _edited_config(lambda config: config.update({"activation_function": "swishy"})),
        ValueError,
        ("activation_function must be one of",),
    ),
    "pad id outside the vocabulary set after construction": Case(
        _edited_config(lambda config: setattr(config, "pad_token_id", 500)), ValueError, ("pad_token_id", "[0, ")
    ),
    "from_pretrained override that breaks the config": Case(
        _from_pretrained_override, ValueError, ("d_model (32) must be divisible by num_heads (5)",)
    ),
    "prompt + max_new_tokens beyond learned positions": Case(
        _generation_past_learned_positions, ValueError, ("max_position_embeddings=12", "max_new_tokens")
    ),
    "bad decoder ids, checked before the encoder runs": Case(
        _bad_decoder_ids_before_the_encoder, ValueError, ("decoder_input_ids", "outside the vocabulary")
    ),
    "a pytorch_model.bin-only folder": Case(
        _pickle_only_folder, OSError, ("pytorch_model.bin", "use_safetensors=False")
    ),
    "a corrupted tensor in a valid safetensors file": Case(
        _corrupted_tensor, OSError, ("model.safetensors", "SHA-256", "verify_checksums=False")
    ),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_a_mistake_at_the_model_boundary_raises_a_clear_error(case, tmp_path):
    row = MODEL_CASES[case]
    with pytest.raises(row.error) as raised:
        row.run(tmp_path)
    for words in row.words:
        assert words in str(raised.value), (words, str(raised.value))


# ---- behaviours that are not errors ------------------------------------------------------------------------------


def _smoothed_loss(logits: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """(1 - eps) * NLL + eps * the mean over the vocabulary of -log p, averaged over the labelled tokens, written out."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    keep = labels != -100
    nll = -log_probs.gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    uniform = -log_probs.mean(-1)
    return ((1 - epsilon) * nll + epsilon * uniform)[keep].mean()


def _shifted_smoothed_loss(logits: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The causal LM's: position i predicts token i + 1."""
    return _smoothed_loss(logits[:, :-1], labels[:, 1:], epsilon)


def _causal_batch():
    inputs = model_inputs(vt.TransformerForCausalLM)
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    return inputs, labels


def test_the_causal_lm_loss_is_the_shifted_next_token_loss():
    model = tiny_model(vt.TransformerForCausalLM)
    inputs, labels = _causal_batch()
    out = model(**inputs, labels=labels)
    torch.testing.assert_close(out.loss, _shifted_smoothed_loss(out.logits, labels, 0.0))


@pytest.mark.parametrize(
    "trainer_class, arguments_class", [(Trainer, TrainingArguments), (Seq2SeqTrainer, Seq2SeqTrainingArguments)]
)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_trainer_loss_of_the_causal_lm_is_the_shifted_reference(trainer_class, arguments_class, smoothing, tmp_path):
    # Trainer smooths the labels itself, shifting them only for the class names it knows as causal LMs
    model = tiny_model(vt.TransformerForCausalLM)
    args = arguments_class(str(tmp_path), label_smoothing_factor=smoothing, report_to=[], use_cpu=True)
    trainer = trainer_class(model=model, args=args)
    inputs, labels = _causal_batch()
    loss = trainer.compute_loss(model, {**inputs, "labels": labels})
    torch.testing.assert_close(loss, _shifted_smoothed_loss(model(**inputs).logits, labels, smoothing))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_trainer_loss_of_the_seq2seq_model_is_the_aligned_reference(smoothing, tmp_path):
    # seq2seq labels are already aligned with the right-shifted decoder inputs: nothing may shift them again
    model = tiny_model(vt.TransformerForConditionalGeneration)
    args = Seq2SeqTrainingArguments(str(tmp_path), label_smoothing_factor=smoothing, report_to=[], use_cpu=True)
    trainer = Seq2SeqTrainer(model=model, args=args)
    inputs = model_inputs(vt.TransformerForConditionalGeneration)
    labels = random_ids(3, 5, seed=4)
    inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels)
    loss = trainer.compute_loss(model, {**inputs, "labels": labels})
    torch.testing.assert_close(loss, _smoothed_loss(model(**inputs).logits, labels, smoothing))


@pytest.mark.parametrize("labels", [torch.tensor([1.5, -2.0, 0.25]), torch.tensor([3, 0, 7])], ids=["float", "int"])
def test_a_regression_head_takes_real_valued_labels_of_any_dtype(labels):
    model = tiny_model(vt.TransformerForSequenceClassification, num_labels=1)
    out = model(**model_inputs(vt.TransformerForSequenceClassification), labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.squeeze(-1), labels.float()))


@pytest.mark.parametrize("share", [True, False], ids=["shared", "unshared"])
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_resizing_the_vocabulary_resizes_both_sides_and_the_head(share, tie, tmp_path):
    model = tiny_model(
        vt.TransformerForConditionalGeneration, share_encoder_decoder_embeddings=share, tie_word_embeddings=tie
    )
    model.resize_token_embeddings(120)
    sizes = {
        "encoder": model.model.encoder.get_input_embeddings().num_embeddings,
        "decoder": model.model.decoder.get_input_embeddings().num_embeddings,
        "head": model.lm_head.out_features,
        "config": model.config.vocab_size,
    }
    assert set(sizes.values()) == {120}, sizes
    ids = torch.full((2, 5), 115)  # an id only the resized vocabulary has
    logits = model(input_ids=ids, decoder_input_ids=ids).logits
    model.save_pretrained(tmp_path)
    reloaded = vt.TransformerForConditionalGeneration.from_pretrained(tmp_path)
    assert torch.equal(reloaded(input_ids=ids, decoder_input_ids=ids).logits, logits)


def test_padded_ids_without_an_attention_mask_warn_once(caplog):
    model = tiny_model(vt.TransformerForCausalLM)
    ids = random_ids(2, 6)
    ids[1, :2] = model.config.pad_token_id  # left padding, and no mask to say so
    with caplog.at_level(logging.WARNING):
        model(ids)
        model(ids)
    warnings = [record for record in caplog.records if "attention_mask" in record.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "model_class", [vt.TransformerForConditionalGeneration, vt.TransformerForMaskedLM, vt.TransformerForCausalLM]
)
def test_half_precision_stays_finite_with_a_fully_padded_row_and_left_padding(model_class, dtype):
    model = tiny_model(model_class).to(dtype)
    mask = padding_mask(3, 7, [7, 3, 0], left=True)  # one row of padding only
    inputs = {"input_ids": random_ids(3, 7).masked_fill(mask == 0, 0), "attention_mask": mask}
    if model_class is vt.TransformerForConditionalGeneration:
        inputs["decoder_input_ids"] = random_ids(3, 4)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.dtype == dtype and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "model_class", [vt.TransformerForConditionalGeneration, vt.TransformerForMaskedLM, vt.TransformerForCausalLM]
)
def test_autocast_stays_finite_with_a_fully_padded_row(model_class):
    model = tiny_model(model_class)
    mask = padding_mask(2, 6, [6, 0])
    inputs = {"input_ids": random_ids(2, 6).masked_fill(mask == 0, 0), "attention_mask": mask}
    if model_class is vt.TransformerForConditionalGeneration:
        inputs["decoder_input_ids"] = random_ids(2, 3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(**inputs).logits
    assert torch.isfinite(logits).all()


# Runs interrupted or corrupted: resuming, averaging (RUN_CASES and the tests after them).
