"""The examples' command line: data, model and recipe options, every `TrainingArguments` flag with the paper's recipe
as its default, and presets (named sets of defaults that explicit flags still override).

An example declares its own dataclasses next to these and calls `parse_arguments`:

```python
model_args, data_args, recipe_args, my_args, training_args = parse_arguments(
    (ModelArguments, DataArguments, RecipeArguments, MyArguments), argv, presets=PRESETS, preset="demo"
)
```
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, PreTrainedConfig, Seq2SeqTrainingArguments, TrainingArguments

from vanilla_transformer.training import (
    PAPER_CHECKPOINTS_AVERAGED,
    PAPER_SEQ2SEQ_TRAINING_ARGUMENTS,
    PAPER_TRAINING_ARGUMENTS,
    paper_learning_rate,
)


@dataclass
class DataArguments:
    """Where the data comes from: a dataset on the Hub or local files (see `vanilla_transformer.examples.data`)."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "A dataset on the Hugging Face Hub, e.g. 'wmt/wmt14' (needs the network)."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its configuration, e.g. 'de-en'."})
    train_file: list[str] | None = field(
        default=None,
        metadata={
            "help": "Training data: .csv/.tsv/.json(l)/.parquet, or plain text (one example per line). "
            "Several files are read one after the other (parallel text: see the example)."
        },
    )
    validation_file: list[str] | None = field(default=None, metadata={"help": "Validation data, as --train_file."})
    test_file: list[str] | None = field(default=None, metadata={"help": "Test data, as --train_file."})
    column_names: list[str] | None = field(
        default=None,
        metadata={
            "help": "Column names for .csv/.tsv files without a header row (otherwise the first row names "
            "them), or the name of the column of plain-text files."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N validation examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    data_cache_dir: str | None = field(default=None, metadata={"help": "Cache directory of `datasets`."})

    def data_files(self) -> dict[str, list[str]] | None:
        """`{split: files}` for the local files given, or `None` if none were."""
        files = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        files = {split: paths for split, paths in files.items() if paths}
        return files or None

    def has_data(self) -> bool:
        return self.dataset_name is not None or self.data_files() is not None


@dataclass
class ModelArguments:
    """The model and its tokenizer: trained from scratch (the default) or loaded from a saved folder."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Start from this saved model (a folder or a Hub name) instead of a new one."}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Use this saved tokenizer instead of training one on the training data."}
    )
    tokenizer_algorithm: str = field(
        default="bpe",
        metadata={
            "help": "Subword algorithm of a trained tokenizer.",
            "choices": ["bpe", "byte_bpe", "wordpiece", "unigram"],
        },
    )
    vocab_size: int = field(default=37000, metadata={"help": "Vocabulary size of a trained tokenizer."})
    lowercase: bool = field(default=False, metadata={"help": "Lower-case text in a trained tokenizer."})
    d_model: int = field(default=512, metadata={"help": "Model width."})
    num_heads: int = field(default=8, metadata={"help": "Attention heads."})
    d_ff: int = field(default=2048, metadata={"help": "Inner width of the feed-forward layers."})
    num_layers: int = field(default=6, metadata={"help": "Layers (per side for encoder-decoder models)."})
    dropout: float = field(default=0.1, metadata={"help": "Residual and embedding dropout."})
    attention_dropout: float = field(default=0.0, metadata={"help": "Dropout on attention probabilities."})
    activation_dropout: float = field(default=0.0, metadata={"help": "Dropout after the feed-forward activation."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Other config fields of a new model, e.g. 'norm_first=true,activation_function=gelu'."},
    )


@dataclass
class RecipeArguments:
    """The parts of the paper's recipe that are not `TrainingArguments` fields."""

    lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "Factor on the paper's learning rate d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), "
            "used when --learning_rate is not given."
        },
    )
    average_checkpoints: int = field(
        default=PAPER_CHECKPOINTS_AVERAGED,
        metadata={"help": "The final model averages the last N checkpoints (the paper: 5; 1 keeps the last)."},
    )
    max_tokens_per_batch: int | None = field(
        default=None,
        metadata={
            "help": "Training batches of up to this many padded tokens per process (sentence pairs: the longer side "
            "counts), as the paper's and fairseq's --max-tokens, instead of --per_device_train_batch_size examples."
        },
    )
    max_train_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Stop training after this many minutes (saving a checkpoint there), whatever the epochs or "
            "steps asked for; a resumed run counts the minutes it trained before."
        },
    )
    cooldown_fraction: float = field(
        default=0.0,
        metadata={
            "help": "With --max_train_minutes: the learning rate decays linearly to zero over this last fraction of "
            "the time (0.3: the last 18 of 60 minutes), however many steps the machine makes by then. 0: the "
            "schedule alone, which does not depend on the planned length."
        },
    )

    def __post_init__(self):
        if not 0.0 <= self.cooldown_fraction <= 1.0:
            raise ValueError(f"--cooldown_fraction must be between 0 and 1, got {self.cooldown_fraction}.")
        if self.cooldown_fraction and not self.max_train_minutes:
            raise ValueError("--cooldown_fraction is a fraction of --max_train_minutes: give both, or neither.")


