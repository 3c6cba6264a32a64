"""Causal language modelling, end to end: train a tokenizer, pretrain a decoder-only Transformer with `Trainer` on
texts grouped into blocks, report the validation loss, perplexity and next-token accuracy (through `evaluate`), print
text sampled with `generate()`, and save a model folder that `AutoModelForCausalLM` and `AutoTokenizer` load.

    python examples/language_modeling.py                       # the demo: built-in data, a few minutes on a laptop CPU
    python -m vanilla_transformer.examples.language_modeling   # the same, from an installed package
    accelerate launch examples/language_modeling.py ...        # any of these on several processes, GPUs or machines

Data (without any of these options the example uses the English side of the translation example's built-in corpus,
`synthetic_data.py`: one sentence per document):

    --train_file corpus.txt                                    # plain text, one document per line
    --train_file input.txt --keep_linebreaks --no_add_special_tokens   # one continuous text (a book), line by line
    --train_file train.jsonl --validation_file val.jsonl --text_column body   # CSV, TSV, JSON lines, Parquet
    --dataset_name Salesforce/wikitext --dataset_config_name wikitext-2-raw-v1   # the Hub

Without a validation split, the last `--validation_split_percentage` percent of the training text (by characters) is
held out. Texts are tokenized, concatenated and cut into blocks of `--block_size` tokens, the way the library's
`run_clm.py` does; each text is wrapped in `<s> ... </s>` unless `--no_add_special_tokens`.

Presets choose the defaults of the model size and the schedule (`--preset`, see PRESETS): `demo` without data
options, `base` (the paper's base model as a decoder) with them, and `shakespeare_char`, nanoGPT's character-level
CPU setting (see benchmarks/shakespeare_char.py). Every `TrainingArguments` option works (`--output_dir`,
`--max_steps`, `--resume_from_checkpoint latest`, `--report_to tensorboard`, ...), with the paper's recipe as the
default (Adam 0.9/0.98/1e-9, the inverse-square-root schedule) but without label smoothing. With
`--label_smoothing_factor`, training minimises the smoothed loss, but the validation loss and perplexity reported are
still the next-token negative log-likelihood, unsmoothed. The model folder gets a model card (data, preset, perplexity,
sampling settings, how to use it) and its learning curves (`learning_curves.json`, and a PNG with matplotlib).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    set_seed,
)

from vanilla_transformer.examples import synthetic_data
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
    build_model,
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


logger = logging.getLogger("vanilla_transformer.examples.language_modeling")

DEFAULT_OUTPUT_DIR = "runs/language_modeling"
TEXT = "text"  # the column every split is brought to
GROUP_BATCH_SIZE = 10_000  # texts concatenated at a time; evaluation splits keep each batch's last, shorter block

# Defaults by preset; options on the command line override them. Model fields not named keep ModelArguments'
# defaults (the paper's base model), training options the paper's recipe (without label smoothing).
PRESETS = {
    # The built-in data: a small model that learns the grammar (validation perplexity ~3.5) in a few minutes on 2 CPU
    # cores.
    "demo": dict(
        vocab_size=1000,
        d_model=128,
        num_heads=4,
        d_ff=512,
        num_layers=3,
        dropout=0.1,
        block_size=128,
        warmup_steps=200,
        lr_scale=2.0,
        num_train_epochs=8,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
        save_strategy="steps",
        save_steps=100,
        save_total_limit=3,
        average_checkpoints=3,
        logging_steps=50,
        eval_strategy="epoch",
    ),
    # The paper's base model as a decoder (d_model 512, 6 layers, 8 heads), on your data.
    "base": dict(
        vocab_size=16000,
        block_size=512,
        per_device_train_batch_size=16,
        save_strategy="steps",
        save_steps=2000,
        save_total_limit=5,
        average_checkpoints=5,
        logging_steps=100,
        eval_strategy="steps",
        eval_steps=2000,
    ),
    # nanoGPT's CPU run on tiny Shakespeare (README of karpathy/nanoGPT), with a higher learning rate and batch: characters
    # (a byte tokenizer without merges), 4 layers, 4 heads, d_model 128, d_ff 512, context 64, batch 16 (nanoGPT: 12),
    # 1400 steps (2000), AdamW lr 3e-3 (1e-3) with 100 warmup steps and a cosine decay to 3e-4 (1e-4), betas (0.9,
    # 0.99), weight decay 0.1, gradient clipping 1.0, no dropout, evaluation
    # every 250 steps on 240 validation blocks (nanoGPT's 20 batches of 12), the final one on the whole split; the
    # last 10% of the characters are the validation split. The blocks are the paper's (post-LN, sinusoidal positions)
    # but for GELU in the feed-forward layers and no biases in the blocks, as nanoGPT's: measured at 1600 steps, GELU
    # gives validation loss 1.656 against ReLU's 1.674 at the same speed (pre-LN: 1.722), so it reaches ReLU's loss in
    # fewer steps; without biases a step is 5-10% faster at the same loss (1.682 against 1.684 at 1400 steps). Loss
    # only, as nanoGPT (no accuracy metric: offline, `evaluate` spends 1.5 s retrying the Hub before the example
    # computes it itself).
    # See benchmarks/shakespeare_char.py.
    "shakespeare_char": dict(
        tokenizer_algorithm="byte_bpe",
        vocab_size=261,
        d_model=128,
        num_heads=4,
        d_ff=512,
        num_layers=4,
        dropout=0.0,
        config_overrides="activation_function=gelu,bias=false",
        block_size=64,
        keep_linebreaks=True,
        add_special_tokens=False,
        validation_split_percentage=10,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        max_steps=1400,
        learning_rate=3e-3,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": 3e-4},
        warmup_steps=100,
        adam_beta1=0.9,
        adam_beta2=0.99,
        adam_epsilon=1e-8,
        weight_decay=0.1,
        max_grad_norm=1.0,
        eval_strategy="steps",
        eval_steps=250,
        eval_blocks_during_training=240,
        eval_accuracy=False,
        logging_steps=50,
        save_strategy="steps",
        save_steps=250,
        save_total_limit=2,
        average_checkpoints=1,
        sample_max_new_tokens=300,
    ),
}


@dataclass
class LanguageModelingArguments:
    """Options of this example."""

    preset: str | None = field(
        default=None,
        metadata={
            "help": f"Defaults for the model size and schedule: one of {sorted(PRESETS)}. Default: 'demo' "
            "without data options, 'base' with them.",
            "choices": sorted(PRESETS),
        },
    )
    text_column: str = field(default=TEXT, metadata={"help": "The column holding the texts."})
    block_size: int = field(default=128, metadata={"help": "Tokens per training sequence (the context length)."})
    keep_linebreaks: bool = field(
        default=False,
        metadata={
            "help": "End every text with a line break: for plain-text files that hold one continuous text, "
            "so that the token stream is the file itself."
        },
    )
    add_special_tokens: bool = field(
        default=True,
        metadata={
            "help": "Wrap each text in <s> ... </s>, so the model learns where texts start and end. Turn off "
            "(--no_add_special_tokens) for one continuous text read line by line."
        },
    )
    validation_split_percentage: float = field(
        default=5.0,
        metadata={
            "help": "Without a validation split: hold out the last N percent of the training text, counted in "
            "characters (a text cut there is split in two)."
        },
    )
    eval_blocks_during_training: int | None = field(
        default=None,
        metadata={
            "help": "Evaluate during training on this many validation blocks, spread evenly over the split "
            "(nanoGPT's loss estimates); the final evaluation always covers the whole split. Default: all."
        },
    )
    eval_accuracy: bool = field(
        default=True, metadata={"help": "Also compute next-token accuracy (with `evaluate`) at each evaluation."}
    )
    num_samples: int = field(default=3, metadata={"help": "Texts to sample with generate() at the end."})
    sample_prompts: list[str] | None = field(
        default=None,
        metadata={
            "help": "Prompts to continue (default: none, i.e. texts sampled from <s>; with "
            "--no_add_special_tokens a line break)."
        },
    )
    sample_max_new_tokens: int = field(default=60, metadata={"help": "Length of the samples, in tokens."})
    sample_temperature: float = field(default=0.8, metadata={"help": "Sampling temperature."})
    sample_top_k: int = field(default=200, metadata={"help": "Sample from the k most likely tokens."})
    synthetic_train_size: int = field(
        default=synthetic_data.DEFAULT_SIZES["train"], metadata={"help": "Training sentences of the built-in data."}
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the built-in data."})


def parse_args(argv=None):
    """(model_args, data_args, recipe_args, lm_args, training_args) from the command line or `argv`."""

    return parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, LanguageModelingArguments),
        argv,
        seq2seq=False,
        defaults={"output_dir": DEFAULT_OUTPUT_DIR, "label_smoothing_factor": 0.0},
        presets=PRESETS,
        preset=demo_unless_data,
        description=__doc__,
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the example; return its results (validation loss and perplexity, the model folder, samples, timings)."""
    start = time.perf_counter()
    model_args, data_args, recipe_args, args, training_args = parse_args(argv)
    setup_logging(training_args)
    check_arguments(args)

    raw = load_text_data(data_args, args)
    resume = start_run(training_args)
    set_seed(training_args.seed)
    tokenizer = load_or_train_tokenizer(
        model_args,
        training_args,
        lambda: raw["train"],
        text_column=TEXT,
        variant="decoder",
        resume_from_checkpoint=resume,
    )
    model = build_model(AutoModelForCausalLM, model_args, tokenizer, "decoder", num_layers=model_args.num_layers)
    set_generation_defaults(model, args)
    learning_rate = set_learning_rate(training_args, model.config.d_model, recipe_args.lr_scale)
    logger.info(
        "Model: %s parameters, d_model %d, %d layers; vocabulary %d; context %d tokens; peak learning rate %.3g.",
        f"{model.num_parameters():,}",
        model.config.d_model,
        model.config.num_layers,
        len(tokenizer),
        args.block_size,
        learning_rate,
    )

    with training_args.main_process_first(desc="tokenizing and grouping the data"):
        blocks = tokenize_and_group(raw, tokenizer, args, data_args)
    logger.info("Blocks of %d tokens: %s.", args.block_size, ", ".join(f"{s} {len(d):,}" for s, d in blocks.items()))
    times = {"data_ready": time.time()}  # unix times of the phases, for benchmarks
    evaluating = "validation" in blocks
    if training_args.eval_strategy != "no" and not evaluating:
        raise ValueError(f"--eval_strategy {training_args.eval_strategy} needs a validation split.")
    metric = load_metric("accuracy") if evaluating and args.eval_accuracy else None
    trainer = language_model_trainer(
        model,
        training_args,
        tokenizer,
        metric,
        train_dataset=blocks["train"],
        eval_dataset=spread_subset(blocks["validation"], args.eval_blocks_during_training) if evaluating else None,
        max_tokens_per_batch=recipe_args.max_tokens_per_batch,
    )
    if evaluating:
        trainer.add_callback(LeaveLastEvaluationToTheFinalOne())
    for callback in run_callbacks(recipe_args):
        trainer.add_callback(callback)

    train_result = trainer.train(resume_from_checkpoint=resume)
    times["trained"] = time.time()
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    model_dir, averaged = save_final_model(trainer, recipe_args.average_checkpoints)
    save_learning_curves_of(trainer, model_dir, title=Path(training_args.output_dir).name)
    training_trainer = trainer
    results = {
        "model_dir": str(model_dir.resolve()),
        "averaged_checkpoints": [p.name for p in averaged],
        "add_special_tokens": args.add_special_tokens,
        "global_step": trainer.state.global_step,
        "train_tokens": trainer.state.global_step * tokens_per_step(training_args, recipe_args, args.block_size),
        "train_loss": train_result.metrics.get("train_loss"),
        "unix_times": times,
        "train_runtime_s": train_result.metrics.get("train_runtime"),
    }
    if averaged:
        logger.info(
            "Averaged %d checkpoints into %s: %s.", len(averaged), model_dir, ", ".join(p.name for p in averaged)
        )

    if len(averaged) > 1:  # the model folder holds an average of checkpoints, not the weights in memory
        final_model = AutoModelForCausalLM.from_pretrained(model_dir)
        trainer = language_model_trainer(
            final_model, training_args, tokenizer, metric, eval_dataset=blocks["validation"] if evaluating else None
        )
    if evaluating:
        results.update(evaluate_model(trainer, blocks["validation"]))
        times["final_eval"] = time.time()
    if training_args.process_index == 0:
        results["samples"] = sample_texts(
            trainer.accelerator.unwrap_model(trainer.model), tokenizer, args, seed=training_args.seed
        )
    metrics = {"validation loss (next-token NLL)": results["eval_loss"], "perplexity": results["perplexity"]}
    if "eval_accuracy" in results:
        metrics["next-token accuracy"] = results["eval_accuracy"]
    write_final_model_card(
        model_dir,
        AutoModelForCausalLM,
        training_args,
        description="Continues text: a decoder-only Transformer trained by the language-modelling example of the "
        "`vanilla-transformer` package.",
        datasets=[data_args.dataset_name] if data_args.dataset_name else None,
        training_data=describe_data(data_args, args, raw, blocks),
        training=training_summary("language_modeling.py", args.preset, training_trainer, averaged, model_dir),
        metrics=metrics if evaluating else None,
    )
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    if training_args.process_index == 0:
        report(results, training_args)
    return results


