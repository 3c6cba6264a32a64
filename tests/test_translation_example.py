"""The flagship example, `examples/translation.py`: its built-in data, a run end to end, the evaluate-only mode, resuming
from a checkpoint, and a 2-process `accelerate launch` that must agree with a single process of the same global batch.

The runs are tiny (a 1-layer model of width 32, a few steps): they check the machinery, not translation quality,
which `make demo` shows (BLEU > 90 on the built-in held-out split).
"""

import importlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sacrebleu
import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, GenerationConfig

import vanilla_transformer as vt
from vanilla_transformer.examples import synthetic_data, translation
from vanilla_transformer.examples.milestones import milestone_dir
from vanilla_transformer.training import InOrderSeq2SeqTrainer

from helpers import free_port


REPO = Path(__file__).resolve().parents[1]
D_MODEL = 32
TINY = [
    "--synthetic_train_size",
    "256",
    "--d_model",
    str(D_MODEL),
    "--num_heads",
    "2",
    "--d_ff",
    "64",
    "--num_layers",
    "1",
    "--warmup_steps",
    "4",
    "--logging_steps",
    "1",
    "--max_eval_samples",
    "16",
    "--disable_tqdm",
    "true",
    "--num_samples",
    "2",
    "--seed",
    "3",
    "--generation_max_length",
    "24",  # an untrained model stops only there
]


# --- the built-in data ------------------------------------------------------------------------------------------------


class ScriptedRandom:
    """Stands in for `random.Random`, returning scripted draws, to check the grammar's rules on a known sentence."""

    def __init__(self, draws):
        self.draws = list(draws)

    def _next(self):
        return self.draws.pop(0)

    def random(self):
        return self._next()

    def choice(self, options):
        value = self._next()
        assert value in list(options)
        return value

    def sample(self, population, k):
        value = self._next()
        assert len(value) == k and set(value) <= set(population)
        return value


def test_synthetic_translation_follows_the_rules():
    def noun(english):
        return next(item for item in synthetic_data.NOUNS.items() if item[0][0] == english)

    see = next(item for item in synthetic_data.TRANSITIVE_VERBS.items() if item[0][0] == "see")
    rng = ScriptedRandom(
        [
            0.9,
            0.9,
            "the",
            noun("dog"),
            1,
            ["big"],  # subject: no name, singular, "the", "dog", one adjective
            "present",
            0.1,  # tense, negated
            0.5,
            see,
            0.9,
            0.1,
            "two",
            noun("cat"),
            0,
            [],  # transitive "see"; object: plural "two cats"
            0.1,
            "in",
            0.9,
            "the",
            noun("park"),
            0,
            [],  # place phrase "in the park"
            0.9,  # no adverb
        ]
    )
    english, synthetic = synthetic_data.translation_pair(rng)
    assert english == "the big dog does not see two cats in the park ."
    assert synthetic == "parko ta inu hundo grava ta katoi du ko ne vidu ."
    assert not rng.draws


def test_synthetic_splits_are_deterministic_and_disjoint():
    sizes = {"train": 400, "validation": 50, "test": 50}
    splits = synthetic_data.synthetic_translation_splits(sizes, seed=0)
    assert splits == synthetic_data.synthetic_translation_splits(sizes, seed=0)
    assert splits != synthetic_data.synthetic_translation_splits(sizes, seed=1)
    sources = [s for split in splits.values() for s in split["en"]]
    assert len(sources) == len(set(sources)) == 500
    assert {split: len(columns["syn"]) for split, columns in splits.items()} == sizes
    names = set(synthetic_data.NAMES)
    for en, syn in zip(splits["train"]["en"], splits["train"]["syn"]):
        assert {w for w in en.split() if w in names} == {w for w in syn.split() if w in names}  # names are copied
        assert syn.endswith(" .") and not set(syn.split()) & {"the", "a", "will", "not", "does", "did"}


# --- translate(): order and batching ----------------------------------------------------------------------------------


