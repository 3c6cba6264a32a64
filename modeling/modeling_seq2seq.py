"""The encoder-decoder Transformer of the paper and its translation (conditional generation) head."""

import torch
from torch import nn
from transformers.cache_utils import EncoderDecoderCache
from transformers.generation import GenerationMixin
from transformers.modeling_outputs import (
    BaseModelOutput,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    Seq2SeqSequenceClassifierOutput,
)
from transformers.modeling_utils import slice_logits_to_keep
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, add_end_docstrings, can_return_tuple
from transformers.utils.deprecation import deprecate_kwarg

from .configuration_transformer import TransformerConfig
from .loss import (
    LM_LOSS_ARGS_DOCSTRING,
    check_sequence_labels,
    check_smoothing,
    linear_cross_entropy,
    sequence_classification_loss,
    skips_logits,
    token_cross_entropy,
)
from .modeling_decoder import TransformerDecoderModel, last_token_states
from .modeling_encoder import TransformerEncoderModel
from .pretrained import TransformerPreTrainedModel
from .validation import check_labels, check_stack_inputs


ENCODER_EMBEDDING = "encoder.embeddings.embed_tokens.weight"
DECODER_EMBEDDING = "decoder.embeddings.embed_tokens.weight"


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None):
    """Teacher-forcing decoder inputs: the start token, then the labels without their last token (-100 -> pad)."""
    if pad_token_id is None or decoder_start_token_id is None:
        raise ValueError(
            "Building decoder inputs from `labels` needs `config.pad_token_id` and `config.decoder_start_token_id`; "
            "set them (e.g. from the tokenizer) or pass `decoder_input_ids`."
        )
    decoder_input_ids = labels.new_full(labels.shape, decoder_start_token_id)
    decoder_input_ids[:, 1:] = labels[:, :-1]
    return decoder_input_ids.masked_fill_(decoder_input_ids == -100, pad_token_id)


