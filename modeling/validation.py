"""Every check of a model input, in one place, run before any computation.

A bad input becomes a `ValueError` naming the problem and the fix, instead of an index error in an embedding or a
shape error deep inside a matmul. Checks that read tensor values (token ids, positions, labels) gather their
bounds and synchronise once, and are skipped while `torch.compile` traces the model.
"""

import torch
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.utils import TransformersKwargs, is_torchdynamo_compiling


IGNORE_INDEX = -100  # label value the losses skip, as everywhere in transformers

# What may arrive in a forward's `**kwargs`: the keywords the library itself routes through models (Trainer's
# `num_items_in_batch`, the `output_*` flags that `capture_outputs` reads, flash-attention's packed-sequence
# arguments, and `use_cache`, which `merge_with_config_defaults` adds from the config even to an encoder, where it
# means nothing). Anything else is a typo or an input these models do not take; it must fail, not vanish.
LIBRARY_KWARGS = frozenset(TransformersKwargs.__annotations__) | {"output_cross_attentions", "use_cache"}


def check_no_unknown_kwargs(kwargs: dict, also_allowed: tuple[str, ...] = ()) -> None:
    """Raise `TypeError` for keyword arguments no layer of the model consumes, as Python does for a misspelt one."""
    unknown = sorted(set(kwargs) - LIBRARY_KWARGS - set(also_allowed))
    if "token_type_ids" in unknown:
        raise TypeError(
            "forward() got `token_type_ids`, but these models have no segment (token type) embeddings: the paper's "
            "Transformer tells a pair of texts apart by its separator token alone. Tokenize with "
            "`return_token_type_ids=False` (the package's tokenizers do by default), or drop the column."
        )
    if unknown:
        names = ", ".join(f"`{name}`" for name in unknown)
        raise TypeError(
            f"forward() got unexpected keyword argument(s) {names}: no layer of this model reads them, so they would "
            "be silently ignored. Check the spelling against the model's forward signature."
        )


