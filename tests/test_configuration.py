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
    bias=True,
    position_embedding_type="sinusoidal",
    scale_embedding=True,
    tie_word_embeddings=True,
)


SEQ2SEQ_BASE = dict(
    PAPER_BASE, encoder_layers=6, decoder_layers=6, share_encoder_decoder_embeddings=True, vocab_size=37000
)  # 37000: the paper's shared BPE vocabulary


@pytest.mark.parametrize("name", list(SEQ2SEQ_BASE))
def test_default_seq2seq_config_is_the_paper_base_model(name):
    assert getattr(vt.TransformerConfig(), name) == SEQ2SEQ_BASE[name]


def test_seq2seq_config_is_encoder_decoder():
    assert vt.TransformerConfig().is_encoder_decoder


@pytest.mark.parametrize("name", [*PAPER_BASE, "num_layers"])
@pytest.mark.parametrize("config_class", [vt.TransformerEncoderConfig, vt.TransformerDecoderConfig])
def test_single_stack_configs_default_to_the_same_blocks(config_class, name):
    assert getattr(config_class(), name) == {**PAPER_BASE, "num_layers": 6}[name]


@pytest.mark.parametrize("config_class", [vt.TransformerEncoderConfig, vt.TransformerDecoderConfig])
def test_single_stack_configs_are_not_encoder_decoder(config_class):
    assert not config_class().is_encoder_decoder


# The library's standard attribute names, each with our own name for it and the value of the tiny configs.
STANDARD_NAMES = {
    "hidden_size": ("d_model", 32),
    "num_attention_heads": ("num_heads", 4),
    "intermediate_size": ("d_ff", 37),
    "hidden_act": ("activation_function", "relu"),
}


@pytest.mark.parametrize("standard", list(STANDARD_NAMES))
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_standard_names_read_our_fields(config_class, standard):
    config = tiny_config(config_class)
    ours, value = STANDARD_NAMES[standard]
    assert getattr(config, standard) == getattr(config, ours) == value


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_num_hidden_layers_reads_the_layer_count(config_class):
    config = tiny_config(config_class)
    layers = config.encoder_layers if config.is_encoder_decoder else config.num_layers
    assert config.num_hidden_layers == layers


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_setting_a_standard_name_sets_our_field(config_class):
    config = tiny_config(config_class)
    config.hidden_size = 64
    assert config.d_model == 64


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_special_token_ids_default_to_the_tokenizers_layout(config_class):
    config = tiny_config(config_class)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 2, 3)


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_max_position_embeddings_defaults_to_1024(config_class):
    assert tiny_config(config_class).max_position_embeddings == 1024


def test_seq2seq_config_keeps_its_decoder_start_token():
    assert (
        vt.TransformerConfig(encoder_layers=2, decoder_layers=5, decoder_start_token_id=2).decoder_start_token_id == 2
    )


@pytest.mark.parametrize("side, layers", [("decoder", 5), ("encoder", 2)])
def test_seq2seq_text_config_of_each_side_has_its_own_layer_count(side, layers):
    # what the library reads to size the decoder's cache (DynamicCache(config=...))
    config = vt.TransformerConfig(encoder_layers=2, decoder_layers=5, decoder_start_token_id=2)
    assert config.get_text_config(**{side: True}).num_hidden_layers == layers


def test_model_types_are_distinct():
    assert len({c.model_type for c in CONFIG_CLASSES}) == 3


def saved_config(config_class, folder):
    """A tiny config with options, saved to `folder`."""
    config = tiny_config(config_class, norm_first=True, position_embedding_type="learned")
    config.save_pretrained(folder)
    return config


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_auto_config_loads_the_config_class_of_the_model_type(config_class, tmp_path):
    saved_config(config_class, tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is config_class


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_a_config_loaded_by_auto_config_has_every_saved_value(config_class, tmp_path):
    config = saved_config(config_class, tmp_path)
    assert {**AutoConfig.from_pretrained(tmp_path).to_dict(), "_name_or_path": ""} == config.to_dict()


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_config_json_records_the_model_type(config_class, tmp_path):
    saved_config(config_class, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == config_class.model_type


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
        (dict(bias="false"), "bias must be True"),
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


def test_options_are_accepted():
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


def test_options_of_one_config_do_not_change_the_defaults():
    tiny_config(vt.TransformerConfig, position_embedding_type="learned")
    assert vt.TransformerConfig().position_embedding_type == "sinusoidal"


def test_saved_config_with_bad_value_fails_on_load(tmp_path):
    tiny_config(vt.TransformerDecoderConfig).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    data = json.loads(path.read_text())
    data["num_heads"] = 5
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        AutoConfig.from_pretrained(tmp_path)
