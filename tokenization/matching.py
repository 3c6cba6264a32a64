"""Keep a tokenizer and a model in agreement: build a config from a tokenizer, or check that they match.

A model whose vocabulary is smaller than its tokenizer's, or whose special ids differ, fails late and obscurely (an
index error inside the embedding, a decoder started on the wrong token, padding that is attended to). These two
functions catch that where the pair is put together.
"""

from __future__ import annotations

from transformers import PreTrainedConfig
from transformers.tokenization_utils_base import VERY_LARGE_INTEGER

from ..auto import CONFIG_CLASSES
from ..configuration import TransformerConfig


def config_from_tokenizer(tokenizer, config_class_or_variant="seq2seq", **overrides) -> PreTrainedConfig:
    r"""
    Build a model config whose vocabulary size and special-token ids are those of `tokenizer`.

    Args:
        tokenizer: a `transformers` tokenizer, e.g. from `train_tokenizer` or `AutoTokenizer.from_pretrained`.
        config_class_or_variant (defaults to `"seq2seq"`): `"seq2seq"`, `"encoder"` or `"decoder"` (the `variant`
            names of `train_tokenizer`), or one of the classes `TransformerConfig`, `TransformerEncoderConfig`,
            `TransformerDecoderConfig`.
        overrides: any other config field (`d_model=256`, `num_labels=3`, ...). A field taken from the tokenizer may
            be overridden too, but the result is checked: a `vocab_size` below `len(tokenizer)` or special ids other
            than the tokenizer's raise `ValueError`. A larger `vocab_size` (e.g. rounded up to a multiple of 8) is fine.

    Sets `vocab_size = len(tokenizer)` (added tokens included), `pad_token_id`, `bos_token_id`, `eos_token_id`, for
    the encoder-decoder `decoder_start_token_id = bos_token_id` (the pad id if the tokenizer has no bos token), and
    for `position_embedding_type="learned"` `max_position_embeddings = tokenizer.model_max_length`.

    Example:

    ```python
    >>> config = config_from_tokenizer(tokenizer, "decoder", d_model=256, num_layers=4)
    >>> model = TransformerForCausalLM(config)
    ```
    """
    config_class = _config_class(config_class_or_variant)
    fields = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if issubclass(config_class, TransformerConfig):
        bos = tokenizer.bos_token_id
        fields["decoder_start_token_id"] = bos if bos is not None else tokenizer.pad_token_id
    if overrides.get("position_embedding_type") == "learned" and _has_length_limit(tokenizer):
        fields["max_position_embeddings"] = tokenizer.model_max_length
    fields.update(overrides)
    config = config_class(**fields)
    check_tokenizer_matches(tokenizer, config)
    return config


def check_tokenizer_matches(tokenizer, model_or_config) -> None:
    r"""
    Raise `ValueError` listing every way `tokenizer` and a model (or its config) disagree; return `None` if they agree.

    Checked: the vocabulary holds every id the tokenizer can produce (`vocab_size >= len(tokenizer)`, and the
    model's embedding matrix too); `pad_token_id`, `bos_token_id` and `eos_token_id` are the tokenizer's; an
    encoder-decoder's `decoder_start_token_id` is one of the tokenizer's special tokens; with learned positions,
    `max_position_embeddings` covers the tokenizer's `model_max_length`.
    """
    config = getattr(model_or_config, "config", model_or_config)
    problems = []
    size = len(tokenizer)
    if config.vocab_size < size:
        problems.append(
            f"vocab_size: the tokenizer has {size} tokens (ids 0..{size - 1}) but the config's vocab_size is "
            f"{config.vocab_size}, so ids {config.vocab_size}..{size - 1} would fall outside the embedding."
        )
    get_embeddings = getattr(model_or_config, "get_input_embeddings", None)
    embeddings = get_embeddings() if callable(get_embeddings) else None
    if embeddings is not None and embeddings.num_embeddings < size:
        problems.append(
            f"embedding size: the model's input embedding has {embeddings.num_embeddings} rows but the tokenizer has "
            f"{size} tokens; call model.resize_token_embeddings(len(tokenizer))."
        )
    for role in ("pad", "bos", "eos"):
        expected = getattr(tokenizer, f"{role}_token_id")
        actual = getattr(config, f"{role}_token_id", None)
        agrees = expected in actual if isinstance(actual, (list, tuple)) else expected == actual
        if not agrees:
            token = getattr(tokenizer, f"{role}_token")
            problems.append(
                f"{role}_token_id: the config has {actual!r} but the tokenizer's {role} token {token!r} has id "
                f"{expected!r}."
            )
    if getattr(config, "is_encoder_decoder", False):
        start = getattr(config, "decoder_start_token_id", None)
        if start is None or start not in tokenizer.all_special_ids:
            problems.append(
                f"decoder_start_token_id: the config has {start!r}, which is not one of the tokenizer's special "
                f"tokens {dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids))}; use its bos token "
                f"id {tokenizer.bos_token_id!r}."
            )
    if (
        getattr(config, "position_embedding_type", None) == "learned"
        and _has_length_limit(tokenizer)
        and tokenizer.model_max_length > config.max_position_embeddings
    ):
        problems.append(
            f"max_position_embeddings: learned positions cover {config.max_position_embeddings} tokens but the "
            f"tokenizer lets sequences of up to model_max_length={tokenizer.model_max_length} through; raise "
            "max_position_embeddings or lower tokenizer.model_max_length."
        )
    if problems:
        raise ValueError(
            f"The tokenizer and the {type(config).__name__} disagree:\n"
            + "".join(f"  - {problem}\n" for problem in problems)
            + "Build the config from the tokenizer with vanilla_transformer.config_from_tokenizer(tokenizer, ...), "
            "or fix the fields above."
        )


def _config_class(config_class_or_variant):
    if isinstance(config_class_or_variant, str):
        if config_class_or_variant not in CONFIG_CLASSES:
            raise ValueError(
                f"unknown variant {config_class_or_variant!r}: choose one of {list(CONFIG_CLASSES)}, or pass a "
                "config class."
            )
        return CONFIG_CLASSES[config_class_or_variant]
    known = tuple(CONFIG_CLASSES.values())
    if isinstance(config_class_or_variant, type) and issubclass(config_class_or_variant, known):
        return config_class_or_variant
    raise ValueError(
        f"config_class_or_variant must be one of {list(CONFIG_CLASSES)} or one of the classes "
        f"{[cls.__name__ for cls in CONFIG_CLASSES.values()]}, got {config_class_or_variant!r}."
    )


def _has_length_limit(tokenizer) -> bool:
    # Tokenizers without a limit report VERY_LARGE_INTEGER (1e30).
    return tokenizer.model_max_length < VERY_LARGE_INTEGER
