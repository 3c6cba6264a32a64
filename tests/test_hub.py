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


def install_fake_hub(monkeypatch, downloads: Path) -> FakeHub:
    """Put a FakeHub behind `huggingface_hub`'s client calls for as long as `monkeypatch` lasts."""
    fake = FakeHub(downloads)
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


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    return install_fake_hub(monkeypatch, tmp_path / "downloads")


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


VARIANT = pytest.mark.parametrize("variant", VARIANTS)


# ---- config.json: auto_map and versions ------------------------------------------------------------------------


def expected_auto_map(config_class):
    """config.json's auto_map of a variant: every Auto class that builds one of its classes, by module and class."""
    expected = {"AutoConfig": f"configuration_transformer.{config_class.__name__}"}
    for auto_class, mapping in vt.AUTO_CLASSES.items():
        if config_class in mapping:
            module = mapping[config_class].__module__.rsplit(".", 1)[-1]
            expected[auto_class.__name__] = f"{module}.{mapping[config_class].__name__}"
    return expected


def saved_config_json(variant, folder):
    tiny_model(VARIANTS[variant][0]).save_pretrained(folder)
    return json.loads((folder / "config.json").read_text())


@VARIANT
def test_config_json_names_every_auto_class_of_the_variant(variant, tmp_path):
    assert saved_config_json(variant, tmp_path)["auto_map"] == expected_auto_map(VARIANTS[variant][2])


@VARIANT
def test_the_auto_map_names_the_config_the_bare_model_and_at_least_two_heads(variant, tmp_path):
    auto_map = saved_config_json(variant, tmp_path)["auto_map"]
    assert {"AutoConfig", "AutoModel"} <= set(auto_map) and len(auto_map) >= 4


@VARIANT
def test_every_auto_map_entry_names_a_class_defined_in_a_file_of_the_folder(variant, tmp_path):
    for reference in saved_config_json(variant, tmp_path)["auto_map"].values():
        module, name = reference.split(".")
        tree = ast.parse((tmp_path / f"{module}.py").read_text())
        assert name in {node.name for node in tree.body if isinstance(node, ast.ClassDef)}, reference


@VARIANT
def test_config_json_records_the_checkpoint_format(variant, tmp_path):
    assert saved_config_json(variant, tmp_path)["checkpoint_format"] == CHECKPOINT_FORMAT


@VARIANT
def test_config_json_records_the_package_version(variant, tmp_path):
    assert saved_config_json(variant, tmp_path)["vanilla_transformer_version"] == vt.__version__


def save_a_config_alone(folder):
    vt.TransformerDecoderConfig(vocab_size=50, d_model=16, num_heads=2, d_ff=32, num_layers=1).save_pretrained(folder)


def test_saving_a_config_alone_writes_the_config_module_only(tmp_path):
    save_a_config_alone(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.py")) == ["configuration_transformer.py"]


def test_saving_a_config_alone_names_its_class_in_the_auto_map(tmp_path):
    save_a_config_alone(tmp_path)
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
    "dropout.py",
    "pretrained.py",
    "loss.py",
}
# What a checkpoint of each variant carries: the modules its classes live in, and what they import.
CODE_FILES = {
    "seq2seq": SHARED_MODULES | {"modeling_encoder.py", "modeling_decoder.py", "modeling_seq2seq.py"},
    "encoder": SHARED_MODULES | {"modeling_encoder.py"},
    "decoder": SHARED_MODULES | {"modeling_decoder.py"},
}


def saved_code(variant, folder):
    tiny_model(VARIANTS[variant][0]).save_pretrained(folder)
    return {p.name: p.read_bytes() for p in folder.glob("*.py")}


@VARIANT
def test_a_checkpoint_carries_the_modules_of_its_variant(variant, tmp_path):
    assert set(saved_code(variant, tmp_path)) == CODE_FILES[variant]


@VARIANT
def test_saved_code_is_the_model_folder_byte_for_byte(variant, tmp_path):
    """A checkpoint carries the code of the package that saved it, unchanged."""
    for name, text in saved_code(variant, tmp_path).items():
        assert text == (MODEL_FOLDER / name).read_bytes(), name


