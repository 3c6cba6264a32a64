"""Tokenizers trained with `tokenizers`, used through `transformers`: layout, templates, decoding, corpora, the joint
translation vocabulary, save/load, configs, data collators, bad input and the command line."""

import copy
import os
import stat
import unicodedata
from pathlib import Path

import datasets
import pytest
import torch
from transformers import (
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerFast,
)

import vanilla_transformer as vt
from vanilla_transformer.configuration import (
    BOS_TOKEN_ID,
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    PAD_TOKEN_ID,
    UNK_TOKEN_ID,
)
from vanilla_transformer.tokenization import ALGORITHMS, VARIANTS, cli

from tokenizer_helpers import DE, EN, TEXTS, TINY_MODEL, VOCAB_SIZE, trained, write_corpus


FIXTURES = Path(__file__).parent / "fixtures"
ALL = [(algorithm, variant) for algorithm in ALGORITHMS for variant in VARIANTS]
# WordPiece training breaks ties between equally frequent pieces in no fixed order, so two runs may number a few
# pieces differently; the other trainers are deterministic.
DETERMINISTIC = ["bpe", "byte_bpe", "unigram"]
TOKEN_NAMES = {
    "wordpiece": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "bpe": ["<pad>", "<unk>", "<s>", "</s>", "<mask>"],
}


def train(corpus, algorithm="bpe", **options):
    options.setdefault("vocab_size", VOCAB_SIZE[algorithm])
    return vt.train_tokenizer(corpus, algorithm=algorithm, show_progress=False, **options)


# ----------------------------------------------------------------------------------------------- layout and templates


@pytest.mark.parametrize("algorithm,variant", ALL)
def test_special_token_layout_matches_config_defaults(algorithm, variant):
    tokenizer = trained(algorithm, variant)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    names = TOKEN_NAMES.get(algorithm, TOKEN_NAMES["bpe"])
    roles = ["pad", "unk", "bos", "eos", "mask"]
    assert [getattr(tokenizer, f"{role}_token") for role in roles] == names
    assert (
        [getattr(tokenizer, f"{role}_token_id") for role in roles]
        == [
            PAD_TOKEN_ID,
            UNK_TOKEN_ID,
            BOS_TOKEN_ID,
            EOS_TOKEN_ID,
            MASK_TOKEN_ID,
        ]
        == [0, 1, 2, 3, 4]
    )
    assert tokenizer.convert_ids_to_tokens(list(range(5))) == names
    # the defaults of every config agree before anything is built from the tokenizer
    for config_class in (vt.TransformerConfig, vt.TransformerEncoderConfig, vt.TransformerDecoderConfig):
        config = config_class()
        assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 2, 3)
    assert vt.TransformerConfig().decoder_start_token_id == tokenizer.bos_token_id
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert tokenizer.padding_side == "right" and tokenizer.model_max_length == 1024
    assert set(tokenizer("A man.")) == {"input_ids", "attention_mask"}  # no token_type_ids
    if variant == "encoder":
        assert (tokenizer.cls_token_id, tokenizer.sep_token_id) == (2, 3)
    else:
        assert tokenizer.cls_token is None and tokenizer.sep_token is None
    assert len(tokenizer) <= VOCAB_SIZE[algorithm]


@pytest.mark.parametrize("algorithm,variant", ALL)
def test_special_tokens_around_each_variant(algorithm, variant):
    tokenizer = trained(algorithm, variant)
    a = tokenizer("Two dogs play.", add_special_tokens=False)["input_ids"]
    b = tokenizer("Zwei Hunde spielen.", add_special_tokens=False)["input_ids"]
    assert a and b and not set(a + b) & {0, 2, 3, 4}
    single = tokenizer("Two dogs play.")["input_ids"]
    pair = tokenizer("Two dogs play.", "Zwei Hunde spielen.")["input_ids"]
    if variant == "seq2seq":  # EOS appended; the decoder starts from BOS on its own
        assert single == a + [3] and pair == a + [3] + b + [3]
    elif variant == "decoder":  # BOS only (Llama's): a prompt is continued, not ended
        assert single == [2] + a and pair == [2] + a + [2] + b
    else:  # [CLS] a [SEP] b [SEP]
        assert single == [2] + a + [3] and pair == [2] + a + [3] + b + [3]
    special = tokenizer("Two dogs play.", return_special_tokens_mask=True)["special_tokens_mask"]
    assert special == [int(i in (2, 3)) for i in single]


