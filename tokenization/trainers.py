"""Train a tokenizer with the `tokenizers` library and wrap it as a `transformers.PreTrainedTokenizerFast`.

Every tokenizer this module builds uses the special-token layout of the model configurations:

    id  role   bpe / byte_bpe / unigram   wordpiece
    0   pad    <pad>                      [PAD]
    1   unk    <unk>                      [UNK]
    2   bos    <s>                        [CLS]
    3   eos    </s>                       [SEP]
    4   mask   <mask>                     [MASK]

so a config built with its defaults (pad 0, bos 2, eos 3, decoder start 2) already agrees with it; still, build
the config from the tokenizer (`config_from_tokenizer`) so that `vocab_size` agrees too.

What `decode(encode(x))` gives back (skip_special_tokens=True), per algorithm:

- `"byte_bpe"`: `x`, exactly. Text is read as UTF-8 bytes, so nothing is ever unknown (only `lowercase=True`
  changes the text).
- `"bpe"` and `"unigram"`: `x` after NFKC normalisation, (with `lowercase=True`) lower-casing, and removal of
  leading and trailing whitespace; inner whitespace is kept. Characters never seen in training become `<unk>`.
  Words are marked SentencePiece-style by a leading "▁" and runs of punctuation are split from them, so no piece
  mixes letters and punctuation.
- `"wordpiece"`: BERT's normalisation (control characters removed, every whitespace character a space, CJK
  characters split, optional lower-casing; accents are kept), then the words and punctuation marks joined by
  single spaces, with the space before `. , ! ? '` and contractions removed again: `"Hi,  you (two)!"` gives
  back `"Hi, you ( two )!"`. Unknown words become `[UNK]`.

The `"decoder"` variant differs in one way, for every algorithm: each token carries the space before it (GPT-2's
`add_prefix_space=False`, which `"byte_bpe"` has in every variant), so the first word of a text is not marked and
decoding is concatenation: a continuation decoded on its own, as the text-generation pipeline and `TextStreamer`
decode the generated tokens, keeps its leading space, and `decode(ids[:n]) + decode(ids[n:]) == decode(ids)` (for
`"byte_bpe"`, wherever the cut does not split a character's bytes). Its `"wordpiece"` keeps the spaces of the
normalised text: `"Hi,  you (two)!"` gives back `"Hi,  you (two)!"`.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Iterator

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

from ..configuration import (
    BOS_TOKEN_ID,
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    PAD_TOKEN_ID,
    UNK_TOKEN_ID,
)
from ..modeling.configuration_transformer import check_positive_int


ALGORITHMS = ("bpe", "byte_bpe", "wordpiece", "unigram")
VARIANTS = ("seq2seq", "encoder", "decoder")

# Special tokens in id order: pad, unk, bos, eos, mask (see the table above).
SPECIAL_TOKENS = {
    "bpe": ("<pad>", "<unk>", "<s>", "</s>", "<mask>"),
    "byte_bpe": ("<pad>", "<unk>", "<s>", "</s>", "<mask>"),
    "unigram": ("<pad>", "<unk>", "<s>", "</s>", "<mask>"),
    "wordpiece": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
}
assert (PAD_TOKEN_ID, UNK_TOKEN_ID, BOS_TOKEN_ID, EOS_TOKEN_ID, MASK_TOKEN_ID) == (0, 1, 2, 3, 4)
NUM_SPECIAL_TOKENS = 5
BYTE_ALPHABET_SIZE = len(pre_tokenizers.ByteLevel.alphabet())  # 256

DEFAULT_VOCAB_SIZE = 37000  # the paper's shared source-target BPE vocabulary, and the configs' default
DEFAULT_MODEL_MAX_LENGTH = 1024  # the configs' default max_position_embeddings
DATASET_BATCH_SIZE = 1000
_EMPTY = object()


def train_tokenizer(
    corpus,
    *,
    algorithm: str = "bpe",
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    variant: str = "seq2seq",
    min_frequency: int | None = None,
    lowercase: bool = False,
    text_column: str | Iterable[str] = "text",
    length: int | None = None,
    model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
    show_progress: bool = True,
) -> PreTrainedTokenizerFast:
    r"""
    Train a tokenizer on `corpus` and return it as a `transformers.PreTrainedTokenizerFast`, ready for
    `save_pretrained` / `AutoTokenizer.from_pretrained`, the data collators and the pipelines.

    Args:
        corpus: what to learn the vocabulary from. One of:
            - a file path (`str` or `os.PathLike`), or a list or tuple of them: UTF-8 text files, read by
              `tokenizers` itself. Give the source and the target files together for a joint translation vocabulary.
              A list of strings is always read as file paths; wrap in-memory texts in an iterator (`iter(texts)`).
            - a `datasets.Dataset` or `datasets.IterableDataset`: the texts of the column(s) named by `text_column`;
              `text_column=["en", "de"]` trains one joint vocabulary over both sides of a translation corpus.
            - any other iterable of strings (a generator, `iter(texts)`), or of lists of strings (batches).
        algorithm (`str`, defaults to `"bpe"`): `"bpe"` (the paper's subword BPE, SentencePiece-style word
            boundaries), `"byte_bpe"` (GPT-2's byte-level BPE: nothing is ever unknown and decoding is exact),
            `"wordpiece"` (BERT's) or `"unigram"` (SentencePiece's unigram language model).
        vocab_size (`int`, defaults to 37000): size of the vocabulary, special tokens included. The result may be
            smaller when the corpus has fewer distinct pieces. It must hold the 5 special tokens and the alphabet of
            the corpus (the 256 bytes for `"byte_bpe"`).
        variant (`str`, defaults to `"seq2seq"`): the model the tokenizer feeds, which decides the special tokens
            added around each sequence:
            - `"seq2seq"` (`TransformerConfig`): `text </s>` (pairs `a </s> b </s>`); with `text_target=` the
              targets are encoded the same way into `labels`, and the model starts decoding from `<s>`.
            - `"decoder"` (`TransformerDecoderConfig`): `<s> text` (pairs `<s> a <s> b`), Llama's template: a
              prompt is continued by `generate()` and the text-generation pipeline, not ended. Training texts need
              their `</s>` so that the model learns where texts end: append `tokenizer.eos_token_id` when preparing
              them (as `examples/language_modeling.py` does), or switch the template to `<s> text </s>` with
              `tokenizer.add_eos_token = True` (transformers does not save these flags, only the template they
              build: on a reloaded tokenizer set both, `tokenizer.add_bos_token, tokenizer.add_eos_token = True,
              True`). Tokens carry their leading spaces (see the module docstring), so generated tokens decode
              with the right spacing on their own.
            - `"encoder"` (`TransformerEncoderConfig`): BERT's `<s> a </s>` and `<s> a </s> b </s>` (`[CLS]` and
              `[SEP]` for wordpiece); `cls_token` and `sep_token` are set.
        min_frequency (`int`, *optional*): least number of occurrences of a merge (`"bpe"`, `"byte_bpe"`) or piece
            (`"wordpiece"`) to enter the vocabulary. Not used by `"unigram"`.
        lowercase (`bool`, defaults to `False`): lower-case the text before everything else.
        text_column (`str` or list of `str`, defaults to `"text"`): the column(s) of a dataset corpus to read.
        length (`int`, *optional*): number of texts an iterator yields, for the progress bar (known for datasets).
        model_max_length (`int`, defaults to 1024): the tokenizer's `model_max_length`, the length
            `truncation=True` cuts to.
        show_progress (`bool`, defaults to `True`): show the progress bars of `tokenizers`.

    The tokenizer pads on the right; for batched generation with a decoder-only model, pad prompts on the left at
    call time: `tokenizer(prompts, padding=True, padding_side="left")`. It returns `input_ids` and
    `attention_mask` only (the models take no `token_type_ids`). See the module docstring for what `decode` gives
    back for each algorithm.

    Raises:
        ValueError: an unknown algorithm or variant, a `vocab_size` too small for the special tokens and the
            alphabet, an empty corpus, a text column the dataset does not have.
        FileNotFoundError: a corpus file that does not exist.

    Example:

    ```python
    >>> from vanilla_transformer import train_tokenizer, config_from_tokenizer, TransformerForConditionalGeneration
    >>> tokenizer = train_tokenizer(["train.en", "train.de"], vocab_size=10000)  # joint source-target BPE
    >>> model = TransformerForConditionalGeneration(config_from_tokenizer(tokenizer))
    >>> batch = tokenizer(["A man rides a horse."], text_target=["Ein Mann reitet ein Pferd."])
    ```
    """
    # Everything that can be checked without reading the corpus is checked first.
    _check_choice("algorithm", algorithm, ALGORITHMS)
    _check_choice("variant", variant, VARIANTS)
    _check_vocab_size(algorithm, vocab_size)
    if min_frequency is not None:
        if algorithm == "unigram":
            raise ValueError(
                "min_frequency does not apply to algorithm='unigram', whose trainer prunes pieces by likelihood "
                "instead; leave it unset."
            )
        _check_non_negative_int("min_frequency", min_frequency)
    check_positive_int("model_max_length", model_max_length)
    if length is not None:
        _check_non_negative_int("length", length)

    files, texts, known_length = _read_corpus(corpus, text_column)
    special_tokens = SPECIAL_TOKENS[algorithm]
    backend = _untrained_backend(algorithm, special_tokens, lowercase, variant)
    trainer = _trainer(algorithm, special_tokens, vocab_size, min_frequency, show_progress)
    try:
        if files is not None:
            backend.train(files, trainer)
        else:
            backend.train_from_iterator(texts, trainer, length=length if length is not None else known_length)
    except Exception as error:  # the trainers raise plain `Exception`s
        if "not large enough to contain all chars" in str(error):  # unigram
            raise ValueError(_vocab_too_small(algorithm, vocab_size)) from error
        raise
    _check_trained(backend, algorithm, special_tokens, vocab_size)
    return _wrap(backend, algorithm, variant, model_max_length)


def _read_corpus(corpus, text_column) -> tuple[list[str] | None, Iterator | None, int | None]:
    """(files, None, None) for file corpora, (None, iterator, length or None) for texts; raise on bad input."""
    if isinstance(corpus, (str, os.PathLike, list, tuple)):
        return _check_files(corpus), None, None
    datasets = sys.modules.get("datasets")  # a dataset can only exist if `datasets` was imported
    if datasets is not None and isinstance(corpus, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        raise ValueError(
            f"corpus is a {type(corpus).__name__} with splits {list(corpus)}: pass one split, e.g. corpus['train']."
        )
    if datasets is not None and isinstance(corpus, (datasets.Dataset, datasets.IterableDataset)):
        return None, *_dataset_texts(corpus, text_column)
    if isinstance(corpus, (bytes, dict)) or not isinstance(corpus, Iterable):
        raise ValueError(
            f"corpus must be file path(s), a datasets.Dataset or an iterable of strings, got {type(corpus).__name__}."
        )
    # Let `tokenizers` pull the texts itself (it reads strings or lists of strings); only look at the first one.
    iterator = iter(corpus)
    first = next(iterator, _EMPTY)
    if first is _EMPTY:
        raise ValueError("corpus is empty: the iterator yielded no text.")
    if not (isinstance(first, str) or (isinstance(first, (list, tuple)) and all(isinstance(t, str) for t in first))):
        raise ValueError(
            f"corpus must yield strings (or lists of strings), but its first item is a {type(first).__name__}."
        )
    length = len(corpus) if isinstance(first, str) and hasattr(corpus, "__len__") else None  # for the progress bar
    return None, itertools.chain([first], iterator), length


def _check_files(corpus) -> list[str]:
    paths = [corpus] if isinstance(corpus, (str, os.PathLike)) else list(corpus)
    if not paths:
        raise ValueError("corpus is empty: the list of files is empty.")
    files = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(
                f"a list or tuple corpus holds file paths, got an item of type {type(path).__name__}; to train on "
                "texts in memory pass an iterator of strings, e.g. iter(texts)."
            )
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"corpus file {path!r} does not exist. (A string or a list of strings is read as file paths; to "
                "train on texts in memory pass an iterator of strings, e.g. iter(texts).)"
            )
        if not os.path.isfile(path):
            raise ValueError(f"corpus path {path!r} is not a file; pass the text files themselves.")
        files.append(path)
    if all(os.path.getsize(path) == 0 for path in files):
        raise ValueError(f"corpus is empty: every file is empty ({', '.join(files)}).")
    return files


def _dataset_texts(dataset, text_column) -> tuple[Iterator[list[str]], int | None]:
    columns = [text_column] if isinstance(text_column, str) else list(text_column)
    if not columns or not all(isinstance(column, str) for column in columns):
        raise ValueError(f"text_column must be a column name or a list of them, got {text_column!r}.")
    available = dataset.column_names
    if available is not None:  # an IterableDataset may not know its columns before reading
        missing = [column for column in columns if column not in available]
        if missing:
            raise ValueError(
                f"text column(s) {missing} not found in the dataset, whose columns are {available}; "
                "choose them with text_column=..."
            )
    length = None
    if hasattr(dataset, "__len__"):
        length = len(dataset) * len(columns)
        if length == 0:
            raise ValueError("corpus is empty: the dataset has no rows.")
    features = dataset.features
    if features is not None:
        for column in columns:
            dtype = getattr(features.get(column), "dtype", None)
            if column in features and dtype not in ("string", "large_string"):
                raise ValueError(f"text column {column!r} must hold strings, but its feature is {features[column]}.")

    # Read only the text columns; an IterableDataset that does not know its columns is checked as it is read.
    source = dataset.select_columns(columns) if available is not None else dataset

    def batches():
        for batch in source.iter(batch_size=DATASET_BATCH_SIZE):
            for column in columns:
                if column not in batch:
                    raise ValueError(
                        f"text column {column!r} not found in the dataset, whose columns are {list(batch)}."
                    )
                yield batch[column]

    return batches(), length


def _untrained_backend(algorithm: str, special_tokens: tuple[str, ...], lowercase: bool, variant: str) -> Tokenizer:
    """The untrained `tokenizers.Tokenizer`: model, normaliser, pre-tokeniser and decoder of each algorithm.

    For the decoder variant every token carries the space before it (GPT-2's `add_prefix_space=False`): the
    text-generation pipeline and `TextStreamer` decode the generated tokens apart from the prompt, so a continuation
    must decode with its leading space. The other variants mark the first word too and drop that mark when decoding,
    as SentencePiece (and BERT, for wordpiece) do."""
    unk = special_tokens[UNK_TOKEN_ID]
    spaces_on_tokens = variant == "decoder"
    if algorithm == "wordpiece":
        backend = Tokenizer(models.WordPiece(unk_token=unk))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
        )
        if spaces_on_tokens:  # BERT's split into words and punctuation marks, with each space kept on its word
            backend.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.Metaspace(prepend_scheme="never"), pre_tokenizers.Punctuation(behavior="isolated")]
            )
            backend.decoder = decoders.Sequence(
                [decoders.Replace(Regex("^##"), ""), decoders.Metaspace(prepend_scheme="never")]
            )
        else:
            backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        return backend
    if algorithm == "byte_bpe":
        backend = Tokenizer(models.BPE())  # every byte is in the vocabulary: no unknown token is needed
        if lowercase:
            backend.normalizer = normalizers.Lowercase()
        # GPT-2's: spaces are bytes of the tokens that follow them, in every variant
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        return backend
    # bpe and unigram: SentencePiece-style, every word marked by a leading "▁" so spaces survive decoding, and runs
    # of punctuation split from words (as the paper's tokenized text had them) so "Holz." does not become a piece.
    # Stripping makes lines read from files (which keep their "\n") and the same texts from an iterator agree.
    backend = Tokenizer(models.BPE(unk_token=unk) if algorithm == "bpe" else models.Unigram())
    steps = [normalizers.NFKC(), *([normalizers.Lowercase()] if lowercase else []), normalizers.Strip()]
    backend.normalizer = normalizers.Sequence(steps)
    prepend_scheme = "never" if spaces_on_tokens else "always"  # whether the first word is marked too
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(prepend_scheme=prepend_scheme), pre_tokenizers.Punctuation(behavior="contiguous")]
    )
    backend.decoder = decoders.Metaspace(prepend_scheme=prepend_scheme)
    return backend


def _added_tokens(special_tokens: tuple[str, ...]) -> list[AddedToken]:
    """The special tokens as `tokenizers` stores them. The mask takes the space before it along, as RoBERTa's does:
    in "a <mask> b" it stands for a whole word with its leading space, the way masked words were seen in training."""
    return [
        AddedToken(token, special=True, normalized=False, lstrip=token_id == MASK_TOKEN_ID)
        for token_id, token in enumerate(special_tokens)
    ]


def _trainer(algorithm, special_tokens, vocab_size, min_frequency, show_progress):
    options = dict(vocab_size=vocab_size, special_tokens=_added_tokens(special_tokens), show_progress=show_progress)
    if min_frequency is not None:
        options["min_frequency"] = min_frequency
    if algorithm == "unigram":
        return trainers.UnigramTrainer(unk_token=special_tokens[UNK_TOKEN_ID], **options)
    if algorithm == "wordpiece":
        return trainers.WordPieceTrainer(continuing_subword_prefix="##", **options)
    if algorithm == "byte_bpe":
        return trainers.BpeTrainer(initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **options)
    return trainers.BpeTrainer(**options)


def _check_trained(backend: Tokenizer, algorithm: str, special_tokens, vocab_size: int) -> None:
    """The BPE and WordPiece trainers do not fail on a too-small vocab_size or an empty corpus: they return a
    vocabulary larger than asked, or one with nothing but the special tokens (and bytes). Turn both into errors."""
    trained_size = backend.get_vocab_size(with_added_tokens=True)
    if trained_size > vocab_size:
        raise ValueError(_vocab_too_small(algorithm, vocab_size, alphabet=trained_size - NUM_SPECIAL_TOKENS))
    initial = NUM_SPECIAL_TOKENS + (BYTE_ALPHABET_SIZE if algorithm == "byte_bpe" else 0)
    if trained_size <= initial and vocab_size > initial:
        raise ValueError(
            "corpus is empty: after normalisation it holds no text to learn from"
            + (" (for byte_bpe: no pair of bytes to merge)." if algorithm == "byte_bpe" else ".")
        )
    ids = [backend.token_to_id(token) for token in special_tokens]
    if ids != list(range(NUM_SPECIAL_TOKENS)):  # the trainers put special tokens first; make sure they still do
        raise RuntimeError(f"the trainer gave the special tokens {list(special_tokens)} the ids {ids}, not 0..4.")


def _wrap(backend: Tokenizer, algorithm: str, variant: str, model_max_length: int) -> PreTrainedTokenizerFast:
    pad, unk, bos, eos, _ = SPECIAL_TOKENS[algorithm]
    if variant == "decoder":
        # Llama's setting, the template built by transformers from its own flags: a prompt is `<s> text`, so generation
        # continues it; training texts get their `</s>` from the data preparation (or from add_eos_token=True).
        template_flags = dict(add_bos_token=True, add_eos_token=False)
    else:
        backend.post_processor = _template(variant, bos, eos)
        template_flags = {}
    # Either way the template lives in tokenizer.json, so a reloaded tokenizer adds exactly the same special tokens.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=pad,
        unk_token=unk,
        bos_token=bos,
        eos_token=eos,
        mask_token=_added_tokens(SPECIAL_TOKENS[algorithm])[MASK_TOKEN_ID],
        **({"cls_token": bos, "sep_token": eos} if variant == "encoder" else {}),
        **template_flags,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        truncation_side="right",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def _template(variant: str, bos: str, eos: str) -> processors.TemplateProcessing:
    if variant == "seq2seq":  # Marian's: the decoder starts from <s> (decoder_start_token_id), not the source
        single, pair = f"$A {eos}", f"$A {eos} $B:1 {eos}:1"
    else:  # encoder: BERT's [CLS] a [SEP] b [SEP]
        single, pair = f"{bos} $A {eos}", f"{bos} $A {eos} $B:1 {eos}:1"
    return processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(bos, BOS_TOKEN_ID), (eos, EOS_TOKEN_ID)]
    )


def _check_vocab_size(algorithm: str, vocab_size) -> None:
    check_positive_int("vocab_size", vocab_size)
    floor = NUM_SPECIAL_TOKENS + (BYTE_ALPHABET_SIZE if algorithm == "byte_bpe" else 1)
    if vocab_size < floor:
        raise ValueError(_vocab_too_small(algorithm, vocab_size))


def _vocab_too_small(algorithm: str, vocab_size: int, alphabet: int | None = None) -> str:
    if algorithm == "byte_bpe":
        return (
            f"vocab_size={vocab_size} is too small for algorithm='byte_bpe', which needs the {BYTE_ALPHABET_SIZE} "
            f"byte symbols plus the {NUM_SPECIAL_TOKENS} special tokens: use vocab_size >= "
            f"{BYTE_ALPHABET_SIZE + NUM_SPECIAL_TOKENS}."
        )
    found = f" ({alphabet} symbols in this corpus)" if alphabet else ""
    need = f"vocab_size >= {alphabet + NUM_SPECIAL_TOKENS}" if alphabet else "a larger vocab_size"
    return (
        f"vocab_size={vocab_size} is smaller than the alphabet of the corpus{found} plus the {NUM_SPECIAL_TOKENS} "
        f"special tokens: use {need}, or lowercase=True to shrink the alphabet."
    )


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}: choose one of {list(allowed)}.")


def _check_non_negative_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