@VARIANT
def test_every_module_the_auto_map_names_is_saved_with_its_sibling_imports(variant, tmp_path):
    # what the library's loader will copy: the modules auto_map names and their sibling imports, all present
    for reference in saved_config_json(variant, tmp_path)["auto_map"].values():
        module_file = tmp_path / f"{reference.split('.')[0]}.py"
        assert module_file.is_file(), reference
        for needed in get_relative_import_files(str(module_file)):
            assert Path(needed).is_file(), needed


MODEL_MODULE = pytest.mark.parametrize("module", sorted(p.name for p in MODEL_FOLDER.glob("*.py")))


@MODEL_MODULE
def test_the_model_folder_imports_nothing_above_it(module):
    """Sibling imports and third-party packages only: what the library copies must run without the package."""
    tree = ast.parse((MODEL_FOLDER / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level in (0, 1), f"{module}:{node.lineno} imports from above the model folder"
            assert (node.module or "").split(".")[0] != "vanilla_transformer", f"{module}:{node.lineno}"
        elif isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] != "vanilla_transformer" for alias in node.names), module


@MODEL_MODULE
def test_the_library_finds_no_import_of_the_package_in_the_model_folder(module):
    assert "vanilla_transformer" not in get_imports(str(MODEL_FOLDER / module))


# ---- push_to_hub uploads what save_pretrained writes -----------------------------------------------------------


@pytest.fixture
def pushed(variant, fake_hub, tmp_path):
    """A tiny model of the variant pushed as someone/tiny-<variant>, and the same model saved with that card."""
    model = tiny_model(VARIANTS[variant][0])
    repo_id = f"someone/tiny-{variant}"
    model.push_to_hub(repo_id)
    model.save_pretrained(tmp_path / "local", model_card={"model_id": repo_id})
    return SimpleNamespace(model=model, repo_id=repo_id, commits=fake_hub.commits, local=tmp_path / "local")


@VARIANT
def test_push_to_hub_makes_one_commit(variant, pushed):
    assert len(pushed.commits) == 1


@VARIANT
def test_push_to_hub_uploads_exactly_the_files_of_save_pretrained(variant, pushed):
    ((_, uploaded),) = pushed.commits
    assert uploaded == folder_files(pushed.local)


@VARIANT
def test_push_to_hub_uploads_the_config_weights_checksums_card_code_and_generation_config(variant, pushed):
    ((_, uploaded),) = pushed.commits
    expected = {"config.json", "model.safetensors", "checksums.sha256", "README.md", *CODE_FILES[variant]}
    if pushed.model.can_generate():
        expected.add("generation_config.json")
    assert set(uploaded) == expected


@VARIANT
def test_pushed_weights_store_tied_weights_once(variant, pushed):
    with safe_open(pushed.local / "model.safetensors", framework="pt") as weights:
        keys = set(weights.keys())
    assert "lm_head.weight" not in keys and "lm_head.decoder.weight" not in keys
    assert "model.decoder.embeddings.embed_tokens.weight" not in keys


@VARIANT
def test_the_pushed_card_shows_loading_the_repository_with_remote_code(variant, pushed):
    ((_, uploaded),) = pushed.commits
    assert f'from_pretrained("{pushed.repo_id}", trust_remote_code=True)' in uploaded["README.md"].decode()


def save_with_push_to_hub(folder):
    tiny_model(vt.TransformerForCausalLM).save_pretrained(
        folder, push_to_hub=True, repo_id="someone/pushed", commit_message="first"
    )


def test_save_pretrained_with_push_to_hub_uploads_the_folder_it_wrote(fake_hub, tmp_path):
    save_with_push_to_hub(tmp_path / "out")
    assert fake_hub.repos["someone/pushed"] == folder_files(tmp_path / "out")


def test_save_pretrained_with_push_to_hub_writes_a_card_for_the_repository(fake_hub, tmp_path):
    save_with_push_to_hub(tmp_path / "out")
    assert 'from_pretrained("someone/pushed")' in (tmp_path / "out" / "README.md").read_text()


def card_of(fake_hub, repo_id):
    return hub.card_origin(fake_hub.repos[repo_id]["README.md"].decode())


def test_a_tokenizer_pushed_first_uploads_the_library_placeholder_card(fake_hub):
    tiny_tokenizer().push_to_hub("someone/translator")
    assert card_of(fake_hub, "someone/translator") == "placeholder"


def test_a_model_push_replaces_the_placeholder_card_with_the_generated_one(fake_hub):
    tiny_tokenizer().push_to_hub("someone/translator")
    tiny_model(vt.TransformerForConditionalGeneration).push_to_hub("someone/translator")
    assert card_of(fake_hub, "someone/translator") == "generated"


