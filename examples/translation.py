"""Translation, the paper's task, end to end: train a joint tokenizer, train a Transformer with `Seq2SeqTrainer` and the
paper's recipe, average the last checkpoints, translate the validation set with beam search, score it with sacreBLEU
(through `evaluate`), print sample translations and save a model folder `AutoModelForSeq2SeqLM` loads.

    python examples/translation.py                       # the demo: built-in data, about 2 minutes on 2 CPU cores
    python -m vanilla_transformer.examples.translation   # the same, from an installed package
    accelerate launch examples/translation.py ...        # any of these on several processes, GPUs or machines

Data (without any of these options the example generates its own: `synthetic_data.py`):

    --train_file train.en train.de --validation_file val.en val.de     # parallel text, one file per language
    --train_file train.tsv --validation_file val.tsv --column_names en de   # two columns (CSV, TSV, JSON lines)
    --dataset_name wmt/wmt14 --dataset_config_name de-en --source_lang en --target_lang de   # the Hub

Presets choose the defaults of the model size and the schedule (`--preset`, see PRESETS): `demo` when no data is
given (1200 steps: `--max_steps -1` trains by epochs instead), `base` (the paper's base model) otherwise; `big` and
`multi30k` are there too. Every `Seq2SeqTrainingArguments`
option works (`--output_dir`, `--num_train_epochs`, `--per_device_train_batch_size`, `--resume_from_checkpoint latest`,
...), with the paper's recipe as the default (Adam 0.9/0.98/1e-9, the inverse-square-root schedule, label smoothing
0.1, beam 4 with length penalty 0.6; translations up to the paper's input length + 50 tokens). The model folder gets a
model card (data, preset, BLEU, decoding settings, how to use it) and its learning curves (`learning_curves.json`, and
`learning_curves.png` with matplotlib); `--report_to tensorboard` logs to TensorBoard as well.

Score a saved model on any parallel test set, with the same beam search and BLEU:

    python examples/translation.py --evaluate_only --model_name_or_path runs/translation/model \\
        --source_file test.en --reference_file test.de --hypothesis_file test.hyp.de
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer, set_seed
from transformers.trainer_utils import IntervalStrategy

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
from vanilla_transformer.examples.data import file_format, load_dataset_splits
from vanilla_transformer.examples.metrics import load_metric
from vanilla_transformer.examples.milestones import TokenMilestoneCallback, milestone_dir
from vanilla_transformer.tokenization import encode_texts
from vanilla_transformer.training import InOrderSeq2SeqTrainer


logger = logging.getLogger("vanilla_transformer.examples.translation")

DEFAULT_OUTPUT_DIR = "runs/translation"

# Defaults by preset; options on the command line override them. Model fields not named keep ModelArguments'
# defaults (the paper's base model), training options the paper's recipe.
PRESETS = {
    # The built-in data (synthetic_data.py): a small model that reaches BLEU > 90 in a few minutes on 2 CPU cores.
    "demo": dict(
        vocab_size=1000,
        d_model=128,
        num_heads=4,
        d_ff=256,
        num_layers=2,
        dropout=0.1,
        warmup_steps=200,
        lr_scale=0.7,
        max_steps=1200,
        per_device_train_batch_size=64,
        per_device_eval_batch_size=100,
        save_strategy="steps",
        save_steps=100,
        save_total_limit=3,
        average_checkpoints=3,
        logging_steps=50,
        eval_strategy="no",
        bleu_tokenize="none",
    ),
    # The paper's base model (section 6.1): 100k steps, checkpoints every 10 minutes there, the last 5 averaged.
    "base": dict(
        per_device_train_batch_size=64,
        save_strategy="steps",
        save_steps=2000,
        save_total_limit=5,
        average_checkpoints=5,
        logging_steps=100,
        eval_strategy="steps",
        eval_steps=2000,
    ),
    # The paper's big model: d_model 1024, 16 heads, d_ff 4096, dropout 0.3, the last 20 checkpoints averaged.
    "big": dict(
        d_model=1024,
        num_heads=16,
        d_ff=4096,
        dropout=0.3,
        per_device_train_batch_size=32,
        save_strategy="steps",
        save_steps=2000,
        save_total_limit=20,
        average_checkpoints=20,
        logging_steps=100,
        eval_strategy="steps",
        eval_steps=2000,
    ),
    # Multi30k En->De on the lowercased Moses-tokenised files, tokenised BLEU: see benchmarks/multi30k_bleu.py. No
    # biases in the blocks: the same BLEU per training token (32.91 against 32.70 after 5M), faster steps (8,533 in the
    # hour on a day of 147 GFLOP/s, against 8,477 with biases at 177 GFLOP/s). The learning rate cools down to zero
    # over the last 30% of the time, so the last checkpoints are the best: 5 averaged, not 10. Measured with a
    # vocabulary of 10,000: 41.37 BLEU (8,000 and no cooldown: 40.34; 5,000: 39.61).
    "multi30k": dict(
        vocab_size=10000,
        d_model=128,
        num_heads=4,
        d_ff=256,
        num_layers=4,
        dropout=0.3,
        config_overrides="bias=false",
        warmup_steps=1000,
        lr_scale=1.0,
        num_train_epochs=60,
        max_train_minutes=57,
        cooldown_fraction=0.3,
        max_tokens_per_batch=2048,
        per_device_eval_batch_size=64,
        save_strategy="epoch",
        save_total_limit=10,
        average_checkpoints=5,
        logging_steps=50,
        eval_strategy="epoch",
        bleu_at_tokens=5_000_000,
        generation_num_beams=5,
        length_penalty=1.2,
        bleu_tokenize="none",
        source_lang="en",
        target_lang="de",
    ),
}


@dataclass
class TranslationArguments:
    """Options of this example."""

    preset: str | None = field(
        default=None,
        metadata={
            "help": f"Defaults for the model size and schedule: one of {sorted(PRESETS)}. Default: 'demo' "
            "without data options, 'base' with them.",
            "choices": sorted(PRESETS),
        },
    )
    source_lang: str | None = field(
        default=None,
        metadata={
            "help": "Source column (language code). Default: 'en' for the built-in data, or the suffix of the "
            "first of two parallel files (train.en -> 'en')."
        },
    )
    target_lang: str | None = field(default=None, metadata={"help": "Target column, as --source_lang."})
    encoder_layers: int | None = field(default=None, metadata={"help": "Encoder layers (default: --num_layers)."})
    decoder_layers: int | None = field(default=None, metadata={"help": "Decoder layers (default: --num_layers)."})
    share_embeddings: bool = field(
        default=True, metadata={"help": "One embedding for source, target and output (the paper's shared vocabulary)."}
    )
    max_source_length: int = field(default=256, metadata={"help": "Truncate source sentences to this many tokens."})
    max_target_length: int = field(default=256, metadata={"help": "Truncate target sentences to this many tokens."})
    length_penalty: float | None = field(
        default=None,
        metadata={
            "help": "Beam search length penalty. Default: the model's (0.6, the paper's, for a new model). With "
            "--generation_num_beams and --generation_max_length, also changes how --evaluate_only decodes."
        },
    )
    bleu_tokenize: str = field(
        default="13a",
        metadata={
            "help": "sacreBLEU's tokenizer: '13a' for detokenized text, 'none' for tokenized text (Multi30k's "
            "*.lc.norm.tok.* files), 'intl', 'zh', 'char', ..."
        },
    )
    bleu_during_training: bool = field(
        default=False,
        metadata={
            "help": "Also compute BLEU (with beam search) at each evaluation during training, not only the "
            "validation loss. Slower."
        },
    )
    bleu_at_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Also save the model when training has seen this many source tokens, and score it on the "
            "validation set after training: a figure that does not depend on the machine's speed, unlike that of a "
            "run limited by --max_train_minutes."
        },
    )
    num_samples: int = field(default=5, metadata={"help": "Sample translations to print at the end."})
    synthetic_train_size: int = field(
        default=synthetic_data.DEFAULT_SIZES["train"], metadata={"help": "Training pairs of the built-in data."}
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the built-in data."})
    evaluate_only: bool = field(
        default=False,
        metadata={
            "help": "Do not train: translate --source_file with the model of --model_name_or_path, write the "
            "translations to --hypothesis_file and print BLEU against --reference_file."
        },
    )
    source_file: str | None = field(default=None, metadata={"help": "With --evaluate_only: sentences to translate."})
    reference_file: str | None = field(
        default=None, metadata={"help": "With --evaluate_only: their reference translations (optional)."}
    )
    hypothesis_file: str | None = field(
        default=None,
        metadata={"help": "With --evaluate_only: where to write the translations (default: OUTPUT_DIR/SOURCE.hyp)."},
    )


def parse_args(argv=None):
    """(model_args, data_args, recipe_args, translation_args, training_args) from the command line or `argv`."""

    def default_preset(namespace) -> str:  # scoring a saved model needs no data options
        return "base" if namespace.evaluate_only else demo_unless_data(namespace)

    return parse_arguments(
        (ModelArguments, DataArguments, RecipeArguments, TranslationArguments),
        argv,
        defaults={"output_dir": DEFAULT_OUTPUT_DIR},
        presets=PRESETS,
        preset=default_preset,
        description=__doc__,
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the example; return its results (BLEU, the model folder, sample translations, timings)."""
    start = time.perf_counter()
    model_args, data_args, recipe_args, args, training_args = parse_args(argv)
    setup_logging(training_args)
    if args.evaluate_only:
        return evaluate_only(model_args, args, training_args)

    raw = load_translation_data(data_args, args)
    src, tgt = args.source_lang, args.target_lang
    if "train" not in raw:
        raise ValueError("no training split: give --train_file or a --dataset_name that has one.")
    resume = start_run(training_args)
    set_seed(training_args.seed)
    tokenizer = load_or_train_tokenizer(
        model_args,
        training_args,
        lambda: raw["train"],
        text_column=[src, tgt],
        variant="seq2seq",
        resume_from_checkpoint=resume,
    )
    model = build_model(
        AutoModelForSeq2SeqLM,
        model_args,
        tokenizer,
        "seq2seq",
        encoder_layers=args.encoder_layers or model_args.num_layers,
        decoder_layers=args.decoder_layers or model_args.num_layers,
        share_encoder_decoder_embeddings=args.share_embeddings,
    )
    set_generation_defaults(model, args, training_args)
    learning_rate = set_learning_rate(training_args, model.config.d_model, recipe_args.lr_scale)
    logger.info(
        "Model: %s parameters, d_model %d, %d+%d layers; vocabulary %d; peak learning rate %.3g after %d warmup steps.",
        f"{model.num_parameters():,}",
        model.config.d_model,
        model.config.encoder_layers,
        model.config.decoder_layers,
        len(tokenizer),
        learning_rate,
        training_args.warmup_steps,
    )

    with training_args.main_process_first(desc="tokenizing the data"):
        tokenized = tokenize_splits(raw, tokenizer, args, data_args)
    validation = raw.get("validation")
    collator = DataCollatorForSeq2Seq(
        tokenizer, model=model, pad_to_multiple_of=8 if training_args.fp16 or training_args.bf16 else None
    )
    evaluating = training_args.eval_strategy != "no" and validation is not None
    metric = load_metric("sacrebleu")
    callbacks = run_callbacks(recipe_args)
    if args.bleu_at_tokens:
        if training_args.include_num_input_tokens_seen == "no":
            training_args.include_num_input_tokens_seen = "non_padding"
        callbacks.append(TokenMilestoneCallback(args.bleu_at_tokens))
    trainer = InOrderSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"] if evaluating else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=bleu_metrics(tokenizer, list(validation[tgt]), metric, args.bleu_tokenize)
        if evaluating and args.bleu_during_training
        else None,
        callbacks=callbacks,
        max_tokens_per_batch=recipe_args.max_tokens_per_batch,
    )
    if training_args.eval_strategy != "no" and not evaluating:
        raise ValueError(f"--eval_strategy {training_args.eval_strategy} needs a validation split.")

    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    model_dir, averaged = save_final_model(trainer, recipe_args.average_checkpoints)
    save_learning_curves_of(trainer, model_dir, title=f"{Path(training_args.output_dir).name}: {src} -> {tgt}")
    runtime = train_result.metrics.get("train_runtime")
    results = {
        "model_dir": str(model_dir.resolve()),
        "averaged_checkpoints": [p.name for p in averaged],
        "train_loss": train_result.metrics.get("train_loss"),
        "train_steps": trainer.state.global_step,
        "train_runtime_s": runtime,
    }
    if runtime:  # throughput over the epochs run (resumed runs: the steps of this process only are timed)
        target_tokens = sum(len(labels) for labels in tokenized["train"]["labels"])
        source_tokens = sum(len(ids) for ids in tokenized["train"]["input_ids"])
        epochs = trainer.state.epoch - (_resumed_epoch(resume) if resume else 0.0)
        results["train_target_tokens_per_s"] = round(target_tokens * epochs / runtime)
        results["train_tokens_per_s"] = round((source_tokens + target_tokens) * epochs / runtime)
    if averaged:
        logger.info(
            "Averaged %d checkpoints into %s: %s.", len(averaged), model_dir, ", ".join(p.name for p in averaged)
        )

    if validation is not None:
        results.update(
            evaluate_model(model_dir, list(validation[src]), list(validation[tgt]), args, training_args, metric)
        )
        milestone = milestone_dir(training_args.output_dir, args.bleu_at_tokens) if args.bleu_at_tokens else None
        if milestone is not None and milestone.is_dir():
            sources, references = list(validation[src]), list(validation[tgt])
            at_tokens = evaluate_model(milestone, sources, references, args, training_args, metric)
            results["bleu_at_tokens"] = {"tokens": args.bleu_at_tokens, "bleu": at_tokens["bleu"]}
    write_final_model_card(
        model_dir,
        AutoModelForSeq2SeqLM,
        training_args,
        description=f"Translates `{src}` into `{tgt}`: a Transformer trained by the translation example of the "
        "`vanilla-transformer` package.",
        datasets=[data_args.dataset_name] if data_args.dataset_name else None,
        training_data=describe_data(data_args, args, len(raw["train"])),
        training=training_summary("translation.py", args.preset, trainer, averaged, model_dir),
        metrics={
            f"BLEU, validation ({len(validation)} sentences, sacreBLEU tokenize={args.bleu_tokenize})": results["bleu"]
        }
        if "bleu" in results
        else None,
    )
    results["wall_time_s"] = round(time.perf_counter() - start, 1)
    if training_args.process_index == 0:
        if (
            isinstance(raw, datasets.DatasetDict)
            and "test" in raw
            and data_args.dataset_name is None
            and not data_args.train_file
        ):
            results["test_files"] = write_split(raw["test"], Path(training_args.output_dir) / "data", "test", src, tgt)
        report(results, args, training_args)
    return results


