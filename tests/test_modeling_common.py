"""What transformers' ModelTesterMixin checks of a model, for each of our eight classes."""

import copy
import functools
import json
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, GenerationMixin

import vanilla_transformer as vt

from helpers import (
    ALL_MODEL_CLASSES,
    BATCH_SIZE,
    CONFIG_OF,
    GENERATIVE_CLASSES,
    HEAD_CLASSES,
    SEQ_LENGTH,
    TARGET_LENGTH,
    is_seq2seq,
    main_output,
    model_inputs,
    tiny_config,
    tiny_model,
)


BARE_OF = {
    vt.TransformerConfig: vt.TransformerModel,
    vt.TransformerEncoderConfig: vt.TransformerEncoderModel,
    vt.TransformerDecoderConfig: vt.TransformerDecoderModel,
}


def num_layers(config, side="encoder"):
    if config.is_encoder_decoder:
        return config.encoder_layers if side == "encoder" else config.decoder_layers
    return config.num_layers


EXPECTED_SHAPE = {
    vt.TransformerForSequenceClassification: (BATCH_SIZE, 3),
    vt.TransformerForTokenClassification: (BATCH_SIZE, SEQ_LENGTH, 3),
}


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_forward_output_has_the_expected_shape(model_class):
    model = tiny_model(model_class)
    output = main_output(model_class, model(**model_inputs(model_class)))
    length = TARGET_LENGTH if is_seq2seq(model_class) else SEQ_LENGTH
    width = model.config.d_model if model_class in BARE_OF.values() else model.config.vocab_size
    assert tuple(output.shape) == EXPECTED_SHAPE.get(model_class, (BATCH_SIZE, length, width))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_forward_output_is_finite(model_class):
    output = main_output(model_class, tiny_model(model_class)(**model_inputs(model_class)))
    assert torch.isfinite(output).all()


# --- saving and loading -------------------------------------------------------------------------------------------


def saved(model_class, folder, **overrides):
    """A tiny model of `model_class`, saved to `folder`."""
    model = tiny_model(model_class, **overrides)
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_save_pretrained_writes_safetensors_and_no_pickle(model_class, tmp_path):
    saved(model_class, tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in files and not any(name.endswith((".bin", ".pt", ".pth")) for name in files)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_save_pretrained_writes_a_generation_config_for_generative_classes_only(model_class, tmp_path):
    saved(model_class, tmp_path)
    assert (tmp_path / "generation_config.json").exists() == (model_class in GENERATIVE_CLASSES)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_a_reloaded_model_gives_exactly_the_same_outputs(model_class, tmp_path):
    model = saved(model_class, tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    inputs = model_inputs(model_class)
    assert torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, reloaded(**inputs)))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_a_reloaded_model_has_exactly_the_same_weights(model_class, tmp_path):
    model = saved(model_class, tmp_path)
    reloaded = model_class.from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_a_second_save_and_load_round_trip_stays_exact(model_class, tmp_path):
    model = saved(model_class, tmp_path)
    model_class.from_pretrained(tmp_path).save_pretrained(tmp_path / "again")
    again = model_class.from_pretrained(tmp_path / "again").eval()
    inputs = model_inputs(model_class)
    assert torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, again(**inputs)))


TIED_GROUPS = {
    vt.TransformerForConditionalGeneration: [
        "model.encoder.embeddings.embed_tokens.weight",
        "model.decoder.embeddings.embed_tokens.weight",
        "lm_head.weight",
    ],
    vt.TransformerModel: ["encoder.embeddings.embed_tokens.weight", "decoder.embeddings.embed_tokens.weight"],
    vt.TransformerForCausalLM: ["model.embeddings.embed_tokens.weight", "lm_head.weight"],
    vt.TransformerForMaskedLM: ["model.embeddings.embed_tokens.weight", "lm_head.decoder.weight"],
}


@pytest.mark.parametrize("model_class", list(TIED_GROUPS))
def test_tied_weights_are_one_tensor(model_class):
    model = tiny_model(model_class)
    params = [model.get_parameter(name) for name in TIED_GROUPS[model_class]]
    assert all(p is params[0] for p in params)