@pytest.fixture
def translator_repo(fake_hub):
    """someone/translator after pushing a tokenizer, a model, then the tokenizer again."""
    model, tokenizer = tiny_model(vt.TransformerForConditionalGeneration), tiny_tokenizer()
    tokenizer.push_to_hub("someone/translator")
    model.push_to_hub("someone/translator")
    tokenizer.push_to_hub("someone/translator")
    return fake_hub.repos["someone/translator"]


def test_a_later_tokenizer_push_keeps_the_generated_card(translator_repo):
    assert hub.card_origin(translator_repo["README.md"].decode()) == "generated"


def test_model_and_tokenizer_pushes_fill_one_repository(translator_repo):
    files = {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors", "generation_config.json"}
    assert files <= set(translator_repo)


def test_a_later_tokenizer_push_keeps_the_auto_map(translator_repo):
    assert "auto_map" in json.loads(translator_repo["config.json"])


@pytest.fixture
def curated_repo(fake_hub):
    """someone/curated, with a card someone wrote on the Hub, after a model push with a tag."""
    fake_hub.create_repo(None, "someone/curated")
    fake_hub.repos["someone/curated"]["README.md"] = b"---\nlicense: mit\n---\n# My own card\n"
    tiny_model(vt.TransformerForMaskedLM).push_to_hub("someone/curated", tags=["demo"])
    return fake_hub.repos["someone/curated"]


def test_push_keeps_a_card_someone_wrote_on_the_hub(curated_repo):
    card = ModelCard(curated_repo["README.md"].decode())
    assert "# My own card" in card.text and card.data.license == "mit"


def test_push_adds_its_tags_to_a_card_someone_wrote(curated_repo):
    assert ModelCard(curated_repo["README.md"].decode()).data.tags == ["demo"]  # as the library does


def test_push_to_a_repository_with_a_card_someone_wrote_still_uploads_the_model(curated_repo):
    assert "config.json" in curated_repo


# ---- model card ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def described(tmp_path_factory):
    """A pre-LN encoder-decoder with learned positions, its card saved with every field, and its config."""
    folder = tmp_path_factory.mktemp("card")
    model = tiny_model(vt.TransformerForConditionalGeneration, norm_first=True, position_embedding_type="learned")
    model.save_pretrained(
        folder,
        model_card={
            "model_id": "someone/wmt-tiny",
            "datasets": ["wmt14"],
            "metrics": {"bleu": 27.3, "loss": 1.23456},
            "language": ["en", "de"],
            "license": "apache-2.0",
        },
    )
    return ModelCard((folder / "README.md").read_text()), model


def test_the_card_metadata_names_the_library_and_the_task(described):
    card, _ = described
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "translation"


def test_the_card_metadata_holds_the_datasets_languages_and_license(described):
    card, _ = described
    assert card.data.datasets == ["wmt14"] and card.data.language == ["en", "de"] and card.data.license == "apache-2.0"


def test_the_card_is_tagged_as_the_package_and_as_custom_code(described):
    card, _ = described
    assert {"vanilla-transformer", "custom_code"} <= set(card.data.tags)


# What the card's text must say of the model above (its config: 2 + 3 layers, 32 / 4 / 37, 99 tokens).
CARD_TEXT = {
    "title": lambda model: "# wmt-tiny",
    "kind": lambda model: "encoder-decoder",
    "layers": lambda model: f"{model.config.encoder_layers} encoder + {model.config.decoder_layers} decoder",
    "sizes": lambda model: f"{model.config.d_model} / {model.config.num_heads} / {model.config.d_ff}",
    "vocabulary": lambda model: f"{model.config.vocab_size:,} tokens",
    "parameters": lambda model: f"{model.num_parameters():,}",
    "positions": lambda model: "learned, up to 1024 tokens",
    "normalisation": lambda model: "pre-LN",
    "dataset": lambda model: "`wmt14`",
    "metric": lambda model: "| bleu | 27.3 |",
    "rounded metric": lambda model: "| loss | 1.235 |",
    "import": lambda model: "import vanilla_transformer",
    "loading with the package": lambda model: 'AutoModelForSeq2SeqLM.from_pretrained("someone/wmt-tiny").eval()',
    "loading without it": lambda model: (
        'AutoModelForSeq2SeqLM.from_pretrained("someone/wmt-tiny", trust_remote_code=True).eval()'
    ),
    "generation": lambda model: "model.generate(",
}


@pytest.mark.parametrize("item", list(CARD_TEXT))
def test_the_card_describes_the_architecture_training_and_usage(described, item):
    card, model = described
    expected = CARD_TEXT[item](model)
    assert expected in card.text, expected


def test_a_readme_someone_wrote_is_kept(tmp_path):
    (tmp_path / "README.md").write_text("# Notes of mine\n")
    tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text() == "# Notes of mine\n"


def test_a_readme_someone_wrote_is_replaced_with_overwrite(tmp_path):
    (tmp_path / "README.md").write_text("# Notes of mine\n")
    tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path, model_card={"overwrite": True})
    assert hub.card_origin((tmp_path / "README.md").read_text()) == "generated"


