"""Embedded default data for the examples: English sentences from a small grammar, and their translation into a
made-up language, generated deterministically so that every machine gets the same corpus without a download.

The made-up language ("Synthetic", code `syn`) differs from English in ways a translation model has to learn, not
just copy: its own words for every content word (names are copied unchanged), subject-object-verb order, adjectives
and determiners after the noun, postpositions instead of prepositions (with the place phrase moved to the front),
an object particle, verb suffixes for tense and a plural subject, nouns with a plural suffix, and a negation
particle before the verb:

    the big dog does not see two cats in the park .
    -> parko ta inu hundo grava ta katoi du ko ne vidu .

The translation is a function of the sentence, so a model that learns the rules scores BLEU 100; the generated
splits never share a source sentence, so the held-out score measures generalisation to new combinations.
"""

from __future__ import annotations

import random


SOURCE_LANG, TARGET_LANG = "en", "syn"

# (singular, plural) -> made-up stem; the made-up plural is the stem + "i".
NOUNS = {
    ("dog", "dogs"): "hundo",
    ("cat", "cats"): "kato",
    ("man", "men"): "viro",
    ("woman", "women"): "fema",
    ("child", "children"): "kindo",
    ("girl", "girls"): "pika",
    ("boy", "boys"): "puko",
    ("bird", "birds"): "aveso",
    ("horse", "horses"): "kavalo",
    ("teacher", "teachers"): "doktu",
    ("farmer", "farmers"): "agrelo",
    ("doctor", "doctors"): "medro",
    ("student", "students"): "skolo",
    ("friend", "friends"): "amiko",
    ("neighbour", "neighbours"): "nabaro",
    ("ball", "balls"): "pilo",
    ("book", "books"): "libro",
    ("apple", "apples"): "pomo",
    ("car", "cars"): "vagu",
    ("house", "houses"): "domo",
    ("tree", "trees"): "arbo",
    ("flower", "flowers"): "floro",
    ("letter", "letters"): "letro",
    ("song", "songs"): "kanto",
    ("picture", "pictures"): "bildo",
    ("box", "boxes"): "kesto",
    ("key", "keys"): "klavo",
    ("cake", "cakes"): "torto",
    ("boat", "boats"): "navo",
    ("hat", "hats"): "kapelo",
    ("guitar", "guitars"): "gitaro",
    ("cup", "cups"): "tazo",
    ("river", "rivers"): "fluvo",
    ("garden", "gardens"): "gardo",
    ("street", "streets"): "strato",
    ("park", "parks"): "parko",
    ("market", "markets"): "merko",
    ("window", "windows"): "fenstro",
    ("table", "tables"): "tablo",
}
ADJECTIVES = {
    "big": "grava",
    "small": "mina",
    "old": "vela",
    "young": "juna",
    "happy": "felu",
    "sad": "trista",
    "red": "ruza",
    "green": "verda",
    "blue": "blua",
    "black": "nigra",
    "white": "alba",
    "tall": "alta",
    "quiet": "kvieta",
    "loud": "lauta",
    "clever": "sagha",
    "lazy": "pigra",
    "hungry": "malsa",
    "tired": "lasa",
    "new": "nova",
    "beautiful": "bela",
}
# base form, third person singular present, past -> made-up stem
TRANSITIVE_VERBS = {
    ("see", "sees", "saw"): "vid",
    ("like", "likes", "liked"): "sat",
    ("find", "finds", "found"): "trov",
    ("carry", "carries", "carried"): "port",
    ("paint", "paints", "painted"): "pentr",
    ("buy", "buys", "bought"): "kup",
    ("sell", "sells", "sold"): "vend",
    ("hold", "holds", "held"): "ten",
    ("watch", "watches", "watched"): "spekt",
    ("follow", "follows", "followed"): "sekv",
    ("help", "helps", "helped"): "help",
    ("call", "calls", "called"): "vok",
    ("visit", "visits", "visited"): "vizit",
    ("draw", "draws", "drew"): "desegn",
    ("clean", "cleans", "cleaned"): "pur",
    ("open", "opens", "opened"): "aper",
    ("take", "takes", "took"): "pren",
    ("know", "knows", "knew"): "kon",
}
INTRANSITIVE_VERBS = {
    ("sleep", "sleeps", "slept"): "dorm",
    ("run", "runs", "ran"): "kur",
    ("laugh", "laughs", "laughed"): "rid",
    ("sing", "sings", "sang"): "kant",
    ("wait", "waits", "waited"): "atend",
    ("dance", "dances", "danced"): "danc",
    ("swim", "swims", "swam"): "nag",
    ("work", "works", "worked"): "labor",
    ("sit", "sits", "sat"): "sid",
    ("play", "plays", "played"): "lud",
}
TENSE_SUFFIX = {"present": "u", "past": "ta", "future": "ro"}
PLURAL_AGREEMENT = "n"  # after the tense suffix when the subject is plural
# determiner -> (made-up word, number it takes)
DETERMINERS = {
    "the": ("ta", None),
    "a": ("un", "sg"),
    "this": ("esi", "sg"),
    "that": ("ola", "sg"),
    "every": ("kaz", "sg"),
    "my": ("mi", None),
    "your": ("tu", None),
    "some": ("sam", "pl"),
    "these": ("esin", "pl"),
    "those": ("olan", "pl"),
    "two": ("du", "pl"),
    "three": ("tri", "pl"),
    "many": ("mul", "pl"),
}
PREPOSITIONS = {
    "in": "inu",
    "near": "apu",
    "behind": "malantu",
    "under": "subu",
    "on": "suru",
    "next to": "flanku",
    "across": "transu",
    "with": "kunu",
}
ADVERBS = {
    "today": "hodia",
    "yesterday": "hiera",
    "quickly": "rapida",
    "slowly": "lanta",
    "often": "ofta",
    "again": "denova",
    "together": "kuna",
    "carefully": "zorga",
}
NAMES = ["anna", "tom", "maria", "omar", "lena", "yuki", "pablo", "ines", "kofi", "sara"]
OBJECT_PARTICLE, NEGATION = "ko", "ne"


