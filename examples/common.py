"""The steps every example takes around `Trainer`: logging, starting or resuming a run, the tokenizer and the model,
a time limit, and the final model folder (the average of the last checkpoints). Each works unchanged under
`accelerate launch`."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import datasets
import torch
import transformers
from transformers import AutoTokenizer, PreTrainedModel, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from vanilla_transformer.atomic import atomic_directory
from vanilla_transformer.auto import CONFIG_CLASSES
from vanilla_transformer.examples.arguments import ModelArguments, parse_config_overrides
from vanilla_transformer.tokenization import check_tokenizer_matches, config_from_tokenizer, train_tokenizer
from vanilla_transformer.training import average_checkpoints, find_checkpoints


logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"  # inside output_dir: the tokenizer a run trained
MODEL_DIR = "model"  # inside output_dir: the final model folder (model, tokenizer, generation config)
LATEST = ("latest", "last", "true")  # --resume_from_checkpoint values meaning "the newest checkpoint in output_dir"


def setup_logging(training_args: TrainingArguments) -> None:
    """Log to stdout at `--log_level` on the main process and errors only elsewhere, as the library's examples do."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = training_args.get_process_log_level()
    if training_args.should_log:
        level = min(level, logging.INFO)  # the examples' own progress messages
    logging.getLogger("vanilla_transformer").setLevel(level)
    datasets.utils.logging.set_verbosity(max(level, logging.WARNING))
    transformers.utils.logging.set_verbosity(max(level, logging.WARNING))


def start_run(training_args: TrainingArguments) -> str | None:
    r"""
    Resolve `--resume_from_checkpoint` and prepare `output_dir`; return the checkpoint to resume from, or `None`.

    `--resume_from_checkpoint PATH` resumes from PATH; `latest` (or `last`, `true`) from the newest `checkpoint-<step>`
    in `output_dir`. A new run (no `--resume_from_checkpoint`) in an `output_dir` that holds checkpoints of an earlier
    run removes them first, so that checkpoint averaging never mixes two runs; it says so in the log.
    """
    output_dir = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if resume:
        if str(resume).lower() in LATEST:
            resume = get_last_checkpoint(output_dir) if output_dir.is_dir() else None
            if resume is None:
                raise ValueError(
                    f"--resume_from_checkpoint {training_args.resume_from_checkpoint}: no checkpoint in {output_dir}."
                )
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder.")
        training_args.resume_from_checkpoint = str(resume)
        return str(resume)
    with training_args.main_process_first(local=False, desc="preparing the output directory"):
        if training_args.process_index == 0 and output_dir.is_dir():
            earlier = [path for path in find_checkpoints(output_dir) if (path / "trainer_state.json").is_file()]
            if earlier:
                logger.warning(
                    "Starting a new run in %s: removing the %d checkpoints of an earlier run (%s ... %s). Pass "
                    "--resume_from_checkpoint latest to continue that run instead.",
                    output_dir,
                    len(earlier),
                    earlier[0].name,
                    earlier[-1].name,
                )
                for path in earlier:
                    shutil.rmtree(path)
    return None


def load_or_train_tokenizer(
    model_args: ModelArguments,
    training_args: TrainingArguments,
    corpus: Callable[[], object],
    *,
    text_column: str | list[str] = "text",
    variant: str = "seq2seq",
    resume_from_checkpoint: str | None = None,
):
    r"""
    The run's tokenizer: `--tokenizer_name`, else the one saved with `--model_name_or_path` or with the checkpoint
    resumed from, else a new one trained by `train_tokenizer` on `corpus()` (a `datasets.Dataset`, files or texts)
    with `--tokenizer_algorithm`, `--vocab_size` and `--lowercase`.

    A new tokenizer is trained once, by the first process, and saved to `output_dir/tokenizer`; the other processes
    of an `accelerate launch` wait and load it from there (so `output_dir` must be shared by all machines, as it is
    for the Trainer's checkpoints).
    """
    for source in (model_args.tokenizer_name, model_args.model_name_or_path, resume_from_checkpoint):
        if source and (not os.path.isdir(source) or _has_tokenizer(source)):
            return AutoTokenizer.from_pretrained(source)
    directory = Path(training_args.output_dir) / TOKENIZER_DIR
    with training_args.main_process_first(local=False, desc="training the tokenizer"):
        if training_args.process_index == 0:
            logger.info(
                "Training a %s tokenizer (vocabulary %d) on the training data.",
                model_args.tokenizer_algorithm,
                model_args.vocab_size,
            )
            tokenizer = train_tokenizer(
                corpus(),
                algorithm=model_args.tokenizer_algorithm,
                vocab_size=model_args.vocab_size,
                variant=variant,
                lowercase=model_args.lowercase,
                text_column=text_column,
                show_progress=not training_args.disable_tqdm,
            )
            with atomic_directory(directory) as staging:
                tokenizer.save_pretrained(staging)
        else:
            tokenizer = AutoTokenizer.from_pretrained(directory)
    return tokenizer


