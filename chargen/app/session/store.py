"""Each session's own models: :class:`SessionStore` keeps them in a temporary folder per session, never shown
to another session, and removes it when the session ends or has been idle too long; a model goes out as a
zip (or to the Hub, :func:`push_session_model`) and comes back from one."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chargen.app import i18n
from chargen.app.session.card import write_card
from chargen.app.session.checks import megabytes, short_repr
from chargen.app.session.history import RunHistory
from chargen.errors import CheckpointError, ConfigError
from chargen.filenames import CONFIG_NAME, WEIGHTS_NAME
from chargen.hub import PUSH_FILES
from chargen.inference.originality import INDEX_NAME, TrainingTextIndex

if TYPE_CHECKING:  # the page is served before torch is imported (chargen.app.demo.main)
    from chargen.model import CharRNN

SESSION_PREFIX = "session:"
MAX_SESSION_MODELS = 6
"""Models one session keeps; adding another drops its oldest (a compare run adds three)."""
MAX_SESSION_BYTES = 128 * 1024 * 1024
"""Weights one session keeps in memory (and about as much on disk); adding more drops its oldest models."""
SESSION_TTL_S = 2 * 3600
"""A session untouched this long is ended and its folder removed."""
MAX_ZIP_BYTES = 64 * 1024 * 1024
"""The largest model zip accepted back, compressed or not."""
ZIP_MEMBERS = (CONFIG_NAME, WEIGHTS_NAME)


@dataclass
class SessionModel:
    """A model that belongs to one session, with the folder that holds its files."""

    name: str
    model: CharRNN
    folder: Path
    label: str
    history: RunHistory | None = None
    index: TrainingTextIndex | None = None
    """The index of the text it was trained on (None for an upload or a text too long to index)."""


MAX_INDEXED_CHARS = 1_000_000
"""The longest training text a session model keeps an index of (~5 s to build and 5 MB per million
characters); a longer one's texts get no originality line."""


@dataclass
class _Session:
    folder: Path
    models: dict[str, SessionModel] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)


