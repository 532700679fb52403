"""Publish the app on Hugging Face Spaces: ``python -m chargen deploy OWNER/SPACE [--dry-run DIR]``.

1. Each model folder goes to its own model repo, ``OWNER/chargen-<folder name>``, with
   :func:`chargen.hub.push_checkpoint` (config.json, model.safetensors, the README.md card, loss.png).
2. The Space ``OWNER/SPACE`` gets ``app.py``, the ``chargen`` package, a ``requirements.txt`` for
   its hardware, a README whose front matter names the models (``models:``) and preloads them
   (``preload_from_hub:``), and :data:`~chargen.hosting.space.MODELS_FILE` listing the model repos pinned to
   the commits just pushed (it wins over ``CHARGEN_MODELS``; see :mod:`chargen.hosting.space`). No weights go
   into the Space.

Every push is a no-op when nothing changed (huggingface_hub drops unchanged files and sends no
empty commit), so a re-run updates in place and a re-run with nothing new prints "up to date". A
deploy that fails halfway says what it pushed; running it again finishes the job.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chargen.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint
from chargen.errors import ChargenError, ConfigError
from chargen.hosting.space import MODELS_FILE
from chargen.hub import BUNDLED_MODELS, HubError, bundled_folder, push_checkpoint, push_files

ROOT = Path(__file__).resolve().parents[2]
"""The project folder: app.py, requirements.txt and README.md sit beside the chargen package."""
DEFAULT_MODELS = tuple(BUNDLED_MODELS)
"""Every model the app shows by default, by short name (found in ``checkpoints/`` beside the package)."""
REPO_PREFIX = "chargen-"
ZEROGPU = "zero-a10g"
HARDWARE = {
    ZEROGPU: "ZeroGPU: free accounts may host up to 2; the app runs on its CPUs, training may borrow a GPU",
    "cpu-basic": "2 vCPU, 16 GB: needs a paid plan since July 2026; the app's own sizing",
    "cpu-upgrade": "8 vCPU, 32 GB, paid",
}
"""Hardware ``deploy`` may request (huggingface_hub's SpaceHardware names) and what each means here."""
ZEROGPU_PYTHON = ("3.10", "3.12")
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0", "2.12.1", "2.13.0")
"""What ZeroGPU runs (Hub docs, 2026): Python 3.10.13 or 3.12.12, and these torch releases."""
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PRELOAD_FILES = (CONFIG_NAME, WEIGHTS_NAME)
"""What the Space needs from each model repo: preloaded at build time, or downloaded at start."""
SPACE_FILES = ("README.md", "app.py", "requirements.txt", MODELS_FILE)
"""The Space's top-level files; the ``chargen`` package goes too. Stale files under ``chargen/`` are deleted."""
PACKAGE_SUFFIXES = (".py", ".js", ".css", ".html", ".md", ".json")
"""The ``chargen`` package's files that go to the Space: its modules and the web page's static files
(as ``pyproject.toml``'s package data); caches and anything else in the checkout stay behind."""
PASSED_THROUGH = ("hf_oauth", "hf_oauth_scopes", "hf_oauth_expiration_minutes")
"""Front matter keys copied from the project's README.md into the Space's as they are."""
HUB_URL = "https://huggingface.co"
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}$")
_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")

Log = Callable[[str], None]


class DeployError(ChargenError):
    """A deploy could not start or stopped halfway; the message says what was pushed and what to do."""


