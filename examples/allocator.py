"""Keep freed memory in the process for reuse, instead of handing large buffers back to the OS after every step.

glibc's malloc serves each request above its mmap threshold (128 KiB at first, raised on its own up to 32 MiB) with
a fresh `mmap` and unmaps it on `free`. A training step allocates and frees the same large tensors (activations,
logits, gradients) every time, so every step maps them again and takes one page fault per 4 KiB page as it first
writes them, and the kernel zeroes each page. `keep_freed_memory()` serves them from the heap instead and keeps the
freed space there, as PyTorch's GPU caching allocator does on a GPU.

It changes a process-wide setting, so only a program's entry point calls it (the examples and the benchmarks do, in
their `if __name__ == "__main__":` block); importing `vanilla_transformer` never does.
"""

from __future__ import annotations

import ctypes
import os
import sys


# mallopt(3) parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

# The environment variables (and GLIBC_TUNABLES names) through which a user sets the same two parameters: if any is
# set, the user has chosen, and `keep_freed_memory()` leaves the allocator alone.
ENVIRONMENT_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
TUNABLES = ("glibc.malloc.mmap_max", "glibc.malloc.trim_threshold")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse; return whether the setting was applied.

    Two `mallopt` calls: `M_MMAP_MAX = 0` serves every allocation from the heap, so freeing a large buffer leaves it
    there for the next step (no `munmap`, no page faults when it is used again), and `M_TRIM_THRESHOLD = -1` turns off
    trimming, which would otherwise return the free top of the heap to the OS as soon as it exceeds the threshold,
    however large the threshold is, and so would undo the first setting in exactly the steps that free the most.
    The process keeps the memory of its largest step until it exits.

    A no-op (returns `False`) outside Linux with glibc, and when the user has already set either parameter through
    `MALLOC_MMAP_MAX_`, `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES`.
    """
    if not _is_glibc() or _set_by_user():
        return False
    mallopt = ctypes.CDLL("libc.so.6").mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the trim threshold goes first so that a failure of the second call leaves the
    # allocator with only the harmless half of the change
    return bool(mallopt(M_TRIM_THRESHOLD, -1)) and bool(mallopt(M_MMAP_MAX, 0))


def _is_glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # musl and other C libraries do not know the name
        return False


def _set_by_user() -> bool:
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return any(name in os.environ for name in ENVIRONMENT_VARIABLES) or any(name in tunables for name in TUNABLES)
