"""This machine's speed: the fp32 matrix-multiply rate that every benchmark prints beside its figures, so that runs on
different days or machines compare (on this project's 2-core CPU it swings by a quarter from one day to the next)."""

from __future__ import annotations

import time

import torch


def machine_matmul_rate(seconds: float = 3.0, n: int = 1024) -> float:
    """FLOP/s of a square fp32 `torch.matmul` (n x n by n x n), the fastest of 5 bursts: this machine's speed."""
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.matmul(a, b, out=out)  # warm-up
    return 2 * n**3 / min(matmul_seconds(a, b, out, seconds / 5) for _ in range(5))


def matmul_seconds(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, seconds: float) -> float:
    """Seconds per call of `a @ b`, calling it for about `seconds` (at least 3 times)."""
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        torch.matmul(a, b, out=out)
        calls += 1
    return (time.perf_counter() - start) / calls


def print_machine_speed() -> None:
    """Measure this machine's matmul rate (about 3 s) and print it: the first line of a quality benchmark."""
    print(
        f"This machine: {machine_matmul_rate() / 1e9:.0f} GFLOP/s fp32 matmul (1024^3, fastest of 5 bursts).",
        flush=True,
    )