def load_translation_data(data_args: DataArguments, args: TranslationArguments) -> datasets.DatasetDict:
    """The splits, each with a source column `args.source_lang` and a target column `args.target_lang` (filled in
    here when they were not given)."""
    if not data_args.has_data():
        args.source_lang = args.source_lang or synthetic_data.SOURCE_LANG
        args.target_lang = args.target_lang or synthetic_data.TARGET_LANG
        sizes = dict(synthetic_data.DEFAULT_SIZES, train=args.synthetic_train_size)
        raw = synthetic_data.synthetic_translation_dataset(sizes, seed=args.synthetic_seed)
        raw = raw.rename_columns(
            {synthetic_data.SOURCE_LANG: args.source_lang, synthetic_data.TARGET_LANG: args.target_lang}
        )
    elif data_args.dataset_name is not None:
        raw = load_dataset_splits(
            dataset_name=data_args.dataset_name,
            dataset_config_name=data_args.dataset_config_name,
            cache_dir=data_args.data_cache_dir,
        )
        if not (args.source_lang and args.target_lang):
            raise ValueError("with --dataset_name, give --source_lang and --target_lang (the language codes).")
        raw = datasets.DatasetDict({split: flatten_translation(data, args) for split, data in raw.items()})
    else:
        files = data_args.data_files()
        parallel = all(len(paths) == 2 and all(_is_text(p) for p in paths) for paths in files.values())
        if parallel:  # train.en train.de: the languages default to the file suffixes
            first, second = files["train"] if "train" in files else next(iter(files.values()))
            args.source_lang = args.source_lang or Path(first).suffix.lstrip(".")
            args.target_lang = args.target_lang or Path(second).suffix.lstrip(".")
            if not (args.source_lang and args.target_lang) or args.source_lang == args.target_lang:
                raise ValueError(
                    "cannot tell the languages from the file names: give --source_lang and --target_lang."
                )
            raw = load_dataset_splits(
                data_files=files,
                column_names=[args.source_lang, args.target_lang],
                parallel=True,
                cache_dir=data_args.data_cache_dir,
            )
        else:
            if not (args.source_lang and args.target_lang):
                raise ValueError("give --source_lang and --target_lang: the source and target columns of the files.")
            raw = load_dataset_splits(
                data_files=files, column_names=data_args.column_names, cache_dir=data_args.data_cache_dir
            )
            raw = datasets.DatasetDict({split: flatten_translation(data, args) for split, data in raw.items()})
    if data_args.max_train_samples is not None and "train" in raw:
        raw["train"] = raw["train"].select(range(min(data_args.max_train_samples, len(raw["train"]))))
    if data_args.max_eval_samples is not None and "validation" in raw:
        raw["validation"] = raw["validation"].select(range(min(data_args.max_eval_samples, len(raw["validation"]))))
    return raw


