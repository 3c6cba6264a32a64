"""Learning curves of a run: the training loss, the validation loss and the evaluation metrics (BLEU, accuracy) of the
Trainer's log history, against steps and against minutes of training, saved beside the final model as JSON and, when
matplotlib is installed (`pip install "vanilla-transformer[plots]"`), as a PNG.

The Trainer's log history records steps, not times: `TrainingClock` adds the minutes to each entry. The history is
saved with every checkpoint, so the minutes of a resumed run continue from those of the run it resumes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from transformers import TrainerCallback


logger = logging.getLogger(__name__)

MINUTES = "elapsed_minutes"  # the key TrainingClock adds to each entry of the log history
CURVES_JSON = "learning_curves.json"
CURVES_PNG = "learning_curves.png"
# The PNG's size: 5 x 3.5 inches per panel, at 100 dots per inch.
PANEL_INCHES, DPI = (5.0, 3.5), 100
# Logged with the evaluation metrics, but about speed, not learning.
_NOT_CURVES = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


class TrainingClock(TrainerCallback):
    """Add `elapsed_minutes` to every entry of the Trainer's log history: the wall time since training started,
    summed over the sessions of a resumed run."""

    def __init__(self):
        self.start, self.offset = None, 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.offset = minutes_trained(state.log_history)
        self.start = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.start is not None and state.log_history:  # the Trainer appended this entry just before
            state.log_history[-1][MINUTES] = round(self.offset + (time.monotonic() - self.start) / 60, 4)


def minutes_trained(log_history: list[dict]) -> float:
    """The minutes of training a log history records (0 for a new run): a resumed run's history comes from its
    checkpoint, so its clock continues from there."""
    return max((entry.get(MINUTES) or 0.0 for entry in log_history), default=0.0)


def learning_curves(log_history: list[dict]) -> dict[str, list[dict]]:
    """The curves of a log history: `{name: [{"step": ..., "elapsed_minutes": ..., "value": ...}, ...]}` for the
    training loss ("loss"), the validation loss ("eval_loss") and every other evaluation metric ("eval_bleu", ...),
    in the order they were logged. `elapsed_minutes` is None in entries `TrainingClock` did not time."""
    curves = {}
    for entry in log_history:
        for name, value in entry.items():
            if _is_curve(name) and isinstance(value, (int, float)) and not isinstance(value, bool):
                point = {"step": entry.get("step"), MINUTES: entry.get(MINUTES), "value": value}
                curves.setdefault(name, []).append(point)
    return curves


def save_learning_curves(log_history: list[dict], folder: str | os.PathLike, title: str | None = None) -> list[Path]:
    """Write `learning_curves.json` (the curves of `learning_curves`) and, with matplotlib, `learning_curves.png` into
    `folder`; return the paths written. The PNG has a row of two panels (against steps, against minutes) for the losses
    and one for the other metrics, if any: 1000 x 350 pixels a row."""
    folder = Path(folder)
    curves = learning_curves(log_history)
    written = [_write_atomically(folder / CURVES_JSON, (json.dumps(curves, indent=1) + "\n").encode())]
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.info("No %s: matplotlib is not installed (pip install 'vanilla-transformer[plots]').", CURVES_PNG)
        return written
    losses = {name: points for name, points in curves.items() if name.endswith("loss")}
    metrics = {name: points for name, points in curves.items() if name not in losses}
    rows = [(group, label) for group, label in ((losses, "loss"), (metrics, "metric")) if group]
    if not rows:
        return written
    figure = Figure(figsize=(2 * PANEL_INCHES[0], len(rows) * PANEL_INCHES[1]), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(rows), 2, squeeze=False)
    for (group, label), row in zip(rows, axes):
        for x, panel in zip(("step", MINUTES), row):
            for name, points in group.items():
                timed = [point for point in points if point[x] is not None]
                panel.plot([p[x] for p in timed], [p["value"] for p in timed], marker="." if len(timed) < 50 else None)
                panel.lines[-1].set_label(name)
            panel.set_xlabel("step" if x == "step" else "minutes of training")
            panel.set_ylabel(label)
            panel.grid(alpha=0.3)
            panel.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    png = folder / CURVES_PNG
    temporary = png.with_name(f".{png.name}.tmp")
    figure.savefig(temporary, format="png", dpi=DPI)
    os.replace(temporary, png)
    written.append(png)
    return written


def _is_curve(name: str) -> bool:
    return name == "loss" or (name.startswith("eval_") and name not in _NOT_CURVES)


def _write_atomically(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


__all__ = [
    "CURVES_JSON",
    "CURVES_PNG",
    "MINUTES",
    "TrainingClock",
    "learning_curves",
    "minutes_trained",
    "save_learning_curves",
]
