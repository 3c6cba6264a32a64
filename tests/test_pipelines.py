"""The library's pipelines over our models, fed by tokenizers from `train_tokenizer`: each result is checked against
a direct call of the same model, so the pipeline must have encoded, placed and decoded the tokens correctly."""

import copy

import pytest
import torch
from transformers import pipeline

import vanilla_transformer as vt
from vanilla_transformer.tokenization import ALGORITHMS

from tokenizer_helpers import DE, EN, TINY_MODEL, trained


def tiny(model_class, tokenizer, variant, **overrides):
    torch.manual_seed(0)
    layers = {"seq2seq": dict(encoder_layers=1, decoder_layers=1)}.get(variant, dict(num_layers=1))
    config = vt.config_from_tokenizer(tokenizer, variant, **TINY_MODEL, **layers, **overrides)
    return model_class(config).eval()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fill_mask(algorithm):
    tokenizer = trained(algorithm, "encoder")
    model = tiny(vt.TransformerForMaskedLM, tokenizer, "encoder")
    text = f"A man {tokenizer.mask_token} a horse."
    results = pipeline("fill-mask", model=model, tokenizer=tokenizer)(text, top_k=5)

    inputs = tokenizer(text, return_tensors="pt")
    position = inputs["input_ids"][0].tolist().index(tokenizer.mask_token_id)
    with torch.no_grad():
        probabilities = model(**inputs).logits[0, position].softmax(-1)
    expected = probabilities.topk(5)
    assert [result["token"] for result in results] == expected.indices.tolist()
    torch.testing.assert_close(torch.tensor([r["score"] for r in results]), expected.values)
    for result in results:
        assert 0 <= result["token"] < len(tokenizer)
        assert result["token_str"] == tokenizer.decode([result["token"]])
        filled = inputs["input_ids"][0].clone()
        filled[position] = result["token"]
        assert result["sequence"] == tokenizer.decode(filled, skip_special_tokens=True)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_classification(algorithm):
    tokenizer = trained(algorithm, "encoder")
    labels = ["O", "B-ANIMAL", "I-ANIMAL"]
    model = tiny(
        vt.TransformerForTokenClassification,
        tokenizer,
        "encoder",
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    text = "A black dog runs across the grass"
    entities = pipeline("token-classification", model=model, tokenizer=tokenizer)(
        text, aggregation_strategy="none", ignore_labels=[]
    )

    inputs = tokenizer(text, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    with torch.no_grad():
        predicted = model(**inputs).logits[0].argmax(-1).tolist()
    # one entity per token, [CLS] and [SEP] left out, in order, with the model's label for that position
    assert [entity["index"] for entity in entities] == list(range(1, len(tokens) - 1))
    assert [entity["word"] for entity in entities] == tokens[1:-1]
    assert [entity["entity"] for entity in entities] == [labels[i] for i in predicted[1:-1]]
    for entity in entities:
        # the character offsets point at the token's text in the input
        piece = tokenizer.convert_tokens_to_string([entity["word"]]).strip().removeprefix("##")
        assert text[entity["start"] : entity["end"]].strip() == piece


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_text_classification(algorithm):
    tokenizer = trained(algorithm, "encoder")
    model = tiny(
        vt.TransformerForSequenceClassification,
        tokenizer,
        "encoder",
        num_labels=2,
        id2label={0: "NEG", 1: "POS"},
        label2id={"NEG": 0, "POS": 1},
    )
    texts = EN[:3]
    results = pipeline("text-classification", model=model, tokenizer=tokenizer)(texts, top_k=None)
    assert len(results) == 3
    for text, scores in zip(texts, results):
        with torch.no_grad():  # the first token the model pools is [CLS]: the pipeline must have added it
            expected = model(**tokenizer(text, return_tensors="pt")).logits[0].softmax(-1)
        by_label = {score["label"]: score["score"] for score in scores}
        assert set(by_label) == {"NEG", "POS"}
        torch.testing.assert_close(torch.tensor([by_label["NEG"], by_label["POS"]]), expected)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_text_generation(algorithm):
    tokenizer = copy.deepcopy(trained(algorithm, "decoder"))  # the pipeline sets its padding_side to "left"
    model = tiny(vt.TransformerForCausalLM, tokenizer, "decoder")
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    prompt = "A man rides"
    options = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False)

    ids = generator(prompt, return_tensors=True, **options)[0]["generated_token_ids"]
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert prompt_ids[0] == tokenizer.bos_token_id and tokenizer.eos_token_id not in prompt_ids
    assert ids[: len(prompt_ids)] == prompt_ids and len(ids) == len(prompt_ids) + 4
    expected = model.generate(**tokenizer(prompt, return_tensors="pt"), **options)[0].tolist()
    assert ids == expected

    # the pipeline appends the new tokens, decoded on their own, to the prompt
    text = generator(prompt, **options)[0]["generated_text"]
    assert text == prompt + tokenizer.decode(ids[len(prompt_ids) :], skip_special_tokens=True)
    assert text == tokenizer.decode(ids, skip_special_tokens=True)  # tokens carry their spaces: the seam is exact


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_translation_generation(algorithm):
    # v5 has no translation pipeline: generate directly, as the seq2seq examples do
    tokenizer = trained(algorithm, "seq2seq")
    model = tiny(vt.TransformerForConditionalGeneration, tokenizer, "seq2seq")
    inputs = tokenizer(EN[:2], padding=True, return_tensors="pt")
    outputs = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert outputs.shape == (2, 6)
    assert (outputs[:, 0] == model.config.decoder_start_token_id).all() and model.config.decoder_start_token_id == 2
    assert all(isinstance(text, str) for text in tokenizer.batch_decode(outputs, skip_special_tokens=True))
    assert tokenizer(text_target=DE[:2])["input_ids"] == tokenizer(DE[:2])["input_ids"]
