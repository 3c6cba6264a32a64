"""Sharing on the Hub: remote code, auto_map, model cards, push_to_hub, and loading with or without the package.

Nothing here reaches the network. `FakeHub` stands in for the Hub behind `huggingface_hub`'s client calls (create the
repository, commit files, upload a folder, download a file), so every code path runs up to the upload boundary,
and a repository that was "pushed" can be materialised as a folder and loaded for real, in a subprocess where
`vanilla_transformer` cannot be imported.
"""

import ast
import json
import re
import subprocess
import sys
import textwrap
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, RepoUrl
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.utils import filter_repo_objects
from safetensors import safe_open
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)
from transformers.dynamic_module_utils import get_imports, get_relative_import_files

import vanilla_transformer as vt
from vanilla_transformer import hub
from vanilla_transformer.configuration import CHECKPOINT_FORMAT

from helpers import random_ids, tiny_model


# The three variants, each as the head class a user shares, the Auto class that loads it, and its config class.
VARIANTS = {
    "seq2seq": (vt.TransformerForConditionalGeneration, AutoModelForSeq2SeqLM, vt.TransformerConfig),
    "encoder": (vt.TransformerForMaskedLM, AutoModelForMaskedLM, vt.TransformerEncoderConfig),
    "decoder": (vt.TransformerForCausalLM, AutoModelForCausalLM, vt.TransformerDecoderConfig),
}
WORDS = [
    "the",
    "a",
    "translate",
    "this",
    "sentence",
    "once",
    "upon",
    "time",
    "capital",
    "of",
    "france",
    "is",
    "what",
    "wonderful",
    "day",
    "ada",
    "lovelace",
    "was",
    "born",
    "in",
    "london",
    "to",
    "encode",
]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer with the package's special-token layout, built with `tokenizers` directly."""
    vocab = {token: i for i, token in enumerate(["<pad>", "<unk>", "<s>", "</s>", "<mask>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    )


class FakeHub:
    """The Hub behind `huggingface_hub`'s client: repositories as {path: bytes}, and every commit made."""

    def __init__(self, downloads: Path):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: list[tuple[str, dict[str, bytes]]] = []
        self.downloads = downloads

    def create_repo(self, api, repo_id, **kwargs):
        self.repos.setdefault(repo_id, {})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, api, repo_id, operations, *, commit_message, **kwargs):
        files = {}
        for operation in operations:
            assert isinstance(operation, CommitOperationAdd), operation
            files[operation.path_in_repo] = Path(operation.path_or_fileobj).read_bytes()
        return self._commit(repo_id, files)

    def upload_folder(
        self,
        api,
        *,
        repo_id,
        folder_path,
        path_in_repo=None,
        allow_patterns=None,
        ignore_patterns=None,
        run_as_future=False,
        **kwargs,
    ):
        paths = [p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file()]
        kept = filter_repo_objects(paths, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
        prefix = f"{path_in_repo}/" if path_in_repo else ""
        commit = self._commit(repo_id, {prefix + path: (Path(folder_path) / path).read_bytes() for path in kept})
        if not run_as_future:
            return commit
        future = Future()  # the Trainer's checkpoint pushes run in the background
        future.set_result(commit)
        return future

    def hf_hub_download(self, repo_id, filename, **kwargs):
        if filename not in self.repos.get(repo_id, {}):
            raise EntryNotFoundError(f"{filename} is not in {repo_id}")
        path = self.downloads / repo_id / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.repos[repo_id][filename])
        return str(path)

    def _commit(self, repo_id, files):
        assert repo_id in self.repos, f"commit to {repo_id} before create_repo"
        self.repos[repo_id].update(files)
        self.commits.append((repo_id, files))
        return SimpleNamespace(oid="0" * 40, commit_url=f"https://huggingface.co/{repo_id}/commit/0")

    def materialise(self, repo_id, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.repos[repo_id].items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder


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
    # what `ModelCard.load(repo_id)` calls, in the library's own push_to_hub (tokenizers, configs)
    monkeypatch.setattr(huggingface_hub.repocard, "hf_hub_download", fake.hf_hub_download)
    return fake


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


# ---- config.json: auto_map and versions ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_json_names_every_auto_class_of_the_variant(variant, tmp_path):
    model_class, _, config_class = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())

    expected = {"AutoConfig": f"configuration_transformer.{config_class.__name__}"}
    for auto_class, mapping in vt.AUTO_CLASSES.items():
        if config_class in mapping:
            module = mapping[config_class].__module__.rsplit(".", 1)[-1]
            expected[auto_class.__name__] = f"{module}.{mapping[config_class].__name__}"
    assert saved["auto_map"] == expected
    assert {"AutoConfig", "AutoModel"} <= set(expected) and len(expected) >= 4
    # every entry names a class defined in a file of the folder
    for reference in expected.values():
        module, name = reference.split(".")
        tree = ast.parse((tmp_path / f"{module}.py").read_text())
        assert name in {node.name for node in tree.body if isinstance(node, ast.ClassDef)}, reference
    assert saved["checkpoint_format"] == CHECKPOINT_FORMAT
    assert saved["vanilla_transformer_version"] == vt.__version__


def test_saving_a_config_alone_writes_the_config_module_and_names_it(tmp_path):
    vt.TransformerDecoderConfig(vocab_size=50, d_model=16, num_heads=2, d_ff=32, num_layers=1).save_pretrained(
        tmp_path
    )
    assert sorted(p.name for p in tmp_path.glob("*.py")) == ["configuration_transformer.py"]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"] == {"AutoConfig": "configuration_transformer.TransformerDecoderConfig"}


# ---- the remote code is the model folder, copied by the library -----------------------------------------------

MODEL_FOLDER = Path(vt.__file__).parent / "modeling"
SHARED_MODULES = {
    "configuration_transformer.py",
    "validation.py",
    "embeddings.py",
    "attention.py",
    "layers.py",
    "pretrained.py",
    "loss.py",
}
# What a checkpoint of each variant carries: the modules its classes live in, and what they import.
CODE_FILES = {
    "seq2seq": SHARED_MODULES | {"modeling_encoder.py", "modeling_decoder.py", "modeling_seq2seq.py"},
    "encoder": SHARED_MODULES | {"modeling_encoder.py"},
    "decoder": SHARED_MODULES | {"modeling_decoder.py"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_saved_code_is_the_model_folder_byte_for_byte(variant, tmp_path):
    """A checkpoint carries the code of the package that saved it, unchanged."""
    model_class, _, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    saved = {p.name: p.read_bytes() for p in tmp_path.glob("*.py")}
    assert set(saved) == CODE_FILES[variant]
    for name, text in saved.items():
        assert text == (MODEL_FOLDER / name).read_bytes(), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_module_the_auto_map_names_is_saved_with_its_sibling_imports(variant, tmp_path):
    # what the library's loader will copy: the modules auto_map names and their sibling imports, all present
    tiny_model(VARIANTS[variant][0]).save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    for reference in auto_map.values():
        module_file = tmp_path / f"{reference.split('.')[0]}.py"
        assert module_file.is_file(), reference
        for needed in get_relative_import_files(str(module_file)):
            assert Path(needed).is_file(), needed


@pytest.mark.parametrize("module", sorted(p.name for p in MODEL_FOLDER.glob("*.py")))
def test_the_model_folder_imports_nothing_above_it(module):
    """Sibling imports and third-party packages only: what the library copies must run without the package."""
    tree = ast.parse((MODEL_FOLDER / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level in (0, 1), f"{module}:{node.lineno} imports from above the model folder"
            assert (node.module or "").split(".")[0] != "vanilla_transformer", f"{module}:{node.lineno}"
        elif isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] != "vanilla_transformer" for alias in node.names), module
    assert "vanilla_transformer" not in get_imports(str(MODEL_FOLDER / module))


# ---- push_to_hub uploads what save_pretrained writes -----------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_push_to_hub_uploads_exactly_the_files_of_save_pretrained(variant, fake_hub, tmp_path):
    model = tiny_model(VARIANTS[variant][0])
    repo_id = f"someone/tiny-{variant}"
    model.push_to_hub(repo_id)
    ((_, uploaded),) = fake_hub.commits  # one commit
    model.save_pretrained(tmp_path / "local", model_card={"model_id": repo_id})
    assert uploaded == folder_files(tmp_path / "local")

    expected = {"config.json", "model.safetensors", "checksums.sha256", "README.md", *CODE_FILES[variant]}
    if model.can_generate():
        expected.add("generation_config.json")
    assert set(uploaded) == expected
    # tied weights are stored once
    with safe_open(tmp_path / "local" / "model.safetensors", framework="pt") as weights:
        keys = set(weights.keys())
    assert "lm_head.weight" not in keys and "lm_head.decoder.weight" not in keys
    assert "model.decoder.embeddings.embed_tokens.weight" not in keys
    assert f'from_pretrained("{repo_id}", trust_remote_code=True)' in uploaded["README.md"].decode()


def test_save_pretrained_with_push_to_hub_uploads_the_folder_it_wrote(fake_hub, tmp_path):
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path / "out", push_to_hub=True, repo_id="someone/pushed", commit_message="first")
    assert fake_hub.repos["someone/pushed"] == folder_files(tmp_path / "out")
    assert 'from_pretrained("someone/pushed")' in (tmp_path / "out" / "README.md").read_text()


def test_model_and_tokenizer_pushes_fill_one_repository(fake_hub, tmp_path):
    model, tokenizer = tiny_model(vt.TransformerForConditionalGeneration), tiny_tokenizer()
    tokenizer.push_to_hub("someone/translator")  # first: the library uploads its placeholder card
    assert hub.card_origin(fake_hub.repos["someone/translator"]["README.md"].decode()) == "placeholder"
    model.push_to_hub("someone/translator")  # ... which the generated card replaces
    tokenizer.push_to_hub("someone/translator")  # and a later tokenizer push keeps
    repo = fake_hub.repos["someone/translator"]
    assert hub.card_origin(repo["README.md"].decode()) == "generated"
    assert {
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "model.safetensors",
        "generation_config.json",
    } <= set(repo)
    assert "auto_map" in json.loads(repo["config.json"])


def test_push_keeps_a_card_someone_wrote_on_the_hub(fake_hub):
    fake_hub.create_repo(None, "someone/curated")
    fake_hub.repos["someone/curated"]["README.md"] = b"---\nlicense: mit\n---\n# My own card\n"
    tiny_model(vt.TransformerForMaskedLM).push_to_hub("someone/curated", tags=["demo"])
    card = ModelCard(fake_hub.repos["someone/curated"]["README.md"].decode())
    assert "# My own card" in card.text and card.data.license == "mit"
    assert card.data.tags == ["demo"]  # tags are added to it, as the library does
    assert "config.json" in fake_hub.repos["someone/curated"]


# ---- model card ----------------------------------------------------------------------------------------------


def test_model_card_describes_the_architecture_training_and_usage(tmp_path):
    model = tiny_model(vt.TransformerForConditionalGeneration, norm_first=True, position_embedding_type="learned")
    model.save_pretrained(
        tmp_path,
        model_card={
            "model_id": "someone/wmt-tiny",
            "datasets": ["wmt14"],
            "metrics": {"bleu": 27.3, "loss": 1.23456},
            "language": ["en", "de"],
            "license": "apache-2.0",
        },
    )
    card = ModelCard((tmp_path / "README.md").read_text())
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "translation"
    assert card.data.datasets == ["wmt14"] and card.data.language == ["en", "de"] and card.data.license == "apache-2.0"
    assert {"vanilla-transformer", "custom_code"} <= set(card.data.tags)
    text = card.text
    config = model.config
    for expected in (
        "# wmt-tiny",
        "encoder-decoder",
        f"{config.encoder_layers} encoder + {config.decoder_layers} decoder",
        f"{config.d_model} / {config.num_heads} / {config.d_ff}",
        f"{config.vocab_size:,} tokens",
        f"{model.num_parameters():,}",
        "learned, up to 1024 tokens",
        "pre-LN",
        "`wmt14`",
        "| bleu | 27.3 |",
        "| loss | 1.235 |",
        "import vanilla_transformer",
        'AutoModelForSeq2SeqLM.from_pretrained("someone/wmt-tiny").eval()',
        'AutoModelForSeq2SeqLM.from_pretrained("someone/wmt-tiny", trust_remote_code=True).eval()',
        "model.generate(",
    ):
        assert expected in text, expected


def test_a_readme_someone_wrote_is_kept_unless_overwrite(tmp_path, caplog):
    (tmp_path / "README.md").write_text("# Notes of mine\n")
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text() == "# Notes of mine\n"
    model.save_pretrained(tmp_path, model_card={"overwrite": True})
    assert hub.card_origin((tmp_path / "README.md").read_text()) == "generated"
    model.save_pretrained(tmp_path, model_card={"description": "Now with a description."})  # our card: regenerated
    assert "Now with a description." in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match="Unknown model_card field"):
        model.save_pretrained(tmp_path, model_card={"dataset": "typo"})
    model.save_pretrained(tmp_path / "no-card", model_card=False)
    assert not (tmp_path / "no-card" / "README.md").exists()


# ---- the Trainer -----------------------------------------------------------------------------------------------


class CardTrainer(hub.HubTrainerMixin, Trainer):
    pass


def train_tiny(trainer_class, output_dir, **arguments):
    model = tiny_model(vt.TransformerForCausalLM)
    rows = [{"input_ids": ids, "labels": ids} for ids in random_ids(8, 6).tolist()]
    args = TrainingArguments(
        **{
            "output_dir": str(output_dir),
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "report_to": "none",
            "save_strategy": "no",
            "use_cpu": True,
            "disable_tqdm": True,
            "hub_model_id": "someone/trained",
            **arguments,
        }
    )
    trainer = trainer_class(
        model=model, args=args, train_dataset=rows, eval_dataset=rows, processing_class=tiny_tokenizer()
    )
    trainer.train()
    trainer.evaluate()
    return trainer


def test_trainer_push_to_hub_uploads_code_weights_tokenizer_and_a_card_with_the_training_record(fake_hub, tmp_path):
    train_tiny(CardTrainer, tmp_path / "out").push_to_hub(dataset="tiny digit strings")
    repo = fake_hub.repos["someone/trained"]
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "README.md"} <= set(repo)
    assert CODE_FILES["decoder"] <= set(repo)
    assert (
        json.loads(repo["config.json"])["auto_map"]["AutoModelForCausalLM"]
        == "modeling_decoder.TransformerForCausalLM"
    )
    card = ModelCard(repo["README.md"].decode())
    assert hub.card_origin(str(card)) == "generated"
    for expected in (
        "## Architecture",
        "## Training procedure",  # the Trainer's record ...
        "tiny digit strings",
        "- Loss:",  # ... with its evaluation results
        "### Training hyperparameters",
        'AutoModelForCausalLM.from_pretrained("someone/trained", trust_remote_code=True)',
    ):
        assert expected in card.text, expected
    assert "generated_from_trainer" in card.data.tags
    # saving or pushing again keeps the record
    trained = vt.TransformerForCausalLM.from_pretrained(tmp_path / "out")
    trained.save_pretrained(tmp_path / "out", model_card={"description": "Saved again."})
    assert "### Training hyperparameters" in (tmp_path / "out" / "README.md").read_text()
    trained.push_to_hub("someone/trained", model_card={"metrics": {"accuracy": 0.5}})
    card = ModelCard(fake_hub.repos["someone/trained"]["README.md"].decode())
    assert "### Training hyperparameters" in card.text and "| accuracy | 0.5 |" in card.text
    assert "generated_from_trainer" in card.data.tags


def test_checkpoint_pushes_during_training_carry_the_model_code(fake_hub, tmp_path):
    # the library's checkpoint push copies config.json and the weights only: the mixin adds the code auto_map names
    train_tiny(
        CardTrainer, tmp_path / "out", push_to_hub=True, hub_strategy="every_save", save_strategy="steps", save_steps=1
    )
    pushed = [files for repo_id, files in fake_hub.commits if "config.json" in files]
    assert pushed and all(CODE_FILES["decoder"] <= set(files) for files in pushed)


def test_a_plain_trainer_push_still_uploads_a_repository_that_loads_both_ways(fake_hub, tmp_path):
    train_tiny(Trainer, tmp_path / "out").push_to_hub()
    repo = fake_hub.repos["someone/trained"]
    assert CODE_FILES["decoder"] <= set(repo)
    assert "auto_map" in json.loads(repo["config.json"])
    assert hub.card_origin(repo["README.md"].decode()) == "trainer"  # the Trainer's own card, as documented


# ---- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_missing_or_corrupt_weights_raise_an_error_naming_the_file(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    for corrupt in (data[: len(data) // 2], b"not safetensors at all", b""):
        weights.write_bytes(corrupt)
        with pytest.raises(OSError, match=re.escape(str(weights)) + ".*truncated or corrupt"):
            auto_class.from_pretrained(tmp_path)
    weights.unlink()
    with pytest.raises(OSError, match="model.safetensors"):
        auto_class.from_pretrained(tmp_path)


@pytest.mark.parametrize("variant", VARIANTS)
def test_weights_that_do_not_fit_the_config_are_refused_with_the_tensors_named(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "d_ff": config["d_ff"] + 4}))
    fits = re.escape(str(tmp_path / "model.safetensors")) + r" do not fit the model its config\.json describes: "
    with pytest.raises(RuntimeError, match=fits + r".*fc1\.bias: \(37,\) in the weights, \(41,\) from config\.json"):
        auto_class.from_pretrained(tmp_path)
    # asked for explicitly, the library's behaviour: re-initialised and reported
    model, info = auto_class.from_pretrained(tmp_path, ignore_mismatched_sizes=True, output_loading_info=True)
    assert info["mismatched_keys"] and model.config.d_ff == config["d_ff"] + 4


