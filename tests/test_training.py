"""The paper's training recipe (`vanilla_transformer.training`): the learning-rate schedule against the paper's formula,
the Trainer arguments and the loss `Trainer` then minimises, checkpoint averaging, and evaluation in dataset order
when training batches by length."""

import json
import logging
import os
from pathlib import Path

import datasets
import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    DataCollatorWithPadding,
    GenerationConfig,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
    pipeline,
)

import vanilla_transformer as vt
from vanilla_transformer.training import (
    InOrderSeq2SeqTrainer,
    InOrderTrainer,
    average_checkpoints,
    find_checkpoints,
    paper_learning_rate,
    paper_lr_scheduler,
    paper_optimizer,
    paper_training_arguments,
)

from training_helpers import run_trainer, tiny_model, tiny_translation_data


def formula(step, d_model, warmup):
    """Section 5.3 of the paper, written out."""
    return 0.0 if step == 0 else d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


# --- the learning-rate schedule -------------------------------------------------------------------------------------


@pytest.mark.parametrize("d_model, warmup", [(512, 4000), (128, 10), (1024, 1)])
def test_paper_learning_rate_is_the_formula(d_model, warmup):
    for step in [0, 1, 2, warmup - 1, warmup, warmup + 1, 3 * warmup, 100_000]:
        assert paper_learning_rate(d_model, warmup, step=step) == pytest.approx(
            formula(step, d_model, warmup), rel=1e-12
        )
    peak = paper_learning_rate(d_model, warmup)
    assert peak == pytest.approx(formula(warmup, d_model, warmup), rel=1e-12)
    assert peak == max(formula(s, d_model, warmup) for s in range(0, 3 * warmup + 2))
    assert paper_learning_rate(d_model, warmup, scale=2.0) == pytest.approx(2 * peak)
    assert paper_learning_rate(512) == pytest.approx(6.988e-4, rel=1e-3)  # the base model's peak


def test_paper_learning_rate_rejects_bad_values():
    for kwargs in [
        dict(d_model=0),
        dict(d_model=512, warmup_steps=0),
        dict(d_model=512, step=-1),
        dict(d_model=512, scale=0.0),
        dict(d_model=512.0),
    ]:
        with pytest.raises(ValueError):
            paper_learning_rate(**kwargs)


def test_plain_pytorch_optimizer_and_scheduler_follow_the_formula():
    d_model, warmup = 64, 7
    model = torch.nn.Linear(3, 3)
    optimizer = paper_optimizer(model, d_model=d_model, warmup_steps=warmup)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["betas"] == (0.9, 0.98) and optimizer.defaults["eps"] == 1e-9
    assert optimizer.defaults["weight_decay"] == 0
    scheduler = paper_lr_scheduler(optimizer, warmup_steps=warmup)
    for step in range(40):
        assert scheduler.get_last_lr()[0] == pytest.approx(formula(step, d_model, warmup), rel=1e-12, abs=1e-15)
        optimizer.step()
        scheduler.step()


def test_paper_training_arguments_hold_the_recipe_and_take_overrides(tmp_path):
    args = paper_training_arguments(str(tmp_path), d_model=512)
    assert isinstance(args, Seq2SeqTrainingArguments)
    assert args.learning_rate == pytest.approx(512**-0.5 * 4000**-0.5)
    assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay) == (0.9, 0.98, 1e-9, 0.0)
    assert args.lr_scheduler_type == "inverse_sqrt" and args.warmup_steps == 4000
    assert args.label_smoothing_factor == 0.1 and args.max_grad_norm == 0.0
    assert args.predict_with_generate
    args = paper_training_arguments(
        str(tmp_path),
        d_model=256,
        warmup_steps=100,
        lr_scale=2.0,
        seq2seq=False,
        label_smoothing_factor=0.0,
        per_device_train_batch_size=3,
    )
    assert type(args) is TrainingArguments
    assert args.learning_rate == pytest.approx(2 * (256 * 100) ** -0.5)
    assert args.label_smoothing_factor == 0.0 and args.per_device_train_batch_size == 3 and args.warmup_steps == 100


# --- Trainer with the recipe ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data():
    """A tokenizer and 64 tokenized pairs of the built-in translation data."""
    return tiny_translation_data()