@pytest.mark.parametrize("model_class", list(TIED_GROUPS))
def test_tied_weights_are_saved_once(model_class, tmp_path):
    saved(model_class, tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert len(keys & set(TIED_GROUPS[model_class])) == 1


@pytest.mark.parametrize("model_class", list(TIED_GROUPS))
def test_tied_weights_saved_once_load_with_no_key_missing_or_unexpected(model_class, tmp_path):
    saved(model_class, tmp_path)
    _, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


@pytest.mark.parametrize("model_class", list(TIED_GROUPS))
def test_tied_weights_are_tied_again_on_load(model_class, tmp_path):
    saved(model_class, tmp_path)
    reloaded = model_class.from_pretrained(tmp_path)
    params = [reloaded.get_parameter(name) for name in TIED_GROUPS[model_class]]
    assert all(p is params[0] for p in params)


SEPARATE_EMBEDDINGS = {
    "untied": dict(tie_word_embeddings=False),
    "unshared": dict(share_encoder_decoder_embeddings=False),
    "separate": dict(tie_word_embeddings=False, share_encoder_decoder_embeddings=False),
}


def embedding_sharing(model):
    """(decoder embedding is the encoder's, output projection is the decoder embedding) of a seq2seq model."""
    encoder = model.model.encoder.embeddings.embed_tokens.weight
    decoder = model.model.decoder.embeddings.embed_tokens.weight
    return decoder is encoder, model.lm_head.weight is decoder


@pytest.mark.parametrize("case", list(SEPARATE_EMBEDDINGS))
def test_embedding_options_decide_which_embeddings_are_one_tensor(case):
    model = tiny_model(vt.TransformerForConditionalGeneration, **SEPARATE_EMBEDDINGS[case])
    config = model.config
    assert embedding_sharing(model) == (config.share_encoder_decoder_embeddings, config.tie_word_embeddings)


@pytest.mark.parametrize("case", list(SEPARATE_EMBEDDINGS))
def test_untied_or_unshared_embeddings_load_with_no_key_missing(case, tmp_path):
    saved(vt.TransformerForConditionalGeneration, tmp_path, **SEPARATE_EMBEDDINGS[case])
    _, info = vt.TransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"]


@pytest.mark.parametrize("case", list(SEPARATE_EMBEDDINGS))
def test_untied_or_unshared_embeddings_reload_with_the_same_weights(case, tmp_path):
    model = saved(vt.TransformerForConditionalGeneration, tmp_path, **SEPARATE_EMBEDDINGS[case])
    reloaded = vt.TransformerForConditionalGeneration.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key


@pytest.mark.parametrize("case", list(SEPARATE_EMBEDDINGS))
def test_untied_or_unshared_embeddings_stay_so_after_reload(case, tmp_path):
    model = saved(vt.TransformerForConditionalGeneration, tmp_path, **SEPARATE_EMBEDDINGS[case])
    reloaded = vt.TransformerForConditionalGeneration.from_pretrained(tmp_path)
    config = model.config
    assert embedding_sharing(reloaded) == (config.share_encoder_decoder_embeddings, config.tie_word_embeddings)


# Every (Auto class, model class) pair the package registers.
AUTO_PAIRS = [
    (auto_class, model_class) for auto_class, mapping in vt.AUTO_CLASSES.items() for model_class in mapping.values()
]


@pytest.mark.parametrize(
    "auto_class, model_class", AUTO_PAIRS, ids=[f"{a.__name__}-{m.__name__}" for a, m in AUTO_PAIRS]
)
def test_each_auto_class_loads_its_model_class_from_a_saved_checkpoint(auto_class, model_class, tmp_path):
    saved(model_class, tmp_path)
    assert type(auto_class.from_pretrained(tmp_path)) is model_class


@pytest.mark.parametrize(
    "auto_class, model_class", AUTO_PAIRS, ids=[f"{a.__name__}-{m.__name__}" for a, m in AUTO_PAIRS]
)
def test_a_model_loaded_by_its_auto_class_gives_the_same_outputs(auto_class, model_class, tmp_path):
    model = saved(model_class, tmp_path)
    loaded = auto_class.from_pretrained(tmp_path).eval()
    inputs = model_inputs(model_class)
    assert torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, loaded(**inputs)))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_auto_model_loads_the_bare_model_of_any_checkpoint_of_the_variant(model_class, tmp_path):
    saved(model_class, tmp_path)
    bare = vt.AUTO_CLASSES[AutoModel][CONFIG_OF[model_class]]
    assert type(AutoModel.from_pretrained(tmp_path)) is bare


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_a_head_loads_the_weights_of_a_bare_checkpoint(model_class, tmp_path):
    base = saved(BARE_OF[CONFIG_OF[model_class]], tmp_path)
    head = model_class.from_pretrained(tmp_path)
    for name, value in base.state_dict().items():
        assert torch.equal(head.model.state_dict()[name], value), name


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_a_head_loaded_from_a_bare_checkpoint_reports_exactly_its_head_keys_missing(model_class, tmp_path):
    saved(BARE_OF[CONFIG_OF[model_class]], tmp_path)
    head, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    head_only = {k for k in head.state_dict() if not k.startswith("model.")} - set(head.all_tied_weights_keys)
    assert set(info["missing_keys"]) == head_only


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_a_head_loaded_from_a_bare_checkpoint_reports_no_unexpected_keys(model_class, tmp_path):
    saved(BARE_OF[CONFIG_OF[model_class]], tmp_path)
    _, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["unexpected_keys"]


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_a_bare_model_loads_from_a_head_checkpoint_ignoring_the_head(model_class, tmp_path):
    head = saved(model_class, tmp_path)
    bare = BARE_OF[CONFIG_OF[model_class]].from_pretrained(tmp_path)
    for name, value in bare.state_dict().items():
        assert torch.equal(head.model.state_dict()[name], value), name


