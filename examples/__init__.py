"""Runnable examples, each a script (`python examples/<name>.py`), a module (`python -m vanilla_transformer.examples.<name>`)
and a set of importable functions; they run unchanged under `accelerate launch` (configs in `accelerate_configs/`).

- `translation`: the paper's task end to end (the flagship; `make demo`).
- `synthetic_data`: the built-in parallel corpus the examples use when given no data.
"""