@dataclass(frozen=True)
class DeploySettings:
    """What to publish where.

    Args:
        space_id: the Space, ``owner/name``; model repos go to the same owner.
        models: checkpoint folders (or bundled models' short names) to publish and serve; the first is the
            app's default. By default every model the app shows when run locally.
        hardware: one of :data:`HARDWARE`, requested when the Space is created and named in its
            front matter (``suggested_hardware``); it also picks the torch build in requirements.txt.
        private: make the model repos and the Space private (no ``preload_from_hub`` then: the Space
            downloads the models at start with its ``HF_TOKEN`` secret).
    """

    space_id: str
    models: tuple[str, ...] = DEFAULT_MODELS
    hardware: str = ZEROGPU
    private: bool = False

    def __post_init__(self) -> None:
        owner, _, name = self.space_id.partition("/")
        if not (_NAME.match(owner) and _NAME.match(name)):
            raise ConfigError(f"the Space must be given as OWNER/NAME (letters, digits, - _ .), got {self.space_id!r}")
        if owner == "chargen":
            # In the Space folder `chargen/` is the package, so `chargen/chargen-x@sha` would read as a local path.
            raise ConfigError("an owner named 'chargen' clashes with the Space's chargen/ package folder; use another")
        if self.hardware not in HARDWARE:
            raise ConfigError(f"hardware must be one of {', '.join(HARDWARE)}, got {self.hardware!r}")
        if not self.models:
            raise ConfigError("at least one model folder is needed")

    @property
    def owner(self) -> str:
        """The user or organisation that owns the Space and the model repos."""
        return self.space_id.split("/")[0]

    @property
    def zero_gpu(self) -> bool:
        """Whether the Space is asked to run on ZeroGPU."""
        return self.hardware.startswith("zero-")


@dataclass(frozen=True)
class ModelTarget:
    """One checkpoint folder and the model repo it is published to."""

    folder: Path
    repo_id: str


@dataclass(frozen=True)
class Pin:
    """A model repo and the revision the Space loads: a commit sha, or ``main`` when none is known yet."""

    repo_id: str
    revision: str

    @property
    def pinned(self) -> bool:
        """Whether ``revision`` is a commit (which never changes)."""
        return bool(_COMMIT_SHA.match(self.revision))

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}"


@dataclass
class DeployResult:
    """What a deploy did: the pins written into the Space and which repos got a new commit."""

    pins: list[Pin]
    space_url: str
    changed: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """True when nothing at all was committed."""
        return not self.changed


def model_targets(settings: DeploySettings) -> list[ModelTarget]:
    """The model repo of each folder: ``OWNER/chargen-<folder name>``; two folders may not share a name.

    A name that is no folder here but a bundled model's short name (:data:`chargen.hub.BUNDLED_MODELS`)
    publishes that bundled folder.
    """
    targets: dict[str, ModelTarget] = {}
    for model in settings.models:
        folder = Path(model)
        if not folder.is_dir():
            bundled = bundled_folder(model)
            if bundled is None:
                raise ConfigError(
                    f"{model}: no such checkpoint folder (deploy publishes local folders, or the bundled models "
                    f"{', '.join(BUNDLED_MODELS)} by short name)"
                )
            folder = bundled
        repo_id = f"{settings.owner}/{REPO_PREFIX}{folder.resolve().name}"
        if repo_id in targets:
            raise ConfigError(f"{model} and {targets[repo_id].folder} would both publish to {repo_id}")
        targets[repo_id] = ModelTarget(folder, repo_id)
    return list(targets.values())


def space_files(settings: DeploySettings, pins: list[Pin], root: Path = ROOT) -> dict[str, bytes]:
    """Every file of the Space, by path: app.py, the chargen package (:data:`PACKAGE_SUFFIXES`),
    requirements.txt, README.md and the models file."""
    app = root / "app.py"
    if not app.is_file():
        raise DeployError(f"{app}: not found; deploy runs from a chargen checkout (app.py beside the chargen package)")
    files = {"app.py": app.read_bytes()}
    package = root / "chargen"
    for path in sorted(package.rglob("*")):
        # static_site/ is the static page's (deploy --static); the Gradio Space does not serve it.
        skipped = "__pycache__" in path.parts or "static_site" in path.parts
        if path.is_file() and path.suffix in PACKAGE_SUFFIXES and not skipped:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    files["requirements.txt"] = space_requirements(settings, root).encode()
    files["README.md"] = space_readme(settings, pins, root).encode()
    files[MODELS_FILE] = models_file_text(pins).encode()
    return files