# --- attention implementations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_sdpa_is_the_default_attention(model_class):
    assert tiny_model(model_class).config._attn_implementation == "sdpa"


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_eager_attention_asked_for_on_load_reaches_the_config_and_every_attention_module(model_class, tmp_path):
    saved(model_class, tmp_path)
    eager = model_class.from_pretrained(tmp_path, attn_implementation="eager")
    assert eager.config._attn_implementation == "eager"
    assert all(m.config._attn_implementation == "eager" for m in eager.modules() if hasattr(m, "is_causal"))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_sdpa_matches_eager(model_class, tmp_path):
    model = saved(model_class, tmp_path)
    eager = model_class.from_pretrained(tmp_path, attn_implementation="eager").eval()
    inputs = model_inputs(model_class)
    out_sdpa, out_eager = (main_output(model_class, m(**inputs)) for m in (model, eager))
    # compare real tokens only: padded query positions have no defined output
    mask = inputs["attention_mask"] if out_sdpa.ndim == 3 and not is_seq2seq(model_class) else None
    if mask is not None:
        out_sdpa, out_eager = out_sdpa[mask.bool()], out_eager[mask.bool()]
    torch.testing.assert_close(out_sdpa, out_eager, atol=1e-5, rtol=1e-4)


# --- attentions and hidden states ---------------------------------------------------------------------------------


def with_attentions_and_hidden_states(model_class):
    """The model in eager attention, and its outputs with every attention and hidden state."""
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    return model, model(**model_inputs(model_class), output_attentions=True, output_hidden_states=True)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_one_attention_per_layer_and_one_hidden_state_per_layer_and_the_embeddings(model_class):
    model, out = with_attentions_and_hidden_states(model_class)
    config = model.config
    if is_seq2seq(model_class):
        enc_layers, dec_layers = config.encoder_layers, config.decoder_layers
        assert len(out.encoder_attentions) == enc_layers and len(out.encoder_hidden_states) == enc_layers + 1
        assert len(out.decoder_attentions) == dec_layers and len(out.decoder_hidden_states) == dec_layers + 1
        assert len(out.cross_attentions) == dec_layers
    else:
        assert len(out.attentions) == config.num_layers and len(out.hidden_states) == config.num_layers + 1


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_attentions_are_batch_heads_queries_keys(model_class):
    model, out = with_attentions_and_hidden_states(model_class)
    heads, src, tgt = model.config.num_heads, SEQ_LENGTH, TARGET_LENGTH
    if is_seq2seq(model_class):
        assert out.encoder_attentions[0].shape == (BATCH_SIZE, heads, src, src)
        assert out.decoder_attentions[0].shape == (BATCH_SIZE, heads, tgt, tgt)
        assert out.cross_attentions[0].shape == (BATCH_SIZE, heads, tgt, src)
    else:
        assert out.attentions[0].shape == (BATCH_SIZE, heads, src, src)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_hidden_states_are_batch_length_d_model(model_class):
    model, out = with_attentions_and_hidden_states(model_class)
    src, tgt, d_model = SEQ_LENGTH, TARGET_LENGTH, model.config.d_model
    if is_seq2seq(model_class):
        assert out.encoder_hidden_states[0].shape == (BATCH_SIZE, src, d_model)
        assert out.decoder_hidden_states[-1].shape == (BATCH_SIZE, tgt, d_model)
    else:
        assert out.hidden_states[0].shape == (BATCH_SIZE, src, d_model)


CAUSAL_CLASSES = [c for c in ALL_MODEL_CLASSES if is_seq2seq(c) or CONFIG_OF[c] is vt.TransformerDecoderConfig]


@pytest.mark.parametrize("model_class", CAUSAL_CLASSES)
def test_decoder_attention_weights_are_zero_above_the_diagonal(model_class):
    _, out = with_attentions_and_hidden_states(model_class)
    decoder_attention = out.decoder_attentions[0] if is_seq2seq(model_class) else out.attentions[0]
    assert decoder_attention.triu(1).abs().max() == 0


@pytest.mark.parametrize("model_class", list(BARE_OF.values()))
def test_the_last_hidden_state_is_the_last_of_the_hidden_states(model_class):
    _, out = with_attentions_and_hidden_states(model_class)
    last = out.decoder_hidden_states[-1] if is_seq2seq(model_class) else out.hidden_states[-1]
    assert torch.equal(last, out.last_hidden_state)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_attentions_and_hidden_states_are_not_returned_unless_asked(model_class):
    plain = tiny_model(model_class)(**model_inputs(model_class))
    assert all(getattr(plain, k, None) is None for k in ("attentions", "hidden_states", "encoder_attentions"))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_output_hidden_states_in_the_config_returns_them(model_class):
    model = tiny_model(model_class)
    model.config.output_hidden_states = True
    via_config = model(**model_inputs(model_class))
    hidden = via_config.decoder_hidden_states if is_seq2seq(model_class) else via_config.hidden_states
    assert hidden is not None and len(hidden) == num_layers(model.config, "decoder") + 1


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_return_dict_false_gives_the_same_values_as_a_tuple(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=model_class in HEAD_CLASSES)
    as_dict = model(**inputs)
    as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple)
    values = list(as_dict.to_tuple())
    assert len(values) == len(as_tuple)
    for a, b in zip(values, as_tuple):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("output", ["hidden_states", "attentions"])
