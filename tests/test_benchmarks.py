"""`benchmarks/speed.py --quick` runs end to end and prints every ratio it measures, and its summary table. Timings
of tiny models on a shared machine mean nothing: none is checked."""

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
