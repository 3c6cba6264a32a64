"""What transformers' ModelTesterMixin checks of a model, for each of our eight classes."""

import copy
import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

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


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_forward_shapes(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class)
    output = main_output(model_class, model(**inputs))
    length = TARGET_LENGTH if is_seq2seq(model_class) else SEQ_LENGTH
    expected = {
        vt.TransformerForSequenceClassification: (BATCH_SIZE, 3),
        vt.TransformerForTokenClassification: (BATCH_SIZE, SEQ_LENGTH, 3),
    }.get(model_class)
    if expected is None:
        width = model.config.d_model if model_class in BARE_OF.values() else model.config.vocab_size
        expected = (BATCH_SIZE, length, width)
    assert tuple(output.shape) == expected
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_save_and_load_round_trip_is_exact_in_safetensors(model_class, tmp_path):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class)
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in files and not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert ("generation_config.json" in files) == (model_class in GENERATIVE_CLASSES)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    assert torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, reloaded(**inputs)))
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name
    # a second round trip stays exact
    reloaded.save_pretrained(tmp_path / "again")
    again = model_class.from_pretrained(tmp_path / "again").eval()
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
def test_tied_weights_are_one_tensor_saved_once_and_retied_on_load(model_class, tmp_path):
    model = tiny_model(model_class)
    names = TIED_GROUPS[model_class]
    params = [model.get_parameter(name) for name in names]
    assert all(p is params[0] for p in params)
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        saved = set(f.keys())
    assert len(saved & set(names)) == 1
    reloaded, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    params = [reloaded.get_parameter(name) for name in names]
    assert all(p is params[0] for p in params)