def test_hidden_states_and_attentions_can_retain_grad(model_class, output):
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    model.train()
    out = model(**model_inputs(model_class), output_attentions=True, output_hidden_states=True)
    first = getattr(out, f"encoder_{output}" if is_seq2seq(model_class) else output)[0]
    first.retain_grad()
    main_output(model_class, out).float().sum().backward()
    assert first.grad is not None
    if output == "hidden_states":
        assert first.grad.abs().sum() > 0


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("left", [False, True], ids=["right_padding", "left_padding"])
def test_padded_batch_matches_each_sequence_alone(model_class, left):
    model = tiny_model(model_class)
    batch, length = 3, 8
    lengths = [8, 5, 2]
    ids = torch.randint(5, 99, (batch, length))
    mask = torch.zeros(batch, length, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, length - n :] = 1 if left else 0
        if not left:
            mask[row, :n] = 1
    ids = ids.masked_fill(mask == 0, 0)
    extra = {}
    if is_seq2seq(model_class):
        extra["decoder_input_ids"] = torch.randint(5, 99, (batch, 4))
    batched = main_output(model_class, model(input_ids=ids, attention_mask=mask, **extra))
    for row in range(len(lengths)):
        real = mask[row].bool()
        single_extra = {k: v[row : row + 1] for k, v in extra.items()}
        alone = main_output(model_class, model(input_ids=ids[row : row + 1, real], **single_extra))[0]
        got = batched[row]
        if got.ndim == 2 and not is_seq2seq(model_class):  # per-token outputs: compare the real tokens
            got = got[real]
        torch.testing.assert_close(got, alone, atol=1e-5, rtol=1e-4)


def logits_before_and_after_changing_the_last_decoder_token(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class)
    key = "decoder_input_ids" if is_seq2seq(model_class) else "input_ids"
    if not is_seq2seq(model_class):
        inputs.pop("attention_mask")
    changed = copy.deepcopy(inputs)
    changed[key][:, -1] = (changed[key][:, -1] + 1 - 5) % 94 + 5  # change only the last token
    return model(**inputs).logits, model(**changed).logits


@pytest.mark.parametrize("model_class", GENERATIVE_CLASSES)
def test_changing_the_last_decoder_token_leaves_the_earlier_logits_unchanged(model_class):
    before, after = logits_before_and_after_changing_the_last_decoder_token(model_class)
    torch.testing.assert_close(before[:, :-1], after[:, :-1], atol=0, rtol=0)


@pytest.mark.parametrize("model_class", GENERATIVE_CLASSES)
def test_changing_the_last_decoder_token_changes_its_logits(model_class):
    before, after = logits_before_and_after_changing_the_last_decoder_token(model_class)
    assert not torch.allclose(before[:, -1], after[:, -1])


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_inputs_embeds_give_the_same_output_as_input_ids(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class)
    embeds = dict(inputs)
    embeds["inputs_embeds"] = model.get_input_embeddings()(embeds.pop("input_ids"))
    if is_seq2seq(model_class):
        embeds["decoder_inputs_embeds"] = model.get_input_embeddings()(embeds.pop("decoder_input_ids"))
    torch.testing.assert_close(main_output(model_class, model(**inputs)), main_output(model_class, model(**embeds)))


# --- embeddings -----------------------------------------------------------------------------------------------------

LM_HEAD_CLASSES = [vt.TransformerForConditionalGeneration, vt.TransformerForCausalLM, vt.TransformerForMaskedLM]


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_the_input_embeddings_are_an_embedding_of_the_vocabulary(model_class):
    model = tiny_model(model_class)
    embedding = model.get_input_embeddings()
    assert isinstance(embedding, nn.Embedding) and embedding.num_embeddings == model.config.vocab_size


@pytest.mark.parametrize("model_class", LM_HEAD_CLASSES)
def test_the_output_embeddings_of_a_language_model_are_a_linear_layer_tied_to_the_input_embeddings(model_class):
    model = tiny_model(model_class)
    output = model.get_output_embeddings()
    assert isinstance(output, nn.Linear) and output.weight is model.get_input_embeddings().weight


@pytest.mark.parametrize("model_class", [c for c in ALL_MODEL_CLASSES if c not in LM_HEAD_CLASSES])
def test_models_without_a_language_model_head_have_no_output_embeddings(model_class):
    assert tiny_model(model_class).get_output_embeddings() is None


def replaced_input_embeddings(model_class):
    model = tiny_model(model_class)
    replacement = nn.Embedding(model.config.vocab_size, model.config.d_model, padding_idx=0)
    model.set_input_embeddings(replacement)
    return model, replacement


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_set_input_embeddings_replaces_them(model_class):
    model, replacement = replaced_input_embeddings(model_class)
    assert model.get_input_embeddings() is replacement


@pytest.mark.parametrize("model_class", [c for c in ALL_MODEL_CLASSES if is_seq2seq(c)])
def test_set_input_embeddings_replaces_the_decoder_embeddings_too(model_class):
    model, replacement = replaced_input_embeddings(model_class)
    base = model if model_class is vt.TransformerModel else model.model
    assert base.decoder.get_input_embeddings() is replacement  # source and target stay shared


NEW_SIZES = [99 + 10, 99 - 15]


