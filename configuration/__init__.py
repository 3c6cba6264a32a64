"""The configurations of the three variants. They live in the model folder (`vanilla_transformer.modeling`), beside the
code that reads them, so that a saved checkpoint carries them with the model code; this is their public home."""

from ..modeling.configuration_transformer import (
    BOS_TOKEN_ID,
    CHECKPOINT_FORMAT,
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    PAD_TOKEN_ID,
    UNK_TOKEN_ID,
    TransformerConfig,
    TransformerDecoderConfig,
    TransformerEncoderConfig,
)


__all__ = [
    "BOS_TOKEN_ID",
    "CHECKPOINT_FORMAT",
    "EOS_TOKEN_ID",
    "MASK_TOKEN_ID",
    "PAD_TOKEN_ID",
    "UNK_TOKEN_ID",
    "TransformerConfig",
    "TransformerDecoderConfig",
    "TransformerEncoderConfig",
]
