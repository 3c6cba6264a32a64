"""The input of each stack: token embeddings (section 3.4 of the paper) plus positional encodings (section 3.5)."""

import math

import torch
from torch import nn

from .dropout import dropout


class SinusoidalPositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).

    Computed from the positions on every call, in float32, so there is no table to outgrow: it works at any
    length, and a bf16/fp16 model keeps exact angles.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        exponent = torch.arange(0, self.d_model, 2, device=position_ids.device, dtype=torch.float32) / self.d_model
        angles = position_ids[..., None].float() * torch.pow(10000.0, -exponent)  # (batch, length, d_model / 2)
        # interleave: even dimensions hold the sines, odd ones the cosines, as in the paper
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # (batch, length, d_model)


class TransformerEmbeddings(nn.Module):
    """Token embedding x sqrt(d_model), plus the encoding of each token's position, then dropout.

    Positions continue after the tokens already in the cache, and with a 2D padding mask they count real tokens only,
    so that a left-padded sequence is encoded as it would be alone. Explicit `position_ids` (packed sequences, say)
    replace both rules.
    """

    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        if config.position_embedding_type == "learned":
            self.embed_positions = nn.Embedding(config.max_position_embeddings, config.d_model)
        else:
            self.embed_positions = SinusoidalPositionalEncoding(config.d_model)
        self.scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.dropout = config.dropout

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_length: int = 0,
    ) -> torch.Tensor:
        # `inputs_embeds` are raw rows of `embed_tokens`, so passing them equals passing the ids
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)  # (batch, length, d_model)
        if position_ids is None:
            position_ids = self.position_ids(attention_mask, past_length, inputs_embeds.shape[1], inputs_embeds.device)
        positions = self.embed_positions(position_ids).to(inputs_embeds.dtype)
        embeddings = inputs_embeds * self.scale + positions
        return dropout(embeddings, self.dropout, self.training)

    @staticmethod
    def position_ids(
        attention_mask: torch.Tensor | None, past_length: int, seq_length: int, device: torch.device
    ) -> torch.Tensor:
        """Positions of the `seq_length` new tokens, (batch or 1, seq_length). A 2D mask covers the cached and the new
        tokens: counting its ones gives each real token its position among the real tokens of its row."""
        if attention_mask is not None and attention_mask.ndim == 2:
            positions = attention_mask.long().cumsum(-1) - 1
            return positions[:, -seq_length:].clamp(min=0)
        # an offset arange rather than arange(past_length, ...): its size stays static when `torch.compile` traces a
        # decoding step whose cache length is only known at run time
        return (torch.arange(seq_length, device=device) + past_length).unsqueeze(0)
