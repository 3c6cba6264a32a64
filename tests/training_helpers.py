"""A tiny translation task for the training tests: a tokenizer and tokenized pairs of the built-in data, small
models, and a short `Seq2SeqTrainer` run with the paper's recipe."""

import functools

import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer

import vanilla_transformer as vt
from vanilla_transformer.examples import synthetic_data
from vanilla_transformer.training import paper_training_arguments


@functools.cache
def tiny_translation_data():
    """A tokenizer and 64 tokenized pairs of the built-in translation data (shared: treat them as read-only)."""
    raw = synthetic_data.synthetic_translation_dataset({"train": 64}, seed=1)["train"]
    tokenizer = vt.train_tokenizer(raw, text_column=["en", "syn"], vocab_size=200, show_progress=False)
    features = raw.map(
        lambda b: {**tokenizer(b["en"]), "labels": tokenizer(text_target=b["syn"])["input_ids"]},
        batched=True,
        remove_columns=raw.column_names,
    )
    return tokenizer, features


def tiny_model(tokenizer, seed=0, **overrides):
    torch.manual_seed(seed)
    fields = dict(d_model=16, num_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, dropout=0.0)
    config = vt.config_from_tokenizer(tokenizer, "seq2seq", **{**fields, **overrides})
    return vt.TransformerForConditionalGeneration(config)


def tiny_trainer(
    output_dir, tokenizer, features, callbacks=None, trainer_class=Seq2SeqTrainer, trainer_options=None, **overrides
):
    """A `trainer_class` for a tiny model on `features` with the paper's recipe, for 2 epochs unless `overrides` (of the
    training arguments) say otherwise; `trainer_options` go to the trainer itself (e.g. `max_tokens_per_batch`)."""
    model = tiny_model(tokenizer)
    args = paper_training_arguments(
        str(output_dir),
        **{
            **dict(
                d_model=16,
                warmup_steps=4,
                num_train_epochs=2,
                per_device_train_batch_size=8,
                logging_steps=1,
                save_strategy="no",
                report_to=[],
                disable_tqdm=True,
                use_cpu=True,
                dataloader_pin_memory=False,
            ),
            **overrides,
        },
    )
    return trainer_class(
        model=model,
        args=args,
        train_dataset=features,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        callbacks=callbacks,
        **(trainer_options or {}),
    )


def run_trainer(output_dir, tokenizer, features, steps, callbacks=None, trainer_class=Seq2SeqTrainer, **overrides):
    """`tiny_trainer` trained for `steps` steps over the examples in order."""
    overrides = {"max_steps": steps, "train_sampling_strategy": "sequential", **overrides}
    trainer = tiny_trainer(output_dir, tokenizer, features, callbacks, trainer_class, **overrides)
    trainer.train()
    return trainer
