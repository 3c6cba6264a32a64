"""Multi-head attention (section 3.2 of the paper), dispatched through transformers' attention interface."""

from collections.abc import Callable

import torch
from torch import nn
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V in plain PyTorch; `attention_mask` is additive (0 or the dtype's minimum)."""
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling  # (batch, heads, query_length, key_length)
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value)  # (batch, heads, query_length, head_dim)
    output = output.transpose(1, 2).contiguous()  # (batch, query_length, heads, head_dim)
    return output, weights


class TransformerAttention(nn.Module):
    """Multi-head attention in one of three roles: encoder self-attention, causal decoder self-attention, or
    encoder-decoder (cross) attention.

    Self-attention projects queries, keys and values with one fused matmul; cross-attention projects the encoder
    output to keys and values once per sequence and, with a cache, reuses them at every decoding step.
    """

    def __init__(self, config, layer_idx: int, is_causal: bool = False, is_cross_attention: bool = False):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_causal = is_causal  # read by the sdpa / flash attention integrations
        self.is_cross_attention = is_cross_attention
        self.num_heads = config.num_heads
        self.head_dim = config.d_model // config.num_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout

        d_model = config.d_model
        if is_cross_attention:
            self.q_proj = nn.Linear(d_model, d_model, bias=config.bias)
            self.kv_proj = nn.Linear(d_model, 2 * d_model, bias=config.bias)
        else:
            self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=config.bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=config.bias)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, seq_length = hidden_states.shape[:2]
        if self.is_cross_attention:
            query = self.q_proj(hidden_states)  # (batch, length, d_model)
            query = query.view(batch_size, seq_length, self.num_heads, self.head_dim).transpose(1, 2)
            key, value = self._cross_attention_key_value(encoder_hidden_states, cache)
        else:
            query, key, value = self._split_heads(self.qkv_proj(hidden_states), 3)
            if isinstance(cache, EncoderDecoderCache):
                cache = cache.self_attention_cache
            if cache is not None:  # append this step's keys and values to the past ones
                key, value = cache.update(key, value, self.layer_idx)
        # query: (batch, heads, length, head_dim); key, value: (batch, heads, key_length, head_dim)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(
            batch_size, seq_length, -1
        )  # (batch, length, d_model): the heads concatenated
        return self.out_proj(attn_output), attn_weights

    def _split_heads(self, projected: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """(batch, length, parts * d_model) -> `parts` tensors of shape (batch, heads, length, head_dim)."""
        batch_size, seq_length = projected.shape[:2]
        projected = projected.view(batch_size, seq_length, parts, self.num_heads, self.head_dim)
        return projected.permute(2, 0, 3, 1, 4).unbind(0)  # (parts, batch, heads, length, head_dim), unbound

    def _cross_attention_key_value(
        self, encoder_hidden_states: torch.Tensor, cache: EncoderDecoderCache | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # The encoder output does not change while decoding: project it once and keep it in the cross-attention cache.
        if cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            return layer.keys, layer.values
        key, value = self._split_heads(self.kv_proj(encoder_hidden_states), 2)
        if cache is not None:
            key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
            cache.is_updated[self.layer_idx] = True
        return key, value
