"""Encode batches of texts for preprocessing at the speed of `tokenizers` itself.

On short texts `tokenizer(texts)` takes 1.4-1.7 times as long as the Rust `encode_batch` it calls (Multi30k, see
benchmarks/tokenizer_overhead.py): `transformers` turns every encoding into a dictionary of lists in Python and then
regroups them into a `BatchEncoding`. `encode_texts` sets the backend up as `tokenizer(...)` does, calls
`encode_batch` and reads the lists straight from the encodings.
"""

from __future__ import annotations

from transformers.utils import PaddingStrategy


def encode_texts(
    tokenizer,
    texts: list[str] | None,
    text_pairs: list[str] | None = None,
    *,
    text_target: list[str] | None = None,
    truncation: bool | str | None = None,
    max_length: int | None = None,
    max_target_length: int | None = None,
    add_special_tokens: bool = True,
    return_attention_mask: bool | None = None,
    return_special_tokens_mask: bool = False,
) -> dict[str, list[list[int]]]:
    r"""
    What `tokenizer(texts, text_pairs, text_target=..., truncation=..., max_length=..., ...)` returns for a batch of
    texts, as a `dict` of lists (the form `datasets.Dataset.map` takes), computed by the backend's `encode_batch`.

    The arguments mean what they mean for `tokenizer(...)`: `truncation` and `max_length` are resolved by the
    tokenizer's own rules (`truncation=True` without `max_length` cuts to `model_max_length`, a `max_length` alone
    turns truncation on, the tokenizer's `truncation_side` decides which end goes); `text_target` adds the `labels`,
    cut to `max_target_length` if given; `return_attention_mask=None` returns the masks the tokenizer's
    `model_input_names` name. Nothing is padded: pad per batch with a data collator. The backend's truncation and
    padding settings are restored afterwards.

    Tokenizers without a `tokenizers` backend, or with a separate mode for targets (Marian, mBART, ...), are called the
    ordinary way: the result is the same, only slower.

    Example:

    ```python
    >>> features = encode_texts(tokenizer, batch["en"], text_target=batch["de"], max_length=256, truncation=True)
    >>> sorted(features)
    ['attention_mask', 'input_ids', 'labels']
    ```
    """
    if texts is None and text_target is None:
        raise ValueError("encode_texts needs texts, text_target or both.")
    if any(isinstance(batch, str) for batch in (texts, text_pairs, text_target)):
        raise TypeError("encode_texts encodes batches: pass lists of strings, not a single string.")
    if not getattr(tokenizer, "is_fast", False) or hasattr(tokenizer, "_switch_to_target_mode"):
        return dict(
            tokenizer(
                texts,
                text_pairs,
                text_target=text_target,
                truncation=truncation,
                max_length=max_length,
                max_target_length=max_target_length,
                add_special_tokens=add_special_tokens,
                return_attention_mask=return_attention_mask,
                return_special_tokens_mask=return_special_tokens_mask,
            )
        )

    # The same resolution of truncation=True / max_length=None / model_max_length as `tokenizer(...)`.
    _, truncation_strategy, max_length, _ = tokenizer._get_padding_truncation_strategies(
        truncation=truncation, max_length=max_length, verbose=False
    )
    if return_attention_mask is None:
        return_attention_mask = "attention_mask" in tokenizer.model_input_names
    return_token_type_ids = "token_type_ids" in tokenizer.model_input_names
    backend = tokenizer.backend_tokenizer

    def encode(batch, pairs, length) -> dict[str, list[list[int]]]:
        # `set_truncation_and_padding` is what `tokenizer(...)` configures the backend with before encoding.
        tokenizer.set_truncation_and_padding(
            padding_strategy=PaddingStrategy.DO_NOT_PAD,
            truncation_strategy=truncation_strategy,
            max_length=length,
            stride=0,
            pad_to_multiple_of=None,
            padding_side=None,
        )
        inputs = list(zip(batch, pairs)) if pairs is not None else batch
        encodings = backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        features = {"input_ids": [encoding.ids for encoding in encodings]}
        if return_token_type_ids:
            features["token_type_ids"] = [encoding.type_ids for encoding in encodings]
        if return_attention_mask:
            features["attention_mask"] = [encoding.attention_mask for encoding in encodings]
        if return_special_tokens_mask:
            features["special_tokens_mask"] = [encoding.special_tokens_mask for encoding in encodings]
        return features

    truncation_before, padding_before = backend.truncation, backend.padding
    special_tokens_before = backend.encode_special_tokens
    try:
        backend.encode_special_tokens = tokenizer.split_special_tokens
        if text_target is None:
            return encode(texts, text_pairs, max_length)
        target_length = max_target_length if max_target_length is not None else max_length
        targets = encode(text_target, None, target_length)
        if texts is None:
            return targets
        return {**encode(texts, text_pairs, max_length), "labels": targets["input_ids"]}
    finally:
        _restore(backend, truncation_before, padding_before)
        backend.encode_special_tokens = special_tokens_before


def _restore(backend, truncation: dict | None, padding: dict | None) -> None:
    """Put the backend's truncation and padding settings back as they were."""
    if truncation is None:
        backend.no_truncation()
    else:
        backend.enable_truncation(**truncation)
    if padding is None:
        backend.no_padding()
    else:
        backend.enable_padding(**padding)