def test_decoder_texts_end_with_eos_after_the_documented_switch(tmp_path):
    # For training texts, <s> text </s>, on a new and on a reloaded tokenizer (transformers saves the template the
    # flags build, not the flags: a reloaded tokenizer needs both set).
    tokenizer = copy.deepcopy(trained("bpe", "decoder"))
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = tokenizer("A man rides", add_special_tokens=False)["input_ids"]
    assert reloaded("A man rides")["input_ids"] == tokenizer("A man rides")["input_ids"] == [2] + text
    tokenizer.add_eos_token = True
    reloaded.add_bos_token, reloaded.add_eos_token = True, True
    assert reloaded("A man rides")["input_ids"] == tokenizer("A man rides")["input_ids"] == [2] + text + [3]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decoder_variant_decodes_a_continuation_with_its_leading_space(algorithm):
    # what the text-generation pipeline and TextStreamer rely on: tokens decoded apart from the prompt before them
    tokenizer = trained(algorithm, "decoder")
    for text in EN:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
        for cut in range(1, len(ids)):
            head = tokenizer.decode(ids[:cut], skip_special_tokens=True)
            assert head + tokenizer.decode(ids[cut:], skip_special_tokens=True) == text, (text, cut)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decoder_tokenizers_saved_before_still_load_and_end_every_text(algorithm):
    # Saved by 0.1.0 with the template <s> text </s> in tokenizer.json: they load, and keep adding </s> until the
    # documented switch; their decoding (and so the pipeline's spacing) stays as it was.
    old = AutoTokenizer.from_pretrained(FIXTURES / "decoder_tokenizers_ending_texts" / algorithm)
    text = old("A man rides", add_special_tokens=False)["input_ids"]
    assert old("A man rides")["input_ids"] == [2] + text + [3]
    assert old.decode(old("A man rides")["input_ids"], skip_special_tokens=True) == "A man rides"
    old.add_bos_token, old.add_eos_token = True, False
    assert old("A man rides")["input_ids"] == [2] + text


def test_left_padding_at_call_time():
    tokenizer = trained("bpe", "decoder")
    batch = tokenizer(["A man.", "Two dogs play in the snow."], padding=True, padding_side="left")
    short = tokenizer("A man.")["input_ids"]
    assert batch["input_ids"][0][-len(short) :] == short
    assert set(batch["input_ids"][0][: -len(short)]) == {0} and batch["attention_mask"][0][0] == 0
    assert tokenizer.padding_side == "right"  # the default is untouched


def test_truncation_to_model_max_length():
    tokenizer = train(iter(TEXTS), model_max_length=6)
    ids = tokenizer(EN[3], truncation=True)["input_ids"]
    assert len(ids) == 6 and ids[-1] == EOS_TOKEN_ID  # the template is applied after truncation


# ------------------------------------------------------------------------------------------------------- decoding