def check_arguments(args: LanguageModelingArguments) -> None:
    if args.block_size < 2:
        raise ValueError(f"--block_size must be at least 2 (a token and the one it predicts), got {args.block_size}.")
    if not 0 < args.validation_split_percentage < 100:
        raise ValueError(f"--validation_split_percentage must be in (0, 100), got {args.validation_split_percentage}.")


def load_text_data(data_args: DataArguments, args: LanguageModelingArguments) -> datasets.DatasetDict:
    """The splits, each with one column `text` (with a line break at the end of each text if `--keep_linebreaks`),
    and a validation split (held out from the training text if the data have none)."""
    if not data_args.has_data():
        sizes = {"train": args.synthetic_train_size, "validation": synthetic_data.DEFAULT_SIZES["validation"]}
        splits = synthetic_data.synthetic_translation_splits(sizes, seed=args.synthetic_seed)
        raw = datasets.DatasetDict(
            {
                split: datasets.Dataset.from_dict({TEXT: columns[synthetic_data.SOURCE_LANG]})
                for split, columns in splits.items()
            }
        )
    else:
        raw = load_dataset_splits(
            dataset_name=data_args.dataset_name,
            dataset_config_name=data_args.dataset_config_name,
            data_files=data_args.data_files(),
            column_names=data_args.column_names,
            cache_dir=data_args.data_cache_dir,
        )
        raw = datasets.DatasetDict({split: text_column(data, args.text_column, split) for split, data in raw.items()})
    if "train" not in raw:
        raise ValueError("no training split: give --train_file or a --dataset_name that has one.")
    if args.keep_linebreaks:
        raw = raw.map(
            lambda batch: {TEXT: [text + "\n" for text in batch[TEXT]]}, batched=True, desc="keeping line breaks"
        )
    if "validation" not in raw:
        raw["train"], raw["validation"] = split_off_tail(raw["train"], args.validation_split_percentage)
    if data_args.max_train_samples is not None:
        raw["train"] = raw["train"].select(range(min(data_args.max_train_samples, len(raw["train"]))))
    if data_args.max_eval_samples is not None:
        raw["validation"] = raw["validation"].select(range(min(data_args.max_eval_samples, len(raw["validation"]))))
    return raw


