"""Speed and memory of our models against the library's models of the same shape on this machine's CPU: the
encoder-decoder against Marian, the decoder-only against GPT-2, the encoder-only (masked LM) against BERT.

Both sides are built from random weights at identical shapes: vocabulary, width, heads, feed-forward width and layers;
ReLU, no dropout, `sdpa` attention, the output projection tied to the token embedding. Where our config has an option
for an architectural choice of the peer, ours takes it, so that the two differ in implementation only: GPT-2's pre-LN,
learned positions and unscaled embeddings; BERT's learned positions and unscaled embeddings. Marian shares the paper's
choices (post-LN, sinusoidal positions) and scales its embeddings by sqrt(d_model) when asked, as here. The parameter
counts printed first show what remains different.

Each measurement is a ratio ours/peer:

- training: tokens/s of a step as `Trainer` takes it (forward with labels, so that each model computes its own loss,
  backward, fused AdamW), `model.train()`; batches of 16 x 32 source + 32 target tokens (encoder-decoder), 16 x 64
  (decoder; encoder with 15% of the tokens masked);
- decoding: generations/s, greedy at batch 1 and beam 4 at batch 8, 64 new tokens (`min_new_tokens` =
  `max_new_tokens`: end-of-sequence never stops one side early), dynamic cache; with `--compile`, greedy with a static
  cache and `torch.compile`;
- memory: peak RSS above the RSS of the built model, of training (32 x 64, two steps: gradients, AdamW's state and
  activations) and of generation (beam 4 at batch 8), each model in a fresh process;
- training FLOP/s as a fraction of this machine's fp32 matmul rate on the model's shapes, measured in the same run;
- the allocator: training tokens/s with `keep_freed_memory()` (examples/allocator.py) against glibc's defaults,
  each side in a fresh process (encoder-decoder, small size, 32 x 64).

Timings come in interleaved pairs (ours then the peer, then the peer then ours, ...) after warm-up calls, so that a
busy machine slows both sides of a ratio alike; each ratio is the median (min-max) over the pairs. Targets: training
>= 1.2x, training memory <= 0.8x, greedy >= 1.5x, beam >= 1.2x, training at the base size >= 70% of the matmul rate.

    python benchmarks/speed.py                  # small and base, all but --compile: about 15-20 minutes on 2 cores
    python benchmarks/speed.py --quick          # tiny sizes, two pairs: checks that everything runs (under a minute)
    python benchmarks/speed.py --only train,flops --size base --pairs 9 --compile
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import transformers
from machine import matmul_seconds
from transformers import (
    BertConfig,
    BertForMaskedLM,
    CompileConfig,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    MarianConfig,
    MarianMTModel,
)

import vanilla_transformer as vt
from vanilla_transformer.examples.allocator import keep_freed_memory


# --- what is measured ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    vocab_size: int
    d_model: int
    num_heads: int
    d_ff: int
    stack_layers: int  # per stack of the encoder-decoder
    single_layers: int  # the decoder-only and encoder-only models

    def describe(self) -> str:
        return (
            f"vocab {self.vocab_size}, d_model {self.d_model}, {self.num_heads} heads, d_ff {self.d_ff}, "
            f"{self.stack_layers}+{self.stack_layers} / {self.single_layers} layers"
        )


SIZES = {
    "tiny": Size(1000, 64, 2, 256, 1, 2),  # --quick
    "small": Size(8000, 256, 4, 1024, 3, 6),
    "base": Size(37000, 512, 8, 2048, 6, 6),  # the paper's base model
}


@dataclass(frozen=True)
class Workload:
    train_batch: int = 16
    source_length: int = 32  # encoder-decoder: source and target
    length: int = 64  # decoder-only and encoder-only
    memory_batch: int = 32
    memory_length: int = 64  # every side of every model
    prompt_length: int = 16  # decoder-only prompts; the encoder-decoder's sources are `source_length` long
    new_tokens: int = 64
    beam_batch: int = 8
    num_beams: int = 4
    allocator_steps: int = 4  # timed training steps per process, after one warm-up step


FULL = Workload()
QUICK = Workload(
    train_batch=4,
    source_length=8,
    length=16,
    memory_batch=4,
    memory_length=16,
    prompt_length=4,
    new_tokens=8,
    beam_batch=2,
    allocator_steps=1,
)

VARIANTS = ("seq2seq", "decoder", "encoder")
PEERS = {"seq2seq": "Marian", "decoder": "GPT-2", "encoder": "BERT"}
DECODERS = ("seq2seq", "decoder")
SECTIONS = ("train", "decode", "memory", "flops", "allocator")

PAD, BOS, EOS, MASK = 0, 2, 3, 4  # our tokenizers' layout; both sides of a pair use it
FIRST_WORD = 5  # random tokens are drawn above the special ones
MASKED_FRACTION = 0.15
MAX_POSITIONS = 128  # learned position tables: the longest sequence here is 16 + 64 tokens

# ours/peer, with the direction that meets the target; FLOP/s is a fraction of the matmul rate, at the base size only
TARGETS = {"training": (">=", 1.2), "training memory": ("<=", 0.8), "greedy": (">=", 1.5), "beam": (">=", 1.2)}
FLOPS_TARGET = (">=", 0.70)

CHILD = "--_child"  # hidden: measure one model in this process and print the result as JSON
GLIBC_DEFAULTS = "--_glibc-defaults"  # hidden: a child that must not call keep_freed_memory()


# --- the models ------------------------------------------------------------------------------------------------------


def our_config(config_class, size: Size, **choices):
    """One of our configs at `size`, without dropout; `choices` are the variant's layer counts and the peer's
    architectural choices."""
    return config_class(
        vocab_size=size.vocab_size,
        d_model=size.d_model,
        num_heads=size.num_heads,
        d_ff=size.d_ff,
        dropout=0.0,
        **choices,
    )


def ours_seq2seq(size: Size):
    layers = dict(encoder_layers=size.stack_layers, decoder_layers=size.stack_layers)
    return vt.TransformerForConditionalGeneration, our_config(vt.TransformerConfig, size, **layers)


def marian(size: Size):
    config = MarianConfig(
        vocab_size=size.vocab_size,
        decoder_vocab_size=size.vocab_size,
        d_model=size.d_model,
        encoder_layers=size.stack_layers,
        decoder_layers=size.stack_layers,
        encoder_attention_heads=size.num_heads,
        decoder_attention_heads=size.num_heads,
        encoder_ffn_dim=size.d_ff,
        decoder_ffn_dim=size.d_ff,
        activation_function="relu",
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        max_position_embeddings=MAX_POSITIONS,
        scale_embedding=True,  # the paper's, as ours
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=BOS,
        forced_eos_token_id=None,  # Marian's default forces </s> at the last step: work ours does not do
    )
    return MarianMTModel, config


def ours_decoder(size: Size):
    config = our_config(
        vt.TransformerDecoderConfig,
        size,
        num_layers=size.single_layers,
        norm_first=True,  # GPT-2's choices
        position_embedding_type="learned",
        max_position_embeddings=MAX_POSITIONS,
        scale_embedding=False,
    )
    return vt.TransformerForCausalLM, config


def gpt2(size: Size):
    config = GPT2Config(
        vocab_size=size.vocab_size,
        n_positions=MAX_POSITIONS,
        n_embd=size.d_model,
        n_layer=size.single_layers,
        n_head=size.num_heads,
        n_inner=size.d_ff,
        activation_function="relu",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    return GPT2LMHeadModel, config


def ours_encoder(size: Size):
    config = our_config(
        vt.TransformerEncoderConfig,
        size,
        num_layers=size.single_layers,
        position_embedding_type="learned",  # BERT's choices
        max_position_embeddings=MAX_POSITIONS,
        scale_embedding=False,
    )
    return vt.TransformerForMaskedLM, config


def bert(size: Size):
    config = BertConfig(
        vocab_size=size.vocab_size,
        hidden_size=size.d_model,
        num_hidden_layers=size.single_layers,
        num_attention_heads=size.num_heads,
        intermediate_size=size.d_ff,
        hidden_act="relu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=1,
        tie_word_embeddings=True,
        pad_token_id=PAD,
    )
    return BertForMaskedLM, config


BUILDERS = {
    "seq2seq": {"ours": ours_seq2seq, "peer": marian},
    "decoder": {"ours": ours_decoder, "peer": gpt2},
    "encoder": {"ours": ours_encoder, "peer": bert},
}

# What still differs once the shapes are the same.
DIFFERENCES = {
    "seq2seq": "Marian keeps its sinusoidal positions as a frozen table (not counted) and a final_logits_bias buffer",
    "decoder": "none: ours is built pre-LN with learned positions, as GPT-2 is",
    "encoder": "BERT has a LayerNorm on the embeddings and a token-type embedding (one type): 3 x d_model more",
}


def build(variant: str, side: str, size: Size):
    torch.manual_seed(0)
    model_class, config = BUILDERS[variant][side](size)
    model = model_class._from_config(config, attn_implementation="sdpa")
    if model.config._attn_implementation != "sdpa":
        raise SystemExit(f"error: {model_class.__name__} runs {model.config._attn_implementation}, not sdpa.")
    return model


def trained_parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


# --- inputs ----------------------------------------------------------------------------------------------------------


def random_ids(generator: torch.Generator, size: Size, batch: int, length: int) -> torch.Tensor:
    return torch.randint(FIRST_WORD, size.vocab_size, (batch, length), generator=generator)


def training_batch(variant: str, size: Size, batch: int, length: int) -> tuple[dict, int]:
    """The inputs of a training step with labels, as the examples' collators make them, and its number of tokens
    (source and target for the encoder-decoder)."""
    generator = torch.Generator().manual_seed(0)
    ids = random_ids(generator, size, batch, length)
    mask = torch.ones_like(ids)
    if variant == "seq2seq":
        return dict(
            input_ids=ids, attention_mask=mask, labels=random_ids(generator, size, batch, length)
        ), 2 * ids.numel()
    if variant == "decoder":
        return dict(input_ids=ids, attention_mask=mask, labels=ids), ids.numel()
    masked = torch.rand(ids.shape, generator=generator) < MASKED_FRACTION
    labels = ids.masked_fill(~masked, -100)
    return dict(input_ids=ids.masked_fill(masked, MASK), attention_mask=mask, labels=labels), ids.numel()


def prompts(variant: str, size: Size, batch: int, work: Workload) -> dict:
    length = work.source_length if variant == "seq2seq" else work.prompt_length
    ids = random_ids(torch.Generator().manual_seed(0), size, batch, length)
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids))


def generation_config(work: Workload, num_beams: int, **options) -> GenerationConfig:
    """One configuration for both sides, so that neither model's own defaults (ours: beam 4, length penalty 0.6)
    decide anything."""
    return GenerationConfig(
        max_new_tokens=work.new_tokens,
        min_new_tokens=work.new_tokens,
        do_sample=False,
        num_beams=num_beams,
        length_penalty=1.0,
        early_stopping=num_beams > 1,  # irrelevant when no beam can end early; set, so ours' default is not taken
        use_cache=True,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        decoder_start_token_id=BOS,
        **options,
    )


def compiled_generation_config(work: Workload) -> GenerationConfig:
    compile_config = CompileConfig(fullgraph=True)
    compile_config._compile_all_devices = True  # the library compiles only on accelerators unless told otherwise
    return generation_config(work, 1, cache_implementation="static", compile_config=compile_config)


# --- what a measurement runs -----------------------------------------------------------------------------------------


def training_step(model, batch: dict) -> Callable[[], None]:
    """One optimisation step as `Trainer` takes it by default: forward with labels, backward, fused AdamW (its default
    optimizer with torch >= 2.8), gradients set to None."""
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)

    def step():
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def generation(model, inputs: dict, config: GenerationConfig) -> Callable[[], torch.Tensor]:
    model.eval()
    return lambda: model.generate(**inputs, generation_config=config)


def timed(function: Callable) -> float:
    gc.collect()  # so that one side does not pay for the other's garbage
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(ours: Callable, peer: Callable, pairs: int, warmup: int) -> list[tuple[float, float]]:
    """(ours, peer) seconds of `pairs` calls each, after `warmup` calls each; which side goes first alternates."""
    for function in (ours, peer):
        for _ in range(warmup):
            function()
    times = []
    for pair in range(pairs):
        if pair % 2 == 0:
            ours_seconds = timed(ours)
            peer_seconds = timed(peer)
        else:
            peer_seconds = timed(peer)
            ours_seconds = timed(ours)
        times.append((ours_seconds, peer_seconds))
    return times


# --- reporting -------------------------------------------------------------------------------------------------------


@dataclass
class Ratio:
    measure: str  # "training", "greedy", ... (TARGETS' keys)
    pair: str  # "seq2seq vs Marian"
    size: str
    values: list[float]
    target: tuple[str, float] | None = None
    percent: bool = False  # a fraction shown as a percentage, not a ratio

    def text(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:.2f}x"

    def summary(self) -> str:
        values = self.values
        return f"{self.text(statistics.median(values))} ({self.text(min(values))}-{self.text(max(values))})"

    def verdict(self) -> str:
        if self.target is None:
            return ""
        direction, threshold = self.target
        median = statistics.median(self.values)
        met = median >= threshold if direction == ">=" else median <= threshold
        return "met" if met else "NOT met"

    def target_text(self) -> str:
        return "" if self.target is None else f"{self.target[0]} {self.text(self.target[1])}"


@dataclass
class Report:
    ratios: list[Ratio] = field(default_factory=list)

    def add(self, ratio: Ratio, details: str = "") -> None:
        self.ratios.append(ratio)
        print(
            f"ratio  {ratio.measure + ' ' + ratio.pair:44} {ratio.size:6} {ratio.summary():24} {details}", flush=True
        )

    def table(self) -> str:
        lines = [
            "| measure | size | median (min-max) | target | |",
            "|---|---|---|---|---|",
        ]
        for r in self.ratios:
            lines.append(f"| {r.measure} {r.pair} | {r.size} | {r.summary()} | {r.target_text()} | {r.verdict()} |")
        return "\n".join(lines)


STARTED = time.perf_counter()


def section(title: str) -> None:
    print(f"\n## {title}   [{time.perf_counter() - STARTED:.0f} s]", flush=True)


def speedups(times: list[tuple[float, float]]) -> list[float]:
    """ours/peer in calls per second: the peer's seconds over ours, pair by pair."""
    return [peer / ours for ours, peer in times]


