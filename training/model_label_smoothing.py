"""Label smoothing computed by the model, without the logits (`ModelLabelSmoothingMixin`; `InOrderTrainer` and
`InOrderSeq2SeqTrainer` include it).

With `label_smoothing_factor` (0.1 in the paper's recipe), the library's `Trainer` takes the labels out of the inputs,
lets the model return the full logits (tokens x vocabulary in float32, the largest buffer of a step) and smooths the
loss over them itself (`LabelSmoother`). The language-model heads of this package compute the same smoothed loss
without materialising the logits (`modeling/loss.py`): this mixin hands them the labels and the factor instead. The
loss, its normalisation under gradient accumulation (`num_items_in_batch`) and the gradients are the library's
(tests/test_loss.py); only the memory and the time differ.
"""

from __future__ import annotations

import inspect

from ..modeling import TransformerPreTrainedModel


class ModelLabelSmoothingMixin:
    """Mix into a `Trainer` (sub)class, before it in the bases."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        smoother = self.label_smoother
        if (
            smoother is None
            or "labels" not in inputs
            or not _smooths_its_own_loss(self.accelerator.unwrap_model(model))
        ):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self.label_smoother = None  # the Trainer then leaves the labels in the inputs and takes the model's loss
        try:
            inputs = {**inputs, "smoothing": smoother.epsilon}
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.label_smoother = smoother


def _smooths_its_own_loss(model) -> bool:
    return isinstance(model, TransformerPreTrainedModel) and "smoothing" in inspect.signature(model.forward).parameters


__all__ = ["ModelLabelSmoothingMixin"]