def space_requirements(settings: DeploySettings, root: Path = ROOT) -> str:
    """The project's requirements.txt adapted to a Space: gradio left out, torch built for the hardware.

    gradio's version comes from ``sdk_version`` in the front matter, so listing it again could only
    conflict. On CPU hardware torch comes from PyTorch's CPU wheel index (``+cpu``): PyPI's Linux
    build pulls in the nvidia-* CUDA packages, gigabytes a CPU Space would download and never use.
    On ZeroGPU torch is the
    PyPI (CUDA) build, which ``@spaces.GPU`` functions need; ``spaces`` itself is provided by
    ZeroGPU and must not be listed.
    """
    torch_version = None
    kept = []
    for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()
        if name == "gradio" or not requirement:
            continue
        if name == "torch":
            torch_version = requirement.partition("==")[2].strip() or None
            continue
        kept.append(requirement)
    if torch_version is None:
        raise DeployError(f"{root / 'requirements.txt'}: needs a pinned torch==VERSION to build the Space's")
    if settings.zero_gpu:
        if torch_version not in ZEROGPU_TORCH:
            raise DeployError(f"ZeroGPU runs torch {', '.join(ZEROGPU_TORCH)}; requirements.txt pins {torch_version}")
        header = [
            "# ZeroGPU: torch's CUDA build from PyPI (@spaces.GPU functions run on CUDA); `spaces` comes with ZeroGPU.",
            f"torch=={torch_version}",
        ]
    else:
        header = [
            "# CPU Space: torch's CPU-only build from PyTorch's wheel index, without the nvidia-* CUDA packages.",
            f"--extra-index-url {TORCH_CPU_INDEX}",
            f"torch=={torch_version}+cpu",
        ]
    note = "# gradio is not listed: the Space installs the version in README.md's sdk_version."
    return "\n".join([*header, *kept, note]) + "\n"


def models_file_text(pins: list[Pin]) -> str:
    """The Space's models file: one pinned repo per line, the first being the default model."""
    lines = [
        "# The models this Space serves, written by `python -m chargen deploy`; the first is the default.",
        "# One per line: a Hub repo id, @ a commit. This file wins over the CHARGEN_MODELS variable;",
        "# edit it, or delete it to use CHARGEN_MODELS instead.",
        *(str(pin) for pin in pins),
    ]
    return "\n".join(lines) + "\n"


def space_readme(settings: DeploySettings, pins: list[Pin], root: Path = ROOT) -> str:
    """The Space's README.md: the project's front matter plus the models, their preloading and the hardware."""
    import yaml

    meta = _front_matter(root / "README.md")
    python_version = str(meta.get("python_version", "3.12"))
    if python_version not in ZEROGPU_PYTHON:  # cpu-basic takes any; ZeroGPU only these, so keep one both run
        python_version = ZEROGPU_PYTHON[-1]
    front = {
        "title": meta.get("title", "chargen"),
        "emoji": meta.get("emoji", "🎭"),
        "colorFrom": meta.get("colorFrom", "indigo"),
        "colorTo": meta.get("colorTo", "pink"),
        "sdk": "gradio",
        "sdk_version": str(meta.get("sdk_version", _gradio_version())),
        "python_version": python_version,
        "app_file": "app.py",
        "pinned": False,
        "short_description": meta.get("short_description", "Char-RNN text generation, greedy vs. sampled")[:60],
        "license": meta.get("license", "mit"),
        "suggested_hardware": settings.hardware,
        "models": [pin.repo_id for pin in pins],
    }
    if not settings.private:  # preload_from_hub cannot read private repos
        front["preload_from_hub"] = [_preload_line(pin) for pin in pins]
    for key in PASSED_THROUGH:  # e.g. the Train tab's "Sign in with Hugging Face"
        if key in meta:
            front[key] = meta[key]
    if meta.get("tags"):
        front["tags"] = list(meta["tags"])
    body = [
        f"# {front['title']}",
        "",
        "Greedy and sampled continuations of your text, side by side, from character-level RNNs,",
        "served by chargen's app and published with `python -m chargen deploy`.",
        "",
        f"Models (from `{MODELS_FILE}`; the first is the default):",
        "",
        *(f"- [{pin.repo_id}]({HUB_URL}/{pin.repo_id}) at `{pin.revision}`" for pin in pins),
        "",
        f"`{MODELS_FILE}` names the models this Space serves, pinned to commits. It takes precedence",
        "over a `CHARGEN_MODELS` variable in the Space's settings; edit or delete it to change the models.",
    ]
    if settings.private:
        body += [
            "",
            "The model repos are private, which `preload_from_hub` does not support: add a secret",
            "`HF_TOKEN` (a read token that can see them) in the Space's settings, and the app downloads",
            "them when it starts.",
        ]
    else:
        body += [
            "",
            "`preload_from_hub` downloads their weights when the Space is built, so it starts without waiting.",
        ]
    dumped = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{dumped}---\n\n" + "\n".join(body) + "\n"