def paper_training_defaults(seq2seq: bool = True) -> dict:
    """The paper's recipe as parser defaults of `TrainingArguments` flags. `learning_rate` is `None` until
    `set_learning_rate` fills in the paper's value for the model's d_model (unless `--learning_rate` was given)."""
    defaults = dict(PAPER_TRAINING_ARGUMENTS, learning_rate=None)
    if seq2seq:
        defaults.update(PAPER_SEQ2SEQ_TRAINING_ARGUMENTS)
    return defaults


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """`--help` with each option's default (the library's choice) and the description and epilog as written."""


def build_parser(
    dataclass_types: Sequence[type],
    *,
    seq2seq: bool = True,
    defaults: Mapping | None = None,
    description: str | None = None,
    epilog: str | None = None,
    usage: str | None = None,
) -> HfArgumentParser:
    """An `HfArgumentParser` over `dataclass_types` and `Seq2SeqTrainingArguments` (`TrainingArguments` with
    `seq2seq=False`), with the paper's recipe and then `defaults` as the defaults, and `usage`, `description` and
    `epilog` in its `--help` (argparse's own usage lists every option: hundreds of lines before the description)."""
    training_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    parser = HfArgumentParser(
        (*dataclass_types, training_class),
        description=description,
        epilog=epilog,
        usage=usage,
        formatter_class=HelpFormatter,
    )
    set_parser_defaults(parser, {**paper_training_defaults(seq2seq), **machine_defaults(), **(defaults or {})})
    return parser


def machine_defaults() -> dict:
    """Defaults that depend on the machine: on one without a GPU (or other accelerator), train on the CPU
    (`--use_cpu`, which also makes `accelerate launch --multi_gpu --num_processes N` start N CPU processes) and do not
    pin memory."""
    has_accelerator = torch.accelerator.is_available()
    return {"use_cpu": not has_accelerator, "dataloader_pin_memory": has_accelerator}


def set_parser_defaults(parser: argparse.ArgumentParser, defaults: Mapping) -> None:
    """`parser.set_defaults(**defaults)`, refusing names that are not options of the parser (typos in presets)."""
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise ValueError(f"not options of this parser: {unknown}.")
    parser.set_defaults(**defaults)


def demo_unless_data(namespace: argparse.Namespace) -> str:
    """The examples' default preset (`parse_arguments(..., preset=demo_unless_data)`): "base" when the command line
    names data (`--dataset_name` or `--train_file`), "demo" (the built-in data) otherwise."""
    return "base" if namespace.dataset_name or namespace.train_file else "demo"


