"""The library's pipelines over our models, fed by tokenizers from `train_tokenizer`: each result is checked against
a direct call of the same model, so the pipeline must have encoded, placed and decoded the tokens correctly."""

import copy
import functools
from types import SimpleNamespace

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


ALGORITHM = pytest.mark.parametrize("algorithm", ALGORITHMS)


# --- fill-mask ------------------------------------------------------------------------------------------------------


@functools.cache
def fill_mask(algorithm):
    """The fill-mask pipeline's top 5 for a masked sentence, and what the model itself says (treat as read-only)."""
    tokenizer = trained(algorithm, "encoder")
    model = tiny(vt.TransformerForMaskedLM, tokenizer, "encoder")
    text = f"A man {tokenizer.mask_token} a horse."
    results = pipeline("fill-mask", model=model, tokenizer=tokenizer)(text, top_k=5)
    inputs = tokenizer(text, return_tensors="pt")
    position = inputs["input_ids"][0].tolist().index(tokenizer.mask_token_id)
    with torch.no_grad():
        probabilities = model(**inputs).logits[0, position].softmax(-1)
    return SimpleNamespace(
        tokenizer=tokenizer,
        results=results,
        expected=probabilities.topk(5),
        ids=inputs["input_ids"][0],
        position=position,
    )


@ALGORITHM
def test_fill_mask_returns_the_models_top_tokens(algorithm):
    run = fill_mask(algorithm)
    assert [result["token"] for result in run.results] == run.expected.indices.tolist()


@ALGORITHM
def test_fill_mask_scores_are_the_models_probabilities(algorithm):
    run = fill_mask(algorithm)
    torch.testing.assert_close(torch.tensor([r["score"] for r in run.results]), run.expected.values)


@ALGORITHM
def test_fill_mask_tokens_are_in_the_vocabulary(algorithm):
    run = fill_mask(algorithm)
    for result in run.results:
        assert 0 <= result["token"] < len(run.tokenizer)


@ALGORITHM
def test_fill_mask_token_strings_are_the_decoded_tokens(algorithm):
    run = fill_mask(algorithm)
    for result in run.results:
        assert result["token_str"] == run.tokenizer.decode([result["token"]])


@ALGORITHM
def test_fill_mask_sequences_are_the_input_decoded_with_the_mask_filled(algorithm):
    run = fill_mask(algorithm)
    for result in run.results:
        filled = run.ids.clone()
        filled[run.position] = result["token"]
        assert result["sequence"] == run.tokenizer.decode(filled, skip_special_tokens=True)


# --- token classification -------------------------------------------------------------------------------------------

TAGS = ["O", "B-ANIMAL", "I-ANIMAL"]
TAGGED_TEXT = "A black dog runs across the grass"


@functools.cache
def token_classification(algorithm):
    """The token-classification pipeline's entities, the tokens and the model's own predictions (read-only)."""
    tokenizer = trained(algorithm, "encoder")
    model = tiny(
        vt.TransformerForTokenClassification,
        tokenizer,
        "encoder",
        num_labels=3,
        id2label=dict(enumerate(TAGS)),
        label2id={label: i for i, label in enumerate(TAGS)},
    )
    entities = pipeline("token-classification", model=model, tokenizer=tokenizer)(
        TAGGED_TEXT, aggregation_strategy="none", ignore_labels=[]
    )
    inputs = tokenizer(TAGGED_TEXT, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**inputs).logits[0].argmax(-1).tolist()
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    return SimpleNamespace(tokenizer=tokenizer, entities=entities, tokens=tokens, predicted=predicted)


# one entity per token, [CLS] and [SEP] left out, in order, with the model's label for that position


@ALGORITHM
def test_token_classification_gives_one_entity_per_token_in_order(algorithm):
    run = token_classification(algorithm)
    assert [entity["index"] for entity in run.entities] == list(range(1, len(run.tokens) - 1))


@ALGORITHM
def test_token_classification_entities_are_the_tokens_without_cls_and_sep(algorithm):
    run = token_classification(algorithm)
    assert [entity["word"] for entity in run.entities] == run.tokens[1:-1]


@ALGORITHM
def test_token_classification_labels_are_the_models_predictions(algorithm):
    run = token_classification(algorithm)
    assert [entity["entity"] for entity in run.entities] == [TAGS[i] for i in run.predicted[1:-1]]


@ALGORITHM
def test_token_classification_offsets_point_at_the_tokens_text(algorithm):
    run = token_classification(algorithm)
    for entity in run.entities:
        piece = run.tokenizer.convert_tokens_to_string([entity["word"]]).strip().removeprefix("##")
        assert TAGGED_TEXT[entity["start"] : entity["end"]].strip() == piece


# --- text classification --------------------------------------------------------------------------------------------


