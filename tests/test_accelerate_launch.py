"""The shipped `accelerate launch` configs (examples/accelerate_configs/) and a run over two machines.

Each config loads with accelerate's own loader; none names a file by a path relative to the folder it is launched
from; none but cpu_2proc.yaml (CI's 2-process config, named for its count) fixes the number of processes, which comes
from `--num_processes` and, over several machines, is divided among them. Then two `accelerate launch` on this one
box, as machine 0 and machine 1 of multi_node.yaml, train the translation example together on the CPU and reach the
losses of one process with the same global batch.

On a CPU, accelerate 1.x's `--cpu` runs one plain process per launch (several only through mpirun), so it cannot
join machines; the multi-GPU distributed type can: it starts torchrun, whose processes train on the CPU with gloo
because the examples default to --use_cpu on a machine without a GPU.
"""

import os
import signal
import subprocess
import sys

import pytest
import torch
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
from transformers import AutoModelForSeq2SeqLM

import vanilla_transformer as vt
from vanilla_transformer.examples import synthetic_data, translation

from helpers import (
    ACCELERATE_CONFIGS,
    TRANSLATION_SCRIPT,
    TRANSLATION_TINY,
    free_port,
    logged_losses,
    trainer_state,
)


CONFIGS = sorted(path.name for path in ACCELERATE_CONFIGS.glob("*.yaml"))
SCALABLE = [name for name in CONFIGS if name != "cpu_2proc.yaml"]  # every config but CI's 2-process one
CONFIG = pytest.mark.parametrize("name", CONFIGS)
SCALABLE_CONFIG = pytest.mark.parametrize("name", SCALABLE)


def raw(name) -> dict:
    return yaml.safe_load((ACCELERATE_CONFIGS / name).read_text())


def resolved(name, *arguments):
    """The launch arguments accelerate settles on for `accelerate launch --config_file <name> <arguments> train.py`,
    before it starts anything."""
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(ACCELERATE_CONFIGS / name), *arguments, "train.py"])
    args, _, _ = _validate_launch_command(args)
    return args


