"""The base class every model of the package derives from: weight initialisation and capability flags."""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from ..configuration.configuration_transformer import TransformerConfigBase


class TransformerPreTrainedModel(PreTrainedModel):
    config: TransformerConfigBase
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerEncoderLayer", "TransformerDecoderLayer"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # init_std=None: Xavier-uniform linears and N(0, d_model^-0.5) embeddings, so that embeddings scaled by
        # sqrt(d_model) have unit variance like the positional encoding. A float init_std: N(0, init_std) everywhere.
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            if std is None:
                init.xavier_uniform_(module.weight)
            else:
                init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5 if std is None else std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
