"""`vanilla-transformer-train-tokenizer`: train a tokenizer on text files and save it for `from_pretrained`.

    vanilla-transformer-train-tokenizer train.en train.de --output-dir tokenizer/ --vocab-size 10000

(also `python -m vanilla_transformer.tokenization ...`). The directory is written only once training has succeeded,
and atomically: into a temporary directory beside it, then renamed, so a failed or interrupted run leaves no
half-written tokenizer behind. Load it with `AutoTokenizer.from_pretrained("tokenizer/")`.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..atomic import atomic_directory
from .trainers import ALGORITHMS, DEFAULT_MODEL_MAX_LENGTH, DEFAULT_VOCAB_SIZE, VARIANTS, train_tokenizer


PROG = "vanilla-transformer-train-tokenizer"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train a tokenizer for the vanilla_transformer models on UTF-8 text files (one text per line) "
        "and save it where transformers.AutoTokenizer.from_pretrained can load it. Give the source and the target "
        "files together for a joint translation vocabulary.",
    )
    parser.add_argument("files", nargs="+", help="training text files")
    parser.add_argument("-o", "--output-dir", required=True, help="directory to save the tokenizer to")
    parser.add_argument(
        "--algorithm", choices=ALGORITHMS, default="bpe", help="subword algorithm (default: %(default)s)"
    )
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="default: %(default)s")
    parser.add_argument(
        "--variant", choices=VARIANTS, default="seq2seq", help="the model the tokenizer feeds (default: %(default)s)"
    )
    parser.add_argument("--min-frequency", type=int, default=None, help="least count of a merge (not for unigram)")
    parser.add_argument("--lowercase", action="store_true", help="lower-case all text")
    parser.add_argument("--model-max-length", type=int, default=DEFAULT_MODEL_MAX_LENGTH, help="default: %(default)s")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    output_dir = os.path.abspath(args.output_dir)
    try:
        # Fail before training, not after: the destination must be free (or replaceable) and its parent creatable.
        if os.path.exists(output_dir):
            if not os.path.isdir(output_dir):
                raise ValueError(f"--output-dir {args.output_dir!r} exists and is not a directory.")
            if os.listdir(output_dir) and not args.overwrite:
                raise ValueError(f"--output-dir {args.output_dir!r} is not empty; pass --overwrite to replace it.")
        tokenizer = train_tokenizer(
            args.files,
            algorithm=args.algorithm,
            vocab_size=args.vocab_size,
            variant=args.variant,
            min_frequency=args.min_frequency,
            lowercase=args.lowercase,
            model_max_length=args.model_max_length,
            show_progress=not args.no_progress,
        )
        with atomic_directory(output_dir) as staging:
            tokenizer.save_pretrained(staging)
    except (ValueError, OSError) as error:
        parser.exit(2, f"{PROG}: error: {error}\n")
    print(
        f"Saved a {args.algorithm} tokenizer ({args.variant}, {len(tokenizer)} tokens) to {output_dir}; "
        f"load it with AutoTokenizer.from_pretrained({output_dir!r}).",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
