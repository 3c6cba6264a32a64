import sys
from pathlib import Path

import pytest
import torch
from transformers.utils import logging


# `tests/` is not a package: make `helpers` importable from every test module.
sys.path.insert(0, str(Path(__file__).parent))

logging.disable_progress_bar()


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
