from .modeling_decoder import TransformerDecoderModel, TransformerForCausalLM
from .modeling_encoder import (
    TransformerEncoderModel,
    TransformerForMaskedLM,
    TransformerForSequenceClassification,
    TransformerForTokenClassification,
)
from .modeling_seq2seq import TransformerForConditionalGeneration, TransformerModel, shift_tokens_right
from .pretrained import TransformerPreTrainedModel


__all__ = [
    "TransformerDecoderModel",
    "TransformerEncoderModel",
    "TransformerForCausalLM",
    "TransformerForConditionalGeneration",
    "TransformerForMaskedLM",
    "TransformerForSequenceClassification",
    "TransformerForTokenClassification",
    "TransformerModel",
    "TransformerPreTrainedModel",
    "shift_tokens_right",
]
