"""The installed package: its import name, what lands in site-packages, and the Auto-class registration."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import vanilla_transformer as vt


REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_only_the_vanilla_transformer_package(tmp_path):
    # built from a copy of the sources: setuptools' build/ folder in the checkout would keep files deleted since
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
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"vanilla_transformer"}
    assert "vanilla_transformer/modeling/modeling_seq2seq.py" in names
    assert "vanilla_transformer/modeling/configuration_transformer.py" in names
    assert not [n for n in names if "/tests/" in n or n.endswith("conftest.py")]


def test_import_registers_every_variant_with_the_auto_classes(tmp_path):
    code = """
import vanilla_transformer as vt
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification
kw = dict(vocab_size=20, d_model=16, num_heads=2, d_ff=32)
for model_type, expected in [("vanilla_transformer", vt.TransformerConfig), ("vanilla_transformer_encoder", vt.TransformerEncoderConfig), ("vanilla_transformer_decoder", vt.TransformerDecoderConfig)]:
    assert type(AutoConfig.for_model(model_type)) is expected
s2s = vt.TransformerConfig(encoder_layers=1, decoder_layers=1, **kw)
enc = vt.TransformerEncoderConfig(num_layers=1, **kw)
dec = vt.TransformerDecoderConfig(num_layers=1, **kw)
assert type(AutoModel.from_config(s2s)) is vt.TransformerModel
assert type(AutoModel.from_config(enc)) is vt.TransformerEncoderModel
assert type(AutoModel.from_config(dec)) is vt.TransformerDecoderModel
assert type(AutoModelForSeq2SeqLM.from_config(s2s)) is vt.TransformerForConditionalGeneration
assert type(AutoModelForCausalLM.from_config(dec)) is vt.TransformerForCausalLM
assert type(AutoModelForMaskedLM.from_config(enc)) is vt.TransformerForMaskedLM
assert type(AutoModelForSequenceClassification.from_config(enc)) is vt.TransformerForSequenceClassification
assert type(AutoModelForTokenClassification.from_config(enc)) is vt.TransformerForTokenClassification
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_public_api_is_exported():
    for name in vt.__all__:
        assert hasattr(vt, name), name
    assert vt.TransformerPreTrainedModel in vt.TransformerForConditionalGeneration.__mro__
    for model_class in (vt.TransformerModel, vt.TransformerEncoderModel, vt.TransformerForCausalLM):
        assert issubclass(model_class, vt.TransformerPreTrainedModel)


def test_ci_pins_every_dependency_but_torch_to_its_declared_lower_bound():
    # `make test-lowest` installs these pins: a dependency without a lower bound would make it fail, and one that
    # slipped out of the list would go untested at its floor.
    import tomllib

    result = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "lowest_constraints.py")], capture_output=True, text=True, check=True
    )
    pins = dict(line.split("==") for line in result.stdout.split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    for requirement in declared:
        name = requirement.split(">=")[0].split("[")[0].strip()
        if name == "torch":
            assert name not in pins  # installed first, as the machine's own build
        else:
            assert pins[name] == requirement.split(">=")[1].split(",")[0].strip(), requirement