def describe_data(data_args: DataArguments, args: LanguageModelingArguments, raw, blocks) -> str:
    """The training data, in a sentence of the model card."""
    if data_args.dataset_name:
        config = f" ({data_args.dataset_config_name})" if data_args.dataset_config_name else ""
        where = f"The `{data_args.dataset_name}`{config} dataset of the Hugging Face Hub"
    elif data_args.train_file:
        where = "The files " + ", ".join(f"`{Path(path).name}`" for path in data_args.train_file)
    else:
        where = (
            "The English side of the example's built-in synthetic corpus (`examples/synthetic_data.py`, seed "
            f"{args.synthetic_seed})"
        )
    validation = f", {len(blocks['validation']):,} validation blocks" if "validation" in blocks else ""
    return (
        f"{where}: {len(raw['train']):,} training texts, concatenated and cut into {len(blocks['train']):,} blocks of "
        f"{args.block_size} tokens{validation}."
    )


def text_column(dataset: datasets.Dataset, column: str, split: str) -> datasets.Dataset:
    """The split reduced to one string column named `text`."""
    if column not in dataset.column_names:
        raise ValueError(
            f"the {split} split has no column {column!r} (it has {dataset.column_names}); choose the text "
            "column with --text_column."
        )
    dataset = dataset.select_columns([column])
    return dataset.rename_column(column, TEXT) if column != TEXT else dataset


