"""The encoder-only Transformer (BERT's shape, the paper's blocks) and its task heads."""

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, add_end_docstrings, can_return_tuple
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .attention import TransformerAttention
from .configuration_transformer import TransformerEncoderConfig
from .layers import TransformerEncoderLayer
from .loss import (
    LM_LOSS_ARGS_DOCSTRING,
    check_sequence_labels,
    check_smoothing,
    linear_cross_entropy,
    sequence_classification_loss,
    skips_logits,
    token_cross_entropy,
)
from .pretrained import TransformerPreTrainedModel, TransformerStack
from .validation import check_labels, check_no_unknown_kwargs, check_stack_inputs, input_shape


class TransformerEncoderModel(TransformerStack):
    """The bare encoder: embeddings and a stack of self-attention layers. It is also the encoder half of
    `TransformerModel`, built there from the encoder-decoder config."""

    config: TransformerEncoderConfig
    layer_class = TransformerEncoderLayer
    _can_record_outputs = {"hidden_states": TransformerEncoderLayer, "attentions": TransformerAttention}

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config, config.encoder_layers)

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutput:
        # `generate()` runs the encoder of a seq2seq model with every model keyword argument it was given, `labels`
        # among them when `Seq2SeqTrainer` evaluates by generating: the encoder has no use for them.
        check_no_unknown_kwargs(kwargs, also_allowed=("labels",) if self.config.is_encoder_decoder else ())
        check_stack_inputs(self.config, input_ids, inputs_embeds, attention_mask, position_ids)
        self.warn_if_padding_and_no_attention_mask(input_ids, attention_mask)
        hidden_states = self.embeddings(input_ids, inputs_embeds, attention_mask, position_ids)

        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask, **kwargs)
        return BaseModelOutput(last_hidden_state=self.final_norm(hidden_states))


class TransformerMaskedLMHead(nn.Module):
    """BERT's masked-LM head: dense, activation and LayerNorm, then the projection to the vocabulary, whose
    weight is tied to the token embedding."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.activation = ACT2FN[config.activation_function]
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.d_model, config.vocab_size)

    def transform(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.activation(self.dense(hidden_states)))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class TransformerForMaskedLM(TransformerPreTrainedModel):
    config: TransformerEncoderConfig
    _tied_weights_keys = {"lm_head.decoder.weight": "model.embeddings.embed_tokens.weight"}

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config)
        self.model = TransformerEncoderModel(config)
        self.lm_head = TransformerMaskedLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head.decoder = new_embeddings

    @add_end_docstrings(LM_LOSS_ARGS_DOCSTRING)
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        skip_logits: bool | None = None,
        smoothing: float = 0.0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MaskedLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            The original token at each masked position, -100 elsewhere (as `DataCollatorForLanguageModeling` makes).
        """
        if labels is not None:
            check_labels(labels, self.config.vocab_size, input_shape(input_ids, inputs_embeds))
        outputs = self.model(
            input_ids, attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs
        )
        hidden_states = outputs.last_hidden_state
        logits = loss = None
        check_smoothing(smoothing)
        num_items = kwargs.get("num_items_in_batch")
        if skips_logits(skip_logits, labels, self):
            # only the masked positions (~15%) go through the head: the others have nothing to predict
            masked = labels != -100
            decoder = self.lm_head.decoder
            rows = self.lm_head.transform(hidden_states[masked])
            loss = linear_cross_entropy(
                rows, decoder.weight, labels[masked], num_items, bias=decoder.bias, label_smoothing=smoothing
            )
        else:
            logits = self.lm_head(hidden_states)
            if labels is not None and smoothing:
                loss = token_cross_entropy(logits, labels, num_items, smoothing)
            elif labels is not None:
                loss = self.loss_function(logits, labels, vocab_size=self.config.vocab_size, **kwargs)
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class TransformerEncoderClassifier(TransformerPreTrainedModel):
    """What the classification heads share: the encoder, and the dropout before their classifier
    (`classifier_dropout`, or the model's `dropout`)."""

    config: TransformerEncoderConfig

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = TransformerEncoderModel(config)
        dropout = config.dropout if config.classifier_dropout is None else config.classifier_dropout
        self.dropout = nn.Dropout(dropout)


