"""What transformers' GenerationTesterMixin checks, for the causal LM and the encoder-decoder."""

import copy
import functools
import warnings

import pytest
import torch
from transformers import Cache, DynamicCache, EncoderDecoderCache, GenerationConfig
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging as transformers_logging

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


SEARCH = pytest.mark.parametrize("search", list(SEARCHES))
MODEL_CLASS = pytest.mark.parametrize("model_class", GENERATIVE)


@functools.cache
def generated_with_and_without_cache(model_class, search):
    """The tokens a search generates with the cache and without it (shared by the tests: treat as read-only)."""
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    with_cache = generate(model, inputs, use_cache=True, **SEARCHES[search])
    without_cache = generate(model, inputs, use_cache=False, **SEARCHES[search])
    return with_cache, without_cache


@MODEL_CLASS
@SEARCH
def test_cached_and_uncached_generation_give_the_same_tokens(model_class, search):
    with_cache, without_cache = generated_with_and_without_cache(model_class, search)
    assert torch.equal(with_cache, without_cache)


@MODEL_CLASS
@SEARCH
def test_each_search_generates_new_tokens(model_class, search):
    with_cache, _ = generated_with_and_without_cache(model_class, search)
    assert with_cache.shape[1] > (1 if is_seq2seq(model_class) else prompts(model_class)["input_ids"].shape[1])


@functools.cache
def generated_with_no_repeat_ngram_size_2(model_class):
    """30 tokens or more generated after each prompt with no_repeat_ngram_size=2 (treat as read-only)."""
    return generate(
        tiny_model(model_class),
        prompts(model_class),
        max_new_tokens=30,
        min_new_tokens=30,
        no_repeat_ngram_size=2,
        do_sample=False,
    )


@MODEL_CLASS
def test_no_repeat_ngram_size_is_respected(model_class):
    inputs = prompts(model_class)
    for row, sequence in enumerate(generated_with_no_repeat_ngram_size_2(model_class).tolist()):
        real = (
            sequence
            if is_seq2seq(model_class)
            else [t for t, m in zip(sequence, inputs["attention_mask"][row].tolist() + [1] * 30) if m]
        )
        bigrams = list(zip(real, real[1:]))
        assert len(bigrams) == len(set(bigrams)), sequence


@MODEL_CLASS
def test_no_repeat_ngram_size_still_generates_min_new_tokens(model_class):
    start = 0 if is_seq2seq(model_class) else prompts(model_class)["input_ids"].shape[1]
    assert generated_with_no_repeat_ngram_size_2(model_class).shape[1] - start >= 30


SAMPLING = dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.9)


def sampled(model, model_class, seed=11):
    torch.manual_seed(seed)
    return generate(model, prompts(model_class), **SAMPLING)


@MODEL_CLASS
def test_sampling_with_the_same_seed_gives_the_same_tokens(model_class):
    model = tiny_model(model_class)
    assert torch.equal(sampled(model, model_class), sampled(model, model_class))


@MODEL_CLASS
def test_sampled_tokens_are_in_the_vocabulary(model_class):
    model = tiny_model(model_class)
    tokens = sampled(model, model_class)
    assert ((tokens >= 0) & (tokens < model.config.vocab_size)).all()


