"""The steps every example takes around `Trainer`: logging, starting or resuming a run, the tokenizer and the model,
the callbacks (a time limit, timed logs, checkpoints without model code), and the final model folder (the average of
the last checkpoints) with its model card. Each works unchanged under `accelerate launch`."""

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
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from vanilla_transformer.atomic import atomic_directory
from vanilla_transformer.auto import CONFIG_CLASSES
from vanilla_transformer.examples.arguments import ModelArguments, RecipeArguments, parse_config_overrides
from vanilla_transformer.examples.learning_curves import (
    CURVES_PNG,
    TrainingClock,
    minutes_trained,
    save_learning_curves,
)
from vanilla_transformer.hub import write_model_card
from vanilla_transformer.tokenization import check_tokenizer_matches, config_from_tokenizer, train_tokenizer
from vanilla_transformer.training import average_checkpoints, find_checkpoints
from vanilla_transformer.training.checkpoints import checkpoint_problem


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

    `--resume_from_checkpoint PATH` resumes from PATH; `latest` (or `last`, `true`) from the newest complete
    `checkpoint-<step>` in `output_dir`. A run killed while saving leaves an incomplete checkpoint (no
    `trainer_state.json`, or weights that are truncated or differ from their checksums: `checkpoint_problem`), which
    can be neither resumed from nor averaged: resuming skips and removes those, saying so in the log (the resumed run
    saves them again). A new run (no `--resume_from_checkpoint`) in an `output_dir` that holds checkpoints of an earlier
    run removes them all first, incomplete ones included, so that checkpoint averaging never mixes two runs; it says so
    in the log.
    """
    output_dir = Path(training_args.output_dir)
    requested = training_args.resume_from_checkpoint
    checkpoints = find_checkpoints(output_dir) if output_dir.is_dir() else []
    if not requested:
        with training_args.main_process_first(local=False, desc="preparing the output directory"):
            if training_args.process_index == 0 and checkpoints:
                logger.warning(
                    "Starting a new run in %s: removing the %d checkpoints of an earlier run (%s ... %s). Pass "
                    "--resume_from_checkpoint latest to continue that run instead.",
                    output_dir,
                    len(checkpoints),
                    checkpoints[0].name,
                    checkpoints[-1].name,
                )
                for path in checkpoints:
                    shutil.rmtree(path)
        return None

    # The first process chooses and removes the incomplete checkpoints; the others then find the same complete ones.
    with training_args.main_process_first(local=False, desc="choosing the checkpoint to resume from"):
        problems = {path: checkpoint_problem(path) for path in checkpoints if path.is_dir()}
        if str(requested).lower() in LATEST:
            complete = [path for path, problem in problems.items() if problem is None]
            if not complete:
                found = f" (only incomplete ones: {', '.join(path.name for path in problems)})" if problems else ""
                raise ValueError(
                    f"--resume_from_checkpoint {requested}: no complete checkpoint in {output_dir}{found}; start a "
                    "new run without --resume_from_checkpoint."
                )
            resume = complete[-1]
        else:
            resume = Path(requested)
            if not resume.is_dir():
                raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder.")
            problem = checkpoint_problem(resume)
            if problem is not None:
                raise ValueError(
                    f"--resume_from_checkpoint {resume} is an incomplete checkpoint: {problem}. Resume from an "
                    "earlier one, or with --resume_from_checkpoint latest (the newest complete one)."
                )
        if training_args.process_index == 0:
            for path, problem in problems.items():
                if problem is not None:
                    logger.warning("Removing %s, an incomplete checkpoint: %s.", path, problem)
                    shutil.rmtree(path)
    logger.info("Resuming from %s.", resume)
    training_args.resume_from_checkpoint = str(resume)
    return str(resume)


def latest_complete_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest `checkpoint-<step>` of `run_dir` that is complete (`checkpoint_problem`), or None."""
    run_dir = Path(run_dir)
    checkpoints = find_checkpoints(run_dir) if run_dir.is_dir() else []
    return next((path for path in reversed(checkpoints) if checkpoint_problem(path) is None), None)


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
    last), written atomically by the first process, with the model code and a first model card (the example writes
    the full one once it has evaluated the folder: `write_final_model_card`). If the last checkpoint is not the final
    state (no checkpoint was saved at the last step, e.g. `--save_strategy no`), the final weights are saved instead,
    unaveraged. All processes must call this; they return once the folder is complete.
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
            card = {"model_id": str(final_dir), "title": output_dir.resolve().name}
            average_checkpoints(used, final_dir, model_card=card)
        trainer.accelerator.wait_for_everyone()
        return final_dir, used
    if average_last > 1:
        logger.warning("No checkpoint at the final step %d: saving the final weights without averaging.", final_step)
    trainer.save_model(str(final_dir))  # every process takes part (FSDP and DeepSpeed gather the weights)
    trainer.accelerator.wait_for_everyone()
    return final_dir, []


