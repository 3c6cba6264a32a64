"""The paper's training recipe (`vanilla_transformer.training`): the learning-rate schedule against the paper's formula,
the Trainer arguments and the loss `Trainer` then minimises, checkpoint averaging, metrics, data loading, arguments."""

import json
import logging
import os

import datasets
import pytest
import sacrebleu
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainingArguments,
)

import vanilla_transformer as vt
from vanilla_transformer import training
from vanilla_transformer.examples import synthetic_data
from vanilla_transformer.training import (
    average_checkpoints,
    find_checkpoints,
    load_dataset_splits,
    load_local_dataset,
    load_metric,
    paper_learning_rate,
    paper_lr_scheduler,
    paper_optimizer,
    paper_training_arguments,
)


def formula(step, d_model, warmup):
    """Section 5.3 of the paper, written out."""
    return 0.0 if step == 0 else d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


# --- the learning-rate schedule -------------------------------------------------------------------------------------


@pytest.mark.parametrize("d_model, warmup", [(512, 4000), (128, 10), (1024, 1)])
def test_paper_learning_rate_is_the_formula(d_model, warmup):
    for step in [0, 1, 2, warmup - 1, warmup, warmup + 1, 3 * warmup, 100_000]:
        assert paper_learning_rate(d_model, warmup, step=step) == pytest.approx(formula(step, d_model, warmup), rel=1e-12)
    peak = paper_learning_rate(d_model, warmup)
    assert peak == pytest.approx(formula(warmup, d_model, warmup), rel=1e-12)
    assert peak == max(formula(s, d_model, warmup) for s in range(0, 3 * warmup + 2))
    assert paper_learning_rate(d_model, warmup, scale=2.0) == pytest.approx(2 * peak)
    assert paper_learning_rate(512) == pytest.approx(6.988e-4, rel=1e-3)  # the base model's peak


def test_paper_learning_rate_rejects_bad_values():
    for kwargs in [dict(d_model=0), dict(d_model=512, warmup_steps=0), dict(d_model=512, step=-1),
                   dict(d_model=512, scale=0.0), dict(d_model=512.0)]:
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
    args = paper_training_arguments(str(tmp_path), d_model=256, warmup_steps=100, lr_scale=2.0, seq2seq=False,
                                    label_smoothing_factor=0.0, per_device_train_batch_size=3)
    assert type(args) is TrainingArguments
    assert args.learning_rate == pytest.approx(2 * (256 * 100) ** -0.5)
    assert args.label_smoothing_factor == 0.0 and args.per_device_train_batch_size == 3 and args.warmup_steps == 100


# --- Trainer with the recipe ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data():
    """A tokenizer and 64 tokenized pairs of the built-in translation data."""
    raw = synthetic_data.synthetic_translation_dataset({"train": 64}, seed=1)["train"]
    tokenizer = vt.train_tokenizer(raw, text_column=["en", "syn"], vocab_size=200, show_progress=False)
    features = raw.map(
        lambda b: {**tokenizer(b["en"]), "labels": tokenizer(text_target=b["syn"])["input_ids"]},
        batched=True, remove_columns=raw.column_names,
    )
    return tokenizer, features


def tiny_model(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    config = vt.config_from_tokenizer(
        tokenizer, "seq2seq", **{**dict(d_model=16, num_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, dropout=0.0), **overrides}
    )
    return vt.TransformerForConditionalGeneration(config)


def run_trainer(tmp_path, tokenizer, features, steps, callbacks=None, **overrides):
    model = tiny_model(tokenizer)
    args = paper_training_arguments(
        str(tmp_path), **{**dict(d_model=16, warmup_steps=4, max_steps=steps, per_device_train_batch_size=8,
                                 logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
                                 dataloader_pin_memory=False, train_sampling_strategy="sequential"), **overrides}
    )
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=features, processing_class=tokenizer,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), callbacks=callbacks)
    trainer.train()
    return trainer


