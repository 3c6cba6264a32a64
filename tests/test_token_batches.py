"""Batches of up to a number of tokens (`training/token_batches.py`): alone, through `Trainer`, and dealt out to two
processes by `accelerate launch`."""

from collections import Counter

import datasets
import pytest
import torch

from vanilla_transformer.training import InOrderSeq2SeqTrainer, MaxTokensBatchSampler
from vanilla_transformer.training.token_batches import example_lengths

from helpers import run_on_two_cpu_processes
from training_helpers import tiny_trainer, tiny_translation_data


LENGTHS = [int(n) for n in torch.randint(1, 40, (500,), generator=torch.Generator().manual_seed(0))]


def padded_size(batch, lengths=LENGTHS):
    return len(batch) * max(lengths[i] for i in batch)


def test_every_example_is_in_exactly_one_batch_of_an_epoch():
    sampler = MaxTokensBatchSampler(LENGTHS, max_tokens=200, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        seen = [i for batch in sampler for i in batch]
        assert sorted(seen) == list(range(len(LENGTHS)))


def test_no_batch_exceeds_max_tokens_and_batches_are_full():
    sampler = MaxTokensBatchSampler(LENGTHS, max_tokens=200, seed=1)
    batches = list(sampler)
    assert all(padded_size(batch) <= 200 for batch in batches)
    # Greedy cutting of the sorted order: adding the next-longest example to a batch would have broken the limit, so
    # (with 500 examples of 1-39 tokens) the mean fill is high.
    assert sum(sum(LENGTHS[i] for i in b) for b in batches) / sum(padded_size(b) for b in batches) > 0.9


def test_the_number_of_batches_is_len_and_the_same_every_epoch():
    sampler = MaxTokensBatchSampler(LENGTHS, max_tokens=150, seed=3)
    counts = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        counts.append(len(list(sampler)))
    assert counts == [len(sampler)] * 4


def test_the_same_seed_and_epoch_give_the_same_batches():
    a, b = MaxTokensBatchSampler(LENGTHS, 200, seed=5), MaxTokensBatchSampler(LENGTHS, 200, seed=5)
    a.set_epoch(2), b.set_epoch(2)
    assert list(a) == list(b)


def test_epochs_and_seeds_shuffle_the_batches_and_their_members():
    sampler = MaxTokensBatchSampler(LENGTHS, 200, seed=5)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    other_seed = list(MaxTokensBatchSampler(LENGTHS, 200, seed=6))
    assert other_seed != first
    # Not only the order of the batches: which examples share a batch changes too.
    assert {frozenset(b) for b in other_seed} != {frozenset(b) for b in first}


def test_without_shuffling_batches_come_sorted_by_length():
    batches = list(MaxTokensBatchSampler(LENGTHS, 200, shuffle=False))
    lengths = [LENGTHS[i] for batch in batches for i in batch]
    assert lengths == sorted(LENGTHS)


@pytest.mark.parametrize("max_tokens", [0, -5, 2.5, None])
def test_a_bad_max_tokens_is_a_value_error(max_tokens):
    with pytest.raises(ValueError, match="max_tokens must be a positive number"):
        MaxTokensBatchSampler(LENGTHS, max_tokens)


def test_an_example_longer_than_max_tokens_is_a_value_error_naming_the_fix():
    with pytest.raises(ValueError, match="example of 39 tokens does not fit.*truncate"):
        MaxTokensBatchSampler(LENGTHS, max_tokens=30)


def test_example_lengths_take_the_longer_side_of_a_pair():
    _, features = tiny_translation_data()
    lengths = example_lengths(features)
    assert lengths == [max(len(s), len(t)) for s, t in zip(features["input_ids"], features["labels"])]
    assert lengths != [len(s) for s in features["input_ids"]]  # the targets are longer for some pairs


def test_example_lengths_skip_a_classifiers_number_labels():
    dataset = datasets.Dataset.from_dict({"input_ids": [[1, 2, 3], [4]], "labels": [0, 1]})
    assert example_lengths(dataset) == [3, 1]


def test_example_lengths_need_a_sequence_column():
    dataset = datasets.Dataset.from_dict({"text": ["a", "b"], "labels": [0, 1]})
    with pytest.raises(ValueError, match="has none of the columns"):
        example_lengths(dataset)


def trainer(tmp_path, max_tokens, **overrides):
    tokenizer, features = tiny_translation_data()
    options = dict(max_tokens_per_batch=max_tokens)
    return tiny_trainer(
        tmp_path, tokenizer, features, trainer_class=InOrderSeq2SeqTrainer, trainer_options=options, **overrides
    )


def test_the_trainers_batches_hold_at_most_max_tokens_padded_tokens(tmp_path):
    _, features = tiny_translation_data()
    loader = trainer(tmp_path, max_tokens=96).get_train_dataloader()
    sizes = [batch["input_ids"].shape[0] for batch in loader]
    for batch in loader:
        assert batch["input_ids"].numel() <= 96 and batch["labels"].numel() <= 96
    assert sum(sizes) == len(features)
    assert len(set(sizes)) > 1  # short pairs make bigger batches than long ones


def test_the_trainer_takes_as_many_steps_an_epoch_as_there_are_token_batches(tmp_path):
    _, features = tiny_translation_data()
    run = trainer(tmp_path, max_tokens=96)
    run.train()
    batches = len(MaxTokensBatchSampler(example_lengths(features), 96))
    assert batches != len(features) // 8  # not what per_device_train_batch_size would have given
    assert run.state.global_step == 2 * batches


def test_each_epoch_of_the_trainer_draws_new_batches(tmp_path):
    loader = trainer(tmp_path, max_tokens=96).get_train_dataloader()
    epochs = []
    for epoch in range(2):
        loader.set_epoch(epoch)  # what the Trainer calls at the start of each epoch
        epochs.append([batch["input_ids"].tolist() for batch in loader])
    assert epochs[0] != epochs[1]


def test_without_max_tokens_the_trainer_batches_as_the_library_does(tmp_path):
    loader = trainer(tmp_path, max_tokens=None).get_train_dataloader()
    assert {batch["input_ids"].shape[0] for batch in loader} == {8}


def test_the_token_loader_keeps_the_loader_settings_of_the_training_arguments(tmp_path):
    options = dict(dataloader_num_workers=1, dataloader_multiprocessing_context="spawn", dataloader_in_order=False)
    loader = trainer(tmp_path, max_tokens=96, **options).get_train_dataloader()
    assert (loader.num_workers, loader.in_order) == (1, False)
    assert loader.multiprocessing_context is not None and loader.multiprocessing_context.get_start_method() == "spawn"


@pytest.mark.parametrize("strategy", ["sequential", "batch_rebalance"])
def test_a_sampling_strategy_token_batches_cannot_follow_is_a_value_error(tmp_path, strategy):
    with pytest.raises(ValueError, match=f"cannot also follow train_sampling_strategy='{strategy}'"):
        trainer(tmp_path, max_tokens=96, train_sampling_strategy=strategy).get_train_dataloader()


def test_a_bad_max_tokens_per_batch_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="max_tokens_per_batch must be a positive number"):
        trainer(tmp_path, max_tokens=0)