ROUND_TRIP = [
    *TEXTS,
    "  two spaces at the start, three   inside and a tab\there ",
    "line one\nline two\n",
    "Emoji 🐎, CJK 馬, Greek ίππος, combining e\u0301, NBSP\u00a0and ZWJ 👩‍👧",
    "",
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_byte_bpe_decode_is_exact(variant):
    tokenizer = trained("byte_bpe", variant)
    for text in ROUND_TRIP:
        ids = tokenizer(text)["input_ids"]
        assert UNK_TOKEN_ID not in ids  # nothing is ever unknown
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    batch = tokenizer(ROUND_TRIP)["input_ids"]
    assert tokenizer.batch_decode(batch, skip_special_tokens=True) == ROUND_TRIP


@pytest.mark.parametrize("algorithm", ["bpe", "unigram"])
def test_bpe_and_unigram_decode_up_to_nfkc_and_outer_whitespace(algorithm):
    tokenizer = trained(algorithm)
    texts = [
        *TEXTS,
        "  Two   dogs play in the snow.  ",  # outer whitespace goes, inner whitespace stays
        "Ｔｗｏ ﬁsh",  # NFKC: full-width letters and the ligature become plain letters
        "Ein Mädchen",  # composed (NFC) form
        "Ein Ma\u0308dchen",  # decomposed: NFKC composes it
    ]
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert UNK_TOKEN_ID not in ids, text
        assert tokenizer.decode(ids, skip_special_tokens=True) == unicodedata.normalize("NFKC", text).strip()
    assert tokenizer.decode(tokenizer("Ein Ma\u0308dchen")["input_ids"], skip_special_tokens=True) == "Ein Mädchen"
    # characters never seen in training are unknown
    ids = tokenizer("A 🐎 horse", add_special_tokens=False)["input_ids"]
    assert UNK_TOKEN_ID in ids
    assert tokenizer.decode(ids) == "A <unk> horse"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "A  horse"


@pytest.mark.parametrize("algorithm", ["bpe", "unigram", "wordpiece"])
def test_punctuation_is_split_from_words(algorithm):
    # as in the paper's tokenized text: "Wasser!" is never one piece, so words are not learned once per punctuation
    tokenizer = trained(algorithm)
    pieces = [p.lstrip("▁").removeprefix("##") for p in set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens)]
    mixed = [p for p in pieces if any(c.isalnum() for c in p) and any(unicodedata.category(c)[0] == "P" for c in p)]
    assert mixed == []
    assert tokenizer.tokenize("Wasser!")[-1] == "!"


@pytest.mark.parametrize("algorithm", ["bpe", "unigram", "wordpiece"])
def test_lowercase_option(algorithm):
    tokenizer = train(iter(TEXTS), algorithm, lowercase=True)
    pieces = set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens)
    assert pieces and all(piece == piece.lower() for piece in pieces)
    ids = tokenizer("Two DOGS play")["input_ids"]
    assert ids == tokenizer("two dogs play")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "two dogs play"


def test_wordpiece_decode_up_to_bert_normalisation():
    tokenizer = trained("wordpiece")
    for text in TEXTS:  # plain sentences come back as they were
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    # whitespace runs collapse to one space; punctuation is split off, and the space before , . ! ? removed again
    ids = tokenizer("Is  the\tman,playing ?")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Is the man, playing?"
    ids = tokenizer("A (horse)")["input_ids"]  # characters never seen in training are unknown
    assert ids.count(UNK_TOKEN_ID) == 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == "A horse"
    assert tokenizer.decode(ids) == "A [UNK] horse [UNK] [SEP]"


# ------------------------------------------------------------------------------------------------------- corpora


@pytest.mark.parametrize("algorithm", DETERMINISTIC)
def test_files_iterators_and_datasets_train_the_same_tokenizer(algorithm, tmp_path):
    files = write_corpus(tmp_path)
    dataset = datasets.Dataset.from_dict({"en": EN, "de": DE, "id": list(range(len(EN)))})
    corpora = {
        "files (Path)": files,
        "files (str)": [str(path) for path in files],
        "batches": iter([EN, DE]),
        "generator": (text for text in TEXTS),
        "dataset, two columns": dataset,
        "iterable dataset": dataset.to_iterable_dataset(),
    }
    for name, corpus in corpora.items():
        options = {"text_column": ["en", "de"]} if "dataset" in name else {}
        assert same_tokenizer(train(corpus, algorithm, **options), trained(algorithm)), name
    single = datasets.Dataset.from_dict({"text": TEXTS})  # the default column name
    assert same_tokenizer(train(single, algorithm), trained(algorithm))
    assert same_tokenizer(train(str(files[0]), algorithm), train(iter(EN), algorithm))