def resized(model_class, new_size):
    """A tiny model, a copy of its input embedding weights, and the model resized to `new_size` tokens."""
    model = tiny_model(model_class)
    old = model.get_input_embeddings().weight.detach().clone()
    model.resize_token_embeddings(new_size)
    return model, old


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_resize_token_embeddings_updates_the_config(model_class, new_size):
    model, _ = resized(model_class, new_size)
    assert model.config.vocab_size == new_size


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_resize_token_embeddings_gives_an_embedding_of_the_new_size(model_class, new_size):
    model, _ = resized(model_class, new_size)
    assert model.get_input_embeddings().weight.shape == (new_size, model.config.d_model)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_resize_token_embeddings_keeps_the_old_rows(model_class, new_size):
    model, old = resized(model_class, new_size)
    kept = min(new_size, old.shape[0])
    assert torch.equal(model.get_input_embeddings().weight[:kept], old[:kept])


@pytest.mark.parametrize("model_class", list(TIED_GROUPS))
@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_resize_token_embeddings_keeps_the_tied_weights_one_tensor(model_class, new_size):
    model, _ = resized(model_class, new_size)
    for name in TIED_GROUPS[model_class]:
        assert model.get_parameter(name) is model.get_input_embeddings().weight, name


@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_resize_token_embeddings_resizes_the_masked_lm_output_bias(new_size):
    model, _ = resized(vt.TransformerForMaskedLM, new_size)
    assert model.lm_head.decoder.bias.shape == (new_size,)


@pytest.mark.parametrize("model_class", LM_HEAD_CLASSES)
@pytest.mark.parametrize("new_size", NEW_SIZES)
def test_a_resized_language_model_predicts_over_the_new_vocabulary(model_class, new_size):
    model, _ = resized(model_class, new_size)
    inputs = model_inputs(model_class)
    for key in ("input_ids", "decoder_input_ids"):
        if key in inputs:
            inputs[key] = inputs[key].clamp(max=new_size - 1)
    assert main_output(model_class, model(**inputs)).shape[-1] == new_size


@pytest.fixture
def resized_untied():
    """An encoder-decoder with its own output projection, resized from 99 to 110 tokens, and its old projection."""
    model = tiny_model(vt.TransformerForConditionalGeneration, tie_word_embeddings=False)
    old_head = model.lm_head.weight.detach().clone()
    model.resize_token_embeddings(110)
    return model, old_head


def test_resize_gives_an_untied_output_projection_the_new_size(resized_untied):
    model, _ = resized_untied
    assert model.lm_head.weight.shape == (110, 32)


def test_resize_leaves_an_untied_output_projection_untied(resized_untied):
    model, _ = resized_untied
    assert model.lm_head.weight is not model.get_input_embeddings().weight


def test_resize_keeps_the_old_rows_of_an_untied_output_projection(resized_untied):
    model, old_head = resized_untied
    assert torch.equal(model.lm_head.weight[:99], old_head)


# --- initialisation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_the_padding_embedding_is_initialised_to_zero(model_class):
    model = tiny_model(model_class)
    assert model.get_input_embeddings().weight[model.config.pad_token_id].abs().max() == 0


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_embeddings_are_initialised_with_std_d_model_to_the_minus_half(model_class):
    model = tiny_model(model_class)
    d_model = model.config.d_model
    assert abs(model.get_input_embeddings().weight[1:].std().item() - d_model**-0.5) < 0.3 * d_model**-0.5


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_layer_norms_are_initialised_to_the_identity(model_class):
    for name, module in tiny_model(model_class).named_modules():
        if isinstance(module, nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_linear_biases_are_initialised_to_zero(model_class):
    for name, module in tiny_model(model_class).named_modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_a_float_init_std_initialises_every_weight_with_that_std(model_class):
    # A float init_std switches to N(0, init_std) everywhere: with a tiny std every mean rounds to 0 or 1.
    for name, param in tiny_model(model_class, init_std=1e-10).named_parameters():
        assert round(param.mean().item() * 1e9) / 1e9 in (0.0, 1.0), name


def built_on_the_meta_device_then_initialised(model_class):
    with torch.device("meta"):
        model = model_class(tiny_config(CONFIG_OF[model_class]))
    model.to_empty(device="cpu")
    model.init_weights()
    return model


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_a_model_built_on_the_meta_device_then_initialised_is_finite_on_the_cpu(model_class):
    model = built_on_the_meta_device_then_initialised(model_class)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert tensor.device.type == "cpu" and torch.isfinite(tensor).all(), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_models_have_no_buffers(model_class):
    model = built_on_the_meta_device_then_initialised(model_class)
    assert not [n for n, _ in model.named_buffers()]  # no tensor that is neither saved nor initialised


DROPPED = "model.layers.1.feed_forward.fc1.weight"


@pytest.fixture
def loaded_without_one_weight(tmp_path):
    """A causal LM loaded from a checkpoint whose weights lack DROPPED, and the loading info."""
    saved(vt.TransformerForCausalLM, tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights[DROPPED]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "checksums.sha256").unlink()  # edited by hand: the saved checksum no longer applies
    return vt.TransformerForCausalLM.from_pretrained(tmp_path, output_loading_info=True)


def test_a_missing_weight_is_reported(loaded_without_one_weight):
    _, info = loaded_without_one_weight
    assert info["missing_keys"] == {DROPPED} or set(info["missing_keys"]) == {DROPPED}


def test_a_missing_weight_is_initialised(loaded_without_one_weight):
    loaded, _ = loaded_without_one_weight
    weight = loaded.get_parameter(DROPPED)
    assert torch.isfinite(weight).all() and weight.std() > 0  # freshly initialised, not left empty


# --- losses ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_labels_give_a_finite_scalar_loss(model_class):
    loss = tiny_model(model_class).train()(**model_inputs(model_class, labels=True)).loss
    assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_the_loss_trains_every_parameter(model_class):
    model = tiny_model(model_class).train()
    model(**model_inputs(model_class, labels=True)).loss.backward()
    without_grad = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not without_grad


def test_causal_lm_loss_is_next_token_cross_entropy_ignoring_minus_100():
    model = tiny_model(vt.TransformerForCausalLM)
    ids = torch.randint(5, 99, (2, 6))
    labels = ids.clone()
    labels[0, 2] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 99)
    expected = nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


