"""A decoding step with a static cache compiles as one graph (`_can_compile_fullgraph`), and the compiled decoding
gives the tokens of the plain one; a compiled model trains (as `Trainer(torch_compile=True)` runs it) on batches of
varying length."""

import pytest
import torch
from transformers import CompileConfig

import vanilla_transformer as vt

from helpers import padding_mask, random_ids, tiny_model


GENERATIVE = [vt.TransformerForCausalLM, vt.TransformerForConditionalGeneration]


def test_the_models_declare_that_they_compile_as_one_graph():
    assert (
        vt.TransformerForCausalLM._can_compile_fullgraph
        and vt.TransformerForConditionalGeneration._can_compile_fullgraph
    )


@pytest.mark.slow  # compiling takes seconds
@pytest.mark.parametrize("model_class", GENERATIVE)
def test_compiled_static_cache_decoding_gives_the_tokens_of_plain_decoding(model_class):
    model = tiny_model(model_class)
    mask = padding_mask(2, 6, [6, 4], left=model_class is vt.TransformerForCausalLM)
    inputs = {"input_ids": random_ids(2, 6).masked_fill(mask == 0, 0), "attention_mask": mask}
    options = dict(max_new_tokens=10, min_new_tokens=10, do_sample=False, num_beams=1)
    plain = model.generate(**inputs, **options)
    compile_config = CompileConfig(fullgraph=True, mode="default")
    compile_config._compile_all_devices = True  # the library compiles only on accelerators unless told otherwise
    torch._dynamo.reset()
    compiled = model.generate(**inputs, cache_implementation="static", compile_config=compile_config, **options)
    assert hasattr(model, "_compiled_call")  # generate() did compile the forward
    assert torch.equal(compiled, plain)


@pytest.mark.slow  # compiling takes seconds
def test_a_compiled_model_trains_on_batches_of_varying_length():
    # The second length makes dynamo recompile with dynamic shapes; the chunked loss once failed there.
    model = tiny_model(vt.TransformerForCausalLM).train()
    compiled = torch.compile(model)
    torch._dynamo.reset()
    for length in (6, 9, 12):
        ids = random_ids(2, length)
        torch.manual_seed(0)
        eager_loss = model(input_ids=ids, labels=ids).loss
        torch.manual_seed(0)
        compiled_loss = compiled(input_ids=ids, labels=ids).loss
        compiled_loss.backward()
        torch.testing.assert_close(compiled_loss, eager_loss)
    assert all(p.grad is not None for p in model.parameters())
