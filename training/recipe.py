"""The training recipe of *Attention Is All You Need* (section 5.3-5.4, 6.1), as pieces for `Trainer` and plain PyTorch.

- Adam with beta1 0.9, beta2 0.98, epsilon 1e-9 and no weight decay.
- The learning rate lr(step) = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), warmup 4000: a linear warmup to
  the peak d_model^-0.5 * warmup^-0.5 at step `warmup`, then a decay proportional to step^-0.5. This is exactly the
  library's `inverse_sqrt` schedule (`transformers.get_inverse_sqrt_schedule`) with that peak as the learning rate,
  so `Trainer` selects it with `lr_scheduler_type="inverse_sqrt"` and nothing is re-implemented.
- Label smoothing 0.1, through the library's own `label_smoothing_factor` (`transformers.trainer_pt_utils.LabelSmoother`).
- Beam search with beam 4 and length penalty 0.6: the generation defaults of `TransformerForConditionalGeneration`.
- Checkpoint averaging: `vanilla_transformer.training.average_checkpoints`.

Steps are counted the way the library (and fairseq) count them: the scheduler's value after `s` optimizer updates is
lr(s), so update `k` (1-based) runs at lr(k - 1), and the first update, at lr(0) = 0, only warms up Adam's moments.
`Trainer` logs at step `k` the learning rate update `k` ran with, lr(k - 1).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from transformers import Seq2SeqTrainingArguments, TrainingArguments, get_inverse_sqrt_schedule

from ..modeling.configuration_transformer import check_positive_int


PAPER_WARMUP_STEPS = 4000
PAPER_ADAM_BETAS = (0.9, 0.98)
PAPER_ADAM_EPSILON = 1e-9
PAPER_LABEL_SMOOTHING = 0.1
PAPER_NUM_BEAMS = 4
PAPER_LENGTH_PENALTY = 0.6
PAPER_CHECKPOINTS_AVERAGED = 5  # the base models; the big models averaged the last 20

# The recipe as `TrainingArguments` fields, but for `learning_rate`, which depends on d_model (`paper_learning_rate`).
PAPER_TRAINING_ARGUMENTS = dict(
    lr_scheduler_type="inverse_sqrt",
    warmup_steps=PAPER_WARMUP_STEPS,
    adam_beta1=PAPER_ADAM_BETAS[0],
    adam_beta2=PAPER_ADAM_BETAS[1],
    adam_epsilon=PAPER_ADAM_EPSILON,
    weight_decay=0.0,
    label_smoothing_factor=PAPER_LABEL_SMOOTHING,
    max_grad_norm=0.0,
)
PAPER_SEQ2SEQ_TRAINING_ARGUMENTS = dict(predict_with_generate=True)


def paper_learning_rate(
    d_model: int, warmup_steps: int = PAPER_WARMUP_STEPS, step: int | None = None, *, scale: float = 1.0
) -> float:
    r"""
    The paper's learning rate, `scale * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)`.

    Args:
        d_model (`int`): the model width.
        warmup_steps (`int`, defaults to 4000): steps of linear warmup.
        step (`int`, *optional*): the number of optimizer updates done. `None` (default) gives the peak reached at
            `step == warmup_steps`, `scale * (d_model * warmup_steps)^-0.5`: the `learning_rate` to give `Trainer`
            with `lr_scheduler_type="inverse_sqrt"`. Step 0 gives 0.
        scale (`float`, defaults to 1.0): a factor on the whole schedule (tensor2tensor's `learning_rate_constant`);
            small models on small data often train better with a larger one.

    Example: `paper_learning_rate(512)` is 6.99e-4, the base model's peak.
    """
    check_positive_int("d_model", d_model)
    check_positive_int("warmup_steps", warmup_steps)
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}.")
    if step is None:
        return scale * (d_model * warmup_steps) ** -0.5
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}.")
    if step == 0:
        return 0.0
    return scale * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def paper_training_arguments(
    output_dir: str | None = None,
    *,
    d_model: int,
    warmup_steps: int = PAPER_WARMUP_STEPS,
    lr_scale: float = 1.0,
    seq2seq: bool = True,
    **overrides,
) -> TrainingArguments:
    r"""
    `Seq2SeqTrainingArguments` (or `TrainingArguments` with `seq2seq=False`) holding the paper's recipe, which any
    keyword in `overrides` replaces:

    | argument | value | the library's default |
    |---|---|---|
    | `learning_rate` | `paper_learning_rate(d_model, warmup_steps, scale=lr_scale)` | 5e-5 |
    | `lr_scheduler_type` | `"inverse_sqrt"` (with that peak, the paper's formula) | `"linear"` |
    | `warmup_steps` | 4000 | 0 |
    | `adam_beta1`, `adam_beta2`, `adam_epsilon` | 0.9, 0.98, 1e-9 | 0.9, 0.999, 1e-8 |
    | `weight_decay` | 0.0 (so AdamW is Adam) | 0.0 |
    | `label_smoothing_factor` | 0.1 | 0.0 |
    | `max_grad_norm` | 0.0 (the paper clips nothing) | 1.0 |
    | `predict_with_generate` (seq2seq) | `True`: evaluation and prediction decode with `generate()` | `False` |

    The loss `Trainer` then minimises is the label-smoothed cross-entropy `(1 - 0.1) * NLL + 0.1 * H(uniform, p)`
    averaged over every target token of the batch; with gradient accumulation or several processes, over every
    target token of the global batch (the library's `num_items_in_batch`), so the recipe does not depend on how a
    batch is split. Seq2seq models need their `decoder_input_ids` from the data collator when label smoothing is on
    (`Trainer` removes `labels` from the inputs to smooth them itself): use
    `DataCollatorForSeq2Seq(tokenizer, model=model)`.

    Beam size and length penalty come from the model's generation config (beam 4, length penalty 0.6 for
    `TransformerForConditionalGeneration`); `generation_num_beams=` overrides the beam size.
    """
    recipe = dict(
        PAPER_TRAINING_ARGUMENTS,
        learning_rate=paper_learning_rate(d_model, warmup_steps, scale=lr_scale),
        warmup_steps=warmup_steps,
    )
    if seq2seq:
        recipe.update(PAPER_SEQ2SEQ_TRAINING_ARGUMENTS)
    if output_dir is not None:
        recipe["output_dir"] = output_dir
    arguments_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    return arguments_class(**{**recipe, **overrides})


def paper_optimizer(
    params: Iterable[torch.nn.Parameter] | torch.nn.Module,
    *,
    d_model: int,
    warmup_steps: int = PAPER_WARMUP_STEPS,
    lr_scale: float = 1.0,
) -> torch.optim.Adam:
    """`torch.optim.Adam` with the paper's betas (0.9, 0.98) and epsilon 1e-9, and the schedule's peak as its `lr`
    (pair it with `paper_lr_scheduler`). Accepts a model or its parameters."""
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    return torch.optim.Adam(
        params,
        lr=paper_learning_rate(d_model, warmup_steps, scale=lr_scale),
        betas=PAPER_ADAM_BETAS,
        eps=PAPER_ADAM_EPSILON,
    )


def paper_lr_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int = PAPER_WARMUP_STEPS, last_epoch: int = -1
) -> torch.optim.lr_scheduler.LambdaLR:
    r"""
    The paper's schedule for plain PyTorch: the library's `inverse_sqrt` schedule. With the optimizer's `lr` at the
    peak (`paper_optimizer` sets it), the learning rate after `s` calls of `scheduler.step()` is
    `paper_learning_rate(d_model, warmup_steps, step=s)`. Call `scheduler.step()` after each `optimizer.step()`.

    ```python
    optimizer = paper_optimizer(model, d_model=512)
    scheduler = paper_lr_scheduler(optimizer)
    for batch in batches:
        model(**batch).loss.backward()
        optimizer.step(); scheduler.step(); optimizer.zero_grad()
    ```

    `Trainer(..., optimizers=(optimizer, scheduler))` accepts the pair too, although `paper_training_arguments` is the
    simpler way there.
    """
    check_positive_int("warmup_steps", warmup_steps)
    return get_inverse_sqrt_schedule(optimizer, num_warmup_steps=warmup_steps, last_epoch=last_epoch)


__all__ = [
    "PAPER_ADAM_BETAS",
    "PAPER_ADAM_EPSILON",
    "PAPER_CHECKPOINTS_AVERAGED",
    "PAPER_LABEL_SMOOTHING",
    "PAPER_LENGTH_PENALTY",
    "PAPER_NUM_BEAMS",
    "PAPER_SEQ2SEQ_TRAINING_ARGUMENTS",
    "PAPER_TRAINING_ARGUMENTS",
    "PAPER_WARMUP_STEPS",
    "paper_learning_rate",
    "paper_lr_scheduler",
    "paper_optimizer",
    "paper_training_arguments",
]