@pytest.fixture
def seq2seq_labels():
    """An encoder-decoder, a batch of sources and labels (one ending in -100), and the decoder inputs made from them."""
    model = tiny_model(vt.TransformerForConditionalGeneration)
    src = torch.randint(5, 99, (2, 6))
    labels = torch.randint(5, 99, (2, 4))
    labels[1, -1] = -100
    return model, src, labels, model.prepare_decoder_input_ids_from_labels(labels)


def test_decoder_inputs_made_from_labels_start_with_the_decoder_start_token(seq2seq_labels):
    model, _, _, decoder_input_ids = seq2seq_labels
    assert decoder_input_ids[:, 0].eq(model.config.decoder_start_token_id).all()


def test_decoder_inputs_made_from_labels_are_the_labels_shifted_right(seq2seq_labels):
    _, _, labels, decoder_input_ids = seq2seq_labels
    assert torch.equal(decoder_input_ids[0, 1:], labels[0, :-1])


def test_shifting_labels_right_replaces_minus_100_by_the_padding_id():
    assert torch.equal(vt.shift_tokens_right(torch.tensor([[7, -100, 8]]), 0, 2), torch.tensor([[2, 7, 0]]))


def test_labels_alone_give_the_logits_of_the_decoder_inputs_made_from_them(seq2seq_labels):
    model, src, labels, decoder_input_ids = seq2seq_labels
    out = model(input_ids=src, labels=labels)
    explicit = model(input_ids=src, decoder_input_ids=decoder_input_ids)
    torch.testing.assert_close(out.logits, explicit.logits)


def test_seq2seq_loss_is_cross_entropy_with_the_labels_not_shifted_twice(seq2seq_labels):
    model, src, labels, _ = seq2seq_labels
    out = model(input_ids=src, labels=labels)
    expected = nn.functional.cross_entropy(out.logits.reshape(-1, 99), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_teacher_forcing_builds_no_cache(seq2seq_labels):
    model, src, labels, _ = seq2seq_labels
    assert model(input_ids=src, labels=labels).cache is None


def losses_with_num_items_in_batch(model_class, num_items):
    """The mean loss of a batch, its number of label tokens, and the loss with `num_items(count)` items in batch."""
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=True)
    labels = inputs["labels"]
    count = (labels[:, 1:] if model_class is vt.TransformerForCausalLM else labels).ne(-100).sum()
    return model(**inputs).loss, count, model(**inputs, num_items_in_batch=num_items(count)).loss


@pytest.mark.parametrize("model_class", LM_HEAD_CLASSES)
def test_num_items_in_batch_of_one_gives_the_summed_loss(model_class):
    mean_loss, count, summed = losses_with_num_items_in_batch(model_class, lambda count: torch.tensor(1))
    torch.testing.assert_close(summed / count, mean_loss)


@pytest.mark.parametrize("model_class", LM_HEAD_CLASSES)
def test_num_items_in_batch_divides_the_summed_loss(model_class):
    mean_loss, _, halved = losses_with_num_items_in_batch(model_class, lambda count: 2 * count)
    torch.testing.assert_close(halved, mean_loss / 2)


# --- gradient checkpointing -----------------------------------------------------------------------------------------


