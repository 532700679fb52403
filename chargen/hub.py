"""Where models come from: a local checkpoint folder or a Hugging Face Hub repo id, and publishing to the Hub.

``load_model("checkpoints/shakespeare")`` reads a folder; ``load_model("user/repo")`` or
``load_model("user/repo@v1")`` downloads ``config.json`` + ``model.safetensors`` through
huggingface_hub into its cache (``HF_HOME`` / ``HF_HUB_CACHE``) and reuses them.
huggingface_hub is imported only for Hub names, so loading a folder stays instant and never
touches the network.

Which names are local (:func:`is_local_name`): a name is a local folder when it starts with
``./``, ``../``, ``/`` or ``~``, or when its first path component exists on disk (relative to
``base_dir``, the working directory by default); only other names of the form ``user/repo`` or
``user/repo@revision`` go to the Hub. So with a ``checkpoints/`` folder present,
``checkpoints/shakespear`` (a typo) is reported as a missing folder, never looked up on the Hub.

Short names: ``shakespeare``, ``shakespeare-word`` and ``python`` (:data:`BUNDLED_MODELS`, the names
the app shows) load the models bundled in ``checkpoints/`` beside the package (a clone or an
editable install has them), unless a folder of that name exists where the name is looked up:
that folder wins. A name that is neither a folder nor on the Hub says both, with the closest
folder or short name that does exist.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

from chargen.errors import ChargenError, CheckpointError
from chargen.filenames import CONFIG_NAME, PICKLED_SUFFIXES, WEIGHTS_NAME

if TYPE_CHECKING:  # the loaders import torch when first called: the app's page needs only the names here
    from chargen.model import CharRNN, ModelConfig

HUB_TIMEOUT_S = 10.0
"""Seconds to wait for the Hub to answer one request before treating it as unreachable."""

BUNDLED_MODELS = {
    "shakespeare": "checkpoints/shakespeare",
    "shakespeare-word": "checkpoints/shakespeare-word",
    "python": "checkpoints/python",
}
"""The models bundled with chargen: short name -> folder relative to :data:`PROJECT_DIR`. The app offers
these when ``CHARGEN_MODELS`` is not set (the first is its default), ``deploy`` publishes them, and
:func:`load_model` takes their short names."""
BUNDLED_MODEL = BUNDLED_MODELS["shakespeare"]
PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder that holds the chargen package: in a clone or editable install, ``checkpoints/`` is here too."""
MODELS_ENV = "CHARGEN_MODELS"
CARD_NAME = "README.md"
PLOT_NAME = "loss.png"
PUSH_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, PLOT_NAME)
"""What ``push`` uploads from a checkpoint folder, when present; never the training state or log."""

# The Hub's own rules (huggingface_hub.utils.validate_repo_id) are checked later; this only decides
# whether a name that is not a local folder should be looked up on the Hub at all.
_REPO_REF = re.compile(r"^(?P<repo_id>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[^@\s]+))?$")
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
_TRUE = {"1", "ON", "YES", "TRUE"}


class HubError(CheckpointError):
    """A Hub repo is missing, unreachable, not a chargen model, or could not be pushed."""