def test_a_generated_card_is_regenerated_on_save(tmp_path):
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path, model_card={"description": "Now with a description."})  # our card: regenerated
    assert "Now with a description." in (tmp_path / "README.md").read_text()


def test_an_unknown_card_field_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="Unknown model_card field"):
        tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path, model_card={"dataset": "typo"})


def test_model_card_false_writes_no_readme(tmp_path):
    tiny_model(vt.TransformerForCausalLM).save_pretrained(tmp_path / "no-card", model_card=False)
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


@pytest.fixture(scope="module")
def trainer_pushes(tmp_path_factory):
    """A CardTrainer run pushed with `Trainer.push_to_hub`; then the trained model saved again over its output folder
    and pushed again with a metric. What the repository and the folder hold after each step."""
    tmp_path = tmp_path_factory.mktemp("trainer-push")
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_hub = install_fake_hub(monkeypatch, tmp_path / "downloads")
        train_tiny(CardTrainer, tmp_path / "out").push_to_hub(dataset="tiny digit strings")
        first_push = dict(fake_hub.repos["someone/trained"])
        trained = vt.TransformerForCausalLM.from_pretrained(tmp_path / "out")
        trained.save_pretrained(tmp_path / "out", model_card={"description": "Saved again."})
        saved_again = (tmp_path / "out" / "README.md").read_text()
        trained.push_to_hub("someone/trained", model_card={"metrics": {"accuracy": 0.5}})
        second_push = dict(fake_hub.repos["someone/trained"])
    return SimpleNamespace(
        first=first_push,
        first_card=ModelCard(first_push["README.md"].decode()),
        saved_again=saved_again,
        second_card=ModelCard(second_push["README.md"].decode()),
    )


def test_trainer_push_to_hub_uploads_weights_config_tokenizer_and_a_card(trainer_pushes):
    files = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "README.md"}
    assert files <= set(trainer_pushes.first)


def test_trainer_push_to_hub_uploads_the_model_code(trainer_pushes):
    assert CODE_FILES["decoder"] <= set(trainer_pushes.first)


def test_trainer_push_to_hub_uploads_a_config_naming_the_code(trainer_pushes):
    auto_map = json.loads(trainer_pushes.first["config.json"])["auto_map"]
    assert auto_map["AutoModelForCausalLM"] == "modeling_decoder.TransformerForCausalLM"


def test_trainer_push_to_hub_uploads_the_generated_card(trainer_pushes):
    assert hub.card_origin(str(trainer_pushes.first_card)) == "generated"


TRAINER_CARD_TEXT = [
    "## Architecture",
    "## Training procedure",  # the Trainer's record ...
    "tiny digit strings",
    "- Loss:",  # ... with its evaluation results
    "### Training hyperparameters",
    'AutoModelForCausalLM.from_pretrained("someone/trained", trust_remote_code=True)',
]


@pytest.mark.parametrize("expected", TRAINER_CARD_TEXT)
def test_the_trainer_pushed_card_holds_the_architecture_and_the_training_record(trainer_pushes, expected):
    assert expected in trainer_pushes.first_card.text


def test_the_trainer_pushed_card_is_tagged_generated_from_trainer(trainer_pushes):
    assert "generated_from_trainer" in trainer_pushes.first_card.data.tags


def test_saving_a_trained_model_again_keeps_the_training_record(trainer_pushes):
    assert "### Training hyperparameters" in trainer_pushes.saved_again


def test_pushing_a_trained_model_again_keeps_the_training_record(trainer_pushes):
    assert "### Training hyperparameters" in trainer_pushes.second_card.text