class SessionStore:
    """Every session's own models, each session in its own temporary folder.

    A session is named by gradio's session hash. Models are looked up by (session, name): a name
    from another session is refused exactly like a name that never existed. A session's folder is
    removed by :meth:`end` (the page was closed) or by :meth:`sweep` after ``ttl_s`` idle seconds.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        max_models: int = MAX_SESSION_MODELS,
        ttl_s: float = SESSION_TTL_S,
        max_bytes: int = MAX_SESSION_BYTES,
    ) -> None:
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="chargen-sessions-", dir=root))
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()

    def start_sweeper(self, interval_s: float = 60.0) -> threading.Thread:
        """Sweep idle sessions every ``interval_s`` seconds on a daemon thread until :meth:`close`
        (without it, sessions are swept only when some session is used)."""

        def sweep_until_closed() -> None:
            while not self._closed.wait(interval_s):
                self.sweep()

        thread = threading.Thread(target=sweep_until_closed, name="chargen-session-sweeper", daemon=True)
        thread.start()
        return thread

    def _session(self, session: str) -> _Session:
        if not isinstance(session, str) or not session:
            raise ConfigError(i18n.text("train.refusal.no_session"))
        with self._lock:
            self.sweep()
            entry = self._sessions.get(session)
            if entry is None:
                folder = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
                entry = self._sessions[session] = _Session(folder)
            entry.last_used = time.monotonic()
            return entry

    def stop_event(self, session: str) -> threading.Event:
        """A fresh stop flag for a new run of ``session`` (the Stop button sets it)."""
        entry = self._session(session)
        entry.stop = threading.Event()
        return entry.stop

    def request_stop(self, session: str) -> None:
        """Ask the session's running training to stop; its best model so far is kept."""
        with self._lock:
            entry = self._sessions.get(session)
            if entry is not None:
                entry.stop.set()

    def add(
        self,
        session: str,
        model: CharRNN,
        label: str,
        history: RunHistory | None = None,
        training_text: str | None = None,
    ) -> SessionModel:
        """Keep ``model`` for ``session``: saved with its card and loss curve to the session's folder, and
        with an index of ``training_text`` (up to :data:`MAX_INDEXED_CHARS`) so the page can say how much of
        a generated text is copied from it."""
        from chargen.checkpoint import save_checkpoint

        entry = self._session(session)
        name = f"{SESSION_PREFIX}{_slug(label)}-{uuid.uuid4().hex[:8]}"
        folder = entry.folder / name.removeprefix(SESSION_PREFIX)
        save_checkpoint(model, folder)
        index = None
        if training_text and len(training_text) <= MAX_INDEXED_CHARS:
            index = TrainingTextIndex.build(training_text)
            index.save(folder / INDEX_NAME)
        if history is not None:
            write_card(folder, model, history, label)
        model.eval()
        kept = SessionModel(name, model, folder, label, history, index)
        with self._lock:
            entry.models[name] = kept
            while len(entry.models) > self.max_models or (
                len(entry.models) > 1 and sum(_weight_bytes(m.model) for m in entry.models.values()) > self.max_bytes
            ):
                oldest = next(iter(entry.models))
                dropped = entry.models.pop(oldest)
                shutil.rmtree(dropped.folder, ignore_errors=True)
                dropped.folder.with_suffix(".zip").unlink(missing_ok=True)
        return kept

    def get(self, session: str | None, name: str) -> SessionModel:
        """The model ``name`` of ``session``; any other session's name is unknown here."""
        with self._lock:
            entry = self._sessions.get(session or "")
            found = entry.models.get(name) if entry is not None else None
            if found is None:
                raise ConfigError(i18n.text("train.refusal.not_this_sessions", name=short_repr(name)))
            entry.last_used = time.monotonic()
            return found

    def names(self, session: str | None) -> list[str]:
        """The session's model names, oldest first."""
        with self._lock:
            entry = self._sessions.get(session or "")
            return list(entry.models) if entry is not None else []

    def choices(self, session: str | None) -> list[tuple[str, str]]:
        """(label, name) pairs for a model picker."""
        with self._lock:
            entry = self._sessions.get(session or "")
            return [(m.label, m.name) for m in entry.models.values()] if entry is not None else []

    def zip(self, session: str, name: str) -> Path:
        """A zip of the model's folder (config.json, model.safetensors, README.md, loss.png)."""
        found = self.get(session, name)
        target = found.folder.parent / f"{found.folder.name}.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file_name in PUSH_FILES:  # config.json, model.safetensors, README.md, loss.png
                path = found.folder / file_name
                if path.is_file():
                    archive.write(path, file_name)
        return target

    def load_zip(self, session: str, path: str | Path) -> SessionModel:
        """Check a zip made by :meth:`zip`, load it with :func:`chargen.load_model` and keep it for ``session``."""
        from chargen.hub import load_model

        path = Path(path)
        entry = self._session(session)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=entry.folder))
        try:
            _extract_model_zip(path, folder)
            model = load_model(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        if model.unit == "word":
            label = i18n.text("train.model.uploaded_words", cell=model.cell, file=path.stem[:40])
        else:
            label = i18n.text("train.model.uploaded", cell=model.cell, file=path.stem[:40])
        return self.add(session, model, label)

    def end(self, session: str | None) -> None:
        """Forget ``session`` and remove its folder."""
        with self._lock:
            entry = self._sessions.pop(session or "", None)
        if entry is not None:
            entry.stop.set()
            shutil.rmtree(entry.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> list[str]:
        """End every session idle for more than ``ttl_s``; returns the ended sessions."""
        now = time.monotonic() if now is None else now
        with self._lock:
            expired = [s for s, e in self._sessions.items() if now - e.last_used > self.ttl_s]
        for session in expired:
            self.end(session)
        return expired

    def disk_bytes(self, session: str) -> int:
        """Bytes the session's folder holds."""
        with self._lock:
            entry = self._sessions.get(session)
        if entry is None:
            return 0
        return sum(p.stat().st_size for p in entry.folder.rglob("*") if p.is_file())

    def close(self) -> None:
        """End every session and remove the store's folder."""
        self._closed.set()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            self.end(session)
        shutil.rmtree(self.root, ignore_errors=True)


def _weight_bytes(model: CharRNN) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _extract_model_zip(path: Path, folder: Path) -> None:
    try:
        if path.stat().st_size > MAX_ZIP_BYTES:
            size, limit = megabytes(path.stat().st_size), megabytes(MAX_ZIP_BYTES)
            raise CheckpointError(i18n.text("train.refusal.zip_too_large", size=size, limit=limit))
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(i18n.text("train.refusal.not_a_zip", reason=exc)) from None
    with archive:
        members = {Path(info.filename).name: info for info in archive.infolist() if not info.is_dir()}
        missing = [name for name in ZIP_MEMBERS if name not in members]
        if missing:
            raise CheckpointError(
                i18n.text("train.refusal.zip_incomplete", missing=" or ".join(missing), members=", ".join(ZIP_MEMBERS))
            )
        if sum(members[name].file_size for name in ZIP_MEMBERS) > MAX_ZIP_BYTES:
            raise CheckpointError(i18n.text("train.refusal.zip_unpacks_too_large", limit=megabytes(MAX_ZIP_BYTES)))
        for name in ZIP_MEMBERS:  # only these two, by their base names: nothing else is written
            with archive.open(members[name]) as src, open(folder / name, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)


def push_session_model(
    store: SessionStore, session: str, name: str, repo_id: str, token: str | None, endpoint: str | None = None
) -> str:
    """Push a session model (its folder: weights, config, card, curve) to the Hub repo ``repo_id``; returns its URL."""
    from chargen.hub import push_checkpoint

    found = store.get(session, name)
    token = token or os.environ.get("HF_TOKEN") or None
    if not token:
        raise ConfigError(i18n.text("train.refusal.push_login"))
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ConfigError(i18n.text("train.refusal.push_repo"))
    return push_checkpoint(found.folder, repo_id.strip(), token=token, endpoint=endpoint)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


__all__ = [
    "MAX_SESSION_BYTES",
    "MAX_SESSION_MODELS",
    "MAX_ZIP_BYTES",
    "SESSION_PREFIX",
    "SESSION_TTL_S",
    "SessionModel",
    "SessionStore",
    "push_session_model",
]