def test_translate_returns_translations_in_the_order_of_the_sources():
    """`translate` sorts sentences by length for generation; whatever it does, translation i is that of source i.
    An echoing stand-in for the trainer makes every translation identify its source."""
    tokenizer = vt.train_tokenizer(iter(["a b c d e f g h i j k l"] * 3), vocab_size=40, show_progress=False)

    class EchoTrainer:
        processing_class = tokenizer
        model = SimpleNamespace(generation_config=GenerationConfig(max_length=50))
        data_collator = None

        def predict(self, dataset, **kwargs):
            width = max(len(ids) for ids in dataset["input_ids"])
            rows = [list(ids) + [-100] * (width - len(ids)) for ids in dataset["input_ids"]]
            return SimpleNamespace(predictions=np.array(rows))

    sources = ["a b", "c d e f g", "h", "i j k", "l a b c d e f g", "b"]
    assert translation.translate(EchoTrainer(), sources) == sources
    assert translation.translate(EchoTrainer(), []) == []


def test_translations_keep_the_order_of_the_sources_when_training_groups_by_length(tmp_path):
    """The library's evaluation sampler follows `train_sampling_strategy`; with "group_by_length" (the multi30k
    preset's) it would hand `predict()` the sentences in a shuffled order, and translation i would belong to another
    source. Through the real `Seq2SeqTrainer.predict`, with a model whose "translation" echoes its source, every
    translation must come back beside its own source."""

    class EchoModel(vt.TransformerForConditionalGeneration):
        def generate(self, input_ids=None, **kwargs):
            return input_ids

    sources = synthetic_data.synthetic_translation_splits({"train": 24}, seed=5)["train"]["en"]
    tokenizer = vt.train_tokenizer(iter(sources), vocab_size=200, show_progress=False)
    model = EchoModel(
        vt.config_from_tokenizer(
            tokenizer, "seq2seq", d_model=16, num_heads=2, d_ff=16, encoder_layers=1, decoder_layers=1
        )
    ).eval()
    echoed = [tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) for text in sources]
    assert len(set(echoed)) == len(sources)
    for strategy in ("random", "group_by_length"):
        *_, training_args = translation.parse_args(
            [
                "--output_dir",
                str(tmp_path),
                "--train_sampling_strategy",
                strategy,
                "--per_device_eval_batch_size",
                "4",
                "--report_to",
                "none",
            ]
        )
        trainer = InOrderSeq2SeqTrainer(
            model=model,
            args=training_args,
            processing_class=tokenizer,
            data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        )
        assert translation.translate(trainer, sources) == echoed, strategy


def test_saved_models_decode_the_papers_way_and_as_long_as_the_training_targets():
    model = vt.TransformerForConditionalGeneration(
        vt.TransformerConfig(vocab_size=20, d_model=8, num_heads=2, d_ff=8, encoder_layers=1, decoder_layers=1)
    )
    model_args, data_args, recipe_args, args, training_args = translation.parse_args(["--output_dir", "x"])
    translation.set_generation_defaults(model, args, training_args)
    config = model.generation_config
    # a limit on new tokens (not the library's 20), and no max_length to clash with a caller's max_new_tokens
    assert (config.num_beams, config.length_penalty, config.max_new_tokens, config.max_length) == (4, 0.6, 256, None)
    *_, args, training_args = translation.parse_args(
        ["--output_dir", "x", "--generation_num_beams", "5", "--length_penalty", "1.0", "--max_target_length", "99"]
    )
    model.generation_config.max_new_tokens = None
    translation.set_generation_defaults(model, args, training_args)
    assert (config.num_beams, config.length_penalty, config.max_new_tokens, config.max_length) == (5, 1.0, 99, None)
    # --generation_max_length counts the decoder's start token, as the library's max_length does
    *_, args, training_args = translation.parse_args(["--output_dir", "x", "--generation_max_length", "30"])
    translation.set_generation_defaults(model, args, training_args)
    assert (config.max_new_tokens, config.max_length, training_args.generation_max_length) == (29, None, None)