@pytest.mark.parametrize("variant", VARIANTS)
def test_missing_weights_are_reported_as_the_library_does(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    layers = "decoder_layers" if variant == "seq2seq" else "num_layers"
    (tmp_path / "config.json").write_text(json.dumps({**config, layers: config[layers] + 1}))
    _, info = auto_class.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] and all(f"layers.{config[layers]}." in key for key in info["missing_keys"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_config_from_a_newer_checkpoint_format_is_refused_and_older_ones_load(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    newer = {**config, "checkpoint_format": CHECKPOINT_FORMAT + 1, "vanilla_transformer_version": "9.0.0"}
    (tmp_path / "config.json").write_text(json.dumps(newer))
    message = rf"config\.json .*checkpoint format {CHECKPOINT_FORMAT + 1} \(saved by vanilla_transformer 9\.0\.0\).*pip install --upgrade vanilla-transformer"
    with pytest.raises(ValueError, match=message):
        AutoConfig.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=message):
        auto_class.from_pretrained(tmp_path)
    # a checkpoint saved before the format was recorded loads as the current format
    older = {
        k: v for k, v in config.items() if k not in ("checkpoint_format", "vanilla_transformer_version", "auto_map")
    }
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert auto_class.from_pretrained(tmp_path).config.checkpoint_format == CHECKPOINT_FORMAT


# ---- loading: with the package, and in an environment without it --------------------------------------------


def test_with_the_package_trust_remote_code_still_loads_the_package_classes(tmp_path):
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path)
    ids = random_ids(2, 5)
    for trust in (None, True):
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path, trust_remote_code=trust).eval()
        assert type(loaded) is vt.TransformerForCausalLM
        assert type(AutoConfig.from_pretrained(tmp_path, trust_remote_code=trust)) is vt.TransformerDecoderConfig
        with torch.no_grad():
            assert torch.equal(loaded(ids).logits, model(ids).logits)


