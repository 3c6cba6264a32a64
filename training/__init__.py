"""The training recipe of *Attention Is All You Need*, as pieces for `Trainer` and for plain PyTorch.

- `recipe`: the paper's optimizer, learning-rate schedule and label smoothing (`paper_training_arguments`, ...).
- `checkpoints`: averaging the last checkpoints of a run into one model folder (`average_checkpoints`).
- `in_order_trainer`: `Trainer` and `Seq2SeqTrainer` that evaluate and predict in dataset order when training batches
  by length, as the paper does.
- `token_batches`: training batches of up to a number of tokens (`max_tokens_per_batch`), as the paper's.

The examples' command line, data loading, metrics and run steps are in `vanilla_transformer.examples`.
"""

from .checkpoints import average_checkpoints, find_checkpoints
from .in_order_trainer import InOrderEvaluationMixin, InOrderSeq2SeqTrainer, InOrderTrainer
from .recipe import (
    PAPER_ADAM_BETAS,
    PAPER_ADAM_EPSILON,
    PAPER_CHECKPOINTS_AVERAGED,
    PAPER_LABEL_SMOOTHING,
    PAPER_LENGTH_PENALTY,
    PAPER_NUM_BEAMS,
    PAPER_SEQ2SEQ_TRAINING_ARGUMENTS,
    PAPER_TRAINING_ARGUMENTS,
    PAPER_WARMUP_STEPS,
    paper_learning_rate,
    paper_lr_scheduler,
    paper_optimizer,
    paper_training_arguments,
)
from .token_batches import MaxTokensBatchSampler, TokenBatchingMixin


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
    "InOrderEvaluationMixin",
    "InOrderSeq2SeqTrainer",
    "InOrderTrainer",
    "MaxTokensBatchSampler",
    "average_checkpoints",
    "find_checkpoints",
    "paper_learning_rate",
    "paper_lr_scheduler",
    "paper_optimizer",
    "paper_training_arguments",
    "TokenBatchingMixin",
]
