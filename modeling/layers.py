"""The encoder and decoder layers of the paper (section 3.1, Figure 1): attention and feed-forward sublayers, each
wrapped in a residual connection and a LayerNorm ("Add & Norm").

The paper's post-LN applies `LayerNorm(x + Dropout(Sublayer(x)))`; with `config.norm_first` (pre-LN, an option, not
the default) the norm moves inside the residual branch: `x + Dropout(Sublayer(LayerNorm(x)))`.
"""

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

from .attention import TransformerAttention
from .dropout import dropout


class TransformerFeedForward(nn.Module):
    """Position-wise feed-forward network (section 3.3): FFN(x) = act(x W1 + b1) W2 + b2."""

    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.fc2 = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.activation = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.fc1(hidden_states))
        hidden_states = dropout(hidden_states, self.activation_dropout, self.training)
        return self.fc2(hidden_states)


class TransformerLayer(GradientCheckpointingLayer):
    """What encoder and decoder layers share: a self-attention and a feed-forward sublayer, each with its LayerNorm,
    and the "Add & Norm" around every sublayer."""

    def __init__(self, config, layer_idx: int, is_causal: bool = False):
        super().__init__()
        self.norm_first = config.norm_first
        self.dropout = config.dropout
        self.self_attn = TransformerAttention(config, layer_idx, is_causal=is_causal)
        self.self_attn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)
        self.feed_forward = TransformerFeedForward(config)
        self.feed_forward_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)

    def sublayer_input(self, norm: nn.LayerNorm, hidden_states: torch.Tensor) -> torch.Tensor:
        """x for the paper's post-LN; LayerNorm(x) for pre-LN."""
        return norm(hidden_states) if self.norm_first else hidden_states

    def add_and_norm(self, norm: nn.LayerNorm, residual: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        """Add & Norm: LayerNorm(x + Dropout(Sublayer(x))) for the paper's post-LN; x + Dropout(Sublayer(...)) for
        pre-LN, whose norm came first."""
        hidden_states = residual + dropout(sublayer_output, self.dropout, self.training)
        return hidden_states if self.norm_first else norm(hidden_states)


class TransformerEncoderLayer(TransformerLayer):
    """Self-attention, then feed-forward; each followed by Add & Norm."""

    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        # Multi-head self-attention, Add & Norm
        attn_output, _ = self.self_attn(
            self.sublayer_input(self.self_attn_norm, hidden_states), attention_mask, **kwargs
        )
        hidden_states = self.add_and_norm(self.self_attn_norm, hidden_states, attn_output)
        # Feed forward, Add & Norm
        ff_output = self.feed_forward(self.sublayer_input(self.feed_forward_norm, hidden_states))
        return self.add_and_norm(self.feed_forward_norm, hidden_states, ff_output)


class TransformerDecoderLayer(TransformerLayer):
    """Causal self-attention, then (in the encoder-decoder model only) cross-attention to the encoder output, then
    feed-forward; each followed by Add & Norm.

    The decoder-only model has no cross-attention sublayer at all, so it owns no parameter it never uses.
    """

    def __init__(self, config, layer_idx: int):
        super().__init__(config, layer_idx, is_causal=True)
        if config.is_encoder_decoder:
            self.cross_attn = TransformerAttention(config, layer_idx, is_cross_attention=True)
            self.cross_attn_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        # Masked multi-head self-attention, Add & Norm
        attn_input = self.sublayer_input(self.self_attn_norm, hidden_states)
        attn_output, _ = self.self_attn(attn_input, attention_mask, cache=cache, **kwargs)
        hidden_states = self.add_and_norm(self.self_attn_norm, hidden_states, attn_output)

        # Multi-head attention over the encoder output, Add & Norm
        if encoder_hidden_states is not None:
            cross_input = self.sublayer_input(self.cross_attn_norm, hidden_states)
            cross_output, _ = self.cross_attn(
                cross_input, encoder_attention_mask, encoder_hidden_states=encoder_hidden_states, cache=cache, **kwargs
            )
            hidden_states = self.add_and_norm(self.cross_attn_norm, hidden_states, cross_output)

        # Feed forward, Add & Norm
        ff_output = self.feed_forward(self.sublayer_input(self.feed_forward_norm, hidden_states))
        return self.add_and_norm(self.feed_forward_norm, hidden_states, ff_output)