# --- the example end to end -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("translation")
    results = translation.main(
        [
            *TINY,
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "12",
            "--save_steps",
            "4",
            "--average_checkpoints",
            "2",
            "--eval_strategy",
            "steps",
            "--eval_steps",
            "6",
            "--bleu_during_training",
        ]
    )
    return output_dir, results


def test_example_trains_averages_evaluates_and_saves_a_loadable_model(demo_run):
    output_dir, results = demo_run
    model_dir = Path(results["model_dir"])
    assert model_dir == (output_dir / "model").resolve()
    assert results["averaged_checkpoints"] == ["checkpoint-8", "checkpoint-12"]
    a, b = (load_file(output_dir / name / "model.safetensors") for name in results["averaged_checkpoints"])
    averaged = load_file(model_dir / "model.safetensors")
    for name in averaged:
        torch.testing.assert_close(averaged[name], ((a[name].double() + b[name].double()) / 2).float(), rtol=0, atol=0)

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert isinstance(model, vt.TransformerForConditionalGeneration) and model.config.d_model == D_MODEL
    vt.check_tokenizer_matches(tokenizer, model)
    config = model.generation_config
    assert (config.num_beams, config.length_penalty, config.early_stopping) == (4, 0.6, True)
    assert (config.max_new_tokens, config.max_length) == (23, None)  # --generation_max_length 24, less <s>
    generated = model.generate(**tokenizer(["the dog sees a cat ."], return_tensors="pt"))
    assert generated.shape[0] == 1

    assert 0.0 <= results["bleu"] <= 100.0 and results["num_beams"] == 4
    logged = [entry for entry in _state(output_dir)["log_history"] if "eval_bleu" in entry]
    assert [entry["step"] for entry in logged] == [6, 12] and all(0 <= e["eval_bleu"] <= 100 for e in logged)
    assert len(results["hypotheses"]) == 16 and len(results["samples"]) == 2
    saved = json.loads((output_dir / "translation_results.json").read_text())
    assert saved["bleu"] == results["bleu"] and "hypotheses" not in saved
    for path in results["test_files"].values():
        assert len(Path(path).read_text(encoding="utf-8").splitlines()) == synthetic_data.DEFAULT_SIZES["test"]
    assert (output_dir / "tokenizer" / "tokenizer.json").is_file()


def test_checkpoints_carry_no_model_code_and_the_final_folder_carries_it(demo_run):
    output_dir, results = demo_run
    for checkpoint in output_dir.glob("checkpoint-*"):
        assert not list(checkpoint.glob("*.py")), checkpoint
    model_dir = Path(results["model_dir"])
    for reference in json.loads((model_dir / "config.json").read_text())["auto_map"].values():
        module = reference.split(".")[0] + ".py"  # the code trust_remote_code loads, as the package has it
        assert (model_dir / module).read_bytes() == (REPO / "modeling" / module).read_bytes(), module


def test_the_final_card_describes_the_final_folder(demo_run):
    output_dir, results = demo_run
    card = (Path(results["model_dir"]) / "README.md").read_text()
    for expected in (
        f"# {output_dir.name}\n",  # the run's name, not the last checkpoint's
        f'AutoModelForSeq2SeqLM.from_pretrained("{output_dir / "model"}")',
        "built-in synthetic corpus",  # the data ...
        "256 training pairs, `en` -> `syn`",
        "(preset `demo`)",  # ... how it was trained ...
        "12 steps",
        "the average of the last 2 checkpoints (`checkpoint-8`, `checkpoint-12`)",
        "![Learning curves](learning_curves.png)",
        f"| BLEU, validation (16 sentences, sacreBLEU tokenize=none) | {results['bleu']:.4g} |",  # ... its score ...
        "beam search (beam 4, length penalty 0.6), as saved in generation_config.json",  # ... and how it decodes
    ):
        assert expected in card, expected
    assert "checkpoint-12\n" not in card and "Not recorded" not in card


