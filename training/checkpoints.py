"""Checkpoint averaging (section 6.1 of the paper: the base models average the last 5 checkpoints, the big ones 20).

`average_checkpoints` reads the `checkpoint-<step>` folders `Trainer` writes, averages their weights and writes one
model folder that `from_pretrained` loads. Also a command:

    vanilla-transformer-average-checkpoints runs/translation --last 5 -o runs/translation/averaged

(or `python -m vanilla_transformer.training.checkpoints ...`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from ..atomic import atomic_directory
from ..modeling.pretrained import write_checksums


# What `Trainer` saves besides the model: training state, never part of a model folder.
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin")
_TRAINING_STATE_PATTERN = re.compile(r"^rng_state(_\d+)?\.pth$")
_CHECKPOINT_PATTERN = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def find_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-<step>` folders `Trainer` wrote in `run_dir`, oldest (smallest step) first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist.")
    found = []
    for path in run_dir.iterdir():
        match = _CHECKPOINT_PATTERN.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def average_checkpoints(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    last: int | None = None,
) -> Path:
    r"""
    Average the weights of several checkpoints of one run into a model folder, and return its path.

    Args:
        checkpoints: a run directory (its `checkpoint-<step>` folders are used, by step) or a list of checkpoint
            (or model) folders, oldest first. Each holds `model.safetensors` (or a sharded `model.safetensors.index.json`)
            with the same tensors.
        output_dir: the model folder to write. It is written into a temporary folder beside it, then renamed into
            place (replacing an older one), so a crash never leaves a half-written model.
        last (`int`, *optional*): average only the last `last` checkpoints (the paper: 5, or 20 for the big models).
            Default: all of them. Fewer than `last` available averages those there are.

    Floating-point tensors are averaged (accumulated in float64, stored in their own dtype, so averaging copies of one
    checkpoint gives it back bit for bit); other tensors are taken from the last checkpoint. The tensors keep their
    names, so tied weights (saved once) stay tied on load. Everything else in the last checkpoint that belongs to a
    model folder is copied: `config.json`, `generation_config.json`, the tokenizer files; the training state
    (`optimizer.pt`, `scheduler.pt`, `rng_state.pth`, `trainer_state.json`, `training_args.bin`) is left out.

    A checkpoint without safetensors weights (e.g. sharded by FSDP's `SHARDED_STATE_DICT`, or a DeepSpeed ZeRO-3
    run without `stage3_gather_16bit_weights_on_model_save`) raises `ValueError`: save full state dicts to average.
    """
    paths = _checkpoint_list(checkpoints)
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, int) or last < 1:
            raise ValueError(f"last must be a positive integer, got {last!r}.")
        paths = paths[-last:]
    weight_files = _weight_files(paths[-1])
    for path in paths[:-1]:
        if _weight_files(path) != weight_files:
            raise ValueError(
                f"{path} and {paths[-1]} hold differently sharded weights ({_weight_files(path)} vs {weight_files}); "
                "average checkpoints of one run."
            )
    with atomic_directory(output_dir) as staging:
        for name in weight_files:
            tensors, metadata = _average_file([path / name for path in paths])
            save_file(tensors, staging / name, metadata=metadata)
        for item in paths[-1].iterdir():
            if item.is_file() and item.name not in weight_files and not _is_training_state(item.name):
                shutil.copy2(item, staging / item.name)
        write_checksums(staging)  # of the averaged weights, not the copied ones of the last checkpoint
    return Path(output_dir)


def _checkpoint_list(checkpoints) -> list[Path]:
    if isinstance(checkpoints, (str, os.PathLike)):
        run_dir = Path(checkpoints)
        paths = find_checkpoints(run_dir)
        if not paths:
            raise ValueError(
                f"no {PREFIX_CHECKPOINT_DIR}-<step> folders in {str(run_dir)!r}; pass a run's output_dir, or a list of "
                "checkpoint folders."
            )
        return paths
    paths = [Path(path) for path in checkpoints]
    if not paths:
        raise ValueError("checkpoints is empty: give a run directory or at least one checkpoint folder.")
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint folder {str(path)!r} does not exist.")
    return paths


def _weight_files(checkpoint: Path) -> list[str]:
    index = checkpoint / SAFE_WEIGHTS_INDEX_NAME
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [*shards, SAFE_WEIGHTS_INDEX_NAME]
    if (checkpoint / SAFE_WEIGHTS_NAME).is_file():
        return [SAFE_WEIGHTS_NAME]
    raise ValueError(
        f"{checkpoint} has no {SAFE_WEIGHTS_NAME} (nor {SAFE_WEIGHTS_INDEX_NAME}). Checkpoint averaging reads full "
        "safetensors weights: with FSDP save with fsdp_state_dict_type FULL_STATE_DICT; with DeepSpeed ZeRO-3 set "
        "stage3_gather_16bit_weights_on_model_save."
    )


def _average_file(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    if files[-1].name == SAFE_WEIGHTS_INDEX_NAME:  # the index is copied as it is, below
        return {}, None
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(safe_open(file, framework="pt")) for file in files]
        names = list(handles[-1].keys())
        for file, handle in zip(files, handles):
            if set(handle.keys()) != set(names):
                missing = sorted(set(names) - set(handle.keys()))
                extra = sorted(set(handle.keys()) - set(names))
                raise ValueError(
                    f"{file} does not hold the same tensors as {files[-1]} (missing {missing[:5]}, extra {extra[:5]}); "
                    "average checkpoints of one model."
                )
        averaged = {}
        for name in names:
            last = handles[-1].get_tensor(name)
            if not last.is_floating_point():
                averaged[name] = last
                continue
            total = torch.zeros(last.shape, dtype=torch.float64)
            for file, handle in zip(files, handles):
                tensor = handle.get_tensor(name)
                if tensor.shape != last.shape:
                    raise ValueError(
                        f"tensor {name!r} has shape {tuple(tensor.shape)} in {file} but "
                        f"{tuple(last.shape)} in {files[-1]}."
                    )
                total += tensor.to(torch.float64)
            averaged[name] = (total / len(files)).to(last.dtype)
        return averaged, handles[-1].metadata()


def _is_training_state(name: str) -> bool:
    return name in TRAINING_STATE_FILES or bool(_TRAINING_STATE_PATTERN.match(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vanilla-transformer-average-checkpoints",
        description="Average the last checkpoints of a Trainer run into one model folder that from_pretrained loads.",
    )
    parser.add_argument("checkpoints", nargs="+", help="a run's output_dir, or checkpoint folders (oldest first)")
    parser.add_argument("-o", "--output-dir", required=True, help="the model folder to write (replaced atomically)")
    parser.add_argument("--last", type=int, default=None, help="average only the last N checkpoints (default: all)")
    args = parser.parse_args(argv)
    # One folder holding checkpoint-<step> folders is a run directory; anything else is a list of checkpoints.
    source = (
        args.checkpoints[0]
        if len(args.checkpoints) == 1 and _has_checkpoints(args.checkpoints[0])
        else args.checkpoints
    )
    try:
        paths = _checkpoint_list(source)
        used = paths[-args.last :] if args.last else paths
        output = average_checkpoints(source, args.output_dir, last=args.last)
    except (ValueError, OSError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"Averaged {len(used)} checkpoints ({', '.join(p.name for p in used)}) into {output}.", file=sys.stderr)
    return 0


def _has_checkpoints(path: str) -> bool:
    return Path(path).is_dir() and bool(find_checkpoints(path))


__all__ = ["average_checkpoints", "find_checkpoints"]


if __name__ == "__main__":
    sys.exit(main())
