"""What the examples share (`vanilla_transformer.examples`: `arguments`, `common`, `data`, `metrics` and the accelerate
configs): the command line with the paper's recipe and presets as defaults, the time limit, data loading from local
files and the Hub, and metrics that give the same figures with and without the Hub."""

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import datasets
import evaluate
import pytest
import sacrebleu
import torch
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoUrl
from huggingface_hub.utils import filter_repo_objects
from transformers import TrainerCallback, TrainerControl, TrainerState

import vanilla_transformer as vt
from vanilla_transformer.examples import metrics
from vanilla_transformer.examples.arguments import (
    DataArguments,
    ModelArguments,
    RecipeArguments,
    parse_arguments,
    parse_config_overrides,
    set_learning_rate,
)
from vanilla_transformer.examples.common import CheckpointsWithoutModelCode, TimeLimitCallback
from vanilla_transformer.examples.data import load_dataset_splits, load_local_dataset
from vanilla_transformer.examples.learning_curves import MINUTES, TrainingClock, save_learning_curves
from vanilla_transformer.hub import HubTrainerMixin
from vanilla_transformer.training import InOrderSeq2SeqTrainer, find_checkpoints

from helpers import run_on_two_cpu_processes
from training_helpers import run_trainer, tiny_model, tiny_translation_data


# --- command-line arguments (arguments.py) ----------------------------------------------------------------------------


def test_parse_arguments_layers_defaults_recipe_presets_and_command_line():
    @dataclass
    class Extra:
        preset: str | None = None
        color: str = field(default="red")

    presets = {"small": {"d_model": 64, "warmup_steps": 10, "color": "blue"}}
    model, data, recipe, extra, args = parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, Extra),
        ["--output_dir", "o"],
        presets=presets,
        preset=lambda namespace: "small" if not namespace.train_file else None,
    )
    assert (model.d_model, args.warmup_steps, extra.color, extra.preset) == (64, 10, "blue", "small")
    assert args.adam_beta2 == 0.98 and args.label_smoothing_factor == 0.1 and args.learning_rate is None
    assert set_learning_rate(args, model.d_model, recipe.lr_scale) == pytest.approx((64 * 10) ** -0.5)

    model, data, recipe, extra, args = parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, Extra),
        [
            "--output_dir",
            "o",
            "--train_file",
            "a.txt",
            "--warmup_steps",
            "5",
            "--learning_rate",
            "0.01",
            "--adam_beta2",
            "0.9",
        ],
        presets=presets,
        preset=lambda namespace: "small" if not namespace.train_file else None,
    )
    assert (model.d_model, args.warmup_steps, extra.color, data.train_file) == (512, 5, "red", ["a.txt"])
    assert args.adam_beta2 == 0.9 and set_learning_rate(args, 512) == 0.01
    _, _, _, extra, args = parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, Extra),
        ["--output_dir", "o", "--train_file", "a.txt", "--preset", "small", "--d_model", "32"],
        presets=presets,
    )
    assert extra.color == "blue" and args.warmup_steps == 10
    with pytest.raises(ValueError, match="not options"):
        parse_arguments((Extra,), ["--output_dir", "o"], presets={"bad": {"colour": 1}}, preset="bad")


def test_parse_config_overrides():
    parsed = parse_config_overrides(
        "norm_first=True,dropout=0.3,activation_function=gelu,init_std=null", vt.TransformerConfig
    )
    assert parsed == {"norm_first": True, "dropout": 0.3, "activation_function": "gelu", "init_std": None}
    with pytest.raises(ValueError, match="no field"):
        parse_config_overrides("d_modle=3", vt.TransformerConfig)
    with pytest.raises(ValueError, match="name=value"):
        parse_config_overrides("dropout", vt.TransformerConfig)


# --- the steps around Trainer (common.py) -----------------------------------------------------------------------------


def test_time_limit_stops_training_with_a_checkpoint(tmp_path):
    tokenizer, features = tiny_translation_data()
    limit = TimeLimitCallback(minutes=1e-9)
    trainer = run_trainer(
        tmp_path, tokenizer, features, steps=1000, callbacks=[limit], save_strategy="steps", save_steps=500
    )
    assert trainer.state.global_step == limit.stopped_at == 1
    assert [p.name for p in find_checkpoints(tmp_path)] == ["checkpoint-1"]
    with pytest.raises(ValueError, match="positive"):
        TimeLimitCallback(0)


