"""Sequence classification, end to end: train a tokenizer, optionally pretrain an encoder-only Transformer as a masked
language model on the training texts, fine-tune it for classification with `Trainer`, report accuracy (through
`evaluate`), print a few predictions and save a model folder that `AutoModelForSequenceClassification` and
`AutoTokenizer` load (and the pretrained encoder, which `AutoModelForMaskedLM` loads).

    python examples/classification.py                       # the demo: built-in data, a few minutes on a laptop CPU
    python -m vanilla_transformer.examples.classification   # the same, from an installed package
    accelerate launch examples/classification.py ...        # any of these on several processes, GPUs or machines

Data (without any of these options the example generates film reviews labelled by sentiment,
`synthetic_sentiment.py`):

    --train_file train.tsv --validation_file dev.tsv --column_names label sentence   # TSV/CSV without a header
    --train_file train.csv --validation_file dev.csv --text_column review --label_column stars   # with a header
    --train_file train.jsonl --validation_file dev.jsonl                              # JSON lines, Parquet
    --dataset_name nyu-mll/glue --dataset_config_name sst2                            # the Hub
    --text_pair_column question                                                       # sentence-pair tasks

Two stages, in one run (`--mlm_pretrain_steps`, default per preset):

1. masked-LM pretraining (BERT's objective, `DataCollatorForLanguageModeling`) of a new encoder on the texts of the
   training split, each text one sequence; checkpoints in OUTPUT_DIR/mlm, the encoder in OUTPUT_DIR/mlm/model;
2. fine-tuning of that encoder (or of a new one with `--mlm_pretrain_steps 0`, or of `--model_name_or_path`) with a
   classification head on the pooled sequence (`--config_overrides classifier_pooling=mean` for mean pooling);
   checkpoints in OUTPUT_DIR, the classifier in OUTPUT_DIR/model.

`--resume_from_checkpoint latest` continues an interrupted run where it stopped, in whichever stage. Presets choose
the defaults of the model size and the schedule (`--preset`, see PRESETS): `demo` without data options, `base` (the
paper's base model as an encoder) with them, `sst2` for the SST-2 benchmark (benchmarks/sst2.py). Every
`TrainingArguments` option works, with the paper's recipe as the default (Adam 0.9/0.98/1e-9, the inverse-square-root
schedule) but without label smoothing.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    set_seed,
)

from vanilla_transformer.examples import synthetic_sentiment
from vanilla_transformer.examples.allocator import keep_freed_memory
from vanilla_transformer.examples.arguments import (
    DataArguments,
    ModelArguments,
    RecipeArguments,
    demo_unless_data,
    parse_arguments,
    set_learning_rate,
)
from vanilla_transformer.examples.common import (
    LATEST,
    MODEL_DIR,
    build_model,
    latest_complete_checkpoint,
    load_or_train_tokenizer,
    run_callbacks,
    save_final_model,
    save_learning_curves_of,
    setup_logging,
    start_run,
    training_summary,
    write_final_model_card,
)
from vanilla_transformer.examples.data import load_dataset_splits
from vanilla_transformer.examples.metrics import load_metric
from vanilla_transformer.tokenization import encode_texts
from vanilla_transformer.training import InOrderTrainer


logger = logging.getLogger("vanilla_transformer.examples.classification")

DEFAULT_OUTPUT_DIR = "runs/classification"
MLM_DIR = "mlm"  # inside output_dir: the masked-LM stage (its checkpoints, and the pretrained encoder in mlm/model)
TEXT, PAIR, LABEL = "text", "text_pair", "label"  # the columns every split is brought to
EXAMPLE_ID = "example_id"  # the masked-LM stage numbers its examples: their masks depend on it

# Defaults by preset; options on the command line override them. Model fields not named keep ModelArguments'
# defaults (the paper's base model), training options the paper's recipe (without label smoothing).
PRESETS = {
    # The built-in reviews: a small encoder, pretrained for 1500 masked-LM steps, then fine-tuned for 5 epochs: ~100%
    # validation accuracy in about 2 minutes on 2 CPU cores (98.7% without the pretraining; a bag-of-words classifier
    # gets 65%). Post-LN blocks train stably here with a peak learning rate of 1e-3, below the paper's formula's.
    "demo": dict(
        tokenizer_algorithm="wordpiece",
        vocab_size=1000,
        d_model=128,
        num_heads=4,
        d_ff=512,
        num_layers=3,
        dropout=0.1,
        max_seq_length=64,
        mlm_pretrain_steps=1500,
        warmup_steps=200,
        learning_rate=1e-3,
        num_train_epochs=5,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=128,
        save_strategy="steps",
        save_steps=250,
        save_total_limit=2,
        average_checkpoints=1,
        logging_steps=50,
        eval_strategy="epoch",
    ),
    # The paper's base model as an encoder (d_model 512, 6 layers, 8 heads), on your data.
    "base": dict(
        tokenizer_algorithm="wordpiece",
        vocab_size=30000,
        max_seq_length=128,
        mlm_pretrain_steps=10000,
        per_device_train_batch_size=32,
        save_strategy="steps",
        save_steps=1000,
        save_total_limit=5,
        average_checkpoints=1,
        logging_steps=100,
        eval_strategy="steps",
        eval_steps=1000,
    ),
    # SST-2 sentence-level sentiment from the TSV files (label<TAB>sentence): see benchmarks/sst2.py.
    "sst2": dict(
        column_names=["label", "sentence"],
        class_names=["negative", "positive"],
        tokenizer_algorithm="wordpiece",
        vocab_size=8000,
        d_model=128,
        num_heads=4,
        d_ff=512,
        num_layers=3,
        dropout=0.1,
        max_seq_length=64,
        mlm_pretrain_steps=0,
        warmup_steps=200,
        learning_rate=1e-3,
        num_train_epochs=4,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=128,
        save_strategy="epoch",
        save_total_limit=2,
        average_checkpoints=1,
        logging_steps=50,
        eval_strategy="epoch",
    ),
}


@dataclass
class ClassificationArguments:
    """Options of this example."""

    preset: str | None = field(
        default=None,
        metadata={
            "help": f"Defaults for the model size and schedule: one of {sorted(PRESETS)}. Default: 'demo' "
            "without data options, 'base' with them.",
            "choices": sorted(PRESETS),
        },
    )
    text_column: str = field(default="sentence", metadata={"help": "The column holding the texts."})
    text_pair_column: str | None = field(
        default=None, metadata={"help": "A second text column, for sentence-pair tasks (entailment, paraphrase)."}
    )
    label_column: str = field(default="label", metadata={"help": "The column holding the labels."})
    class_names: list[str] | None = field(
        default=None,
        metadata={
            "help": "Names of the labels 0, 1, ... when the data hold integers (default: the dataset's class "
            "names, or the integers as strings). Labels given as strings are numbered in sorted order."
        },
    )
    max_seq_length: int = field(default=128, metadata={"help": "Truncate texts (pairs) to this many tokens."})
    mlm_pretrain_steps: int = field(
        default=0,
        metadata={
            "help": "Steps of masked-LM pretraining of the encoder on the training texts before fine-tuning "
            "(0: fine-tune a new encoder, or --model_name_or_path, directly)."
        },
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of the tokens masked in pretraining."})
    mlm_learning_rate: float | None = field(
        default=None, metadata={"help": "Peak learning rate of the pretraining (default: the fine-tuning's)."}
    )
    num_samples: int = field(default=5, metadata={"help": "Validation predictions to print at the end."})
    synthetic_train_size: int = field(
        default=synthetic_sentiment.DEFAULT_SIZES["train"], metadata={"help": "Training reviews of the built-in data."}
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the built-in data."})


def parse_args(argv=None):
    """(model_args, data_args, recipe_args, classification_args, training_args) from the command line or `argv`."""

    return parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, ClassificationArguments),
        argv,
        seq2seq=False,
        defaults={"output_dir": DEFAULT_OUTPUT_DIR, "label_smoothing_factor": 0.0},
        presets=PRESETS,
        preset=demo_unless_data,
        description=__doc__,
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the example; return its results (validation accuracy, the model folders, sample predictions, timings)."""
    start = time.perf_counter()
    model_args, data_args, recipe_args, args, training_args = parse_args(argv)
    setup_logging(training_args)

    raw, label_names = load_classification_data(data_args, args)
    output_dir = Path(training_args.output_dir)
    mlm_args, mlm_resume, mlm_done = plan_pretraining(training_args, args)
    finetune_resume = stage_checkpoint(training_args.resume_from_checkpoint, output_dir)
    tokenizer_source = mlm_resume or (str(output_dir / MLM_DIR / MODEL_DIR) if mlm_done else None) or finetune_resume
    set_seed(training_args.seed)
    tokenizer = load_or_train_tokenizer(
        model_args,
        training_args,
        lambda: raw["train"],
        text_column=[TEXT, PAIR] if PAIR in raw["train"].column_names else TEXT,
        variant="encoder",
        resume_from_checkpoint=tokenizer_source,
    )
    with training_args.main_process_first(desc="tokenizing the data"):
        tokenized = tokenize_splits(raw, tokenizer, args, data_args)
    labelled = datasets.DatasetDict(
        {split: data.remove_columns("special_tokens_mask") for split, data in tokenized.items()}
    )
    results = {"label_names": label_names}

    # Stage 1: masked-LM pretraining of the encoder on the training texts.
    encoder_dir = model_args.model_name_or_path
    if mlm_args is not None:
        if mlm_done:
            logger.info("Masked-LM pretraining already done: fine-tuning %s.", output_dir / MLM_DIR / MODEL_DIR)
            encoder_dir = str(output_dir / MLM_DIR / MODEL_DIR)
        else:
            pretrained = pretrain(model_args, recipe_args, mlm_args, mlm_resume, tokenizer, tokenized, args)
            results.update(pretrained)
            encoder_dir = pretrained["mlm_model_dir"]

    # Stage 2: fine-tuning with a classification head.
    training_args.resume_from_checkpoint = finetune_resume
    resume = start_run(training_args)
    set_seed(training_args.seed)
    model = classifier(model_args, tokenizer, label_names, encoder_dir)
    learning_rate = set_learning_rate(training_args, model.config.d_model, recipe_args.lr_scale)
    logger.info(
        "Classifier: %s parameters, d_model %d, %d layers, %s pooling, %d labels %s; %s; peak learning rate %.3g.",
        f"{model.num_parameters():,}",
        model.config.d_model,
        model.config.num_layers,
        model.config.classifier_pooling,
        len(label_names),
        label_names,
        f"encoder from {encoder_dir}" if encoder_dir else "a new encoder",
        learning_rate,
    )
    evaluating = "validation" in labelled
    if training_args.eval_strategy != "no" and not evaluating:
        raise ValueError(f"--eval_strategy {training_args.eval_strategy} needs a validation split.")
    metric = load_metric("accuracy")
    trainer = InOrderTrainer(
        model=model,
        args=training_args,
        train_dataset=labelled["train"],
        eval_dataset=labelled["validation"] if evaluating else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy(metric),
        callbacks=run_callbacks(recipe_args),
        max_tokens_per_batch=recipe_args.max_tokens_per_batch,
    )
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    model_dir, averaged = save_final_model(trainer, recipe_args.average_checkpoints)
    save_learning_curves_of(trainer, model_dir, title=output_dir.name)
    results.update(
        {
            "model_dir": str(model_dir.resolve()),
            "averaged_checkpoints": [p.name for p in averaged],
            "global_step": trainer.state.global_step,
            # the training texts' tokens (padding aside) times the epochs trained
            "train_tokens": round(sum(map(len, labelled["train"]["input_ids"])) * (trainer.state.epoch or 0)),
            "train_loss": train_result.metrics.get("train_loss"),
        }
    )
    if evaluating:
        results.update(
            evaluate_model(
                model_dir,
                tokenizer,
                labelled["validation"],
                raw["validation"],
                training_args,
                metric,
                args.num_samples,
            )
        )
    encoder = f"the encoder pretrained as a masked LM in `{encoder_dir}`" if encoder_dir else "a new encoder"
    write_final_model_card(
        model_dir,
        AutoModelForSequenceClassification,
        training_args,
        description=f"Classifies texts as {', '.join(f'`{name}`' for name in label_names)}: an encoder-only "
        f"Transformer ({encoder}, fine-tuned with a classification head) trained by the classification example of "
        "the `vanilla-transformer` package.",
        datasets=[data_args.dataset_name] if data_args.dataset_name else None,
        training_data=describe_data(data_args, args, raw),
        training=training_summary("classification.py", args.preset, trainer, averaged, model_dir),
        metrics={
            f"accuracy, validation ({results['eval_examples']} examples)": results["eval_accuracy"],
            "validation loss": results["eval_loss"],
        }
        if evaluating
        else None,
    )
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    if training_args.process_index == 0:
        report(results, training_args)
    return results