def same_tokenizer(tokenizer, expected):
    if tokenizer.backend_tokenizer.model.__class__.__name__ == "Unigram":
        # pieces of equal score may be numbered in another order when the texts come in another order
        return set(tokenizer.get_vocab()) == set(expected.get_vocab()) and all(
            tokenizer.tokenize(text) == expected.tokenize(text) for text in TEXTS
        )
    return tokenizer.get_vocab() == expected.get_vocab()


def test_joint_vocabulary_covers_both_sides(tmp_path):
    joint = train(write_corpus(tmp_path))
    english_only = train(iter(EN))
    for text in TEXTS:
        assert UNK_TOKEN_ID not in joint(text)["input_ids"]
    # German letters are unknown to a vocabulary trained on English alone, but not to the joint one
    assert UNK_TOKEN_ID in english_only("Straße, Mädchen", add_special_tokens=False)["input_ids"]
    # and frequent German words became single pieces
    assert joint.tokenize("Ein Mann") == ["▁Ein", "▁Mann"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_text_target_gives_labels_for_seq2seq_collator(algorithm):
    tokenizer = trained(algorithm, "seq2seq")
    features = tokenizer(EN[:3], text_target=DE[:3])
    for i in range(3):
        assert features["labels"][i] == tokenizer(DE[i])["input_ids"]
        assert features["labels"][i][-1] == EOS_TOKEN_ID and features["input_ids"][i][-1] == EOS_TOKEN_ID
    model = vt.TransformerForConditionalGeneration(
        vt.config_from_tokenizer(tokenizer, encoder_layers=1, decoder_layers=1, **TINY_MODEL)
    )
    collator = DataCollatorForSeq2Seq(tokenizer, model=model)
    rows = [{key: features[key][i] for key in features} for i in range(3)]
    batch = collator(rows)
    longest = max(len(labels) for labels in features["labels"])
    assert batch["labels"].shape == batch["decoder_input_ids"].shape == (3, longest)
    for i, labels in enumerate(features["labels"]):
        padded = labels + [-100] * (longest - len(labels))
        assert batch["labels"][i].tolist() == padded
        # decoder inputs: decoder_start (= bos) then the labels shifted right, padding as pad
        shifted = [BOS_TOKEN_ID] + [PAD_TOKEN_ID if t == -100 else t for t in padded[:-1]]
        assert batch["decoder_input_ids"][i].tolist() == shifted
    loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0


# ----------------------------------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("algorithm,variant", ALL)
def test_save_and_auto_tokenizer_round_trip(algorithm, variant, tmp_path):
    tokenizer = trained(algorithm, variant)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)  # offline: a local directory only
    assert isinstance(loaded, PreTrainedTokenizerFast)
    texts = [*ROUND_TRIP, "the <mask> sat", "A [MASK] here"]
    assert loaded(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    assert loaded(EN, DE)["input_ids"] == tokenizer(EN, DE)["input_ids"]
    assert loaded(EN, text_target=DE)["labels"] == tokenizer(EN, text_target=DE)["labels"]
    assert loaded.get_vocab() == tokenizer.get_vocab() and len(loaded) == len(tokenizer)
    assert loaded.all_special_tokens == tokenizer.all_special_tokens
    assert loaded.all_special_ids == tokenizer.all_special_ids
    assert (loaded.padding_side, loaded.model_max_length, loaded.model_input_names) == (
        "right",
        1024,
        ["input_ids", "attention_mask"],
    )
    ids = tokenizer(TEXTS)["input_ids"]
    assert loaded.batch_decode(ids, skip_special_tokens=True) == tokenizer.batch_decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_mask_token_replaces_a_whole_word(algorithm):
    tokenizer = trained(algorithm, "encoder")
    mask = tokenizer.mask_token
    ids = tokenizer(f"A man {mask} a horse.")["input_ids"]
    assert ids.count(MASK_TOKEN_ID) == 1
    # the mask takes the word's place: what comes after it is encoded as it would be after any other word
    before, after = ids[: ids.index(MASK_TOKEN_ID)], ids[ids.index(MASK_TOKEN_ID) + 1 :]
    assert before == tokenizer("A man")["input_ids"][:-1]
    assert after == tokenizer("A man rides a horse.")["input_ids"][len(before) + len(tokenizer.tokenize(" rides")) :]


# -------------------------------------------------------------------------------------------- configs and checks


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(
    "variant,config_class",
    [
        ("seq2seq", vt.TransformerConfig),
        ("encoder", vt.TransformerEncoderConfig),
        ("decoder", vt.TransformerDecoderConfig),
    ],
)
def test_config_from_tokenizer(algorithm, variant, config_class):
    tokenizer = trained(algorithm, variant)
    for spec in (variant, config_class):
        config = vt.config_from_tokenizer(tokenizer, spec, d_model=64, num_heads=2)
        assert type(config) is config_class
        assert config.vocab_size == len(tokenizer)
        assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 2, 3)
        assert config.d_model == 64 and config.num_heads == 2
        if config_class is vt.TransformerConfig:
            assert config.decoder_start_token_id == tokenizer.bos_token_id == 2
        vt.check_tokenizer_matches(tokenizer, config)