def write_space(files: dict[str, bytes], out_dir: str | Path) -> Path:
    """Write the Space's files under ``out_dir``, which must be new or empty."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DeployError(f"{out_dir}: exists and is not an empty folder; give a new or empty one for --dry-run")
    for name, data in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return out_dir


def dry_run(
    settings: DeploySettings,
    out_dir: str | Path,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    log: Log = print,
    root: Path = ROOT,
) -> list[Pin]:
    """Write the Space folder exactly as :func:`deploy` would upload it, and upload nothing.

    Models are pinned to their repos' current commits where the repos exist, else to ``main``
    with a warning (those repos don't exist yet, or the Hub could not be asked). Prints what would
    be pushed where. ``cd out_dir && python app.py`` then runs as the Space would. ``root`` is the
    project folder whose app.py, chargen package, requirements.txt and README.md go into the Space.
    """
    targets = model_targets(settings)
    for target in targets:
        load_checkpoint(target.folder)
    hf = _hf()
    api = hf.HfApi(endpoint=endpoint, token=token or hf.get_token())
    pins = []
    for target in targets:
        try:
            sha = _head(api, target.repo_id, "model", hf)
            why = "does not exist yet"
        except (hf.HfHubHTTPError, *_network_errors(hf)) as exc:
            sha, why = None, f"could not be asked ({_first_line(exc)})"
        if sha is None:
            log(f"warning: {target.repo_id} {why}: the Space folder loads its main branch, not a pinned commit")
        pins.append(Pin(target.repo_id, sha or "main"))
    files = space_files(settings, pins, root)
    write_space(files, out_dir)
    endpoint_url = (endpoint or hf.constants.ENDPOINT).rstrip("/")
    for target in targets:
        names = ", ".join(path.name for path in push_files(target.folder))
        log(f"would push {target.folder} -> {endpoint_url}/{target.repo_id} ({names})")
    log(
        f"would push {len(files)} files -> {endpoint_url}/spaces/{settings.space_id} "
        f"(hardware {settings.hardware}{', private' if settings.private else ''}): {', '.join(sorted(files))}"
    )
    log(f"wrote them to {out_dir}; `cd {out_dir} && python app.py` runs it as the Space would")
    return pins


def deploy(
    settings: DeploySettings,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    log: Log = print,
    root: Path = ROOT,
) -> DeployResult:
    """Push the model repos, then create or update the Space; see the module docstring.

    The token comes from ``token``, else ``HF_TOKEN`` or a prior ``hf auth login``. Every model
    folder is loaded, and the Space's files assembled, before anything is uploaded. Raises
    :class:`DeployError` saying what was already pushed when a step fails; running the same deploy
    again finishes it. ``root`` is as in :func:`dry_run`.
    """
    targets = model_targets(settings)
    for target in targets:
        load_checkpoint(target.folder)  # a broken folder stops the deploy before anything is uploaded
    space_files(settings, [Pin(target.repo_id, "main") for target in targets], root)  # so does a broken project
    hf = _hf()
    token = token or hf.get_token()
    if not token:
        raise DeployError("no Hugging Face token: set HF_TOKEN or run `hf auth login` first")
    api = hf.HfApi(endpoint=endpoint, token=token)
    endpoint_url = api.endpoint.rstrip("/")
    pins: list[Pin] = []
    changed: list[str] = []

    def stopped(step: str, reason: str) -> DeployError:
        done = ", ".join(str(pin) for pin in pins) or "nothing"
        return DeployError(
            f"deploy stopped at {step}: {reason}. Already on the Hub: {done}. "
            "Run the same command again to finish; what is already there is not uploaded again"
        )

    for target in targets:
        try:
            before = _head(api, target.repo_id, "model", hf)
            push_checkpoint(
                target.folder,
                target.repo_id,
                private=settings.private,
                token=token,
                endpoint=endpoint,
                commit_message=f"chargen deploy: {target.folder.name}",
            )
            after = _head(api, target.repo_id, "model", hf)
        except HubError as exc:
            raise stopped(target.repo_id, str(exc)) from None
        except (hf.HfHubHTTPError, *_network_errors(hf)) as exc:
            raise stopped(target.repo_id, _first_line(exc)) from None
        if after is None:
            raise stopped(target.repo_id, "the repo has no commit after the upload")
        pins.append(Pin(target.repo_id, after))
        if after != before:
            changed.append(target.repo_id)
        state = "pushed" if after != before else "up to date"
        log(f"{target.repo_id}: {state} at {after[:12]} ({endpoint_url}/{target.repo_id})")

    space_url = f"{endpoint_url}/spaces/{settings.space_id}"
    try:
        _create_space(api, settings)
        files = space_files(settings, pins, root)
        before = _head(api, settings.space_id, "space", hf)
        present = api.list_repo_files(settings.space_id, repo_type="space") if before else []
        operations = [hf.CommitOperationAdd(path_in_repo=name, path_or_fileobj=data) for name, data in files.items()]
        stale = [p for p in present if p.startswith("chargen/") and p.endswith(PACKAGE_SUFFIXES) and p not in files]
        operations += [hf.CommitOperationDelete(path_in_repo=path) for path in stale]
        info = api.create_commit(
            settings.space_id, operations, repo_type="space", commit_message="chargen deploy: app and models"
        )
    except DeployError as exc:
        raise stopped(f"the Space {settings.space_id}", str(exc)) from None
    except hf.HfHubHTTPError as exc:
        raise stopped(f"the Space {settings.space_id}", _refusal(exc, settings)) from None
    except (*_network_errors(hf), ValueError) as exc:
        raise stopped(f"the Space {settings.space_id}", _first_line(exc)) from None
    if info.oid != before:
        changed.append(settings.space_id)
    log(f"{settings.space_id}: {'updated' if info.oid != before else 'up to date'} at {info.oid[:12]} ({space_url})")
    if settings.private:
        log(
            "note: private model repos cannot be preloaded; add a secret HF_TOKEN (a read token that can see them) "
            "in the Space's settings, and the app downloads them at start"
        )
    log("up to date: nothing changed" if not changed else f"done: new commits in {', '.join(changed)}")
    return DeployResult(pins=pins, space_url=space_url, changed=changed)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``deploy`` on the CLI's subcommands."""
    hardware = "; ".join(f"{name}: {meaning}" for name, meaning in HARDWARE.items())
    p = sub.add_parser(
        "deploy",
        help="publish the models and the app as a Hugging Face Space",
        description=(
            "Push each model folder to its own model repo OWNER/chargen-<folder name>, then create or update the "
            f"Space OWNER/SPACE: app.py, the chargen package, requirements.txt, a README and {MODELS_FILE} (the model "
            "repos pinned to the commits just pushed; it wins over CHARGEN_MODELS). No weights go into the Space. "
            "Re-running updates in place; with nothing changed it commits nothing and says 'up to date'. "
            "The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT is honoured."
        ),
    )
    p.add_argument("space_id", metavar="OWNER/SPACE", help="the Space to create or update")
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=(
            "comma-separated checkpoint folders or bundled models' short names, the first is the default "
            f"(default: every model the app shows, {','.join(DEFAULT_MODELS)})"
        ),
    )
    p.add_argument("--hardware", default=ZEROGPU, choices=list(HARDWARE), help=f"(default {ZEROGPU}) {hardware}")
    p.add_argument(
        "--private",
        action="store_true",
        help="private model repos and Space; the Space then needs an HF_TOKEN secret to download the models",
    )
    p.add_argument(
        "--dry-run",
        metavar="DIR",
        help="write the Space folder to DIR (new or empty) exactly as it would be uploaded, and upload nothing",
    )
    p.add_argument(
        "--static",
        action="store_true",
        help="a static Space instead (sdk: static, free for every account): a page that generates in the visitor's "
        "browser with onnxruntime-web; ships the first model unless --models is given (docs/static-page.md)",
    )