def presets_epilog(presets: Mapping[str, Mapping]) -> str:
    """The end of `--help`: each preset's values."""
    lines = ["presets (--preset NAME sets these defaults; options given on the command line override them):"]
    for name, values in presets.items():
        text = " ".join(f"{option}={_shown(value)}" for option, value in values.items())
        lines += textwrap.wrap(text, width=116, initial_indent=f"  {name}: ", subsequent_indent="      ")
    return "\n".join(lines)


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def parse_arguments(
    dataclass_types: Sequence[type],
    argv: Sequence[str] | None = None,
    *,
    seq2seq: bool = True,
    defaults: Mapping | None = None,
    presets: Mapping[str, Mapping] | None = None,
    preset: str | Callable[[argparse.Namespace], str] | None = None,
    description: str | None = None,
) -> tuple:
    r"""
    Parse `argv` (default: the command line) into one instance of each of `dataclass_types`, then the training
    arguments (last).

    Defaults, weakest first: the dataclasses' own, the paper's recipe (`paper_training_defaults`), `defaults`, then the
    chosen preset. A preset is a mapping from option names to values; the one used is `--preset NAME` when one of
    `dataclass_types` has a `preset` field and the command line sets it, otherwise `preset` (a name, or a function of
    the first-pass namespace returning one, e.g. to pick a demo preset when no data is given). Options given on the
    command line always win.

    `--help` starts with `description`, shows the defaults of the preset the rest of the command line chooses
    (`--preset base --help` shows the base preset's) and ends with the values of every preset.
    """
    parser = build_parser(
        dataclass_types,
        seq2seq=seq2seq,
        defaults=defaults,
        description=description,
        epilog=presets_epilog(presets) if presets else None,
        usage=f"%(prog)s [--preset {{{','.join(presets)}}}] [OPTIONS]" if presets else "%(prog)s [OPTIONS]",
    )
    if presets:
        # Which preset applies, before `--help` prints the defaults: it shows the chosen preset's values.
        first_pass = [arg for arg in (sys.argv[1:] if argv is None else argv) if arg not in ("-h", "--help")]
        namespace, _ = parser.parse_known_args(first_pass)
        name = getattr(namespace, "preset", None)
        if name is None:
            name = preset(namespace) if callable(preset) else preset
        if name is not None:
            if name not in presets:
                parser.error(f"unknown preset {name!r}; choose one of {sorted(presets)}.")
            set_parser_defaults(parser, presets[name])
            if hasattr(namespace, "preset"):
                set_parser_defaults(parser, {"preset": name})
            parser.description = (parser.description or "").rstrip() + (
                f"\n\nThe defaults shown below are the {name!r} preset's, which this command line chooses "
                "(--preset NAME --help shows another's); the end lists every preset's values.\n"
            )
    return tuple(parser.parse_args_into_dataclasses(args=argv))


def set_learning_rate(training_args: TrainingArguments, d_model: int, lr_scale: float = 1.0) -> float:
    """Fill in `training_args.learning_rate` with the paper's peak, `lr_scale * (d_model * warmup_steps)^-0.5`, unless
    it was given; return the learning rate."""
    if training_args.learning_rate is None:
        warmup = training_args.warmup_steps
        if not warmup >= 1:
            raise ValueError(
                f"the paper's learning rate needs --warmup_steps in steps (got {warmup!r}); give --learning_rate "
                "explicitly to use a warmup ratio."
            )
        training_args.learning_rate = paper_learning_rate(d_model, int(warmup), scale=lr_scale)
    return training_args.learning_rate


def parse_config_overrides(overrides: str | None, config_class: type[PreTrainedConfig]) -> dict:
    """`"norm_first=true,dropout=0.3,activation_function=gelu"` -> `{"norm_first": True, "dropout": 0.3, ...}`, each
    value read as JSON (so numbers, booleans and null work) or else kept as a string; names are checked against
    `config_class`."""
    if not overrides:
        return {}
    known = set(config_class().to_dict())
    result = {}
    for item in overrides.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"config overrides are name=value pairs separated by commas, got {item!r}.")
        if name not in known:
            raise ValueError(f"{config_class.__name__} has no field {name!r}.")
        value = value.strip()
        if value.lower() in ("true", "false", "null", "none"):
            value = {"true": "true", "false": "false"}.get(value.lower(), "null")
        try:
            result[name] = json.loads(value)
        except json.JSONDecodeError:
            result[name] = value
    return result


__all__ = [
    "DataArguments",
    "HelpFormatter",
    "ModelArguments",
    "RecipeArguments",
    "build_parser",
    "demo_unless_data",
    "machine_defaults",
    "paper_training_defaults",
    "parse_arguments",
    "parse_config_overrides",
    "presets_epilog",
    "set_learning_rate",
    "set_parser_defaults",
]