def build_model(auto_class, model_args: ModelArguments, tokenizer, variant: str, **fields) -> PreTrainedModel:
    r"""
    `--model_name_or_path` loaded with `auto_class`, or a new model whose config comes from the tokenizer
    (`config_from_tokenizer(tokenizer, variant, ...)`) with the model arguments, `fields` (e.g. the layer counts of an
    encoder-decoder) and `--config_overrides`. Either way the tokenizer and the model are checked to agree. Seed the
    random generators (`transformers.set_seed`) before calling, so the initial weights are reproducible.
    """
    if model_args.model_name_or_path:
        model = auto_class.from_pretrained(model_args.model_name_or_path)
        check_tokenizer_matches(tokenizer, model)
        return model
    config = config_from_tokenizer(
        tokenizer,
        variant,
        d_model=model_args.d_model,
        num_heads=model_args.num_heads,
        d_ff=model_args.d_ff,
        dropout=model_args.dropout,
        attention_dropout=model_args.attention_dropout,
        activation_dropout=model_args.activation_dropout,
        **fields,
        **parse_config_overrides(model_args.config_overrides, CONFIG_CLASSES[variant]),
    )
    return auto_class.from_config(config)


def save_final_model(trainer: Trainer, average_last: int) -> tuple[Path, list[Path]]:
    r"""
    Write the run's model folder, `output_dir/model`, and return it with the checkpoints it averages.

    It is the average of the last `average_last` checkpoints of the run (`average_checkpoints`; with 1, a copy of the
    last), written atomically by the first process. If the last checkpoint is not the final state (no checkpoint was
    saved at the last step, e.g. `--save_strategy no`), the final weights are saved instead, unaveraged. All
    processes must call this; they return once the folder is complete.
    """
    output_dir = Path(trainer.args.output_dir)
    final_dir = output_dir / MODEL_DIR
    checkpoints = find_checkpoints(output_dir) if output_dir.is_dir() else []
    final_step = trainer.state.global_step
    if checkpoints and _step(checkpoints[-1]) == final_step:
        used = checkpoints[-max(1, average_last) :]
        if len(used) < average_last:
            logger.warning(
                "Averaging %d checkpoints, not %d: only %d exist (save more often with --save_steps, or "
                "keep more with --save_total_limit).",
                len(used),
                average_last,
                len(checkpoints),
            )
        if trainer.is_world_process_zero():
            average_checkpoints(used, final_dir)
        trainer.accelerator.wait_for_everyone()
        return final_dir, used
    if average_last > 1:
        logger.warning("No checkpoint at the final step %d: saving the final weights without averaging.", final_step)
    trainer.save_model(str(final_dir))  # every process takes part (FSDP and DeepSpeed gather the weights)
    trainer.accelerator.wait_for_everyone()
    return final_dir, []


class TimeLimitCallback(TrainerCallback):
    """Stop training once `minutes` of training have passed, saving a checkpoint at that step (so the final model
    and checkpoint averaging see it). All processes stop at the same step: the first process's clock decides."""

    def __init__(self, minutes: float):
        if not minutes > 0:
            raise ValueError(f"the time limit must be positive, got {minutes!r} minutes.")
        self.seconds = 60.0 * minutes
        self.start = None
        self.stopped_at = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        over = time.monotonic() - self.start >= self.seconds
        if args.world_size > 1:  # agree across processes, or they would stop at different steps and hang
            flag = torch.tensor([float(over)], device=args.device)
            torch.distributed.broadcast(flag, src=0)
            over = bool(flag.item())
        if over and not control.should_training_stop:
            logger.warning(
                "Time limit of %.1f minutes reached at step %d: stopping.", self.seconds / 60, state.global_step
            )
            self.stopped_at = state.global_step
            control.should_training_stop = True
            if args.save_strategy != "no":
                control.should_save = True
        return control


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def _has_tokenizer(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in ("tokenizer.json", "tokenizer_config.json"))


__all__ = [
    "LATEST",
    "MODEL_DIR",
    "TOKENIZER_DIR",
    "TimeLimitCallback",
    "build_model",
    "load_or_train_tokenizer",
    "save_final_model",
    "setup_logging",
    "start_run",
]