def test_untied_and_unshared_embeddings_are_separate_and_survive_reload(tmp_path):
    model_class = vt.TransformerForConditionalGeneration
    cases = {
        "untied": dict(tie_word_embeddings=False),
        "unshared": dict(share_encoder_decoder_embeddings=False),
        "separate": dict(tie_word_embeddings=False, share_encoder_decoder_embeddings=False),
    }
    for name, overrides in cases.items():
        model = tiny_model(model_class, **overrides)
        encoder = model.model.encoder.embeddings.embed_tokens.weight
        decoder = model.model.decoder.embeddings.embed_tokens.weight
        assert (decoder is encoder) == model.config.share_encoder_decoder_embeddings, name
        assert (model.lm_head.weight is decoder) == model.config.tie_word_embeddings, name
        model.save_pretrained(tmp_path / name)
        reloaded, info = model_class.from_pretrained(tmp_path / name, output_loading_info=True)
        assert not info["missing_keys"], name
        for key, value in model.state_dict().items():
            assert torch.equal(value, reloaded.state_dict()[key]), (name, key)
        enc = reloaded.model.encoder.embeddings.embed_tokens.weight
        dec = reloaded.model.decoder.embeddings.embed_tokens.weight
        assert (dec is enc) == model.config.share_encoder_decoder_embeddings, name
        assert (reloaded.lm_head.weight is dec) == model.config.tie_word_embeddings, name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_every_auto_class_resolves_from_a_saved_checkpoint(model_class, tmp_path):
    model = tiny_model(model_class)
    model.save_pretrained(tmp_path)
    config_class = CONFIG_OF[model_class]
    inputs = model_inputs(model_class)
    for auto_class, mapping in vt.AUTO_CLASSES.items():
        if mapping.get(config_class) is not model_class:
            continue
        loaded = auto_class.from_pretrained(tmp_path).eval()
        assert type(loaded) is model_class
        assert torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, loaded(**inputs)))
    bare = vt.AUTO_CLASSES[__import__("transformers").AutoModel][config_class]
    assert type(__import__("transformers").AutoModel.from_pretrained(tmp_path)) is bare


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_head_loads_from_base_checkpoint_and_reports_head_keys_missing(model_class, tmp_path):
    config_class = CONFIG_OF[model_class]
    base = tiny_model(BARE_OF[config_class])
    base.save_pretrained(tmp_path)
    head, info = model_class.from_pretrained(tmp_path, output_loading_info=True)
    for name, value in base.state_dict().items():
        assert torch.equal(head.model.state_dict()[name], value), name
    head_only = {k for k in head.state_dict() if not k.startswith("model.")} - set(head.all_tied_weights_keys)
    assert set(info["missing_keys"]) == head_only
    assert not info["unexpected_keys"]
    # and the other way: the bare model loads from a head checkpoint, ignoring the head
    head.save_pretrained(tmp_path / "head")
    bare = BARE_OF[config_class].from_pretrained(tmp_path / "head")
    for name, value in bare.state_dict().items():
        assert torch.equal(head.model.state_dict()[name], value), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_sdpa_is_default_and_matches_eager(model_class, tmp_path):
    model = tiny_model(model_class)
    assert model.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path)
    eager = model_class.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert eager.config._attn_implementation == "eager"
    assert all(m.config._attn_implementation == "eager" for m in eager.modules() if hasattr(m, "is_causal"))
    inputs = model_inputs(model_class)
    out_sdpa, out_eager = (main_output(model_class, m(**inputs)) for m in (model, eager))
    # compare real tokens only: padded query positions have no defined output
    mask = inputs["attention_mask"] if out_sdpa.ndim == 3 and not is_seq2seq(model_class) else None
    if mask is not None:
        out_sdpa, out_eager = out_sdpa[mask.bool()], out_eager[mask.bool()]
    torch.testing.assert_close(out_sdpa, out_eager, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_attentions_and_hidden_states_are_returned_with_the_right_shapes(model_class):
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    inputs = model_inputs(model_class)
    out = model(**inputs, output_attentions=True, output_hidden_states=True)
    config = model.config
    heads, src, tgt = config.num_heads, SEQ_LENGTH, TARGET_LENGTH
    if is_seq2seq(model_class):
        enc_layers, dec_layers = config.encoder_layers, config.decoder_layers
        assert len(out.encoder_attentions) == enc_layers and len(out.encoder_hidden_states) == enc_layers + 1
        assert len(out.decoder_attentions) == dec_layers and len(out.decoder_hidden_states) == dec_layers + 1
        assert len(out.cross_attentions) == dec_layers
        assert out.encoder_attentions[0].shape == (BATCH_SIZE, heads, src, src)
        assert out.decoder_attentions[0].shape == (BATCH_SIZE, heads, tgt, tgt)
        assert out.cross_attentions[0].shape == (BATCH_SIZE, heads, tgt, src)
        assert out.encoder_hidden_states[0].shape == (BATCH_SIZE, src, config.d_model)
        assert out.decoder_hidden_states[-1].shape == (BATCH_SIZE, tgt, config.d_model)
        decoder_attention = out.decoder_attentions[0]
    else:
        assert len(out.attentions) == config.num_layers and len(out.hidden_states) == config.num_layers + 1
        assert out.attentions[0].shape == (BATCH_SIZE, heads, src, src)
        assert out.hidden_states[0].shape == (BATCH_SIZE, src, config.d_model)
        decoder_attention = out.attentions[0] if CONFIG_OF[model_class] is vt.TransformerDecoderConfig else None
    if decoder_attention is not None:  # causal: nothing above the diagonal
        assert decoder_attention.triu(1).abs().max() == 0
    # the last hidden state is the model's output
    if model_class in BARE_OF.values():
        last = out.decoder_hidden_states[-1] if is_seq2seq(model_class) else out.hidden_states[-1]
        assert torch.equal(last, out.last_hidden_state)
    # the config can ask for them too, and nothing is returned unless asked
    plain = model(**inputs)
    assert all(getattr(plain, k, None) is None for k in ("attentions", "hidden_states", "encoder_attentions"))
    model.config.output_hidden_states = True
    via_config = model(**inputs)
    hidden = via_config.decoder_hidden_states if is_seq2seq(model_class) else via_config.hidden_states
    assert hidden is not None and len(hidden) == num_layers(config, "decoder") + 1


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
def test_hidden_states_and_attentions_can_retain_grad(model_class):
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    model.train()
    inputs = model_inputs(model_class)
    out = model(**inputs, output_attentions=True, output_hidden_states=True)
    hidden = out.encoder_hidden_states if is_seq2seq(model_class) else out.hidden_states
    attention = out.encoder_attentions if is_seq2seq(model_class) else out.attentions
    hidden[0].retain_grad()
    attention[0].retain_grad()
    main_output(model_class, out).float().sum().backward()
    assert hidden[0].grad is not None and hidden[0].grad.abs().sum() > 0
    assert attention[0].grad is not None


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


@pytest.mark.parametrize("model_class", [vt.TransformerForCausalLM, vt.TransformerForConditionalGeneration])
def test_decoder_self_attention_is_causal(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class)
    key = "decoder_input_ids" if is_seq2seq(model_class) else "input_ids"
    if not is_seq2seq(model_class):
        inputs.pop("attention_mask")
    changed = copy.deepcopy(inputs)
    changed[key][:, -1] = (changed[key][:, -1] + 1 - 5) % 94 + 5  # change only the last token
    before, after = model(**inputs).logits, model(**changed).logits
    torch.testing.assert_close(before[:, :-1], after[:, :-1], atol=0, rtol=0)
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


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_input_and_output_embeddings_accessors(model_class):
    model = tiny_model(model_class)
    embedding = model.get_input_embeddings()
    assert isinstance(embedding, nn.Embedding) and embedding.num_embeddings == model.config.vocab_size
    output = model.get_output_embeddings()
    if model_class in (vt.TransformerForConditionalGeneration, vt.TransformerForCausalLM, vt.TransformerForMaskedLM):
        assert isinstance(output, nn.Linear) and output.weight is embedding.weight
    else:
        assert output is None
    replacement = nn.Embedding(model.config.vocab_size, model.config.d_model, padding_idx=0)
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement
    if is_seq2seq(model_class):
        base = model if model_class is vt.TransformerModel else model.model
        assert base.decoder.get_input_embeddings() is replacement  # source and target stay shared


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("new_size", [99 + 10, 99 - 15])
def test_resize_token_embeddings_keeps_tying_and_old_rows(model_class, new_size):
    model = tiny_model(model_class)
    old = model.get_input_embeddings().weight.detach().clone()
    model.resize_token_embeddings(new_size)
    assert model.config.vocab_size == new_size
    embedding = model.get_input_embeddings()
    assert embedding.weight.shape == (new_size, model.config.d_model)
    kept = min(new_size, old.shape[0])
    assert torch.equal(embedding.weight[:kept], old[:kept])
    for name in TIED_GROUPS.get(model_class, []):
        assert model.get_parameter(name) is embedding.weight, name
    if model_class is vt.TransformerForMaskedLM:
        assert model.lm_head.decoder.bias.shape == (new_size,)
    inputs = model_inputs(model_class)
    for key in ("input_ids", "decoder_input_ids"):
        if key in inputs:
            inputs[key] = inputs[key].clamp(max=new_size - 1)
    out = main_output(model_class, model(**inputs))
    if model_class in GENERATIVE_CLASSES or model_class is vt.TransformerForMaskedLM:
        assert out.shape[-1] == new_size


def test_resize_untied_output_projection_follows():
    model = tiny_model(vt.TransformerForConditionalGeneration, tie_word_embeddings=False)
    old_head = model.lm_head.weight.detach().clone()
    model.resize_token_embeddings(110)
    assert model.lm_head.weight.shape == (110, 32)
    assert model.lm_head.weight is not model.get_input_embeddings().weight
    assert torch.equal(model.lm_head.weight[:99], old_head)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_initialisation(model_class):
    model = tiny_model(model_class)
    config = model.config
    embedding = model.get_input_embeddings().weight
    assert embedding[config.pad_token_id].abs().max() == 0
    assert abs(embedding[1:].std().item() - config.d_model**-0.5) < 0.3 * config.d_model**-0.5
    for name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
        elif isinstance(module, nn.Linear) and module.bias is not None:
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
    # A float init_std switches to N(0, init_std) everywhere: with a tiny std every mean rounds to 0 or 1.
    tiny_std = tiny_model(model_class, init_std=1e-10)
    for name, param in tiny_std.named_parameters():
        assert round(param.mean().item() * 1e9) / 1e9 in (0.0, 1.0), name


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_meta_device_build_then_init_is_complete(model_class):
    config = tiny_config(CONFIG_OF[model_class])
    with torch.device("meta"):
        model = model_class(config)
    model.to_empty(device="cpu")
    model.init_weights()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert tensor.device.type == "cpu" and torch.isfinite(tensor).all(), name
    assert not [n for n, _ in model.named_buffers()]  # no tensor that is neither saved nor initialised


def test_missing_weights_are_initialised_and_reported(tmp_path):
    model = tiny_model(vt.TransformerForCausalLM)
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file, save_file

    weights = load_file(tmp_path / "model.safetensors")
    dropped = "model.layers.1.feed_forward.fc1.weight"
    del weights[dropped]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "checksums.sha256").unlink()  # edited by hand: the saved checksum no longer applies
    loaded, info = vt.TransformerForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == {dropped} or set(info["missing_keys"]) == {dropped}
    weight = loaded.get_parameter(dropped)
    assert torch.isfinite(weight).all() and weight.std() > 0  # freshly initialised, not left empty


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_labels_give_a_loss_that_trains_every_parameter(model_class):
    model = tiny_model(model_class).train()
    inputs = model_inputs(model_class, labels=True)
    loss = model(**inputs).loss
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
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