def median_of(times: list[tuple[float, float]], side: int) -> float:
    return statistics.median(pair[side] for pair in times)


# --- the sections ----------------------------------------------------------------------------------------------------


def print_parameters(sizes: list[str]) -> None:
    section("parameters (trained; the tied embedding counted once)")
    for name in sizes:
        for variant in VARIANTS:
            ours, peer = (trained_parameters(build(variant, side, SIZES[name])) for side in ("ours", "peer"))
            print(
                f"  {variant:8} {name:6} ours {ours:>12,}   {PEERS[variant]:7} {peer:>12,}   "
                f"({(peer - ours) / ours:+.2%}: {DIFFERENCES[variant]})"
            )


def measure_training(args, work: Workload, report: Report, size_name: str) -> dict:
    """Training tokens/s of each pair at one size; returns the step times by variant for the FLOP/s section."""
    size, times_by_variant = SIZES[size_name], {}
    for variant in VARIANTS:
        length = work.source_length if variant == "seq2seq" else work.length
        batch, tokens = training_batch(variant, size, work.train_batch, length)
        ours, peer = (training_step(build(variant, side, size), batch) for side in ("ours", "peer"))
        times = interleaved(ours, peer, args.pairs, args.warmup)
        times_by_variant[variant] = times
        report.add(
            Ratio("training", f"{variant} vs {PEERS[variant]}", size_name, speedups(times), TARGETS["training"]),
            f"ours {tokens / median_of(times, 0):,.0f} tokens/s, peer {tokens / median_of(times, 1):,.0f}",
        )
    return times_by_variant


