"""The `checkpoint-<step>` folders `Trainer` writes: which are complete, and their average (section 6.1 of the paper:
the base models average the last 5 checkpoints, the big ones 20).

A run killed while saving leaves a partial checkpoint behind (weights without `trainer_state.json`, or a truncated
file); `checkpoint_problem` says what is wrong with one, and resuming and averaging a run directory skip such folders.
`average_checkpoints` averages the weights of the last checkpoints into one model folder that `from_pretrained` loads.
Also a command:

    vanilla-transformer-average-checkpoints runs/translation --last 5 -o runs/translation/averaged

(or `python -m vanilla_transformer.training.checkpoints ...`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from ..atomic import atomic_directory
from ..auto import AUTO_CLASSES
from ..modeling.pretrained import CHECKSUMS_FILE, file_sha256, write_checksums


logger = logging.getLogger(__name__)


# What `Trainer` saves besides the model: training state, never part of a model folder.
TRAINER_STATE_FILE = "trainer_state.json"  # written last: a checkpoint without it was interrupted while saving
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", TRAINER_STATE_FILE, "training_args.bin")
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


def checkpoint_problem(checkpoint: str | os.PathLike) -> str | None:
    """Why the `Trainer` checkpoint `checkpoint` can be neither resumed from nor averaged, or `None` if it is complete.

    `Trainer` writes the weights, the optimizer, scheduler and random states, then `trainer_state.json`, so a
    checkpoint is complete once that file holds valid JSON and the weights are readable (matching `checksums.sha256`
    where the folder has one). A run killed while saving leaves a checkpoint that fails one of these."""
    state = Path(checkpoint) / TRAINER_STATE_FILE
    if not state.is_file():
        return f"no {TRAINER_STATE_FILE} (the run stopped while saving it)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return f"{TRAINER_STATE_FILE} is truncated (the run stopped while saving it)"
    return weights_problem(checkpoint)


def weights_problem(folder: str | os.PathLike) -> str | None:
    """Why the safetensors weights of a model folder or checkpoint cannot be read, or `None` if they can: missing,
    truncated, or different from the SHA-256 recorded in `checksums.sha256` when they were saved."""
    folder = Path(folder)
    try:
        names = _weight_files(folder)
    except (ValueError, OSError) as error:
        return str(error)
    recorded = _recorded_checksums(folder)
    for name in names:
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if name in recorded:
            if file_sha256(path) != recorded[name]:
                return f"{path} does not match its SHA-256 in {folder / CHECKSUMS_FILE}: it is truncated or corrupt"
        elif name.endswith(".safetensors"):
            try:
                with safe_open(path, framework="pt"):
                    pass
            except (SafetensorError, OSError) as error:
                return f"{path} cannot be read ({error}): it is truncated or corrupt"
    return None


def average_checkpoints(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    last: int | None = None,
    model_card: dict | None = None,
) -> Path:
    r"""
    Average the weights of several checkpoints of one run into a model folder, and return its path.

    Args:
        checkpoints: a run directory (its complete `checkpoint-<step>` folders are used, by step; incomplete ones, left
            by a run killed while saving, are skipped with a warning) or a list of checkpoint (or model) folders, oldest
            first. Each holds `model.safetensors` (or a sharded `model.safetensors.index.json`) with the same tensors.
        output_dir: the model folder to write. It is written into a temporary folder beside it, then renamed into
            place (replacing an older one), so a crash never leaves a half-written model. It may be neither one of the
            checkpoints nor a folder holding one: replacing it would destroy them.
        last (`int`, *optional*): average only the last `last` checkpoints (the paper: 5, or 20 for the big models).
            Default: all of them. Fewer than `last` available averages those there are.
        model_card (`dict`, *optional*): fields of the model card of the output folder (see
            `vanilla_transformer.hub.CARD_FIELDS`); `model_id` defaults to the folder's name.

    Floating-point tensors are averaged (accumulated in float64, stored in their own dtype, so averaging copies of one
    checkpoint gives it back bit for bit); other tensors are taken from the last checkpoint. The tensors keep their
    names, so tied weights (saved once) stay tied on load. Everything else in the last checkpoint that belongs to a
    model folder is copied: `config.json`, `generation_config.json`, the tokenizer files; the training state
    (`optimizer.pt`, `scheduler.pt`, `rng_state.pth`, `trainer_state.json`, `training_args.bin`) is left out. A model
    of this package is then saved once more by `save_pretrained` (the same tensors), so that the folder holds what every
    saved model folder holds: the model code for `trust_remote_code`, checksums, and a model card of its own.

    Nothing is written when a checkpoint cannot be averaged: missing, truncated or corrupt weights raise `OSError`
    naming the file, NaN or infinite weights `ValueError` naming the tensor and the file. A checkpoint without
    safetensors weights (e.g. sharded by FSDP's `SHARDED_STATE_DICT`, or a DeepSpeed ZeRO-3 run without
    `stage3_gather_16bit_weights_on_model_save`) raises `ValueError`: save full state dicts to average.
    """
    paths = _checkpoints_to_average(checkpoints, last)
    _check_output_dir(output_dir, paths)
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
        _save_as_model_folder(staging, {"model_id": Path(output_dir).name, **(model_card or {})})
    return Path(output_dir)


def _checkpoints_to_average(checkpoints, last: int | None) -> list[Path]:
    """The folders to average, oldest first, each with readable weights."""
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise ValueError(f"last must be a positive integer, got {last!r}.")
    if isinstance(checkpoints, (str, os.PathLike)):
        run_dir = Path(checkpoints)
        found = find_checkpoints(run_dir)
        if not found:
            raise ValueError(
                f"no {PREFIX_CHECKPOINT_DIR}-<step> folders in {str(run_dir)!r}; pass a run's output_dir, or a list of "
                "checkpoint folders."
            )
        paths = []
        for path in found:
            problem = checkpoint_problem(path)
            if problem is None:
                paths.append(path)
            else:
                logger.warning("Not averaging %s, an incomplete checkpoint: %s.", path, problem)
        if not paths:
            raise ValueError(f"no complete {PREFIX_CHECKPOINT_DIR}-<step> folder in {str(run_dir)!r} to average.")
        return paths[-last:] if last else paths
    paths = [Path(path) for path in checkpoints]
    if not paths:
        raise ValueError("checkpoints is empty: give a run directory or at least one checkpoint folder.")
    paths = paths[-last:] if last else paths
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint folder {str(path)!r} does not exist.")
        problem = weights_problem(path)
        if problem is not None:
            raise OSError(f"cannot average {path}: {problem}.")
    return paths


def _check_output_dir(output_dir, paths: list[Path]) -> None:
    """Refuse an output folder whose replacement would destroy a checkpoint being averaged."""
    output = Path(output_dir).resolve()
    for path in paths:
        checkpoint = path.resolve()
        if output == checkpoint or output in checkpoint.parents:
            what = "is the checkpoint" if output == checkpoint else "holds the checkpoint"
            raise ValueError(
                f"output_dir {str(output_dir)!r} {what} {str(path)!r}, which writing the average there would replace; "
                f"write it to a new folder, e.g. {str(path.parent / 'averaged')!r}."
            )


def _save_as_model_folder(folder: Path, card: dict) -> None:
    """Save a model of this package once more, in place, with `save_pretrained`: the model code, the checksums and a
    model card for this folder. The files of other libraries' models stay those of the last checkpoint."""
    config = folder / "config.json"
    architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") if config.is_file() else None
    classes = {cls.__name__: cls for models in AUTO_CLASSES.values() for cls in models.values()}  # the package's
    model_class = classes.get((architectures or [None])[0])
    if model_class is None:
        return
    model_class.from_pretrained(folder).save_pretrained(folder, model_card=card)


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


