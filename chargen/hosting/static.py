"""The static page: ``python -m chargen deploy OWNER/SPACE --static [--dry-run DIR]``.

A folder any static file server can serve (a Hugging Face static Space: ``sdk: static``, free for
every account and any number of visitors) in which the visitor's browser generates: ``index.html``,
``page.js`` / ``generation.js`` / ``page.css`` (the files in ``static_site/`` beside this module),
onnxruntime-web's WebAssembly build from ``node_modules`` (``npm ci`` with the committed
``package-lock.json``; never a CDN, so the page works offline once loaded), each model exported
by :mod:`chargen.export.onnx` under ``models/<name>/``, and ``site.json`` naming them. The
runtime's ``.wasm`` ships gzipped (14.8 MB -> 3.8 MB) and the page unpacks it with the browser's
``DecompressionStream``; the models ship in fp16 by default, so the greedy text is
``chargen.compare(..., precision="fp16")``'s (docs/static-page.md).
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargen.errors import ChargenError, ConfigError
from chargen.export.onnx import check_export_precision, export_onnx

ROOT = Path(__file__).resolve().parents[2]
"""The project folder: ``package.json`` and ``node_modules/`` sit beside the chargen package."""
PAGE_FILES = ("index.html", "page.js", "generation.js", "page.css")
"""The page's own files, copied from :data:`PAGE_DIR` as they are."""
PAGE_DIR = Path(__file__).resolve().parent / "static_site"
ORT_PACKAGE = Path("node_modules") / "onnxruntime-web"
ORT_MODULE = "ort.wasm.bundle.min.mjs"
"""onnxruntime-web's WebAssembly-only build with its loader inside: the one script the page imports."""
ORT_WASM = "ort-wasm-simd-threaded.wasm"
"""The one WebAssembly binary that build runs (single-threaded here: threads need cross-origin isolation)."""
SITE_FILE = "site.json"
PRNG = "mulberry32"
"""The page's seeded generator for the sampled text (docs/static-page.md)."""

Log = Callable[[str], None]


class StaticSiteError(ChargenError):
    """The static page could not be built (onnxruntime-web missing, a folder in the way)."""


@dataclass(frozen=True)
class StaticSite:
    """What :func:`build_static_site` wrote: the folder, the models' names, its total size in bytes."""

    folder: Path
    models: list[str]
    total_bytes: int


def ort_dist(root: Path = ROOT) -> Path:
    """onnxruntime-web's ``dist`` folder installed by ``npm ci``, or a :class:`StaticSiteError` saying to run it."""
    dist = root / ORT_PACKAGE / "dist"
    if not (dist / ORT_MODULE).is_file() or not (dist / ORT_WASM).is_file():
        raise StaticSiteError(f"onnxruntime-web is not installed in {root / 'node_modules'}: run `npm ci` in {root}")
    return dist


def ort_version(root: Path = ROOT) -> str:
    """The installed onnxruntime-web's version (its package.json)."""
    return json.loads((root / ORT_PACKAGE / "package.json").read_text(encoding="utf-8"))["version"]


def model_names(models: Sequence[str]) -> list[str]:
    """A short, distinct name per model: a folder's name, or a Hub repo's name without ``chargen-``."""
    names: list[str] = []
    for model in models:
        base = model.rstrip("/").split("@")[0].split("/")[-1]
        base = base.removeprefix("chargen-") or "model"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def front_matter(title: str, names: Sequence[str]) -> str:
    """The Space's README.md: front matter for a static Space, and a line on what it is."""
    listed = ", ".join(names)
    return (
        "---\n"
        f"title: {json.dumps(title)}\n"
        "emoji: 🔤\n"
        "colorFrom: blue\n"
        "colorTo: gray\n"
        "sdk: static\n"
        "app_file: index.html\n"
        "pinned: false\n"
        "---\n\n"
        f"chargen's static page ({listed}): greedy and sampled continuations generated in the visitor's browser "
        "with onnxruntime-web. Made by `python -m chargen deploy --static`.\n"
    )