def test_config_from_tokenizer_counts_added_tokens_and_learned_positions():
    tokenizer = copy.deepcopy(trained("bpe"))
    tokenizer.add_tokens(["<new_token>"])
    config = vt.config_from_tokenizer(tokenizer)
    assert config.vocab_size == len(tokenizer) == VOCAB_SIZE["bpe"] + 1
    tokenizer.model_max_length = 64
    config = vt.config_from_tokenizer(tokenizer, "encoder", position_embedding_type="learned")
    assert config.max_position_embeddings == 64
    assert vt.config_from_tokenizer(tokenizer, "encoder").max_position_embeddings == 1024  # sinusoidal: untouched
    # a larger vocabulary (rounded up for speed) is fine
    assert vt.config_from_tokenizer(tokenizer, vocab_size=512).vocab_size == 512


def test_config_from_tokenizer_rejects_contradicting_overrides():
    tokenizer = trained("bpe")
    with pytest.raises(ValueError, match=r"vocab_size: the tokenizer has 300 tokens .* vocab_size is 100"):
        vt.config_from_tokenizer(tokenizer, vocab_size=100)
    with pytest.raises(
        ValueError, match=r"pad_token_id: the config has 1 but the tokenizer's pad token '<pad>' has id 0"
    ):
        vt.config_from_tokenizer(tokenizer, "decoder", pad_token_id=1)
    with pytest.raises(ValueError, match="unknown variant 'causal'"):
        vt.config_from_tokenizer(tokenizer, "causal")
    with pytest.raises(ValueError, match="config_class_or_variant"):
        vt.config_from_tokenizer(tokenizer, dict)


def test_check_tokenizer_matches_names_every_mismatch():
    tokenizer = trained("bpe", "seq2seq")
    config = vt.TransformerConfig(vocab_size=200, eos_token_id=1, decoder_start_token_id=57, **TINY_MODEL)
    with pytest.raises(ValueError) as error:
        vt.check_tokenizer_matches(tokenizer, config)
    message = str(error.value)
    assert "vocab_size: the tokenizer has 300 tokens (ids 0..299) but the config's vocab_size is 200" in message
    assert "eos_token_id: the config has 1 but the tokenizer's eos token '</s>' has id 3" in message
    assert "decoder_start_token_id: the config has 57" in message
    assert "pad_token_id" not in message and "bos_token_id" not in message  # those agree
    assert "config_from_tokenizer" in message  # and the fix

    learned = vt.TransformerEncoderConfig(
        vocab_size=300, position_embedding_type="learned", max_position_embeddings=16, **TINY_MODEL
    )
    with pytest.raises(ValueError, match="max_position_embeddings: learned positions cover 16 tokens"):
        vt.check_tokenizer_matches(trained("bpe", "encoder"), learned)
    # eos may be a list in a config, as for generation
    vt.check_tokenizer_matches(tokenizer, vt.config_from_tokenizer(tokenizer, eos_token_id=[3, 1]))


