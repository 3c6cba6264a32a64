"""What transformers' GenerationTesterMixin checks, for the causal LM and the encoder-decoder."""

import copy
import logging
import warnings

import pytest
import torch
from transformers import Cache, DynamicCache, EncoderDecoderCache, GenerationConfig

import vanilla_transformer as vt

from helpers import is_seq2seq, padding_mask, random_ids, tiny_model


GENERATIVE = [vt.TransformerForCausalLM, vt.TransformerForConditionalGeneration]


def prompts(model_class, batch_size=3, length=6):
    """A batch padded the way generation expects: on the left for the causal LM (prompts continue at the right
    edge), on the right for the encoder-decoder's sources."""
    lengths = [length, length - 2, 2][:batch_size]
    mask = padding_mask(batch_size, length, lengths, left=not is_seq2seq(model_class))
    return {"input_ids": random_ids(batch_size, length, seed=3).masked_fill(mask == 0, 0), "attention_mask": mask}


def generate(model, inputs, **kwargs):
    kwargs.setdefault("max_new_tokens", 8)
    kwargs.setdefault("num_beams", 1)  # the encoder-decoder's own default is the paper's beam search
    return model.generate(**inputs, **kwargs)


SEARCHES = {
    "greedy": dict(do_sample=False, num_beams=1),
    "beam": dict(do_sample=False, num_beams=3, length_penalty=0.6, early_stopping=True),
    "beam_many": dict(do_sample=False, num_beams=4, num_return_sequences=2, length_penalty=2.0, early_stopping=False),
    "beam_no_repeat": dict(do_sample=False, num_beams=2, no_repeat_ngram_size=2),
    "greedy_no_repeat": dict(do_sample=False, no_repeat_ngram_size=2),
}