CHILD = r'''
import importlib, json, re, sys

class BlockPackage:
    """No `vanilla_transformer` on this import path: any attempt to import it fails."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "vanilla_transformer":
            raise ImportError(f"{name} is not installed here")

blocker = BlockPackage()
sys.meta_path.insert(0, blocker)

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer

spec = json.loads(open(sys.argv[1]).read())
reference = torch.load(spec["reference"])
torch.set_num_threads(reference["threads"])


def run(model, kind, ref):
    inputs = {"input_ids": ref["ids"], "attention_mask": ref["mask"]}
    with torch.no_grad():
        if kind == "seq2seq":
            out = model(**inputs, decoder_input_ids=ref["decoder_ids"])
        else:
            out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def check(label, folder, ref, trust):
    kw = {"trust_remote_code": True} if trust else {}
    config = AutoConfig.from_pretrained(folder, **kw)
    auto_class = getattr(transformers, ref["auto_class"])
    head = auto_class.from_pretrained(folder, **kw).eval()
    assert torch.equal(run(head, ref["kind"], ref), ref["logits"]), (label, "logits")
    if "generated" in ref:
        generated = head.generate(ref["ids"], attention_mask=ref["mask"], max_new_tokens=8)
        assert torch.equal(generated, ref["generated"]), (label, "generate")
    if "hidden" in ref:
        bare = AutoModel.from_pretrained(folder, **kw).eval()
        assert torch.equal(run(bare, ref["kind"], ref), ref["hidden"]), (label, "hidden")
    tokenizer = AutoTokenizer.from_pretrained(folder, **kw)
    assert tokenizer(ref["text"]).input_ids == ref["text_ids"], (label, "tokenizer")
    return type(config), head


def run_card_snippet(folder, ref, index):
    card = open(f"{folder}/README.md").read()
    code = re.findall(r"```python\n(.*?)```", card, flags=re.S)[index]
    exec(code.replace(f'"{ref["model_id"]}"', repr(folder)), {})


# 1. Without the package: everything comes from the code saved in the folders.
remote = {}
for label, folder in spec["folders"].items():
    ref = reference[label]
    config_class, head = check(label, folder, ref, trust=True)
    assert config_class.__module__.startswith("transformers_modules."), config_class
    assert type(head).__module__.startswith("transformers_modules."), type(head)
    remote[label] = head
    if ref.get("model_id"):
        run_card_snippet(folder, ref, index=1)
    if label == "seq2seq":  # the remote code saves as the library saves remote code: the copy loads the same way
        head.save_pretrained(folder + "-resaved")
        saved_map = json.load(open(f"{folder}-resaved/config.json"))["auto_map"]
        assert saved_map == json.load(open(f"{folder}/config.json"))["auto_map"], saved_map
        again = getattr(transformers, ref["auto_class"]).from_pretrained(folder + "-resaved", trust_remote_code=True)
        assert torch.equal(run(again.eval(), ref["kind"], ref), ref["logits"]), (label, "resaved")
assert not [name for name in sys.modules if name.split(".")[0] == "vanilla_transformer"]

# 2. The package arrives in the same process: its registration and the remote classes' do not clash.
sys.meta_path.remove(blocker)
import vanilla_transformer as vt
for label, folder in spec["folders"].items():
    ref = reference[label]
    for trust in (False, True):  # with the package imported, its classes win even with trust_remote_code=True
        config_class, head = check(label, folder, ref, trust=trust)
        assert config_class.__module__.startswith("vanilla_transformer."), config_class
        assert type(head).__module__.startswith("vanilla_transformer."), type(head)
    assert torch.equal(run(remote[label], ref["kind"], ref), ref["logits"]), (label, "remote model after import")
    if ref.get("model_id"):
        run_card_snippet(folder, ref, index=0)
print("ok")
'''


