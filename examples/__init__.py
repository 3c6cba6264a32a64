"""Runnable examples, each a script (`python examples/<name>.py`), a module (`python -m vanilla_transformer.examples.<name>`)
and a set of importable functions; they run unchanged under `accelerate launch` (configs in `accelerate_configs/`).

- `translation`: the paper's task end to end (the flagship; `make demo`).
- `language_modeling`, `classification`: decoder-only and encoder-only models, end to end.
- `synthetic_data`, `synthetic_sentiment`: the built-in data the examples use when given none.

What the examples share, so that each is a short script:

- `arguments`: the command line: data, model and recipe options, every `TrainingArguments` flag with the paper's recipe
  as its default, and presets.
- `common`: the steps around `Trainer`: logging, starting or resuming a run, the tokenizer, the model, the callbacks
  (a time limit, timed logs, checkpoints without model code), and the final model folder (the average of the last
  checkpoints) with its model card.
- `learning_curves`: the losses and metrics of a run against steps and minutes, as JSON and (with matplotlib) a PNG.
- `data`: datasets from local files (text, parallel text, CSV/TSV, JSON lines, Parquet) or the Hub.
- `metrics`: sacreBLEU and accuracy through `evaluate`, computed directly when it cannot reach the Hub.
- `allocator`: `keep_freed_memory()`, which each example's entry point calls (never an import): glibc keeps freed
  large buffers for the next step instead of returning them to the OS and page-faulting them back.
"""