def test_trainer_follows_the_paper_schedule_and_optimizer(tmp_path, tiny_data):
    tokenizer, features = tiny_data
    trainer = run_trainer(tmp_path, tokenizer, features, steps=10)
    assert isinstance(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer,
                      torch.optim.AdamW)
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
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=0.1)
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
    accumulated = run_trainer(tmp_path / "acc", tokenizer, features, steps=4, per_device_train_batch_size=4,
                              gradient_accumulation_steps=2)
    big_losses = [e["loss"] for e in big.state.log_history if "loss" in e]
    accumulated_losses = [e["loss"] for e in accumulated.state.log_history if "loss" in e]
    assert accumulated_losses == pytest.approx(big_losses, rel=1e-5)
    for (name, a), b in zip(big.model.state_dict().items(), accumulated.model.state_dict().values()):
        if name.endswith(("qkv_proj.bias", "kv_proj.bias")):
            continue  # the key biases get no true gradient; Adam turns their rounding noise into steps (see below)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_time_limit_stops_training_with_a_checkpoint(tmp_path, tiny_data):
    tokenizer, features = tiny_data
    limit = training.TimeLimitCallback(minutes=1e-9)
    trainer = run_trainer(tmp_path, tokenizer, features, steps=1000, callbacks=[limit], save_strategy="steps",
                          save_steps=500)
    assert trainer.state.global_step == limit.stopped_at == 1
    assert [p.name for p in find_checkpoints(tmp_path)] == ["checkpoint-1"]
    with pytest.raises(ValueError, match="positive"):
        training.TimeLimitCallback(0)


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
    assert not torch.equal(a["model.encoder.embeddings.embed_tokens.weight"], b["model.encoder.embeddings.embed_tokens.weight"])
    for name in a:
        assert torch.equal(averaged[name], ((a[name].double() + b[name].double()) / 2).float()), name
    # The tied output projection and decoder embedding are stored once, and tied again on load.
    assert "lm_head.weight" not in averaged
    model = AutoModelForSeq2SeqLM.from_pretrained(output)
    assert model.lm_head.weight.data_ptr() == model.model.encoder.embeddings.embed_tokens.weight.data_ptr()
    assert model.model.decoder.embeddings.embed_tokens.weight.data_ptr() == model.lm_head.weight.data_ptr()
    torch.testing.assert_close(model.lm_head.weight, averaged["model.encoder.embeddings.embed_tokens.weight"], rtol=0, atol=0)
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
    other = write_checkpoint(tmp_path / "other" / "checkpoint-7", tiny_model(tokenizer, d_model=8, num_heads=2), tokenizer)
    with pytest.raises(ValueError, match="shape"):
        average_checkpoints([run_dir / "checkpoint-5", other], output)
    after = load_file(output / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert sorted(os.listdir(tmp_path)) == ["averaged", "other", "run"]
    with pytest.raises(ValueError, match="no checkpoint-<step>"):
        average_checkpoints(tmp_path / "other" / "checkpoint-7", tmp_path / "x")
    with pytest.raises(ValueError, match="last must be"):
        average_checkpoints(run_dir, tmp_path / "x", last=0)


def test_average_checkpoints_command(run_dir, tmp_path):
    from vanilla_transformer.training.checkpoints import main

    assert main([str(run_dir), "--last", "2", "-o", str(tmp_path / "cli")]) == 0
    expected = average_checkpoints(run_dir, tmp_path / "api", last=2)
    a, b = load_file(tmp_path / "cli" / "model.safetensors"), load_file(expected / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- metrics ----------------------------------------------------------------------------------------------------------

HYPOTHESES = ["the cat sat on the mat .", "a dog runs in the park", "hello there general kenobi"]
REFERENCES = ["the cat sat on a mat .", "a dog is running in the park .", "hello there general kenobi"]


@pytest.mark.parametrize("tokenize", ["13a", "none"])
def test_bundled_sacrebleu_is_sacrebleu(tokenize):
    metric = load_metric("sacrebleu", source="local")
    result = metric.compute(predictions=HYPOTHESES, references=[[r] for r in REFERENCES], tokenize=tokenize)
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize=tokenize)
    assert result["score"] == pytest.approx(expected.score, abs=1e-12)
    assert result["counts"] == expected.counts and result["sys_len"] == expected.sys_len
    assert set(result) == {"score", "counts", "totals", "precisions", "bp", "sys_len", "ref_len"}
    # one reference per prediction may also be given flat
    assert metric.compute(predictions=HYPOTHESES, references=REFERENCES, tokenize=tokenize)["score"] == result["score"]


def test_load_metric_prefers_the_hub_and_falls_back_to_the_bundled_copy(monkeypatch, caplog):
    import evaluate

    real_load = evaluate.load
    calls = []

    def hub_down(path, **kwargs):
        calls.append(path)
        if path == "sacrebleu":
            raise FileNotFoundError("Couldn't find a module script ... doesn't exist on the Hugging Face Hub")
        return real_load(path, **kwargs)

    monkeypatch.setattr(evaluate, "load", hub_down)
    with caplog.at_level(logging.WARNING, logger="vanilla_transformer"):
        metric = load_metric("sacrebleu")
    assert calls[0] == "sacrebleu" and calls[1].endswith("sacrebleu_metric.py")
    assert "bundled copy" in caplog.text
    assert metric.compute(predictions=["a b c d"], references=[["a b c d"]])["score"] == pytest.approx(100.0)
    with pytest.raises(FileNotFoundError):
        load_metric("sacrebleu", source="hub")

    monkeypatch.setattr(evaluate, "load", lambda path, **kwargs: ("hub module", path))
    assert load_metric("sacrebleu") == ("hub module", "sacrebleu")  # reachable Hub: its module is used
    with pytest.raises(ValueError, match="no bundled copy"):
        load_metric("rouge", source="local")


# --- data -------------------------------------------------------------------------------------------------------------


def test_parallel_text_files(tmp_path):
    (tmp_path / "train.en").write_text("a man .\n\nNA\ntwo dogs\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("ein mann .\n\nNA\nzwei hunde\n", encoding="utf-8")
    data = load_local_dataset([tmp_path / "train.en", tmp_path / "train.de"], column_names=["en", "de"], parallel=True)
    assert data.column_names == ["en", "de"]
    assert list(data["en"]) == ["a man .", "", "NA", "two dogs"]  # empty lines keep the files aligned
    assert list(data["de"]) == ["ein mann .", "", "NA", "zwei hunde"]
    (tmp_path / "short.de").write_text("ein mann .\n", encoding="utf-8")
    with pytest.raises(ValueError, match="same number of lines"):
        load_local_dataset([tmp_path / "train.en", tmp_path / "short.de"], column_names=["en", "de"], parallel=True)
    plain = load_local_dataset(tmp_path / "train.en")
    assert plain.column_names == ["text"] and len(plain) == 4


def test_tsv_csv_and_json_lines(tmp_path):
    (tmp_path / "data.tsv").write_text('1\tit\'s "great" , really\n0\tNA\n', encoding="utf-8")
    tsv = load_local_dataset(tmp_path / "data.tsv", column_names=["label", "sentence"])
    assert list(tsv["sentence"]) == ['it\'s "great" , really', "NA"]  # no unquoting, no missing values
    assert list(tsv["label"]) == [1, 0]
    (tmp_path / "data.csv").write_text('en,de\n"a, b",null\n', encoding="utf-8")
    assert load_local_dataset(tmp_path / "data.csv")[0] == {"en": "a, b", "de": "null"}
    (tmp_path / "data.jsonl").write_text(json.dumps({"translation": {"en": "a", "de": "b"}}) + "\n", encoding="utf-8")
    assert load_local_dataset(tmp_path / "data.jsonl")[0] == {"translation": {"en": "a", "de": "b"}}
    with pytest.raises(ValueError, match="share a format"):
        load_local_dataset([tmp_path / "data.csv", tmp_path / "data.tsv"])
    with pytest.raises(FileNotFoundError):
        load_local_dataset(tmp_path / "missing.txt")


def test_load_dataset_splits_from_files_and_from_the_hub(tmp_path, monkeypatch):
    for name in ("train.en", "train.de", "dev.en", "dev.de"):
        (tmp_path / name).write_text("x\ny\n", encoding="utf-8")
    splits = load_dataset_splits(
        data_files={"train": [tmp_path / "train.en", tmp_path / "train.de"], "dev": [tmp_path / "dev.en", tmp_path / "dev.de"]},
        column_names=["en", "de"], parallel=True,
    )
    assert set(splits) == {"train", "validation"} and splits["validation"].column_names == ["en", "de"]

    calls = []

    def fake_load_dataset(name, config=None, **kwargs):  # the Hub cannot be reached here: check the call
        calls.append((name, config, kwargs))
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": ["x"]}),
                                     "valid": datasets.Dataset.from_dict({"a": ["y"]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    splits = load_dataset_splits(dataset_name="wmt/wmt14", dataset_config_name="de-en", cache_dir="c")
    assert calls == [("wmt/wmt14", "de-en", {"cache_dir": "c"})]
    assert set(splits) == {"train", "validation"}
    with pytest.raises(ValueError, match="either dataset_name"):
        load_dataset_splits()


# --- command-line arguments -------------------------------------------------------------------------------------------


def test_parse_arguments_layers_defaults_recipe_presets_and_command_line():
    from dataclasses import dataclass, field

    @dataclass
    class Extra:
        preset: str | None = None
        color: str = field(default="red")

    presets = {"small": {"d_model": 64, "warmup_steps": 10, "color": "blue"}}
    model, data, recipe, extra, args = training.parse_arguments(
        (training.ModelArguments, training.DataArguments, training.RecipeArguments, Extra), ["--output_dir", "o"],
        presets=presets, preset=lambda namespace: "small" if not namespace.train_file else None,
    )
    assert (model.d_model, args.warmup_steps, extra.color, extra.preset) == (64, 10, "blue", "small")
    assert args.adam_beta2 == 0.98 and args.label_smoothing_factor == 0.1 and args.learning_rate is None
    assert training.set_learning_rate(args, model.d_model, recipe.lr_scale) == pytest.approx((64 * 10) ** -0.5)

    model, data, recipe, extra, args = training.parse_arguments(
        (training.ModelArguments, training.DataArguments, training.RecipeArguments, Extra),
        ["--output_dir", "o", "--train_file", "a.txt", "--warmup_steps", "5", "--learning_rate", "0.01", "--adam_beta2", "0.9"],
        presets=presets, preset=lambda namespace: "small" if not namespace.train_file else None,
    )
    assert (model.d_model, args.warmup_steps, extra.color, data.train_file) == (512, 5, "red", ["a.txt"])
    assert args.adam_beta2 == 0.9 and training.set_learning_rate(args, 512) == 0.01
    _, _, _, extra, args = training.parse_arguments(
        (training.ModelArguments, training.DataArguments, training.RecipeArguments, Extra),
        ["--output_dir", "o", "--train_file", "a.txt", "--preset", "small", "--d_model", "32"], presets=presets,
    )
    assert extra.color == "blue" and args.warmup_steps == 10
    with pytest.raises(ValueError, match="not options"):
        training.parse_arguments((Extra,), ["--output_dir", "o"], presets={"bad": {"colour": 1}}, preset="bad")


def test_parse_config_overrides():
    parsed = training.parse_config_overrides("norm_first=True,dropout=0.3,activation_function=gelu,init_std=null",
                                             vt.TransformerConfig)
    assert parsed == {"norm_first": True, "dropout": 0.3, "activation_function": "gelu", "init_std": None}
    with pytest.raises(ValueError, match="no field"):
        training.parse_config_overrides("d_modle=3", vt.TransformerConfig)
    with pytest.raises(ValueError, match="name=value"):
        training.parse_config_overrides("dropout", vt.TransformerConfig)


def test_fsdp_config_wraps_the_models_no_split_modules():
    """The shipped FSDP config wraps exactly the layer classes the models declare as `_no_split_modules`."""
    from accelerate.commands.config.config_args import load_config_from_file

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_config_from_file(os.path.join(root, "examples", "accelerate_configs", "fsdp.yaml"))
    wrapped = config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(",")
    assert sorted(wrapped) == sorted(vt.TransformerPreTrainedModel._no_split_modules)
    assert config.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    model_classes = {type(m).__name__ for m in tiny_model(vt.train_tokenizer(iter(["a b c"]), vocab_size=20,
                                                                               show_progress=False)).modules()}
    assert set(wrapped) <= model_classes
    for name in ("cpu_2proc", "multi_gpu", "deepspeed_zero2"):
        assert load_config_from_file(os.path.join(root, "examples", "accelerate_configs", f"{name}.yaml")).num_processes >= 2
    with open(os.path.join(root, "examples", "accelerate_configs", "ds_zero2.json")) as file:
        assert json.load(file)["zero_optimization"]["stage"] == 2
