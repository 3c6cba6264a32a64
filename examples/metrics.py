"""The examples' metrics: `evaluate`'s sacreBLEU and accuracy, or the same figures computed here when `evaluate` cannot
load them (its metric modules live on the Hugging Face Hub, which an offline machine cannot reach).

Either way `load_metric(name).compute(predictions=..., references=..., ...)` returns the fields the examples read:
for "sacrebleu", `score`, `counts`, `totals`, `precisions`, `bp`, `sys_len` and `ref_len` (what `sacrebleu.corpus_bleu`
computes: the Hub's module returns them, and so does `SacreBLEU`); for "accuracy", `accuracy`.
"""

from __future__ import annotations

import logging

import evaluate
import numpy as np
import sacrebleu


logger = logging.getLogger(__name__)


class SacreBLEU:
    """`evaluate`'s "sacrebleu" without the Hub: `sacrebleu.corpus_bleu`, called as the Hub's module calls it."""

    def compute(self, *, predictions: list[str], references: list[list[str]] | list[str], **options) -> dict:
        """`references`: the references of each prediction (the same number for each), or one string per prediction;
        `options`: those of `sacrebleu.corpus_bleu` (`tokenize="13a"`, `lowercase=False`, ...)."""
        if isinstance(references[0], str):
            references = [[reference] for reference in references]
        # sacreBLEU takes them the other way round: one stream per reference, each covering every prediction.
        streams = [list(stream) for stream in zip(*references, strict=True)]
        bleu = sacrebleu.corpus_bleu(predictions, streams, **options)
        return {
            "score": bleu.score,
            "counts": bleu.counts,
            "totals": bleu.totals,
            "precisions": bleu.precisions,
            "bp": bleu.bp,
            "sys_len": bleu.sys_len,
            "ref_len": bleu.ref_len,
        }


class Accuracy:
    """`evaluate`'s "accuracy" without the Hub (nor scikit-learn, which that module imports)."""

    def compute(self, *, predictions, references) -> dict:
        correct = np.asarray(predictions) == np.asarray(references)
        return {"accuracy": float(correct.mean())}


# What computes each metric the examples use when `evaluate.load` cannot load it.
OFFLINE_METRICS = {"sacrebleu": SacreBLEU, "accuracy": Accuracy}


def load_metric(name: str):
    """`evaluate.load(name)` when it succeeds (from the Hub or `evaluate`'s cache); otherwise, with a warning,
    `OFFLINE_METRICS[name]()`, which returns the same figures."""
    try:
        return evaluate.load(name)
    except Exception as error:  # offline, Hub unreachable, a module's own import missing
        if name not in OFFLINE_METRICS:
            raise
        logger.warning(
            "Metric %r is not available from the Hugging Face Hub (%s); computing the same figures with "
            "%s.%s instead.",
            name,
            type(error).__name__,
            __name__,
            OFFLINE_METRICS[name].__name__,
        )
        logger.debug("evaluate.load(%r) failed with: %s", name, error)
        return OFFLINE_METRICS[name]()


__all__ = ["OFFLINE_METRICS", "Accuracy", "SacreBLEU", "load_metric"]
