"""The decoder-only Transformer (GPT's shape, the paper's decoder blocks) and its language-model head."""

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.generation import GenerationMixin
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_outputs import (
    BaseModelOutputWithPastAndCrossAttentions,
    CausalLMOutputWithPast,
    SequenceClassifierOutput,
)
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, add_end_docstrings, can_return_tuple
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .attention import TransformerAttention
from .configuration_transformer import TransformerDecoderConfig
from .layers import TransformerDecoderLayer
from .loss import (
    LM_LOSS_ARGS_DOCSTRING,
    check_sequence_labels,
    check_smoothing,
    linear_cross_entropy,
    sequence_classification_loss,
    shift_labels_left,
    skips_logits,
    token_cross_entropy,
)
from .pretrained import TransformerPreTrainedModel, TransformerStack
from .validation import (
    check_cache,
    check_encoder_states,
    check_labels,
    check_no_unknown_kwargs,
    check_stack_inputs,
    input_shape,
)


class TransformerDecoderModel(TransformerStack):
    """The bare decoder: embeddings and a stack of causal layers. Built from a `TransformerDecoderConfig` it is
    a decoder-only model; built from the encoder-decoder `TransformerConfig` it is the decoder half of
    `TransformerModel`, with cross-attention to `encoder_hidden_states`."""

    config: TransformerDecoderConfig
    layer_class = TransformerDecoderLayer
    _can_record_outputs = {
        "hidden_states": TransformerDecoderLayer,
        "attentions": OutputRecorder(TransformerAttention, index=1, layer_name="self_attn"),
        "cross_attentions": OutputRecorder(TransformerAttention, index=1, layer_name="cross_attn"),
    }

    def __init__(self, config: TransformerDecoderConfig):
        super().__init__(config, config.decoder_layers)

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")  # renamed in transformers 5.24, as there
    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        check_no_unknown_kwargs(kwargs)
        is_encoder_decoder = self.config.is_encoder_decoder
        check_cache(cache, is_encoder_decoder)
        past_length = cache.get_seq_length() if cache is not None else 0
        prefix = "decoder_" if is_encoder_decoder else ""
        check_stack_inputs(self.config, input_ids, inputs_embeds, attention_mask, position_ids, past_length, prefix)
        batch_size = input_shape(input_ids, inputs_embeds)[0]
        check_encoder_states(encoder_hidden_states, encoder_attention_mask, batch_size, self.config.d_model)
        # (the teacher-forced decoder inputs of a seq2seq model are padded without a mask by design)
        if not is_encoder_decoder:
            self.warn_if_padding_and_no_attention_mask(input_ids, attention_mask)

        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
            if is_encoder_decoder:
                cache = EncoderDecoderCache(cache, DynamicCache(config=self.config))
        hidden_states = self.embeddings(input_ids, inputs_embeds, attention_mask, position_ids, past_length)

        self_attention_cache = cache
        if isinstance(cache, EncoderDecoderCache):
            self_attention_cache = cache.self_attention_cache
        # Only user-given position ids go to the mask: they may describe packed sequences.
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=hidden_states,
            attention_mask=attention_mask,
            cache=self_attention_cache,
            position_ids=position_ids,
        )
        cross_attention_mask = None
        if encoder_hidden_states is not None:
            cross_attention_mask = create_bidirectional_mask(
                config=self.config,
                inputs_embeds=hidden_states,
                attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
            )

        for layer in self.layers:
            # tensors that need gradients go positionally, as gradient checkpointing requires
            hidden_states = layer(
                hidden_states,
                causal_mask,
                encoder_hidden_states,
                cross_attention_mask,
                cache=cache,
                **kwargs,
            )
        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=self.final_norm(hidden_states), cache=cache)


class TransformerForCausalLM(TransformerPreTrainedModel, GenerationMixin):
    """Decoder-only language model; the output projection shares the token embedding's weight."""

    config: TransformerDecoderConfig
    _tied_weights_keys = {"lm_head.weight": "model.embeddings.embed_tokens.weight"}

    def __init__(self, config: TransformerDecoderConfig):
        super().__init__(config)
        self.model = TransformerDecoderModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    @add_end_docstrings(LM_LOSS_ARGS_DOCSTRING)
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        skip_logits: bool | None = None,
        smoothing: float = 0.0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Usually the input ids themselves: the model shifts them so position i predicts token i + 1.
            -100 marks tokens the loss ignores.
        """
        if labels is not None:
            check_labels(labels, self.config.vocab_size, input_shape(input_ids, inputs_embeds))
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        logits = loss = None
        check_smoothing(smoothing)
        num_items = kwargs.get("num_items_in_batch")
        if skips_logits(skip_logits, labels, self):
            targets = shift_labels_left(labels)
            loss = linear_cross_entropy(
                hidden_states, self.lm_head.weight, targets, num_items, label_smoothing=smoothing
            )
        else:
            logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))
            if labels is not None and smoothing:
                loss = token_cross_entropy(logits, shift_labels_left(labels), num_items, smoothing)
            elif labels is not None:
                loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


def last_token_states(
    hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, input_ids: torch.Tensor | None, pad_token_id
) -> torch.Tensor:
    """The hidden state of each sequence's last real token, the only one a causal stack has let see the whole text:
    the last 1 of a 2D `attention_mask` (padding on either side), else the last non-pad token, else the last."""
    batch = torch.arange(hidden_states.shape[0], device=hidden_states.device)
    if attention_mask is not None and attention_mask.ndim == 2:
        real = attention_mask.bool()
    elif input_ids is not None and pad_token_id is not None:
        real = input_ids != pad_token_id
    else:
        return hidden_states[:, -1]
    positions = torch.arange(real.shape[1], device=real.device)
    last = torch.where(real, positions, -1).amax(-1).clamp(min=0)  # (batch,): a row of padding only takes position 0
    return hidden_states[batch, last.to(hidden_states.device)]


class TransformerDecoderForSequenceClassification(TransformerPreTrainedModel):
    """Decoder-only model with a classification (or regression) head on each sequence's last real token, as GPT's."""

    config: TransformerDecoderConfig

    def __init__(self, config: TransformerDecoderConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = TransformerDecoderModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, num_labels)`; real-valued targets for regression (`num_labels == 1`); float 0/1 targets
            of shape `(batch_size, num_labels)` for multi-label.
        """
        check_sequence_labels(self.config, labels)
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=False,
            **kwargs,
        )
        pooled = last_token_states(outputs.last_hidden_state, attention_mask, input_ids, self.config.pad_token_id)
        logits = self.score(pooled)
        loss = None if labels is None else sequence_classification_loss(self, logits, labels, **kwargs)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


# `Trainer` tells a causal LM, whose labels label smoothing must shift, by its class name in the library's table of
# causal LMs, which `AutoModelForCausalLM.register` does not fill: without this entry, `label_smoothing_factor` trains
# the model to predict the token it is given. The entry is made here, beside the class, so that the copy of this code
# saved for `trust_remote_code` makes it too.
MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.setdefault(TransformerDecoderConfig.model_type, TransformerForCausalLM.__name__)