def describe_data(data_args: DataArguments, args: TranslationArguments, train_pairs: int) -> str:
    """The training data, in a sentence of the model card."""
    if data_args.dataset_name:
        config = f" ({data_args.dataset_config_name})" if data_args.dataset_config_name else ""
        where = f"The `{data_args.dataset_name}`{config} dataset of the Hugging Face Hub"
    elif data_args.train_file:
        where = "The files " + ", ".join(f"`{Path(path).name}`" for path in data_args.train_file)
    else:
        where = (
            f"The example's built-in synthetic corpus (`examples/synthetic_data.py`, seed {args.synthetic_seed}): "
            "English sentences and their translations into a made-up language with its own words and word order"
        )
    return f"{where}: {train_pairs:,} training pairs, `{args.source_lang}` -> `{args.target_lang}`."


def flatten_translation(dataset: datasets.Dataset, args: TranslationArguments) -> datasets.Dataset:
    """Bring a split to two plain columns `source_lang` and `target_lang`: datasets in the WMT layout hold a column
    `translation` of `{language: text}` dicts; others already have a column per language."""
    src, tgt = args.source_lang, args.target_lang
    if "translation" in dataset.column_names and src not in dataset.column_names:
        dataset = dataset.map(
            lambda batch: {
                src: [pair[src] for pair in batch["translation"]],
                tgt: [pair[tgt] for pair in batch["translation"]],
            },
            batched=True,
            remove_columns=dataset.column_names,
        )
    missing = [column for column in (src, tgt) if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"columns {missing} not found; the data has {dataset.column_names}. Set --source_lang and "
            "--target_lang to its source and target columns."
        )
    return dataset.select_columns([src, tgt])


