"""The model after a fixed number of training tokens (`examples/milestones.py`)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from vanilla_transformer.examples.milestones import TokenMilestoneCallback, milestone_dir

from training_helpers import run_trainer, tiny_translation_data


def tokens_after_each_step(output_dir):
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    return [entry["num_input_tokens_seen"] for entry in state["log_history"] if "loss" in entry]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """4 steps of 8 pairs, a checkpoint at each, and a milestone between the tokens of step 2 and those of step 3."""
    tokenizer, features = tiny_translation_data()
    probe = tmp_path_factory.mktemp("probe")
    counts = [sum(len(ids) for ids in features[8 * i : 8 * (i + 1)]["input_ids"]) for i in range(4)]
    milestone = counts[0] + counts[1] + 1  # reached at step 3
    run_trainer(
        probe,
        tokenizer,
        features,
        steps=4,
        callbacks=[TokenMilestoneCallback(milestone)],
        include_num_input_tokens_seen="non_padding",
        save_strategy="steps",
        save_steps=1,
    )
    return probe, milestone


def test_the_snapshot_is_the_model_of_the_first_step_past_the_milestone(run):
    output_dir, milestone = run
    tokens = tokens_after_each_step(output_dir)
    first = next(step for step, seen in enumerate(tokens, start=1) if seen >= milestone)
    assert first == 3
    snapshot = load_file(milestone_dir(output_dir, milestone) / "model.safetensors")
    checkpoint = load_file(output_dir / f"checkpoint-{first}" / "model.safetensors")
    before = load_file(output_dir / f"checkpoint-{first - 1}" / "model.safetensors")
    assert all(torch.equal(snapshot[name], checkpoint[name]) for name in checkpoint)
    assert not all(torch.equal(snapshot[name], before[name]) for name in before)


def test_the_snapshot_holds_the_tokenizer(run):
    output_dir, milestone = run
    assert (milestone_dir(output_dir, milestone) / "tokenizer.json").is_file()


def test_a_new_run_removes_the_snapshot_of_an_earlier_one(tmp_path):
    tokenizer, features = tiny_translation_data()
    stale = milestone_dir(tmp_path, 10**9)
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"from an earlier run")
    run_trainer(
        tmp_path,
        tokenizer,
        features,
        steps=1,
        callbacks=[TokenMilestoneCallback(10**9)],
        include_num_input_tokens_seen="non_padding",
    )
    assert not stale.exists()  # and this run did not reach 10^9 tokens


def test_without_token_counting_the_callback_says_what_to_set(tmp_path):
    tokenizer, features = tiny_translation_data()
    with pytest.raises(ValueError, match="include_num_input_tokens_seen='non_padding'"):
        run_trainer(tmp_path, tokenizer, features, steps=1, callbacks=[TokenMilestoneCallback(100)])


@pytest.mark.parametrize("tokens", [0, -1, 1.5])
def test_a_bad_milestone_is_a_value_error(tokens):
    with pytest.raises(ValueError, match="positive number of tokens"):
        TokenMilestoneCallback(tokens)