def run_callbacks(recipe_args: RecipeArguments) -> list[TrainerCallback]:
    """The callbacks of every example's Trainer: minutes in the log history (`TrainingClock`, for the learning
    curves), checkpoints without model code, and the time limit of `--max_train_minutes` (with the learning rate's
    cooldown of `--cooldown_fraction`), if given."""
    callbacks = [TrainingClock(), CheckpointsWithoutModelCode()]
    if recipe_args.max_train_minutes:
        callbacks.append(TimeLimitCallback(recipe_args.max_train_minutes, recipe_args.cooldown_fraction))
    return callbacks


class CheckpointsWithoutModelCode(TrainerCallback):
    """Remove the model code (`*.py`) that `save_pretrained` copies into every Trainer checkpoint.

    Checkpoints are for resuming and averaging, which load the model with the package; the model code is for sharing,
    and the final model folder (`save_final_model`) gets it. A run that pushes to the Hub (`--push_to_hub`) keeps it in
    its checkpoints: the pushes of checkpoints upload them (`HubTrainerMixin` copies their code)."""

    def on_save(self, args, state, control, **kwargs):
        if not args.should_save or args.push_to_hub:
            return
        checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        for path in checkpoint.glob("*.py"):
            path.unlink()


def save_learning_curves_of(trainer: Trainer, model_dir: Path, title: str) -> list[Path]:
    """Save the learning curves of `trainer`'s run (`learning_curves`) into the final model folder, on the first
    process; return the files written."""
    if not trainer.is_world_process_zero():
        return []
    return save_learning_curves(trainer.state.log_history, model_dir, title=title)


def write_final_model_card(
    model_dir: Path, auto_class, training_args: TrainingArguments, title: str | None = None, **fields
) -> Path | None:
    r"""
    Write the model card of the run's final model folder (on the first process): titled `title` or with the run's name
    (`output_dir`'s), loading the folder by its path, describing the model saved there (its decoding settings are those
    of its generation_config.json), with `fields` (`vanilla_transformer.hub.CARD_FIELDS`: `description`,
    `training_data`, `datasets`, `metrics`, `training`, ...) for what the example knows. Replaces the card the folder
    was saved with.
    """
    if training_args.process_index != 0:
        return None
    model = auto_class.from_pretrained(model_dir)
    model_id = str(Path(training_args.output_dir) / MODEL_DIR)
    title = title or Path(training_args.output_dir).resolve().name
    return write_model_card(model_dir, model, model_id=model_id, title=title, **fields)


def training_summary(script: str, preset: str | None, trainer: Trainer, averaged: list[Path], model_dir: Path) -> str:
    """The "Training" section of a final model's card: the command and its preset, the steps, batch, minutes and
    recipe of `trainer`'s run, the averaged checkpoints and the learning curves (when their PNG was saved)."""
    args, state = trainer.args, trainer.state
    minutes = minutes_trained(state.log_history)
    batch = f"{args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size} examples"
    max_tokens = getattr(trainer, "max_tokens_per_batch", None)
    if max_tokens:  # token batches (`TokenBatchingMixin`)
        batch = f"up to {max_tokens * args.gradient_accumulation_steps * args.world_size:,} tokens"
    schedule = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    preset_text = f" (preset `{preset}`)" if preset else ""
    lines = [
        f"Trained by `python examples/{script}`{preset_text} with `Trainer`: {state.global_step:,} steps of {batch} "
        f"({state.epoch or 0:.1f} epochs) in {minutes:.1f} minutes of training; Adam "
        f"({args.adam_beta1}, {args.adam_beta2}, {args.adam_epsilon:g}), peak learning rate {args.learning_rate:.3g} "
        f"with the `{schedule}` schedule after {args.warmup_steps} warmup steps, label smoothing "
        f"{args.label_smoothing_factor}."
    ]
    if len(averaged) > 1:
        names = ", ".join(f"`{path.name}`" for path in averaged)
        lines.append(f"The weights are the average of the last {len(averaged)} checkpoints ({names}).")
    if (model_dir / CURVES_PNG).is_file():
        lines.append(f"![Learning curves]({CURVES_PNG})")
    return "\n\n".join(lines)


