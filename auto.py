"""Which `transformers` Auto class builds which model of each variant, and their registration (done on import of the
package): `AutoConfig` and every `AutoModel...` then load saved checkpoints of the three variants, and `save_pretrained`
copies the model folder's code beside the weights for `trust_remote_code` (the library's `register_for_auto_class`)."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .modeling import (
    TransformerConfig,
    TransformerDecoderConfig,
    TransformerDecoderForSequenceClassification,
    TransformerDecoderModel,
    TransformerEncoderConfig,
    TransformerEncoderDecoderForSequenceClassification,
    TransformerEncoderModel,
    TransformerForCausalLM,
    TransformerForConditionalGeneration,
    TransformerForMaskedLM,
    TransformerForQuestionAnswering,
    TransformerForSequenceClassification,
    TransformerForTokenClassification,
    TransformerModel,
)


# The config class of each variant, by the name the tokenizers and examples use for it.
CONFIG_CLASSES = {
    "seq2seq": TransformerConfig,
    "encoder": TransformerEncoderConfig,
    "decoder": TransformerDecoderConfig,
}

# (Auto class, {config class: model class}) for every Auto class a user reaches for. A model class's first Auto class
# here is the one its saved code is registered under.
AUTO_CLASSES = {
    AutoModel: {
        TransformerConfig: TransformerModel,
        TransformerEncoderConfig: TransformerEncoderModel,
        TransformerDecoderConfig: TransformerDecoderModel,
    },
    AutoModelForSeq2SeqLM: {TransformerConfig: TransformerForConditionalGeneration},
    AutoModelForCausalLM: {TransformerDecoderConfig: TransformerForCausalLM},
    AutoModelForMaskedLM: {TransformerEncoderConfig: TransformerForMaskedLM},
    AutoModelForSequenceClassification: {
        TransformerEncoderConfig: TransformerForSequenceClassification,
        TransformerDecoderConfig: TransformerDecoderForSequenceClassification,
        TransformerConfig: TransformerEncoderDecoderForSequenceClassification,
    },
    AutoModelForTokenClassification: {TransformerEncoderConfig: TransformerForTokenClassification},
    AutoModelForQuestionAnswering: {TransformerEncoderConfig: TransformerForQuestionAnswering},
    AutoModelForPreTraining: {
        TransformerConfig: TransformerForConditionalGeneration,
        TransformerEncoderConfig: TransformerForMaskedLM,
        TransformerDecoderConfig: TransformerForCausalLM,
    },
}


def auto_map(config_class: type) -> dict[str, str]:
    """config.json's `auto_map` for checkpoints of `config_class`'s variant: every Auto class that builds one of its
    models, as `"<module file>.<class name>"` of the code `save_pretrained` copies beside the weights."""
    entries = {"AutoConfig": _reference(config_class)}
    for auto_class, models in AUTO_CLASSES.items():
        if config_class in models:
            entries[auto_class.__name__] = _reference(models[config_class])
    return entries


def register() -> None:
    for config_class in CONFIG_CLASSES.values():
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        config_class.register_for_auto_class()
    for auto_class, models in AUTO_CLASSES.items():
        for config_class, model_class in models.items():
            auto_class.register(config_class, model_class, exist_ok=True)
            if model_class._auto_class is None:
                model_class.register_for_auto_class(auto_class)


def _reference(cls: type) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


__all__ = ["AUTO_CLASSES", "CONFIG_CLASSES", "auto_map", "register"]