def tokenize_splits(raw: datasets.DatasetDict, tokenizer, args: TranslationArguments, data_args: DataArguments):
    """`input_ids`, `attention_mask` and `labels` (target ids ending with </s>) for the training and validation
    splits; empty training pairs are dropped."""
    src, tgt = args.source_lang, args.target_lang

    def encode(batch):
        return encode_texts(
            tokenizer,
            batch[src],
            text_target=batch[tgt],
            truncation=True,
            max_length=args.max_source_length,
            max_target_length=args.max_target_length,
        )

    tokenized = {}
    for split, data in raw.items():
        if split not in ("train", "validation"):
            continue  # other splits are for --evaluate_only
        if split == "train":
            data = data.filter(
                lambda pair: bool(pair[src].strip()) and bool(pair[tgt].strip()),
                num_proc=data_args.preprocessing_num_workers,
                desc="dropping empty pairs",
            )
        tokenized[split] = data.map(
            encode,
            batched=True,
            remove_columns=data.column_names,
            num_proc=data_args.preprocessing_num_workers,
            desc=f"tokenizing {split}",
        )
    return datasets.DatasetDict(tokenized)


def set_generation_defaults(model, args: TranslationArguments, training_args) -> None:
    """The decoding the saved model will use: the model's beam 4 and length penalty 0.6 (the paper's) or the options
    given, and a limit on the new tokens, not on the total length: as long as the longest training targets
    (`--max_target_length`), or `--generation_max_length` less the decoder's start token. No `max_length` is kept: with
    it, `generate(max_new_tokens=...)` warns of two limits, and without any limit the library stops at 20 tokens."""
    config = model.generation_config
    if args.length_penalty is not None:
        config.length_penalty = args.length_penalty
    if training_args.generation_num_beams is not None:
        config.num_beams = training_args.generation_num_beams
    if training_args.generation_max_length is not None:
        config.max_new_tokens = max(1, training_args.generation_max_length - 1)
        # Seq2SeqTrainer would also pass it to generate() as max_length: the two limits the config avoids.
        training_args.generation_max_length = None
    elif config.max_new_tokens is None:
        config.max_new_tokens = args.max_target_length
    config.max_length = None


