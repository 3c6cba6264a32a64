"""Tokenizers for the models of this package, trained with the `tokenizers` library and used through `transformers`."""

from .encoding import encode_texts
from .matching import check_tokenizer_matches, config_from_tokenizer
from .trainers import ALGORITHMS, SPECIAL_TOKENS, VARIANTS, train_tokenizer


__all__ = [
    "ALGORITHMS",
    "SPECIAL_TOKENS",
    "VARIANTS",
    "check_tokenizer_matches",
    "config_from_tokenizer",
    "encode_texts",
    "train_tokenizer",
]