def test_pushing_a_trained_model_again_adds_the_new_metrics(trainer_pushes):
    assert "| accuracy | 0.5 |" in trainer_pushes.second_card.text


def test_pushing_a_trained_model_again_keeps_the_trainer_tag(trainer_pushes):
    assert "generated_from_trainer" in trainer_pushes.second_card.data.tags


def test_checkpoint_pushes_during_training_carry_the_model_code(fake_hub, tmp_path):
    # the library's checkpoint push copies config.json and the weights only: the mixin adds the code auto_map names
    train_tiny(
        CardTrainer, tmp_path / "out", push_to_hub=True, hub_strategy="every_save", save_strategy="steps", save_steps=1
    )
    pushed = [files for repo_id, files in fake_hub.commits if "config.json" in files]
    assert pushed and all(CODE_FILES["decoder"] <= set(files) for files in pushed)


@pytest.fixture(scope="module")
def plain_trainer_repo(tmp_path_factory):
    """What a plain `Trainer` (without the package's mixin) pushes of a run of one of our models."""
    tmp_path = tmp_path_factory.mktemp("plain-trainer-push")
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_hub = install_fake_hub(monkeypatch, tmp_path / "downloads")
        train_tiny(Trainer, tmp_path / "out").push_to_hub()
    return fake_hub.repos["someone/trained"]


def test_a_plain_trainer_push_uploads_the_model_code(plain_trainer_repo):
    assert CODE_FILES["decoder"] <= set(plain_trainer_repo)


def test_a_plain_trainer_push_uploads_a_config_with_the_auto_map(plain_trainer_repo):
    assert "auto_map" in json.loads(plain_trainer_repo["config.json"])


def test_a_plain_trainer_push_uploads_the_trainers_own_card(plain_trainer_repo):
    assert hub.card_origin(plain_trainer_repo["README.md"].decode()) == "trainer"  # as documented


# ---- bad input -------------------------------------------------------------------------------------------------

CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "not safetensors": lambda data: b"not safetensors at all",
    "empty": lambda data: b"",
}


@VARIANT
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_weights_raise_an_error_naming_the_file(variant, corruption, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(CORRUPTIONS[corruption](weights.read_bytes()))
    with pytest.raises(OSError, match=re.escape(str(weights)) + ".*truncated or corrupt"):
        auto_class.from_pretrained(tmp_path)


@VARIANT
def test_missing_weights_raise_an_error_naming_the_file(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(OSError, match="model.safetensors"):
        auto_class.from_pretrained(tmp_path)


def with_a_wider_feed_forward_in_the_config(variant, folder):
    """A checkpoint of the variant whose config.json then says d_ff is 4 wider than the weights; the old d_ff."""
    tiny_model(VARIANTS[variant][0]).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "d_ff": config["d_ff"] + 4}))
    return config["d_ff"]


@VARIANT
def test_weights_that_do_not_fit_the_config_are_refused_with_the_tensors_named(variant, tmp_path):
    with_a_wider_feed_forward_in_the_config(variant, tmp_path)
    fits = re.escape(str(tmp_path / "model.safetensors")) + r" do not fit the model its config\.json describes: "
    with pytest.raises(RuntimeError, match=fits + r".*fc1\.bias: \(37,\) in the weights, \(41,\) from config\.json"):
        VARIANTS[variant][1].from_pretrained(tmp_path)


@VARIANT
def test_ignore_mismatched_sizes_reinitialises_and_reports_weights_that_do_not_fit(variant, tmp_path):
    # asked for explicitly, the library's behaviour
    d_ff = with_a_wider_feed_forward_in_the_config(variant, tmp_path)
    model, info = VARIANTS[variant][1].from_pretrained(
        tmp_path, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert info["mismatched_keys"] and model.config.d_ff == d_ff + 4


@VARIANT
def test_missing_weights_are_reported_as_the_library_does(variant, tmp_path):
    model_class, auto_class, _ = VARIANTS[variant]
    tiny_model(model_class).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    layers = "decoder_layers" if variant == "seq2seq" else "num_layers"
    (tmp_path / "config.json").write_text(json.dumps({**config, layers: config[layers] + 1}))
    _, info = auto_class.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] and all(f"layers.{config[layers]}." in key for key in info["missing_keys"])


