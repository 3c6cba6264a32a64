"""vanilla_transformer: the Transformer of *Attention Is All You Need* as native Hugging Face `transformers` models.

Importing the package registers its three configurations and their models with the `transformers` Auto classes,
so `AutoConfig`, `AutoModel` and `AutoModelFor...` load saved checkpoints of every variant.
"""

from . import auto
from .auto import AUTO_CLASSES
from .configuration import TransformerConfig, TransformerDecoderConfig, TransformerEncoderConfig
from .hub import HubSupport
from .modeling import (
    TransformerDecoderForSequenceClassification,
    TransformerDecoderModel,
    TransformerEncoderDecoderForSequenceClassification,
    TransformerEncoderModel,
    TransformerForCausalLM,
    TransformerForConditionalGeneration,
    TransformerForMaskedLM,
    TransformerForQuestionAnswering,
    TransformerForSequenceClassification,
    TransformerForTokenClassification,
    TransformerModel,
    TransformerPreTrainedModel,
    shift_tokens_right,
)
from .tokenization import check_tokenizer_matches, config_from_tokenizer, encode_texts, train_tokenizer


__version__ = "0.1.0"

auto.register()
# With the package, `save_pretrained` and `push_to_hub` also write a model card and the variant's whole `auto_map`.
TransformerPreTrainedModel.hub_support = HubSupport(__version__)


__all__ = [
    "AUTO_CLASSES",
    "TransformerConfig",
    "TransformerDecoderConfig",
    "TransformerDecoderForSequenceClassification",
    "TransformerDecoderModel",
    "TransformerEncoderConfig",
    "TransformerEncoderDecoderForSequenceClassification",
    "TransformerEncoderModel",
    "TransformerForCausalLM",
    "TransformerForConditionalGeneration",
    "TransformerForMaskedLM",
    "TransformerForQuestionAnswering",
    "TransformerForSequenceClassification",
    "TransformerForTokenClassification",
    "TransformerModel",
    "TransformerPreTrainedModel",
    "check_tokenizer_matches",
    "config_from_tokenizer",
    "encode_texts",
    "shift_tokens_right",
    "train_tokenizer",
]