@dataclass(frozen=True)
class HubRef:
    """A Hub model repo, optionally pinned to a branch, tag or commit (``user/repo@revision``)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"


class LoadedModels(NamedTuple):
    """What :func:`load_models` gives the app: models by name (the first is the default) and notices to show."""

    models: dict[str, CharRNN]
    notices: list[str]

    @property
    def default(self) -> str:
        """The name of the model to preselect."""
        return next(iter(self.models))


@dataclass
class _HubLink:
    """How one call reaches the Hub; once a request fails for lack of network, later names use the cache only."""

    endpoint: str | None
    cache_dir: str | Path | None
    timeout: float
    unreachable: str | None = None
    cached_fallbacks: list[str] = field(default_factory=list)


_LOCAL_PREFIXES = ("./", "../", "/", "~") + ((".\\", "..\\", "\\") if os.sep == "\\" else ())


def is_local_name(name: str | Path, base_dir: str | Path | None = None) -> bool:
    """Whether ``name`` names a local folder rather than a Hub repo.

    True for a :class:`~pathlib.Path`, a name starting with ``./``, ``../``, ``/`` or ``~`` (or
    ``.`` / ``..`` alone, or an absolute path), and a name whose first path component exists on
    disk, looked up in ``base_dir`` (the working directory when None).

    >>> is_local_name("user/repo", base_dir="/nonexistent")
    False
    """
    if isinstance(name, Path):
        return True
    text = name.strip()
    if text in (".", "..") or text.startswith(_LOCAL_PREFIXES) or os.path.isabs(text):
        return True
    parts = Path(text).parts
    return bool(parts) and (Path(base_dir or ".") / parts[0]).exists()


def parse_hub_ref(name: str | Path, base_dir: str | Path | None = None) -> HubRef | None:
    """The Hub repo that ``name`` refers to, or None when it is (or can only be) a local folder.

    Local names are those of :func:`is_local_name`; of the rest, ``user/repo`` and
    ``user/repo@revision`` are Hub repo ids and anything else is a (missing) local folder.
    """
    if is_local_name(name, base_dir):
        return None
    match = _REPO_REF.match(str(name).strip())
    if match is None:
        return None
    return HubRef(match["repo_id"], match["revision"])


def bundled_folder(name: str | Path) -> Path | None:
    """The folder of the bundled model whose short name is ``name`` (see :data:`BUNDLED_MODELS`), or None
    when ``name`` is no short name or this copy of chargen has no ``checkpoints/`` beside it.

    >>> bundled_folder("user/repo") is None
    True
    """
    folder = BUNDLED_MODELS.get(str(name).strip()) if isinstance(name, str) else None
    if folder is None:
        return None
    path = PROJECT_DIR / folder
    return path if (path / CONFIG_NAME).is_file() else None


def local_path(name: str | Path, base_dir: str | Path | None = None) -> Path:
    """Where the local folder ``name`` is: ``~`` expanded, a relative name taken from ``base_dir`` (when given)."""
    path = Path(str(name).strip()).expanduser() if not isinstance(name, Path) else name.expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    return path


def load_model(
    name: str | Path,
    *,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    timeout: float = HUB_TIMEOUT_S,
    base_dir: str | Path | None = None,
) -> CharRNN:
    """Load a model from a local checkpoint folder or a Hub repo id (``user/repo[@revision]``).

    Which names are local is :func:`is_local_name`'s rule; relative local names are taken from
    ``base_dir`` (the working directory when None): an app passes its own folder, so its
    bundled models load from any working directory.
    ``endpoint`` and ``cache_dir`` default to huggingface_hub's (``HF_ENDPOINT``, ``HF_HUB_CACHE``).
    With ``HF_HUB_OFFLINE=1`` only the cache is read. When the Hub cannot be reached within
    ``timeout`` seconds a cached copy is used if there is one. Every failure is a
    :class:`~chargen.errors.CheckpointError` (a :class:`HubError` for Hub problems) with a one-line message.
    """
    return _load(name, _new_link(endpoint, cache_dir, timeout), base_dir)


def load_models(
    names: list[str] | str,
    *,
    fallback: str | Path | None = BUNDLED_MODEL,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    timeout: float = HUB_TIMEOUT_S,
    base_dir: str | Path | None = None,
) -> LoadedModels:
    """Load every model the app should offer, skipping the ones that fail with a notice each.

    ``names`` is a list or a ``CHARGEN_MODELS``-style comma-separated string; the first name that
    loads becomes the default. If none loads, ``fallback`` (the bundled model) is tried. After one
    name fails for lack of network, the other Hub names are read from the cache only, so a dead
    network costs at most one ``timeout``. Relative local names, ``fallback`` included, are taken
    from ``base_dir`` (see :func:`load_model`); the models keep the names as given. Raises
    :class:`HubError` only when nothing at all loads.
    """
    wanted = parse_models_env(names, default=None) if isinstance(names, str) else _unique(str(n) for n in names)
    link = _new_link(endpoint, cache_dir, timeout)
    models: dict[str, CharRNN] = {}
    failures: list[tuple[str, str]] = []
    for name in wanted:
        try:
            models[name] = _load(name, link, base_dir)
        except Exception as exc:  # one bad name must never stop the app from starting
            failures.append((name, _reason(name, exc)))
    if not models and fallback is not None and str(fallback) not in wanted:
        try:
            models[str(fallback)] = _load(fallback, link, base_dir)
        except Exception as exc:  # reported below with the rest
            failures.append((str(fallback), _reason(str(fallback), exc)))
    if not models:
        details = "; ".join(f"{name}: {reason}" for name, reason in failures) or "no model names given"
        raise HubError(f"no model could be loaded ({details})")

    default = next(iter(models))
    notices = [f"{name}: {_unreachable(link)}; using the cached copy" for name in link.cached_fallbacks]
    for name, reason in failures:
        instead = f"; using {default}" if wanted and name == wanted[0] else ""
        notices.append(f"could not load {name}: {reason}{instead}")
    return LoadedModels(models, notices)


def parse_models_env(value: str | None, default: str | None = BUNDLED_MODEL) -> list[str]:
    """Model names from a ``CHARGEN_MODELS`` value such as ``"checkpoints/shakespeare,user/repo"``.

    Names are comma-separated, trimmed and de-duplicated in order; the first is the default. An
    unset or empty value gives ``[default]`` (or ``[]`` when ``default`` is None).
    """
    names = _unique((value or "").split(","))
    if not names and default is not None:
        return [default]
    return names


def push_files(folder: str | Path) -> list[Path]:
    """The files ``push`` uploads from ``folder``: those of :data:`PUSH_FILES` that exist, in that order."""
    folder = Path(folder)
    return [folder / name for name in PUSH_FILES if (folder / name).is_file()]


def push_checkpoint(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str = "Upload chargen model",
) -> str:
    """Upload a checkpoint folder to the Hub model repo ``repo_id`` (created if needed); returns the repo URL.

    The folder is loaded first, so a broken or pickled checkpoint is never published. Only
    :func:`push_files` go up: config.json, model.safetensors, the README.md model card and loss.png.
    The token comes from ``token``, else ``HF_TOKEN`` or a prior ``hf auth login``.
    """
    from chargen.checkpoint import load_checkpoint

    folder = Path(folder)
    load_checkpoint(folder)
    ref = _REPO_REF.match(repo_id)
    if ref is None or ref["revision"] is not None:
        raise HubError(f"{repo_id!r} is not a Hub repo id; expected user/repo")
    hf = hf_modules()
    try:
        hf.validate_repo_id(repo_id)
    except hf.HFValidationError as exc:
        raise HubError(f"{repo_id!r} is not a valid Hub repo id: {exc}") from None
    token = token or hf.get_token()
    if not token:
        raise HubError("no Hugging Face token: set HF_TOKEN or run `hf auth login` first")
    api = hf.HfApi(endpoint=endpoint, token=token)
    operations = [
        hf.CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)) for path in push_files(folder)
    ]
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.create_commit(repo_id, operations, commit_message=commit_message)
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise HubError(f"{repo_id}: the Hub refused the upload ({status}: {_first_line(exc)})") from None
    except _network_errors(hf) as exc:
        raise HubError(f"{repo_id}: could not reach the Hugging Face Hub ({_first_line(exc)})") from None
    except ValueError as exc:  # huggingface_hub's verdict on the model card's metadata, over several lines
        details = "; ".join(line.strip("- ") for line in str(exc).splitlines() if line.strip())
        raise HubError(f"{repo_id}: the Hub rejected the upload ({details})") from None
    return str(url)


def _new_link(endpoint: str | None, cache_dir: str | Path | None, timeout: float) -> _HubLink:
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    return _HubLink(endpoint=endpoint, cache_dir=cache_dir, timeout=timeout)


def _load(name: str | Path, link: _HubLink, base_dir: str | Path | None = None) -> CharRNN:
    from chargen.checkpoint import load_checkpoint

    ref = parse_hub_ref(name, base_dir)
    if ref is not None:
        try:
            return _load_from_hub(ref, link)
        except _NotOnHub as exc:
            if ref.revision is not None:  # user/repo@revision names a Hub repo, never a folder
                raise HubError(exc.message) from None
            # A user/repo name that is no folder here may be a mistyped one: say both, not only the Hub's side.
            hint = _did_you_mean(ref.repo_id, base_dir)
            raise HubError(f"{ref}: no such folder here{hint}, and {exc.reason}") from None
    path = local_path(name, base_dir)
    if not path.exists():
        bundled = bundled_folder(name)
        if bundled is not None:  # a short name, and no folder of that name here to win over it
            return load_checkpoint(bundled)
        where = "" if path == Path(str(name).strip()) else f" ({path})"
        first = Path(str(name).strip()).parts[0] if str(name).strip() else ""
        why = ""
        if isinstance(name, str) and _REPO_REF.match(name.strip()) and is_local_name(name, base_dir):
            if not name.strip().startswith(_LOCAL_PREFIXES) and not os.path.isabs(name.strip()):
                why = f"; {first} exists here, so this names a local folder, not a Hub repo"
        if isinstance(name, str) and name.strip() in BUNDLED_MODELS:
            why = (
                f"; {name.strip()} names a bundled model, and this copy of chargen has none beside it "
                f"(a clone of the repository has {BUNDLED_MODELS[name.strip()]})"
            )
        hint = _did_you_mean(str(name).strip(), base_dir) if isinstance(name, str) else ""
        raise CheckpointError(f"{name}: no such checkpoint folder{where}{hint}{why}")
    return load_checkpoint(path)


class _NotOnHub(HubError):
    """A repo id the Hub does not have, or that is not cached while the Hub can't be asked: ``reason`` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