def saved_config_json_rewritten(variant, folder, rewrite):
    tiny_model(VARIANTS[variant][0]).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(rewrite(config)))


NEWER_FORMAT = rf"config\.json .*checkpoint format {CHECKPOINT_FORMAT + 1} \(saved by vanilla_transformer 9\.0\.0\).*pip install --upgrade vanilla-transformer"


@VARIANT
@pytest.mark.parametrize("loader", ["AutoConfig", "auto class"])
def test_a_config_from_a_newer_checkpoint_format_is_refused(variant, loader, tmp_path):
    saved_config_json_rewritten(
        variant,
        tmp_path,
        lambda config: {**config, "checkpoint_format": CHECKPOINT_FORMAT + 1, "vanilla_transformer_version": "9.0.0"},
    )
    with pytest.raises(ValueError, match=NEWER_FORMAT):
        (AutoConfig if loader == "AutoConfig" else VARIANTS[variant][1]).from_pretrained(tmp_path)


@VARIANT
def test_a_checkpoint_saved_before_the_format_was_recorded_loads_as_the_current_format(variant, tmp_path):
    unrecorded = ("checkpoint_format", "vanilla_transformer_version", "auto_map")
    saved_config_json_rewritten(
        variant, tmp_path, lambda config: {k: v for k, v in config.items() if k not in unrecorded}
    )
    assert VARIANTS[variant][1].from_pretrained(tmp_path).config.checkpoint_format == CHECKPOINT_FORMAT


# ---- loading: with the package, and in an environment without it --------------------------------------------


TRUST = pytest.mark.parametrize("trust", [None, True])


@pytest.fixture(scope="module")
def saved_causal_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("causal-lm")
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(folder)
    return model, folder


@TRUST
def test_with_the_package_trust_remote_code_still_loads_the_package_model_class(saved_causal_lm, trust):
    _, folder = saved_causal_lm
    assert type(AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=trust)) is vt.TransformerForCausalLM


@TRUST
def test_with_the_package_trust_remote_code_still_loads_the_package_config_class(saved_causal_lm, trust):
    _, folder = saved_causal_lm
    assert type(AutoConfig.from_pretrained(folder, trust_remote_code=trust)) is vt.TransformerDecoderConfig


@TRUST
def test_with_the_package_trust_remote_code_loads_a_model_with_the_same_logits(saved_causal_lm, trust):
    model, folder = saved_causal_lm
    loaded = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=trust).eval()
    ids = random_ids(2, 5)
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


