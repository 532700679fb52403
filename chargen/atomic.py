"""Atomic file writes: a temp file in the same folder, fsynced, then renamed over the target.

A kill at any instant leaves either the old file or the new one, never half of one. Temp files
carry chargen's own mark (``.NAME.chargen-XXXXXXXX.tmp``), so cleaning up after a kill removes
only files that chargen made.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

TEMP_MARK = ".chargen-"
"""Part of every temp file's name that chargen writes: ``.NAME.chargen-XXXXXXXX.tmp``."""
_STALE_PATTERN = f".*{TEMP_MARK}*.tmp"


def temp_name(path: str | Path) -> Path:
    """A fresh temp file name next to ``path``, marked as chargen's."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(4)}.tmp")


def write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(temp_path)`` to produce the file, then move it over ``path`` in one step.

    The temp file is created with the permissions any new file gets (0666 less the umask, which
    is never read or changed here: threads would race on it). The folder is fsynced after the
    rename, so the new name survives a power cut once this returns.
    """
    path = Path(path)
    while True:
        tmp = temp_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
        mode = os.fstat(fd).st_mode & 0o777  # what any new file gets here: 0666 less the umask
        os.close(fd)
        break
    try:
        write(str(tmp))
        os.chmod(tmp, mode)  # a writer may recreate the file privately (safetensors makes it 0600)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders can't be opened (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files that a chargen process killed mid-write left in ``folder``; return them.

    Only names chargen makes (:func:`temp_name`) are touched; anyone else's ``.tmp`` files stay.
    """
    stale = [p for p in Path(folder).glob(_STALE_PATTERN) if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    write_atomic(path, write)