class TransformerModel(TransformerPreTrainedModel):
    """The bare encoder-decoder: `TransformerEncoderModel` and `TransformerDecoderModel`, with one shared token
    embedding unless `config.share_encoder_decoder_embeddings=False`."""

    config: TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.encoder = TransformerEncoderModel(config)
        self.decoder = TransformerDecoderModel(config)
        if config.share_encoder_decoder_embeddings:
            self._tied_weights_keys = {DECODER_EMBEDDING: ENCODER_EMBEDDING}
        self.post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        # The library ties only under `tie_word_embeddings`, which governs the output projection; sharing the
        # source and target embeddings is a switch of its own.
        if not all_submodels and self.config.share_encoder_decoder_embeddings:
            return {DECODER_EMBEDDING: ENCODER_EMBEDDING}
        return super().get_expanded_tied_weights_keys(all_submodels)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.set_input_embeddings(value)
        if self.config.share_encoder_decoder_embeddings:
            self.decoder.set_input_embeddings(value)

    def _resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of=None, mean_resizing=True) -> nn.Embedding:
        embeddings = super()._resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.resize_unshared_decoder_embeddings(embeddings.num_embeddings, mean_resizing)
        return embeddings

    def resize_unshared_decoder_embeddings(self, num_tokens: int, mean_resizing: bool = True) -> None:
        """Source and target share one vocabulary even with separate embedding matrices
        (`share_encoder_decoder_embeddings=False`): resizing it resizes the decoder's matrix too."""
        embeddings = self.decoder.get_input_embeddings()
        if not self.config.share_encoder_decoder_embeddings and embeddings.num_embeddings != num_tokens:
            resized = self._get_resized_embeddings(embeddings, num_tokens, mean_resizing=mean_resizing)
            self.decoder.set_input_embeddings(resized)

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")  # renamed in transformers 5.24, as there
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqModelOutput:
        if encoder_outputs is None:
            # check the decoder's inputs too before the encoder runs: a mistake there should not cost an encoder pass
            past_length = cache.get_seq_length() if isinstance(cache, EncoderDecoderCache) else 0
            check_stack_inputs(
                self.config,
                decoder_input_ids,
                decoder_inputs_embeds,
                decoder_attention_mask,
                None,
                past_length,
                "decoder_",
            )
            encoder_outputs = self.encoder(
                input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)

        decoder_outputs = self.decoder(
            decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            cache=decoder_outputs.cache,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


class TransformerForConditionalGeneration(TransformerPreTrainedModel, GenerationMixin):
    """The paper's translation model: `TransformerModel` and a pre-softmax projection that shares the target
    embedding's weight (`tie_word_embeddings`)."""

    config: TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.model = TransformerModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        # Tie to the embedding that owns the weight, so the library never has to follow a chain of ties.
        source = ENCODER_EMBEDDING if config.share_encoder_decoder_embeddings else DECODER_EMBEDDING
        self._tied_weights_keys = {"lm_head.weight": f"model.{source}"}
        self.post_init()
        # The paper's decoding (section 6.1): beam size 4, length penalty 0.6, stop once the beams are done.
        # Lengths stay the library's (pass `max_new_tokens`): a model-level `max_length` would make every call
        # that passes `max_new_tokens` warn. A saved generation_config.json replaces all of this on load.
        self.generation_config.update(num_beams=4, length_penalty=0.6, early_stopping=True)

    def _resize_token_embeddings(self, new_num_tokens, pad_to_multiple_of=None, mean_resizing=True) -> nn.Embedding:
        embeddings = super()._resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.model.resize_unshared_decoder_embeddings(embeddings.num_embeddings, mean_resizing)
        return embeddings  # `resize_token_embeddings` then ties the output projection to the resized embedding

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        # DataCollatorForSeq2Seq calls this to build `decoder_input_ids` in the data loader.
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")  # renamed in transformers 5.24, as there
    @add_end_docstrings(LM_LOSS_ARGS_DOCSTRING)
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        skip_logits: bool | None = None,
        smoothing: float = 0.0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
            Target token ids, -100 for positions the loss ignores. Unless `decoder_input_ids` are given, they are
            built from the labels: `decoder_start_token_id`, then the labels shifted one position right.
        """
        if labels is not None:
            decoder_shape = None if decoder_input_ids is None else decoder_input_ids.shape
            check_labels(labels, self.config.vocab_size, decoder_shape)
            use_cache = False  # teacher forcing sees the whole target at once; there is nothing to cache
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        elif decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                "No decoder inputs: pass `decoder_input_ids` or `labels` (they are built from the labels). A `Trainer` "
                "with `label_smoothing_factor` takes the labels out of the inputs before the forward pass: build the "
                "decoder inputs in the data collator, with `DataCollatorForSeq2Seq(tokenizer, model=model)`."
            )

        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        logits = loss = None
        # labels are already aligned with the (shifted) decoder inputs: nothing shifts them again
        check_smoothing(smoothing)
        num_items = kwargs.get("num_items_in_batch")
        if skips_logits(skip_logits, labels, self):
            loss = linear_cross_entropy(
                hidden_states, self.lm_head.weight, labels, num_items, label_smoothing=smoothing
            )
        else:
            logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))
            if labels is not None and smoothing:
                loss = token_cross_entropy(logits, labels, num_items, smoothing)
            elif labels is not None:
                loss = self.loss_function(
                    logits, labels, vocab_size=self.config.vocab_size, shift_labels=labels, **kwargs
                )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )


class TransformerEncoderDecoderForSequenceClassification(TransformerPreTrainedModel):
    """The encoder-decoder model as a classifier, BART's way: the encoder reads the text, the decoder reads it again
    (shifted right, attending to the encoder), and a classification (or regression) head reads the decoder's state at
    the last real token. Pad on the right."""

    config: TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = TransformerModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqSequenceClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, num_labels)`; real-valued targets for regression (`num_labels == 1`); float 0/1 targets
            of shape `(batch_size, num_labels)` for multi-label.
        """
        check_sequence_labels(self.config, labels)
        if input_ids is None or "inputs_embeds" in kwargs:
            raise ValueError(
                "Pass `input_ids` (not `inputs_embeds`): the decoder reads the same tokens, shifted right."
            )
        for name in ("decoder_input_ids", "decoder_attention_mask", "decoder_inputs_embeds"):
            if name in kwargs:
                raise TypeError(
                    f"{type(self).__name__} makes its decoder inputs from `input_ids`: do not pass `{name}`."
                )
        check_stack_inputs(self.config, input_ids, None, attention_mask, None)  # before the shift reads them
        decoder_input_ids = shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=attention_mask,
            use_cache=False,
            **kwargs,
        )
        pooled = last_token_states(outputs.last_hidden_state, attention_mask, input_ids, self.config.pad_token_id)
        logits = self.score(pooled)
        loss = None if labels is None else sequence_classification_loss(self, logits, labels, **kwargs)
        return Seq2SeqSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
        )