def bleu_metrics(tokenizer, references: list[str], metric, tokenize: str):
    """`compute_metrics` for `Seq2SeqTrainer` (with `predict_with_generate`): BLEU of the generated translations
    against the raw reference texts (not the decoded labels, which the tokenizer may have normalised or truncated)."""

    def compute_metrics(eval_prediction) -> dict:
        predictions = eval_prediction.predictions
        predictions = predictions[0] if isinstance(predictions, tuple) else predictions
        hypotheses = decode(tokenizer, predictions)
        score = metric.compute(
            predictions=hypotheses, references=[[r] for r in references[: len(hypotheses)]], tokenize=tokenize
        )
        return {"bleu": score["score"]}

    return compute_metrics


def decode(tokenizer, token_ids) -> list[str]:
    token_ids = np.where(np.asarray(token_ids) != -100, token_ids, tokenizer.pad_token_id)
    return [text.strip() for text in tokenizer.batch_decode(token_ids, skip_special_tokens=True)]


def translate(trainer: Seq2SeqTrainer, sources, *, max_source_length: int = 256, **generate_kwargs) -> list[str]:
    r"""
    Translate `sources` with `trainer.model` (beam search as its generation config says, or `generate_kwargs`; at most
    the paper's input length + 50 new tokens, within the model's own limit), in batches of `per_device_eval_batch_size`,
    sorted by length so that beams of similar lengths share a batch, on every process of an `accelerate launch`.
    Returns the translations in the order of `sources`.
    """
    tokenizer = trainer.processing_class
    sources = list(sources)
    if not sources:
        return []
    encoded = tokenizer(sources, max_length=max_source_length, truncation=True)
    config = trainer.model.generation_config
    if config.max_length is None and not {"max_length", "max_new_tokens"} & set(generate_kwargs):
        # The paper's limit, input length + 50 (of the longest source), within the model's own: without any, the
        # library would stop at 20 tokens.
        paper_limit = max(len(ids) for ids in encoded["input_ids"]) + 50
        generate_kwargs["max_new_tokens"] = min(paper_limit, config.max_new_tokens or paper_limit)
    order = sorted(range(len(sources)), key=lambda i: len(encoded["input_ids"][i]), reverse=True)
    dataset = datasets.Dataset.from_dict(
        {
            "input_ids": [encoded["input_ids"][i] for i in order],
            "attention_mask": [encoded["attention_mask"][i] for i in order],
        }
    )
    # DataCollatorForSeq2Seq returns `labels: None` for unlabelled features, which Seq2SeqTrainer takes for labels.
    collator = trainer.data_collator
    trainer.data_collator = lambda features: {k: v for k, v in collator(features).items() if v is not None}
    try:
        output = trainer.predict(dataset, metric_key_prefix="translate", **generate_kwargs)
    finally:
        trainer.data_collator = collator
    translations = [""] * len(sources)
    for position, text in zip(order, decode(tokenizer, output.predictions)):
        translations[position] = text
    return translations