class TransformerForSequenceClassification(TransformerEncoderClassifier):
    """Encoder with a classification (or regression) head on a summary of the sequence: its first token, or
    the mean of its non-padding tokens (`config.classifier_pooling`)."""

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config)
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.num_labels)
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
            Class ids in `[0, num_labels)`; real-valued targets (any numeric dtype) for regression (`num_labels == 1`
            or `problem_type="regression"`); float 0/1 targets of shape `(batch_size, num_labels)` for multi-label.
        """
        check_sequence_labels(self.config, labels)
        outputs = self.model(
            input_ids, attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs
        )
        pooled = self._pool(outputs.last_hidden_state, attention_mask)
        hidden = torch.tanh(self.dense(self.dropout(pooled)))
        logits = self.out_proj(self.dropout(hidden))
        loss = None if labels is None else sequence_classification_loss(self, logits, labels, **kwargs)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def _pool(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is None or attention_mask.ndim != 2:
            return hidden_states[:, 0] if self.config.classifier_pooling == "cls" else hidden_states.mean(1)
        if self.config.classifier_pooling == "cls":
            # the first real token, whichever side the padding is on
            first = attention_mask.int().argmax(-1)
            return hidden_states[torch.arange(hidden_states.shape[0], device=hidden_states.device), first]
        weights = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
        return (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1)


class TransformerForTokenClassification(TransformerEncoderClassifier):
    """Encoder with a linear classifier on every token (named-entity recognition, tagging).

    Not the library's `GenericForTokenClassification`: it builds its base model through `AutoModel`, which the code
    saved for `trust_remote_code` cannot resolve without this package; it passes `cache` and `use_cache` to the base
    model, which an encoder has no use for; it computes the loss without `num_items_in_batch`, so gradient
    accumulation would average per micro-batch; and it ignores `config.dropout` when `classifier_dropout` is unset."""

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
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
    ) -> TokenClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            A class id in `[0, num_labels)` per token, -100 for tokens to ignore.
        """
        if labels is not None:
            check_labels(labels, self.config.num_labels, input_shape(input_ids, inputs_embeds))
        outputs = self.model(
            input_ids, attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits, labels, self.config, **kwargs)
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class TransformerForQuestionAnswering(TransformerPreTrainedModel):
    """Encoder with a span classifier (extractive question answering, as BERT on SQuAD): a start and an end logit per
    token of the question-and-context input."""

    config: TransformerEncoderConfig

    def __init__(self, config: TransformerEncoderConfig):
        super().__init__(config)
        self.model = TransformerEncoderModel(config)
        self.qa_outputs = nn.Linear(config.d_model, 2)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> QuestionAnsweringModelOutput:
        r"""
        start_positions, end_positions (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            The token index where each answer starts and ends; positions past the input are ignored by the loss, as
            in the library (answers truncated away).
        """
        outputs = self.model(  # checks the inputs before the positions are checked against their shape
            input_ids, attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs
        )
        batch_size = outputs.last_hidden_state.shape[0]
        for name, positions in (("start_positions", start_positions), ("end_positions", end_positions)):
            if positions is not None and tuple(positions.shape) != (batch_size,):
                raise ValueError(
                    f"`{name}` must have shape (batch_size,) = ({batch_size},), got {tuple(positions.shape)}."
                )
        if (start_positions is None) != (end_positions is None):
            raise ValueError("Pass both `start_positions` and `end_positions` to compute the loss, or neither.")
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).unbind(-1)  # (batch, length) each
        loss = None
        if start_positions is not None:
            loss = self.loss_function(start_logits, end_logits, start_positions, end_positions, **kwargs)
        return QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