@MODEL_CLASS
def test_sampling_from_the_top_1_token_is_greedy(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    assert torch.equal(generate(model, inputs, do_sample=True, top_k=1), generate(model, inputs, do_sample=False))


@MODEL_CLASS
def test_sampling_at_a_high_temperature_wanders_away_from_greedy(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    greedy = generate(model, inputs, do_sample=False)
    torch.manual_seed(0)  # a flat distribution
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


@pytest.fixture
def reloaded_with_a_generation_config(model_class, tmp_path):
    """A model whose generation config asks for beam search and 3 new tokens, and its saved and reloaded copy."""
    model = tiny_model(model_class)
    model.generation_config = GenerationConfig.from_model_config(model.config)
    model.generation_config.update(num_beams=2, max_new_tokens=3, min_new_tokens=3, length_penalty=0.6)
    model.save_pretrained(tmp_path)
    return model, model_class.from_pretrained(tmp_path).eval()


@MODEL_CLASS
def test_a_saved_generation_config_is_loaded(model_class, reloaded_with_a_generation_config):
    _, reloaded = reloaded_with_a_generation_config
    assert reloaded.generation_config.num_beams == 2 and reloaded.generation_config.max_new_tokens == 3


@MODEL_CLASS
def test_generate_takes_the_number_of_new_tokens_from_the_saved_generation_config(
    model_class, reloaded_with_a_generation_config
):
    _, reloaded = reloaded_with_a_generation_config
    inputs = prompts(model_class)
    expected_length = (1 if is_seq2seq(model_class) else inputs["input_ids"].shape[1]) + 3
    assert reloaded.generate(**inputs).shape[1] == expected_length


@MODEL_CLASS
def test_generate_with_the_saved_generation_config_is_generate_with_its_values(
    model_class, reloaded_with_a_generation_config
):
    model, reloaded = reloaded_with_a_generation_config
    inputs = prompts(model_class)
    explicit = model.generate(**inputs, num_beams=2, max_new_tokens=3, min_new_tokens=3)
    assert torch.equal(reloaded.generate(**inputs), explicit)


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
    assert model.generate(do_sample=False, max_new_tokens=5)[0, 0] == model.config.bos_token_id


def test_causal_generation_without_a_prompt_is_one_sequence_of_bos_and_the_new_tokens():
    assert tiny_model(vt.TransformerForCausalLM).generate(do_sample=False, max_new_tokens=5).shape == (1, 6)


@functools.cache
def step_by_step(model_class):
    """The full forward's logits, the logits of decoding the same tokens one at a time with the cache, and the cache
    after the last step (shared by the tests: treat as read-only). The target is 6 tokens, the sources 6 tokens."""
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
    else:
        ids = random_ids(3, 6, seed=5)
        full = model(ids).logits
        cache, steps = None, []
        for i in range(ids.shape[1]):
            out = model(ids[:, i : i + 1], cache=cache, use_cache=True)
            cache = out.cache
            steps.append(out.logits)
    return full, torch.cat(steps, dim=1), cache


@MODEL_CLASS
def test_cached_step_by_step_logits_match_the_full_forward(model_class):
    full, steps, _ = step_by_step(model_class)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-4)


@MODEL_CLASS
def test_step_by_step_decoding_builds_the_library_cache_of_the_variant(model_class):
    _, _, cache = step_by_step(model_class)
    assert isinstance(cache, EncoderDecoderCache if is_seq2seq(model_class) else DynamicCache)


@MODEL_CLASS
def test_the_self_attention_cache_has_one_layer_per_decoder_layer(model_class):
    _, _, cache = step_by_step(model_class)
    config = tiny_model(model_class).config
    if is_seq2seq(model_class):
        assert len(cache.self_attention_cache.layers) == config.decoder_layers
    else:
        assert len(cache.layers) == config.num_layers


@MODEL_CLASS
def test_the_self_attention_cache_holds_every_decoded_position(model_class):
    _, _, cache = step_by_step(model_class)
    if is_seq2seq(model_class):
        assert cache.get_seq_length() == 6
    else:
        assert cache.layers[0].keys.shape == (3, tiny_model(model_class).config.num_heads, 6, 8)


def test_the_cross_attention_cache_holds_the_keys_of_every_source_token():
    _, _, cache = step_by_step(vt.TransformerForConditionalGeneration)
    num_heads = tiny_model(vt.TransformerForConditionalGeneration).config.num_heads
    source_length = prompts(vt.TransformerForConditionalGeneration)["input_ids"].shape[1]
    assert cache.cross_attention_cache.layers[0].keys.shape == (3, num_heads, source_length, 8)


@functools.cache
def generated_with_every_output(model_class):
    """5 tokens generated greedily with scores, attentions and hidden states (treat as read-only)."""
    model = tiny_model(model_class)
    model.set_attn_implementation("eager")
    return model.generate(
        **prompts(model_class),
        do_sample=False,
        num_beams=1,
        max_new_tokens=5,
        min_new_tokens=5,
        return_dict_in_generate=True,
        output_scores=True,
        output_attentions=True,
        output_hidden_states=True,
    )


@MODEL_CLASS
def test_generate_returns_one_score_per_new_token_over_the_vocabulary(model_class):
    out = generated_with_every_output(model_class)
    assert len(out.scores) == 5 and out.scores[0].shape == (3, tiny_model(model_class).config.vocab_size)


@MODEL_CLASS
def test_generate_returns_the_decoder_attentions_of_each_new_token(model_class):
    out = generated_with_every_output(model_class)
    assert len(out.decoder_attentions if is_seq2seq(model_class) else out.attentions) == 5


@MODEL_CLASS
def test_generate_returns_the_hidden_states_of_every_decoder_layer_and_the_embeddings(model_class):
    out = generated_with_every_output(model_class)
    config = tiny_model(model_class).config
    if is_seq2seq(model_class):
        assert len(out.decoder_hidden_states[0]) == config.decoder_layers + 1
    else:
        assert len(out.hidden_states[0]) == config.num_layers + 1


def test_seq2seq_generate_returns_the_encoder_attentions_of_every_layer():
    out = generated_with_every_output(vt.TransformerForConditionalGeneration)
    assert len(out.encoder_attentions) == tiny_model(vt.TransformerForConditionalGeneration).config.encoder_layers


def test_seq2seq_generate_returns_the_cross_attentions_of_each_new_token():
    assert len(generated_with_every_output(vt.TransformerForConditionalGeneration).cross_attentions) == 5


def test_causal_generate_returns_attentions_of_the_new_token_over_the_prompt_and_the_tokens_so_far():
    out = generated_with_every_output(vt.TransformerForCausalLM)
    num_heads = tiny_model(vt.TransformerForCausalLM).config.num_heads
    prompt_length = prompts(vt.TransformerForCausalLM)["input_ids"].shape[1]
    assert out.attentions[1][0].shape == (3, num_heads, 1, prompt_length + 1)


@functools.cache
def beam_search_returning_3_of_4_beams():
    """Beam search with 4 beams, returning 3 sequences per source and their scores (treat as read-only)."""
    model = tiny_model(vt.TransformerForConditionalGeneration)
    return model.generate(
        **prompts(vt.TransformerForConditionalGeneration),
        num_beams=4,
        num_return_sequences=3,
        max_new_tokens=6,
        return_dict_in_generate=True,
        output_scores=True,
    )


def test_beam_search_returns_the_requested_number_of_sequences():
    assert beam_search_returning_3_of_4_beams().sequences.shape[0] == 9


def test_beam_search_returns_the_sequences_of_each_source_sorted_by_score():
    scores = beam_search_returning_3_of_4_beams().sequences_scores.view(3, 3)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_seq2seq_generation_config_is_the_papers_beam_search():
    config = tiny_model(vt.TransformerForConditionalGeneration).generation_config
    assert (config.num_beams, config.length_penalty, config.early_stopping) == (4, 0.6, True)


def test_seq2seq_generation_config_sets_no_max_length():
    # so that passing max_new_tokens does not warn
    assert tiny_model(vt.TransformerForConditionalGeneration).generation_config.max_length is None


def test_seq2seq_generate_decodes_with_the_papers_beam_search_by_default():
    model = tiny_model(vt.TransformerForConditionalGeneration)
    inputs = prompts(vt.TransformerForConditionalGeneration)
    explicit = model.generate(**inputs, num_beams=4, length_penalty=0.6, early_stopping=True, max_new_tokens=6)
    assert torch.equal(model.generate(**inputs, max_new_tokens=6), explicit)


def test_a_saved_seq2seq_model_keeps_the_papers_beam_search(tmp_path):
    tiny_model(vt.TransformerForConditionalGeneration).save_pretrained(tmp_path)
    assert vt.TransformerForConditionalGeneration.from_pretrained(tmp_path).generation_config.num_beams == 4


def test_causal_lm_generation_is_greedy_by_default():
    assert tiny_model(vt.TransformerForCausalLM).generation_config.num_beams in (None, 1)


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


def forward_with_cache(model_class):
    model = tiny_model(model_class)
    inputs = prompts(model_class)
    if is_seq2seq(model_class):
        inputs["decoder_input_ids"] = random_ids(3, 2)
    return model(**inputs, use_cache=True)


@MODEL_CLASS
def test_outputs_carry_the_cache_under_the_library_name(model_class):
    assert isinstance(forward_with_cache(model_class).cache, EncoderDecoderCache if is_seq2seq(model_class) else Cache)


@MODEL_CLASS
def test_outputs_have_no_past_key_values_entry(model_class):
    out = forward_with_cache(model_class)
    assert "past_key_values" not in out.keys()  # noqa: SIM118 (`in out` answers for the deprecated alias too)


def next_step_logits_with_the_prefix_cache(model_class, cache_argument):
    """The logits of one more token, with the cache of a prefix passed under `cache_argument`."""
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
    return model(**{**inputs, **step}, **{cache_argument: copy.deepcopy(prefix)}).logits


DEPRECATED_ALIAS = "`past_key_values` is deprecated.*Use `cache` instead"


@MODEL_CLASS
def test_past_key_values_is_deprecated(model_class):
    with pytest.warns(FutureWarning, match=DEPRECATED_ALIAS):
        next_step_logits_with_the_prefix_cache(model_class, "past_key_values")


@MODEL_CLASS
def test_past_key_values_is_an_alias_of_cache(model_class):
    new_name = next_step_logits_with_the_prefix_cache(model_class, "cache")
    with pytest.warns(FutureWarning, match=DEPRECATED_ALIAS):
        old_name = next_step_logits_with_the_prefix_cache(model_class, "past_key_values")
    assert torch.equal(old_name, new_name)


@MODEL_CLASS
def test_cached_generation_raises_no_deprecation_warning(model_class):
    model = tiny_model(model_class)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        generate(model, prompts(model_class), do_sample=False, num_beams=2, use_cache=True)


@MODEL_CLASS
def test_cached_generation_logs_no_deprecation(model_class):
    model = tiny_model(model_class)
    library_logger = transformers_logging.get_logger("transformers")
    library_logger.warning_once.cache_clear()  # a message said once in this process is said again here
    # on the library's own logger: it does not propagate to the root logger that pytest's caplog listens to
    with CaptureLogger(library_logger) as captured:
        generate(model, prompts(model_class), do_sample=False, num_beams=2, use_cache=True)
    assert "deprecat" not in captured.out.lower()
