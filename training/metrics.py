"""Metrics through `evaluate`, with copies bundled here for machines that cannot reach the Hub.

`load_metric("sacrebleu")` returns the Hub's `evaluate-metric/sacrebleu` when `evaluate.load` can get it (from the
network or from `evaluate`'s cache) and otherwise the bundled `sacrebleu_metric.py`, which takes the same arguments,
returns the same fields and calls the same `sacrebleu.corpus_bleu`, so scores do not depend on which one ran.
"""

from __future__ import annotations

import logging
from pathlib import Path

import evaluate


logger = logging.getLogger(__name__)

# Metric name on the Hub -> the bundled evaluate module used when the Hub copy cannot be loaded. Add a module file
# beside this one (standalone: it may import only third-party packages) and an entry here to bundle another metric.
LOCAL_METRICS = {"sacrebleu": Path(__file__).with_name("sacrebleu_metric.py")}
SOURCES = ("auto", "hub", "local")


def load_metric(name: str, *, source: str = "auto", **kwargs) -> evaluate.EvaluationModule:
    r"""
    Load the `evaluate` metric `name`.

    Args:
        name (`str`): a metric name on the Hub (`"sacrebleu"`), or a path `evaluate.load` accepts.
        source (`str`, defaults to `"auto"`): `"auto"`: the Hub's module if `evaluate.load(name)` succeeds, else the
            bundled copy (with a warning saying why); `"hub"`: only `evaluate.load(name)`, errors included; `"local"`:
            only the bundled copy, never touching the network.
        kwargs: passed to `evaluate.load` (`cache_dir=`, `experiment_id=`, ...).

    Metrics with a bundled copy: `LOCAL_METRICS` (`"sacrebleu"`). For any other name, `"auto"` is `evaluate.load`.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {list(SOURCES)}, got {source!r}.")
    local = LOCAL_METRICS.get(name)
    if source == "local":
        if local is None:
            raise ValueError(f"no bundled copy of metric {name!r}; bundled: {sorted(LOCAL_METRICS)}.")
        return evaluate.load(str(local), **kwargs)
    if source == "hub" or local is None:
        return evaluate.load(name, **kwargs)
    try:
        return evaluate.load(name, **kwargs)
    except Exception as error:  # offline, Hub unreachable, module missing: the bundled copy computes the same
        logger.warning(
            "Metric %r is not available from the Hugging Face Hub (%s); using the bundled copy %s, which computes the "
            "same scores.", name, type(error).__name__, local.name,
        )
        logger.debug("evaluate.load(%r) failed with: %s", name, error)
        return evaluate.load(str(local), **kwargs)


__all__ = ["LOCAL_METRICS", "load_metric"]
