"""Files replaced all at once: a kill at any instant leaves the old file or the new one, never half.

The new content goes to a temporary name in the same folder (same file system, so the rename is
atomic), is flushed to disk, then renamed over the old file; the folder is synced so the rename
itself survives a power cut.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TEMPORARY_PREFIX = ".partial-"


def temporary_name(path: Path) -> Path:
    """Same folder and same ending (Keras checks for .keras / .weights.h5), hidden name."""
    return path.with_name(TEMPORARY_PREFIX + path.name)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def commit(temporary: Path, path: Path) -> None:
    """Flush `temporary` to disk and rename it to `path`."""
    _sync(temporary)
    os.replace(temporary, path)
    _sync(path.parent)


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """`with replacing(path) as temporary: write(temporary)`: `path` changes only if the block
    finished; otherwise the partial file is removed and `path` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        yield temporary
        commit(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text)


def save_model(model, path: str | Path) -> None:
    """keras Model.save, atomically."""
    with replacing(path) as temporary:
        model.save(temporary)


def remove_partial_files(folder: Path) -> None:
    """Temporary files a killed process left behind (each is rewritten whole before any use)."""
    for path in Path(folder).glob(TEMPORARY_PREFIX + "*"):
        path.unlink(missing_ok=True)