def _empty_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StaticSiteError(f"{out}: must be a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)


def build_static_site(
    models: Sequence[str],
    out: str | Path,
    *,
    precision: str = "fp16",
    title: str = "chargen: greedy vs. sampled, in your browser",
    root: Path = ROOT,
    log: Log = print,
) -> StaticSite:
    """Write the static page for ``models`` (checkpoint folders or Hub repo ids; the first is the default) to ``out``.

    Args:
        models: what to export, in the order the page's model picker lists them.
        out: a new or empty folder.
        precision: the weights' precision (:data:`chargen.export.onnx.EXPORT_PRECISIONS`).
        title: the page's title and the Space's.
        root: the project folder holding ``node_modules`` (``npm ci``).
        log: where progress lines go.

    Returns:
        A :class:`StaticSite` with the folder and its total size.
    """
    from chargen.hub import load_model

    check_export_precision(precision)
    if not models:
        raise ConfigError("at least one model is needed")
    dist = ort_dist(root)
    out = Path(out)
    _empty_folder(out)
    names = model_names(models)
    entries: list[dict[str, Any]] = []
    for model_id, name in zip(models, names, strict=True):
        model = load_model(model_id)
        folder = f"models/{name}"
        export_onnx(model, out / folder, precision=precision, name=name)
        entries.append({"name": name, "folder": folder, "unit": model.unit, "precision": precision, "source": model_id})
        log(f"exported {model_id} -> {out / folder} ({precision})")
    for name in PAGE_FILES:
        shutil.copyfile(PAGE_DIR / name, out / name)
    (out / "ort").mkdir()
    shutil.copyfile(dist / ORT_MODULE, out / "ort" / ORT_MODULE)
    # mtime 0: the same runtime gives the same bytes, so a re-deploy uploads nothing new.
    with open(dist / ORT_WASM, "rb") as src, gzip.GzipFile(out / "ort" / f"{ORT_WASM}.gz", "wb", 9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    site = {
        "title": title,
        "models": entries,
        "ort": {"version": ort_version(root), "module": f"ort/{ORT_MODULE}", "wasm": f"ort/{ORT_WASM}.gz"},
        "prng": PRNG,
    }
    (out / SITE_FILE).write_text(json.dumps(site, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(front_matter(title, names), encoding="utf-8")
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    log(f"wrote the static page to {out}: {total / 1e6:.1f} MB")
    return StaticSite(folder=out, models=names, total_bytes=total)


def deploy_static(
    space_id: str,
    models: Sequence[str],
    *,
    dry_run: str | Path | None = None,
    private: bool = False,
    precision: str = "fp16",
    endpoint: str | None = None,
    token: str | None = None,
    log: Log = print,
    root: Path = ROOT,
) -> str:
    """Build the static page for ``models`` and upload it to the static Space ``space_id`` (created if needed).

    With ``dry_run`` (a new or empty folder) the page is written there and nothing is uploaded:
    ``python -m http.server -d DIR`` then serves it as the Space would. The token comes from
    ``token``, else ``HF_TOKEN`` or a prior ``hf auth login``. Returns where the page is: the
    dry-run folder, or the Space's URL.
    """
    owner, _, name = space_id.partition("/")
    if not owner or not name or "/" in name:
        raise ConfigError(f"the Space must be given as OWNER/NAME, got {space_id!r}")
    if dry_run is not None:
        site = build_static_site(models, dry_run, precision=precision, root=root, log=log)
        log(f"would upload {site.folder} to the static Space {space_id}; `python -m http.server -d {site.folder}`")
        return str(site.folder)
    import huggingface_hub

    token = token or huggingface_hub.get_token()
    if not token:
        raise StaticSiteError("no Hugging Face token: set HF_TOKEN or run `hf auth login` first")
    with tempfile.TemporaryDirectory(prefix="chargen-static-") as tmp:
        site = build_static_site(models, Path(tmp) / "site", precision=precision, root=root, log=log)
        api = huggingface_hub.HfApi(endpoint=endpoint, token=token)
        api.create_repo(space_id, repo_type="space", space_sdk="static", private=private, exist_ok=True)
        try:
            present = api.list_repo_files(space_id, repo_type="space")
        except huggingface_hub.errors.RevisionNotFoundError:  # a new repo without a commit yet
            present = []
        # Models and runtime files this site no longer has (a model dropped, a new runtime) are deleted.
        stale = [p for p in present if p.startswith(("models/", "ort/")) and not (site.folder / p).is_file()]
        info = api.upload_folder(
            repo_id=space_id,
            repo_type="space",
            folder_path=site.folder,
            commit_message="chargen deploy --static",
            delete_patterns=stale or None,
        )
    url = f"{api.endpoint.rstrip('/')}/spaces/{space_id}"
    log(f"{space_id}: uploaded at {info.oid[:12]} ({url})")
    return url