def test_check_tokenizer_matches_a_model_and_its_embedding():
    tokenizer = copy.deepcopy(trained("bpe", "decoder"))
    model = vt.TransformerForCausalLM(vt.config_from_tokenizer(tokenizer, num_layers=1, **TINY_MODEL))
    vt.check_tokenizer_matches(tokenizer, model)
    tokenizer.add_tokens(["<new_a>", "<new_b>"])
    with pytest.raises(ValueError, match=r"tokenizer has 302 tokens .*\n.*embedding has 300 rows"):
        vt.check_tokenizer_matches(tokenizer, model)
    # without the check, the model itself refuses the out-of-range id with a pointer to the fix
    with pytest.raises(ValueError, match="config_from_tokenizer"):
        model(**tokenizer("A man <new_b>", return_tensors="pt"))
    model.resize_token_embeddings(len(tokenizer))
    vt.check_tokenizer_matches(tokenizer, model)


# ------------------------------------------------------------------------------------------------ data collators


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_masked_lm_collator(algorithm):
    tokenizer = trained(algorithm, "encoder")
    features = [tokenizer(text) for text in EN[:4]]
    torch.manual_seed(0)
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=1.0)(features)
    originals = tokenizer.pad(features, return_tensors="pt")["input_ids"]
    special = torch.isin(originals, torch.tensor([PAD_TOKEN_ID, BOS_TOKEN_ID, EOS_TOKEN_ID]))
    # every ordinary token is a prediction target; [CLS], [SEP] and padding never are
    assert torch.equal(batch["labels"][~special], originals[~special])
    assert (batch["labels"][special] == -100).all()
    assert torch.equal(batch["input_ids"][special], originals[special])
    masked = batch["input_ids"] == MASK_TOKEN_ID
    assert 0.6 < masked[~special].float().mean() < 0.95  # 80% of the targets become the mask token
    model = vt.TransformerForMaskedLM(vt.config_from_tokenizer(tokenizer, "encoder", num_layers=1, **TINY_MODEL))
    assert torch.isfinite(model(**batch).loss)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_causal_lm_collator(algorithm):
    tokenizer = copy.deepcopy(trained(algorithm, "decoder"))
    tokenizer.add_eos_token = True  # training texts: <s> text </s>
    features = [tokenizer(text) for text in EN[:4]]
    batch = DataCollatorForLanguageModeling(tokenizer, mlm=False)(features)
    padding = batch["attention_mask"] == 0
    assert padding.any()
    assert (batch["labels"][padding] == -100).all()
    assert torch.equal(batch["labels"][~padding], batch["input_ids"][~padding])
    assert (batch["labels"] == EOS_TOKEN_ID).sum() == 4  # the model learns where each text ends
    model = vt.TransformerForCausalLM(vt.config_from_tokenizer(tokenizer, "decoder", num_layers=1, **TINY_MODEL))
    assert torch.isfinite(model(**batch).loss)


# --------------------------------------------------------------------------------------------------------- bad input