def split_off_tail(dataset: datasets.Dataset, percentage: float) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(the first 100 - `percentage` percent of the characters of the texts, the rest), as two datasets of texts. The
    text in which the cut falls is split in two, so the cut is exact: nanoGPT's `data[:int(n * 0.9)]` for 10."""
    texts = dataset[:][TEXT]  # all rows at once: a list of strings
    total = sum(len(text) for text in texts)
    cut = int(total * (100 - percentage) / 100)
    seen = 0
    for index, text in enumerate(texts):
        if seen + len(text) >= cut:
            offset = cut - seen
            head = [*texts[:index], text[:offset]] if offset else texts[:index]
            tail = [text[offset:], *texts[index + 1 :]] if offset < len(text) else texts[index + 1 :]
            break
        seen += len(text)
    else:
        head, tail = texts, []
    if not head or not tail:
        raise ValueError(f"cannot hold out {percentage}% of {total} characters as a validation split.")
    return datasets.Dataset.from_dict({TEXT: head}), datasets.Dataset.from_dict({TEXT: tail})


def tokenize_and_group(
    raw: datasets.DatasetDict, tokenizer, args: LanguageModelingArguments, data_args: DataArguments
) -> datasets.DatasetDict:
    """Tokenize every split, concatenate its texts and cut the stream into blocks of `block_size` tokens (the
    library's `run_clm.py`). Training drops the last incomplete block of every `GROUP_BATCH_SIZE` texts; evaluation
    splits keep it, so that the validation loss covers the whole split."""
    # Each text as the model learns it, <s> text </s>, so that it learns where texts start and end. The tokenizer's
    # own template is not used: it adds only <s>, as prompts need (decoder tokenizers saved by 0.1.0 add both).
    wrap = args.add_special_tokens
    start = [tokenizer.bos_token_id] if wrap and tokenizer.bos_token_id is not None else []
    end = [tokenizer.eos_token_id] if wrap and tokenizer.eos_token_id is not None else []

    def tokenize(batch: dict) -> dict:
        texts = encode_texts(tokenizer, batch[TEXT], add_special_tokens=False, return_attention_mask=False)
        return {"input_ids": [start + ids + end for ids in texts["input_ids"]]}

    blocks = {}
    for split, data in raw.items():
        tokenized = data.map(
            tokenize,
            batched=True,
            remove_columns=data.column_names,
            num_proc=data_args.preprocessing_num_workers,
            desc=f"tokenizing {split}",
        )
        blocks[split] = tokenized.map(
            group_texts,
            batched=True,
            batch_size=GROUP_BATCH_SIZE,
            num_proc=data_args.preprocessing_num_workers,
            fn_kwargs={"block_size": args.block_size, "keep_remainder": split != "train"},
            desc=f"grouping {split} into blocks of {args.block_size}",
        )
    return datasets.DatasetDict(blocks)