@functools.cache
def text_classification(algorithm):
    """The text-classification pipeline's scores of 3 sentences, and the model's own probabilities (read-only)."""
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
    with torch.no_grad():  # the first token the model pools is [CLS]: the pipeline must have added it
        expected = [model(**tokenizer(text, return_tensors="pt")).logits[0].softmax(-1) for text in texts]
    return results, expected


@ALGORITHM
def test_text_classification_gives_one_result_per_text(algorithm):
    results, _ = text_classification(algorithm)
    assert len(results) == 3


@ALGORITHM
def test_text_classification_scores_every_label(algorithm):
    results, _ = text_classification(algorithm)
    for scores in results:
        assert {score["label"] for score in scores} == {"NEG", "POS"}


@ALGORITHM
def test_text_classification_scores_are_the_models_probabilities(algorithm):
    results, expected = text_classification(algorithm)
    for scores, probabilities in zip(results, expected, strict=True):
        by_label = {score["label"]: score["score"] for score in scores}
        torch.testing.assert_close(torch.tensor([by_label["NEG"], by_label["POS"]]), probabilities)


# --- text generation ------------------------------------------------------------------------------------------------

PROMPT = "A man rides"
GREEDY_4 = dict(max_new_tokens=4, min_new_tokens=4, do_sample=False)


@functools.cache
def text_generation(algorithm):
    """A causal LM and the text-generation pipeline over it, with a tokenizer that writes prompts as `<s> text`."""
    tokenizer = copy.deepcopy(trained(algorithm, "decoder"))  # the pipeline sets its padding_side to "left"
    model = tiny(vt.TransformerForCausalLM, tokenizer, "decoder")
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    ids = generator(PROMPT, return_tensors=True, **GREEDY_4)[0]["generated_token_ids"]
    text = generator(PROMPT, **GREEDY_4)[0]["generated_text"]
    return SimpleNamespace(
        tokenizer=tokenizer, model=model, ids=ids, text=text, prompt_ids=tokenizer(PROMPT)["input_ids"]
    )


@ALGORITHM
def test_a_prompt_starts_with_bos_and_has_no_eos(algorithm):
    run = text_generation(algorithm)
    assert run.prompt_ids[0] == run.tokenizer.bos_token_id and run.tokenizer.eos_token_id not in run.prompt_ids


@ALGORITHM
def test_text_generation_returns_the_prompt_ids_and_the_new_ones(algorithm):
    run = text_generation(algorithm)
    assert run.ids[: len(run.prompt_ids)] == run.prompt_ids and len(run.ids) == len(run.prompt_ids) + 4


@ALGORITHM
def test_text_generation_returns_what_generate_returns(algorithm):
    run = text_generation(algorithm)
    assert run.ids == run.model.generate(**run.tokenizer(PROMPT, return_tensors="pt"), **GREEDY_4)[0].tolist()


@ALGORITHM
def test_text_generation_appends_the_new_tokens_decoded_on_their_own_to_the_prompt(algorithm):
    run = text_generation(algorithm)
    assert run.text == PROMPT + run.tokenizer.decode(run.ids[len(run.prompt_ids) :], skip_special_tokens=True)


@ALGORITHM
def test_text_generation_decodes_as_the_whole_sequence(algorithm):
    run = text_generation(algorithm)  # tokens carry their spaces: the seam between prompt and continuation is exact
    assert run.text == run.tokenizer.decode(run.ids, skip_special_tokens=True)


# --- translation ----------------------------------------------------------------------------------------------------


@functools.cache
def translation(algorithm):
    """5 tokens generated greedily for 2 sources (v5 has no translation pipeline: generate directly, as the seq2seq
    examples do), with the tokenizer and the model (read-only)."""
    tokenizer = trained(algorithm, "seq2seq")
    model = tiny(vt.TransformerForConditionalGeneration, tokenizer, "seq2seq")
    inputs = tokenizer(EN[:2], padding=True, return_tensors="pt")
    outputs = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    return tokenizer, model, outputs


@ALGORITHM
def test_translation_generates_the_decoder_start_and_the_new_tokens_for_each_source(algorithm):
    _, _, outputs = translation(algorithm)
    assert outputs.shape == (2, 6)


@ALGORITHM
def test_translations_start_with_the_tokenizers_bos_as_decoder_start(algorithm):
    _, model, outputs = translation(algorithm)
    assert (outputs[:, 0] == model.config.decoder_start_token_id).all() and model.config.decoder_start_token_id == 2


@ALGORITHM
def test_translations_decode_to_text(algorithm):
    tokenizer, _, outputs = translation(algorithm)
    assert all(isinstance(text, str) for text in tokenizer.batch_decode(outputs, skip_special_tokens=True))


@ALGORITHM
def test_targets_are_tokenized_as_sources(algorithm):
    tokenizer, _, _ = translation(algorithm)
    assert tokenizer(text_target=DE[:2])["input_ids"] == tokenizer(DE[:2])["input_ids"]