def run_cli(args: argparse.Namespace) -> int:
    """Run ``deploy`` from parsed CLI arguments."""
    models = tuple(name.strip() for name in args.models.split(",") if name.strip())
    if getattr(args, "static", False):
        from chargen.hosting.static import deploy_static

        given = args.models != ",".join(DEFAULT_MODELS)  # a page is downloaded whole: one model unless asked
        deploy_static(args.space_id, models if given else models[:1], dry_run=args.dry_run, private=args.private)
        return 0
    settings = DeploySettings(args.space_id, models=models, hardware=args.hardware, private=args.private)
    if args.dry_run:
        dry_run(settings, args.dry_run)
    else:
        deploy(settings, log=lambda line: print(line, file=sys.stderr if line.startswith("note:") else sys.stdout))
    return 0


def _create_space(api: Any, settings: DeploySettings) -> None:
    api.create_repo(
        settings.space_id,
        repo_type="space",
        space_sdk="gradio",
        space_hardware=settings.hardware,
        private=settings.private,
        exist_ok=True,
    )


def _head(api: Any, repo_id: str, repo_type: str, hf: Any) -> str | None:
    """The repo's current commit on main, or None when the repo or its main branch does not exist yet."""
    try:
        return api.repo_info(repo_id, repo_type=repo_type).sha
    except (hf.RepositoryNotFoundError, hf.RevisionNotFoundError):
        return None