def strings(value):
    """Every string in a parsed YAML document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# --- the configs ------------------------------------------------------------------------------------------------------


def test_every_distributed_setup_has_a_config():
    assert set(CONFIGS) == {"cpu_2proc.yaml", "multi_gpu.yaml", "fsdp.yaml", "deepspeed_zero2.yaml", "multi_node.yaml"}


@CONFIG
def test_each_config_loads_with_accelerates_own_loader(name):
    assert load_config_from_file(str(ACCELERATE_CONFIGS / name)).compute_environment.value == "LOCAL_MACHINE"


@CONFIG
def test_no_config_names_a_relative_path(name):
    # a relative path is read from the folder accelerate is launched from: configs must work from any folder
    paths = [s for s in strings(raw(name)) if "/" in s or s.endswith((".json", ".yaml", ".yml"))]
    assert all(os.path.isabs(path) for path in paths), paths


@SCALABLE_CONFIG
def test_no_config_but_cis_fixes_the_number_of_processes(name):
    assert "num_processes" not in raw(name)


def test_the_ci_config_runs_two_processes():
    assert load_config_from_file(str(ACCELERATE_CONFIGS / "cpu_2proc.yaml")).num_processes == 2


@SCALABLE_CONFIG
def test_a_launch_without_num_processes_asks_for_it(name):
    with pytest.raises(ValueError, match="--num_processes"):
        resolved(name, "--main_process_port", str(free_port()))


@pytest.mark.parametrize("count", [1, 2, 8, 16])
@pytest.mark.parametrize("name", ["multi_gpu.yaml", "fsdp.yaml"])
def test_a_one_machine_config_starts_as_many_processes_as_asked_for(name, count):
    args = resolved(name, "--num_processes", str(count), "--main_process_port", str(free_port()))
    prepare_multi_gpu_env(args)
    assert args.nproc_per_node == str(count)


@pytest.mark.parametrize("count", [1, 2, 8, 16])
def test_the_deepspeed_config_starts_as_many_processes_as_asked_for(count):
    args = resolved("deepspeed_zero2.yaml", "--num_processes", str(count), "--main_process_port", str(free_port()))
    args.deepspeed_fields_from_accelerate_config = ""
    prepare_deepspeed_cmd_env(args)
    assert args.nproc_per_node == str(count)


def multi_node_launch(rank, count=16, machines=None):
    """What machine `rank` of multi_node.yaml starts for `--num_processes count` (and `--num_machines machines`)."""
    arguments = ["--num_processes", str(count), "--machine_rank", str(rank), "--main_process_ip", "10.0.0.1"]
    arguments += ["--main_process_port", str(free_port())] + (["--num_machines", str(machines)] if machines else [])
    args = resolved("multi_node.yaml", *arguments)
    prepare_multi_gpu_env(args)
    return args


def test_the_multi_node_config_spans_two_machines_unless_told_otherwise():
    assert multi_node_launch(1).nnodes == "2"


def test_the_number_of_machines_comes_from_the_command_line_too():
    assert multi_node_launch(1, count=32, machines=4).nnodes == "4"


@pytest.mark.parametrize("count, machines, per_machine", [(16, None, "8"), (2, None, "1"), (32, 4, "8")])
def test_each_machine_starts_its_share_of_the_processes(count, machines, per_machine):
    assert multi_node_launch(1, count, machines).nproc_per_node == per_machine


@pytest.mark.parametrize("rank", [0, 1])
def test_each_machine_takes_its_rank_from_the_command_line(rank):
    assert multi_node_launch(rank).node_rank == rank


def test_every_machine_meets_at_the_main_process_address():
    args = multi_node_launch(1)  # torchrun's rendezvous endpoint, or its master address (same_network)
    endpoint = getattr(args, "rdzv_endpoint", None) or f"{args.master_addr}:{args.master_port}"
    assert endpoint.startswith("10.0.0.1:")


def test_the_multi_node_config_names_no_main_process_address():
    assert "main_process_ip" not in raw("multi_node.yaml")  # machine 0's address: each launch passes it


@pytest.mark.parametrize("rank", [0, 1])
def test_the_deepspeed_config_spans_machines_as_multi_node_yaml_does(rank):
    arguments = ["--num_processes", "16", "--num_machines", "2", "--machine_rank", str(rank)]
    arguments += ["--main_process_ip", "10.0.0.1", "--main_process_port", str(free_port())]
    args = resolved("deepspeed_zero2.yaml", *arguments)
    args.deepspeed_fields_from_accelerate_config = ""
    prepare_deepspeed_cmd_env(args)  # torchrun on each machine, its share of the processes
    assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("2", rank, "8")


@pytest.fixture
def deepspeed_config(monkeypatch):
    """The DeepSpeed config a process of `accelerate launch --config_file deepspeed_zero2.yaml` builds, before the
    Trainer fills in its "auto" values."""
    args = resolved("deepspeed_zero2.yaml", "--num_processes", "8", "--main_process_port", str(free_port()))
    args.deepspeed_fields_from_accelerate_config = ",".join(raw("deepspeed_zero2.yaml")["deepspeed_config"])
    _, env = prepare_deepspeed_cmd_env(args)
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    return DeepSpeedPlugin().deepspeed_config


def test_the_deepspeed_config_is_zero_stage_2(deepspeed_config):
    assert deepspeed_config["zero_optimization"]["stage"] == 2


def test_the_deepspeed_config_offloads_nothing(deepspeed_config):
    zero = deepspeed_config["zero_optimization"]
    assert zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "none"


@pytest.mark.parametrize(
    "key", ["train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"]
)
def test_the_deepspeed_config_leaves_batch_sizes_accumulation_and_clipping_to_the_trainer(deepspeed_config, key):
    assert deepspeed_config[key] == "auto"


@pytest.mark.parametrize("section", ["optimizer", "scheduler"])
def test_the_deepspeed_config_leaves_the_optimizer_and_schedule_to_the_trainer(deepspeed_config, section):
    assert section not in deepspeed_config  # the paper's Adam and inverse-square-root schedule


def test_the_deepspeed_config_leaves_the_precision_to_the_trainer():
    assert "mixed_precision" not in raw("deepspeed_zero2.yaml")  # --bf16 / --fp16 decide


# --- two machines on one box ------------------------------------------------------------------------------------------

STEPS = 6


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory):
    """Machine 0 and machine 1 of multi_node.yaml, launched together from a folder outside the repository, one
    process each with 4 examples a step; and one process with 8 (the same global batch) of the same run."""
    tmp_path = tmp_path_factory.mktemp("two-machines")
    tokenizer = vt.train_tokenizer(
        synthetic_data.synthetic_translation_dataset({"train": 256})["train"],
        text_column=["en", "syn"],
        vocab_size=300,
        show_progress=False,
    )
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    common = [
        *TRANSLATION_TINY,
        "--tokenizer_name",
        str(tmp_path / "tokenizer"),
        "--dropout",
        "0",
        "--max_steps",
        str(STEPS),
        "--save_steps",
        str(STEPS),
        "--max_eval_samples",
        "4",
    ]
    # A rendezvous on one box can hang (seen once in about ten runs, under load): a hung attempt is killed and
    # retried once on a fresh port, so a flake does not fail CI while a real failure still does.
    for _attempt in range(2):
        port = free_port()
        env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread per process: they share the machine's cores
        launches = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "accelerate.commands.launch",
                    "--config_file",
                    str(ACCELERATE_CONFIGS / "multi_node.yaml"),
                    "--num_processes",
                    "2",
                    "--num_machines",
                    "2",
                    "--machine_rank",
                    str(rank),
                    "--main_process_ip",
                    "127.0.0.1",
                    "--main_process_port",
                    str(port),
                    "--mixed_precision",
                    "no",  # the config's bf16 is for GPUs: the single process below trains in float32
                    str(TRANSLATION_SCRIPT),
                    *common,
                    "--per_device_train_batch_size",
                    "4",
                    "--output_dir",
                    str(tmp_path / "two"),
                ],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group: the launcher, torchrun and the worker end together
            )
            for rank in (0, 1)
        ]
        outputs, hung = [], False
        try:
            for launch in launches:
                outputs.append(launch.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            hung = True
            outputs += ["(killed: no result after 300 s)"] * (len(launches) - len(outputs))
        finally:
            for launch in launches:
                if launch.poll() is None:
                    os.killpg(launch.pid, signal.SIGKILL)
                    launch.wait()
        if not hung:
            break

    translation.main([*common, "--per_device_train_batch_size", "8", "--output_dir", str(tmp_path / "one")])
    return tmp_path, tokenizer, [launch.returncode for launch in launches], outputs


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_each_machines_launch_succeeds(two_machines, rank):
    _, _, returncodes, outputs = two_machines
    assert returncodes[rank] == 0, outputs[rank][-3000:]


@pytest.mark.slow
def test_the_two_machines_train_as_one_world_with_the_global_batch_of_one_process(two_machines):
    tmp_path, _, _, _ = two_machines
    two, one = trainer_state(tmp_path / "two"), trainer_state(tmp_path / "one")
    assert two["epoch"] == one["epoch"] == pytest.approx(STEPS * 8 / 256)  # both saw 8 examples a step


@pytest.mark.slow
def test_two_machines_reach_the_losses_of_one_process(two_machines):
    tmp_path, _, _, _ = two_machines
    assert logged_losses(tmp_path / "two") == pytest.approx(logged_losses(tmp_path / "one"), rel=1e-5)


@pytest.mark.slow
def test_two_machines_train(two_machines):
    tmp_path, _, _, _ = two_machines
    losses = logged_losses(tmp_path / "two")
    assert losses[STEPS] < losses[1]


@pytest.mark.slow
def test_the_model_of_two_machines_gives_the_logits_of_the_model_of_one_process(two_machines):
    tmp_path, tokenizer, _, _ = two_machines
    models = [AutoModelForSeq2SeqLM.from_pretrained(tmp_path / run / "model").eval() for run in ("one", "two")]
    batch = tokenizer(
        ["the dog sees a cat .", "anna will not sing ."],
        text_target=["hundo ta kato un ko vidu .", "anna ne kantro ."],
        padding=True,
        return_tensors="pt",
    )
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    with torch.no_grad():
        logits = [model(**batch).logits for model in models]
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-4)
