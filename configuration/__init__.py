from .configuration_transformer import TransformerConfig, TransformerDecoderConfig, TransformerEncoderConfig


__all__ = ["TransformerConfig", "TransformerDecoderConfig", "TransformerEncoderConfig"]