# The child loads the pushed repositories in a fresh Python, first where `vanilla_transformer` cannot be imported
# (everything comes from the code saved in the folders), then after importing it in the same process (its
# registration and the remote classes' must not clash). It records each check as "ok" or the error it raised.
CHILD = r'''
import functools, json, re, sys, traceback

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
results = {}


def record(name, check):
    try:
        check()
        results[name] = "ok"
    except BaseException:
        results[name] = traceback.format_exc(limit=3)[-3000:]


def expect(condition, message=""):
    if not condition:
        raise AssertionError(message)


def run(model, kind, ref):
    inputs = {"input_ids": ref["ids"], "attention_mask": ref["mask"]}
    with torch.no_grad():
        if kind == "seq2seq":
            out = model(**inputs, decoder_input_ids=ref["decoder_ids"])
        else:
            out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@functools.cache
def load(phase, label, trust, what):
    """The config, head, bare model or tokenizer of a pushed repository, loaded once per phase."""
    folder, ref = spec["folders"][label], reference[label]
    kw = {"trust_remote_code": True} if trust else {}
    if what == "config":
        return AutoConfig.from_pretrained(folder, **kw)
    if what == "head":
        return getattr(transformers, ref["auto_class"]).from_pretrained(folder, **kw).eval()
    if what == "bare":
        return AutoModel.from_pretrained(folder, **kw).eval()
    return AutoTokenizer.from_pretrained(folder, **kw)


def record_outputs(phase, label, trust, origin):
    """The checks of one repository loaded in one phase: its classes come from `origin`, its outputs are the
    original model's."""
    ref, key = reference[label], f"{phase} {label} {trust}"
    loaded = functools.partial(load, phase, label, trust)
    record(f"{key} config class", lambda: expect(type(loaded("config")).__module__.startswith(origin)))
    record(f"{key} model class", lambda: expect(type(loaded("head")).__module__.startswith(origin)))
    record(f"{key} logits", lambda: expect(torch.equal(run(loaded("head"), ref["kind"], ref), ref["logits"])))
    if "generated" in ref:
        generate = lambda: loaded("head").generate(ref["ids"], attention_mask=ref["mask"], max_new_tokens=8)
        record(f"{key} generate", lambda: expect(torch.equal(generate(), ref["generated"])))
    if "hidden" in ref:
        record(f"{key} hidden", lambda: expect(torch.equal(run(loaded("bare"), ref["kind"], ref), ref["hidden"])))
    record(f"{key} tokenizer", lambda: expect(loaded("tokenizer")(ref["text"]).input_ids == ref["text_ids"]))


def run_card_snippet(label, index):
    folder, ref = spec["folders"][label], reference[label]
    card = open(f"{folder}/README.md").read()
    code = re.findall(r"```python\n(.*?)```", card, flags=re.S)[index]
    exec(code.replace(f'"{ref["model_id"]}"', repr(folder)), {})


RESAVED = spec["folders"]["seq2seq"] + "-resaved"


def the_resaved_auto_map_is_the_pushed_one():
    saved_map = json.load(open(f"{RESAVED}/config.json"))["auto_map"]
    expect(saved_map == json.load(open(spec["folders"]["seq2seq"] + "/config.json"))["auto_map"], saved_map)


def the_resaved_model_loads_with_the_same_logits():
    ref = reference["seq2seq"]
    again = getattr(transformers, ref["auto_class"]).from_pretrained(RESAVED, trust_remote_code=True)
    expect(torch.equal(run(again.eval(), ref["kind"], ref), ref["logits"]))


# 1. Without the package: everything comes from the code saved in the folders.
for label in spec["folders"]:
    record_outputs("remote", label, True, "transformers_modules.")
    if reference[label].get("model_id"):
        record(f"remote {label} card snippet", lambda: run_card_snippet(label, index=1))
# the remote code saves as the library saves remote code: the copy loads the same way
record("remote seq2seq resave", lambda: load("remote", "seq2seq", True, "head").save_pretrained(RESAVED))
record("remote seq2seq resaved auto_map", the_resaved_auto_map_is_the_pushed_one)
record("remote seq2seq resaved logits", the_resaved_model_loads_with_the_same_logits)
imported = lambda: [name for name in sys.modules if name.split(".")[0] == "vanilla_transformer"]
record("remote package never imported", lambda: expect(not imported(), imported()))

# 2. The package arrives in the same process: its registration and the remote classes' do not clash.
sys.meta_path.remove(blocker)
import vanilla_transformer
for label in spec["folders"]:
    ref = reference[label]
    for trust in (False, True):  # with the package imported, its classes win even with trust_remote_code=True
        record_outputs("package", label, trust, "vanilla_transformer.")
    remote = lambda: run(load("remote", label, True, "head"), ref["kind"], ref)
    record(f"package {label} remote model", lambda: expect(torch.equal(remote(), ref["logits"])))
    if ref.get("model_id"):
        record(f"package {label} card snippet", lambda: run_card_snippet(label, index=0))
json.dump(results, open(sys.argv[2], "w"), indent=1)
'''

# What the child loads: each variant's head (and the encoder's two classifiers), each pushed with the tokenizer. The
# first three have a card with their model id and a bare model; the generative ones also generate.
SHARED = {
    "seq2seq": (vt.TransformerForConditionalGeneration, AutoModelForSeq2SeqLM),
    "decoder": (vt.TransformerForCausalLM, AutoModelForCausalLM),
    "encoder": (vt.TransformerForMaskedLM, AutoModelForMaskedLM),
    "encoder-classifier": (vt.TransformerForSequenceClassification, AutoModelForSequenceClassification),
    "encoder-tagger": (vt.TransformerForTokenClassification, AutoModelForTokenClassification),
}
WITH_CARD_AND_BASE = ["seq2seq", "decoder", "encoder"]
GENERATIVE_LABELS = ["seq2seq", "decoder"]


