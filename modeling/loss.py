"""The training loss without the full logits: the output projection and the (label-smoothed) cross-entropy computed
together, a chunk of tokens at a time.

The logits of a batch (tokens x vocabulary, in float32) are the largest buffer of a training step, and the plain loss
keeps two more of that size for the backward pass (the log-probabilities and their gradient). Here each chunk's logits
live only while the chunk's loss and its gradients with respect to the hidden states and the projection are computed,
in the forward pass; the backward pass only scales them. Rows without a label (-100) never reach the projection.
The gradients are those of the plain path: d loss / d logits = softmax - (1 - eps) * onehot(label) - eps / vocab.
"""

import torch
from torch import nn

from .validation import check_labels


IGNORE_INDEX = -100


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over the labelled rows of CE(hidden @ weight.T + bias, labels) with label smoothing, divided by
    `num_items`; gradients computed chunk by chunk during the forward pass."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, num_items, label_smoothing, chunk_size):
        # hidden: (rows, d_model) of labelled rows only; weight: (vocab, d_model); labels: (rows,)
        vocab_size = weight.shape[0]
        accumulate = torch.promote_types(hidden.dtype, torch.float32)  # half precision softmaxes in float32
        total = hidden.new_zeros((), dtype=accumulate)
        grad_hidden = torch.empty_like(hidden)
        # written in place, chunk after chunk: a weight-sized temporary per chunk costs as much as a chunk's matmul
        grad_weight = torch.empty_like(weight, dtype=accumulate)
        grad_bias = None if bias is None else torch.zeros_like(bias, dtype=accumulate)
        for start in range(0, hidden.shape[0], chunk_size):
            rows, targets = hidden[start : start + chunk_size], labels[start : start + chunk_size]
            logits = nn.functional.linear(rows, weight, bias).to(accumulate)  # (chunk, vocab)
            log_probs = torch.log_softmax(logits, dim=-1)
            target_log_probs = log_probs.gather(1, targets[:, None]).squeeze(1)
            total += -(1 - label_smoothing) * target_log_probs.sum() - label_smoothing * log_probs.mean(-1).sum()
            grad_logits = log_probs.exp_()  # the softmax, in place of the log-probabilities it replaces
            grad_logits.scatter_add_(1, targets[:, None], grad_logits.new_full((len(targets), 1), label_smoothing - 1))
            if label_smoothing:
                grad_logits -= label_smoothing / vocab_size
            grad_logits = grad_logits.to(hidden.dtype)
            torch.matmul(grad_logits, weight, out=grad_hidden[start : start + chunk_size])
            first = start == 0  # beta=0: the uninitialised buffer is ignored, not multiplied
            if accumulate == hidden.dtype:
                grad_weight.addmm_(grad_logits.T, rows, beta=0 if first else 1)
            elif first:
                grad_weight.copy_(grad_logits.T @ rows)
            else:
                grad_weight += (grad_logits.T @ rows).to(accumulate)
            if grad_bias is not None:
                grad_bias += grad_logits.to(accumulate).sum(0)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.num_items = num_items
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        ctx.backward_done = False
        return total / num_items

    @staticmethod
    def backward(ctx, grad_loss):
        # The stored gradients are scaled in place (a copy of the weight-sized one costs as much as a chunk's
        # matmul), so they serve one backward pass: a second one must fail loudly, not return scaled-twice values.
        if ctx.backward_done:
            raise RuntimeError(
                "linear_cross_entropy supports one backward pass per forward (not `retain_graph=True` twice): "
                "run the forward again, or pass `skip_logits=False` to the model to use the plain loss."
            )
        ctx.backward_done = True
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_loss / ctx.num_items
        weight_dtype, bias_dtype = ctx.dtypes
        return (
            grad_hidden.mul_(scale.to(grad_hidden.dtype)),
            grad_weight.mul_(scale).to(weight_dtype),
            None if grad_bias is None else grad_bias.mul_(scale).to(bias_dtype),
            None,
            None,
            None,
            None,
        )