# A child of `accelerate launch`: writes the source lengths of the batches its process trains on, for two epochs.
DEAL_OUT = """
import json, sys
sys.path.insert(0, sys.argv[2])
from test_token_batches import trainer
from pathlib import Path

run = trainer(Path(sys.argv[1]), max_tokens=96)
loader = run.get_train_dataloader()
epochs = []
for epoch in range(2):
    # What Trainer does at the start of each epoch (transformers 5.24, `_inner_training_loop`): accelerate's
    # `set_epoch`, and the same call on the batch sampler inside accelerate's shard wrapper, which it does not reach.
    loader.set_epoch(epoch)
    getattr(loader.batch_sampler, "batch_sampler", loader.batch_sampler).set_epoch(epoch)
    epochs.append([[int(n) for n in batch["attention_mask"].sum(1)] for batch in loader])
Path(sys.argv[1], f"rank{run.args.process_index}.json").write_text(json.dumps(epochs))
"""


@pytest.mark.slow
def test_two_processes_share_the_batches_of_an_epoch_between_them(tmp_path):
    ranks = run_on_two_cpu_processes(DEAL_OUT, tmp_path)
    _, features = tiny_translation_data()
    all_lengths = Counter(len(ids) for ids in features["input_ids"])
    for epoch in range(2):
        both = [batch for rank in ranks for batch in rank[epoch]]
        assert len(ranks[0][epoch]) == len(ranks[1][epoch])  # the same number of steps on both
        # Together they see every example (accelerate repeats a few to even out the last step).
        seen = Counter(length for batch in both for length in batch)
        assert all(seen[length] >= count for length, count in all_lengths.items())
        assert sum(seen.values()) - len(features) < max(len(batch) for batch in both)
    assert ranks[0][0] != ranks[1][0]  # not the same batches on both
    assert ranks[0][0] != ranks[0][1]  # a new order each epoch