_SUGGESTION_SCAN_LIMIT = 500
"""Folders looked at for a "did you mean": a typo in a huge folder should not cost a long scan."""


def _did_you_mean(name: str, base_dir: str | Path | None) -> str:
    """`` (did you mean X?)`` naming the checkpoint folder (up to two levels down in ``base_dir``) or the
    bundled short name closest to ``name``, or an empty string when none is close."""
    base = Path(base_dir or ".")
    # A short name is offered for a name that looks like one; a path gets the folders that exist.
    looks_short = "/" not in name and os.sep not in name
    candidates = [short for short in BUNDLED_MODELS if looks_short and bundled_folder(short) is not None]
    seen = 0
    try:
        for top in sorted(base.iterdir()):
            if not top.is_dir() or top.name.startswith("."):
                continue
            for folder in [top, *sorted(p for p in top.iterdir() if p.is_dir())]:
                seen += 1
                if (folder / CONFIG_NAME).is_file():
                    candidates.append(folder.relative_to(base).as_posix())
                if seen >= _SUGGESTION_SCAN_LIMIT:
                    break
            if seen >= _SUGGESTION_SCAN_LIMIT:
                break
    except OSError:  # an unreadable folder only costs the suggestion
        pass
    close = difflib.get_close_matches(name.rstrip("/"), [c for c in candidates if c != name], n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _load_from_hub(ref: HubRef, link: _HubLink) -> CharRNN:
    hf = hf_modules()
    try:
        hf.validate_repo_id(ref.repo_id)
    except hf.HFValidationError as exc:
        raise HubError(f"{ref}: no such local folder and not a valid Hub repo id ({exc})") from None
    # huggingface_hub reads HF_HUB_OFFLINE once at import; the app may set it later, so look again now.
    if hf.constants.HF_HUB_OFFLINE or _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return _load_cached(ref, link, why="HF_HUB_OFFLINE is set")
    if ref.revision is not None and _COMMIT_SHA.match(ref.revision):
        # A commit never changes, so a cached copy needs no network round trip at all.
        cached = _cached_paths(ref, link)
        if cached is not None:
            return _build(ref, *cached)
    if link.unreachable is not None:
        return _load_cached(ref, link, why=_unreachable(link))

    try:
        info = hf.HfApi(endpoint=link.endpoint).model_info(ref.repo_id, revision=ref.revision, timeout=link.timeout)
    except hf.GatedRepoError:
        raise HubError(f"{ref}: the repo is gated; accept its terms on the Hub and set HF_TOKEN") from None
    except hf.RepositoryNotFoundError:
        raise _NotOnHub(
            "repo not found on the Hugging Face Hub (a private repo needs HF_TOKEN)",
            f"{ref}: repo not found on the Hugging Face Hub, and no local folder has that name "
            "(a private repo needs HF_TOKEN)",
        ) from None
    except hf.RevisionNotFoundError:
        raise HubError(f"{ref}: {ref.repo_id} has no revision {ref.revision!r}") from None
    except (hf.HfHubHTTPError, *_network_errors(hf)) as exc:
        if isinstance(exc, hf.HfHubHTTPError) and not _is_outage(exc):
            raise HubError(f"{ref}: the Hugging Face Hub refused the request ({_first_line(exc)})") from None
        link.unreachable = _first_line(exc)
        return _load_cached(ref, link, why=_unreachable(link))

    if info.siblings is not None:
        _check_repo_files(ref, [s.rfilename for s in info.siblings])
    config_path = _download(ref, CONFIG_NAME, link, hf)
    _read_config(ref, config_path)  # a repo that isn't chargen fails before its weights are downloaded
    weights_path = _download(ref, WEIGHTS_NAME, link, hf)
    return _build(ref, config_path, weights_path)


def _check_repo_files(ref: HubRef, files: list[str]) -> None:
    """Refuse a repo that can't be a chargen checkpoint, naming what it holds instead."""
    if WEIGHTS_NAME not in files:
        pickled = sorted(f for f in files if "/" not in f and f.endswith(PICKLED_SUFFIXES))
        if pickled:
            raise HubError(
                f"{ref}: holds only pickled weights ({', '.join(pickled)}); chargen loads {WEIGHTS_NAME} "
                "only and never unpickles"
            )
        raise HubError(f"{ref}: the repo has no {WEIGHTS_NAME}; not a chargen checkpoint")
    if CONFIG_NAME not in files:
        raise HubError(f"{ref}: the repo has no {CONFIG_NAME}; not a chargen checkpoint")


def _download(ref: HubRef, filename: str, link: _HubLink, hf: SimpleNamespace) -> Path:
    try:
        path = hf.hf_hub_download(
            ref.repo_id,
            filename,
            revision=ref.revision,
            endpoint=link.endpoint,
            cache_dir=link.cache_dir,
            etag_timeout=link.timeout,
            library_name="chargen",
        )
    except hf.RemoteEntryNotFoundError:
        raise HubError(f"{ref}: the repo has no {filename}; not a chargen checkpoint") from None
    except hf.HfHubHTTPError as exc:
        if _is_outage(exc):
            link.unreachable = link.unreachable or _first_line(exc)
        raise HubError(f"{ref}: could not download {filename} ({_first_line(exc)})") from None
    except (hf.LocalEntryNotFoundError, *_network_errors(hf)) as exc:
        # The metadata request just worked, so this is the network dropping mid-load.
        link.unreachable = link.unreachable or _first_line(exc)
        raise HubError(f"{ref}: could not download {filename} ({_first_line(exc)})") from None
    return Path(path)


def _load_cached(ref: HubRef, link: _HubLink, why: str) -> CharRNN:
    cached = _cached_paths(ref, link)
    if cached is None:
        raise _NotOnHub(
            f"not in the local Hugging Face cache ({why}; load a Hub repo once while online)",
            f"{ref}: not in the local Hugging Face cache and {why}; load it once while online",
        )
    model = _build(ref, *cached)
    if link.unreachable is not None:  # offline by choice needs no notice; a dead network does
        link.cached_fallbacks.append(str(ref))
    return model


def _unreachable(link: _HubLink) -> str:
    return f"the Hugging Face Hub could not be reached ({link.unreachable})"


def _cached_paths(ref: HubRef, link: _HubLink) -> tuple[Path, Path] | None:
    """The cached config and weights for ``ref`` (a branch or tag resolves to the commit last seen), or None."""
    hf = hf_modules()
    paths = []
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        path = hf.try_to_load_from_cache(ref.repo_id, filename, cache_dir=link.cache_dir, revision=ref.revision)
        if not isinstance(path, str):  # None (unknown) or the "known not to exist" marker
            return None
        paths.append(Path(path))
    return paths[0], paths[1]


def _read_config(ref: HubRef, config_path: Path) -> ModelConfig:
    from chargen.checkpoint import read_config

    try:
        return read_config(config_path)
    except CheckpointError as exc:
        raise HubError(str(exc).replace(str(config_path), f"{ref}: {CONFIG_NAME}")) from None


def _build(ref: HubRef, config_path: Path, weights_path: Path) -> CharRNN:
    """Build the model with checkpoint.py's strict checks, naming the repo (not the cache path) in errors."""
    from chargen.checkpoint import build_model, check_pair, read_weights_and_metadata

    config = _read_config(ref, config_path)
    label = f"{ref}: {WEIGHTS_NAME}"
    try:
        tensors, metadata = read_weights_and_metadata(weights_path)
    except CheckpointError as exc:
        raise HubError(str(exc).replace(str(weights_path), label)) from None
    try:
        model = build_model(config, tensors, label)
        check_pair(config, metadata, label)
    except CheckpointError as exc:
        raise HubError(str(exc)) from None
    return model


def _is_outage(exc: Any) -> bool:
    """A 5xx or rate limit means the Hub is down for now, like a network failure; other statuses are answers."""
    response = getattr(exc, "response", None)
    return response is not None and (response.status_code >= 500 or response.status_code == 429)


def _network_errors(hf: SimpleNamespace) -> tuple[type[BaseException], ...]:
    return (hf.httpx2.TransportError, hf.OfflineModeIsEnabled, hf.FileMetadataError, ConnectionError, TimeoutError)


@functools.lru_cache(maxsize=1)
def hf_modules() -> SimpleNamespace:
    """huggingface_hub's pieces, imported on first use so local folders never pay for the import."""
    import huggingface_hub

    try:  # huggingface_hub 2.x speaks HTTP through httpx2; earlier releases used httpx
        import httpx2
    except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
        import httpx as httpx2
    from huggingface_hub import constants, errors
    from huggingface_hub.utils import validate_repo_id

    return SimpleNamespace(
        httpx2=httpx2,
        constants=constants,
        HfApi=huggingface_hub.HfApi,
        CommitOperationAdd=huggingface_hub.CommitOperationAdd,
        hf_hub_download=huggingface_hub.hf_hub_download,
        try_to_load_from_cache=huggingface_hub.try_to_load_from_cache,
        get_token=huggingface_hub.get_token,
        validate_repo_id=validate_repo_id,
        FileMetadataError=errors.FileMetadataError,
        GatedRepoError=errors.GatedRepoError,
        HfHubHTTPError=errors.HfHubHTTPError,
        HFValidationError=errors.HFValidationError,
        LocalEntryNotFoundError=errors.LocalEntryNotFoundError,
        OfflineModeIsEnabled=errors.OfflineModeIsEnabled,
        RemoteEntryNotFoundError=errors.RemoteEntryNotFoundError,
        RepositoryNotFoundError=errors.RepositoryNotFoundError,
        RevisionNotFoundError=errors.RevisionNotFoundError,
    )


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _reason(name: str, exc: BaseException) -> str:
    """The message of ``exc`` without a leading ``name:`` so a notice names the model once."""
    text = _first_line(exc) if isinstance(exc, ChargenError) else f"{type(exc).__name__}: {_first_line(exc)}"
    for prefix in (f"{name}: ", f"{Path(name)}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _unique(names: Any) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)
