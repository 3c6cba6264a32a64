import json

import pytest
from transformers import AutoConfig

import vanilla_transformer as vt

from helpers import tiny_config


CONFIG_CLASSES = [vt.TransformerConfig, vt.TransformerEncoderConfig, vt.TransformerDecoderConfig]

PAPER_BASE = dict(
    d_model=512,
    num_heads=8,
    d_ff=2048,
    dropout=0.1,
    activation_function="relu",
    norm_first=False,
    position_embedding_type="sinusoidal",
    scale_embedding=True,
    tie_word_embeddings=True,
)


def test_default_seq2seq_config_is_the_paper_base_model():
    config = vt.TransformerConfig()
    for name, value in PAPER_BASE.items():
        assert getattr(config, name) == value, name
    assert (config.encoder_layers, config.decoder_layers) == (6, 6)
    assert config.share_encoder_decoder_embeddings
    assert config.is_encoder_decoder
    assert config.vocab_size == 37000  # the paper's shared BPE vocabulary


@pytest.mark.parametrize("config_class", [vt.TransformerEncoderConfig, vt.TransformerDecoderConfig])
def test_single_stack_configs_default_to_the_same_blocks(config_class):
    config = config_class()
    for name, value in PAPER_BASE.items():
        assert getattr(config, name) == value, name
    assert config.num_layers == 6
    assert not config.is_encoder_decoder


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_standard_names_resolve_both_ways(config_class):
    config = tiny_config(config_class)
    assert config.hidden_size == config.d_model == 32
    assert config.num_attention_heads == config.num_heads == 4
    assert config.intermediate_size == config.d_ff == 37
    assert config.hidden_act == config.activation_function
    layers = config.encoder_layers if config.is_encoder_decoder else config.num_layers
    assert config.num_hidden_layers == layers
    config.hidden_size = 64
    assert config.d_model == 64
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 2, 3)
    assert config.max_position_embeddings == 1024


def test_seq2seq_config_has_decoder_start_and_separate_layer_counts():
    config = vt.TransformerConfig(encoder_layers=2, decoder_layers=5, decoder_start_token_id=2)
    assert config.decoder_start_token_id == 2
    # what the library reads to size the decoder's cache (DynamicCache(config=...))
    assert config.get_text_config(decoder=True).num_hidden_layers == 5
    assert config.get_text_config(encoder=True).num_hidden_layers == 2


def test_model_types_are_distinct_and_resolve_with_auto_config(tmp_path):
    assert len({c.model_type for c in CONFIG_CLASSES}) == 3
    for config_class in CONFIG_CLASSES:
        config = tiny_config(config_class, norm_first=True, position_embedding_type="learned")
        config.save_pretrained(tmp_path / config_class.model_type)
        loaded = AutoConfig.from_pretrained(tmp_path / config_class.model_type)
        assert type(loaded) is config_class
        assert {**loaded.to_dict(), "_name_or_path": ""} == config.to_dict()
        saved = json.loads((tmp_path / config_class.model_type / "config.json").read_text())
        assert saved["model_type"] == config_class.model_type


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(d_model=30, num_heads=4), "divisible by num_heads"),
        (dict(activation_function="swishy"), "activation_function must be one of"),
        (dict(position_embedding_type="rotary"), "position_embedding_type must be one of"),
        (dict(dropout=1.0), "dropout"),
        (dict(attention_dropout=-0.1), "attention_dropout"),
        (dict(activation_dropout=1.5), "activation_dropout"),
        (dict(pad_token_id=99), "pad_token_id"),
        (dict(eos_token_id=-1), "eos_token_id"),
        (dict(eos_token_id=[3, 500]), "eos_token_id"),
        (dict(bos_token_id=1000), "bos_token_id"),
        (dict(vocab_size=0), "vocab_size must be a positive integer"),
        (dict(d_ff=-5), "d_ff must be a positive integer"),
        (dict(d_model=32.0), "d_model must be a positive integer"),
        (dict(num_heads=True), "num_heads must be a positive integer"),
        (dict(max_position_embeddings=0), "max_position_embeddings"),
        (dict(layer_norm_eps=0), "layer_norm_eps"),
        (dict(init_std=-0.02), "init_std"),
        (dict(d_model=33, num_heads=3), "d_model must be even"),
    ],
)
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_invalid_values_raise_value_error_naming_the_field(config_class, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(config_class, **overrides)


@pytest.mark.parametrize(
    "config_class, overrides, message",
    [
        (vt.TransformerConfig, dict(encoder_layers=0), "encoder_layers"),
        (vt.TransformerConfig, dict(decoder_layers=-1), "decoder_layers"),
        (vt.TransformerConfig, dict(decoder_start_token_id=99), "decoder_start_token_id"),
        (vt.TransformerEncoderConfig, dict(num_layers=0), "num_layers"),
        (vt.TransformerEncoderConfig, dict(classifier_dropout=1.0), "classifier_dropout"),
        (vt.TransformerEncoderConfig, dict(classifier_pooling="max"), "classifier_pooling must be one of"),
        (vt.TransformerDecoderConfig, dict(num_layers=2.5), "num_layers"),
    ],
)
def test_variant_specific_fields_are_validated(config_class, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(config_class, **overrides)


def test_options_are_accepted_without_changing_defaults():
    config = tiny_config(
        vt.TransformerConfig,
        position_embedding_type="learned",
        norm_first=True,
        activation_function="gelu",
        attention_dropout=0.1,
        tie_word_embeddings=False,
        share_encoder_decoder_embeddings=False,
        encoder_layers=1,
        decoder_layers=4,
    )
    assert (config.position_embedding_type, config.norm_first, config.activation_function) == ("learned", True, "gelu")
    assert vt.TransformerConfig().position_embedding_type == "sinusoidal"


def test_saved_config_with_bad_value_fails_on_load(tmp_path):
    tiny_config(vt.TransformerDecoderConfig).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    data = json.loads(path.read_text())
    data["num_heads"] = 5
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        AutoConfig.from_pretrained(tmp_path)