def evaluate_model(model_dir, sources, references, args, training_args, metric=None) -> dict:
    """Load the model folder, translate `sources` with beam search and score them against `references`."""
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    set_generation_defaults(model, args, training_args)  # the decoding options given, if any (not saved)
    training_args.eval_strategy = IntervalStrategy.NO  # training is over: this trainer only predicts
    trainer = InOrderSeq2SeqTrainer(
        model=model,
        args=training_args,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
    )
    started = time.perf_counter()
    hypotheses = translate(trainer, sources, max_source_length=args.max_source_length)
    results = {
        "translate_time_s": round(time.perf_counter() - started, 1),
        "hypotheses": hypotheses,
        "num_beams": model.generation_config.num_beams,
        "length_penalty": model.generation_config.length_penalty,
    }
    if references is not None:
        metric = metric or load_metric("sacrebleu")
        score = metric.compute(
            predictions=hypotheses,
            references=[[r] for r in references],
            tokenize=args.bleu_tokenize,
            force=args.bleu_tokenize == "none",  # tokenised text on purpose: no "forgot to detokenize?" warning
        )
        results.update(bleu=round(score["score"], 2), bleu_details=_bleu_summary(score, args.bleu_tokenize))
    results["samples"] = [
        {"source": s, "reference": None if references is None else r, "translation": h}
        for s, r, h in zip(
            list(sources)[: args.num_samples],
            list(references)[: args.num_samples] if references is not None else [None] * args.num_samples,
            hypotheses,
        )
    ]
    return results


