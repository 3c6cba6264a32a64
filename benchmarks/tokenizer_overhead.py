"""What `vanilla_transformer.train_tokenizer` and the tokenizer it returns cost over calling `tokenizers` directly.

Trains the paper's BPE (a joint vocabulary over both sides of Multi30k train, English and German) and encodes the
whole corpus in one batch, once through our wrapper and once with `tokenizers` alone configured identically by hand
(the script checks that both give the same vocabulary and the same ids). The two are timed alternately in the same
run; each figure is the median of `--repeats` runs. Target: wrapper / direct <= 1.10 for training and for encoding.

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

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import vanilla_transformer as vt


TARGET = 1.10
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
    """Run each function `repeats` times, rotating which goes first; return the medians, min..max and last results.
    `ours / direct` is the ratio the target is about."""
    times = {label: [] for label in functions}
    results = {}
    order = list(functions.items())
    for repeat in range(repeats):
        rotation = repeat % len(order)
        for label, function in order[rotation:] + order[:rotation]:
            seconds, results[label] = timed(function)
            times[label].append(seconds)
    medians = {label: statistics.median(values) for label, values in times.items()}
    return {
        "name": name,
        "medians": medians,
        "ratio": medians["ours"] / medians["direct"],
        "spread": {label: (min(values), max(values)) for label, values in times.items()},
        "results": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("VANILLA_TRANSFORMER_DATA"),
        help="directory with train.en/train.de or multi30k/ (default: $VANILLA_TRANSFORMER_DATA)",
    )
    parser.add_argument("--vocab-size", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("pass --data or set VANILLA_TRANSFORMER_DATA to the directory holding Multi30k.")
    files = find_corpus(args.data)
    texts = [line for file in files for line in file.read_text(encoding="utf-8").splitlines()]
    print(
        f"corpus: {', '.join(map(str, files))}: {len(texts)} lines; BPE, vocab_size={args.vocab_size}, "
        f"{args.repeats} repeats, {os.cpu_count()} CPUs"
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

    rows = [
        compare("train, from files", args.repeats, ours=ours_from_files, direct=direct_from_files),
        compare("train, from an iterator", args.repeats, ours=ours_from_iterator, direct=direct_from_iterator),
    ]
    ours, direct = rows[0]["results"]["ours"], rows[0]["results"]["direct"]
    if ours.get_vocab() != direct.get_vocab(with_added_tokens=True):
        raise SystemExit("error: the wrapper and the direct tokenizer learned different vocabularies.")
    if rows[1]["results"]["ours"].get_vocab() != ours.get_vocab():
        raise SystemExit("error: training from files and from an iterator gave different vocabularies.")

    def ours_encode():
        batch = ours(texts)
        return batch["input_ids"], batch["attention_mask"]

    def direct_encode():  # the same output: ids and attention masks as Python lists
        encodings = direct.encode_batch(texts)
        return [e.ids for e in encodings], [e.attention_mask for e in encodings]

    def rust_only():  # the encodings alone, without reading them into Python lists: the floor for any wrapper
        return direct.encode_batch(texts)

    rows.append(
        compare(
            "encode the corpus in one batch", args.repeats, ours=ours_encode, direct=direct_encode, rust_only=rust_only
        )
    )
    if rows[-1]["results"]["ours"] != rows[-1]["results"]["direct"]:
        raise SystemExit("error: the wrapper and the direct tokenizer encoded the corpus differently.")

    print(f"\n{'':32}{'ours (s)':>10}{'direct (s)':>12}{'ours/direct':>13}   target <= {TARGET:.2f}")
    for row in rows:
        medians = row["medians"]
        verdict = "met" if row["ratio"] <= TARGET else "NOT met"
        print(f"{row['name']:32}{medians['ours']:10.3f}{medians['direct']:12.3f}{row['ratio']:13.3f}   {verdict}")
    encode = rows[-1]["medians"]
    print(
        f"  (encode_batch alone, ids left in Rust: {encode['rust_only']:.3f} s; "
        f"ours / that = {encode['ours'] / encode['rust_only']:.3f})"
    )
    print("\nmin..max (s):")
    for row in rows:
        spread = "; ".join(f"{label} {low:.3f}..{high:.3f}" for label, (low, high) in row["spread"].items())
        print(f"  {row['name']:32}{spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