def measure_decoding(args, work: Workload, report: Report, size_name: str) -> None:
    size = SIZES[size_name]
    modes = [("greedy", 1, 1), ("beam", work.num_beams, work.beam_batch)]
    for variant in DECODERS:
        models = [build(variant, side, size) for side in ("ours", "peer")]
        for measure, num_beams, batch in modes:
            inputs, config = prompts(variant, size, batch, work), generation_config(work, num_beams)
            ours, peer = (generation(model, inputs, config) for model in models)
            check_same_length(ours(), peer(), variant)
            times = interleaved(ours, peer, args.pairs, args.warmup)
            report.add(
                Ratio(measure, f"{variant} vs {PEERS[variant]}", size_name, speedups(times), TARGETS[measure]),
                f"batch {batch}, {num_beams} beam(s): ours {median_of(times, 0):.3f} s, peer {median_of(times, 1):.3f} s",
            )
        if args.compile:
            measure_compiled_decoding(args, work, report, size_name, variant, models)


def check_same_length(ours: torch.Tensor, peer: torch.Tensor, variant: str) -> None:
    if ours.shape != peer.shape:
        raise SystemExit(f"error: {variant}: ours generated {tuple(ours.shape)}, the peer {tuple(peer.shape)}.")


def measure_compiled_decoding(args, work: Workload, report: Report, size_name: str, variant: str, models) -> None:
    """Greedy decoding with a static cache, the forward compiled by `generate()`; a side that cannot do it is named."""
    size, config = SIZES[size_name], compiled_generation_config(work)
    inputs = prompts(variant, size, 1, work)
    functions = [generation(model, inputs, config) for model in models]
    for model, function, who in zip(models, functions, ("ours", PEERS[variant])):
        problem = compiled_decoding_problem(model, function)
        if problem:
            who = "not supported by the peer" if who != "ours" else "failed for ours"
            print(f"  greedy, static cache + torch.compile, {variant} {size_name}: {who} ({problem})", flush=True)
            return
    times = interleaved(*functions, args.pairs, args.warmup)
    report.add(
        Ratio("greedy compiled", f"{variant} vs {PEERS[variant]}", size_name, speedups(times)),
        f"static cache + torch.compile: ours {median_of(times, 0):.3f} s, peer {median_of(times, 1):.3f} s",
    )