@pytest.mark.parametrize("model_class", GENERATIVE)
@pytest.mark.parametrize("search", list(SEARCHES))
def test_cached_and_uncached_generation_give_the_same_tokens(model_class, search):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    with_cache = generate(model, inputs, use_cache=True, **SEARCHES[search])
    without_cache = generate(model, inputs, use_cache=False, **SEARCHES[search])
    assert torch.equal(with_cache, without_cache)
    assert with_cache.shape[1] > (1 if is_seq2seq(model_class) else inputs["input_ids"].shape[1])


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_no_repeat_ngram_size_is_respected(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    start = 0 if is_seq2seq(model_class) else inputs["input_ids"].shape[1]
    out = generate(model, inputs, max_new_tokens=30, min_new_tokens=30, no_repeat_ngram_size=2, do_sample=False)
    for row, sequence in enumerate(out.tolist()):
        real = (
            sequence
            if is_seq2seq(model_class)
            else [t for t, m in zip(sequence, inputs["attention_mask"][row].tolist() + [1] * 30) if m]
        )
        bigrams = list(zip(real, real[1:]))
        assert len(bigrams) == len(set(bigrams)), sequence
    assert out.shape[1] - start >= 30


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_sampling_is_reproducible_and_top_k_1_is_greedy(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    kwargs = dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.9)
    torch.manual_seed(11)
    first = generate(model, inputs, **kwargs)
    torch.manual_seed(11)
    second = generate(model, inputs, **kwargs)
    assert torch.equal(first, second)
    assert ((first >= 0) & (first < model.config.vocab_size)).all()
    greedy = generate(model, inputs, do_sample=False)
    assert torch.equal(generate(model, inputs, do_sample=True, top_k=1), greedy)
    # a flat distribution (high temperature) wanders away from greedy
    torch.manual_seed(0)
    hot = generate(model, inputs, do_sample=True, temperature=50.0, top_k=0, min_new_tokens=8)
    assert not torch.equal(hot[:, : greedy.shape[1]], greedy)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_left_padded_batch_generates_what_each_prompt_generates_alone(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    batched = generate(model, inputs, do_sample=False, min_new_tokens=8)
    for row in range(inputs["input_ids"].shape[0]):
        real = inputs["attention_mask"][row].bool()
        alone = generate(
            model, {"input_ids": inputs["input_ids"][row : row + 1, real]}, do_sample=False, min_new_tokens=8
        )
        new_batched = batched[row, -8:] if not is_seq2seq(model_class) else batched[row, : alone.shape[1]]
        new_alone = alone[0, -8:] if not is_seq2seq(model_class) else alone[0]
        assert torch.equal(new_batched, new_alone), row


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_saved_generation_config_is_used(model_class, tmp_path):
    model = tiny_model(model_class)
    model.generation_config = GenerationConfig.from_model_config(model.config)
    model.generation_config.update(num_beams=2, max_new_tokens=3, min_new_tokens=3, length_penalty=0.6)
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    assert reloaded.generation_config.num_beams == 2 and reloaded.generation_config.max_new_tokens == 3
    inputs = prompts(model_class)
    out = reloaded.generate(**inputs)
    expected_length = (1 if is_seq2seq(model_class) else inputs["input_ids"].shape[1]) + 3
    assert out.shape[1] == expected_length
    assert torch.equal(out, model.generate(**inputs, num_beams=2, max_new_tokens=3, min_new_tokens=3))


def test_seq2seq_generation_starts_with_the_decoder_start_token():
    model = tiny_model(vt.TransformerForConditionalGeneration)
    out = generate(model, prompts(vt.TransformerForConditionalGeneration), do_sample=False)
    assert out[:, 0].eq(model.config.decoder_start_token_id).all()


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_static_cache_generates_the_same_tokens(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    dynamic = generate(model, inputs, do_sample=False)
    static = generate(model, inputs, do_sample=False, cache_implementation="static")
    assert torch.equal(dynamic, static)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_prompt_lookup_decoding_matches_greedy(model_class):
    # speculative decoding drafts several tokens, verifies them in one cached forward and crops the cache
    model = tiny_model(model_class)
    inputs = prompts(model_class, batch_size=1)
    greedy = generate(model, inputs, do_sample=False, max_new_tokens=12)
    assisted = generate(model, inputs, do_sample=False, max_new_tokens=12, prompt_lookup_num_tokens=3)
    assert torch.equal(greedy, assisted)


def test_causal_generation_continues_from_past_key_values():
    model = tiny_model(vt.TransformerForCausalLM)
    inputs = prompts(vt.TransformerForCausalLM)
    full = generate(model, inputs, do_sample=False, max_new_tokens=4, min_new_tokens=4)
    first = model.generate(**inputs, do_sample=False, max_new_tokens=3, min_new_tokens=3, return_dict_in_generate=True)
    mask = torch.cat([inputs["attention_mask"], torch.ones(3, 3, dtype=torch.long)], dim=1)
    continued = model.generate(
        first.sequences, attention_mask=mask, cache=first.cache, do_sample=False, max_new_tokens=1, min_new_tokens=1
    )
    assert torch.equal(full, continued)


def test_causal_generation_from_inputs_embeds():
    model = tiny_model(vt.TransformerForCausalLM)
    inputs = prompts(vt.TransformerForCausalLM)
    from_ids = generate(model, inputs, do_sample=False)
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    from_embeds = model.generate(
        inputs_embeds=embeds, attention_mask=inputs["attention_mask"], do_sample=False, max_new_tokens=8
    )
    assert torch.equal(from_embeds, from_ids[:, inputs["input_ids"].shape[1] :])


def test_causal_generation_without_a_prompt_starts_from_bos():
    model = tiny_model(vt.TransformerForCausalLM)
    out = model.generate(do_sample=False, max_new_tokens=5)
    assert out.shape == (1, 6) and out[0, 0] == model.config.bos_token_id


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_cached_step_by_step_logits_match_the_full_forward(model_class):
    model = tiny_model(model_class)
    if is_seq2seq(model_class):
        source = prompts(model_class)
        target = random_ids(3, 6, seed=5)
        full = model(**source, decoder_input_ids=target).logits
        cache, steps = None, []
        encoder_outputs = model.get_encoder()(**source)
        for i in range(target.shape[1]):
            out = model(
                encoder_outputs=encoder_outputs,
                attention_mask=source["attention_mask"],
                decoder_input_ids=target[:, i : i + 1],
                cache=cache,
                use_cache=True,
            )
            cache = out.cache
            steps.append(out.logits)
        assert isinstance(cache, EncoderDecoderCache)
        assert cache.get_seq_length() == target.shape[1]
        assert len(cache.self_attention_cache.layers) == model.config.decoder_layers
        cross = cache.cross_attention_cache.layers[0]
        assert cross.keys.shape == (3, model.config.num_heads, source["input_ids"].shape[1], 8)
    else:
        ids = random_ids(3, 6, seed=5)
        full = model(ids).logits
        cache, steps = None, []
        for i in range(ids.shape[1]):
            out = model(ids[:, i : i + 1], cache=cache, use_cache=True)
            cache = out.cache
            steps.append(out.logits)
        assert isinstance(cache, DynamicCache) and len(cache.layers) == model.config.num_layers
        assert cache.layers[0].keys.shape == (3, model.config.num_heads, 6, 8)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_generate_dict_outputs_have_one_score_per_new_token(model_class):
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    inputs = prompts(model_class)
    out = model.generate(
        **inputs,
        do_sample=False,
        num_beams=1,
        max_new_tokens=5,
        min_new_tokens=5,
        return_dict_in_generate=True,
        output_scores=True,
        output_attentions=True,
        output_hidden_states=True,
    )
    assert len(out.scores) == 5 and out.scores[0].shape == (3, model.config.vocab_size)
    if is_seq2seq(model_class):
        assert len(out.encoder_attentions) == model.config.encoder_layers
        assert len(out.decoder_attentions) == 5 and len(out.cross_attentions) == 5
        assert len(out.decoder_hidden_states[0]) == model.config.decoder_layers + 1
    else:
        assert len(out.attentions) == 5 and len(out.hidden_states[0]) == model.config.num_layers + 1
        assert out.attentions[1][0].shape == (3, model.config.num_heads, 1, inputs["input_ids"].shape[1] + 1)


def test_beam_search_returns_the_requested_number_of_sequences_sorted_by_score():
    model = tiny_model(vt.TransformerForConditionalGeneration)
    inputs = prompts(vt.TransformerForConditionalGeneration)
    out = model.generate(
        **inputs,
        num_beams=4,
        num_return_sequences=3,
        max_new_tokens=6,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert out.sequences.shape[0] == 9
    scores = out.sequences_scores.view(3, 3)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_seq2seq_decodes_like_the_paper_by_default(tmp_path):
    model = tiny_model(vt.TransformerForConditionalGeneration)
    config = model.generation_config
    assert (config.num_beams, config.length_penalty, config.early_stopping) == (4, 0.6, True)
    assert config.max_length is None  # so that passing max_new_tokens does not warn
    inputs = prompts(vt.TransformerForConditionalGeneration)
    explicit = model.generate(**inputs, num_beams=4, length_penalty=0.6, early_stopping=True, max_new_tokens=6)
    assert torch.equal(model.generate(**inputs, max_new_tokens=6), explicit)
    model.save_pretrained(tmp_path)
    assert vt.TransformerForConditionalGeneration.from_pretrained(tmp_path).generation_config.num_beams == 4
    assert tiny_model(vt.TransformerForCausalLM).generation_config.num_beams in (None, 1)  # greedy


def _prefix_and_last_step(model, model_class):
    """The logits of the last token computed with the cache of the prefix, and of the full forward, on a padded batch."""
    if is_seq2seq(model_class):
        source = prompts(model_class)
        target = random_ids(3, 6, seed=5)
        full = model(**source, decoder_input_ids=target).logits
        prefix = model(**source, decoder_input_ids=target[:, :-1], use_cache=True)
        last = model(
            encoder_outputs=(prefix.encoder_last_hidden_state,),
            attention_mask=source["attention_mask"],
            decoder_input_ids=target[:, -1:],
            cache=prefix.cache,
        )
    else:
        inputs = prompts(model_class)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        full = model(ids, attention_mask=mask).logits
        prefix = model(ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True)
        last = model(ids[:, -1:], attention_mask=mask, cache=prefix.cache)
    return last.logits[:, -1], full[:, -1]


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_the_last_token_with_the_prefix_cache_equals_the_full_forward(model_class):
    last, full = _prefix_and_last_step(tiny_model(model_class), model_class)
    torch.testing.assert_close(last, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_outputs_carry_the_cache_under_the_library_name(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    if is_seq2seq(model_class):
        inputs["decoder_input_ids"] = random_ids(3, 2)
    out = model(**inputs, use_cache=True)
    assert isinstance(out.cache, EncoderDecoderCache if is_seq2seq(model_class) else Cache)
    assert "past_key_values" not in out.keys()  # noqa: SIM118 (`in out` answers for the deprecated alias too)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_past_key_values_is_a_deprecated_alias_of_cache(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    if is_seq2seq(model_class):
        inputs["decoder_input_ids"] = random_ids(3, 2)
    with torch.no_grad():
        prefix = model(**inputs, use_cache=True).cache
    step = (
        {"decoder_input_ids": random_ids(3, 1, seed=9)}
        if is_seq2seq(model_class)
        else {"input_ids": random_ids(3, 1, seed=9)}
    )
    if not is_seq2seq(model_class):
        inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones(3, 1, dtype=torch.long)], dim=1)
    new_name = model(**{**inputs, **step}, cache=copy.deepcopy(prefix)).logits
    with pytest.warns(FutureWarning, match="`past_key_values` is deprecated.*Use `cache` instead"):
        old_name = model(**{**inputs, **step}, past_key_values=copy.deepcopy(prefix)).logits
    assert torch.equal(old_name, new_name)


@pytest.mark.parametrize("model_class", GENERATIVE)
def test_cached_generation_raises_no_deprecation_warning_or_log(model_class, caplog):
    model = tiny_model(model_class)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        with caplog.at_level(logging.WARNING, logger="transformers"):
            generate(model, prompts(model_class), do_sample=False, num_beams=2, use_cache=True)
    assert not [record.getMessage() for record in caplog.records if "deprecat" in record.getMessage().lower()]