def test_trainer_follows_the_paper_schedule_and_optimizer(tmp_path, tiny_data):
    tokenizer, features = tiny_data
    trainer = run_trainer(tmp_path, tokenizer, features, steps=10)
    assert isinstance(
        trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer,
        torch.optim.AdamW,
    )
    group = trainer.optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.98) and group["eps"] == 1e-9 and group["weight_decay"] == 0.0
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    # The Trainer logs, at step k, the learning rate update k ran with: the formula at k - 1.
    assert logged == pytest.approx([formula(k - 1, 16, 4) for k in range(1, 11)], rel=1e-9, abs=1e-15)
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(formula(10, 16, 4), rel=1e-9)


def test_trainer_minimises_the_label_smoothed_token_mean(tmp_path, tiny_data):
    """What `Trainer` optimises with the recipe is (1 - 0.1) * NLL + 0.1 * cross-entropy with the uniform
    distribution, averaged over the target tokens of the batch: torch's `cross_entropy(label_smoothing=0.1)`."""
    tokenizer, features = tiny_data
    model = tiny_model(tokenizer).train()
    args = paper_training_arguments(str(tmp_path), d_model=16, report_to=[], use_cpu=True)
    trainer = Seq2SeqTrainer(model=model, args=args, processing_class=tokenizer)
    batch = DataCollatorForSeq2Seq(tokenizer, model=model)([features[i] for i in range(6)])
    labels = batch["labels"]
    assert (labels == -100).any()  # padding is ignored, not smoothed towards
    num_items = int((labels != -100).sum())
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=num_items)
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    expected = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=0.1
    )
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    # Without the collator's decoder inputs the labels removed for smoothing could not be shifted: the model refuses.
    bare = {k: v for k, v in batch.items() if k != "decoder_input_ids"}
    with pytest.raises(ValueError, match="decoder_input_ids"):
        trainer.compute_loss(model, bare)


def test_gradient_accumulation_gives_the_same_model_as_one_big_batch(tmp_path, tiny_data):
    """The loss is normalised over the tokens of the whole accumulated batch (`num_items_in_batch`), so 2 x 4
    examples accumulated train the same model as batches of 8."""
    tokenizer, features = tiny_data
    big = run_trainer(tmp_path / "big", tokenizer, features, steps=4, per_device_train_batch_size=8)
    accumulated = run_trainer(
        tmp_path / "acc", tokenizer, features, steps=4, per_device_train_batch_size=4, gradient_accumulation_steps=2
    )
    big_losses = [e["loss"] for e in big.state.log_history if "loss" in e]
    accumulated_losses = [e["loss"] for e in accumulated.state.log_history if "loss" in e]
    assert accumulated_losses == pytest.approx(big_losses, rel=1e-5)
    for (name, a), b in zip(big.model.state_dict().items(), accumulated.model.state_dict().values()):
        if name.endswith(("qkv_proj.bias", "kv_proj.bias")):
            continue  # the key biases get no true gradient; Adam turns their rounding noise into steps (see below)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


# --- checkpoint averaging ---------------------------------------------------------------------------------------------


def write_checkpoint(directory, model, tokenizer):
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        (directory / name).write_bytes(b"training state")
    (directory / "trainer_state.json").write_text("{}")
    return directory


@pytest.fixture
def run_dir(tmp_path, tiny_data):
    """A run with checkpoints at steps 5, 10 and 100 (numeric order differs from name order), each a different model."""
    tokenizer, _ = tiny_data
    for seed, step in enumerate((5, 10, 100)):
        write_checkpoint(tmp_path / "run" / f"checkpoint-{step}", tiny_model(tokenizer, seed=seed), tokenizer)
    return tmp_path / "run"


def test_find_checkpoints_sorts_by_step(run_dir):
    (run_dir / "checkpoint-notastep").mkdir()
    (run_dir / "model").mkdir()
    assert [p.name for p in find_checkpoints(run_dir)] == ["checkpoint-5", "checkpoint-10", "checkpoint-100"]


def test_averaging_copies_of_one_checkpoint_gives_it_back_exactly(run_dir, tmp_path):
    checkpoint = run_dir / "checkpoint-10"
    output = average_checkpoints([checkpoint] * 3, tmp_path / "averaged")
    original, averaged = load_file(checkpoint / "model.safetensors"), load_file(output / "model.safetensors")
    assert original.keys() == averaged.keys()
    for name in original:
        assert torch.equal(original[name], averaged[name]), name


