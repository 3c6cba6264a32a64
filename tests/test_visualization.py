"""Attention maps (`vanilla_transformer.visualization`): the weights drawn are the model's `output_attentions`."""

import struct

import pytest
import torch

import vanilla_transformer as vt
from vanilla_transformer.visualization import attention_map, plot_attention

from tokenizer_helpers import DE, EN, trained


def tiny(model_class, variant):
    torch.manual_seed(0)
    tokenizer = trained("bpe", variant)
    layers = dict(encoder_layers=2, decoder_layers=2) if variant == "seq2seq" else dict(num_layers=2)
    config = vt.config_from_tokenizer(tokenizer, variant, d_model=32, num_heads=4, d_ff=64, **layers)
    return model_class(config).eval(), tokenizer


# (model class, variant, kind, which attentions of the outputs, whether the map reads the target)
CASES = {
    "encoder-decoder, cross": (vt.TransformerForConditionalGeneration, "seq2seq", "cross", "cross_attentions"),
    "encoder-decoder, encoder": (vt.TransformerForConditionalGeneration, "seq2seq", "encoder", "encoder_attentions"),
    "encoder-decoder, decoder": (vt.TransformerForConditionalGeneration, "seq2seq", "decoder", "decoder_attentions"),
    "encoder-only": (vt.TransformerForMaskedLM, "encoder", "encoder", "attentions"),
    "decoder-only": (vt.TransformerForCausalLM, "decoder", "decoder", "attentions"),
}


def _reference(model, tokenizer, field, layer, head):
    inputs = tokenizer(EN[0], return_tensors="pt", return_token_type_ids=False)
    if model.config.is_encoder_decoder:
        labels = tokenizer(text_target=DE[0], return_tensors="pt")["input_ids"]
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        return getattr(model(**inputs, output_attentions=True), field)[layer][0, head]


@pytest.mark.parametrize("case", list(CASES))
def test_the_map_holds_the_weights_of_output_attentions(case):
    model_class, variant, kind, field = CASES[case]
    model, tokenizer = tiny(model_class, variant)
    drawn = attention_map(model, tokenizer, EN[0], DE[0], kind=kind, layer=1, head=2)
    assert torch.equal(drawn.weights, _reference(model, tokenizer, field, 1, 2))


@pytest.mark.parametrize("case", list(CASES))
def test_the_map_labels_every_query_and_key_with_its_token(case):
    model_class, variant, kind, _ = CASES[case]
    model, tokenizer = tiny(model_class, variant)
    drawn = attention_map(model, tokenizer, EN[0], DE[0], kind=kind)
    assert tuple(drawn.weights.shape) == (len(drawn.query_tokens), len(drawn.key_tokens))
    source = tokenizer.convert_ids_to_tokens(tokenizer(EN[0])["input_ids"])
    if variant == "seq2seq" and kind == "decoder":  # the target, after the decoder's start token
        assert drawn.key_tokens[0] == tokenizer.bos_token and drawn.key_tokens == drawn.query_tokens
    else:
        assert drawn.key_tokens == source


def test_the_map_restores_the_models_attention_implementation_and_mode():
    model, tokenizer = tiny(vt.TransformerForCausalLM, "decoder")
    model.set_attn_implementation("sdpa")
    model.train()
    attention_map(model, tokenizer, EN[0])
    assert model.config._attn_implementation == "sdpa" and model.training


@pytest.mark.parametrize(
    "kind, target, problem", [("cross", None, "pass `target=`"), ("banana", "x", "kind must be one of")]
)
def test_a_map_that_cannot_be_drawn_is_refused(kind, target, problem):
    model, tokenizer = tiny(vt.TransformerForConditionalGeneration, "seq2seq")
    with pytest.raises(ValueError, match=problem):
        attention_map(model, tokenizer, EN[0], target, kind=kind)


def test_a_layer_the_model_does_not_have_is_refused():
    model, tokenizer = tiny(vt.TransformerForMaskedLM, "encoder")
    with pytest.raises(ValueError, match="2 layers of 4 heads"):
        attention_map(model, tokenizer, EN[0], layer=2)


def test_plot_attention_writes_a_png_of_the_asked_size(tmp_path):
    pytest.importorskip("matplotlib")
    model, tokenizer = tiny(vt.TransformerForConditionalGeneration, "seq2seq")
    path = tmp_path / "cross.png"
    plot_attention(model, tokenizer, EN[0], DE[0], path=path, figsize=(6, 4), dpi=50)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (300, 200)  # width, height in pixels: inches x dpi


def test_importing_the_package_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, vanilla_transformer; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