def test_pushed_repositories_load_without_the_package_and_give_identical_outputs(fake_hub, tmp_path):
    """Push each variant with its tokenizer, materialise the repositories, and load them in a fresh Python where
    `vanilla_transformer` cannot be imported: logits, generated ids and token ids must equal the original's."""
    text = "Translate this sentence once upon a time"
    shared = [
        ("seq2seq", vt.TransformerForConditionalGeneration, AutoModelForSeq2SeqLM),
        ("decoder", vt.TransformerForCausalLM, AutoModelForCausalLM),
        ("encoder", vt.TransformerForMaskedLM, AutoModelForMaskedLM),
        ("encoder-classifier", vt.TransformerForSequenceClassification, AutoModelForSequenceClassification),
        ("encoder-tagger", vt.TransformerForTokenClassification, AutoModelForTokenClassification),
    ]
    tokenizer = tiny_tokenizer()
    encoded = tokenizer([text, "the capital of france"], return_tensors="pt", padding=True)
    reference, folders = {"threads": torch.get_num_threads()}, {}
    for label, model_class, auto_class in shared:
        model = tiny_model(model_class)
        repo_id = f"someone/{label}"
        model.push_to_hub(repo_id)
        tokenizer.push_to_hub(repo_id)
        folders[label] = str(fake_hub.materialise(repo_id, tmp_path / "repos" / label))
        kind = "seq2seq" if label == "seq2seq" else "other"
        ref = {
            "kind": kind,
            "auto_class": auto_class.__name__,
            "ids": encoded.input_ids,
            "mask": encoded.attention_mask,
            "decoder_ids": encoded.input_ids[:, :4],
            "text": text,
            "text_ids": tokenizer(text).input_ids,
            "model_id": repo_id if label in ("seq2seq", "decoder", "encoder") else None,
        }
        inputs = {"input_ids": ref["ids"], "attention_mask": ref["mask"]}
        if kind == "seq2seq":
            inputs["decoder_input_ids"] = ref["decoder_ids"]
        with torch.no_grad():
            ref["logits"] = model(**inputs).logits
            if label in ("seq2seq", "decoder", "encoder"):
                ref["hidden"] = model.base_model(**inputs).last_hidden_state
        if model.can_generate():
            ref["generated"] = model.generate(ref["ids"], attention_mask=ref["mask"], max_new_tokens=8)
        reference[label] = ref
    torch.save(reference, tmp_path / "reference.pt")
    (tmp_path / "spec.json").write_text(json.dumps({"reference": str(tmp_path / "reference.pt"), "folders": folders}))
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
    }
    result = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), str(tmp_path / "spec.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert result.stdout.strip().splitlines()[-1] == "ok"
