"""vanilla_transformer: the Transformer of *Attention Is All You Need* as native Hugging Face `transformers` models.

Importing the package registers its three configurations and their models with the `transformers` Auto classes,
so `AutoConfig`, `AutoModel` and `AutoModelFor...` load saved checkpoints of every variant.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from .configuration import TransformerConfig, TransformerDecoderConfig, TransformerEncoderConfig
from .modeling import (
    TransformerDecoderModel,
    TransformerEncoderModel,
    TransformerForCausalLM,
    TransformerForConditionalGeneration,
    TransformerForMaskedLM,
    TransformerForSequenceClassification,
    TransformerForTokenClassification,
    TransformerModel,
    TransformerPreTrainedModel,
    shift_tokens_right,
)
from .tokenization import check_tokenizer_matches, config_from_tokenizer, train_tokenizer


__version__ = "0.1.0"

# (Auto class, {config class: model class}) for every Auto class a user reaches for.
AUTO_CLASSES = {
    AutoModel: {
        TransformerConfig: TransformerModel,
        TransformerEncoderConfig: TransformerEncoderModel,
        TransformerDecoderConfig: TransformerDecoderModel,
    },
    AutoModelForSeq2SeqLM: {TransformerConfig: TransformerForConditionalGeneration},
    AutoModelForCausalLM: {TransformerDecoderConfig: TransformerForCausalLM},
    AutoModelForMaskedLM: {TransformerEncoderConfig: TransformerForMaskedLM},
    AutoModelForSequenceClassification: {TransformerEncoderConfig: TransformerForSequenceClassification},
    AutoModelForTokenClassification: {TransformerEncoderConfig: TransformerForTokenClassification},
    AutoModelForPreTraining: {
        TransformerConfig: TransformerForConditionalGeneration,
        TransformerEncoderConfig: TransformerForMaskedLM,
        TransformerDecoderConfig: TransformerForCausalLM,
    },
}

for _config_class in (TransformerConfig, TransformerEncoderConfig, TransformerDecoderConfig):
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
for _auto_class, _models in AUTO_CLASSES.items():
    for _config_class, _model_class in _models.items():
        _auto_class.register(_config_class, _model_class, exist_ok=True)


__all__ = [
    "AUTO_CLASSES",
    "TransformerConfig",
    "TransformerDecoderConfig",
    "TransformerDecoderModel",
    "TransformerEncoderConfig",
    "TransformerEncoderModel",
    "TransformerForCausalLM",
    "TransformerForConditionalGeneration",
    "TransformerForMaskedLM",
    "TransformerForSequenceClassification",
    "TransformerForTokenClassification",
    "TransformerModel",
    "TransformerPreTrainedModel",
    "check_tokenizer_matches",
    "config_from_tokenizer",
    "shift_tokens_right",
    "train_tokenizer",
]
