"""``python -m chargen deploy`` against the stand-in Hub: the real huggingface_hub upload and download code, no mocks.

Uploads take huggingface_hub's LFS path for model.safetensors (the stand-in files ``.safetensors``
under LFS as the Hub's default .gitattributes does, and anything over 10 MB whatever its name). The
client would take the Xet path instead when ``hf_xet`` is installed: the stand-in has no Xet storage,
so Xet is switched off, in this process with ``huggingface_hub.constants.HF_HUB_DISABLE_XET`` and in
subprocesses with ``HF_HUB_DISABLE_XET=1`` (read once at import).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import pytest
import yaml

from chargen.checkpoint import save_checkpoint
from chargen.errors import CheckpointError, ConfigError
from chargen.hosting.deploy import DeployError, DeploySettings, Pin, deploy, dry_run, models_file_text, space_files
from chargen.hosting.space import MODELS_FILE, configured_models, read_models_file
from tests.helpers import ROOT, free_port, run_cli, tiny_model
from tests.hub_server import TOKEN, StandInHub

OWNER = "alice"
SPACE = f"{OWNER}/demo"
MODEL_FILES = {"config.json", "model.safetensors", "README.md", "loss.png"}


def make_checkpoint(parent: Path, name: str, seed: int) -> Path:
    """A tiny seeded checkpoint folder with a model card and a plot, as `chargen train` leaves them."""
    folder = save_checkpoint(tiny_model(cell="gru", hidden=8, layers=1, seed=seed), parent / name)
    (folder / "README.md").write_text(f"---\nlicense: mit\n---\n# {name}\nA tiny test model.\n", encoding="utf-8")
    (folder / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
    (folder / "log.jsonl").write_text("{}\n", encoding="utf-8")  # never published
    return folder


def front_matter(readme: bytes | str) -> dict:
    text = readme.decode() if isinstance(readme, bytes) else readme
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:].split("\n---", 1)[0])


def space_of(hub: StandInHub) -> dict[str, bytes]:
    return hub.files(SPACE, repo_type="space")


@pytest.fixture
def hub() -> StandInHub:
    with StandInHub(lfs_suffixes=(".safetensors",)) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    # What HF_HUB_DISABLE_XET=1 does when set before huggingface_hub is imported.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A snapshot of what deploy publishes from the checkout (app.py, chargen/, README.md, requirements.txt),
    so files edited in the checkout while a test runs cannot change the Space between two deploys."""
    root = tmp_path / "project"
    for name in ("app.py", "README.md", "requirements.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, root / name)
    shutil.copytree(ROOT / "chargen", root / "chargen", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def models(tmp_path: Path) -> tuple[str, str]:
    parent = tmp_path / "checkpoints"
    return str(make_checkpoint(parent, "verse", seed=1)), str(make_checkpoint(parent, "prose", seed=2))


def run_deploy(hub: StandInHub, settings: DeploySettings, project: Path) -> tuple[list[str], object]:
    lines: list[str] = []
    result = deploy(settings, endpoint=hub.endpoint, token=TOKEN, log=lines.append, root=project)
    return lines, result


# -- the models file (chargen.hosting.space) ---------------------------------------------------------


def test_models_file_wins_over_env_which_wins_over_the_bundled_default(tmp_path: Path) -> None:
    env = {"CHARGEN_MODELS": "env/one, env/two"}
    assert configured_models(tmp_path, environ={}) is None  # the app then offers its bundled models
    assert configured_models(tmp_path, environ=env) == "env/one,env/two"
    (tmp_path / MODELS_FILE).write_text(
        "# comment line\n\nfile/one@" + "a" * 40 + "  # pinned\n  file/two\nfile/one@" + "a" * 40 + "\n",
        encoding="utf-8",
    )
    assert configured_models(tmp_path, environ=env) == "file/one@" + "a" * 40 + ",file/two"


def test_a_models_file_naming_nothing_falls_through_to_the_env(tmp_path: Path) -> None:
    (tmp_path / MODELS_FILE).write_text("# nothing here\n\n", encoding="utf-8")
    assert configured_models(tmp_path, environ={"CHARGEN_MODELS": "env/one"}) == "env/one"


def test_an_unreadable_models_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / MODELS_FILE
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match=MODELS_FILE):
        read_models_file(path)


def test_the_models_file_deploy_writes_reads_back_as_its_pins() -> None:
    pins = [Pin("alice/chargen-verse", "b" * 40), Pin("alice/chargen-prose", "main")]
    path_text = models_file_text(pins)
    names = [line for line in path_text.splitlines() if line and not line.startswith("#")]
    assert names == ["alice/chargen-verse@" + "b" * 40, "alice/chargen-prose@main"]


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"space_id": "no-slash"}, "OWNER/NAME"),
        ({"space_id": "a/b/c"}, "OWNER/NAME"),
        ({"space_id": "alice/demo", "hardware": "t4-small"}, "zero-a10g, cpu-basic, cpu-upgrade"),
        ({"space_id": "alice/demo", "models": ()}, "at least one model"),
        ({"space_id": "chargen/demo"}, "clashes with the Space's chargen/ package"),
    ],
)
def test_bad_settings_say_what_is_allowed(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DeploySettings(**kwargs)


def test_two_folders_with_one_name_are_refused_before_any_upload(
    tmp_path: Path, hub: StandInHub, project: Path
) -> None:
    a = make_checkpoint(tmp_path / "a", "same", seed=1)
    b = make_checkpoint(tmp_path / "b", "same", seed=2)
    with pytest.raises(ConfigError, match="alice/chargen-same"):
        run_deploy(hub, DeploySettings(SPACE, models=(str(a), str(b))), project)
    assert hub.requests == []


# -- deploy -----------------------------------------------------------------------------------


def test_deploy_creates_the_model_repos_and_the_space(hub: StandInHub, models: tuple[str, str], project: Path) -> None:
    lines, result = run_deploy(hub, DeploySettings(SPACE, models=models), project)

    for folder, repo_id in zip(models, ("alice/chargen-verse", "alice/chargen-prose"), strict=True):
        files = hub.files(repo_id)
        assert set(files) == MODEL_FILES
        for name in MODEL_FILES:
            assert files[name] == (Path(folder) / name).read_bytes()
    # model.safetensors went through the LFS protocol: batch, PUT of the bytes, then the commit by sha256
    weights = (Path(models[0]) / "model.safetensors").read_bytes()
    assert hub.lfs_objects[hashlib.sha256(weights).hexdigest()] == weights
    assert any(m == "PUT" and p.startswith("/lfs-objects/") for m, p in hub.requests)

    space = space_of(hub)
    assert not [name for name in space if name.endswith(".safetensors")]
    expected = {"README.md", "app.py", "requirements.txt", MODELS_FILE}
    expected |= {
        p.relative_to(project).as_posix() for p in (project / "chargen").rglob("*.py") if "__pycache__" not in p.parts
    }
    # The web page's static files go too: without them the Space's page has no script and no styles.
    static = project / "chargen/app/static"
    expected |= {p.relative_to(project).as_posix() for p in static.rglob("*") if p.is_file()}
    assert {"chargen/app/static/chargen.js", "chargen/app/static/chargen.css"} <= expected
    expected.add("chargen/card_template.md")  # the model card template: the Train tab writes cards in the Space
    assert set(space) == expected
    assert space["app.py"] == (project / "app.py").read_bytes()
    assert space["chargen/hub.py"] == (project / "chargen/hub.py").read_bytes()
    assert space["chargen/app/static/chargen.js"] == (static / "chargen.js").read_bytes()

    heads = {repo: hub.repos[repo].refs["main"] for repo in ("alice/chargen-verse", "alice/chargen-prose")}
    assert [str(pin) for pin in result.pins] == [f"{repo}@{sha}" for repo, sha in heads.items()]
    assert read_models_file_bytes(space[MODELS_FILE]) == [f"{repo}@{sha}" for repo, sha in heads.items()]
    meta = front_matter(space["README.md"])
    assert meta["models"] == list(heads)
    assert meta["preload_from_hub"] == [f"{repo} config.json,model.safetensors {sha}" for repo, sha in heads.items()]
    assert meta["python_version"] in ("3.10", "3.12")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["suggested_hardware"] == "zero-a10g"
    assert meta["hf_oauth"] is True and meta["hf_oauth_scopes"] == ["write-repos", "manage-repos"]  # as README.md's
    created_space = [c for c in hub.created if c.get("type") == "space"]
    assert created_space == [
        {
            "name": "demo",
            "organization": "alice",
            "visibility": "public",
            "type": "space",
            "sdk": "gradio",
            "hardware": "zero-a10g",
        }
    ]
    assert result.changed == ["alice/chargen-verse", "alice/chargen-prose", SPACE]
    assert lines[-1].startswith("done: new commits in")


def read_models_file_bytes(data: bytes) -> list[str]:
    return [line for line in data.decode().splitlines() if line and not line.startswith("#")]


def test_a_second_run_with_nothing_changed_commits_nothing(
    hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    settings = DeploySettings(SPACE, models=models)
    run_deploy(hub, settings, project)
    counts = {key: len(repo.commits) for key, repo in hub.repos.items()}
    commit_posts = [p for m, p in hub.requests if "/commit/" in p]

    lines, result = run_deploy(hub, settings, project)

    assert {key: len(repo.commits) for key, repo in hub.repos.items()} == counts
    assert [p for m, p in hub.requests if "/commit/" in p] == commit_posts  # not even an empty commit was sent
    assert result.up_to_date
    assert lines[-1] == "up to date: nothing changed"
    assert all("up to date" in line for line in lines)


def test_a_changed_model_updates_its_repo_and_the_pin_in_place(
    tmp_path: Path, hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    settings = DeploySettings(SPACE, models=models)
    run_deploy(hub, settings, project)
    since_deleted = {"chargen/removed_module.py": b"x = 1\n", "chargen/app/static/removed.js": b"window.x = 1;\n"}
    hub.commit(SPACE, since_deleted, repo_type="space")
    prose_head = hub.repos["alice/chargen-prose"].refs["main"]
    save_checkpoint(tiny_model(cell="gru", hidden=8, layers=1, seed=99), models[0])  # retrained

    lines, result = run_deploy(hub, settings, project)

    assert result.changed == ["alice/chargen-verse", SPACE]
    assert hub.repos["alice/chargen-prose"].refs["main"] == prose_head
    verse_head = hub.repos["alice/chargen-verse"].refs["main"]
    space = space_of(hub)
    assert read_models_file_bytes(space[MODELS_FILE]) == [
        f"alice/chargen-verse@{verse_head}",
        f"alice/chargen-prose@{prose_head}",
    ]
    assert not set(since_deleted) & set(space)
    assert hub.files("alice/chargen-verse")["model.safetensors"] == (Path(models[0]) / "model.safetensors").read_bytes()


def test_files_over_10_mb_take_the_large_file_path_whatever_their_name(tmp_path: Path, project: Path) -> None:
    folder = make_checkpoint(tmp_path, "big", seed=3)
    plot = os.urandom(10 * 1024 * 1024 + 1)  # over the Hub's 10 MB limit for plain git files
    (folder / "loss.png").write_bytes(plot)
    with StandInHub() as hub:  # no suffix rule: only the size sends a file to LFS
        deploy(
            DeploySettings(SPACE, models=(str(folder),)),
            endpoint=hub.endpoint,
            token=TOKEN,
            log=lambda _: None,
            root=project,
        )
        assert hub.lfs_objects == {hashlib.sha256(plot).hexdigest(): plot}
        assert hub.files("alice/chargen-big")["loss.png"] == plot


def test_a_deploy_failing_halfway_says_what_was_pushed_and_a_rerun_finishes(
    hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    settings = DeploySettings(SPACE, models=models)
    hub.refuse = {"/api/spaces/"}
    with pytest.raises(DeployError) as failure:
        run_deploy(hub, settings, project)
    message = str(failure.value)
    assert "deploy stopped at the Space alice/demo" in message
    for repo in ("alice/chargen-verse", "alice/chargen-prose"):
        assert f"{repo}@{hub.repos[repo].refs['main']}" in message
    assert "Run the same command again" in message
    model_commits = {repo: len(hub.repos[repo].commits) for repo in ("alice/chargen-verse", "alice/chargen-prose")}

    hub.refuse = set()
    lines, result = run_deploy(hub, settings, project)

    assert result.changed == [SPACE]
    assert {repo: len(hub.repos[repo].commits) for repo in model_commits} == model_commits
    assert MODELS_FILE in space_of(hub)


def test_a_free_account_asking_for_a_cpu_space_is_told_to_use_zerogpu(models: tuple[str, str], project: Path) -> None:
    with StandInHub(lfs_suffixes=(".safetensors",), paid=False) as hub:
        with pytest.raises(DeployError, match="paid plan.*--hardware zero-a10g"):
            run_deploy(hub, DeploySettings(SPACE, models=models, hardware="cpu-basic"), project)
        lines, _ = run_deploy(hub, DeploySettings(SPACE, models=models), project)  # ZeroGPU is allowed
        assert hub.repos[f"spaces/{SPACE}"].hardware == "zero-a10g"


def test_cpu_hardware_gets_the_cpu_torch_build_and_zerogpu_the_pypi_one(models: tuple[str, str], project: Path) -> None:
    pins = [Pin("alice/chargen-verse", "c" * 40)]
    cpu = space_files(DeploySettings(SPACE, models=models, hardware="cpu-basic"), pins, project)[
        "requirements.txt"
    ].decode()
    zero = space_files(DeploySettings(SPACE, models=models), pins, project)["requirements.txt"].decode()
    project_torch = next(
        line for line in (project / "requirements.txt").read_text().splitlines() if line.startswith("torch")
    )
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu.splitlines()
    assert f"{project_torch}+cpu" in cpu.splitlines()
    assert project_torch in zero.splitlines() and "download.pytorch.org" not in zero
    for text in (cpu, zero):
        requirements = [line for line in text.splitlines() if line and not line.startswith(("#", "--"))]
        assert not [r for r in requirements if r.startswith(("gradio", "spaces"))]


def test_private_repos_are_not_preloaded_and_the_space_says_to_add_hf_token(
    hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    lines, _ = run_deploy(hub, DeploySettings(SPACE, models=models, private=True), project)
    assert hub.repos["alice/chargen-verse"].private and hub.repos[f"spaces/{SPACE}"].private
    readme = space_of(hub)["README.md"].decode()
    assert "preload_from_hub" not in front_matter(readme)
    assert front_matter(readme)["models"] == ["alice/chargen-verse", "alice/chargen-prose"]
    assert "HF_TOKEN" in readme
    assert any(line.startswith("note:") and "HF_TOKEN" in line for line in lines)


def test_no_token_is_refused_before_any_upload(
    hub: StandInHub, models: tuple[str, str], monkeypatch, project: Path
) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(DeployError, match="HF_TOKEN"):
        deploy(DeploySettings(SPACE, models=models), endpoint=hub.endpoint, log=lambda _: None, root=project)
    assert hub.requests == []


# -- dry run ----------------------------------------------------------------------------------


def test_dry_run_writes_what_deploy_uploads_and_uploads_nothing(
    tmp_path: Path, hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    settings = DeploySettings(SPACE, models=models)
    run_deploy(hub, settings, project)
    uploads_before = [r for r in hub.requests if r[0] in ("POST", "PUT")]

    lines: list[str] = []
    pins = dry_run(settings, tmp_path / "space", endpoint=hub.endpoint, log=lines.append, root=project)

    assert [r for r in hub.requests if r[0] in ("POST", "PUT")] == uploads_before
    written = {
        p.relative_to(tmp_path / "space").as_posix(): p.read_bytes()
        for p in (tmp_path / "space").rglob("*")
        if p.is_file()
    }
    assert written == space_of(hub)  # byte for byte what the deploy put in the Space
    assert all(pin.pinned for pin in pins)
    assert any(line.startswith("would push") and "alice/chargen-verse" in line for line in lines)
    assert any(line.startswith("would push") and f"spaces/{SPACE}" in line for line in lines)


def test_dry_run_before_any_deploy_pins_main_with_a_warning(
    tmp_path: Path, hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    lines: list[str] = []
    dry_run(
        DeploySettings(SPACE, models=models), tmp_path / "space", endpoint=hub.endpoint, log=lines.append, root=project
    )
    folder = tmp_path / "space"
    assert not list(folder.rglob("*.safetensors"))
    assert read_models_file(folder / MODELS_FILE) == ["alice/chargen-verse@main", "alice/chargen-prose@main"]
    meta = front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert meta["preload_from_hub"] == [
        "alice/chargen-verse config.json,model.safetensors",
        "alice/chargen-prose config.json,model.safetensors",
    ]
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 2 and all("main" in line for line in warnings)
    assert hub.repos == {}


def test_dry_run_refuses_a_folder_that_holds_something(tmp_path: Path, hub: StandInHub, models, project: Path) -> None:
    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "keep.txt").write_text("mine")
    with pytest.raises(DeployError, match="new or empty"):
        dry_run(
            DeploySettings(SPACE, models=models),
            tmp_path / "space",
            endpoint=hub.endpoint,
            log=lambda _: None,
            root=project,
        )


# -- the CLI and the deployed app, in subprocesses ---------------------------------------------


@pytest.mark.slow
def test_the_cli_deploys_then_says_up_to_date(
    tmp_path: Path, hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    env = {
        "HF_TOKEN": TOKEN,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_DISABLE_XET": "1",  # before huggingface_hub is imported: the stand-in has no Xet storage
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": str(project),  # the snapshot's chargen, which deploys the snapshot
    }
    args = ("deploy", SPACE, "--models", ",".join(models))
    first = run_cli(*args, env=env, cwd=project, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"{SPACE}: updated" in first.stdout
    assert space_of(hub)["chargen/hub.py"] == (project / "chargen/hub.py").read_bytes()
    second = run_cli(*args, env=env, cwd=project, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "up to date: nothing changed"
    assert len(hub.repos[f"spaces/{SPACE}"].commits) == 1


@pytest.mark.slow
@pytest.mark.parametrize("with_spaces", [True, False], ids=["spaces-installed", "no-spaces"])
def test_the_dry_run_folder_serves_generate_from_a_cold_cache(
    tmp_path: Path, hub: StandInHub, models: tuple[str, str], with_spaces: bool, project: Path
) -> None:
    from gradio_client import Client

    if with_spaces:
        pytest.importorskip("spaces")
    settings = DeploySettings(SPACE, models=models)
    result = deploy(settings, endpoint=hub.endpoint, token=TOKEN, log=lambda _: None, root=project)
    folder = tmp_path / "space"
    dry_run(settings, folder, endpoint=hub.endpoint, log=lambda _: None, root=project)
    with (folder / MODELS_FILE).open("a", encoding="utf-8") as models_file:
        models_file.write("alice/chargen-never-pushed\n")  # a download that fails at start: a notice, not a crash
    downloads_before = len(hub.paths_requested("/alice/"))

    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("HF_", "CHARGEN_", "GRADIO_", "SPACES_"))
    }
    env.update(
        {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HOME": str(tmp_path / "cold-hf-home"),
            "CHARGEN_MODELS": "nobody/elsewhere",  # the Space's models file wins over this
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
            "PYTHONPATH": "",  # the Space's own chargen package, not the checkout's
        }
    )
    if with_spaces:
        command = [sys.executable, "app.py"]
    else:  # as if `spaces` were not installed: `import spaces` raises ImportError
        hide = "import sys; sys.modules['spaces'] = None; import runpy; runpy.run_path('app.py', run_name='__main__')"
        command = [sys.executable, "-c", hide]
    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(process, url, log_path)
            greedy, sampled, *_ = Client(url, verbose=False).predict("abc", 0.8, 25, api_name="/generate")
            with urllib.request.urlopen(url + "config", timeout=10) as response:
                page_config = response.read().decode()
            # The page's script and styles, at the URLs its head links: the Space's own files.
            linked = {}
            for link in re.findall(r'(?:src|href)="([^"]+)"', json.loads(page_config)["head"]):
                with urllib.request.urlopen(url + link, timeout=10) as response:
                    linked[link.split("?")[0].rsplit("/", 1)[-1]] = response.read()
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert len(greedy) == len(sampled) == 25
    assert "alice/chargen-never-pushed" in page_config  # named on the page, the others served
    static = folder / "chargen/app/static"
    assert linked == {name: (static / name).read_bytes() for name in ("chargen.js", "chargen.css", "i18n.js")}
    fetched = [p for m, p in hub.requests[downloads_before:] if m == "GET" and "/resolve/" in p]
    for pin in result.pins:
        assert f"/{pin.repo_id}/resolve/{pin.revision}/model.safetensors" in fetched
    assert not hub.paths_requested("/api/models/nobody") and not hub.paths_requested("/nobody")
    assert list((tmp_path / "cold-hf-home").rglob("model.safetensors"))


def wait_until_serving(process: subprocess.Popen, url: str, log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the app did not answer within {timeout} s:\n{log_path.read_text()}"
        time.sleep(0.2)


def test_a_broken_model_folder_stops_the_deploy_before_any_upload(
    hub: StandInHub, models: tuple[str, str], project: Path
) -> None:
    (Path(models[1]) / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        run_deploy(hub, DeploySettings(SPACE, models=models), project)
    assert hub.requests == []


def test_the_project_readme_runs_on_zerogpu_and_cpu_spaces() -> None:
    meta = front_matter((ROOT / "README.md").read_text(encoding="utf-8"))
    assert meta["python_version"] in ("3.10", "3.12")  # ZeroGPU runs only these; cpu-basic runs any
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"


def test_by_default_deploy_ships_every_model_the_app_shows(
    hub: StandInHub, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chargen.app.views import short_name
    from chargen.cli import build_parser
    from chargen.hub import BUNDLED_MODELS

    if not all((ROOT / folder / "config.json").is_file() for folder in BUNDLED_MODELS.values()):
        pytest.skip("the bundled models are not all in this checkout")
    monkeypatch.chdir(tmp_path)  # short names, found beside the package from any working directory
    parsed = build_parser().parse_args(["deploy", SPACE])
    assert parsed.models.split(",") == list(BUNDLED_MODELS)
    settings = DeploySettings(SPACE)
    lines: list[str] = []
    pins = dry_run(settings, tmp_path / "space", endpoint=hub.endpoint, token=TOKEN, log=lines.append, root=project)
    assert [pin.repo_id for pin in pins] == [f"{OWNER}/chargen-{name}" for name in BUNDLED_MODELS]
    # the Space offers the models under the names the local app shows
    assert [short_name(str(pin)) for pin in pins] == list(BUNDLED_MODELS)
    assert front_matter((tmp_path / "space" / "README.md").read_text())["models"] == [p.repo_id for p in pins]
    # --models chooses
    chosen = DeploySettings(SPACE, models=("python",))
    assert [
        pin.repo_id for pin in dry_run(chosen, tmp_path / "one", endpoint=hub.endpoint, log=lines.append, root=project)
    ] == [f"{OWNER}/chargen-python"]