@functools.cache
def gradients(model_class, checkpointing, use_reentrant=True):
    """The loss, the gradients, the feed-forward calls and the layers of a tiny model's forward and backward (shared
    by the tests: treat as read-only)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    model = tiny_model(model_class).train()
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": use_reentrant})
    calls = []
    for layer in layers:
        layer.feed_forward.register_forward_hook(lambda *args: calls.append(1))
    inputs = model_inputs(model_class, labels=model_class in HEAD_CLASSES)
    out = model(**inputs)
    loss = out.loss if model_class in HEAD_CLASSES else main_output(model_class, out).pow(2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return SimpleNamespace(loss=loss.detach(), grads=grads, calls=len(calls), layers=layers)


REENTRANT = pytest.mark.parametrize("use_reentrant", [True, False])


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@REENTRANT
def test_gradient_checkpointing_enable_reaches_every_layer(model_class, use_reentrant):
    layers = gradients(model_class, True, use_reentrant).layers
    assert all(layer.gradient_checkpointing for layer in layers)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_without_gradient_checkpointing_each_layer_runs_once(model_class):
    plain = gradients(model_class, False)
    assert plain.calls == len(plain.layers)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@REENTRANT
def test_gradient_checkpointing_runs_each_layer_again_in_backward(model_class, use_reentrant):
    checkpointed = gradients(model_class, True, use_reentrant)
    assert checkpointed.calls == 2 * len(checkpointed.layers)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@REENTRANT
def test_gradient_checkpointing_gives_the_same_loss(model_class, use_reentrant):
    torch.testing.assert_close(gradients(model_class, False).loss, gradients(model_class, True, use_reentrant).loss)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@REENTRANT
def test_gradient_checkpointing_gives_the_same_gradients(model_class, use_reentrant):
    plain, checkpointed = gradients(model_class, False).grads, gradients(model_class, True, use_reentrant).grads
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5, msg=name)


# --- dropout and precision ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_eval_is_deterministic(model_class):
    model = tiny_model(model_class, dropout=0.3)
    inputs = model_inputs(model_class)
    first, second = (main_output(model_class, model(**inputs)) for _ in range(2))
    assert torch.equal(first, second)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_train_applies_dropout(model_class):
    model = tiny_model(model_class, dropout=0.3).train()
    inputs = model_inputs(model_class)
    assert not torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, model(**inputs)))


def half_precision_output_with_a_fully_padded_row(model_class, dtype, implementation):
    model = tiny_model(model_class).to(dtype)
    inputs = model_inputs(model_class)
    inputs["attention_mask"][1] = 0  # a row with nothing to attend to
    model.set_attn_implementation(implementation)
    return main_output(model_class, model(**inputs))


HALF = pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
IMPLEMENTATIONS = pytest.mark.parametrize("implementation", ["sdpa", "eager"])


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@HALF
@IMPLEMENTATIONS
def test_half_precision_models_give_outputs_in_their_dtype(model_class, dtype, implementation):
    assert half_precision_output_with_a_fully_padded_row(model_class, dtype, implementation).dtype == dtype


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@HALF
@IMPLEMENTATIONS
def test_half_precision_outputs_are_finite_even_for_fully_padded_rows(model_class, dtype, implementation):
    assert torch.isfinite(half_precision_output_with_a_fully_padded_row(model_class, dtype, implementation)).all()


# --- options --------------------------------------------------------------------------------------------------------

OPTIONS = {
    "pre_ln": dict(norm_first=True),
    "learned_positions": dict(position_embedding_type="learned"),
    "gelu": dict(activation_function="gelu", attention_dropout=0.1, activation_dropout=0.1),
    "unscaled": dict(scale_embedding=False),
    "no_bias": dict(bias=False, norm_first=True),  # pre-LN too, so that the final LayerNorm goes without one as well
}
OPTION = pytest.mark.parametrize("option", list(OPTIONS))
LM_HEAD = pytest.mark.parametrize("model_class", LM_HEAD_CLASSES)


@LM_HEAD
def test_pre_ln_models_end_each_stack_with_a_layer_norm(model_class):
    model = tiny_model(model_class, **OPTIONS["pre_ln"])
    assert isinstance((model.model.decoder if is_seq2seq(model_class) else model.model).final_norm, nn.LayerNorm)


@OPTION
@LM_HEAD
def test_options_train_every_parameter(model_class, option):
    model = tiny_model(model_class, **OPTIONS[option]).train()
    model(**model_inputs(model_class, labels=True)).loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.fixture
def reloaded_with_option(model_class, option, tmp_path):
    """A model built with an option after one backward pass, and its saved and reloaded copy (both in eval mode)."""
    model = tiny_model(model_class, **OPTIONS[option]).train()
    model(**model_inputs(model_class, labels=True)).loss.backward()
    model.eval().save_pretrained(tmp_path)
    return model, model_class.from_pretrained(tmp_path).eval()


@OPTION
@LM_HEAD
def test_options_round_trip_in_the_config(model_class, option, reloaded_with_option):
    model, reloaded = reloaded_with_option
    assert reloaded.config.to_dict() | {"_name_or_path": ""} == model.config.to_dict() | {"_name_or_path": ""}


@OPTION
@LM_HEAD
def test_options_round_trip_with_the_same_logits(model_class, option, reloaded_with_option):
    model, reloaded = reloaded_with_option
    inputs = model_inputs(model_class, labels=True)
    assert torch.equal(model(**inputs).logits, reloaded(**inputs).logits)


def block_biases(model) -> list[str]:
    """Names of the bias parameters inside the stacks (layers and final norms), not the heads'."""
    return [
        name
        for name, _ in model.named_parameters()
        if name.endswith(".bias") and (".layers." in name or "final_norm" in name)
    ]


@LM_HEAD
def test_bias_false_removes_every_bias_of_the_blocks(model_class):
    assert block_biases(tiny_model(model_class, norm_first=True)) != []
    assert block_biases(tiny_model(model_class, bias=False, norm_first=True)) == []