def _refusal(exc: Any, settings: DeploySettings) -> str:
    status = exc.response.status_code if getattr(exc, "response", None) is not None else None
    if status == 402 and not settings.zero_gpu:
        return (
            f"the Hub wants a paid plan for a Space on {settings.hardware} (402); "
            f"a free account can host it on ZeroGPU: --hardware {ZEROGPU}"
        )
    return f"the Hub refused ({status}: {_first_line(exc)})"


def _front_matter(readme: Path) -> dict:
    import yaml

    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.startswith("---\n"):
        return {}
    block = text[4:].split("\n---", 1)[0]
    return yaml.safe_load(block) or {}


def _preload_line(pin: Pin) -> str:
    line = f"{pin.repo_id} {','.join(PRELOAD_FILES)}"
    return f"{line} {pin.revision}" if pin.pinned else line


def _gradio_version() -> str:
    from importlib.metadata import version

    return version("gradio")


def _first_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _network_errors(hf: Any) -> tuple[type[BaseException], ...]:
    return (hf.httpx2.TransportError, ConnectionError, TimeoutError)


def _hf() -> Any:
    """huggingface_hub's pieces, imported on first use (chargen.hub's httpx flavour included)."""
    import huggingface_hub
    from huggingface_hub import constants, errors

    from chargen.hub import hf_modules as hub_modules

    return SimpleNamespace(
        HfApi=huggingface_hub.HfApi,
        CommitOperationAdd=huggingface_hub.CommitOperationAdd,
        CommitOperationDelete=huggingface_hub.CommitOperationDelete,
        get_token=huggingface_hub.get_token,
        constants=constants,
        httpx2=hub_modules().httpx2,
        HfHubHTTPError=errors.HfHubHTTPError,
        RepositoryNotFoundError=errors.RepositoryNotFoundError,
        RevisionNotFoundError=errors.RevisionNotFoundError,
    )