def test_averaging_two_checkpoints_gives_their_mean_and_a_loadable_tied_model(run_dir, tmp_path):
    output = average_checkpoints(run_dir, tmp_path / "averaged", last=2)
    a = load_file(run_dir / "checkpoint-10" / "model.safetensors")
    b = load_file(run_dir / "checkpoint-100" / "model.safetensors")
    averaged = load_file(output / "model.safetensors")
    assert not torch.equal(
        a["model.encoder.embeddings.embed_tokens.weight"], b["model.encoder.embeddings.embed_tokens.weight"]
    )
    for name in a:
        assert torch.equal(averaged[name], ((a[name].double() + b[name].double()) / 2).float()), name
    # The tied output projection and decoder embedding are stored once, and tied again on load.
    assert "lm_head.weight" not in averaged
    model = AutoModelForSeq2SeqLM.from_pretrained(output)
    assert model.lm_head.weight.data_ptr() == model.model.encoder.embeddings.embed_tokens.weight.data_ptr()
    assert model.model.decoder.embeddings.embed_tokens.weight.data_ptr() == model.lm_head.weight.data_ptr()
    torch.testing.assert_close(
        model.lm_head.weight, averaged["model.encoder.embeddings.embed_tokens.weight"], rtol=0, atol=0
    )
    # A model folder: config, generation config and tokenizer come along, the training state does not.
    names = set(os.listdir(output))
    assert {"config.json", "generation_config.json", "tokenizer.json"} <= names
    assert not names & {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "training_args.bin"}
    assert AutoTokenizer.from_pretrained(output)("a dog .")["input_ids"]
    assert model.generation_config.num_beams == 4