# Runs outside `torch.compile`'s graph: its rows depend on the labels (a data-dependent shape) and its custom autograd
# function keeps Python state, so with dynamic shapes (the recompile after a second sequence length) dynamo failed
# inside it with an internal error. Compiled models break the graph here and run this loss as it is.
@torch.compiler.disable
def linear_cross_entropy(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None = None,
    bias: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """`cross_entropy(linear(hidden_states, weight, bias), labels)` without materialising the logits.

    Labels are aligned with `hidden_states` (shift them first for a causal LM); -100 marks rows to ignore. The loss is
    the sum over labelled tokens divided by `num_items_in_batch` (the library's convention under gradient accumulation)
    or, without it, their mean. `chunk_size` rows are projected at a time (default: ~16M logits' worth).
    """
    hidden_states = hidden_states.reshape(-1, hidden_states.shape[-1])
    labels = labels.reshape(-1).to(hidden_states.device)
    keep = labels != IGNORE_INDEX
    rows, targets = hidden_states[keep], labels[keep]
    if num_items_in_batch is None:
        num_items_in_batch = targets.numel()
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(hidden_states.device)
    if targets.numel() == 0:  # nothing to predict: a zero loss that still reaches every weight
        return (hidden_states.sum() + weight.sum()) * 0.0
    if chunk_size is None:  # ~16M logits at the most, in chunks of equal size (a small last one multiplies slowly)
        num_chunks = -(-len(targets) * weight.shape[0] // (1 << 24))
        chunk_size = -(-len(targets) // num_chunks)
    return _LinearCrossEntropy.apply(rows, weight, bias, targets, num_items_in_batch, label_smoothing, chunk_size)


def token_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """The label-smoothed cross-entropy of logits and the labels aligned with them (-100 ignored), summed over tokens
    and divided by `num_items_in_batch`, or averaged: the library's convention, and the `Trainer`'s label smoother's."""
    loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1).to(logits.device),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
        label_smoothing=label_smoothing,
    )
    if num_items_in_batch is None:
        num_items_in_batch = (labels != IGNORE_INDEX).sum()
    return loss / num_items_in_batch


# The training-loss arguments of every language-model head, appended to their `forward` docstrings.
LM_LOSS_ARGS_DOCSTRING = r"""        skip_logits (`bool`, *optional*):
            Compute the loss with `labels` without materialising the logits (`logits` is then `None`): the output
            projection and the cross-entropy run together, a chunk of tokens at a time, with the same loss and
            gradients. By default on when training with labels (`model.train()`, gradients enabled); pass `False`
            to get the logits as well.
        smoothing (`float`, defaults to 0.0):
            Smooth the loss with `labels` as the paper does (section 5.4): `(1 - eps) * NLL + eps * the mean of
            -log p over the vocabulary`. The package's Trainers pass their `label_smoothing_factor` here, so that the
            loss is computed without the logits. (Not `label_smoothing`: `Trainer` takes every forward argument whose
            name contains "label" for a label it must find in each batch.)
"""


def check_smoothing(smoothing) -> None:
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"`smoothing` (label smoothing) must be a number in [0, 1), got {smoothing!r}.")


def skips_logits(skip_logits: bool | None, labels: torch.Tensor | None, model: nn.Module) -> bool:
    """Whether a head computes its loss without the logits: as asked, or by default when it trains on labels, where
    the loss is all the step needs and the logits are its largest buffer."""
    if skip_logits is None:
        return labels is not None and model.training and torch.is_grad_enabled()
    if skip_logits and labels is None:
        raise ValueError("`skip_logits=True` computes the loss without the logits: it needs `labels`.")
    return skip_logits


def shift_labels_left(labels: torch.Tensor) -> torch.Tensor:
    """A causal LM's targets: position i predicts token i + 1, and the last position predicts nothing."""
    return nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


def is_regression(config) -> bool:
    """A sequence-classification head regresses when it has one label, or when `problem_type` says so."""
    return config.problem_type == "regression" or (config.problem_type is None and config.num_labels == 1)


def check_sequence_labels(config, labels: torch.Tensor | None) -> None:
    """Class ids in [0, num_labels) unless the head regresses (real values) or labels are multi-label floats."""
    if labels is not None and not is_regression(config):
        check_labels(labels, config.num_labels)


def sequence_classification_loss(model, logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
    """The library's sequence-classification loss (cross-entropy, mean squared error or binary cross-entropy, by
    `problem_type`), with regression targets of any numeric dtype taken as the real values they are."""
    if is_regression(model.config):
        labels = labels.to(logits.dtype)
    return model.loss_function(labels=labels, pooled_logits=logits, config=model.config, **kwargs)
