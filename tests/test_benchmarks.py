"""`benchmarks/speed.py --quick` runs end to end and prints every ratio it measures, and its summary table. Timings
of tiny models on a shared machine mean nothing: none is checked."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest


SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"

# The ratio lines of --quick: training and decoding for every pair, FLOP/s of each side, memory (the encoder-decoder
# pair only, in --quick) and the allocator.
EXPECTED = [
    "training seq2seq vs Marian",
    "training decoder vs GPT-2",
    "training encoder vs BERT",
    "training FLOP/s, ours seq2seq",
    "training FLOP/s, peer Marian",
    "training FLOP/s, ours decoder",
    "training FLOP/s, peer GPT-2",
    "training FLOP/s, ours encoder",
    "training FLOP/s, peer BERT",
    "greedy seq2seq vs Marian",
    "beam seq2seq vs Marian",
    "greedy decoder vs GPT-2",
    "beam decoder vs GPT-2",
    "training memory seq2seq vs Marian",
    "generation memory seq2seq vs Marian",
    "allocator keep_freed_memory() vs glibc defaults",
]


@pytest.mark.slow  # about 35 s: besides the models, four fresh processes each import torch and transformers
def test_the_quick_speed_benchmark_prints_every_ratio():
    result = subprocess.run([sys.executable, str(SPEED), "--quick"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    ratio_lines = [line for line in lines if line.startswith("ratio  ")]
    table_rows = [line for line in lines if line.startswith("| ") and "tiny" in line]
    for name in EXPECTED:
        [line] = [line for line in ratio_lines if line.removeprefix("ratio  ").startswith(name + " ")]
        assert " tiny " in line and "(" in line, line  # the size, then the median (min-max)
        assert any(row.startswith(f"| {name} | tiny | ") for row in table_rows), name
    assert len(ratio_lines) == len(EXPECTED) == len(table_rows)
    parameter_counts = [
        line for line in lines if re.match(r"\s+(seq2seq|decoder|encoder)\s+tiny\s+ours\s+[\d,]+\s", line)
    ]
    assert len(parameter_counts) == 3  # one line per pair


def load_benchmark(name: str):
    """A benchmark script as a module (they import each other by file name, as when run from benchmarks/)."""
    folder = str(SPEED.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def test_multi30k_scores_detokenised_translations_against_the_raw_cased_reference(tmp_path):
    multi30k = load_benchmark("multi30k_bleu")
    (tmp_path / "val.de").write_text('Ein Mann mit einem "roten" Hut.\nZwei Hunde spielen im Schnee.\n')
    hypotheses = ["ein mann mit einem &quot; roten &quot; hut .", "zwei hunde spielen im schnee ."]  # as Moses writes
    assert multi30k.detokenized_bleu(hypotheses, tmp_path) == 100.0
    assert multi30k.detokenized_bleu(["ein mann .", "zwei hunde ."], tmp_path) < 20


def test_the_machines_matmul_rate_is_a_plausible_flop_rate():
    rate = load_benchmark("machine").machine_matmul_rate(seconds=0.05, n=256)
    assert 1e8 < rate < 1e14


SHAKESPEARE = Path(__file__).resolve().parents[1] / "benchmarks" / "shakespeare_char.py"


@pytest.mark.slow  # about 30 s: two runs of the example, each a fresh process that imports torch and transformers
def test_the_shakespeare_benchmark_runs_the_example_each_round_and_compares_the_mean_time(tmp_path):
    (tmp_path / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 300)
    example = ["--max_steps", "3", "--eval_steps", "2", "--save_steps", "2", "--logging_steps", "1"]
    result = subprocess.run(
        [sys.executable, str(SHAKESPEARE), "--data", str(tmp_path), "--output_dir", str(tmp_path / "runs")]
        + ["--reference", "none", "--rounds", "2", "--", *example],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "runs" / "example-1" / "model").is_dir() and (
        tmp_path / "runs" / "example-2" / "model"
    ).is_dir()
    times = re.search(
        r"(\d+\.\d) s from launch to the final validation loss \(mean of (\d+\.\d), (\d+\.\d)\)", result.stdout
    )
    assert times, result.stdout[-2000:]
    mean, first, second = map(float, times.groups())
    assert mean == pytest.approx((first + second) / 2, abs=0.051)
    assert "time not compared (--reference none)" in result.stdout


def test_the_shakespeare_benchmark_refuses_an_output_dir_for_the_example(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SHAKESPEARE), "--data", str(tmp_path), "--", "--output_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "give --output_dir before `--`" in result.stderr