# --- data ----------------------------------------------------------------------------------------------------------


def load_classification_data(
    data_args: DataArguments, args: ClassificationArguments
) -> tuple[datasets.DatasetDict, list[str]]:
    """The splits with columns `text` (and `text_pair`) and `label` (integers 0..n-1), and the names of the labels.
    Splits whose labels are all missing (-1, as in GLUE's test sets) are dropped."""
    if not data_args.has_data():
        sizes = dict(synthetic_sentiment.DEFAULT_SIZES, train=args.synthetic_train_size)
        raw = synthetic_sentiment.synthetic_sentiment_dataset(sizes, seed=args.synthetic_seed)
    else:
        raw = load_dataset_splits(
            dataset_name=data_args.dataset_name,
            dataset_config_name=data_args.dataset_config_name,
            data_files=data_args.data_files(),
            column_names=data_args.column_names,
            cache_dir=data_args.data_cache_dir,
        )
    if "train" not in raw:
        raise ValueError("no training split: give --train_file or a --dataset_name that has one.")
    columns = {args.text_column: TEXT, args.label_column: LABEL}
    if args.text_pair_column:
        columns[args.text_pair_column] = PAIR
    for split, data in raw.items():
        missing = [name for name in columns if name not in data.column_names]
        if missing:
            raise ValueError(
                f"the {split} split has no column(s) {missing} (it has {data.column_names}); name the "
                "columns with --text_column / --label_column (and --column_names for files without a header)."
            )
    raw = datasets.DatasetDict(
        {
            split: data.select_columns(list(columns)).rename_columns(
                {old: new for old, new in columns.items() if old != new}
            )
            for split, data in raw.items()
        }
    )
    raw, label_names = encode_labels(raw, args.class_names)
    if data_args.max_train_samples is not None:
        raw["train"] = raw["train"].select(range(min(data_args.max_train_samples, len(raw["train"]))))
    if data_args.max_eval_samples is not None and "validation" in raw:
        raw["validation"] = raw["validation"].select(range(min(data_args.max_eval_samples, len(raw["validation"]))))
    return raw, label_names