def _noun_phrase(rng: random.Random, allow_name: bool = True) -> tuple[list[str], list[str], bool]:
    """(English words, Synthetic words, is plural)."""
    if allow_name and rng.random() < 0.15:
        name = rng.choice(NAMES)
        return [name], [name], False
    plural = rng.random() < 0.4
    determiner = rng.choice(
        [d for d, (_, number) in DETERMINERS.items() if number in (None, "pl" if plural else "sg")]
    )
    (singular, plural_form), stem = rng.choice(list(NOUNS.items()))
    adjectives = rng.sample(list(ADJECTIVES), k=rng.choice([0, 0, 1, 1, 2]))
    english = [determiner, *adjectives, plural_form if plural else singular]
    synthetic = [stem + ("i" if plural else ""), *(ADJECTIVES[a] for a in adjectives), DETERMINERS[determiner][0]]
    return english, synthetic, plural


def _verb_phrase(forms: tuple[str, str, str], stem: str, tense: str, negated: bool, plural: bool):
    base, third, past = forms
    if tense == "present":
        english = ["do" if plural else "does", "not", base] if negated else [base if plural else third]
    elif tense == "past":
        english = ["did", "not", base] if negated else [past]
    else:
        english = ["will", "not", base] if negated else ["will", base]
    verb = stem + TENSE_SUFFIX[tense] + (PLURAL_AGREEMENT if plural else "")
    return english, ([NEGATION] if negated else []) + [verb]


def translation_pair(rng: random.Random) -> tuple[str, str]:
    """One (English, Synthetic) sentence pair drawn from the grammar with `rng`."""
    subject_en, subject_syn, plural = _noun_phrase(rng)
    tense = rng.choice(list(TENSE_SUFFIX))
    negated = rng.random() < 0.2
    if rng.random() < 0.7:
        forms, stem = rng.choice(list(TRANSITIVE_VERBS.items()))
        object_en, object_syn, _ = _noun_phrase(rng)
        object_syn = [*object_syn, OBJECT_PARTICLE]
    else:
        (forms, stem), object_en, object_syn = rng.choice(list(INTRANSITIVE_VERBS.items())), [], []
    verb_en, verb_syn = _verb_phrase(forms, stem, tense, negated, plural)
    place_en, place_syn = [], []
    if rng.random() < 0.4:
        preposition = rng.choice(list(PREPOSITIONS))
        noun_en, noun_syn, _ = _noun_phrase(rng, allow_name=False)
        place_en, place_syn = [preposition, *noun_en], [*noun_syn, PREPOSITIONS[preposition]]
    adverb_en, adverb_syn = [], []
    if rng.random() < 0.3:
        adverb = rng.choice(list(ADVERBS))
        adverb_en, adverb_syn = [adverb], [ADVERBS[adverb]]
    english = [*subject_en, *verb_en, *object_en, *place_en, *adverb_en, "."]
    synthetic = [*place_syn, *subject_syn, *object_syn, *adverb_syn, *verb_syn, "."]
    return " ".join(english), " ".join(synthetic)


DEFAULT_SIZES = {"train": 20000, "validation": 500, "test": 500}


def synthetic_translation_splits(
    sizes: dict[str, int] | None = None, seed: int = 0
) -> dict[str, dict[str, list[str]]]:
    """Disjoint splits of distinct (English, Synthetic) pairs: `{split: {"en": [...], "syn": [...]}}`.

    The same `sizes` and `seed` give the same corpus on every machine and Python version (`random.Random` is
    stable). No source sentence occurs twice, within or across splits.
    """
    return distinct_splits(
        translation_pair, (SOURCE_LANG, TARGET_LANG), DEFAULT_SIZES if sizes is None else sizes, seed
    )


def distinct_splits(draw, columns: tuple[str, ...], sizes: dict[str, int], seed: int) -> dict[str, dict[str, list]]:
    """Splits of `sizes[split]` examples, each a tuple `draw(rng)` stored under `columns`, whose first items (the
    texts) are all distinct, within and across splits. Deterministic for a given `draw`, `sizes` and `seed`."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits = {}
    for split, size in sizes.items():
        rows, attempts = [], 0
        while len(rows) < size:
            attempts += 1
            if attempts > 100 * size + 1000:
                raise ValueError(f"the grammar cannot produce {size} new distinct sentences for split {split!r}.")
            row = draw(rng)
            if row[0] not in seen:
                seen.add(row[0])
                rows.append(row)
        splits[split] = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
    return splits


def synthetic_translation_dataset(sizes: dict[str, int] | None = None, seed: int = 0):
    """`synthetic_translation_splits` as a `datasets.DatasetDict` with columns `en` and `syn`."""
    import datasets

    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(columns)
            for split, columns in synthetic_translation_splits(sizes, seed).items()
        }
    )


__all__ = [
    "DEFAULT_SIZES",
    "SOURCE_LANG",
    "TARGET_LANG",
    "distinct_splits",
    "synthetic_translation_dataset",
    "synthetic_translation_splits",
    "translation_pair",
]