def test_averaging_is_atomic(run_dir, tmp_path, tiny_data):
    """A failed average leaves the previous output untouched and no temporary folder behind."""
    output = average_checkpoints(run_dir, tmp_path / "averaged", last=1)
    before = load_file(output / "model.safetensors")
    tokenizer, _ = tiny_data
    other = write_checkpoint(
        tmp_path / "other" / "checkpoint-7", tiny_model(tokenizer, d_model=8, num_heads=2), tokenizer
    )
    with pytest.raises(ValueError, match="shape"):
        average_checkpoints([run_dir / "checkpoint-5", other], output)
    after = load_file(output / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert sorted(os.listdir(tmp_path)) == ["averaged", "other", "run"]
    with pytest.raises(ValueError, match="no checkpoint-<step>"):
        average_checkpoints(tmp_path / "other" / "checkpoint-7", tmp_path / "x")
    with pytest.raises(ValueError, match="last must be"):
        average_checkpoints(run_dir, tmp_path / "x", last=0)


def test_the_average_is_a_model_folder_with_the_model_code_and_a_card_of_its_own(run_dir, tmp_path):
    """Checkpoints without model code (the examples' keep none) still average into a folder that carries it, whose
    card is titled with its own name and describes the decoding its generation config saves."""
    for checkpoint in find_checkpoints(run_dir):
        for path in [*checkpoint.glob("*.py"), checkpoint / "README.md"]:
            path.unlink()
    config = GenerationConfig.from_pretrained(run_dir / "checkpoint-100")
    config.num_beams = 5
    config.save_pretrained(run_dir / "checkpoint-100")
    output = average_checkpoints(run_dir, tmp_path / "averaged", last=2)

    model_folder = Path(vt.__file__).parent / "modeling"
    auto_map = json.loads((output / "config.json").read_text())["auto_map"]
    for reference in auto_map.values():
        module = reference.split(".")[0] + ".py"
        assert (output / module).read_bytes() == (model_folder / module).read_bytes(), module
    card = (output / "README.md").read_text()
    assert "# averaged" in card and "checkpoint-" not in card
    assert "beam search (beam 5, length penalty 0.6)" in card
    assert AutoModelForSeq2SeqLM.from_pretrained(output).generation_config.num_beams == 5
    # save_pretrained wrote the same tensors again
    a = load_file(run_dir / "checkpoint-10" / "model.safetensors")
    b = load_file(run_dir / "checkpoint-100" / "model.safetensors")
    averaged = load_file(output / "model.safetensors")
    assert all(torch.equal(averaged[name], ((a[name].double() + b[name].double()) / 2).float()) for name in a)


def test_averaging_a_run_directory_skips_an_incomplete_checkpoint(run_dir, tmp_path, caplog):
    (run_dir / "checkpoint-100" / "trainer_state.json").unlink()  # killed while saving it
    with caplog.at_level(logging.WARNING, logger="vanilla_transformer"):
        output = average_checkpoints(run_dir, tmp_path / "averaged", last=1)
    assert "checkpoint-100" in caplog.text and "trainer_state.json" in caplog.text
    expected = load_file(run_dir / "checkpoint-10" / "model.safetensors")
    averaged = load_file(output / "model.safetensors")
    assert all(torch.equal(averaged[name], expected[name]) for name in expected)


def test_average_checkpoints_command(run_dir, tmp_path):
    from vanilla_transformer.training.checkpoints import main

    assert main([str(run_dir), "--last", "2", "-o", str(tmp_path / "cli")]) == 0
    expected = average_checkpoints(run_dir, tmp_path / "api", last=2)
    a, b = load_file(tmp_path / "cli" / "model.safetensors"), load_file(expected / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- evaluation in dataset order --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "library_class, in_order_class", [(Trainer, InOrderTrainer), (Seq2SeqTrainer, InOrderSeq2SeqTrainer)]
)
def test_in_order_trainers_evaluate_in_dataset_order_when_training_groups_by_length(
    tmp_path, tiny_data, library_class, in_order_class
):
    """The library's evaluation sampler follows `train_sampling_strategy`: with "group_by_length" the library's
    trainers read the evaluation and test sets longest first; the in-order ones read them as they are. (Once the
    library stops reordering them, the first assertion fails, and the in-order trainers can go.)"""
    tokenizer, _ = tiny_data
    # Example i is token 5 + i, 1 to 5 times: the first token of a row says which example it is.
    examples = datasets.Dataset.from_dict({"input_ids": [[5 + i] * (1 + i % 5) for i in range(20)]})
    args = Seq2SeqTrainingArguments(
        str(tmp_path),
        train_sampling_strategy="group_by_length",
        per_device_eval_batch_size=4,
        report_to=[],
        use_cpu=True,
    )
    model, collator = tiny_model(tokenizer), DataCollatorWithPadding(tokenizer)

    def orders(trainer_class):  # the examples its evaluation and its test data loaders read, in their order
        trainer = trainer_class(model=model, args=args, data_collator=collator)
        loaders = trainer.get_eval_dataloader(examples), trainer.get_test_dataloader(examples)
        return [[row[0] - 5 for batch in loader for row in batch["input_ids"].tolist()] for loader in loaders]

    assert all(sorted(order) == list(range(20)) != order for order in orders(library_class))
    assert orders(in_order_class) == [list(range(20))] * 2
    args.train_sampling_strategy = "random"  # any other strategy: the library reads them in order too
    assert orders(library_class) == orders(in_order_class) == [list(range(20))] * 2


# --- corrections to the library's Trainer (training/trainer_fixes.py) ------------------------------------------------


@pytest.fixture
def transformers_warnings(caplog):
    """The warnings the library logs (its loggers do not propagate to pytest's handler unless told to)."""
    transformers.utils.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"):
            yield caplog
    finally:
        transformers.utils.logging.disable_propagation()


def resume(trainer_class, checkpoint, tokenizer, features):
    """Resume the run of `checkpoint` for one more step with a trainer of `trainer_class`."""
    model = tiny_model(tokenizer)
    args = paper_training_arguments(
        str(checkpoint.parent), d_model=16, warmup_steps=4, max_steps=3, save_strategy="no", report_to=[], use_cpu=True
    )
    collator = DataCollatorForSeq2Seq(tokenizer, model=model)
    trainer = trainer_class(model=model, args=args, train_dataset=features, data_collator=collator)
    trainer.train(resume_from_checkpoint=str(checkpoint))
    return trainer


@pytest.mark.parametrize(
    "trainer_class, reports_tied_weights", [(Seq2SeqTrainer, True), (InOrderSeq2SeqTrainer, False)]
)
def test_resuming_reports_no_tied_weight_as_missing(
    tmp_path, tiny_data, transformers_warnings, trainer_class, reports_tied_weights
):
    """The library's Trainer reports the tied weights (stored once) as missing on every resume; ours does not. (Once
    the library stops, the first case fails, and `TiedWeightsResumeMixin` can go.)"""
    tokenizer, features = tiny_data
    run_trainer(tmp_path, tokenizer, features, steps=2, save_strategy="steps", save_steps=2)
    resume(trainer_class, tmp_path / "checkpoint-2", tokenizer, features)
    assert ("lm_head.weight" in transformers_warnings.text) == reports_tied_weights
    assert ("missing keys" in transformers_warnings.text) == reports_tied_weights


def test_resuming_still_reports_a_weight_the_checkpoint_lacks(tmp_path, tiny_data, transformers_warnings):
    tokenizer, features = tiny_data
    run_trainer(tmp_path, tokenizer, features, steps=2, save_strategy="steps", save_steps=2)
    weights_file = tmp_path / "checkpoint-2" / "model.safetensors"
    weights = load_file(weights_file)
    missing = next(name for name in weights if name.endswith("fc1.weight"))
    del weights[missing]
    save_file(weights, weights_file, metadata={"format": "pt"})
    resume(InOrderSeq2SeqTrainer, tmp_path / "checkpoint-2", tokenizer, features)
    assert "missing keys" in transformers_warnings.text and missing in transformers_warnings.text
    assert "lm_head.weight" not in transformers_warnings.text


@pytest.mark.parametrize("trainer_class, fills_defaults", [(Seq2SeqTrainer, True), (InOrderSeq2SeqTrainer, False)])
def test_evaluating_with_generate_leaves_the_generation_config_as_it_was(
    tmp_path, tiny_data, trainer_class, fills_defaults
):
    """The library's `Seq2SeqTrainer.prediction_step` fills its global defaults (max_length 20, ...) into the model's
    generation config, which the next save writes; ours leaves it as it was. (Once the library stops, the first case
    fails, and `KeepGenerationConfigMixin` can go.)"""
    tokenizer, features = tiny_data
    model = tiny_model(tokenizer).eval()
    model.generation_config.max_new_tokens = 5
    before = model.generation_config.to_dict()
    args = paper_training_arguments(
        str(tmp_path), d_model=16, per_device_eval_batch_size=4, report_to=[], use_cpu=True
    )
    trainer = trainer_class(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        compute_metrics=lambda prediction: {"length": float(prediction.predictions.shape[1])},
    )
    trainer.evaluate(features.select(range(4)))
    assert (model.generation_config.max_length == 20) == fills_defaults
    assert (model.generation_config.to_dict() == before) != fills_defaults


# --- the README's Trainer run ----------------------------------------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"
# The README's sizes, and the tiny ones the test runs with.
TINY_README_RUN = {
    '{"train": 20_000, "validation": 500}': '{"train": 64, "validation": 8}',
    "vocab_size=8000": "vocab_size=200",
    "d_model=512, encoder_layers=6, decoder_layers=6": "d_model=16, num_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1",
    "warmup_steps=4000": "warmup_steps=2",
    "per_device_train_batch_size=64": "per_device_train_batch_size=8",
    "max_steps=100_000": "max_steps=4",
    "save_steps=1000": "save_steps=2",
    "eval_steps=1000": "eval_steps=2",
}


def readme_block(marker: str) -> str:
    """The fenced Python block of the README that starts with the comment `# README: <marker>`."""
    blocks = [block.split("\n```", 1)[0] for block in README.read_text().split("```python\n")[1:]]
    (block,) = [block for block in blocks if block.startswith(f"# README: {marker}")]
    return block


def test_the_readme_trainer_run_and_translate_function_run(tmp_path, monkeypatch):
    code = readme_block("a whole run with Seq2SeqTrainer")
    for readme_text, tiny_text in TINY_README_RUN.items():
        assert code.count(readme_text) == 1, readme_text
        code = code.replace(readme_text, tiny_text)
    monkeypatch.chdir(tmp_path)  # the README's paths are relative: runs/mine
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 4
    assert [p.name for p in find_checkpoints("runs/mine")] == ["checkpoint-2", "checkpoint-4"]
    exec(compile(readme_block("translate"), "README.md", "exec"), namespace)
    translations = namespace["translate"](["the dog sees a cat .", "anna will not sing ."])
    assert len(translations) == 2 and all(isinstance(text, str) for text in translations)


def test_feature_extraction_takes_the_encoder_of_an_encoder_decoder_as_the_readme_says(tiny_data):
    tokenizer, _ = tiny_data
    model = tiny_model(tokenizer).eval()
    with pytest.raises(ValueError, match="decoder_input_ids"):  # the whole model needs decoder inputs
        pipeline("feature-extraction", model=model, tokenizer=tokenizer)("the dog sees a cat .")
    features = pipeline("feature-extraction", model=model.get_encoder(), tokenizer=tokenizer)("the dog sees a cat .")
    inputs = tokenizer("the dog sees a cat .", return_tensors="pt")
    with torch.no_grad():
        expected = model.get_encoder()(**inputs).last_hidden_state
    torch.testing.assert_close(torch.tensor(features), expected)
