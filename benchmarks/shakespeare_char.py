"""Character-level tiny Shakespeare: the language-modelling example against nanoGPT's CPU recipe, side by side.

nanoGPT's README trains a small GPT on a CPU: 4 layers, 4 heads, 128 dimensions, context 64, batch 12, 2000
iterations, lr 1e-3 (warmup 100, cosine decay to 1e-4), AdamW betas (0.9, 0.99), weight decay 0.1, gradient
clipping 1.0, no dropout, evaluated every 250 iterations: validation loss about 1.88. Target here: validation loss
<= 1.70 over the whole validation split (the last 10% of the characters), in less wall time than that recipe takes on
the same machine in the same run, both counted from the launch of their process to their final validation loss.

One command runs both, each in a fresh process, twice (`--rounds 2`: ours, the reference, the reference, ours, so a
machine whose speed drifts during the benchmark favours neither), and prints their losses and mean times:

    python benchmarks/shakespeare_char.py --data /path/to/data           # or VANILLA_TRANSFORMER_DATA=...

The data directory holds `tinyshakespeare/input.txt` (or is that folder). Options after `--` go to the example.

Ours is `examples/language_modeling.py --preset shakespeare_char` (through `Trainer`; see the preset for its model
and schedule). The reference (`--reference nanogpt`, the default) is nanoGPT's train.py loop re-implemented here in
plain PyTorch with its CPU settings (its GPT: pre-LN, GELU, learned positions, no biases, 65-character vocabulary;
random windows; 20-batch loss estimates on train and validation every 250 iterations); `--reference loop` runs that
loop on our model instead, which separates the cost of the model from that of `Trainer`; `--reference none` skips it.
Because a machine's speed varies from day to day, the benchmark prints its fp32 matmul rate first, and ours reports
the number of training tokens behind its loss (the preset trains a fixed number of steps of full blocks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

from machine import print_machine_speed


TARGET_LOSS = 1.70
NANOGPT_LOSS = 1.886  # nanoGPT's own train.py with its CPU settings, on the project's 2-core machine
EXAMPLE = "vanilla_transformer.examples.language_modeling"


def find_input(data: str) -> Path:
    root = Path(data).expanduser()
    if root.is_file():
        return root
    for candidate in (root / "input.txt", root / "tinyshakespeare" / "input.txt"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"error: no input.txt in {root} or {root / 'tinyshakespeare'}.")


def run_example(input_file: Path, output_dir: Path, extra: list[str]) -> dict:
    """Run the example in a fresh process; return its results with the wall times measured from the launch."""
    command = [
        sys.executable,
        "-m",
        EXAMPLE,
        "--preset",
        "shakespeare_char",
        "--train_file",
        str(input_file),
        "--output_dir",
        str(output_dir),
        "--disable_tqdm",
        "true",
        *extra,
    ]
    print("$", " ".join(command), flush=True)
    launched = time.time()
    subprocess.run(command, check=True)
    finished = time.time()
    results = json.loads((output_dir / "language_modeling_results.json").read_text())
    times = results["unix_times"]
    results["seconds_to_final_eval"] = times["final_eval"] - launched
    results["process_seconds"] = finished - launched
    results["phases"] = {
        "start-up and data": times["data_ready"] - launched,
        "training (with its evaluations and checkpoints)": times["trained"] - times["data_ready"],
        "saving the model, final evaluation": times["final_eval"] - times["trained"],
    }
    return results


# --- the reference: nanoGPT's train.py loop, re-implemented in plain PyTorch (timings only) ---------------------------


def reference(
    input_file: str,
    model_kind: str,
    max_iters: int = 2000,
    eval_interval: int = 250,
    eval_iters: int = 20,
    out_dir: str | None = None,
) -> None:
    """nanoGPT's training loop with its CPU settings; prints JSON with the final 20-batch validation estimate, the
    loss over the whole validation split, and the seconds from process start to the final estimate."""
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(1337)
    text = Path(input_file).read_text(encoding="utf-8")
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = np.array([lookup[c] for c in text], dtype=np.uint16)
    cut = int(len(data) * 0.9)
    splits = {"train": data[:cut], "val": data[cut:]}
    block_size, batch_size, n_layer, n_head, n_embd = 64, 12, 4, 4, 128
    learning_rate, min_lr, warmup_iters = 1e-3, 1e-4, 100

    def get_batch(split):
        source = splits[split]
        ix = torch.randint(len(source) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy(source[i : i + block_size].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(source[i + 1 : i + 1 + block_size].astype(np.int64)) for i in ix])
        return x, y

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(n_embd, bias=False), nn.LayerNorm(n_embd, bias=False)
            self.c_attn, self.c_proj = nn.Linear(n_embd, 3 * n_embd, bias=False), nn.Linear(n_embd, n_embd, bias=False)
            self.c_fc, self.mlp_proj = (
                nn.Linear(n_embd, 4 * n_embd, bias=False),
                nn.Linear(4 * n_embd, n_embd, bias=False),
            )

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(n_embd, dim=2)
            q, k, v = (z.view(b, t, n_head, c // n_head).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(b, t, c)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self, vocab_size):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
            self.blocks = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = nn.LayerNorm(n_embd, bias=False)
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.wte.weight = self.lm_head.weight
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = (
                        0.02 / math.sqrt(2 * n_layer) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                    )
                    nn.init.normal_(p, 0.0, std)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.blocks:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    if model_kind == "gpt":
        model = GPT(len(chars))
    else:  # ours, with the example's configuration (and a 65-character vocabulary)
        import vanilla_transformer as vt

        config = vt.TransformerDecoderConfig(
            vocab_size=len(chars) + 5,
            d_model=n_embd,
            num_heads=n_head,
            d_ff=4 * n_embd,
            num_layers=n_layer,
            dropout=0.0,
            activation_function="gelu",
            bias=False,
        )
        ours = vt.TransformerForCausalLM(config)

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = ours

            def forward(self, idx, targets):
                logits = self.model(input_ids=idx + 5).logits
                return F.cross_entropy(logits.view(-1, logits.size(-1)), (targets + 5).view(-1))

        model = Wrapped()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=learning_rate,
        betas=(0.9, 0.99),
    )

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        ratio = (it - warmup_iters) / (max_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {
            split: torch.stack([model(*get_batch(split)) for _ in range(eval_iters)]).mean().item() for split in splits
        }
        model.train()
        return out

    best, estimate, it = float("inf"), None, 0
    x, y = get_batch("train")
    while True:
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        if it % eval_interval == 0:
            estimate = estimate_loss()
            print(f"step {it}: train loss {estimate['train']:.4f}, val loss {estimate['val']:.4f}", flush=True)
            if estimate["val"] < best and it > 0 and out_dir:
                best = estimate["val"]
                torch.save(
                    {"model": model.state_dict(), "optimizer": optimizer.state_dict()}, Path(out_dir) / "ckpt.pt"
                )
        if it == max_iters:
            break
        loss = model(x, y)
        x, y = get_batch("train")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        it += 1
    seconds = time.time() - _process_start()
    with torch.no_grad():  # the whole validation split, in non-overlapping windows (for comparison only)
        model.eval()
        val = torch.from_numpy(splits["val"].astype(np.int64))
        windows = (len(val) - 1) // block_size
        x = val[: windows * block_size].view(windows, block_size)
        y = val[1 : windows * block_size + 1].view(windows, block_size)
        whole = (
            sum(model(x[i : i + 128], y[i : i + 128]).item() * len(x[i : i + 128]) for i in range(0, windows, 128))
            / windows
        )
    tokens = max_iters * batch_size * block_size
    print(
        json.dumps(
            {
                "val_estimate": estimate["val"],
                "val_whole": whole,
                "seconds_to_final_eval": seconds,
                "train_tokens": tokens,
            }
        )
    )


def _process_start() -> float:
    import psutil

    return psutil.Process().create_time()


def run_reference(input_file: Path, model_kind: str, output_dir: Path) -> dict:
    output_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        __file__,
        "--_reference",
        model_kind,
        "--data",
        str(input_file),
        "--output_dir",
        str(output_dir),
    ]
    print("$", " ".join(command), flush=True)
    launched = time.time()
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(output, end="")
    results = json.loads(output.strip().splitlines()[-1])
    results["process_seconds"] = time.time() - launched
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("VANILLA_TRANSFORMER_DATA"),
        help="folder holding tinyshakespeare/input.txt (default: $VANILLA_TRANSFORMER_DATA)",
    )
    parser.add_argument("--output_dir", default="runs/benchmarks/shakespeare_char", help="where the runs write")
    parser.add_argument(
        "--reference",
        choices=["none", "nanogpt", "loop"],
        default="nanogpt",
        help="also time nanoGPT's loop in plain PyTorch, with its GPT (nanogpt, the default) or with our model "
        "(loop), or not (none)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="times each side runs, alternating ours/reference then reference/ours; the times compared are the "
        "means (default: %(default)s)",
    )
    parser.add_argument("--_reference", choices=["gpt", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("example_args", nargs="*", help="options for the example, after --")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data (or set VANILLA_TRANSFORMER_DATA): the folder holding tinyshakespeare/input.txt.")
    if "--output_dir" in args.example_args or any(a.startswith("--output_dir=") for a in args.example_args):
        parser.error("give --output_dir before `--`: the benchmark reads the example's results from its own folder.")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}.")
    input_file = find_input(args.data)
    output_dir = Path(args.output_dir)
    if args._reference:  # inside the reference subprocess
        output_dir.mkdir(parents=True, exist_ok=True)
        reference(str(input_file), args._reference, out_dir=str(output_dir))
        return 0

    print_machine_speed()
    kind = {"nanogpt": "gpt", "loop": "ours", "none": None}[args.reference]
    ours, refs = [], []
    for round_ in range(args.rounds):
        # ours, reference; then reference, ours (ABBA): a machine that speeds up or slows down during the benchmark
        # favours neither side.
        order = ["ours", "reference"] if round_ % 2 == 0 else ["reference", "ours"]
        for side in order:
            if side == "ours":
                ours.append(run_example(input_file, output_dir / f"example-{round_ + 1}", args.example_args))
            elif kind is not None:
                refs.append(run_reference(input_file, kind, output_dir / f"reference-{kind}-{round_ + 1}"))
    results = ours[-1]
    loss = max(run["eval_loss"] for run in ours)  # the same in every round: the run is deterministic
    seconds = sum(run["seconds_to_final_eval"] for run in ours) / len(ours)
    lines = [
        "",
        "Tiny Shakespeare, characters:",
        f"  ours (Trainer, post-LN paper blocks with GELU and no biases, preset shakespeare_char): validation loss {loss:.4f} over "
        f"the whole validation split (target <= {TARGET_LOSS}) after {results['train_tokens'] / 1e6:.2f}M training "
        f"tokens; {seconds:.1f} s from launch to the final validation loss "
        f"({_rounds(run['seconds_to_final_eval'] for run in ours)}).",
        "    last round: "
        + "; ".join(f"{phase} {seconds:.1f} s" for phase, seconds in results["phases"].items())
        + ".",
    ]
    ok = loss <= TARGET_LOSS
    if refs:
        ref, what = refs[-1], "nanoGPT's GPT" if kind == "gpt" else "our model"
        ref_seconds = sum(run["seconds_to_final_eval"] for run in refs) / len(refs)
        lines.append(
            f"  nanoGPT's CPU recipe in plain PyTorch ({what}), this machine, now: 20-batch validation estimate "
            f"{ref['val_estimate']:.4f}, whole split {ref['val_whole']:.4f} after {ref['train_tokens'] / 1e6:.2f}M "
            f"training tokens; {ref_seconds:.1f} s to the final estimate "
            f"({_rounds(run['seconds_to_final_eval'] for run in refs)}). Ours / reference time: "
            f"{seconds / ref_seconds:.2f}."
        )
        ok = ok and seconds < ref_seconds
        verdict = f"time {'<' if seconds < ref_seconds else '>='} the reference's {ref_seconds:.0f} s"
    else:
        verdict = "time not compared (--reference none)"
    lines.append(f"  [nanoGPT's own train.py: {NANOGPT_LOSS}]")
    lines.append(
        f"  {'PASS' if ok else 'FAIL'}: loss {'<=' if loss <= TARGET_LOSS else '>'} {TARGET_LOSS}, {verdict}."
    )
    print("\n".join(lines))
    return 0


def _rounds(seconds) -> str:
    seconds = list(seconds)
    return "one round" if len(seconds) == 1 else "mean of " + ", ".join(f"{s:.1f}" for s in seconds)


def keep_freed_memory() -> bool:
    """`examples/allocator.py`'s `keep_freed_memory()`, loaded by path: importing it from `vanilla_transformer` would
    import the whole package (seconds) into the nanoGPT reference, whose wall time counts from its launch."""
    allocator = runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" / "allocator.py"))
    return allocator["keep_freed_memory"]()


if __name__ == "__main__":
    keep_freed_memory()  # large buffers stay in the process between steps, in the example and the reference alike
    sys.exit(main())