def describe_data(data_args: DataArguments, args: ClassificationArguments, raw: datasets.DatasetDict) -> str:
    """The training data, in a sentence of the model card."""
    if data_args.dataset_name:
        config = f" ({data_args.dataset_config_name})" if data_args.dataset_config_name else ""
        where = f"The `{data_args.dataset_name}`{config} dataset of the Hugging Face Hub"
    elif data_args.train_file:
        where = "The files " + ", ".join(f"`{Path(path).name}`" for path in data_args.train_file)
    else:
        where = (
            "The example's built-in film reviews (`examples/synthetic_sentiment.py`, seed "
            f"{args.synthetic_seed}), labelled by sentiment that depends on word order (negation, 'but' clauses)"
        )
    validation = f", {len(raw['validation']):,} validation examples" if "validation" in raw else ""
    return f"{where}: {len(raw['train']):,} training examples{validation}."


def encode_labels(raw: datasets.DatasetDict, label_names: list[str] | None) -> tuple[datasets.DatasetDict, list[str]]:
    """Labels as integers 0..n-1 and their names: a `ClassLabel`'s own, or `label_names` for integer labels (else
    the integers as strings), or the sorted distinct strings of string labels."""
    feature = raw["train"].features[LABEL]
    if isinstance(feature, datasets.ClassLabel):
        names = label_names or feature.names
    elif feature.dtype.startswith(("int", "uint")):
        values = sorted({int(v) for data in raw.values() for v in data[LABEL] if v != -1})
        if not values or values[0] < 0:
            raise ValueError(f"integer labels must be 0..n-1 (-1 for unlabelled), got {values}.")
        if label_names is not None and values[-1] >= len(label_names):
            raise ValueError(f"--class_names names {len(label_names)} labels, but the data have label {values[-1]}.")
        names = label_names or [str(v) for v in range(values[-1] + 1)]
    else:
        names = sorted({str(v) for data in raw.values() for v in data[LABEL]})
        index = {name: i for i, name in enumerate(names)}
        raw = raw.map(
            lambda batch: {LABEL: [index[str(v)] for v in batch[LABEL]]}, batched=True, desc="numbering labels"
        )
    if len(names) < 2:
        raise ValueError(f"classification needs at least two labels, got {names}.")
    kept = {}
    for split, data in raw.items():
        if split != "train" and all(v == -1 for v in data[LABEL]):
            logger.info("Leaving out the %s split: it has no labels.", split)
            continue
        kept[split] = data
    return datasets.DatasetDict(kept), list(names)