def group_texts(batch: dict, block_size: int, keep_remainder: bool = False) -> dict:
    """Concatenate the `input_ids` of a batch of texts and cut them into blocks of `block_size` tokens; the last,
    shorter block is kept (if it holds at least two tokens, i.e. one prediction) with `keep_remainder`."""
    ids = list(chain.from_iterable(batch["input_ids"]))
    end = len(ids) if keep_remainder else len(ids) // block_size * block_size
    return {
        "input_ids": [ids[i : i + block_size] for i in range(0, end, block_size) if len(ids[i : i + block_size]) > 1]
    }


def spread_subset(dataset: datasets.Dataset, size: int | None) -> datasets.Dataset:
    """`size` rows of `dataset` spread evenly over it (all of them if `size` is None or not smaller)."""
    if size is None or size >= len(dataset):
        return dataset
    return dataset.select(np.linspace(0, len(dataset) - 1, num=size).round().astype(int).tolist())


def predicted_tokens(logits, labels):
    """`preprocess_logits_for_metrics`: keep only the most likely next token (not the logits over the vocabulary)."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def next_token_accuracy(metric):
    """`compute_metrics`: the accuracy of the predicted next tokens, computed by `metric` (`load_metric("accuracy")`)."""

    def compute_metrics(eval_prediction) -> dict:
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
        # position i predicts token i + 1; -100 marks padding
        predictions, labels = predictions[:, :-1].reshape(-1), labels[:, 1:].reshape(-1)
        keep = labels != -100
        return metric.compute(predictions=predictions[keep], references=labels[keep])

    return compute_metrics


class LeaveLastEvaluationToTheFinalOne(TrainerCallback):
    """Skip the periodic evaluation due at the last step: the final evaluation, on the whole validation split, follows."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_evaluate = False


