"""The model folder: the Transformer of *Attention Is All You Need*.

The boxes of the paper's Figure 1, bottom to top, and where each one lives:

    Inputs, Outputs (shifted right)  shift_tokens_right                         modeling_seq2seq.py
    Input / Output Embedding         TransformerEmbeddings (x sqrt(d_model))    embeddings.py
    Positional Encoding              SinusoidalPositionalEncoding               embeddings.py
    the encoder, N x                 TransformerEncoderModel                    modeling_encoder.py
        one encoder layer            TransformerEncoderLayer                    layers.py
    the decoder, N x                 TransformerDecoderModel                    modeling_decoder.py
        one decoder layer            TransformerDecoderLayer                    layers.py
    (Masked) Multi-Head Attention    TransformerAttention                       attention.py
    Feed Forward                     TransformerFeedForward                     layers.py
    Add & Norm                       TransformerLayer.add_and_norm              layers.py
    Linear, Softmax                  TransformerForConditionalGeneration        modeling_seq2seq.py
                                     .lm_head, tied to the embedding

The encoder-only (BERT's shape) and decoder-only (GPT's shape) models reuse the same stacks, with their own heads.

The modules import each other as siblings only (`from .layers import ...`), so that `save_pretrained` copies them,
unchanged, beside a checkpoint's weights, where `trust_remote_code=True` loads them without this package:

    configuration_transformer.py  the three configs (the paper's base model by default) and their checks
    validation.py                 every check of a model input, run before any computation
    embeddings.py                 token embeddings and positional encodings
    attention.py                  multi-head attention in its three roles
    layers.py                     the feed-forward network; encoder and decoder layers, with Add & Norm
    pretrained.py                 the base class (initialisation, loading errors), and what both stacks share
    modeling_encoder.py           the encoder, and the encoder-only task heads
    modeling_decoder.py           the decoder, and the decoder-only language model
    modeling_seq2seq.py           the encoder-decoder model and its translation head
"""

from .configuration_transformer import TransformerConfig, TransformerDecoderConfig, TransformerEncoderConfig
from .modeling_decoder import (
    TransformerDecoderForSequenceClassification,
    TransformerDecoderModel,
    TransformerForCausalLM,
)
from .modeling_encoder import (
    TransformerEncoderModel,
    TransformerForMaskedLM,
    TransformerForQuestionAnswering,
    TransformerForSequenceClassification,
    TransformerForTokenClassification,
)
from .modeling_seq2seq import (
    TransformerEncoderDecoderForSequenceClassification,
    TransformerForConditionalGeneration,
    TransformerModel,
    shift_tokens_right,
)
from .pretrained import TransformerPreTrainedModel


__all__ = [
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
    "shift_tokens_right",
]
