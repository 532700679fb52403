"""Atomic file writes: a temp file in the same folder, fsynced, then renamed over the target.

A kill at any instant leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(temp_path)`` to produce the file, then move it over ``path`` in one step."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    write_atomic(path, write)