class LanguageModelTrainer(InOrderTrainer):
    """`InOrderTrainer` whose evaluation loss is the next-token negative log-likelihood, unsmoothed: with
    `--label_smoothing_factor` the library's evaluation loss is the smoothed training objective, whose exponential is
    no perplexity. Training still minimises the smoothed loss."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        smoother, self.label_smoother = self.label_smoother, None  # the model's own loss: the mean next-token NLL
        try:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        finally:
            self.label_smoother = smoother


def tokens_per_step(training_args, recipe_args: RecipeArguments, block_size: int) -> int:
    """Training tokens an optimizer step sees: every block is full, so batch x block_size, over all processes."""
    per_batch = recipe_args.max_tokens_per_batch // block_size if recipe_args.max_tokens_per_batch else None
    blocks = per_batch or training_args.per_device_train_batch_size
    return blocks * block_size * training_args.gradient_accumulation_steps * training_args.world_size


def language_model_trainer(model, training_args, tokenizer, metric=None, **options) -> Trainer:
    """A `Trainer` for causal language modelling: blocks padded by `DataCollatorForLanguageModeling` (labels are the
    inputs, the model shifts them), next-token accuracy with `metric` at each evaluation if given, and a validation
    loss that is the unsmoothed next-token NLL (`LanguageModelTrainer`). `options`: the datasets, and
    `max_tokens_per_batch`."""
    return LanguageModelTrainer(
        model=model,
        args=training_args,
        processing_class=tokenizer,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        compute_metrics=next_token_accuracy(metric) if metric is not None else None,
        preprocess_logits_for_metrics=predicted_tokens if metric is not None else None,
        **options,
    )


def evaluate_model(trainer: Trainer, validation: datasets.Dataset) -> dict:
    """Validation loss (mean over the predicted tokens of the whole split), perplexity and next-token accuracy of
    `trainer.model`."""
    metrics = trainer.evaluate(validation)
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    results = {"eval_loss": metrics["eval_loss"], "perplexity": math.exp(min(metrics["eval_loss"], 700))}
    if "eval_accuracy" in metrics:
        results["eval_accuracy"] = metrics["eval_accuracy"]
    return results


def set_generation_defaults(model, args: LanguageModelingArguments) -> None:
    """The sampling the saved model will use by default: top-k sampling with the example's temperature."""
    config = model.generation_config
    config.do_sample, config.temperature, config.top_k = True, args.sample_temperature, args.sample_top_k
    config.max_new_tokens = args.sample_max_new_tokens


