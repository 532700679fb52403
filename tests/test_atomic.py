"""chargen.atomic: what "atomic" rests on, checked directly (a kill test only sees the outcome).

A write is atomic because the finished temp file is renamed over the target: the target's new
inode is the temp file's (a copy would write into the old file, where a kill leaves half of it),
and the temp file's bytes reached the disk (fsync) before the rename made them the target's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chargen import atomic
from chargen.atomic import TEMP_MARK, write_atomic, write_text_atomic


def _file_id(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


@pytest.mark.parametrize("target_exists", [True, False])
def test_the_fsynced_temp_file_is_renamed_over_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target_exists: bool
) -> None:
    target = tmp_path / "model.safetensors"
    if target_exists:
        target.write_bytes(b"the old file")
    old_id = _file_id(target.stat()) if target_exists else None
    events: list[tuple[str, tuple[int, int]]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", _file_id(os.fstat(fd))))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", _file_id(os.stat(src))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    written: list[tuple[int, int]] = []

    def write(tmp: str) -> None:
        assert Path(tmp).parent == tmp_path and TEMP_MARK in Path(tmp).name
        Path(tmp).unlink()  # a writer may recreate the file (safetensors does): the new one is what counts
        Path(tmp).write_bytes(b"the new file")
        written.append(_file_id(os.stat(tmp)))

    write_atomic(target, write)
    temp_file = written[0]
    assert target.read_bytes() == b"the new file"
    assert _file_id(target.stat()) == temp_file != old_id  # renamed, not copied into the old file
    assert ("fsync", temp_file) in events, events  # the temp file's bytes were flushed...
    assert events.index(("fsync", temp_file)) < events.index(("replace", temp_file))  # ...before the rename
    assert events[-1] == ("fsync", _file_id(tmp_path.stat())), events  # then the folder's new entry
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "log.jsonl"
    write_text_atomic(target, "old\n")

    def fail(tmp: str) -> None:
        Path(tmp).write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert atomic.remove_stale_temp_files(tmp_path) == []
