"""Multi30k English -> German with the translation example (`examples/translation.py --preset multi30k`): train on
`train.lc.norm.tok.{en,de}`, validate on `val.lc.norm.tok.{en,de}`, and report tokenised BLEU and the wall time.

    python benchmarks/multi30k_bleu.py --data_dir /path/to/multi30k            # or:
    VANILLA_TRANSFORMER_DATA=/path/to/data python benchmarks/multi30k_bleu.py

The data directory holds the eight Multi30k task-1 files, or a `multi30k/` folder that does. Any other option is passed
to the example (`--num_train_epochs 20`, `--max_train_minutes 50`, `--output_dir ...`, `--resume_from_checkpoint latest`).

Scoring: sacreBLEU with `tokenize="none"` on the lowercased, Moses-tokenised text, subwords joined back into words:
the tokenised BLEU the published figures use (fairseq `generate.py --remove-bpe`, multi-bleu style). When the raw
files `val.de` is there too, the translations are also detokenised (sacremoses, `pip install sacremoses`) and scored
with sacreBLEU's default 13a tokenisation against the raw reference, case-insensitively (the model writes lowercase,
as its training text is): the detokenised BLEU most papers report today, short of the casing.

Runs on different machines or days compare through two more figures printed with the result: this machine's fp32
matrix-multiply rate, measured at the start (a few seconds), and the BLEU of the model after a fixed number of
training tokens (`--bleu_at_tokens`, 5M source tokens by default: about 11 epochs), which does not depend on how fast
the machine trains. The learning curves (losses against steps and minutes) are saved as `model/learning_curves.png`.
The anchor is a fairseq Transformer of the same size (4 + 4 layers, d_model 128, FFN 256, 4 heads, shared embeddings,
joint BPE, beam 5, the last 10 checkpoints averaged): 41.0 BLEU on test2016 (Wu et al., 2021). Test sets are not used
here: this scores the validation set. Target: the anchor's BLEU within 60 minutes on a 2-core CPU.

The preset (see `PRESETS["multi30k"]` in the example): joint BPE of 10,000 tokens, d_model 128, 4 + 4 layers, FFN 256,
4 heads, no biases in the blocks, dropout 0.3, label smoothing 0.1, Adam (0.9, 0.98, 1e-9) with the paper's schedule
(warmup 1000 steps, peak = d_model^-0.5 * 1000^-0.5 * lr_scale), batches of up to 2,048 tokens of sentence pairs of
similar length (`--max_tokens_per_batch`), training stopped after 57 minutes with the learning rate cooled down
linearly to zero over the last 30% of them (`--cooldown_fraction 0.3`), one checkpoint per epoch, the last 5
averaged, beam 5 with length penalty 1.2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from machine import print_machine_speed

from vanilla_transformer.examples import translation
from vanilla_transformer.examples.allocator import keep_freed_memory
from vanilla_transformer.examples.metrics import load_metric


FILES = {
    "train": ("train.lc.norm.tok.en", "train.lc.norm.tok.de"),
    "validation": ("val.lc.norm.tok.en", "val.lc.norm.tok.de"),
}
RAW_VALIDATION = ("val.en", "val.de")  # raw, cased, untokenised: for detokenised BLEU
ANCHOR_BLEU = 41.0  # fairseq transformer_tiny, test2016, tokenised BLEU (Wu et al., ACL 2021)
TARGET_MINUTES = 60


def find_data(data_dir: str) -> Path:
    root = Path(data_dir).expanduser()
    for directory in (root, root / "multi30k"):
        if all((directory / name).is_file() for pair in FILES.values() for name in pair):
            return directory
    names = ", ".join(name for pair in FILES.values() for name in pair)
    raise SystemExit(f"error: {root} (or {root / 'multi30k'}) does not hold the Multi30k files {names}.")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    parser.add_argument(
        "--data_dir",
        default=os.environ.get("VANILLA_TRANSFORMER_DATA"),
        help="folder with the Multi30k files (default: $VANILLA_TRANSFORMER_DATA)",
    )
    parser.add_argument("--output_dir", default="runs/multi30k", help="default: %(default)s")
    args, example_args = parser.parse_known_args(argv)
    if not args.data_dir:
        parser.error("give --data_dir (or set VANILLA_TRANSFORMER_DATA): the folder with the Multi30k files.")
    data = find_data(args.data_dir)
    argv = [
        "--preset",
        "multi30k",
        "--train_file",
        *(str(data / name) for name in FILES["train"]),
        "--validation_file",
        *(str(data / name) for name in FILES["validation"]),
        "--output_dir",
        args.output_dir,
        *example_args,
    ]
    print_machine_speed()
    start = time.perf_counter()
    results = translation.main(argv)
    minutes = (time.perf_counter() - start) / 60
    if "bleu" in results:
        results["detokenized_bleu"] = detokenized_bleu(results["hypotheses"], data)
        at_tokens = results.get("bleu_at_tokens")
        print(
            f"\nMulti30k en-de, validation (val.lc.norm.tok), tokenised BLEU (sacreBLEU tokenize=none): {results['bleu']:.2f}"
            f"   [anchor: {ANCHOR_BLEU} on test2016, fairseq 4+4 d128]\n"
            + (
                f"Detokenised BLEU (sacreBLEU 13a, case-insensitive, against the raw val.de): {results['detokenized_bleu']:.2f}\n"
                if results["detokenized_bleu"] is not None
                else ""
            )
            + (
                f"BLEU after {at_tokens['tokens'] / 1e6:g}M training source tokens (one snapshot, no averaging): "
                f"{at_tokens['bleu']:.2f}\n"
                if at_tokens
                else ""
            )
            + f"Wall time: {minutes:.1f} min end to end (target {TARGET_MINUTES}); training {results['train_runtime_s'] / 60:.1f} "
            f"min, {results['train_steps']} steps, {results.get('train_target_tokens_per_s', 0):,} target tokens/s "
            f"({results.get('train_tokens_per_s', 0):,} source + target); "
            f"beam search over the validation set {results['translate_time_s'] / 60:.1f} min.\n"
            f"Learning curves: {Path(results['model_dir']) / 'learning_curves.png'}"
        )
    results["benchmark_wall_minutes"] = round(minutes, 1)
    return results


def detokenized_bleu(hypotheses: list[str], data: Path) -> float | None:
    """sacreBLEU (13a, case-insensitive) of the detokenised `hypotheses` against the raw `val.de`; None without that
    file or sacremoses."""
    reference_file = data / RAW_VALIDATION[1]
    try:
        from sacremoses import MosesDetokenizer
    except ImportError:
        print("(no detokenised BLEU: pip install sacremoses)")
        return None
    if not reference_file.is_file():
        return None
    references = reference_file.read_text(encoding="utf-8").splitlines()[: len(hypotheses)]  # --max_eval_samples
    detokenizer = MosesDetokenizer(lang="de")
    detokenized = [detokenizer.detokenize(hypothesis.split(), unescape=True) for hypothesis in hypotheses]
    score = load_metric("sacrebleu").compute(predictions=detokenized, references=references, lowercase=True)
    return round(score["score"], 2)


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps (examples/allocator.py)
    main(sys.argv[1:])