def test_unknown_algorithm_and_variant():
    with pytest.raises(ValueError, match=r"unknown algorithm 'sentencepiece': choose one of \['bpe', 'byte_bpe'"):
        vt.train_tokenizer(iter(TEXTS), algorithm="sentencepiece")
    with pytest.raises(
        ValueError, match=r"unknown variant 'causal': choose one of \['seq2seq', 'encoder', 'decoder'\]"
    ):
        vt.train_tokenizer(iter(TEXTS), variant="causal")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_corpus(algorithm, tmp_path):
    empty_file = tmp_path / "empty.txt"
    empty_file.write_text("")
    blank_file = tmp_path / "blank.txt"
    blank_file.write_text("\n  \n\t\n")
    cases = {
        "the iterator yielded no text": iter([]),
        "the list of files is empty": [],
        "every file is empty": [empty_file],
        "the dataset has no rows": datasets.Dataset.from_dict({"text": []}),
        "after normalisation it holds no text": iter(["", ""]),
    }
    if algorithm != "byte_bpe":  # whitespace is text to an exact byte-level tokenizer
        cases["after normalisation it holds no text "] = [blank_file]
    for reason, corpus in cases.items():
        with pytest.raises(ValueError, match=f"corpus is empty: {reason.strip()}"):
            train(corpus, algorithm)


def test_missing_file_and_texts_passed_as_a_list(tmp_path):
    files = write_corpus(tmp_path)
    missing = tmp_path / "train.fr"
    with pytest.raises(FileNotFoundError, match=f"corpus file '{missing}' does not exist"):
        train([*files, missing])
    # a list of strings is read as paths, never silently as texts; the error says how to pass texts
    with pytest.raises(FileNotFoundError, match=r"'A man rides a horse.' does not exist.*iter\(texts\)"):
        train(EN)
    with pytest.raises(ValueError, match="is not a file"):
        train([tmp_path])
    with pytest.raises(ValueError, match="got an item of type int"):
        train([files[0], 3])


def test_bad_dataset_columns_and_items():
    dataset = datasets.Dataset.from_dict({"en": EN, "de": DE, "id": list(range(len(EN)))})
    with pytest.raises(ValueError, match=r"text column\(s\) \['text'\] not found .* columns are \['en', 'de', 'id'\]"):
        train(dataset)
    with pytest.raises(ValueError, match=r"\['fr'\] not found"):
        train(dataset, text_column=["en", "fr"])
    with pytest.raises(ValueError, match="text column 'id' must hold strings"):
        train(dataset, text_column="id")
    # a streamed dataset may not know its columns before it is read: the same error comes from reading it
    streamed = datasets.IterableDataset.from_generator(lambda: iter([{"en": text} for text in EN]))
    assert streamed.column_names is None
    with pytest.raises(ValueError, match=r"text column 'text' not found in the dataset, whose columns are \['en'\]"):
        train(streamed)
    with pytest.raises(ValueError, match=r"pass one split, e.g. corpus\['train'\]"):
        train(datasets.DatasetDict({"train": dataset}), text_column="en")
    with pytest.raises(ValueError, match="its first item is a int"):
        train(iter([1, 2]))
    with pytest.raises(ValueError, match="corpus must be file path"):
        train(42)


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="use vocab_size >= 261"):
        train(iter(TEXTS), "byte_bpe", vocab_size=260)  # checked before training
    with pytest.raises(ValueError, match="vocab_size=5 is smaller than the alphabet of the corpus plus the 5 special"):
        train(iter(TEXTS), "bpe", vocab_size=5)
    # known only once the corpus is read: the message counts the alphabet
    alphabet = len({c for text in TEXTS for c in text.replace(" ", "")}) + 1  # + the word marker "▁"
    with pytest.raises(
        ValueError, match=rf"vocab_size=30 .* \({alphabet} symbols in this corpus\) .* >= {alphabet + 5}"
    ):
        train(iter(TEXTS), "bpe", vocab_size=30)
    with pytest.raises(ValueError, match="vocab_size=30 is smaller than the alphabet of the corpus"):
        train(iter(TEXTS), "unigram", vocab_size=30)
    with pytest.raises(ValueError, match="vocab_size=30 is smaller than the alphabet"):
        train(iter(TEXTS), "wordpiece", vocab_size=30)
    for bad in (0, -3, 2.5, True, "300"):
        with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
            train(iter(TEXTS), vocab_size=bad)
    with pytest.raises(ValueError, match="min_frequency does not apply to algorithm='unigram'"):
        train(iter(TEXTS), "unigram", min_frequency=2)