def test_seq2seq_decoder_inputs_come_from_labels_and_loss_is_not_shifted_twice():
    model = tiny_model(vt.TransformerForConditionalGeneration)
    src = torch.randint(5, 99, (2, 6))
    labels = torch.randint(5, 99, (2, 4))
    labels[1, -1] = -100
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    assert decoder_input_ids[:, 0].eq(model.config.decoder_start_token_id).all()
    assert torch.equal(decoder_input_ids[0, 1:], labels[0, :-1])
    assert torch.equal(vt.shift_tokens_right(torch.tensor([[7, -100, 8]]), 0, 2), torch.tensor([[2, 7, 0]]))
    out = model(input_ids=src, labels=labels)
    explicit = model(input_ids=src, decoder_input_ids=decoder_input_ids)
    torch.testing.assert_close(out.logits, explicit.logits)
    expected = nn.functional.cross_entropy(out.logits.reshape(-1, 99), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    assert out.cache is None  # teacher forcing does not build a cache


@pytest.mark.parametrize(
    "model_class", [vt.TransformerForCausalLM, vt.TransformerForConditionalGeneration, vt.TransformerForMaskedLM]
)
def test_loss_honours_num_items_in_batch(model_class):
    model = tiny_model(model_class)
    inputs = model_inputs(model_class, labels=True)
    mean_loss = model(**inputs).loss
    labels = inputs["labels"]
    count = (labels[:, 1:] if model_class is vt.TransformerForCausalLM else labels).ne(-100).sum()
    summed = model(**inputs, num_items_in_batch=torch.tensor(1)).loss
    torch.testing.assert_close(summed / count, mean_loss)
    halved = model(**inputs, num_items_in_batch=2 * count).loss
    torch.testing.assert_close(halved, mean_loss / 2)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_gradient_checkpointing_gives_the_same_gradients(model_class, use_reentrant):
    from transformers.modeling_layers import GradientCheckpointingLayer

    def gradients(checkpointing):
        model = tiny_model(model_class).train()
        layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
        if checkpointing:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": use_reentrant})
            assert all(layer.gradient_checkpointing for layer in layers)
        calls = []
        for layer in layers:
            layer.feed_forward.register_forward_hook(lambda *args: calls.append(1))
        inputs = model_inputs(model_class, labels=model_class in HEAD_CLASSES)
        out = model(**inputs)
        loss = out.loss if model_class in HEAD_CLASSES else main_output(model_class, out).pow(2).mean()
        loss.backward()
        return (
            loss.detach(),
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            len(calls),
            len(layers),
        )

    plain_loss, plain, plain_calls, n_layers = gradients(False)
    checkpointed_loss, checkpointed, recomputed_calls, _ = gradients(True)
    assert plain_calls == n_layers and recomputed_calls == 2 * n_layers  # each layer ran again in backward
    torch.testing.assert_close(plain_loss, checkpointed_loss)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_eval_is_deterministic_and_train_applies_dropout(model_class):
    model = tiny_model(model_class, dropout=0.3)
    inputs = model_inputs(model_class)
    first, second = (main_output(model_class, model(**inputs)) for _ in range(2))
    assert torch.equal(first, second)
    model.train()
    assert not torch.equal(main_output(model_class, model(**inputs)), main_output(model_class, model(**inputs)))


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_outputs_are_finite_even_for_fully_padded_rows(model_class, dtype):
    model = tiny_model(model_class).to(dtype)
    inputs = model_inputs(model_class)
    inputs["attention_mask"][1] = 0  # a row with nothing to attend to
    for implementation in ("sdpa", "eager"):
        model.set_attn_implementation(implementation)
        out = main_output(model_class, model(**inputs))
        assert out.dtype == dtype and torch.isfinite(out).all(), implementation


@pytest.mark.parametrize(
    "overrides",
    [
        dict(norm_first=True),
        dict(position_embedding_type="learned"),
        dict(activation_function="gelu", attention_dropout=0.1, activation_dropout=0.1),
        dict(scale_embedding=False),
    ],
    ids=["pre_ln", "learned_positions", "gelu", "unscaled"],
)
@pytest.mark.parametrize(
    "model_class", [vt.TransformerForConditionalGeneration, vt.TransformerForCausalLM, vt.TransformerForMaskedLM]
)
def test_options_build_train_and_round_trip(model_class, overrides, tmp_path):
    model = tiny_model(model_class, **overrides)
    if overrides.get("norm_first"):
        assert isinstance((model.model.decoder if is_seq2seq(model_class) else model.model).final_norm, nn.LayerNorm)
    inputs = model_inputs(model_class, labels=True)
    model.train()
    model(**inputs).loss.backward()
    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    assert reloaded.config.to_dict() | {"_name_or_path": ""} == model.config.to_dict() | {"_name_or_path": ""}
    assert torch.equal(model(**inputs).logits, reloaded(**inputs).logits)


def test_sinusoidal_positions_follow_the_paper_and_have_no_length_limit():
    from vanilla_transformer.modeling.embeddings import SinusoidalPositionalEncoding

    d_model = 8
    encoding = SinusoidalPositionalEncoding(d_model)(torch.tensor([[0, 1, 5000]]))[0]
    for pos, row in zip([0, 1, 5000], encoding):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert abs(row[2 * i].item() - torch.tensor(angle, dtype=torch.float64).sin().item()) < 1e-3
            assert abs(row[2 * i + 1].item() - torch.tensor(angle, dtype=torch.float64).cos().item()) < 1e-3
    model = tiny_model(vt.TransformerForCausalLM, max_position_embeddings=16)
    out = model(torch.randint(5, 99, (1, 40)))  # longer than max_position_embeddings
    assert torch.isfinite(out.logits).all()


def test_embeddings_are_scaled_by_sqrt_d_model():
    model = tiny_model(vt.TransformerEncoderModel)
    ids = torch.tensor([[7, 8]])
    hidden = model(ids, output_hidden_states=True).hidden_states[0]
    from vanilla_transformer.modeling.embeddings import SinusoidalPositionalEncoding

    positions = SinusoidalPositionalEncoding(32)(torch.arange(2)[None])
    expected = model.get_input_embeddings()(ids) * 32**0.5 + positions
    torch.testing.assert_close(hidden, expected)


def test_decoder_only_model_has_no_cross_attention_parameters():
    model = tiny_model(vt.TransformerForCausalLM)
    assert not [n for n, _ in model.named_parameters() if "cross" in n]
    seq2seq = tiny_model(vt.TransformerForConditionalGeneration)
    assert (
        len([n for n, _ in seq2seq.named_parameters() if "cross_attn." in n]) == 6 * seq2seq.config.decoder_layers
    )  # q, kv, out: weight and bias


@pytest.mark.parametrize("model_class", ALL_MODEL_CLASSES)
def test_model_is_small_and_generative_heads_use_generation_mixin(model_class):
    from transformers import GenerationMixin

    model = tiny_model(model_class)
    assert model.num_parameters() < 1_000_000
    assert isinstance(model, GenerationMixin) == (model_class in GENERATIVE_CLASSES)
    assert model.can_generate() == (model_class in GENERATIVE_CLASSES)
    assert model.main_input_name == "input_ids"
    assert json.loads(model.config.to_json_string())["model_type"] == CONFIG_OF[model_class].model_type


@pytest.mark.parametrize(
    "model_class", [vt.TransformerForConditionalGeneration, vt.TransformerForCausalLM, vt.TransformerForMaskedLM]
)
def test_flex_attention_matches_sdpa_in_inference(model_class, tmp_path):
    # On CPU, torch's flex attention runs inference only (no backward), compiled on first use.
    model = tiny_model(model_class)
    model.save_pretrained(tmp_path)
    flex = model_class.from_pretrained(tmp_path, attn_implementation="flex_attention").eval()
    inputs = model_inputs(model_class)
    with torch.no_grad():
        expected, got = (main_output(model_class, m(**inputs)) for m in (model, flex))
    if not is_seq2seq(model_class):
        expected, got = expected[inputs["attention_mask"].bool()], got[inputs["attention_mask"].bool()]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