class TimeLimitCallback(TrainerCallback):
    r"""
    Stop training once `minutes` of training have passed, saving a checkpoint at that step (so the final model and
    checkpoint averaging see it). The minutes are summed over the sessions of a resumed run (from the times
    `TrainingClock` logs). All processes stop at the same step: the first process's clock decides.

    With `cooldown_fraction`, the learning rate also decays linearly to zero over that last fraction of the time:
    the schedule's learning rate times min(1, minutes left / cooldown minutes). A run limited by time does not know
    how many steps it will make (that depends on the machine), so a schedule by steps cannot end at zero where the
    run ends; this one does, whatever the machine manages. It multiplies the schedule's own factors (a `LambdaLR`, as
    every `lr_scheduler_type` of the library but "reduce_lr_on_plateau" is), so the logged learning rate is the one
    applied; the factor is updated after every optimizer step, and applies from the next one.
    """

    clock = staticmethod(time.monotonic)  # seconds; the tests set a clock of their own

    def __init__(self, minutes: float, cooldown_fraction: float = 0.0):
        if not minutes > 0:
            raise ValueError(f"the time limit must be positive, got {minutes!r} minutes.")
        if not 0.0 <= cooldown_fraction <= 1.0:
            raise ValueError(f"the cooldown fraction must be between 0 and 1, got {cooldown_fraction!r}.")
        self.seconds = 60.0 * minutes
        self.cooldown_seconds = self.seconds * cooldown_fraction
        self.start = None
        self.stopped_at = None
        self.lr_factor = 1.0

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        self.start = self.clock() - 60.0 * minutes_trained(state.log_history)
        if self.cooldown_seconds:
            self._scale_schedule(lr_scheduler)
            self._update_lr_factor(args)

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.cooldown_seconds:  # just before the schedule sets the learning rate of the next step
            self._update_lr_factor(args)

    def on_step_end(self, args, state, control, **kwargs):
        over = self._agreed(args, self.clock() - self.start >= self.seconds)
        if over and not control.should_training_stop:
            logger.warning(
                "Time limit of %.1f minutes reached at step %d: stopping.", self.seconds / 60, state.global_step
            )
            self.stopped_at = state.global_step
            control.should_training_stop = True
            if args.save_strategy != "no":
                control.should_save = True
        return control

    def _scale_schedule(self, lr_scheduler) -> None:
        """Multiply every factor of the `LambdaLR` schedule by `self.lr_factor`, in place."""
        schedule = getattr(lr_scheduler, "scheduler", lr_scheduler)  # under accelerate's `AcceleratedScheduler`
        if not isinstance(schedule, torch.optim.lr_scheduler.LambdaLR):
            raise ValueError(
                f"a cooldown by time needs a schedule of the library's kind (a LambdaLR), got {type(schedule).__name__}"
                "; choose another --lr_scheduler_type or drop the cooldown."
            )

        def scaled(schedule_factor):
            # A plain function, not an object: LambdaLR's state_dict leaves functions out of the checkpoint.
            return lambda step: schedule_factor(step) * self.lr_factor

        schedule.lr_lambdas = [scaled(factor) for factor in schedule.lr_lambdas]

    def _update_lr_factor(self, args) -> None:
        left = max(self.seconds - (self.clock() - self.start), 0.0)
        # Every process must apply the same learning rate, or the replicas of the model drift apart.
        self.lr_factor = self._agreed(args, min(1.0, left / self.cooldown_seconds))

    @staticmethod
    def _agreed(args, value):
        """`value` as the first process has it (a bool or a float)."""
        if args.world_size == 1:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=args.device)  # the factor, exactly
        torch.distributed.broadcast(tensor, src=0)
        return type(value)(tensor.item())


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def _has_tokenizer(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in ("tokenizer.json", "tokenizer_config.json"))


__all__ = [
    "LATEST",
    "MODEL_DIR",
    "TOKENIZER_DIR",
    "CheckpointsWithoutModelCode",
    "TimeLimitCallback",
    "build_model",
    "latest_complete_checkpoint",
    "load_or_train_tokenizer",
    "run_callbacks",
    "save_final_model",
    "save_learning_curves_of",
    "setup_logging",
    "start_run",
    "training_summary",
    "write_final_model_card",
]