def tokenize_splits(
    raw: datasets.DatasetDict, tokenizer, args: ClassificationArguments, data_args: DataArguments
) -> datasets.DatasetDict:
    """`input_ids`, `attention_mask`, `special_tokens_mask` (for the masked-LM collator) and `labels`."""

    def encode(batch):
        pairs = batch.get(PAIR, None)
        features = encode_texts(
            tokenizer,
            batch[TEXT],
            pairs,
            max_length=args.max_seq_length,
            truncation=True,
            return_special_tokens_mask=True,
        )
        features["labels"] = batch[LABEL]
        return features

    return datasets.DatasetDict(
        {
            split: data.map(
                encode,
                batched=True,
                remove_columns=data.column_names,
                num_proc=data_args.preprocessing_num_workers,
                desc=f"tokenizing {split}",
            )
            for split, data in raw.items()
        }
    )


# --- the two stages -----------------------------------------------------------------------------------------------


def stage_checkpoint(requested: str | None, stage_dir: Path) -> str | None:
    """What `--resume_from_checkpoint` means for the stage writing to `stage_dir`: its newest complete checkpoint if
    the run asked for the latest and the stage has one, a checkpoint path if the run named one of this stage's, else
    None."""
    if not requested:
        return None
    if str(requested).lower() in LATEST:
        latest = latest_complete_checkpoint(stage_dir)
        return str(latest) if latest is not None else None
    path = Path(requested)
    return str(path) if path.parent.resolve() == stage_dir.resolve() else None


