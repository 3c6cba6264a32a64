"""Tiny configurations and inputs for every model class, in the spirit of transformers' `ModelTester` helpers; and a
tiny run of the translation example with what the `accelerate launch` tests need around it."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

import vanilla_transformer as vt


VOCAB_SIZE = 99
BATCH_SIZE = 3
SEQ_LENGTH = 7
TARGET_LENGTH = 5
FIRST_REGULAR_ID = 5  # ids below are special tokens: <pad>, <unk>, <s>, </s>, <mask>

TINY = dict(vocab_size=VOCAB_SIZE, d_model=32, num_heads=4, d_ff=37, dropout=0.0)
LAYERS = {
    vt.TransformerConfig: dict(encoder_layers=2, decoder_layers=3),  # unequal on purpose
    vt.TransformerEncoderConfig: dict(num_layers=2, num_labels=3),
    vt.TransformerDecoderConfig: dict(num_layers=2),
}

CONFIG_OF = {
    vt.TransformerModel: vt.TransformerConfig,
    vt.TransformerForConditionalGeneration: vt.TransformerConfig,
    vt.TransformerEncoderModel: vt.TransformerEncoderConfig,
    vt.TransformerForMaskedLM: vt.TransformerEncoderConfig,
    vt.TransformerForSequenceClassification: vt.TransformerEncoderConfig,
    vt.TransformerForTokenClassification: vt.TransformerEncoderConfig,
    vt.TransformerDecoderModel: vt.TransformerDecoderConfig,
    vt.TransformerForCausalLM: vt.TransformerDecoderConfig,
    vt.TransformerForQuestionAnswering: vt.TransformerEncoderConfig,
    vt.TransformerDecoderForSequenceClassification: vt.TransformerDecoderConfig,
    vt.TransformerEncoderDecoderForSequenceClassification: vt.TransformerConfig,
}
# The common tests run on the paper's models and the heads every variant has; the heads added beyond them (question
# answering, the decoder's and the encoder-decoder's classifiers) have their own tests (test_heads.py) and join the
# Auto-class and input-checking tests.
EXTRA_HEAD_CLASSES = [
    vt.TransformerForQuestionAnswering,
    vt.TransformerDecoderForSequenceClassification,
    vt.TransformerEncoderDecoderForSequenceClassification,
]
ALL_MODEL_CLASSES = [c for c in CONFIG_OF if c not in EXTRA_HEAD_CLASSES]
HEAD_CLASSES = [
    c
    for c in ALL_MODEL_CLASSES
    if c not in (vt.TransformerModel, vt.TransformerEncoderModel, vt.TransformerDecoderModel)
]
GENERATIVE_CLASSES = [vt.TransformerForConditionalGeneration, vt.TransformerForCausalLM]


def tiny_config(config_class, **overrides):
    return config_class(**{**TINY, **LAYERS[config_class], **overrides})


def tiny_model(model_class, seed=0, **overrides):
    torch.manual_seed(seed)
    return model_class(tiny_config(CONFIG_OF[model_class], **overrides)).eval()


def is_seq2seq(model_class) -> bool:
    return CONFIG_OF[model_class] is vt.TransformerConfig


def random_ids(batch_size, length, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(FIRST_REGULAR_ID, VOCAB_SIZE, (batch_size, length), generator=generator)


def padding_mask(batch_size, length, lengths, left=False):
    """A 2D mask with the given number of real tokens per row, padded on the right (or left)."""
    mask = torch.zeros(batch_size, length, dtype=torch.long)
    for row, n in enumerate(lengths):
        if left:
            mask[row, length - n :] = 1
        else:
            mask[row, :n] = 1
    return mask


def model_inputs(model_class, batch_size=BATCH_SIZE, seq_length=SEQ_LENGTH, labels=False, seed=0):
    """Inputs for one forward of `model_class`, with a padded source (the first row keeps all its tokens)."""
    lengths = [seq_length] + [max(1, seq_length - 2 - i) for i in range(batch_size - 1)]
    attention_mask = padding_mask(batch_size, seq_length, lengths)
    input_ids = random_ids(batch_size, seq_length, seed).masked_fill(attention_mask == 0, 0)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if is_seq2seq(model_class) and model_class is not vt.TransformerEncoderDecoderForSequenceClassification:
        inputs["decoder_input_ids"] = random_ids(batch_size, TARGET_LENGTH, seed + 1)  # the classifier makes its own
    if labels:
        inputs["labels"] = make_labels(model_class, inputs, seed)
    return inputs


def make_labels(model_class, inputs, seed=0):
    generator = torch.Generator().manual_seed(seed + 7)
    if model_class is vt.TransformerForSequenceClassification:
        return torch.randint(0, 3, (inputs["input_ids"].shape[0],), generator=generator)
    if model_class is vt.TransformerForTokenClassification:
        return torch.randint(0, 3, inputs["input_ids"].shape, generator=generator).masked_fill(
            inputs["attention_mask"] == 0, -100
        )
    if is_seq2seq(model_class):
        return random_ids(*inputs["decoder_input_ids"].shape, seed + 2)
    return inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)


def main_output(model_class, outputs) -> torch.Tensor:
    return (
        outputs.last_hidden_state
        if model_class in (vt.TransformerModel, vt.TransformerEncoderModel, vt.TransformerDecoderModel)
        else torch.cat([outputs.start_logits, outputs.end_logits], dim=-1)
        if model_class is vt.TransformerForQuestionAnswering
        else outputs.logits
    )


# --- the examples under `accelerate launch` -------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = REPO / "examples" / "accelerate_configs"
TRANSLATION_SCRIPT = REPO / "examples" / "translation.py"
# A tiny run of examples/translation.py: a 1-layer model of width 32 on 256 generated pairs, evaluated on a few.
TRANSLATION_D_MODEL = 32
TRANSLATION_TINY = [
    "--synthetic_train_size",
    "256",
    "--d_model",
    str(TRANSLATION_D_MODEL),
    "--num_heads",
    "2",
    "--d_ff",
    "64",
    "--num_layers",
    "1",
    "--warmup_steps",
    "4",
    "--logging_steps",
    "1",
    "--max_eval_samples",
    "16",
    "--disable_tqdm",
    "true",
    "--num_samples",
    "2",
    "--seed",
    "3",
    "--generation_max_length",
    "24",  # an untrained model stops only there
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_on_two_cpu_processes(script: str, folder: Path) -> list:
    """Run the Python `script` on two CPU processes (`accelerate launch`, `cpu_2proc.yaml`) with the arguments `folder`
    and this tests folder (for its imports); return what each process wrote into `folder/rank<N>.json`, by rank."""
    path = folder / "two_processes.py"
    path.write_text(script)
    launch = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(Path(__file__).resolve().parents[1] / "examples" / "accelerate_configs" / "cpu_2proc.yaml"),
            "--main_process_port",
            str(free_port()),  # not the default 29500, which another run on the machine may hold
            str(path),
            str(folder),
            str(Path(__file__).parent),
        ],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def trainer_state(run_dir) -> dict:
    return json.loads((Path(run_dir) / "trainer_state.json").read_text())


def logged_losses(run_dir) -> dict[int, float]:
    """The training loss the Trainer logged at each step of a run."""
    return {entry["step"]: entry["loss"] for entry in trainer_state(run_dir)["log_history"] if "loss" in entry}