def _recorded_checksums(folder: Path) -> dict[str, str]:
    """{file name: SHA-256} from the folder's `checksums.sha256`, if it has one."""
    listing = folder / CHECKSUMS_FILE
    if not listing.is_file():
        return {}
    recorded = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            recorded[name] = digest
    return recorded


def _average_file(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    if files[-1].name == SAFE_WEIGHTS_INDEX_NAME:  # the index is copied as it is, below
        return {}, None
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(_open_weights(file)) for file in files]
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
            last = _read_tensor(handles[-1], name, files[-1])
            if not last.is_floating_point():
                averaged[name] = last
                continue
            total = torch.zeros(last.shape, dtype=torch.float64)
            for file, handle in zip(files, handles):
                tensor = _read_tensor(handle, name, file)
                if tensor.shape != last.shape:
                    raise ValueError(
                        f"tensor {name!r} has shape {tuple(tensor.shape)} in {file} but "
                        f"{tuple(last.shape)} in {files[-1]}."
                    )
                if not torch.isfinite(tensor).all():
                    raise ValueError(
                        f"tensor {name!r} in {file} holds NaN or infinite values (did the run diverge before this "
                        "checkpoint?); average checkpoints from before that."
                    )
                total += tensor.to(torch.float64)
            averaged[name] = (total / len(files)).to(last.dtype)
        return averaged, handles[-1].metadata()


@contextlib.contextmanager
def _open_weights(file: Path):
    try:
        handle = safe_open(file, framework="pt")
    except (SafetensorError, OSError) as error:
        raise OSError(f"cannot read {file} ({error}): it is truncated or corrupt.") from error
    with handle:
        yield handle


def _read_tensor(handle, name: str, file: Path) -> torch.Tensor:
    try:
        return handle.get_tensor(name)
    except SafetensorError as error:
        raise OSError(f"cannot read tensor {name!r} of {file} ({error}): the file is corrupt.") from error


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
        used = _checkpoints_to_average(source, args.last)
        output = average_checkpoints(used, args.output_dir)
    except (ValueError, OSError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"Averaged {len(used)} checkpoints ({', '.join(p.name for p in used)}) into {output}.", file=sys.stderr)
    return 0


def _has_checkpoints(path: str) -> bool:
    return Path(path).is_dir() and bool(find_checkpoints(path))


__all__ = ["average_checkpoints", "checkpoint_problem", "find_checkpoints", "weights_problem"]


if __name__ == "__main__":
    sys.exit(main())
