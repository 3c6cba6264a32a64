"""The installed package: its import name, what lands in site-packages, and the Auto-class registration."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import vanilla_transformer as vt


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    """The file names in a wheel built from a copy of the sources (setuptools' build/ folder in the checkout would
    keep files deleted since)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "runs", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_wheel_installs_only_the_vanilla_transformer_package(wheel_names):
    top_level = {name.split("/")[0] for name in wheel_names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"vanilla_transformer"}


@pytest.mark.parametrize("module", ["modeling/modeling_seq2seq.py", "modeling/configuration_transformer.py"])
def test_the_wheel_holds_the_model_folder(wheel_names, module):
    assert f"vanilla_transformer/{module}" in wheel_names


def test_the_wheel_holds_no_tests(wheel_names):
    assert not [n for n in wheel_names if "/tests/" in n or n.endswith("conftest.py")]


# In a fresh interpreter, what `import vanilla_transformer` registers with the Auto classes: the config class of each
# model type, and the model class each Auto class builds from each variant's config.
REGISTRATION = """
import json
import vanilla_transformer as vt
import transformers
from transformers import AutoConfig
kw = dict(vocab_size=20, d_model=16, num_heads=2, d_ff=32)
configs = {
    "seq2seq": vt.TransformerConfig(encoder_layers=1, decoder_layers=1, **kw),
    "encoder": vt.TransformerEncoderConfig(num_layers=1, **kw),
    "decoder": vt.TransformerDecoderConfig(num_layers=1, **kw),
}
models = {}
for auto_class, variant in json.loads(__import__("sys").argv[1]):
    model = getattr(transformers, auto_class).from_config(configs[variant])
    models[f"{auto_class} {variant}"] = f"{type(model).__module__}.{type(model).__qualname__}"
model_types = ["vanilla_transformer", "vanilla_transformer_encoder", "vanilla_transformer_decoder"]
config_classes = {t: f"{type(c).__module__}.{type(c).__qualname__}" for t in model_types for c in [AutoConfig.for_model(t)]}
print(json.dumps({"configs": config_classes, "models": models}))
"""
CONFIG_OF_MODEL_TYPE = {
    "vanilla_transformer": vt.TransformerConfig,
    "vanilla_transformer_encoder": vt.TransformerEncoderConfig,
    "vanilla_transformer_decoder": vt.TransformerDecoderConfig,
}
MODEL_OF = {
    ("AutoModel", "seq2seq"): vt.TransformerModel,
    ("AutoModel", "encoder"): vt.TransformerEncoderModel,
    ("AutoModel", "decoder"): vt.TransformerDecoderModel,
    ("AutoModelForSeq2SeqLM", "seq2seq"): vt.TransformerForConditionalGeneration,
    ("AutoModelForCausalLM", "decoder"): vt.TransformerForCausalLM,
    ("AutoModelForMaskedLM", "encoder"): vt.TransformerForMaskedLM,
    ("AutoModelForSequenceClassification", "encoder"): vt.TransformerForSequenceClassification,
    ("AutoModelForTokenClassification", "encoder"): vt.TransformerForTokenClassification,
}


def qualified_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    result = subprocess.run(
        [sys.executable, "-c", REGISTRATION, json.dumps(list(MODEL_OF))],
        cwd=tmp_path_factory.mktemp("registration"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model_type", list(CONFIG_OF_MODEL_TYPE))
def test_import_registers_the_config_class_of_each_model_type(registered, model_type):
    assert registered["configs"][model_type] == qualified_name(CONFIG_OF_MODEL_TYPE[model_type])


@pytest.mark.parametrize("auto_class, variant", list(MODEL_OF), ids=[" ".join(key) for key in MODEL_OF])
def test_import_registers_each_model_class_with_its_auto_class(registered, auto_class, variant):
    assert registered["models"][f"{auto_class} {variant}"] == qualified_name(MODEL_OF[auto_class, variant])


def test_every_name_in_all_is_exported():
    for name in vt.__all__:
        assert hasattr(vt, name), name


@pytest.mark.parametrize(
    "model_class",
    [
        vt.TransformerModel,
        vt.TransformerEncoderModel,
        vt.TransformerForCausalLM,
        vt.TransformerForConditionalGeneration,
    ],
)
def test_the_model_classes_derive_from_the_pretrained_base_class(model_class):
    assert issubclass(model_class, vt.TransformerPreTrainedModel)


# `make test-lowest` installs these pins: a dependency without a lower bound would make it fail, and one that slipped
# out of the list would go untested at its floor.
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
DECLARED = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]


def requirement_name(requirement):
    return requirement.split(">=")[0].split("[")[0].strip()


@pytest.fixture(scope="module")
def ci_pins():
    result = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "lowest_constraints.py")], capture_output=True, text=True, check=True
    )
    return dict(line.split("==") for line in result.stdout.split())


@pytest.mark.parametrize("requirement", DECLARED)  # torch included: the lowest leg installs its floor too
def test_ci_pins_each_dependency_to_its_declared_lower_bound(ci_pins, requirement):
    assert ci_pins[requirement_name(requirement)] == requirement.split(">=")[1].split(",")[0].strip(), requirement
