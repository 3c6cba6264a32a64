"""Checkpoints saved by earlier versions of the package load with the current code and give the same outputs."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig

import vanilla_transformer as vt


FIXTURES = Path(__file__).parent / "fixtures"
FORMAT_1 = sorted(path for path in (FIXTURES / "format1").iterdir() if path.is_dir())


FOLDER = pytest.mark.parametrize("folder", FORMAT_1, ids=lambda path: path.name)


def load(folder):
    """The model saved in `folder`, by the class its config names, and the loading info."""
    config = AutoConfig.from_pretrained(folder)
    return getattr(vt, config.architectures[0]).from_pretrained(folder, output_loading_info=True)


@FOLDER
def test_a_format_1_checkpoint_loads_with_every_weight(folder):
    _, info = load(folder)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info


@FOLDER
def test_a_format_1_checkpoint_gives_the_logits_it_was_saved_with(folder):
    model, _ = load(folder)
    saved = load_file(folder / "expected_outputs.safetensors")
    inputs = {name.removeprefix("input."): value for name, value in saved.items() if name.startswith("input.")}
    with torch.no_grad():
        logits = model.eval()(**inputs).logits
    torch.testing.assert_close(logits, saved["output.logits"], atol=1e-6, rtol=1e-5)
