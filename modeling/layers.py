"""The encoder and decoder layers of the paper (section 3.1), built from attention and feed-forward sublayers."""

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

from .attention import TransformerAttention


class TransformerFeedForward(nn.Module):
    """Position-wise feed-forward network (section 3.3): FFN(x) = act(x W1 + b1) W2 + b2."""

    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff)
        self.fc2 = nn.Linear(config.d_ff, config.d_model)
        self.activation = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        return self.fc2(hidden_states)


class ResidualNorm(nn.LayerNorm):
    """The residual connection and LayerNorm around one sublayer.

    Post-LN, the paper's: `LayerNorm(x + Dropout(Sublayer(x)))`. Pre-LN (`norm_first=True`):
    `x + Dropout(Sublayer(LayerNorm(x)))`. A layer calls `pre(x)` to get the sublayer's input and
    `post(x, sublayer_output)` to get the layer's next hidden state; each applies the norm only where its variant does.
    """

    def __init__(self, config):
        super().__init__(config.d_model, eps=config.layer_norm_eps)
        self.norm_first = config.norm_first
        self.dropout = config.dropout

    def pre(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden_states) if self.norm_first else hidden_states

    def post(self, residual: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        hidden_states = residual + nn.functional.dropout(sublayer_output, p=self.dropout, training=self.training)
        return hidden_states if self.norm_first else super().forward(hidden_states)


class TransformerEncoderLayer(GradientCheckpointingLayer):
    """Self-attention, then feed-forward."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = TransformerAttention(config, layer_idx)
        self.self_attn_norm = ResidualNorm(config)
        self.feed_forward = TransformerFeedForward(config)
        self.feed_forward_norm = ResidualNorm(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.self_attn(self.self_attn_norm.pre(hidden_states), attention_mask, **kwargs)
        hidden_states = self.self_attn_norm.post(hidden_states, attn_output)
        ff_output = self.feed_forward(self.feed_forward_norm.pre(hidden_states))
        return self.feed_forward_norm.post(hidden_states, ff_output)


class TransformerDecoderLayer(GradientCheckpointingLayer):
    """Causal self-attention, then (in the encoder-decoder model only) cross-attention, then feed-forward.

    The decoder-only model has no cross-attention sublayer at all, so it owns no parameter it never uses.
    """

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = TransformerAttention(config, layer_idx, is_causal=True)
        self.self_attn_norm = ResidualNorm(config)
        if config.is_encoder_decoder:
            self.cross_attn = TransformerAttention(config, layer_idx, is_cross_attention=True)
            self.cross_attn_norm = ResidualNorm(config)
        self.feed_forward = TransformerFeedForward(config)
        self.feed_forward_norm = ResidualNorm(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        attn_output, _ = self.self_attn(
            self.self_attn_norm.pre(hidden_states), attention_mask, cache=cache, **kwargs
        )
        hidden_states = self.self_attn_norm.post(hidden_states, attn_output)

        if encoder_hidden_states is not None:
            cross_output, _ = self.cross_attn(
                self.cross_attn_norm.pre(hidden_states),
                encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
                cache=cache,
                **kwargs,
            )
            hidden_states = self.cross_attn_norm.post(hidden_states, cross_output)

        ff_output = self.feed_forward(self.feed_forward_norm.pre(hidden_states))
        return self.feed_forward_norm.post(hidden_states, ff_output)
