"""`keep_freed_memory()` (examples/allocator.py): after it glibc serves large buffers from the heap instead of mapping
them afresh, a user's own malloc settings win over it, and only the entry points of the examples and benchmarks call
it: importing the package, the examples or the benchmarks leaves the allocator as glibc set it.

Each check runs in a fresh interpreter: the setting is process-wide, and the test process must keep glibc's defaults.
"""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vanilla_transformer.examples import allocator


ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = [
    "examples/translation.py",
    "examples/language_modeling.py",
    "examples/classification.py",
    "benchmarks/speed.py",
    "benchmarks/multi30k_bleu.py",
    "benchmarks/shakespeare_char.py",
    "benchmarks/sst2.py",
]

on_glibc = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")),
    reason="keep_freed_memory() sets glibc's malloc only",
)

# Asks glibc itself whether a 64 MiB request (above its largest mmap threshold, 32 MiB) is served by its own mmap.
PROBE = """
import ctypes

class MallocInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallocInfo
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def load_allocator():  # keep_freed_memory() without importing the package (seconds of torch and transformers)
    import runpy
    return runpy.run_path("examples/allocator.py")["keep_freed_memory"]

def mapped():
    before = libc.mallinfo2().hblkhd  # bytes in mmapped chunks
    buffer = libc.malloc(64 << 20)
    grown = libc.mallinfo2().hblkhd - before
    libc.free(buffer)
    return grown >= 64 << 20
"""


def run(code: str, **environment: str) -> list[str]:
    """Run PROBE + `code` in a fresh interpreter, without any malloc setting but `environment`; its printed words."""
    env = {k: v for k, v in os.environ.items() if k not in (*allocator.ENVIRONMENT_VARIABLES, "GLIBC_TUNABLES")}
    command = [sys.executable, "-c", PROBE + textwrap.dedent(code)]
    result = subprocess.run(command, env={**env, **environment}, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


@on_glibc
def test_after_it_large_buffers_come_from_the_heap():
    code = """
        keep_freed_memory = load_allocator()
        print(mapped(), keep_freed_memory(), mapped())
    """
    assert run(code) == ["True", "True", "False"]


@on_glibc
@pytest.mark.parametrize(
    "environment",
    [
        {"MALLOC_MMAP_MAX_": "65536"},
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    ],
)
def test_a_users_own_malloc_setting_wins(environment):
    code = """
        keep_freed_memory = load_allocator()
        print(keep_freed_memory(), mapped())
    """
    assert run(code, **environment) == ["False", "True"]


@on_glibc
def test_importing_the_package_the_examples_and_the_benchmarks_leaves_the_allocator_alone():
    code = """
        import importlib, pkgutil, runpy, sys
        from pathlib import Path
        import vanilla_transformer
        import vanilla_transformer.examples as examples
        for module in pkgutil.iter_modules(examples.__path__):
            importlib.import_module(f"vanilla_transformer.examples.{module.name}")
        sys.path.insert(0, "benchmarks")  # the benchmarks import each other by name, as when run from there
        for path in sorted(Path("benchmarks").glob("*.py")):
            runpy.run_path(str(path), run_name="imported")  # as an import would, not as __main__
        print(mapped())
    """
    assert run(code) == ["True"]


def test_off_glibc_it_does_nothing(monkeypatch):
    def no_libc(*args, **kwargs):
        raise AssertionError("keep_freed_memory() loaded a C library off glibc")

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(allocator.ctypes, "CDLL", no_libc)
    assert allocator.keep_freed_memory() is False


def keep_freed_memory_calls(path: Path) -> tuple[int, int]:
    """Calls of keep_freed_memory() in a script: (in its `if __name__ == "__main__":` block, anywhere else)."""
    tree = ast.parse(path.read_text())
    main_blocks = [
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
    ]
    in_main = {id(node) for block in main_blocks for node in ast.walk(block)}
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "keep_freed_memory"
    ]
    inside = sum(id(call) in in_main for call in calls)
    return inside, len(calls) - inside


@pytest.mark.parametrize("script", ENTRY_POINTS)
def test_each_entry_point_calls_it_in_its_main_block_only(script):
    assert keep_freed_memory_calls(ROOT / script) == (1, 0)