def sample_texts(model, tokenizer, args: LanguageModelingArguments, seed: int = 0) -> list[dict]:
    """Continue each prompt (default: start from <s>, or from a line break without special tokens) with `generate()`,
    sampling; return the prompts and their continuations.

    The model never saw more than `block_size` tokens at once, nor positions beyond: longer samples are generated
    in windows, each continuing the last half block of the text so far (nanoGPT crops its context the same way)."""
    prompts = args.sample_prompts or [""] * args.num_samples
    if not args.add_special_tokens and not args.sample_prompts:
        prompts = ["\n"] * args.num_samples
    prefix = [tokenizer.bos_token_id] if args.add_special_tokens else []
    sequences = [prefix + tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    if any(not ids for ids in sequences):
        raise ValueError("an empty prompt needs <s> to start from: give --sample_prompts, or keep the special tokens.")
    starts = [len(ids) for ids in sequences]
    finished = [False] * len(sequences)
    set_seed(seed)
    model.eval()
    keep = max(1, args.block_size // 2)
    while not all(finished):
        active = [i for i, done in enumerate(finished) if not done]
        contexts = [sequences[i][-keep:] if len(sequences[i]) >= args.block_size else sequences[i] for i in active]
        new_tokens = min(
            args.block_size - max(len(c) for c in contexts),
            max(args.sample_max_new_tokens - (len(sequences[i]) - starts[i]) for i in active),
        )
        batch = tokenizer.pad({"input_ids": contexts}, padding_side="left", return_tensors="pt")
        with torch.no_grad():
            output = model.generate(
                **batch,
                max_new_tokens=new_tokens,
                do_sample=True,
                temperature=args.sample_temperature,
                top_k=args.sample_top_k,
            )
        for row, i in enumerate(active):
            generated = output[row, batch["input_ids"].shape[1] :].tolist()
            room = args.sample_max_new_tokens - (len(sequences[i]) - starts[i])
            generated = generated[:room]
            if tokenizer.eos_token_id in generated:
                generated = generated[: generated.index(tokenizer.eos_token_id) + 1]
                finished[i] = True
            sequences[i] += generated
            finished[i] = finished[i] or len(sequences[i]) - starts[i] >= args.sample_max_new_tokens
    texts = [tokenizer.decode(ids[start:], skip_special_tokens=True) for ids, start in zip(sequences, starts)]
    return [{"prompt": prompt, "text": text} for prompt, text in zip(prompts, texts)]


def report(results: dict, training_args) -> None:
    """Print the samples, the validation figures and how to load the model; save the results as JSON."""
    lines = ["", "Samples (generate(), top-k sampling):"]
    for sample in results.get("samples", []):
        lines += [f"  {sample['prompt'] + sample['text']!r}"]
    if "eval_loss" in results:
        accuracy = f", next-token accuracy {results['eval_accuracy']:.4f}" if "eval_accuracy" in results else ""
        averaged = len(results["averaged_checkpoints"])
        how = f"average of the last {averaged} checkpoints" if averaged > 1 else "final weights"
        lines += [
            "",
            f"Validation loss {results['eval_loss']:.4f} (perplexity {results['perplexity']:.2f}){accuracy}; "
            f"{how}, step {results['global_step']}.",
        ]
    model_dir = results["model_dir"]
    lines += [
        f"Wall time: {results['wall_time_s']:.0f} s.",
        "",
        f"Saved the model and its tokenizer to {model_dir}. Load them with:",
        "",
        "    import vanilla_transformer  # registers the model with the Auto classes",
        "    from transformers import AutoModelForCausalLM, AutoTokenizer",
        f"    tokenizer = AutoTokenizer.from_pretrained({model_dir!r})",
        f"    model = AutoModelForCausalLM.from_pretrained({model_dir!r})",
    ]
    if results["add_special_tokens"]:
        lines += [
            "    tokenizer.add_bos_token, tokenizer.add_eos_token = True, False  # a prompt is <s> text, without </s>",
            '    inputs = tokenizer(["the dog"], return_tensors="pt")',
        ]
    else:
        lines += ['    inputs = tokenizer(["ROMEO:"], return_tensors="pt", add_special_tokens=False)']
    lines += ["    print(tokenizer.batch_decode(model.generate(**inputs), skip_special_tokens=True))  # samples"]
    print("\n".join(lines))
    Path(training_args.output_dir, "language_modeling_results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps (examples/allocator.py)
    main(sys.argv[1:])
