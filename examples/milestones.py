"""A snapshot of the model after a fixed number of training tokens.

A run limited by wall time (`--max_train_minutes`) trains for as many tokens as the machine manages, so its final
figure swings with the machine's speed. The weights after a fixed number of tokens do not: scored after training, they
give a figure that compares across machines and days. `TokenMilestoneCallback` saves them once, at the first step
where the Trainer's count of training tokens (`state.num_input_tokens_seen`, the non-padding tokens of the inputs)
reaches the milestone; a resumed run that already saved them keeps them, and a new run removes those of an earlier one.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from transformers import TrainerCallback

from vanilla_transformer.atomic import atomic_directory
from vanilla_transformer.modeling.configuration_transformer import check_positive_int


logger = logging.getLogger(__name__)


def milestone_dir(output_dir: str | Path, tokens: int) -> Path:
    """Where `TokenMilestoneCallback(tokens)` saves its snapshot in `output_dir`."""
    return Path(output_dir) / f"model-at-{tokens}-tokens"


class TokenMilestoneCallback(TrainerCallback):
    """Save the model and its tokenizer to `milestone_dir(output_dir, tokens)` at the first step where the training
    tokens seen reach `tokens`. Needs `include_num_input_tokens_seen="non_padding"` (or "all") in the arguments."""

    def __init__(self, tokens: int):
        check_positive_int("the token milestone", tokens, "number of tokens")
        self.tokens = tokens

    def on_train_begin(self, args, state, control, **kwargs):
        if args.include_num_input_tokens_seen == "no":
            raise ValueError(
                "TokenMilestoneCallback counts tokens with the Trainer: set include_num_input_tokens_seen="
                "'non_padding' in the training arguments."
            )
        folder = milestone_dir(args.output_dir, self.tokens)
        if state.global_step == 0 and folder.exists() and state.is_world_process_zero:
            logger.warning("Removing %s: a snapshot of an earlier run.", folder)
            shutil.rmtree(folder)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        folder = milestone_dir(args.output_dir, self.tokens)
        if state.num_input_tokens_seen < self.tokens or folder.exists() or not state.is_world_process_zero:
            return
        with atomic_directory(folder) as staging:
            model.save_pretrained(staging)
            if processing_class is not None:
                processing_class.save_pretrained(staging)
        logger.info(
            "Saved the model after %s training tokens (step %d, epoch %.2f) to %s.",
            f"{state.num_input_tokens_seen:,}",
            state.global_step,
            state.epoch or 0.0,
            folder,
        )


__all__ = ["TokenMilestoneCallback", "milestone_dir"]