def compiled_decoding_problem(model, function: Callable) -> str | None:
    """Why compiled decoding does not run for this model (compiling it on the way), or None."""
    try:
        function()
    except Exception as error:  # whatever the library raises for a model without static-cache support
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    if not hasattr(model, "_compiled_call"):
        return "generate() did not compile the forward"
    return None


# --- memory, the allocator: one model per fresh process --------------------------------------------------------------


def run_children(specs: list[dict]) -> list[dict]:
    """Start one child process per spec, all at once, and return their results. Peak RSS is per process, so children
    measured for memory may run side by side; timed ones are started one at a time."""
    processes = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), CHILD, json.dumps(spec)]
            + ([GLIBC_DEFAULTS] if spec.get("glibc_defaults") else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    results = []
    for spec, process in zip(specs, processes):
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"error: the child measuring {spec} failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def measure_memory(args, work: Workload, report: Report, size_name: str) -> None:
    variants_by_task = {"train": VARIANTS, "generate": DECODERS}
    if args.quick:  # each child spends seconds importing: the encoder-decoder pair shows that the path works
        variants_by_task = {"train": ("seq2seq",), "generate": ("seq2seq",)}
    for task, variants in variants_by_task.items():
        for variant in variants:
            spec = dict(task=task, variant=variant, size=size_name, quick=args.quick, threads=args.threads, steps=2)
            peaks = []  # (ours, peer) MB
            for repeat in range(args.memory_repeats):
                sides = ("ours", "peer") if repeat % 2 == 0 else ("peer", "ours")
                results = dict(zip(sides, run_children([dict(spec, side=side) for side in sides])))
                peaks.append((results["ours"]["peak_mb"], results["peer"]["peak_mb"]))
            measure = "training memory" if task == "train" else "generation memory"
            ratios = [ours / peer for ours, peer in peaks]
            report.add(
                Ratio(measure, f"{variant} vs {PEERS[variant]}", size_name, ratios, TARGETS.get(measure)),
                f"peak RSS above the built model: ours {median_of(peaks, 0):,.0f} MB, peer {median_of(peaks, 1):,.0f} MB"
                f" ({results['ours']['how']})",
            )


def measure_allocator(args, work: Workload, report: Report) -> None:
    """Training tokens/s of the encoder-decoder with keep_freed_memory() over glibc's defaults, a fresh process each."""
    size_name = "tiny" if args.quick else "small"
    spec = dict(
        task="train",
        variant="seq2seq",
        side="ours",
        size=size_name,
        quick=args.quick,
        threads=args.threads,
        steps=1 + work.allocator_steps,
    )
    results = []  # (kept, defaults)
    for repeat in range(args.memory_repeats):
        specs = [
            dict(spec, glibc_defaults=defaults) for defaults in ((False, True) if repeat % 2 == 0 else (True, False))
        ]
        if args.quick:  # its timings mean nothing: side by side saves a process start
            outcomes = run_children(specs)
        else:
            outcomes = [run_children([one])[0] for one in specs]
        by_defaults = {one["glibc_defaults"]: outcome for one, outcome in zip(specs, outcomes)}
        results.append((by_defaults[False], by_defaults[True]))
    speed = [kept["tokens_per_s"] / defaults["tokens_per_s"] for kept, defaults in results]
    memory = statistics.median(kept["peak_mb"] / defaults["peak_mb"] for kept, defaults in results)
    applied = all(kept["allocator_applied"] for kept, _ in results)
    note = "" if applied else " (keep_freed_memory() did nothing here: not glibc, or MALLOC_* set)"
    report.add(
        Ratio("allocator", "keep_freed_memory() vs glibc defaults", size_name, speed),
        f"training step, seq2seq {work.memory_batch} x {work.memory_length}; peak RSS ratio {memory:.2f}{note}",
    )


def child(spec: dict, allocator_applied: bool) -> int:
    """Build one model, measure its peak RSS over `steps` training steps or generations, print JSON."""
    torch.set_num_threads(spec["threads"])
    work, size = (QUICK if spec["quick"] else FULL), SIZES[spec["size"]]
    model = build(spec["variant"], spec["side"], size)
    tokens = 0
    if spec["task"] == "train":
        batch, tokens = training_batch(spec["variant"], size, work.memory_batch, work.memory_length)
        function = training_step(model, batch)
    else:
        inputs = prompts(spec["variant"], size, work.beam_batch, work)
        function = generation(model, inputs, generation_config(work, work.num_beams))
    gc.collect()
    baseline, how = start_peak_rss()
    seconds = [timed(function) for _ in range(spec["steps"])]
    timed_seconds = sum(seconds[1:]) or seconds[0]  # after the first call, which also allocates AdamW's state
    result = dict(
        peak_mb=(peak_rss_kb(how) - baseline) / 1024,
        how=how,
        tokens_per_s=tokens * max(1, len(seconds) - 1) / timed_seconds,
        allocator_applied=allocator_applied,
    )
    print(json.dumps(result))
    return 0


def start_peak_rss() -> tuple[int, str]:
    """The current RSS in kB, after resetting the peak to it; and how the peak will be read."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM, the peak RSS, to the current RSS (Linux >= 4.0)
        return status_kb("VmRSS"), "VmHWM after a reset"
    except OSError:  # no /proc: the peak since the process started, a lower bound of the increase
        return max_rss_kb(), "ru_maxrss"


def peak_rss_kb(how: str) -> int:
    return status_kb("VmHWM") if how.startswith("VmHWM") else max_rss_kb()


def status_kb(name: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(name + ":"))
    return int(line.split()[1])


def max_rss_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, kB on Linux


# --- FLOP/s ----------------------------------------------------------------------------------------------------------


def training_flops(variant: str, size: Size, work: Workload) -> float:
    """Model FLOPs of one training step, the same for both sides of a pair.

    A multiply-add is 2 FLOPs forward and 4 backward (the gradients of the input and of the weight), so:

        6 x (non-embedding weights of a stack) x (tokens through the stack)       every linear layer
      + 12 x d_model x (key length) x (query tokens), per attention sublayer     QK^T and AV (in full, even causal)
      + 6 x d_model x vocab x (predicted tokens)                                 the output projection (tied)

    Biases, LayerNorms, softmaxes, the loss and the optimizer are left out (a few percent). The masked LM predicts
    its masked tokens only: projecting the others to the vocabulary is work its loss does not need.
    """
    d, d_ff, vocab = size.d_model, size.d_ff, size.vocab_size
    self_attention, feed_forward = 4 * d * d, 2 * d * d_ff
    if variant == "seq2seq":
        length = work.source_length
        tokens = work.train_batch * length  # per side
        encoder = size.stack_layers * (6 * (self_attention + feed_forward) + 12 * d * length) * tokens
        decoder = size.stack_layers * (6 * (2 * self_attention + feed_forward) + 2 * 12 * d * length) * tokens
        return encoder + decoder + 6 * d * vocab * tokens
    length = work.length
    tokens = work.train_batch * length
    layers = size.single_layers * (6 * (self_attention + feed_forward) + 12 * d * length) * tokens
    if variant == "decoder":
        return layers + 6 * d * vocab * tokens
    masked = (training_batch(variant, size, work.train_batch, length)[0]["labels"] != -100).sum().item()
    return layers + 6 * (d * d + d * vocab) * masked  # the head's dense layer, then the projection


def matmul_rate(size: Size, rows: int, seconds: float, bursts: int = 5) -> float:
    """FLOP/s of fp32 `torch.matmul` on the model's shapes, `rows` tokens at a time: the feed-forward layers, the
    attention projections and the output projection. Each shape runs in `bursts` bursts of `seconds` / `bursts`;
    the fastest burst counts: the rate this machine reaches on these shapes, so that a pause of a shared machine
    does not lower it (a fraction against it errs low, not high)."""
    d = size.d_model
    shapes = [(rows, d, size.d_ff), (rows, size.d_ff, d), (rows, d, 3 * d), (rows, d, size.vocab_size)]
    flops = elapsed = 0.0
    for m, k, n in shapes:
        a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
        torch.matmul(a, b, out=out)  # warm-up
        elapsed += min(matmul_seconds(a, b, out, seconds / bursts) for _ in range(bursts))
        flops += 2 * m * k * n
    return flops / elapsed


def measure_flops(args, work: Workload, report: Report, size_name: str, times_by_variant: dict) -> None:
    size, rates = SIZES[size_name], {}  # by the number of rows a stack multiplies at once
    for variant, times in times_by_variant.items():
        rows = work.train_batch * (work.source_length if variant == "seq2seq" else work.length)
        if rows not in rates:
            rates[rows] = matmul_rate(size, rows, 0.02 if args.quick else 0.5)
            print(
                f"  matmul rate, fp32, {args.threads} threads, {size_name} shapes, {rows} rows: "
                f"{rates[rows] / 1e9:.1f} GFLOP/s",
                flush=True,
            )
        rate, flops = rates[rows], training_flops(variant, size, work)
        ours, peer = ([flops / pair[side] / rate for pair in times] for side in (0, 1))
        target = FLOPS_TARGET if size_name == "base" else None
        report.add(Ratio("training FLOP/s, ours", f"{variant}", size_name, ours, target, percent=True))
        report.add(Ratio("training FLOP/s, peer", f"{PEERS[variant]}", size_name, peer, percent=True))
        print(
            f"  {variant} {size_name}: ours: {statistics.median(ours):.0%} of the measured matmul rate, "
            f"peer: {statistics.median(peer):.0%} ({flops / 1e9:.1f} GFLOP a step)",
            flush=True,
        )


# --- the command line ------------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models and two pairs: checks that it all runs")
    parser.add_argument(
        "--size",
        default="small,base",
        help="comma-separated, of: " + ", ".join(SIZES) + " (default: small,base; --quick: tiny)",
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help="comma-separated sections, of: " + ", ".join(SECTIONS)
    )
    parser.add_argument("--compile", action="store_true", help="also greedy decoding with a static cache, compiled")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, here and in every child (default 2)")
    parser.add_argument("--pairs", type=int, help="timed pairs per ratio (default 7; --quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed calls of each side first (default 2)")
    parser.add_argument(
        "--memory-repeats", type=int, help="fresh-process pairs per memory and allocator ratio (default 3; --quick 1)"
    )
    parser.add_argument(CHILD, help=argparse.SUPPRESS)
    parser.add_argument(GLIBC_DEFAULTS, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sizes = ["tiny"] if args.quick else args.size.split(",")
    args.sections = args.only.split(",")
    for name, allowed in ((args.sizes, SIZES), (args.sections, SECTIONS)):
        unknown = [value for value in name if value not in allowed]
        if unknown:
            parser.error(f"unknown {unknown}; choose among {list(allowed)}.")
    defaults = dict(pairs=2, warmup=2, memory_repeats=1) if args.quick else dict(pairs=7, warmup=2, memory_repeats=3)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None, allocator_applied: bool = False) -> int:
    args = parse_arguments(argv)
    if args._child:
        return child(json.loads(args._child), allocator_applied)
    torch.set_num_threads(args.threads)
    work = QUICK if args.quick else FULL
    print(
        f"speed: vanilla_transformer against transformers' Marian, GPT-2 and BERT; torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {args.threads} threads of {os.cpu_count()} CPUs, {args.pairs} pairs "
        f"after {args.warmup} warm-up calls; keep_freed_memory() {'applied' if allocator_applied else 'not applied'}"
    )
    for name in args.sizes:
        print(f"  {name}: {SIZES[name].describe()}")
    print_parameters(args.sizes)
    report = Report()
    for name in args.sizes:
        times_by_variant = {}
        if "train" in args.sections or "flops" in args.sections:
            section(f"training, {name}: tokens/s, ours/peer")
            times_by_variant = measure_training(args, work, report, name)
        if "flops" in args.sections:
            section(f"training FLOP/s, {name}: a fraction of the matmul rate")
            measure_flops(args, work, report, name, times_by_variant)
        if "decode" in args.sections:
            section(f"decoding, {name}: generations/s, ours/peer")
            measure_decoding(args, work, report, name)
        if "memory" in args.sections:
            section(
                f"memory, {name}: peak RSS above the built model, ours/peer, {args.memory_repeats} fresh-process pairs"
            )
            measure_memory(args, work, report, name)
    if "allocator" in args.sections:
        section("allocator: training step with keep_freed_memory() vs glibc defaults, tokens/s")
        measure_allocator(args, work, report)
    section("summary")
    print(report.table())
    return 0


if __name__ == "__main__":
    # The allocator measurement starts children that must run with glibc's defaults.
    applied = False if GLIBC_DEFAULTS in sys.argv else keep_freed_memory()
    sys.exit(main(sys.argv[1:], allocator_applied=applied))
