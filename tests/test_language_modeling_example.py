"""The causal language-modelling example, end to end on a tiny setting: it learns, its figures are what the saved
model computes, the saved folder reloads with the Auto classes, and a resumed run ends exactly where an
uninterrupted one does. (Multi-process runs under `accelerate launch` are exercised by the translation example's
test; this example uses the same shared steps.)"""

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import datasets
import evaluate
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

import vanilla_transformer as vt  # noqa: F401  (registers the models with the Auto classes)
from vanilla_transformer.examples import language_modeling as lm
from vanilla_transformer.examples import metrics

from tokenizer_helpers import EN, trained


FIXTURES = Path(__file__).parent / "fixtures"
STEPS, SAVE_EVERY, BLOCK = 40, 20, 32
TINY = [
    "--d_model",
    "32",
    "--num_heads",
    "2",
    "--d_ff",
    "64",
    "--num_layers",
    "2",
    "--dropout",
    "0.1",
    "--vocab_size",
    "300",
    "--block_size",
    str(BLOCK),
    "--synthetic_train_size",
    "400",
    "--per_device_train_batch_size",
    "8",
    "--per_device_eval_batch_size",
    "32",
    "--warmup_steps",
    "10",
    "--max_steps",
    str(STEPS),
    "--save_steps",
    str(SAVE_EVERY),
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "20",
    "--eval_on_start",
    "true",
    "--logging_steps",
    "10",
    "--average_checkpoints",
    "1",
    "--disable_tqdm",
    "true",
    "--report_to",
    "none",
    "--num_samples",
    "2",
    "--sample_max_new_tokens",
    "12",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One uninterrupted tiny run on the built-in data, with the metric modules it loaded."""
    output_dir = tmp_path_factory.mktemp("lm") / "run"
    loaded = []
    original = lm.load_metric

    def spy(name, **kwargs):
        loaded.append(original(name, **kwargs))
        return loaded[-1]

    lm.load_metric = spy
    try:
        results = lm.main([*TINY, "--output_dir", str(output_dir)])
    finally:
        lm.load_metric = original
    return SimpleNamespace(output_dir=output_dir, results=results, metrics=loaded)


def validation_blocks(tokenizer):
    """The validation blocks of the run, rebuilt here from the saved tokenizer."""
    _, data_args, _, args, _ = lm.parse_args([*TINY, "--output_dir", "unused"])
    raw = lm.load_text_data(data_args, args)
    return lm.tokenize_and_group(datasets.DatasetDict(validation=raw["validation"]), tokenizer, args, data_args)[
        "validation"
    ]


def test_the_model_learns_and_the_figures_are_the_saved_models(run):
    results, history = run.results, json.loads((run.output_dir / "trainer_state.json").read_text())["log_history"]
    initial = next(entry["eval_loss"] for entry in history if "eval_loss" in entry and entry["step"] == 0)
    assert results["global_step"] == STEPS
    assert results["eval_loss"] < initial - 1.0  # from about ln(300) = 5.7
    assert results["perplexity"] == pytest.approx(math.exp(results["eval_loss"]), rel=1e-12)

    model = AutoModelForCausalLM.from_pretrained(results["model_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(results["model_dir"])
    blocks = validation_blocks(tokenizer)
    assert len(blocks[-1]["input_ids"]) < BLOCK  # the last, shorter block is evaluated too: the whole split
    # The Trainer's figure, recomputed: the mean of per-batch token means, weighted by the sequences in each batch.
    losses, correct, predicted = [], 0, 0
    with torch.no_grad():
        for start in range(0, len(blocks), 32):
            rows = blocks[start : start + 32]["input_ids"]
            batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            output = model(**batch, labels=labels)
            losses += [output.loss.item()] * len(rows)
            hits = (output.logits[:, :-1].argmax(-1) == labels[:, 1:])[labels[:, 1:] != -100]
            correct, predicted = correct + hits.sum().item(), predicted + hits.numel()
    assert results["eval_loss"] == pytest.approx(sum(losses) / len(losses), abs=1e-5)
    assert results["eval_accuracy"] == pytest.approx(correct / predicted, abs=1e-12)
    # ... and the accuracy came from `evaluate`'s module (the Hub's), or offline from the examples' own.
    assert [type(metric).__name__ for metric in run.metrics] == ["Accuracy"]
    assert isinstance(run.metrics[0], (evaluate.EvaluationModule, metrics.Accuracy))


def test_the_saved_folder_reloads_with_the_auto_classes(run):
    model_dir = run.results["model_dir"]
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert isinstance(model, vt.TransformerForCausalLM)
    # The final model is the last checkpoint (one checkpoint averaged): the same weights, the same logits.
    last = AutoModelForCausalLM.from_pretrained(run.output_dir / f"checkpoint-{STEPS}").eval()
    inputs = tokenizer(["the dog sees a cat .", "tom sleeps ."], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, last(**inputs).logits)
    assert model.generation_config.do_sample and model.generation_config.top_k == 200
    # The samples printed at the end came from generate().
    assert len(run.results["samples"]) == 2 and all(isinstance(s["text"], str) for s in run.results["samples"])


def test_long_samples_are_generated_in_windows_of_the_context(run):
    model = AutoModelForCausalLM.from_pretrained(run.results["model_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(run.results["model_dir"])
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id]  # no early end: run through several windows
    args = lm.LanguageModelingArguments(
        block_size=BLOCK, add_special_tokens=False, sample_prompts=["the dog", "a"], sample_max_new_tokens=3 * BLOCK
    )
    samples = lm.sample_texts(model, tokenizer, args)
    lengths = [len(tokenizer(s["text"], add_special_tokens=False)["input_ids"]) for s in samples]
    assert all(length >= 2 * BLOCK for length in lengths)  # far past the context (re-tokenizing may merge a few)


def test_resuming_gives_the_result_of_an_uninterrupted_run(run, tmp_path):
    # An interrupted run: the checkpoint the uninterrupted one wrote halfway, in a folder of its own.
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(run.output_dir / f"checkpoint-{SAVE_EVERY}", resumed_dir / f"checkpoint-{SAVE_EVERY}")
    results = lm.main([*TINY, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "latest"])
    assert results["global_step"] == STEPS
    # Same data order, dropout masks, optimizer and schedule: bit-identical weights, hence the same figures.
    resumed = load_file(f"{results['model_dir']}/model.safetensors")
    uninterrupted = load_file(f"{run.results['model_dir']}/model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)
    assert results["eval_loss"] == run.results["eval_loss"]


def test_local_text_file_read_as_one_stream_with_the_last_characters_held_out(tmp_path):
    text = "".join(f"Line {i}: to be, or not to be.\n" if i % 7 else "\n" for i in range(200))
    path = tmp_path / "input.txt"
    path.write_text(text)
    _, data_args, _, args, _ = lm.parse_args(
        [
            "--train_file",
            str(path),
            "--keep_linebreaks",
            "true",
            "--add_special_tokens",
            "false",
            "--validation_split_percentage",
            "10",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    raw = lm.load_text_data(data_args, args)
    head, tail = "".join(raw["train"]["text"]), "".join(raw["validation"]["text"])
    assert head + tail == text  # line breaks (and empty lines) kept: the stream is the file itself
    assert len(head) == int(len(text) * 0.9)  # nanoGPT's data[:int(n * 0.9)]


def test_csv_json_lines_and_the_text_column(tmp_path):
    rows = [{"id": i, "body": f"text number {i} ."} for i in range(30)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    _, data_args, _, args, _ = lm.parse_args(
        [
            "--train_file",
            str(tmp_path / "train.jsonl"),
            "--text_column",
            "body",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    raw = lm.load_text_data(data_args, args)
    assert raw["train"].column_names == ["text"] and raw["train"][0]["text"] == "text number 0 ."
    assert len(raw["validation"]) >= 1  # 5% held out: the last texts
    with pytest.raises(ValueError, match="--text_column"):
        lm.load_text_data(data_args, SimpleNamespace(**{**vars(args), "text_column": "missing"}))


def test_group_texts():
    batch = {"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]}
    assert lm.group_texts(batch, 4) == {"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]]}
    assert lm.group_texts(batch, 4, keep_remainder=True) == {"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]}
    assert lm.group_texts({"input_ids": [[1, 2, 3, 4, 5]]}, 4, keep_remainder=True)["input_ids"] == [[1, 2, 3, 4]]


@pytest.mark.parametrize("add_special_tokens", [True, False])
@pytest.mark.parametrize("saved", ["now", "by 0.1.0"])
def test_each_text_is_tokenized_between_one_bos_and_one_eos(add_special_tokens, saved):
    # The decoder tokenizer adds only <s> now (prompts are continued); one saved by 0.1.0 adds </s> too. Either way
    # the model learns from <s> text </s>, and from the bare texts with --no_add_special_tokens.
    if saved == "now":
        tokenizer = trained("bpe", "decoder")
    else:
        tokenizer = AutoTokenizer.from_pretrained(FIXTURES / "decoder_tokenizers_ending_texts" / "bpe")
    argv = ["--block_size", "512", "--add_special_tokens", str(add_special_tokens), "--output_dir", "unused"]
    _, data_args, _, args, _ = lm.parse_args(argv)
    texts = EN[:3]
    raw = datasets.DatasetDict(validation=datasets.Dataset.from_dict({"text": texts}))
    (block,) = lm.tokenize_and_group(raw, tokenizer, args, data_args)["validation"]["input_ids"]
    wrap = ([tokenizer.bos_token_id], [tokenizer.eos_token_id]) if add_special_tokens else ([], [])
    expected = [wrap[0] + tokenizer(text, add_special_tokens=False)["input_ids"] + wrap[1] for text in texts]
    assert block == [token for ids in expected for token in ids]


def test_the_final_card_describes_the_run_its_perplexity_and_sampling(run):
    card = (run.output_dir / "model" / "README.md").read_text()
    for expected in (
        f"# {run.output_dir.name}\n",
        f'AutoModelForCausalLM.from_pretrained("{run.output_dir / "model"}")',
        "English side of the example's built-in synthetic corpus",
        f"blocks of {BLOCK} tokens",
        f"{STEPS} steps",
        f"| perplexity | {run.results['perplexity']:.4g} |",
        "sampling (top-k 200, temperature 0.8), as saved in generation_config.json",
    ):
        assert expected in card, expected


@pytest.mark.slow
def test_with_label_smoothing_the_reported_perplexity_is_the_unsmoothed_next_token_one(tmp_path):
    """Training minimises the smoothed loss; the validation loss reported is the model's mean next-token NLL (the
    Trainer's figure: per-batch token means, weighted by the rows of each batch), and perplexity its exponential."""
    results = lm.main([*TINY, "--label_smoothing_factor", "0.1", "--output_dir", str(tmp_path)])
    model = AutoModelForCausalLM.from_pretrained(results["model_dir"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(results["model_dir"])
    blocks = validation_blocks(tokenizer)
    losses = []
    with torch.no_grad():
        for start in range(0, len(blocks), 32):
            rows = blocks[start : start + 32]["input_ids"]
            batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            losses += [model(**batch, labels=labels).loss.item()] * len(rows)
    assert results["eval_loss"] == pytest.approx(sum(losses) / len(losses), abs=1e-5)
    assert results["perplexity"] == pytest.approx(math.exp(sum(losses) / len(losses)), rel=1e-4)
    assert any(sample["text"].strip() for sample in results["samples"])  # a copier would write nothing


def test_report_to_tensorboard_logs_the_run(tmp_path):
    pytest.importorskip("tensorboard")  # the `plots` extra
    lm.main(
        [
            *TINY,
            "--max_steps",
            "2",
            "--eval_strategy",
            "no",
            "--eval_on_start",
            "false",
            "--report_to",
            "tensorboard",
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert list((tmp_path / "runs").glob("*/events.out.tfevents.*"))


def test_the_results_count_the_training_tokens(run):
    """Every block is full, so the tokens trained on are steps x batch x block size (the benchmarks print it)."""
    assert run.results["train_tokens"] == STEPS * 8 * BLOCK