def check_stack_inputs(
    config,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    past_length: int = 0,
    prefix: str = "",
) -> None:
    """Check the inputs of one stack (encoder or decoder). `prefix` is how the user named them (`"decoder_"`)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError(f"Pass exactly one of `{prefix}input_ids` or `{prefix}inputs_embeds`.")
    if input_ids is not None:
        _check_tensor(f"{prefix}input_ids", input_ids)
        if input_ids.ndim != 2:
            raise ValueError(
                f"`{prefix}input_ids` must have shape (batch_size, sequence_length), got {tuple(input_ids.shape)}; "
                "for a single sequence use `ids.unsqueeze(0)`."
            )
        if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
            raise ValueError(f"`{prefix}input_ids` must hold integer token ids (torch.long), got {input_ids.dtype}.")
        batch_size, seq_length = input_ids.shape
    else:
        _check_tensor(f"{prefix}inputs_embeds", inputs_embeds)
        if inputs_embeds.ndim != 3 or inputs_embeds.shape[-1] != config.d_model:
            raise ValueError(
                f"`{prefix}inputs_embeds` must have shape (batch_size, sequence_length, d_model={config.d_model}), "
                f"got {tuple(inputs_embeds.shape)}."
            )
        if not inputs_embeds.dtype.is_floating_point:
            raise ValueError(f"`{prefix}inputs_embeds` must be a floating-point tensor, got {inputs_embeds.dtype}.")
        batch_size, seq_length = inputs_embeds.shape[:2]
    if batch_size == 0:
        raise ValueError(f"`{prefix}input_ids` holds no sequence (batch size 0): pass at least one.")
    if seq_length == 0:
        raise ValueError(f"`{prefix}input_ids` is empty: every sequence needs at least one token.")

    if attention_mask is not None:
        _check_tensor(f"{prefix}attention_mask", attention_mask)
        expected = (batch_size, past_length + seq_length)
        if attention_mask.ndim == 2 and tuple(attention_mask.shape) != expected:
            cached = f" ({past_length} cached + {seq_length} new tokens)" if past_length else ""
            raise ValueError(
                f"`{prefix}attention_mask` must have shape (batch_size, key_length) = {expected}{cached}, "
                f"got {tuple(attention_mask.shape)}."
            )
        if attention_mask.ndim not in (2, 4):
            raise ValueError(
                f"`{prefix}attention_mask` must be 2D (batch_size, key_length) with 1 for tokens to attend to, or a "
                f"prepared 4D mask; got shape {tuple(attention_mask.shape)}."
            )

    if position_ids is not None:
        _check_tensor(f"{prefix}position_ids", position_ids)
        if (
            position_ids.ndim != 2
            or position_ids.shape[-1] != seq_length
            or position_ids.shape[0] not in (1, batch_size)
        ):
            raise ValueError(
                f"`{prefix}position_ids` must have shape (batch_size or 1, sequence_length={seq_length}), "
                f"got {tuple(position_ids.shape)}."
            )
    elif config.position_embedding_type == "learned" and past_length + seq_length > config.max_position_embeddings:
        raise ValueError(_too_long(config, past_length + seq_length, prefix))

    if is_torchdynamo_compiling():
        return
    # One synchronisation for all value checks: gather the bounds, then read them together.
    bounds = []
    if input_ids is not None:
        bounds += [input_ids.min(), input_ids.max()]
    if position_ids is not None:
        bounds += [position_ids.min(), position_ids.max()]
    binary_mask = attention_mask is not None and attention_mask.ndim == 2
    if binary_mask:  # how many entries are neither 0 nor 1
        bounds.append(((attention_mask != 0) & (attention_mask != 1)).sum())
    if not bounds:
        return
    values = torch.stack([bound.long() for bound in bounds]).tolist()
    if binary_mask and values.pop() > 0:
        raise ValueError(
            f"`{prefix}attention_mask` must hold only 0 (padding) and 1 (a token to attend to); got other values "
            f"(e.g. {attention_mask[(attention_mask != 0) & (attention_mask != 1)][0].item()}). For weighted "
            "attention pass a prepared 4D additive mask."
        )
    if input_ids is not None:
        low, high, values = values[0], values[1], values[2:]
        if low < 0 or high >= config.vocab_size:
            raise ValueError(
                f"`{prefix}input_ids` holds token id {low if low < 0 else high}, outside the vocabulary "
                f"[0, {config.vocab_size}). The tokenizer and the model disagree: build the model config from the "
                "tokenizer (`vanilla_transformer.config_from_tokenizer`) or call `model.resize_token_embeddings`."
            )
    if position_ids is not None:
        low, high = values
        if low < 0:
            raise ValueError(f"`{prefix}position_ids` must be non-negative, got {low}.")
        if config.position_embedding_type == "learned" and high >= config.max_position_embeddings:
            raise ValueError(_too_long(config, high + 1, prefix))


def check_encoder_states(
    encoder_hidden_states: torch.Tensor | None,
    encoder_attention_mask: torch.Tensor | None,
    batch_size: int,
    d_model: int,
) -> None:
    """Check the encoder output and source mask a decoder cross-attends to."""
    if encoder_hidden_states is None:
        if encoder_attention_mask is not None:
            raise ValueError("`encoder_attention_mask` was given without `encoder_hidden_states`.")
        return
    _check_tensor("encoder_hidden_states", encoder_hidden_states)
    if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[-1] != d_model:
        raise ValueError(
            f"`encoder_hidden_states` must have shape (batch_size, source_length, d_model={d_model}), "
            f"got {tuple(encoder_hidden_states.shape)}."
        )
    if encoder_hidden_states.shape[0] != batch_size:
        raise ValueError(
            f"The encoder output has batch size {encoder_hidden_states.shape[0]} but the decoder input has "
            f"{batch_size}: pass the same batch to both sides."
        )
    if encoder_attention_mask is not None:
        _check_tensor("attention_mask", encoder_attention_mask)
        expected = tuple(encoder_hidden_states.shape[:2])
        if encoder_attention_mask.ndim == 2 and tuple(encoder_attention_mask.shape) != expected:
            raise ValueError(
                f"The source `attention_mask` must have shape (batch_size, source_length) = {expected}, "
                f"got {tuple(encoder_attention_mask.shape)}."
            )


def check_cache(cache, is_encoder_decoder: bool) -> None:
    """Caches are `transformers.Cache` objects; an encoder-decoder model needs an `EncoderDecoderCache`."""
    if cache is None:
        return
    if isinstance(cache, (tuple, list)):
        raise ValueError(
            "`cache` as tuples is not supported: pass a `transformers.Cache` "
            "(`DynamicCache`, or `EncoderDecoderCache` for the encoder-decoder model), or the one a previous call returned."
        )
    expected = EncoderDecoderCache if is_encoder_decoder else Cache
    if not isinstance(cache, expected):
        raise ValueError(f"`cache` must be a `{expected.__name__}` for this model, got {type(cache).__name__}.")


def check_labels(labels: torch.Tensor | None, num_classes: int, expected_shape: tuple | None = None) -> None:
    """Labels are class ids in [0, num_classes) or -100 (ignored); token-level labels match the input's shape."""
    if labels is None:
        return
    _check_tensor("labels", labels)
    if expected_shape is not None and tuple(labels.shape) != tuple(expected_shape):
        raise ValueError(f"`labels` must have the input's shape {tuple(expected_shape)}, got {tuple(labels.shape)}.")
    if labels.dtype.is_floating_point or is_torchdynamo_compiling() or labels.numel() == 0:
        return  # float labels are regression / multi-label targets, checked by the loss itself
    valid = labels != IGNORE_INDEX
    low, high = torch.stack([labels.masked_fill(~valid, 0).min(), labels.masked_fill(~valid, 0).max()]).tolist()
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"`labels` holds {low if low < 0 else high}, outside [0, {num_classes}); use {IGNORE_INDEX} for "
            "positions the loss should ignore."
        )


def _check_tensor(name: str, value) -> None:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}; use return_tensors='pt'.")


def _too_long(config, length: int, prefix: str) -> str:
    return (
        f"`{prefix}input_ids` reaches position {length - 1}, but learned position embeddings only cover "
        f"max_position_embeddings={config.max_position_embeddings} positions: truncate the input, or use "
        "position_embedding_type='sinusoidal', which has no length limit."
    )


def input_shape(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, prefix: str = "") -> tuple:
    """(batch_size, sequence_length) of whichever input was given, for checks that run before the model."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError(f"Pass exactly one of `{prefix}input_ids` or `{prefix}inputs_embeds`.")
    tensor = input_ids if input_ids is not None else inputs_embeds
    _check_tensor(f"{prefix}input_ids" if input_ids is not None else f"{prefix}inputs_embeds", tensor)
    return tuple(tensor.shape[:2])