def test_bias_false_keeps_the_heads_biases():
    model = tiny_model(vt.TransformerForMaskedLM, bias=False)
    assert {"lm_head.dense.bias", "lm_head.layer_norm.bias"} <= {name for name, _ in model.named_parameters()}


@LM_HEAD
def test_bias_false_computes_what_the_paper_blocks_compute_with_zero_biases(model_class):
    without = tiny_model(model_class, bias=False, norm_first=True).eval()
    with_biases = tiny_model(model_class, norm_first=True).eval()
    missing = with_biases.load_state_dict(without.state_dict(), strict=False).missing_keys
    assert missing and all(name.endswith(".bias") for name in missing)
    for name in missing:
        with_biases.get_parameter(name).data.zero_()
    inputs = model_inputs(model_class)
    torch.testing.assert_close(with_biases(**inputs).logits, without(**inputs).logits)


@LM_HEAD
def test_a_checkpoint_without_biases_loads_as_zero_biases_where_the_code_has_them(model_class, tmp_path):
    """What code older than the `bias` field does with such a checkpoint: builds the biases, finds none saved, and
    initialises them to zero, which leaves the model's function unchanged."""
    without = tiny_model(model_class, bias=False, norm_first=True).eval()
    without.save_pretrained(tmp_path)
    with_biases = model_class.from_pretrained(tmp_path, bias=True).eval()
    assert block_biases(with_biases) and all(not with_biases.get_parameter(n).any() for n in block_biases(with_biases))
    inputs = model_inputs(model_class)
    torch.testing.assert_close(with_biases(**inputs).logits, without(**inputs).logits)


# --- the paper's embeddings -----------------------------------------------------------------------------------------


def test_sinusoidal_positions_follow_the_paper():
    from vanilla_transformer.modeling.embeddings import SinusoidalPositionalEncoding

    d_model = 8
    encoding = SinusoidalPositionalEncoding(d_model)(torch.tensor([[0, 1, 5000]]))[0]
    for pos, row in zip([0, 1, 5000], encoding):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert abs(row[2 * i].item() - torch.tensor(angle, dtype=torch.float64).sin().item()) < 1e-3
            assert abs(row[2 * i + 1].item() - torch.tensor(angle, dtype=torch.float64).cos().item()) < 1e-3


def test_sinusoidal_positions_have_no_length_limit():
    model = tiny_model(vt.TransformerForCausalLM, max_position_embeddings=16)
    out = model(torch.randint(5, 99, (1, 40)))  # longer than max_position_embeddings
    assert torch.isfinite(out.logits).all()


def test_embeddings_are_scaled_by_sqrt_d_model():
    from vanilla_transformer.modeling.embeddings import SinusoidalPositionalEncoding

    model = tiny_model(vt.TransformerEncoderModel)
    ids = torch.tensor([[7, 8]])
    hidden = model(ids, output_hidden_states=True).hidden_states[0]
    positions = SinusoidalPositionalEncoding(32)(torch.arange(2)[None])
    expected = model.get_input_embeddings()(ids) * 32**0.5 + positions
    torch.testing.assert_close(hidden, expected)


def test_decoder_only_model_has_no_cross_attention_parameters():
    model = tiny_model(vt.TransformerForCausalLM)
    assert not [n for n, _ in model.named_parameters() if "cross" in n]


def test_each_seq2seq_decoder_layer_has_cross_attention_parameters():
    seq2seq = tiny_model(vt.TransformerForConditionalGeneration)
    assert (
        len([n for n, _ in seq2seq.named_parameters() if "cross_attn." in n]) == 6 * seq2seq.config.decoder_layers
    )  # q, kv, out: weight and bias


# --- the model classes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_the_tiny_models_are_small(model_class):
    assert tiny_model(model_class).num_parameters() < 1_000_000


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_generative_heads_and_only_they_use_generation_mixin(model_class):
    assert isinstance(tiny_model(model_class), GenerationMixin) == (model_class in GENERATIVE_CLASSES)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_generative_heads_and_only_they_can_generate(model_class):
    assert tiny_model(model_class).can_generate() == (model_class in GENERATIVE_CLASSES)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_the_main_input_is_input_ids(model_class):
    assert tiny_model(model_class).main_input_name == "input_ids"


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_the_config_json_names_the_model_type_of_the_variant(model_class):
    config = tiny_model(model_class).config
    assert json.loads(config.to_json_string())["model_type"] == CONFIG_OF[model_class].model_type


@LM_HEAD
def test_flex_attention_matches_sdpa_in_inference(model_class, tmp_path):
    # On CPU, torch's flex attention runs inference only (no backward), compiled on first use.
    model = saved(model_class, tmp_path)
    flex = model_class.from_pretrained(tmp_path, attn_implementation="flex_attention").eval()
    inputs = model_inputs(model_class)
    with torch.no_grad():
        expected, got = (main_output(model_class, m(**inputs)) for m in (model, flex))
    if not is_seq2seq(model_class):
        expected, got = expected[inputs["attention_mask"].bool()], got[inputs["attention_mask"].bool()]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
