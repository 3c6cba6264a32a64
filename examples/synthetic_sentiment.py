"""Embedded default data for the classification example: film reviews from a small grammar, each labelled negative
(0) or positive (1), generated deterministically so that every machine gets the same corpus without a download.

The label is a function of the sentence, but not of its bag of words: negation flips a clause ("the plot was not
dull" is positive), and in a contrast the second clause wins ("the acting was wooden , but the story was gripping"
is positive; "although the story was gripping , the acting was wooden" is negative, with the same words), so a
model has to read word order to score well. Lower-cased, with punctuation split off, like SST-2:

    honestly , i did not enjoy the soundtrack .                                  -> negative
    the jokes are not very funny , but the ending was truly moving .             -> positive
    the dialogue was brilliant , even though the first half felt rather slow .   -> positive

The generated splits never share a sentence, so held-out accuracy measures generalisation to new combinations.
"""

from __future__ import annotations

import random

from .synthetic_data import distinct_splits


LABEL_NAMES = ("negative", "positive")
NEGATIVE, POSITIVE = 0, 1

ADJECTIVES = {
    POSITIVE: [
        "good",
        "great",
        "brilliant",
        "charming",
        "funny",
        "moving",
        "clever",
        "beautiful",
        "gripping",
        "delightful",
        "fresh",
        "wonderful",
        "solid",
        "touching",
        "sharp",
        "warm",
        "stunning",
        "lively",
    ],
    NEGATIVE: [
        "bad",
        "dull",
        "boring",
        "awful",
        "weak",
        "clumsy",
        "silly",
        "tedious",
        "predictable",
        "bland",
        "messy",
        "lifeless",
        "painful",
        "forgettable",
        "shallow",
        "wooden",
        "slow",
        "flat",
    ],
}
# (subject, is plural)
ASPECTS = [
    ("the acting", False),
    ("the plot", False),
    ("the script", False),
    ("the music", False),
    ("the ending", False),
    ("the dialogue", False),
    ("the cast", False),
    ("the story", False),
    ("the pacing", False),
    ("the direction", False),
    ("the soundtrack", False),
    ("the film", False),
    ("this movie", False),
    ("the sequel", False),
    ("the first half", False),
    ("the final act", False),
    ("the lead", False),
    ("the camera work", False),
    ("the jokes", True),
    ("the characters", True),
    ("the effects", True),
    ("the songs", True),
    ("the scenes", True),
    ("the performances", True),
    ("the costumes", True),
    ("the twists", True),
]
# verbs taking the aspect as object: (past form, base form) by polarity
VERBS = {
    POSITIVE: [
        ("loved", "love"),
        ("liked", "like"),
        ("enjoyed", "enjoy"),
        ("admired", "admire"),
        ("adored", "adore"),
        ("appreciated", "appreciate"),
    ],
    NEGATIVE: [
        ("hated", "hate"),
        ("disliked", "dislike"),
        ("regretted", "regret"),
        ("resented", "resent"),
        ("despised", "despise"),
        ("loathed", "loathe"),
    ],
}
INTENSIFIERS = ["", "", "very", "really", "quite", "truly", "rather", "so", "pretty"]
OPENERS = ["", "", "", "honestly ,", "overall ,", "to be fair ,", "in the end ,", "frankly ,", "sadly ,", "luckily ,"]
COPULAS = {
    False: ["is", "was", "feels", "felt", "seems", "seemed"],
    True: ["are", "were", "feel", "felt", "seem", "seemed"],
}
_NEGATED_COPULA = {
    "is": "is not",
    "was": "was not",
    "are": "are not",
    "were": "were not",
    "feels": "does not feel",
    "felt": "did not feel",
    "seems": "does not seem",
    "seemed": "did not seem",
    "feel": "do not feel",
    "seem": "do not seem",
}


def clause(rng: random.Random, polarity: int) -> str:
    """A clause whose sentiment is `polarity`: an adjective or verb of either polarity, negated when it differs."""
    negated = rng.random() < 0.35
    word_polarity = polarity if not negated else 1 - polarity
    subject, plural = rng.choice(ASPECTS)
    if rng.random() < 0.7:
        copula = rng.choice(COPULAS[plural])
        verb = _NEGATED_COPULA[copula] if negated else copula
        words = [subject, verb, rng.choice(INTENSIFIERS), rng.choice(ADJECTIVES[word_polarity])]
    else:
        past, base = rng.choice(VERBS[word_polarity])
        words = ["i", "did not", base, subject] if negated else ["i", past, subject]
    return " ".join(word for word in words if word)


def review(rng: random.Random) -> tuple[str, int]:
    """One (sentence, label) drawn from the grammar."""
    label = rng.choice((NEGATIVE, POSITIVE))
    form = rng.random()
    if form < 0.4:
        body = clause(rng, label)
    elif form < 0.6:  # contrast: the second clause wins
        body = f"{clause(rng, 1 - label)} , but {clause(rng, label)}"
    elif form < 0.75:
        body = f"although {clause(rng, 1 - label)} , {clause(rng, label)}"
    elif form < 0.85:
        body = f"{clause(rng, label)} , even though {clause(rng, 1 - label)}"
    else:
        body = f"{clause(rng, label)} and {clause(rng, label)}"
    opener = rng.choice(OPENERS)
    return " ".join(part for part in (opener, body, ".") if part), label


DEFAULT_SIZES = {"train": 8000, "validation": 1000, "test": 1000}


def synthetic_sentiment_splits(sizes: dict[str, int] | None = None, seed: int = 0) -> dict[str, dict[str, list]]:
    """Disjoint splits of distinct labelled reviews: `{split: {"sentence": [...], "label": [...]}}`.

    The same `sizes` and `seed` give the same corpus on every machine and Python version (`random.Random` is stable).
    No sentence occurs twice, within or across splits; the labels are balanced in expectation.
    """
    return distinct_splits(review, ("sentence", "label"), DEFAULT_SIZES if sizes is None else sizes, seed)


def synthetic_sentiment_dataset(sizes: dict[str, int] | None = None, seed: int = 0):
    """`synthetic_sentiment_splits` as a `datasets.DatasetDict` with columns `sentence` and `label` (a `ClassLabel`
    with names "negative" and "positive")."""
    import datasets

    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=list(LABEL_NAMES))}
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(columns, features=features)
            for split, columns in synthetic_sentiment_splits(sizes, seed).items()
        }
    )


__all__ = ["DEFAULT_SIZES", "LABEL_NAMES", "review", "synthetic_sentiment_dataset", "synthetic_sentiment_splits"]
