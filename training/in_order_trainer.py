"""`Trainer` and `Seq2SeqTrainer` whose evaluation and predictions keep the order of the dataset.

The paper batches sentence pairs by approximate length (section 5.1): with `Trainer`,
`train_sampling_strategy="group_by_length"`. The library then reads the evaluation and test sets length-grouped too,
in a shuffled order (`Trainer._get_eval_sampler`, transformers 5.24):

    if self.args.train_sampling_strategy == "group_by_length":
        ...
        return LengthGroupedSampler(self.args.eval_batch_size, dataset=eval_dataset, ...)

and `evaluate()` and `predict()` return the predictions in that order. Prediction i then no longer belongs to example
i of the dataset: BLEU against references kept beside the dataset, or translations written next to their sources,
come out wrong. These trainers read the evaluation and test sets in order, as the library does for every other
sampling strategy; training keeps its length-grouped batches.

    trainer = InOrderSeq2SeqTrainer(model=model, args=args, ...)   # a drop-in for Seq2SeqTrainer

Both also carry the corrections of `trainer_fixes` (quiet resumes of models with tied weights; a generation config that
evaluation leaves as it was), compute a label-smoothed loss without the logits (`model_label_smoothing`), and can
batch by tokens: `max_tokens_per_batch=N` (`token_batches`).
"""

from __future__ import annotations

from torch.utils.data import SequentialSampler
from transformers import Seq2SeqTrainer, Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from .model_label_smoothing import ModelLabelSmoothingMixin
from .token_batches import TokenBatchingMixin
from .trainer_fixes import KeepGenerationConfigMixin, TiedWeightsResumeMixin


class InOrderEvaluationMixin:
    """Mix into a `Trainer` (sub)class, before it in the bases, to keep evaluation and predictions in dataset order."""

    # The library picks the evaluation sampler only in this private method: the public `get_eval_dataloader` and
    # `get_test_dataloader` hand it to their data loaders as is, so overriding them would mean copying their bodies.
    def _get_eval_sampler(self, eval_dataset):
        sampler = super()._get_eval_sampler(eval_dataset)
        if isinstance(sampler, LengthGroupedSampler):
            # What the library uses for every other strategy: in order on one process; on several, no sampler, so
            # that `accelerate` shards the data in order and gathers the predictions back in order.
            return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None
        return sampler


class InOrderTrainer(
    InOrderEvaluationMixin, TokenBatchingMixin, ModelLabelSmoothingMixin, TiedWeightsResumeMixin, Trainer
):
    """`Trainer` whose evaluation and predictions keep the order of the dataset (and which resumes quietly)."""


class InOrderSeq2SeqTrainer(
    InOrderEvaluationMixin,
    TokenBatchingMixin,
    ModelLabelSmoothingMixin,
    TiedWeightsResumeMixin,
    KeepGenerationConfigMixin,
    Seq2SeqTrainer,
):
    """`Seq2SeqTrainer` whose evaluation and predictions keep the order of the dataset (and which resumes quietly and
    leaves the model's generation config as it was)."""


__all__ = ["InOrderEvaluationMixin", "InOrderSeq2SeqTrainer", "InOrderTrainer"]
