"""The README's Python blocks run as written, so the tour can never rot.

Each block runs in a fresh folder, with what the README says it assumes already defined (a model and its tokenizer,
a corpus); the Hub is `test_hub.FakeHub`. The blocks that start with `# README: <name>` train for real and are run at a
tiny size by tests/test_training.py instead.
"""

import re
from pathlib import Path

import datasets
import huggingface_hub
import pytest
import torch
from huggingface_hub import HfApi
from test_hub import FakeHub

import vanilla_transformer as vt

from tokenizer_helpers import DE, EN, trained


README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _tiny_translator():
    tokenizer = trained("bpe", "seq2seq")
    config = vt.config_from_tokenizer(
        tokenizer, "seq2seq", d_model=32, num_heads=4, d_ff=64, encoder_layers=1, decoder_layers=1
    )
    torch.manual_seed(0)
    return {"model": vt.TransformerForConditionalGeneration(config).eval(), "tokenizer": tokenizer}


def _corpus(folder: Path):
    (folder / "train.en").write_text("".join(line + "\n" for line in EN))
    (folder / "train.de").write_text("".join(line + "\n" for line in DE))
    return {"dataset": datasets.Dataset.from_dict({"en": EN, "de": DE}), "texts": EN + DE}


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "downloads")
    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: fake.create_repo(api, repo_id, **kw))
    monkeypatch.setattr(
        HfApi,
        "create_commit",
        lambda api, repo_id, operations, **kw: fake.create_commit(api, repo_id, operations, **kw),
    )
    monkeypatch.setattr(HfApi, "upload_folder", lambda api, **kw: fake.upload_folder(api, **kw))
    monkeypatch.setattr(HfApi, "create_branch", lambda api, **kw: None)
    monkeypatch.setattr(
        HfApi, "hf_hub_download", lambda api, repo_id, filename, **kw: fake.hf_hub_download(repo_id, filename)
    )
    monkeypatch.setattr(huggingface_hub.repocard, "hf_hub_download", fake.hf_hub_download)
    return fake


def _pushed_repository(folder: Path, fake_hub: FakeHub) -> dict:
    """What "you/my-transformer" would hold after the push block: a folder the next block loads instead."""
    given = _tiny_translator()
    given["model"].push_to_hub("you/my-transformer")
    given["tokenizer"].push_to_hub("you/my-transformer")
    return {"@repository": str(fake_hub.materialise("you/my-transformer", folder / "repository"))}


# What each block assumes, by the start of its first line (the README says so in the text around it).
GIVEN = {
    "import torch": lambda folder, hub: {},
    "encoder = vt.TransformerForMaskedLM": lambda folder, hub: {"torch": torch, "vt": vt},
    "from peft import": lambda folder, hub: _tiny_translator(),
    "from vanilla_transformer.visualization": lambda folder, hub: _tiny_translator(),
    "import vanilla_transformer as vt\nfrom transformers import AutoTokenizer": lambda folder, hub: _corpus(folder),
    "model.push_to_hub": lambda folder, hub: _tiny_translator(),
    "# With the package": _pushed_repository,
    "from transformers import Seq2SeqTrainer\nfrom vanilla_transformer.hub": lambda folder, hub: {},
}
RUN_ELSEWHERE = ("# README: ",)  # tests/test_training.py


def _given(block: str):
    matches = [setup for start, setup in GIVEN.items() if block.startswith(start)]
    assert len(matches) == 1, f"a README block this test does not know; say what it assumes in GIVEN:\n{block[:200]}"
    return matches[0]


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if not b.startswith(RUN_ELSEWHERE)], ids=lambda b: b.splitlines()[0][:50]
)
def test_the_readme_block_runs(block, tmp_path, monkeypatch, fake_hub):
    monkeypatch.chdir(tmp_path)
    namespace = dict(_given(block)(tmp_path, fake_hub))
    repository = namespace.pop("@repository", None)
    if repository is not None:
        block = block.replace('"you/my-transformer"', repr(repository))
    exec(compile(block, str(README), "exec"), namespace)


def test_every_readme_block_is_run_somewhere():
    assert BLOCKS
    for block in BLOCKS:
        if not block.startswith(RUN_ELSEWHERE):
            _given(block)
