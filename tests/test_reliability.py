"""What an adversarial user found, and the protection each case now has: one row per case, with the error it must
raise at our boundary and the words that error must contain, then the behaviours that are not errors (losses,
resizing, numerics), one test each.

Every row was checked to fail with its protection removed (see the closing note of the reliability issue).
"""

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainingArguments
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging as transformers_logging

import vanilla_transformer as vt
from vanilla_transformer.examples.common import start_run
from vanilla_transformer.training import average_checkpoints, find_checkpoints
from vanilla_transformer.training.checkpoints import main as average_command

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


def _smoothing_trainer_without_decoder_inputs(tmp_path):
    model = tiny_model(vt.TransformerForConditionalGeneration)
    args = Seq2SeqTrainingArguments(str(tmp_path), label_smoothing_factor=0.1, report_to=[], use_cpu=True)
    inputs = model_inputs(vt.TransformerForConditionalGeneration)
    del inputs["decoder_input_ids"]  # a DataCollatorForSeq2Seq made without `model=` builds none
    return Seq2SeqTrainer(model=model, args=args).compute_loss(model, {**inputs, "labels": random_ids(3, 5)})


# Mistakes at the model's boundary.
MODEL_CASES = {
    "label smoothing, and a collator that built no decoder inputs": Case(
        _smoothing_trainer_without_decoder_inputs,
        ValueError,
        ("No decoder inputs", "DataCollatorForSeq2Seq(tokenizer, model=model)"),
    ),
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


def test_padded_ids_without_an_attention_mask_warn_once():
    # the library warns once per process: forget what an earlier test may have made it say
    library_logger = transformers_logging.get_logger("transformers")
    library_logger.warning_once.cache_clear()
    model = tiny_model(vt.TransformerForCausalLM)
    ids = random_ids(2, 6)
    ids[1, :2] = model.config.pad_token_id  # left padding, and no mask to say so
    # on the library's own logger: it does not propagate to the root logger that pytest's caplog listens to
    with CaptureLogger(library_logger) as captured:
        model(ids)
        model(ids)
    assert captured.out.count("attention_mask") == 1


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


# ---- training runs: resuming and checkpoint averaging ---------------------------------------------------------------


def _checkpoints(tmp_path, steps=(1, 2)) -> list:
    """A run directory with a complete Trainer checkpoint of a tiny causal LM at each step, each a different model."""
    paths = []
    for seed, step in enumerate(steps):
        path = tmp_path / "run" / f"checkpoint-{step}"
        tiny_model(vt.TransformerForCausalLM, seed=seed).save_pretrained(path)
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        paths.append(path)
    return paths


def _truncated_checkpoint(tmp_path):
    first, second = _checkpoints(tmp_path)
    weights = second / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a save killed halfway
    return average_checkpoints([first, second], tmp_path / "averaged")


def _changed_checkpoint(tmp_path):
    first, second = _checkpoints(tmp_path)
    weights = load_file(second / "model.safetensors")
    weights["model.layers.0.feed_forward.fc1.weight"][0, 0] += 1.0  # a valid file, one wrong number
    save_file(weights, second / "model.safetensors", metadata={"format": "pt"})
    return average_checkpoints([first, second], tmp_path / "averaged")


def _nan_checkpoint(tmp_path):
    first, second = _checkpoints(tmp_path)
    weights = load_file(second / "model.safetensors")
    weights["model.layers.0.feed_forward.fc1.weight"][0, 0] = float("nan")  # a diverged run
    save_file(weights, second / "model.safetensors", metadata={"format": "pt"})
    (second / "checksums.sha256").unlink()  # saved that way, not corrupted since
    return average_checkpoints([first, second], tmp_path / "averaged")


def _average_into_a_checkpoint(tmp_path):
    first, second = _checkpoints(tmp_path)
    return average_checkpoints([first, second], second)


def _average_into_the_run_directory(tmp_path):
    _checkpoints(tmp_path)
    return average_checkpoints(tmp_path / "run", tmp_path / "run")


def _start_run(tmp_path, resume_from_checkpoint):
    args = TrainingArguments(
        str(tmp_path / "run"), resume_from_checkpoint=str(resume_from_checkpoint), report_to=[], use_cpu=True
    )
    return start_run(args)


def _resume_from_a_checkpoint_killed_before_its_trainer_state(tmp_path):
    _, second = _checkpoints(tmp_path)
    (second / "trainer_state.json").unlink()  # killed after the weights, before the trainer state
    return _start_run(tmp_path, second)


def _resume_the_latest_of_incomplete_checkpoints(tmp_path):
    for path in _checkpoints(tmp_path):
        (path / "trainer_state.json").write_text('{"global_st')  # killed while writing it
    return _start_run(tmp_path, "latest")


# Mistakes in training runs: resuming, and averaging checkpoints (its command: test below).
RUN_CASES = {
    "averaging a truncated checkpoint": Case(
        _truncated_checkpoint, OSError, ("checkpoint-2", "model.safetensors", "truncated")
    ),
    "averaging weights changed since they were saved": Case(
        _changed_checkpoint, OSError, ("checkpoint-2", "model.safetensors", "SHA-256")
    ),
    "averaging NaN weights": Case(
        _nan_checkpoint,
        ValueError,
        ("model.layers.0.feed_forward.fc1.weight", "checkpoint-2", "model.safetensors", "NaN"),
    ),
    "averaging into one of the checkpoints": Case(
        _average_into_a_checkpoint, ValueError, ("output_dir", "is the checkpoint", "checkpoint-2", "new folder")
    ),
    "averaging into the run directory": Case(
        _average_into_the_run_directory, ValueError, ("output_dir", "holds the checkpoint", "new folder")
    ),
    "resuming from a checkpoint killed before its trainer state": Case(
        _resume_from_a_checkpoint_killed_before_its_trainer_state,
        ValueError,
        ("checkpoint-2", "incomplete", "trainer_state.json", "--resume_from_checkpoint latest"),
    ),
    "resuming the latest checkpoint when none is complete": Case(
        _resume_the_latest_of_incomplete_checkpoints,
        ValueError,
        ("no complete checkpoint", "checkpoint-1, checkpoint-2", "new run"),
    ),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_a_mistake_in_a_training_run_raises_a_clear_error(case, tmp_path):
    row = RUN_CASES[case]
    with pytest.raises(row.error) as raised:
        row.run(tmp_path)
    for words in row.words:
        assert words in str(raised.value), (words, str(raised.value))


@pytest.mark.parametrize("case", [case for case in RUN_CASES if case.startswith("averaging")])
def test_a_refused_average_leaves_every_folder_as_it_was(case, tmp_path):
    earlier = tmp_path / "averaged"
    earlier.mkdir()
    (earlier / "model.safetensors").write_bytes(b"an earlier average")
    with pytest.raises(RUN_CASES[case].error):
        RUN_CASES[case].run(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["averaged", "run"]  # no half-written folder left beside them
    assert os.listdir(earlier) == ["model.safetensors"]
    assert (earlier / "model.safetensors").read_bytes() == b"an earlier average"
    for checkpoint in find_checkpoints(tmp_path / "run"):  # each still a whole checkpoint, as the case left it
        assert {"config.json", "model.safetensors", "trainer_state.json"} <= set(os.listdir(checkpoint))


def test_the_average_command_fails_with_one_line_naming_the_file(tmp_path, capsys):
    first, second = _checkpoints(tmp_path)
    weights = second / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SystemExit) as exited:
        average_command([str(first), str(second), "-o", str(tmp_path / "averaged")])
    assert exited.value.code != 0
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert str(weights) in err and "truncated" in err and "Traceback" not in err
    assert not (tmp_path / "averaged").exists()


def test_resuming_the_latest_skips_and_removes_incomplete_checkpoints(tmp_path, caplog):
    first, second = _checkpoints(tmp_path)
    (second / "trainer_state.json").unlink()  # killed while saving the second
    with caplog.at_level(logging.WARNING, logger="vanilla_transformer"):
        assert _start_run(tmp_path, "latest") == str(first)
    assert "Removing" in caplog.text and "checkpoint-2" in caplog.text and "trainer_state.json" in caplog.text
    assert find_checkpoints(tmp_path / "run") == [first]  # averaging and the next resume cannot pick it up


def test_a_new_run_removes_the_earlier_checkpoints_incomplete_ones_too(tmp_path):
    _, second = _checkpoints(tmp_path)
    (second / "trainer_state.json").unlink()
    args = TrainingArguments(str(tmp_path / "run"), report_to=[], use_cpu=True)
    assert start_run(args) is None
    assert find_checkpoints(tmp_path / "run") == []