class SteppedClock(TrainerCallback):
    """A clock for `TimeLimitCallback` that moves `seconds_per_step` at the start of every training step, and the
    learning rate each step applied."""

    def __init__(self, seconds_per_step: float):
        self.seconds_per_step, self.now, self.learning_rates = seconds_per_step, 0.0, []

    def __call__(self) -> float:
        return self.now

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.now += self.seconds_per_step
        self.learning_rates.append(optimizer.param_groups[0]["lr"])


# The learning rates of 10 steps of 6 s at 1e-3 under a 1-minute limit whose last 30 s cool down: the factor at the
# end of a step (time left / 30 s, at most 1) applies from the next step on.
COOLED_DOWN_RATES = [1e-3 * min(1.0, (60 - 6 * step) / 30) for step in range(10)]


def test_cooldown_decays_the_learning_rate_to_zero_at_the_time_limit(tmp_path):
    tokenizer, features = tiny_translation_data()
    clock = SteppedClock(seconds_per_step=6.0)
    limit = TimeLimitCallback(minutes=1, cooldown_fraction=0.5)  # 10 steps of 6 s; the last 30 s cool down
    limit.clock = clock
    trainer = run_trainer(
        tmp_path,
        tokenizer,
        features,
        steps=1000,
        callbacks=[clock, limit],
        lr_scheduler_type="constant",
        learning_rate=1e-3,
    )
    assert trainer.state.global_step == limit.stopped_at == 10
    assert clock.learning_rates == pytest.approx(COOLED_DOWN_RATES, abs=1e-12)
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged == pytest.approx(COOLED_DOWN_RATES, abs=1e-12)  # the log shows the rate applied, not the schedule's
    # The schedule's own factors stay out of its saved state, as before (no pickled callback in scheduler.pt).
    assert set(trainer.lr_scheduler.state_dict()["lr_lambdas"]) == {None}


def test_cooldown_of_a_resumed_run_counts_the_minutes_before(tmp_path):
    limit = TimeLimitCallback(minutes=1, cooldown_fraction=0.5)
    limit.clock = lambda: 1000.0
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    state = TrainerState(log_history=[{"loss": 1.0, MINUTES: 0.25}, {"loss": 0.9, MINUTES: 0.75}])
    args = SimpleNamespace(world_size=1)
    limit.on_train_begin(args, state, TrainerControl(), lr_scheduler=schedule)
    assert limit.lr_factor == pytest.approx(0.5)  # 45 of 60 s gone: 15 s of the 30 s cooldown left
    optimizer.step()
    schedule.step()
    assert schedule.get_last_lr() == pytest.approx([0.5])


COOLDOWN_ON_TWO_PROCESSES = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_examples_common import SteppedClock, TimeLimitCallback
from training_helpers import run_trainer, tiny_translation_data

