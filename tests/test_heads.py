"""The heads users reach for beyond the paper: sequence classification on the decoder-only and encoder-decoder models,
question answering on the encoder; and LoRA adapters (PEFT) on our fused attention projections."""

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, Trainer, TrainingArguments

import vanilla_transformer as vt

from helpers import padding_mask, random_ids, tiny_config


SEQUENCE_CLASSIFIERS = {
    vt.TransformerEncoderConfig: vt.TransformerForSequenceClassification,
    vt.TransformerDecoderConfig: vt.TransformerDecoderForSequenceClassification,
    vt.TransformerConfig: vt.TransformerEncoderDecoderForSequenceClassification,
}
NEW_CLASSIFIERS = [vt.TransformerDecoderConfig, vt.TransformerConfig]


def classifier(config_class, **overrides):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(config_class, num_labels=3, **overrides)).eval()


@pytest.mark.parametrize("config_class", list(SEQUENCE_CLASSIFIERS), ids=lambda c: c.__name__)
def test_auto_model_for_sequence_classification_builds_the_variants_head(config_class):
    assert type(classifier(config_class)) is SEQUENCE_CLASSIFIERS[config_class]


def test_auto_model_for_question_answering_builds_the_encoders_head():
    model = AutoModelForQuestionAnswering.from_config(tiny_config(vt.TransformerEncoderConfig))
    assert type(model) is vt.TransformerForQuestionAnswering


def _padded_batch(left=False):
    mask = padding_mask(3, 7, [7, 4, 2], left=left)
    return random_ids(3, 7).masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("config_class", NEW_CLASSIFIERS, ids=lambda c: c.__name__)
def test_a_right_padded_batch_is_classified_as_each_text_alone(config_class):
    model = classifier(config_class)
    ids, mask = _padded_batch()
    batched = model(input_ids=ids, attention_mask=mask).logits
    for row in range(3):
        alone = model(input_ids=ids[row : row + 1, mask[row].bool()]).logits
        torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)


def test_the_decoder_classifier_reads_the_last_real_token_of_a_left_padded_batch():
    model = classifier(vt.TransformerDecoderConfig)
    ids, mask = _padded_batch(left=True)
    batched = model(input_ids=ids, attention_mask=mask).logits
    for row in range(3):
        alone = model(input_ids=ids[row : row + 1, mask[row].bool()]).logits
        torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config_class", NEW_CLASSIFIERS, ids=lambda c: c.__name__)
def test_the_classification_loss_is_the_cross_entropy_of_the_logits(config_class):
    model = classifier(config_class)
    ids, mask = _padded_batch()
    labels = torch.tensor([0, 2, 1])
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))


@pytest.mark.parametrize("config_class", NEW_CLASSIFIERS, ids=lambda c: c.__name__)
def test_a_class_id_outside_the_labels_is_refused(config_class):
    ids, mask = _padded_batch()
    with pytest.raises(ValueError, match="outside"):
        classifier(config_class)(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 3, 1]))


@pytest.mark.parametrize("config_class", NEW_CLASSIFIERS, ids=lambda c: c.__name__)
def test_a_classifier_saved_and_reloaded_gives_the_same_logits(config_class, tmp_path):
    model = classifier(config_class)
    ids, mask = _padded_batch()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert torch.equal(
        reloaded(input_ids=ids, attention_mask=mask).logits, model(input_ids=ids, attention_mask=mask).logits
    )


@pytest.mark.parametrize("config_class", NEW_CLASSIFIERS, ids=lambda c: c.__name__)
def test_trainer_computes_the_models_classification_loss(config_class, tmp_path):
    model = classifier(config_class)
    ids, mask = _padded_batch()
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2, 1])}
    trainer = Trainer(model=model, args=TrainingArguments(str(tmp_path), report_to=[], use_cpu=True))
    torch.testing.assert_close(trainer.compute_loss(model, dict(inputs)), model(**inputs).loss)


def test_the_question_answering_loss_is_the_mean_of_the_start_and_end_cross_entropies():
    model = AutoModelForQuestionAnswering.from_config(tiny_config(vt.TransformerEncoderConfig)).eval()
    ids, mask = _padded_batch()
    starts, ends = torch.tensor([1, 0, 1]), torch.tensor([4, 3, 1])
    out = model(input_ids=ids, attention_mask=mask, start_positions=starts, end_positions=ends)
    expected = (
        torch.nn.functional.cross_entropy(out.start_logits, starts)
        + torch.nn.functional.cross_entropy(out.end_logits, ends)
    ) / 2
    torch.testing.assert_close(out.loss, expected)


def test_question_answering_refuses_a_start_without_an_end():
    model = AutoModelForQuestionAnswering.from_config(tiny_config(vt.TransformerEncoderConfig))
    ids, mask = _padded_batch()
    with pytest.raises(ValueError, match="both `start_positions` and `end_positions`"):
        model(input_ids=ids, attention_mask=mask, start_positions=torch.tensor([1, 0, 1]))


# ---- LoRA through PEFT --------------------------------------------------------------------------------------------

LORA_TARGETS = ["qkv_proj", "q_proj", "kv_proj", "out_proj"]  # the attention projections, fused as they are


@pytest.fixture
def lora_model():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = vt.TransformerForCausalLM(tiny_config(vt.TransformerDecoderConfig))
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, lora_dropout=0.0, init_lora_weights=False)
    return peft.get_peft_model(base, config)


def test_lora_trains_only_the_adapters_of_the_attention_projections(lora_model):
    trainable = {name for name, p in lora_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert any("qkv_proj.lora_A" in name for name in trainable) and any(
        "out_proj.lora_B" in name for name in trainable
    )


def test_a_lora_adapter_trains_saves_and_reloads_with_identical_outputs(lora_model, tmp_path):
    peft = pytest.importorskip("peft")
    ids = random_ids(2, 8)
    optimizer = torch.optim.AdamW([p for p in lora_model.parameters() if p.requires_grad], lr=1e-2)
    lora_model.train()
    for _ in range(3):
        lora_model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    lora_model.eval()
    expected = lora_model(input_ids=ids).logits
    lora_model.save_pretrained(tmp_path / "adapter")
    torch.manual_seed(0)
    base = vt.TransformerForCausalLM(tiny_config(vt.TransformerDecoderConfig))  # the same base weights
    reloaded = peft.PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    assert torch.equal(reloaded(input_ids=ids).logits, expected)