@pytest.fixture(scope="module")
def loaded_elsewhere(tmp_path_factory):
    """Push each variant with its tokenizer, materialise the repositories, and load them in a fresh Python where
    `vanilla_transformer` cannot be imported, then with it: the child's record of each check (logits, generated
    ids and token ids must equal the original's)."""
    tmp_path = tmp_path_factory.mktemp("elsewhere")
    text = "Translate this sentence once upon a time"
    tokenizer = tiny_tokenizer()
    encoded = tokenizer([text, "the capital of france"], return_tensors="pt", padding=True)
    reference, folders = {"threads": torch.get_num_threads()}, {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake_hub = install_fake_hub(monkeypatch, tmp_path / "downloads")
        for label, (model_class, auto_class) in SHARED.items():
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
                "model_id": repo_id if label in WITH_CARD_AND_BASE else None,
            }
            inputs = {"input_ids": ref["ids"], "attention_mask": ref["mask"]}
            if kind == "seq2seq":
                inputs["decoder_input_ids"] = ref["decoder_ids"]
            with torch.no_grad():
                ref["logits"] = model(**inputs).logits
                if label in WITH_CARD_AND_BASE:
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
        [sys.executable, str(tmp_path / "child.py"), str(tmp_path / "spec.json"), str(tmp_path / "results.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return json.loads((tmp_path / "results.json").read_text())


def passed(results, check):
    assert check in results, f"the child did not run {check!r}"
    assert results[check] == "ok", results[check]


LABEL = pytest.mark.parametrize("label", list(SHARED))
WITH_CARD = pytest.mark.parametrize("label", WITH_CARD_AND_BASE)
GENERATIVE_LABEL = pytest.mark.parametrize("label", GENERATIVE_LABELS)
# With the package imported, its classes win with or without trust_remote_code.
WITH_PACKAGE = pytest.mark.parametrize("trust", [False, True], ids=["package", "package-trust_remote_code"])


@LABEL
def test_without_the_package_a_pushed_config_loads_from_the_saved_code(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True config class")


@LABEL
def test_without_the_package_a_pushed_model_loads_from_the_saved_code(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True model class")


@LABEL
def test_without_the_package_a_pushed_model_gives_identical_logits(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True logits")


@GENERATIVE_LABEL
def test_without_the_package_a_pushed_model_generates_identical_ids(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True generate")


@WITH_CARD
def test_without_the_package_a_pushed_bare_model_gives_identical_hidden_states(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True hidden")


@LABEL
def test_without_the_package_a_pushed_tokenizer_gives_identical_ids(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} True tokenizer")


@WITH_CARD
def test_without_the_package_the_cards_remote_code_snippet_runs(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"remote {label} card snippet")


def test_the_remote_code_saves_a_loaded_model(loaded_elsewhere):
    passed(loaded_elsewhere, "remote seq2seq resave")


def test_the_remote_code_saves_the_auto_map_it_was_loaded_with(loaded_elsewhere):
    passed(loaded_elsewhere, "remote seq2seq resaved auto_map")


def test_a_model_saved_by_the_remote_code_loads_the_same_way_with_identical_logits(loaded_elsewhere):
    passed(loaded_elsewhere, "remote seq2seq resaved logits")


def test_loading_remote_code_never_imports_the_package(loaded_elsewhere):
    passed(loaded_elsewhere, "remote package never imported")


@LABEL
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_config_loads_as_the_package_class(loaded_elsewhere, label, trust):
    passed(loaded_elsewhere, f"package {label} {trust} config class")


@LABEL
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_model_loads_as_the_package_class(loaded_elsewhere, label, trust):
    passed(loaded_elsewhere, f"package {label} {trust} model class")


@LABEL
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_model_gives_identical_logits(loaded_elsewhere, label, trust):
    passed(loaded_elsewhere, f"package {label} {trust} logits")


@GENERATIVE_LABEL
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_model_generates_identical_ids(loaded_elsewhere, label, trust):
    passed(loaded_elsewhere, f"package {label} {trust} generate")


@WITH_CARD
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_bare_model_gives_identical_hidden_states(
    loaded_elsewhere, label, trust
):
    passed(loaded_elsewhere, f"package {label} {trust} hidden")


@LABEL
@WITH_PACKAGE
def test_once_the_package_is_imported_a_pushed_tokenizer_gives_identical_ids(loaded_elsewhere, label, trust):
    passed(loaded_elsewhere, f"package {label} {trust} tokenizer")


@LABEL
def test_a_remote_model_loaded_before_the_package_still_gives_identical_logits_after(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"package {label} remote model")


@WITH_CARD
def test_once_the_package_is_imported_the_cards_package_snippet_runs(loaded_elsewhere, label):
    passed(loaded_elsewhere, f"package {label} card snippet")