def plan_pretraining(training_args, args: ClassificationArguments):
    """(training arguments of the masked-LM stage or None if there is none, the checkpoint it resumes from, whether a
    resumed run finished it already)."""
    if args.mlm_pretrain_steps <= 0:
        return None, None, False
    output_dir = Path(training_args.output_dir)
    mlm_dir = output_dir / MLM_DIR
    requested = training_args.resume_from_checkpoint
    finetune_started = stage_checkpoint(requested, output_dir) is not None
    done = (
        bool(requested)
        and (mlm_dir / MODEL_DIR / "config.json").is_file()
        and (finetune_started or stage_checkpoint(requested, mlm_dir) is None)
    )
    mlm_args = copy.deepcopy(training_args)
    mlm_args.output_dir = str(mlm_dir)
    mlm_args.max_steps = args.mlm_pretrain_steps
    if args.mlm_learning_rate is not None:
        mlm_args.learning_rate = args.mlm_learning_rate
    mlm_args.eval_strategy, mlm_args.eval_on_start = "no", False  # the validation loss is computed once, at the end
    mlm_args.resume_from_checkpoint = None if done else stage_checkpoint(requested, mlm_dir)
    return mlm_args, mlm_args.resume_from_checkpoint, done


def pretrain(model_args, recipe_args, mlm_args, resume, tokenizer, tokenized, args: ClassificationArguments) -> dict:
    """Stage 1: pretrain a new encoder (or `--model_name_or_path`) as a masked LM; save it to OUTPUT_DIR/mlm/model."""
    resume = start_run(mlm_args)
    set_seed(mlm_args.seed)
    model = build_model(AutoModelForMaskedLM, model_args, tokenizer, "encoder", num_layers=model_args.num_layers)
    learning_rate = set_learning_rate(mlm_args, model.config.d_model, recipe_args.lr_scale)
    logger.info(
        "Masked-LM pretraining: %s parameters, %d steps, %.0f%% of the tokens masked, peak learning rate %.3g.",
        f"{model.num_parameters():,}",
        mlm_args.max_steps,
        100 * args.mlm_probability,
        learning_rate,
    )
    texts = {
        split: data.remove_columns("labels").add_column(EXAMPLE_ID, list(range(len(data))))
        for split, data in tokenized.items()
    }
    mlm_args.remove_unused_columns = (
        False  # the collator reads `special_tokens_mask` and `example_id`, then drops them
    )
    collator = ReproducibleMaskingCollator(
        tokenizer, mlm=True, mlm_probability=args.mlm_probability, mask_seed=mlm_args.seed
    )
    trainer = InOrderTrainer(
        model=model,
        args=mlm_args,
        train_dataset=texts["train"],
        eval_dataset=texts.get("validation"),
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=run_callbacks(recipe_args),
        max_tokens_per_batch=recipe_args.max_tokens_per_batch,
    )
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.log_metrics("mlm_train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    results = {"mlm_train_loss": train_result.metrics.get("train_loss")}
    if "validation" in texts:
        metrics = trainer.evaluate(metric_key_prefix="mlm_eval")
        trainer.log_metrics("mlm_eval", metrics)
        results.update(
            mlm_eval_loss=metrics["mlm_eval_loss"], mlm_perplexity=math.exp(min(metrics["mlm_eval_loss"], 700))
        )
    model_dir, averaged = save_final_model(trainer, recipe_args.average_checkpoints)
    run_name = Path(mlm_args.output_dir).parent.name
    save_learning_curves_of(trainer, model_dir, title=f"{run_name}: masked-LM pretraining")
    metrics = {"validation loss (masked tokens)": results["mlm_eval_loss"]} if "mlm_eval_loss" in results else None
    write_final_model_card(
        model_dir,
        AutoModelForMaskedLM,
        mlm_args,
        title=f"{run_name}-mlm",
        description="Fills in masked tokens: an encoder-only Transformer pretrained as a masked LM (BERT's objective, "
        f"{100 * args.mlm_probability:.0f}% of the tokens masked) by the classification example of the "
        "`vanilla-transformer` package, before it fine-tuned a classifier from it.",
        training_data="The texts of the classification training data (their labels unused).",
        training=training_summary("classification.py", args.preset, trainer, averaged, model_dir),
        metrics=metrics,
    )
    results["mlm_model_dir"] = str(model_dir.resolve())
    return results


@dataclass
class ReproducibleMaskingCollator(DataCollatorForLanguageModeling):
    """`DataCollatorForLanguageModeling` (BERT's masking: 80% <mask>, 10% random, 10% kept) whose masks are a function
    of the batch, i.e. of `mask_seed` and the `example_id`s of its examples, instead of the state of a random generator.

    The library's collator draws its masks from the global RNG, and `Trainer` collates the batches after a mid-epoch
    resume before it restores the RNG state of the checkpoint (transformers issue #39215; the data loader also reads
    ahead), so a resumed run would mask differently from an uninterrupted one. Masks that depend on the examples only
    are the same whenever and wherever (data-loader workers, processes) a batch is collated. They still change from
    epoch to epoch (dynamic masking) as shuffling puts the examples in other batches."""

    mask_seed: int = 0

    def torch_call(self, examples):
        ids = [example.pop(EXAMPLE_ID) for example in examples]
        seed = int(np.random.SeedSequence([self.mask_seed, *ids]).generate_state(1)[0])
        self.generator = torch.Generator().manual_seed(seed)
        return super().torch_call(examples)


def classifier(model_args, tokenizer, label_names: list[str], encoder_dir: str | None):
    """The model to fine-tune: the encoder of `encoder_dir` (a pretrained masked LM or classifier) with a new
    classification head, or a new model."""
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if encoder_dir:
        from vanilla_transformer.tokenization import check_tokenizer_matches

        logger.info(
            "Loading the encoder of %s with a new classification head (the loading report lists the weights "
            "left out, e.g. a masked-LM head, and the new ones).",
            encoder_dir,
        )
        model = AutoModelForSequenceClassification.from_pretrained(encoder_dir, **labels)
        check_tokenizer_matches(tokenizer, model)
        return model
    return build_model(
        AutoModelForSequenceClassification,
        model_args,
        tokenizer,
        "encoder",
        num_layers=model_args.num_layers,
        **labels,
    )


def accuracy(metric):
    """`compute_metrics`: accuracy of the most likely labels, computed by `metric` (`load_metric("accuracy")`)."""

    def compute_metrics(eval_prediction) -> dict:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        return metric.compute(predictions=np.argmax(logits, axis=-1), references=eval_prediction.label_ids)

    return compute_metrics


def evaluate_model(model_dir, tokenizer, validation, raw_validation, training_args, metric, num_samples: int) -> dict:
    """Load the model folder, score it on the validation split; return accuracy, loss and sample predictions."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    trainer = InOrderTrainer(
        model=model,
        args=training_args,
        eval_dataset=validation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy(metric),
    )
    output = trainer.predict(validation, metric_key_prefix="eval")
    trainer.log_metrics("eval", output.metrics)
    trainer.save_metrics("eval", output.metrics)
    predicted = np.argmax(output.predictions, axis=-1)
    names = model.config.id2label
    samples = [
        {
            "text": raw_validation[i][TEXT],
            "label": names[int(raw_validation[i][LABEL])],
            "predicted": names[int(predicted[i])],
        }
        for i in range(min(num_samples, len(raw_validation)))
    ]
    return {
        "eval_accuracy": output.metrics["eval_accuracy"],
        "eval_loss": output.metrics["eval_loss"],
        "eval_examples": len(validation),
        "samples": samples,
    }


def report(results: dict, training_args) -> None:
    """Print the predictions, the accuracy and how to load the model; save the results as JSON."""
    lines = ["", "Predictions (validation):"]
    for sample in results.get("samples", []):
        mark = "ok   " if sample["predicted"] == sample["label"] else "WRONG"
        lines.append(f"  {mark} predicted {sample['predicted']!r:12} label {sample['label']!r:12} {sample['text']}")
    if "mlm_eval_loss" in results:
        lines += [
            "",
            f"Masked-LM pretraining: validation loss {results['mlm_eval_loss']:.4f} "
            f"(perplexity {results['mlm_perplexity']:.2f}); encoder saved to {results['mlm_model_dir']}.",
        ]
    if "eval_accuracy" in results:
        lines += [
            "",
            f"Validation accuracy: {results['eval_accuracy']:.4f} ({results['eval_examples']} examples; "
            f"loss {results['eval_loss']:.4f}; step {results['global_step']}).",
        ]
    model_dir = results["model_dir"]
    lines += [
        f"Wall time: {results['wall_time_s']:.0f} s.",
        "",
        f"Saved the classifier and its tokenizer to {model_dir}. Use them with:",
        "",
        "    import vanilla_transformer  # registers the model with the Auto classes",
        "    from transformers import pipeline",
        f'    classify = pipeline("text-classification", model={model_dir!r})',
        '    print(classify("the plot was not dull , but the ending was awful ."))',
    ]
    print("\n".join(lines))
    Path(training_args.output_dir, "classification_results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps (examples/allocator.py)
    main(sys.argv[1:])
