"""Batches of up to a number of tokens, rather than of a number of examples.

The paper's batches held about 25,000 source and 25,000 target tokens each (section 5.1), and fairseq's `--max-tokens`
batches likewise: many short sentences or few long ones, padded to the longest. `Trainer` only batches a fixed number
of examples (`per_device_train_batch_size`), so a batch of short sentences wastes the hardware and one of long ones
the memory, and the number of tokens an update sees swings with the lengths drawn. `MaxTokensBatchSampler` makes
batches of at most `max_tokens` padded tokens, and `TokenBatchingMixin` hands it to a `Trainer`:

    trainer = InOrderSeq2SeqTrainer(model=model, args=args, train_dataset=..., max_tokens_per_batch=4096)

Each epoch shuffles the examples with the seed and the epoch number, sorts them by length (the shuffle breaks the ties,
so equal lengths are mixed anew), cuts the sorted order into batches and shuffles the batches. Every example is seen
once an epoch; the same seed gives the same batches. Under `accelerate launch` the batches are dealt out to the
processes by `accelerate`, as the batches of any batch sampler are, so each update sees up to `max_tokens` tokens per
process. `per_device_train_batch_size` is then unused for training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import torch
from torch.utils.data import DataLoader, Sampler
from transformers.trainer_utils import seed_worker

from ..modeling.configuration_transformer import check_positive_int


class MaxTokensBatchSampler(Sampler[list[int]]):
    r"""
    Batches of dataset indices whose padded size, `len(batch) * max(lengths of the batch)`, is at most `max_tokens`.

    Args:
        lengths (`Sequence[int]`): the length of each example in tokens (for a sentence pair, the longer side: both are
            padded to their longest).
        max_tokens (`int`): the most padded tokens in a batch. An example longer than this is an error: truncate it.
        seed (`int`): the seed of the shuffles; epoch `e` shuffles with `seed + e` (`set_epoch`, which `Trainer` calls).
        shuffle (`bool`): `False` keeps the examples sorted by length and the batches in that order.
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int = 0, shuffle: bool = True):
        check_positive_int("max_tokens", max_tokens, "number of tokens")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        if self.lengths.numel() == 0:
            raise ValueError("MaxTokensBatchSampler got no examples.")
        longest = int(self.lengths.max())
        if longest > max_tokens:
            raise ValueError(
                f"an example of {longest} tokens does not fit in a batch of max_tokens={max_tokens}: raise "
                "max_tokens or truncate the examples (e.g. --max_source_length / --max_target_length)."
            )
        self.max_tokens, self.seed, self.shuffle, self.epoch = max_tokens, seed, shuffle, 0
        # Sorting by length puts the same lengths in the same places every epoch, so the batch sizes (and their
        # number, which `Trainer` needs for its schedule) do not change between epochs: only who is in them.
        self.sizes = self._batch_sizes(self.lengths.sort().values.tolist())

    def _batch_sizes(self, sorted_lengths: list[int]) -> list[int]:
        sizes, start = [], 0
        for end, length in enumerate(sorted_lengths):
            if (end + 1 - start) * length > self.max_tokens:  # the longest so far is this one: lengths ascend
                sizes.append(end - start)
                start = end
        sizes.append(len(sorted_lengths) - start)
        return sizes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.shuffle:
            order = torch.randperm(len(self.lengths), generator=generator)
            order = order[self.lengths[order].sort(stable=True).indices]
        else:
            order = self.lengths.sort(stable=True).indices
        batches = list(torch.split(order, self.sizes))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        for batch in batches:
            yield batch.tolist()


def example_lengths(dataset, columns: Sequence[str] = ("input_ids", "labels")) -> list[int]:
    """The length of each example of a `datasets.Dataset`: its longest sequence among `columns` (those it has as
    sequences: a classifier's `labels` are numbers)."""
    first = dataset[0] if len(dataset) else {}
    present = [name for name in columns if name in dataset.column_names and _is_sequence(first[name])]
    if not present:
        raise ValueError(f"cannot batch by tokens: the dataset has none of the columns {list(columns)}.")
    per_column = [[len(sequence) for sequence in dataset[name]] for name in present]
    return [max(lengths) for lengths in zip(*per_column)]


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) >= 1


class TokenBatchingMixin:
    """Mix into a `Trainer` (sub)class, before it in the bases: `max_tokens_per_batch=N` makes its training batches
    `MaxTokensBatchSampler` batches of at most N padded tokens per process. Without it, the `Trainer` is unchanged."""

    def __init__(self, *args, max_tokens_per_batch: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if max_tokens_per_batch is not None:
            check_positive_int("max_tokens_per_batch", max_tokens_per_batch, "number of tokens")
        self.max_tokens_per_batch = max_tokens_per_batch

    def get_train_dataloader(self) -> DataLoader:
        if self.max_tokens_per_batch is None:
            return super().get_train_dataloader()
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        if not hasattr(self.train_dataset, "column_names"):
            raise ValueError(
                "max_tokens_per_batch needs the training set as a `datasets.Dataset` (its lengths are read from its "
                f"columns); got a {type(self.train_dataset).__name__}."
            )
        if self.args.train_sampling_strategy in ("sequential", "batch_rebalance"):
            raise ValueError(
                f"max_tokens_per_batch makes its own batches (sorted by length, shuffled): it cannot also follow "
                f"train_sampling_strategy={self.args.train_sampling_strategy!r}. Leave that at 'random'."
            )
        dataset = self._remove_unused_columns(self.train_dataset, description="Training")
        sampler = MaxTokensBatchSampler(example_lengths(dataset), self.max_tokens_per_batch, seed=self.args.seed)
        # The loader `Trainer._get_dataloader` makes, but with our batch sampler: the library passes a batch sampler
        # only for its own rank-aware `BatchRebalanceSampler`, and takes it out of accelerate's sharding.
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            multiprocessing_context=self.args.dataloader_multiprocessing_context,
            prefetch_factor=self.args.dataloader_prefetch_factor,
            in_order=self.args.dataloader_in_order,
            worker_init_fn=partial(
                seed_worker, num_workers=self.args.dataloader_num_workers, rank=self.args.process_index
            ),
        )
        # `accelerate` deals the batches out to the processes and passes `set_epoch` on to the sampler.
        return self.accelerator.prepare(loader)


__all__ = ["MaxTokensBatchSampler", "TokenBatchingMixin", "example_lengths"]
