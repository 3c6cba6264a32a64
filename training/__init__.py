"""The training recipe of *Attention Is All You Need* and the pieces the examples share.

- `recipe`: the paper's optimizer, learning-rate schedule and label smoothing, for `Trainer` and for plain PyTorch.
- `checkpoints`: averaging the last checkpoints of a run into one model folder.
- `data`: datasets from local files (text, parallel text, CSV/TSV, JSON lines) or the Hub.
- `metrics`: `evaluate` metrics with bundled copies for offline machines (sacreBLEU).
- `arguments`, `runs`: the examples' command-line options and the steps around `Trainer`.
"""

from .arguments import (
    DataArguments,
    ModelArguments,
    RecipeArguments,
    build_parser,
    demo_unless_data,
    paper_training_defaults,
    parse_arguments,
    parse_config_overrides,
    set_learning_rate,
)
from ..atomic import atomic_directory
from .checkpoints import average_checkpoints, find_checkpoints
from .data import file_format, load_dataset_splits, load_local_dataset
from .metrics import LOCAL_METRICS, load_metric
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
from .runs import (
    MODEL_DIR,
    TOKENIZER_DIR,
    InOrderEvaluationMixin,
    InOrderSeq2SeqTrainer,
    InOrderTrainer,
    TimeLimitCallback,
    build_model,
    load_or_train_tokenizer,
    save_final_model,
    setup_logging,
    start_run,
)


__all__ = [
    "LOCAL_METRICS",
    "MODEL_DIR",
    "PAPER_ADAM_BETAS",
    "PAPER_ADAM_EPSILON",
    "PAPER_CHECKPOINTS_AVERAGED",
    "PAPER_LABEL_SMOOTHING",
    "PAPER_LENGTH_PENALTY",
    "PAPER_NUM_BEAMS",
    "PAPER_SEQ2SEQ_TRAINING_ARGUMENTS",
    "PAPER_TRAINING_ARGUMENTS",
    "PAPER_WARMUP_STEPS",
    "TOKENIZER_DIR",
    "DataArguments",
    "InOrderEvaluationMixin",
    "InOrderSeq2SeqTrainer",
    "InOrderTrainer",
    "TimeLimitCallback",
    "ModelArguments",
    "RecipeArguments",
    "atomic_directory",
    "average_checkpoints",
    "build_model",
    "build_parser",
    "demo_unless_data",
    "file_format",
    "find_checkpoints",
    "load_dataset_splits",
    "load_local_dataset",
    "load_metric",
    "load_or_train_tokenizer",
    "paper_learning_rate",
    "paper_lr_scheduler",
    "paper_optimizer",
    "paper_training_arguments",
    "paper_training_defaults",
    "parse_arguments",
    "parse_config_overrides",
    "save_final_model",
    "set_learning_rate",
    "setup_logging",
    "start_run",
]