def evaluate_only(model_args: ModelArguments, args: TranslationArguments, training_args) -> dict:
    """--evaluate_only: translate a source file with a saved model, write the hypotheses, print BLEU."""
    if not (model_args.model_name_or_path and args.source_file):
        raise ValueError("--evaluate_only needs --model_name_or_path (a saved model folder) and --source_file.")
    sources = _read_lines(args.source_file)
    references = _read_lines(args.reference_file) if args.reference_file else None
    if references is not None and len(references) != len(sources):
        raise ValueError(
            f"{args.source_file} has {len(sources)} lines but {args.reference_file} has {len(references)}."
        )
    training_args.predict_with_generate = True
    results = evaluate_model(model_args.model_name_or_path, sources, references, args, training_args)
    hypothesis_file = Path(
        args.hypothesis_file or Path(training_args.output_dir) / (Path(args.source_file).name + ".hyp")
    )
    if training_args.process_index == 0:
        hypothesis_file.parent.mkdir(parents=True, exist_ok=True)
        hypothesis_file.write_text("".join(h + "\n" for h in results["hypotheses"]), encoding="utf-8")
        print(
            f"Wrote {len(sources)} translations (beam {results['num_beams']}, length penalty "
            f"{results['length_penalty']}) to {hypothesis_file}."
        )
        if "bleu" in results:
            print(f"BLEU = {results['bleu']:.2f}   ({results['bleu_details']})")
    results["hypothesis_file"] = str(hypothesis_file)
    return results


