"""What `vanilla_transformer.train_tokenizer` and the tokenizer it returns cost over calling `tokenizers` directly.

Trains the paper's BPE (a joint vocabulary over both sides of Multi30k train, English and German) and encodes the
whole corpus in one batch: through `transformers`' wrapper (`tokenizer(texts)`), through `encode_texts` (the examples'
preprocessing) and with `tokenizers` alone configured identically by hand (the script checks that all give the same
vocabulary and the same ids). The ways are timed interleaved, in turn, `--repeats` times; each ratio to `tokenizers`
alone is taken within a repeat and reported as the median and the min..max over the repeats, so that a busy machine
moves both sides of a ratio together. Target: <= 1.10 for training and for encoding with `encode_texts`
(`transformers`' wrapper costs 1.4-1.7 times `tokenizers` on these short sentences: it converts every encoding to
Python objects on its own).

    python benchmarks/tokenizer_overhead.py --data /path/to/multi30k      # or:
    VANILLA_TRANSFORMER_DATA=/path/to/data python benchmarks/tokenizer_overhead.py

The data directory holds `train.en` and `train.de`, or a `multi30k/` folder that does.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import vanilla_transformer as vt


TARGET = 1.10
TARGETED = ("train_tokenizer", "encode_texts")  # the wrapper's tokenizer(texts) is shown for comparison
SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]


def find_corpus(data: str) -> list[Path]:
    root = Path(data).expanduser()
    for directory in (root, root / "multi30k"):
        files = [directory / "train.en", directory / "train.de"]
        if all(file.is_file() for file in files):
            return files
    raise SystemExit(f"error: no train.en and train.de in {root} or {root / 'multi30k'}.")


def direct_bpe(vocab_size: int) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """`train_tokenizer(algorithm="bpe", variant="seq2seq")`, written out with `tokenizers` alone."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation(behavior="contiguous")]
    )
    tokenizer.decoder = decoders.Metaspace()
    specials = [
        AddedToken(token, special=True, normalized=False, lstrip=token == "<mask>") for token in SPECIAL_TOKENS
    ]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    return tokenizer, trainer


def finish(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    return tokenizer


def timed(function):
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare(name: str, repeats: int, **functions) -> dict:
    """Run each function `repeats` times, rotating which goes first; return the times, the ratio of each function to
    `direct` within every repeat, and the last results."""
    times = {label: [] for label in functions}
    results = {}
    order = list(functions.items())
    for repeat in range(repeats):
        rotation = repeat % len(order)
        for label, function in order[rotation:] + order[:rotation]:
            seconds, results[label] = timed(function)
            times[label].append(seconds)
    ratios = {
        label: [seconds / direct for seconds, direct in zip(values, times["direct"])]
        for label, values in times.items()
        if label != "direct"
    }
    return {"name": name, "times": times, "ratios": ratios, "results": results}


def summary(values: list[float]) -> str:
    """median (min..max)"""
    return f"{statistics.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("VANILLA_TRANSFORMER_DATA"),
        help="directory with train.en/train.de or multi30k/ (default: $VANILLA_TRANSFORMER_DATA)",
    )
    parser.add_argument("--vocab-size", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--encode-only", action="store_true", help="time the encoding only (train once, untimed)")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("pass --data or set VANILLA_TRANSFORMER_DATA to the directory holding Multi30k.")
    files = find_corpus(args.data)
    texts = [line for file in files for line in file.read_text(encoding="utf-8").splitlines()]
    print(
        f"corpus: {', '.join(map(str, files))}: {len(texts)} lines; BPE, vocab_size={args.vocab_size}, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs, tokenizers {tokenizers.__version__}, "
        f"transformers {transformers.__version__}"
    )

    def ours_from_files():
        return vt.train_tokenizer(files, vocab_size=args.vocab_size, show_progress=False)

    def direct_from_files():
        tokenizer, trainer = direct_bpe(args.vocab_size)
        tokenizer.train([str(file) for file in files], trainer)
        return finish(tokenizer)

    def ours_from_iterator():
        return vt.train_tokenizer(iter(texts), vocab_size=args.vocab_size, show_progress=False)

    def direct_from_iterator():
        tokenizer, trainer = direct_bpe(args.vocab_size)
        tokenizer.train_from_iterator(iter(texts), trainer, length=len(texts))
        return finish(tokenizer)

    if args.encode_only:
        rows, ours, direct = [], ours_from_files(), direct_from_files()
    else:
        rows = [
            compare("train, from files", args.repeats, train_tokenizer=ours_from_files, direct=direct_from_files),
            compare(
                "train, from an iterator",
                args.repeats,
                train_tokenizer=ours_from_iterator,
                direct=direct_from_iterator,
            ),
        ]
        ours, direct = rows[0]["results"]["train_tokenizer"], rows[0]["results"]["direct"]
        if rows[1]["results"]["train_tokenizer"].get_vocab() != ours.get_vocab():
            raise SystemExit("error: training from files and from an iterator gave different vocabularies.")
    if ours.get_vocab() != direct.get_vocab(with_added_tokens=True):
        raise SystemExit("error: the wrapper and the direct tokenizer learned different vocabularies.")

    def wrapper_encode():
        batch = ours(texts)
        return batch["input_ids"], batch["attention_mask"]

    def helper_encode():
        batch = vt.encode_texts(ours, texts)
        return batch["input_ids"], batch["attention_mask"]

    def direct_encode():  # the same output: ids and attention masks as Python lists
        encodings = direct.encode_batch(texts)
        return [e.ids for e in encodings], [e.attention_mask for e in encodings]

    def rust_only():  # the encodings alone, without reading them into Python lists: the floor for any wrapper
        return direct.encode_batch(texts)

    encoders = {"tokenizer(texts)": wrapper_encode, "encode_texts": helper_encode, "direct": direct_encode}
    rows.append(compare("encode the corpus in one batch", args.repeats, **encoders, encode_batch_only=rust_only))
    encoded = rows[-1]["results"]
    if not encoded["tokenizer(texts)"] == encoded["encode_texts"] == encoded["direct"]:
        raise SystemExit("error: the wrapper, encode_texts and the direct tokenizer encoded the corpus differently.")

    print(f"\nratio to tokenizers alone, within each repeat: median (min..max); target <= {TARGET:.2f}")
    for row in rows:
        for label, ratios in row["ratios"].items():
            verdict = ("met" if statistics.median(ratios) <= TARGET else "NOT met") if label in TARGETED else ""
            print(f"  {row['name']:32}{label:18}{summary(ratios):>24}   {verdict}")
    print("\nseconds: median (min..max)")
    for row in rows:
        for label, values in row["times"].items():
            print(f"  {row['name']:32}{label:18}{summary(values):>24}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