rank = int(__import__("os").environ["RANK"])
clock = SteppedClock(seconds_per_step=6.0 if rank == 0 else 9.0)  # the second process's clock runs faster
limit = TimeLimitCallback(minutes=1, cooldown_fraction=0.5)
limit.clock = clock
tokenizer, features = tiny_translation_data()
trainer = run_trainer(
    Path(sys.argv[1]), tokenizer, features, steps=1000, callbacks=[clock, limit], lr_scheduler_type="constant",
    learning_rate=1e-3,
)
Path(sys.argv[1], f"rank{rank}.json").write_text(json.dumps([trainer.state.global_step, clock.learning_rates]))
"""


@pytest.mark.slow  # about 30 s: two processes that each import torch and transformers
def test_two_processes_follow_the_first_ones_clock(tmp_path):
    ranks = run_on_two_cpu_processes(COOLDOWN_ON_TWO_PROCESSES, tmp_path)
    # Both stop at the first process's 10th step, with its learning rates: replicas that applied different rates
    # would drift apart.
    for steps, learning_rates in ranks:
        assert steps == 10
        assert learning_rates == pytest.approx(COOLED_DOWN_RATES, abs=1e-12)


def test_cooldown_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="between 0 and 1"):
        TimeLimitCallback(minutes=1, cooldown_fraction=1.5)
    with pytest.raises(ValueError, match="--max_train_minutes"):
        RecipeArguments(cooldown_fraction=0.2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        RecipeArguments(max_train_minutes=5, cooldown_fraction=-0.1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    limit = TimeLimitCallback(minutes=1, cooldown_fraction=0.5)
    with pytest.raises(ValueError, match="LambdaLR"):
        limit.on_train_begin(SimpleNamespace(world_size=1), TrainerState(), TrainerControl(), lr_scheduler=plateau)


# --- data (data.py) ---------------------------------------------------------------------------------------------------


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
        data_files={
            "train": [tmp_path / "train.en", tmp_path / "train.de"],
            "dev": [tmp_path / "dev.en", tmp_path / "dev.de"],
        },
        column_names=["en", "de"],
        parallel=True,
    )
    assert set(splits) == {"train", "validation"} and splits["validation"].column_names == ["en", "de"]

    calls = []

    def fake_load_dataset(name, config=None, **kwargs):  # the Hub cannot be reached here: check the call
        calls.append((name, config, kwargs))
        return datasets.DatasetDict(
            {"train": datasets.Dataset.from_dict({"a": ["x"]}), "valid": datasets.Dataset.from_dict({"a": ["y"]})}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    splits = load_dataset_splits(dataset_name="wmt/wmt14", dataset_config_name="de-en", cache_dir="c")
    assert calls == [("wmt/wmt14", "de-en", {"cache_dir": "c"})]
    assert set(splits) == {"train", "validation"}
    with pytest.raises(ValueError, match="either dataset_name"):
        load_dataset_splits()


# --- metrics (metrics.py) ---------------------------------------------------------------------------------------------

HYPOTHESES = ["the cat sat on the mat .", "a dog runs in the park", "hello there general kenobi"]
REFERENCES = ["the cat sat on a mat .", "a dog is running in the park .", "hello there general kenobi"]


@pytest.fixture
def hub_down(monkeypatch):
    """`evaluate.load` as it fails on a machine without the Hub; the names it was called with."""
    calls = []

    def load(path, **kwargs):
        calls.append(path)
        raise FileNotFoundError("Couldn't find a module script ... doesn't exist on the Hugging Face Hub")

    monkeypatch.setattr(evaluate, "load", load)
    return calls


@pytest.mark.parametrize("tokenize", ["13a", "none"])
def test_offline_sacrebleu_is_sacrebleu(hub_down, tokenize):
    metric = metrics.load_metric("sacrebleu")
    assert hub_down == ["sacrebleu"] and isinstance(metric, metrics.SacreBLEU)
    result = metric.compute(predictions=HYPOTHESES, references=[[r] for r in REFERENCES], tokenize=tokenize)
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize=tokenize)
    assert result["score"] == expected.score
    assert result["counts"] == expected.counts and result["sys_len"] == expected.sys_len
    assert result["precisions"] == expected.precisions and result["bp"] == expected.bp
    assert result["ref_len"] == expected.ref_len
    assert set(result) == {"score", "counts", "totals", "precisions", "bp", "sys_len", "ref_len"}
    # one reference per prediction may also be given flat
    assert metric.compute(predictions=HYPOTHESES, references=REFERENCES, tokenize=tokenize)["score"] == result["score"]
    # two references per prediction: sacreBLEU's two reference streams
    second = ["the cat sits on the mat .", "a dog runs in the park", "hi there general kenobi"]
    result = metric.compute(
        predictions=HYPOTHESES, references=[list(pair) for pair in zip(REFERENCES, second)], tokenize=tokenize
    )
    assert result["score"] == sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES, second], tokenize=tokenize).score


def test_offline_accuracy(hub_down):
    metric = metrics.load_metric("accuracy")
    assert isinstance(metric, metrics.Accuracy)
    assert metric.compute(references=[0, 1, 2, 0, 1, 2], predictions=[0, 1, 1, 2, 1, 0]) == {"accuracy": 0.5}


def test_load_metric_prefers_the_hub_and_says_when_it_falls_back(monkeypatch, hub_down, caplog):
    with caplog.at_level(logging.WARNING, logger="vanilla_transformer"):
        metrics.load_metric("sacrebleu")
    assert "not available from the Hugging Face Hub" in caplog.text and "SacreBLEU" in caplog.text
    with pytest.raises(FileNotFoundError):  # a metric the examples do not use has no fallback
        metrics.load_metric("rouge")

    monkeypatch.setattr(evaluate, "load", lambda path, **kwargs: ("hub module", path))
    assert metrics.load_metric("sacrebleu") == ("hub module", "sacrebleu")  # reachable Hub: its module is used
    assert metrics.load_metric("accuracy") == ("hub module", "accuracy")


# --- accelerate configs -----------------------------------------------------------------------------------------------


def test_fsdp_config_wraps_the_models_no_split_modules():
    """The shipped FSDP config wraps exactly the layer classes the models declare as `_no_split_modules`."""
    from accelerate.commands.config.config_args import load_config_from_file

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_config_from_file(os.path.join(root, "examples", "accelerate_configs", "fsdp.yaml"))
    wrapped = config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(",")
    assert sorted(wrapped) == sorted(vt.TransformerPreTrainedModel._no_split_modules)
    assert config.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    model_classes = {
        type(m).__name__
        for m in tiny_model(vt.train_tokenizer(iter(["a b c"]), vocab_size=20, show_progress=False)).modules()
    }
    assert set(wrapped) <= model_classes
    # the process counts of the other configs come from the command line: tests/test_accelerate_launch.py
    assert (
        load_config_from_file(os.path.join(root, "examples", "accelerate_configs", "cpu_2proc.yaml")).num_processes
        == 2
    )
    with open(os.path.join(root, "examples", "accelerate_configs", "ds_zero2.json")) as file:
        assert json.load(file)["zero_optimization"]["stage"] == 2


# --- what the examples' runs leave behind (common.py, learning_curves.py) ----------------------------------------------


class PushingTrainer(HubTrainerMixin, InOrderSeq2SeqTrainer):
    pass


@pytest.fixture
def fake_uploads(monkeypatch):
    """The files of every folder the Trainer uploads (the Hub cannot be reached here)."""
    uploads = []

    def upload_folder(api, *, folder_path, ignore_patterns=None, run_as_future=False, **kwargs):
        paths = [p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file()]
        uploads.append(set(filter_repo_objects(paths, ignore_patterns=ignore_patterns)))
        future = Future()
        future.set_result(None)
        return future if run_as_future else None

    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kwargs: RepoUrl(f"https://hf.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return uploads


@pytest.mark.parametrize("push", [False, True])
def test_checkpoints_carry_model_code_only_when_pushed(tmp_path, push, fake_uploads):
    """The examples' checkpoints carry no model code; when the run pushes its checkpoints to the Hub, they keep it,
    and so do the pushes (`HubTrainerMixin` copies it from the checkpoint)."""
    tokenizer, features = tiny_translation_data()
    hub = dict(push_to_hub=True, hub_model_id="someone/run", hub_strategy="every_save") if push else {}
    run_trainer(
        tmp_path,
        tokenizer,
        features,
        steps=2,
        save_strategy="steps",
        save_steps=1,
        trainer_class=PushingTrainer,
        callbacks=[CheckpointsWithoutModelCode()],
        **hub,
    )
    code = {path.name for path in (Path(vt.__file__).parent / "modeling").glob("*.py")} - {"__init__.py"}
    for checkpoint in find_checkpoints(tmp_path):
        assert ({path.name for path in checkpoint.glob("*.py")} == code) == push, checkpoint
    pushed = [files for files in fake_uploads if "config.json" in files]
    assert len(pushed) == (2 if push else 0) and all(code <= files for files in pushed)


def test_learning_curves_without_matplotlib_are_json_and_a_log_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed: importing it fails
    history = [{"loss": 2.0, "step": 1, "elapsed_minutes": 0.5}, {"eval_loss": 1.5, "eval_runtime": 3, "step": 1}]
    with caplog.at_level(logging.INFO, logger="vanilla_transformer"):
        written = save_learning_curves(history, tmp_path)
    assert written == [tmp_path / "learning_curves.json"] and not (tmp_path / "learning_curves.png").exists()
    assert json.loads(written[0].read_text()) == {
        "loss": [{"step": 1, "elapsed_minutes": 0.5, "value": 2.0}],
        "eval_loss": [{"step": 1, "elapsed_minutes": None, "value": 1.5}],
    }
    assert "matplotlib is not installed" in caplog.text and "vanilla-transformer[plots]" in caplog.text


def test_the_training_clock_continues_the_minutes_of_a_resumed_run():
    clock = TrainingClock()
    state = TrainerState(log_history=[{"loss": 3.0, "step": 10, "elapsed_minutes": 7.5}])  # from the checkpoint
    clock.on_train_begin(None, state, None)
    state.log_history.append({"loss": 2.0, "step": 11})
    clock.on_log(None, state, None, logs={"loss": 2.0})
    assert 7.5 <= state.log_history[-1]["elapsed_minutes"] < 8.0


def test_the_package_and_the_examples_import_no_plotting_library():
    code = (
        "import sys, vanilla_transformer, vanilla_transformer.examples.translation, "
        "vanilla_transformer.examples.language_modeling, vanilla_transformer.examples.classification; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('matplotlib', 'tensorboard')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