def test_min_frequency_limits_merges():
    rare = train(iter(TEXTS), min_frequency=1)
    frequent = train(iter(TEXTS), min_frequency=3)
    assert len(frequent) < len(rare)
    assert "▁Mann" in rare.get_vocab() and "▁Mann" not in frequent.get_vocab()


# ------------------------------------------------------------------------------------------------- command line


def test_cli_trains_and_saves_a_loadable_tokenizer(tmp_path, capsys):
    files = write_corpus(tmp_path)
    output = tmp_path / "out" / "tokenizer"
    args = [
        *map(str, files),
        "--output-dir",
        str(output),
        "--vocab-size",
        "200",
        "--variant",
        "encoder",
        "--no-progress",
    ]
    assert cli.main(args) == 0
    assert sorted(os.listdir(output)) == ["tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(output.parent)) == ["tokenizer"]  # no temporary directory left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o777 & ~umask  # an ordinary directory, not a private temp one
    assert "AutoTokenizer.from_pretrained" in capsys.readouterr().err
    loaded = AutoTokenizer.from_pretrained(output, local_files_only=True)
    expected = train(files, vocab_size=200, variant="encoder")
    assert loaded(TEXTS)["input_ids"] == expected(TEXTS)["input_ids"]
    assert len(loaded) == 200 and loaded.cls_token == "<s>"


def test_cli_replaces_only_with_overwrite(tmp_path, capsys):
    files = [str(path) for path in write_corpus(tmp_path)]
    output = tmp_path / "tokenizer"
    output.mkdir()
    (output / "old.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*files, "-o", str(output), "--vocab-size", "200", "--no-progress"])
    assert exit_info.value.code == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err
    assert os.listdir(output) == ["old.txt"]
    assert cli.main([*files, "-o", str(output), "--vocab-size", "200", "--no-progress", "--overwrite"]) == 0
    assert sorted(os.listdir(output)) == ["tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(tmp_path)) == ["tokenizer", "train.de", "train.en"]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["missing.txt"], "corpus file '.*missing.txt' does not exist"),
        (["--vocab-size", "20"], r"vocab_size=20 is smaller than the alphabet of the corpus \(\d+ symbols"),
        (["--algorithm", "unigram", "--min-frequency", "2"], "min_frequency does not apply"),
    ],
)
def test_cli_errors_leave_nothing_behind(tmp_path, capsys, extra, message):
    files = [str(path) for path in write_corpus(tmp_path)]
    output = tmp_path / "tokenizer"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*files, *extra, "-o", str(output), "--no-progress"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("vanilla-transformer-train-tokenizer: error: ")
    assert sorted(os.listdir(tmp_path)) == ["train.de", "train.en"]  # no output, no temporary directory


def test_cli_shows_the_tokenizers_progress_bar_by_default(tmp_path, monkeypatch):
    seen = {}

    def fake_train(files, **options):
        seen.update(options, files=files)
        return trained("bpe")

    monkeypatch.setattr(cli, "train_tokenizer", fake_train)
    cli.main(["a.txt", "b.txt", "-o", str(tmp_path / "a")])
    assert seen["show_progress"] is True and seen["files"] == ["a.txt", "b.txt"]
    assert seen["algorithm"] == "bpe" and seen["vocab_size"] == 37000 and seen["variant"] == "seq2seq"
    cli.main(["a.txt", "-o", str(tmp_path / "b"), "--no-progress", "--algorithm", "wordpiece", "--lowercase"])
    assert seen["show_progress"] is False and seen["algorithm"] == "wordpiece" and seen["lowercase"] is True