def write_split(split: datasets.Dataset, directory: Path, name: str, src: str, tgt: str) -> dict:
    """Write a split as parallel text files `name.src` and `name.tgt`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for column in (src, tgt):
        path = directory / f"{name}.{column}"
        path.write_text("".join(line + "\n" for line in split[column]), encoding="utf-8")
        paths[column] = str(path)
    return paths


def report(results: dict, args: TranslationArguments, training_args) -> None:
    """Print the samples, BLEU, where the model is and how to use it; save the results as JSON."""
    lines = ["", "Sample translations (validation):"]
    for sample in results.get("samples", []):
        lines += [
            f"  source:      {sample['source']}",
            f"  reference:   {sample['reference']}",
            f"  translation: {sample['translation']}",
            "",
        ]
    if "bleu" in results:
        averaged = len(results["averaged_checkpoints"])
        how = f"average of the last {averaged} checkpoints" if averaged > 1 else "final weights"
        lines.append(
            f"BLEU on the validation set: {results['bleu']:.2f}  (beam {results['num_beams']}, length penalty "
            f"{results['length_penalty']}, {how}; "
            f"{results['bleu_details']})"
        )
    model_dir = results["model_dir"]
    lines += [
        f"Wall time: {results['wall_time_s']:.0f} s.",
        "",
        f"Saved the model and its tokenizer to {model_dir}. Load them with:",
        "",
        "    import vanilla_transformer  # registers the model with the Auto classes",
        "    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
        f"    tokenizer = AutoTokenizer.from_pretrained({model_dir!r})",
        f"    model = AutoModelForSeq2SeqLM.from_pretrained({model_dir!r})",
        '    inputs = tokenizer(["the dog sees a cat ."], return_tensors="pt")',
        "    print(tokenizer.batch_decode(model.generate(**inputs), skip_special_tokens=True))",
    ]
    if "test_files" in results:
        files = results["test_files"]
        lines += [
            "",
            "Score it on the held-out test split (or any parallel test set) with:",
            "",
            f"    python examples/translation.py --evaluate_only --model_name_or_path {model_dir} \\",
            f"        --source_file {files[args.source_lang]} --reference_file {files[args.target_lang]}"
            f" --bleu_tokenize {args.bleu_tokenize}",
        ]
    print("\n".join(lines))
    summary = {k: v for k, v in results.items() if k != "hypotheses"}
    (Path(training_args.output_dir) / "translation_results.json").write_text(json.dumps(summary, indent=2) + "\n")


def _bleu_summary(score: dict, tokenize: str) -> str:
    precisions = "/".join(f"{p:.1f}" for p in score["precisions"])
    return (
        f"sacreBLEU tokenize={tokenize}: {precisions}, BP={score['bp']:.3f}, "
        f"hyp_len={score['sys_len']}, ref_len={score['ref_len']}"
    )


def _resumed_epoch(checkpoint: str) -> float:
    state = Path(checkpoint) / "trainer_state.json"
    return json.loads(state.read_text()).get("epoch") or 0.0 if state.is_file() else 0.0


def _read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file]


def _is_text(path: str) -> bool:
    return file_format(path) == "text"


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps (examples/allocator.py)
    main(sys.argv[1:])
