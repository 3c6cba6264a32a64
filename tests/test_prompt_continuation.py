"""A decoder-only model continues a prompt, and its continuation reads as text: a tiny causal LM that has learned
"A man rides a horse." by heart completes the prompt "A man rides" through `generate()` and `decode`, the
text-generation pipeline and `TextStreamer`, for every tokenizer algorithm."""

import copy
import functools

import pytest
import torch
from transformers import TextStreamer, pipeline

import vanilla_transformer as vt
from vanilla_transformer.tokenization import ALGORITHMS

from tokenizer_helpers import EN, TINY_MODEL, trained


PROMPT, CONTINUATION = "A man rides", " a horse."
assert PROMPT + CONTINUATION in EN  # so every tokenizer knows its words
GREEDY = dict(max_new_tokens=12, do_sample=False)


@functools.cache
def memorised_model(algorithm: str) -> vt.TransformerForCausalLM:
    """A tiny causal LM trained on `<s> A man rides a horse. </s>` until it predicts every token of it."""
    tokenizer = trained(algorithm, "decoder")
    ids = tokenizer(PROMPT + CONTINUATION, add_special_tokens=False)["input_ids"]
    text = torch.tensor([[tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]])
    torch.manual_seed(0)
    model = vt.TransformerForCausalLM(vt.config_from_tokenizer(tokenizer, "decoder", num_layers=1, **TINY_MODEL))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ten times faster for a model this small on a busy machine
    try:
        for _ in range(300):
            loss = model(input_ids=text, labels=text).loss
            if loss < 0.01:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    assert loss < 0.01, f"the model did not learn the sentence (loss {loss:.3f})"
    return model.eval()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_generate_and_decode(algorithm):
    tokenizer, model = trained(algorithm, "decoder"), memorised_model(algorithm)
    inputs = tokenizer([PROMPT], return_tensors="pt")
    output = model.generate(**inputs, **GREEDY)
    assert output[0, -1] == tokenizer.eos_token_id  # the text was finished, and generation stopped there
    assert tokenizer.decode(output[0], skip_special_tokens=True) == PROMPT + CONTINUATION
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    assert tokenizer.batch_decode(new_tokens, skip_special_tokens=True) == [CONTINUATION]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_text_generation_pipeline(algorithm):
    tokenizer = copy.deepcopy(trained(algorithm, "decoder"))  # the pipeline sets its padding_side to "left"
    generator = pipeline("text-generation", model=memorised_model(algorithm), tokenizer=tokenizer)
    assert generator(PROMPT, **GREEDY)[0]["generated_text"] == PROMPT + CONTINUATION
    assert generator(PROMPT, return_full_text=False, **GREEDY)[0]["generated_text"] == CONTINUATION


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("skip_prompt", [True, False])
def test_text_streamer(algorithm, skip_prompt, capsys):
    tokenizer, model = trained(algorithm, "decoder"), memorised_model(algorithm)
    streamer = TextStreamer(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=True)
    model.generate(**tokenizer([PROMPT], return_tensors="pt"), streamer=streamer, **GREEDY)
    expected = CONTINUATION if skip_prompt else PROMPT + CONTINUATION
    assert capsys.readouterr().out == expected + "\n"