@pytest.fixture
def transformers_warnings(caplog):
    """The warnings the library logs (its loggers do not propagate to pytest's handler unless told to)."""
    transformers.utils.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="transformers"):
            yield caplog
    finally:
        transformers.utils.logging.disable_propagation()


def test_the_saved_model_translates_past_20_tokens_and_takes_max_new_tokens_without_a_warning(
    demo_run, transformers_warnings
):
    """No max_length is saved: neither the library's 20 tokens cut the translations short (the run saved
    --generation_max_length 24 as 23 new tokens), nor does max_new_tokens clash with a saved max_length."""
    _, results = demo_run
    model = AutoModelForSeq2SeqLM.from_pretrained(results["model_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(results["model_dir"])
    inputs = tokenizer(["the big dog does not see two cats in the park ."], return_tensors="pt")
    never_ending = {"suppress_tokens": [tokenizer.eos_token_id]}  # an untrained model might stop early: never
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default = model.generate(**inputs, **never_ending)
        longer = model.generate(**inputs, max_new_tokens=40, **never_ending)
    assert default.shape[1] == 1 + 23 and longer.shape[1] == 1 + 40  # the start token, then the new ones
    assert [str(warning.message) for warning in caught] == []
    assert transformers_warnings.records == []


def test_the_learning_curves_are_the_log_history_beside_the_final_model(demo_run):
    output_dir, results = demo_run
    model_dir = Path(results["model_dir"])
    history = _state(output_dir)["log_history"]
    curves = json.loads((model_dir / "learning_curves.json").read_text())
    assert set(curves) == {"loss", "eval_loss", "eval_bleu"}
    for name, points in curves.items():
        logged = [entry for entry in history if name in entry]
        assert [(p["step"], p["elapsed_minutes"], p["value"]) for p in points] == [
            (entry["step"], entry["elapsed_minutes"], entry[name]) for entry in logged
        ]
    minutes = [point["elapsed_minutes"] for point in curves["loss"]]
    assert minutes == sorted(minutes) and minutes[0] > 0
    png = (model_dir / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    # two rows of two panels (losses; BLEU), against steps and against minutes
    assert struct.unpack(">II", png[16:24]) == (1000, 700)


@pytest.mark.parametrize(
    "module, script, demo_width",
    [
        ("translation", "translation.py", 128),
        ("language_modeling", "language_modeling.py", 128),
        ("classification", "classification.py", 128),
    ],
)
def test_help_shows_the_example_the_chosen_presets_defaults_and_every_preset(module, script, demo_width, capsys):
    example = importlib.import_module(f"vanilla_transformer.examples.{module}")

    def help_text(*argv):
        with pytest.raises(SystemExit) as exited:
            example.parse_args([*argv, "--help"])
        assert exited.value.code == 0
        return capsys.readouterr().out

    def default_width(text):
        return int(
            re.search(r"--d_model D_MODEL, --d-model D_MODEL\s+Model width\.\s+\(default:\s+(\d+)\)", text).group(1)
        )

    text = help_text()
    assert text.index(f"python examples/{script}") < text.index("\noptions:")  # the description and commands first
    assert default_width(text) == demo_width  # the demo preset's, which this command line would use
    assert default_width(help_text("--preset", "base")) == 512
    epilog = text[text.index("presets (--preset NAME") :].replace("\n      ", " ")  # wrapped lines joined
    for name, values in example.PRESETS.items():
        (line,) = [line for line in epilog.splitlines() if line.startswith(f"  {name}: ")]
        assert all(f" {option}=" in f" {line[len(name) + 4 :]}" for option in values), name
        assert f"d_model={values['d_model']}" in line if "d_model" in values else "d_model=" not in line


def test_evaluate_only_translates_writes_and_scores_a_test_set(demo_run, tmp_path, capsys):
    output_dir, results = demo_run
    files = results["test_files"]
    sources = Path(files["en"]).read_text(encoding="utf-8").splitlines()[:20]
    references = Path(files["syn"]).read_text(encoding="utf-8").splitlines()[:20]
    (tmp_path / "test.en").write_text("".join(s + "\n" for s in sources), encoding="utf-8")
    (tmp_path / "test.syn").write_text("".join(r + "\n" for r in references), encoding="utf-8")
    scored = translation.main(
        [
            "--evaluate_only",
            "--model_name_or_path",
            results["model_dir"],
            "--source_file",
            str(tmp_path / "test.en"),
            "--reference_file",
            str(tmp_path / "test.syn"),
            "--hypothesis_file",
            str(tmp_path / "out" / "test.hyp"),
            "--output_dir",
            str(tmp_path),
            "--disable_tqdm",
            "true",
        ]
    )
    hypotheses = (tmp_path / "out" / "test.hyp").read_text(encoding="utf-8").splitlines()
    assert hypotheses == scored["hypotheses"] and len(hypotheses) == 20
    expected = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="13a").score
    assert scored["bleu"] == pytest.approx(round(expected, 2))
    assert f"BLEU = {scored['bleu']:.2f}" in capsys.readouterr().out
    # The same beam search as the saved model's generate(), sentence by sentence.
    model = AutoModelForSeq2SeqLM.from_pretrained(results["model_dir"])
    tokenizer = AutoTokenizer.from_pretrained(results["model_dir"])
    for source, hypothesis in list(zip(sources, hypotheses))[:3]:
        generated = model.generate(**tokenizer([source], return_tensors="pt"))
        assert tokenizer.decode(generated[0], skip_special_tokens=True).strip() == hypothesis
    with pytest.raises(ValueError, match="lines"):
        (tmp_path / "short.syn").write_text("x\n", encoding="utf-8")
        translation.main(
            [
                "--evaluate_only",
                "--model_name_or_path",
                results["model_dir"],
                "--source_file",
                str(tmp_path / "test.en"),
                "--reference_file",
                str(tmp_path / "short.syn"),
                "--output_dir",
                str(tmp_path),
            ]
        )


def test_example_reads_parallel_text_files(demo_run, tmp_path):
    """`--train_file train.en train.syn`: the languages come from the file suffixes; a new run in the same folder
    clears the earlier run's checkpoints before training."""
    _, results = demo_run
    files = results["test_files"]
    args = [
        *TINY,
        "--tokenizer_name",
        results["model_dir"],
        "--train_file",
        files["en"],
        files["syn"],
        "--validation_file",
        files["en"],
        files["syn"],
        "--max_steps",
        "2",
        "--save_steps",
        "1",
        "--max_eval_samples",
        "4",
        "--output_dir",
        str(tmp_path),
    ]
    first = translation.main(args)
    assert first["averaged_checkpoints"] == ["checkpoint-1", "checkpoint-2"]
    (tmp_path / "checkpoint-9").mkdir()
    shutil.copy(tmp_path / "checkpoint-2" / "trainer_state.json", tmp_path / "checkpoint-9")
    translation.main(args)
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]


# --- resuming ---------------------------------------------------------------------------------------------------------


def test_bleu_at_tokens_scores_the_snapshot_taken_at_that_many_training_tokens(tmp_path):
    """`--bleu_at_tokens N` saves the model at the first step past N source tokens (here: step 1 of 3) and scores it
    on the validation set beside the final model."""
    results = translation.main(
        [*TINY, "--max_steps", "3", "--save_steps", "1", "--bleu_at_tokens", "1", "--output_dir", str(tmp_path)]
    )
    snapshot = load_file(milestone_dir(tmp_path, 1) / "model.safetensors")
    step_1 = load_file(tmp_path / "checkpoint-1" / "model.safetensors")
    assert all(torch.equal(snapshot[name], step_1[name]) for name in step_1)
    assert results["bleu_at_tokens"]["tokens"] == 1
    assert isinstance(results["bleu_at_tokens"]["bleu"], float)


@pytest.mark.parametrize("batching", [[], ["--max_tokens_per_batch", "1024"]], ids=["examples", "tokens"])
def test_resuming_from_a_checkpoint_gives_the_same_model(tmp_path, batching):
    """8 steps straight, and 4 steps then resume from checkpoint-4 with `--resume_from_checkpoint latest`, give the
    same weights bit for bit (with dropout on: the checkpoint carries the random state, the data order is seeded),
    with batches of a number of examples or of tokens (whose sampler draws anew each epoch: 8 steps span epochs)."""
    common = [
        *TINY,
        *batching,
        "--dropout",
        "0.1",
        "--max_steps",
        "8",
        "--save_steps",
        "4",
        "--max_eval_samples",
        "2",
        "--per_device_train_batch_size",
        "8",
    ]
    straight = translation.main([*common, "--output_dir", str(tmp_path / "straight")])
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(tmp_path / "straight" / "checkpoint-4", resumed_dir / "checkpoint-4")  # as a run stopped at step 4
    resumed = translation.main([*common, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "latest"])

    a = load_file(tmp_path / "straight" / "checkpoint-8" / "model.safetensors")
    b = load_file(resumed_dir / "checkpoint-8" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert _losses(resumed_dir) == _losses(tmp_path / "straight") and len(_losses(resumed_dir)) == 8
    assert straight["bleu"] == resumed["bleu"]


# A child that runs the example with argv[3] threads (the parent's) and kills itself (SIGKILL: no clean-up runs) while
# saving the checkpoint of step argv[1]: argv[2] "before" its trainer_state.json (the weights, optimizer and random
# states are written: the Trainer writes the trainer state last), or "after" it (a complete checkpoint).
KILL_WHILE_SAVING = """
import os, signal, sys
import torch
from transformers.trainer_callback import TrainerState
from vanilla_transformer.examples import translation

step, when, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)  # the parent's: another summation order would change the last bits of the weights
save_to_json = TrainerState.save_to_json


def save_and_maybe_die(self, path):
    dying = self.global_step == step and "checkpoint-" in path
    if dying and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    save_to_json(self, path)
    if dying and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)


TrainerState.save_to_json = save_and_maybe_die
translation.main(sys.argv[4:])
"""
KILLED_RUN = [
    *TINY,
    "--dropout",
    "0.1",
    "--max_steps",
    "6",
    "--save_steps",
    "2",
    "--average_checkpoints",
    "2",
    "--max_eval_samples",
    "2",
    "--per_device_train_batch_size",
    "8",
]


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    translation.main([*KILLED_RUN, "--output_dir", str(output_dir)])
    return output_dir


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_run_killed_while_saving_resumes_to_the_weights_of_an_uninterrupted_run(uninterrupted_run, tmp_path, when):
    """SIGKILL while the checkpoint of step 4 is being saved (before its trainer state: an incomplete checkpoint; or
    just after: a complete one), then `--resume_from_checkpoint latest`: it resumes from the newest complete checkpoint
    and ends with the weights of the uninterrupted run, bit for bit."""
    output_dir = tmp_path / "killed"
    killed = subprocess.run(
        [
            *(sys.executable, "-c", KILL_WHILE_SAVING, "4", when, str(torch.get_num_threads())),
            *(*KILLED_RUN, "--output_dir", str(output_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (output_dir / "checkpoint-4" / "model.safetensors").is_file()
    assert (output_dir / "checkpoint-4" / "trainer_state.json").is_file() == (when == "after")
    assert not (output_dir / "model").exists()

    resumed = translation.main([*KILLED_RUN, "--output_dir", str(output_dir), "--resume_from_checkpoint", "latest"])
    assert resumed["averaged_checkpoints"] == ["checkpoint-4", "checkpoint-6"]
    for folder in ("checkpoint-4", "checkpoint-6", "model"):
        expected = load_file(uninterrupted_run / folder / "model.safetensors")
        weights = load_file(output_dir / folder / "model.safetensors")
        assert weights.keys() == expected.keys()
        assert all(torch.equal(weights[name], expected[name]) for name in expected), folder
    assert _losses(output_dir) == _losses(uninterrupted_run)


def _losses(run_dir):
    state = json.loads((run_dir / "trainer_state.json").read_text())
    return {entry["step"]: entry["loss"] for entry in state["log_history"] if "loss" in entry}


# --- accelerate ----------------------------------------------------------------------------------------------------------


def _without_key_biases(state_dict):
    """The weights, with the key part of each attention input bias zeroed. Those biases get no true gradient (they
    shift every attention logit of a query equally, and softmax ignores that), so what they receive is rounding noise,
    which Adam (eps 1e-9) turns into full-size steps that differ between any two summation orders. They change no
    output, which the comparison of logits checks."""
    comparable = {}
    for name, tensor in state_dict.items():
        tensor = tensor.clone()
        if name.endswith("qkv_proj.bias"):
            tensor[D_MODEL : 2 * D_MODEL] = 0
        elif name.endswith("kv_proj.bias"):
            tensor[:D_MODEL] = 0
        comparable[name] = tensor
    return comparable


def test_two_process_accelerate_launch_agrees_with_one_process(tmp_path):
    """`accelerate launch` with the shipped 2-process CPU config and 4 examples per process, against one process
    with 8: the same data order, the same losses, the same model."""
    tokenizer = vt.train_tokenizer(
        synthetic_data.synthetic_translation_dataset({"train": 256})["train"],
        text_column=["en", "syn"],
        vocab_size=300,
        show_progress=False,
    )
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    common = [
        *TINY,
        "--tokenizer_name",
        str(tmp_path / "tokenizer"),
        "--dropout",
        "0",
        "--max_steps",
        "6",
        "--save_steps",
        "6",
        "--max_eval_samples",
        "4",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread per process: the two share the machine's cores
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO / "examples" / "accelerate_configs" / "cpu_2proc.yaml"),
            "--main_process_port",
            str(free_port()),
            str(REPO / "examples" / "translation.py"),
            *common,
            "--per_device_train_batch_size",
            "4",
            "--output_dir",
            str(tmp_path / "two"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    translation.main([*common, "--per_device_train_batch_size", "8", "--output_dir", str(tmp_path / "one")])

    two, one = _state(tmp_path / "two"), _state(tmp_path / "one")
    assert two["epoch"] == one["epoch"] == pytest.approx(6 * 8 / 256)  # both saw 8 examples a step
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), rel=1e-5)
    assert _losses(tmp_path / "two")[6] < _losses(tmp_path / "two")[1]  # it trains

    a = load_file(tmp_path / "one" / "checkpoint-6" / "model.safetensors")
    b = load_file(tmp_path / "two" / "checkpoint-6" / "model.safetensors")
    a_, b_ = _without_key_biases(a), _without_key_biases(b)
    for name in a:
        torch.testing.assert_close(b_[name], a_[name], rtol=1e-4, atol=1e-5, msg=name)
    models = [AutoModelForSeq2SeqLM.from_pretrained(tmp_path / run / "model").eval() for run in ("one", "two")]
    batch = tokenizer(
        ["the dog sees a cat .", "anna will not sing ."],
        text_target=["hundo ta kato un ko vidu .", "anna ne kantro ."],
        padding=True,
        return_tensors="pt",
    )
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    with torch.no_grad():
        logits = [model(**batch).logits for model in models]
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-4)


def _state(run_dir):
    return json.loads((run_dir / "trainer_state.json").read_text())


def test_example_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "vanilla_transformer.examples.translation", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "--preset" in result.stdout
        and "--evaluate_only" in result.stdout
        and "--resume_from_checkpoint" in result.stdout
    )
