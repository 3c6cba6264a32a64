"""SST-2 (sentence-level binary sentiment): the classification example on real data, with and without masked-LM
pretraining on the training sentences, validation accuracy and wall time of each.

    python benchmarks/sst2.py --data /path/to/data            # or VANILLA_TRANSFORMER_DATA=...

The data directory holds `sst2/train.tsv` and `sst2/validation.tsv` (`label<TAB>sentence`, no header), or is that
folder. Each run is `examples/classification.py --preset sst2` in a fresh process (see its PRESETS entry for the
model and the schedule): once fine-tuning a new encoder, once fine-tuning an encoder first pretrained as a masked LM
for `--mlm_pretrain_steps` steps on the same 6,920 training sentences (no other text). `--seeds 0 1 2` repeats both
with other seeds (initialisation, data order, masks): with 872 validation sentences one standard error of an accuracy
is about 1.5 points, so one seed cannot tell a small difference apart. Options after `--` go to the example.

Target: 82% validation accuracy from the 6,920 training sentences alone (no outside text, no pretrained weights).
Each run trains a fixed number of epochs, so its figure comes after a fixed number of training tokens, which it
prints; the benchmark prints this machine's fp32 matmul rate first, so that runs on different days compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import print_machine_speed

from vanilla_transformer.examples.allocator import keep_freed_memory


EXAMPLE = "vanilla_transformer.examples.classification"
TARGET_ACCURACY = 0.82


def find_data(data: str) -> Path:
    root = Path(data).expanduser()
    for directory in (root, root / "sst2"):
        if (directory / "train.tsv").is_file() and (directory / "validation.tsv").is_file():
            return directory
    raise SystemExit(f"error: no train.tsv and validation.tsv in {root} or {root / 'sst2'}.")


def run(data: Path, output_dir: Path, mlm_steps: int, seed: int, extra: list[str]) -> dict:
    command = [
        sys.executable,
        "-m",
        EXAMPLE,
        "--preset",
        "sst2",
        "--train_file",
        str(data / "train.tsv"),
        "--validation_file",
        str(data / "validation.tsv"),
        "--output_dir",
        str(output_dir),
        "--mlm_pretrain_steps",
        str(mlm_steps),
        "--seed",
        str(seed),
        "--disable_tqdm",
        "true",
        *extra,
    ]
    print("$", " ".join(command), flush=True)
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    results = json.loads((output_dir / "classification_results.json").read_text())
    results["process_seconds"] = time.time() - started
    print(f"  validation accuracy {results['eval_accuracy']:.4f} in {results['process_seconds']:.0f} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("VANILLA_TRANSFORMER_DATA"),
        help="folder holding sst2/{train,validation}.tsv (default: $VANILLA_TRANSFORMER_DATA)",
    )
    parser.add_argument("--output_dir", default="runs/benchmarks/sst2", help="where the runs write")
    parser.add_argument("--mlm_pretrain_steps", type=int, default=3000, help="masked-LM steps of the pretrained runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to run each variant with")
    parser.add_argument("example_args", nargs="*", help="options for the example, after --")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data (or set VANILLA_TRANSFORMER_DATA): the folder holding sst2/{train,validation}.tsv.")
    data = find_data(args.data)
    print_machine_speed()

    variants = {
        "fine-tuned from scratch": 0,
        f"masked-LM pretrained ({args.mlm_pretrain_steps} steps), then fine-tuned": args.mlm_pretrain_steps,
    }
    scores = {}
    for name, steps in variants.items():
        scores[name] = [
            run(data, Path(args.output_dir) / f"mlm{steps}-seed{seed}", steps, seed, args.example_args)
            for seed in args.seeds
        ]
    lines = ["", f"SST-2 validation accuracy (872 sentences), seeds {args.seeds}; target {TARGET_ACCURACY:.0%}:"]
    for name, results in scores.items():
        accuracies = [r["eval_accuracy"] for r in results]
        spread = f" +- {statistics.stdev(accuracies):.4f} (std over seeds)" if len(accuracies) > 1 else ""
        seconds = statistics.mean(r["process_seconds"] for r in results)
        lines.append(
            f"  {name}: {statistics.mean(accuracies):.4f}{spread}  [{', '.join(f'{a:.4f}' for a in accuracies)}]; "
            f"{seconds:.0f} s per run, {results[0]['train_tokens'] / 1e6:.2f}M fine-tuning tokens"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps (examples/allocator.py)
    sys.exit(main())
