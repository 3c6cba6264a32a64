"""Writing a folder all or nothing: a tokenizer, an averaged model. Readers (and a crash) see the old folder or the
new one, never a half-written mix."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_directory(output_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside `output_dir`; on success it replaces `output_dir` (renames, so readers
    see the old folder or the new one, never a mix); on error it is removed and `output_dir` is left untouched."""
    output_dir = Path(output_dir).absolute()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{str(output_dir)!r} exists and is not a directory.")
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".tmp", dir=output_dir.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        yield staging
        if output_dir.is_dir():
            previous = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".old", dir=output_dir.parent))
            os.replace(output_dir, previous)  # the empty `previous` is replaced by the old folder
            try:
                os.replace(staging, output_dir)
            except OSError:
                os.replace(previous, output_dir)
                raise
            shutil.rmtree(previous)
        else:
            os.replace(staging, output_dir)
    finally:
        if staging.is_dir():
            shutil.rmtree(staging)


__all__ = ["atomic_directory"]
