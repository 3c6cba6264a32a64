"""A tiny English-German parallel corpus and cached tokenizers trained on it, for the tokenizer and pipeline tests."""

import functools

import vanilla_transformer as vt


PAIRS = [
    ("A man rides a horse.", "Ein Mann reitet ein Pferd."),
    ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee."),
    ("A little girl climbs into a wooden playhouse.", "Ein kleines Mädchen klettert in ein Spielhaus aus Holz."),
    ("Several men in hard hats are working.", "Mehrere Männer mit Schutzhelmen arbeiten."),
    ("A woman reads a book on the street.", "Eine Frau liest ein Buch auf der Straße."),
    ("The boy is eating an apple.", "Der Junge isst einen Apfel."),
    ("People are walking through a busy market.", "Leute gehen über einen belebten Markt."),
    ("A black dog runs across the green grass.", "Ein schwarzer Hund läuft über das grüne Gras."),
    ("Two women sit at a table and talk.", "Zwei Frauen sitzen an einem Tisch und reden."),
    ("A child jumps into the water!", "Ein Kind springt ins Wasser!"),
    ("Is the man playing a guitar?", "Spielt der Mann eine Gitarre?"),
    (
        "Four people are standing outside, near a big fountain.",
        "Vier Leute stehen draußen, nahe einem großen Brunnen.",
    ),
]
EN = [en for en, _ in PAIRS]
DE = [de for _, de in PAIRS]
TEXTS = EN + DE  # both sides: one joint vocabulary

# Big enough for the alphabet (plus "##" pieces for wordpiece, 256 bytes for byte_bpe) and a few hundred merges.
VOCAB_SIZE = {"bpe": 300, "byte_bpe": 450, "wordpiece": 400, "unigram": 300}
TINY_MODEL = dict(d_model=32, num_heads=2, d_ff=64, dropout=0.0)


@functools.cache
def trained(algorithm: str, variant: str = "seq2seq", **options):
    """A tokenizer trained on TEXTS, shared by the tests (treat it as read-only: copy before changing it)."""
    return vt.train_tokenizer(
        iter(TEXTS),
        algorithm=algorithm,
        vocab_size=VOCAB_SIZE[algorithm],
        variant=variant,
        show_progress=False,
        **options,
    )


def write_corpus(directory):
    """TEXTS as the files a user would have: train.en and train.de, one sentence a line."""
    files = []
    for name, lines in (("train.en", EN), ("train.de", DE)):
        path = directory / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        files.append(path)
    return files
