"""chargen.hub against a stand-in Hub on 127.0.0.1: the real huggingface_hub code, no mocks, no internet.

Most tests call chargen in this process with ``endpoint=`` and ``cache_dir=`` explicit. The ones
about environment variables (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE``, ``HF_TOKEN``), which
huggingface_hub reads once at import, and the CLI run in a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from chargen.checkpoint import save_checkpoint
from chargen.errors import CheckpointError
from chargen.hub import (
    BUNDLED_MODELS,
    HubError,
    HubRef,
    bundled_folder,
    is_local_name,
    load_model,
    load_models,
    parse_hub_ref,
    parse_models_env,
    push_checkpoint,
    push_files,
)
from chargen.model import CharRNN
from tests.helpers import tiny_model
from tests.hub_server import TOKEN, Blackhole, StandInHub, closed_port_endpoint

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILES = ("config.json", "model.safetensors")
PUBLISHED = ["config.json", "model.safetensors", "README.md", "loss.png"]


def tiny(seed: int, cell: str = "gru") -> CharRNN:
    """A small seeded model; different seeds give different weights."""
    return tiny_model(cell, vocab="\n abc", hidden=8, layers=1, seed=seed, embedding=4)


def same_weights(a: CharRNN, b: CharRNN) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return a.config == b.config and sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def checkpoint_files(model: CharRNN, folder: Path) -> dict[str, bytes]:
    save_checkpoint(model, folder)
    return {name: (folder / name).read_bytes() for name in MODEL_FILES}


@pytest.fixture
def hub() -> StandInHub:
    with StandInHub() as server:
        yield server


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    # chargen looks at HF_HUB_OFFLINE at call time too; the in-process tests want the Hub reachable.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def downloads(hub: StandInHub) -> list[str]:
    """The files the client fetched with GET (a HEAD is only a freshness check)."""
    return [path.rsplit("/", 1)[1] for method, path in hub.requests if method == "GET" and "/resolve/" in path]


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice/tiny", HubRef("alice/tiny")),
        ("alice/tiny@v1", HubRef("alice/tiny", "v1")),
        ("alice/tiny@" + "a" * 40, HubRef("alice/tiny", "a" * 40)),
        ("./alice/tiny", None),
        ("/abs/alice/tiny", None),
        ("a/b/c", None),
        ("tiny", None),
        ("alice/tiny@", None),
    ],
)
def test_parse_hub_ref(name: str, expected: HubRef | None) -> None:
    assert parse_hub_ref(name) == expected


def test_existing_local_folder_wins_over_a_repo_id(hub: StandInHub, tmp_path: Path, monkeypatch) -> None:
    local = tiny(1)
    save_checkpoint(local, tmp_path / "alice" / "tiny")
    hub.commit("alice/tiny", checkpoint_files(tiny(2), tmp_path / "other"))
    monkeypatch.chdir(tmp_path)
    assert parse_hub_ref("alice/tiny") is None and parse_hub_ref(Path("x/y")) is None
    assert same_weights(load_model("alice/tiny", endpoint=hub.endpoint, cache_dir=tmp_path / "cache"), local)
    assert hub.requests == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ["checkpoints/shakespeare"]),
        ("", ["checkpoints/shakespeare"]),
        (" , ", ["checkpoints/shakespeare"]),
        ("user/repo", ["user/repo"]),
        ("checkpoints/shakespeare, user/repo@v1 ,user/repo@v1,", ["checkpoints/shakespeare", "user/repo@v1"]),
    ],
)
def test_parse_models_env(value: str | None, expected: list[str]) -> None:
    assert parse_models_env(value) == expected


# -- loading from the Hub --------------------------------------------------------------------


def test_load_by_repo_id_downloads_two_files_into_the_cache_and_reuses_them(hub: StandInHub, tmp_path: Path) -> None:
    model = tiny(1, cell="lstm")
    hub.commit("alice/tiny", {**checkpoint_files(model, tmp_path / "ck"), "README.md": b"# card", "log.jsonl": b"{}"})
    cache = tmp_path / "cache"
    assert same_weights(load_model("alice/tiny", endpoint=hub.endpoint, cache_dir=cache), model)
    assert sorted(downloads(hub)) == sorted(MODEL_FILES)
    assert list(cache.glob("models--alice--tiny/snapshots/*/model.safetensors"))

    hub.requests.clear()
    assert same_weights(load_model("alice/tiny", endpoint=hub.endpoint, cache_dir=cache), model)
    assert downloads(hub) == []  # only freshness checks: the blobs come from the cache


def test_pinned_revision_tag_and_commit(hub: StandInHub, tmp_path: Path) -> None:
    old, new = tiny(1), tiny(2)
    first = hub.commit("alice/tiny", checkpoint_files(old, tmp_path / "old"))
    hub.tag("alice/tiny", "v1", first)
    hub.commit("alice/tiny", checkpoint_files(new, tmp_path / "new"))
    kwargs = {"endpoint": hub.endpoint, "cache_dir": tmp_path / "cache"}

    assert same_weights(load_model("alice/tiny", **kwargs), new)
    assert same_weights(load_model("alice/tiny@v1", **kwargs), old)
    assert same_weights(load_model(f"alice/tiny@{first}", **kwargs), old)
    hub.requests.clear()
    assert same_weights(load_model(f"alice/tiny@{first}", **kwargs), old)
    assert hub.requests == []  # a cached commit never changes: no network at all


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("alice/missing", "alice/missing: no such folder here, and repo not found on the Hugging Face Hub"),
        ("alice/tiny@v9", "alice/tiny@v9: alice/tiny has no revision 'v9'"),
    ],
)
def test_missing_repo_or_revision(hub: StandInHub, tmp_path: Path, name: str, message: str) -> None:
    hub.commit("alice/tiny", checkpoint_files(tiny(1), tmp_path / "ck"))
    with pytest.raises(HubError, match=message):
        load_model(name, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert downloads(hub) == []


def test_pickle_only_repo_is_refused_and_never_downloaded(hub: StandInHub, tmp_path: Path) -> None:
    config = checkpoint_files(tiny(1), tmp_path / "ck")["config.json"]
    hub.commit("bob/pickled", {"config.json": config, "pytorch_model.bin": b"\x80\x04not really", "model.pt": b"x"})
    with pytest.raises(HubError) as info:
        load_model("bob/pickled", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert str(info.value) == (
        "bob/pickled: holds only pickled weights (model.pt, pytorch_model.bin); chargen loads model.safetensors "
        "only and never unpickles"
    )
    assert downloads(hub) == []


@pytest.mark.parametrize("missing", MODEL_FILES)
def test_repo_without_config_or_weights(hub: StandInHub, tmp_path: Path, missing: str) -> None:
    files = checkpoint_files(tiny(1), tmp_path / "ck")
    del files[missing]
    hub.commit("bob/partial", {**files, "README.md": b"hi"})
    with pytest.raises(HubError, match=f"^bob/partial: the repo has no {missing}; not a chargen checkpoint$"):
        load_model("bob/partial", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")


def test_config_that_is_not_chargen_fails_before_the_weights_download(hub: StandInHub, tmp_path: Path) -> None:
    files = checkpoint_files(tiny(1), tmp_path / "ck")
    hub.commit("bob/gpt2", {**files, "config.json": json.dumps({"model_type": "gpt2"}).encode()})
    with pytest.raises(HubError, match=r'^bob/gpt2: config.json: not a chargen model config \(no "format"'):
        load_model("bob/gpt2", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert downloads(hub) == ["config.json"]


def test_weights_that_do_not_match_the_config_name_the_repo(hub: StandInHub, tmp_path: Path) -> None:
    files = checkpoint_files(tiny(1), tmp_path / "ck")
    save_file({"head.weight": torch.zeros(2, 2)}, tmp_path / "bad.safetensors")
    hub.commit("bob/bad", {**files, "model.safetensors": (tmp_path / "bad.safetensors").read_bytes()})
    with pytest.raises(HubError, match=r"^bob/bad: model.safetensors: does not match config.json"):
        load_model("bob/bad", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")


def test_unreachable_hub_uses_the_cache_and_is_otherwise_one_clear_error(hub: StandInHub, tmp_path: Path) -> None:
    model = tiny(1)
    hub.commit("alice/tiny", checkpoint_files(model, tmp_path / "ck"))
    cache = tmp_path / "cache"
    load_model("alice/tiny", endpoint=hub.endpoint, cache_dir=cache)
    dead = closed_port_endpoint()
    assert same_weights(load_model("alice/tiny", endpoint=dead, cache_dir=cache), model)
    with pytest.raises(
        HubError,
        match=r"^alice/other: no such folder here, and not in the local Hugging Face cache \(the Hugging Face Hub",
    ):
        load_model("alice/other", endpoint=dead, cache_dir=cache)


# -- load_models: what the app calls ----------------------------------------------------------


def test_load_models_skips_a_missing_repo_with_a_notice(hub: StandInHub, tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    save_checkpoint(tiny(1), bundled)
    hub.commit("alice/tiny", checkpoint_files(tiny(2), tmp_path / "ck"))
    loaded = load_models(
        f"alice/missing, {bundled}, alice/tiny", fallback=None, endpoint=hub.endpoint, cache_dir=tmp_path / "c"
    )
    assert list(loaded.models) == [str(bundled), "alice/tiny"] and loaded.default == str(bundled)
    assert loaded.notices == [
        "could not load alice/missing: no such folder here, and repo not found on the Hugging Face Hub "
        f"(a private repo needs HF_TOKEN); using {bundled}"
    ]
    models, notices = loaded  # also unpacks as (models, notices)
    assert same_weights(models["alice/tiny"], tiny(2)) and notices == loaded.notices


def test_load_models_falls_back_to_the_bundled_model(hub: StandInHub, tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    save_checkpoint(tiny(1), bundled)
    loaded = load_models(["alice/missing"], fallback=bundled, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert list(loaded.models) == [str(bundled)]
    assert len(loaded.notices) == 1
    assert loaded.notices[0].startswith("could not load alice/missing: no such folder here, and repo not found on")
    assert loaded.notices[0].endswith(f"; using {bundled}")


def test_load_models_with_nothing_loadable_raises_one_line(tmp_path: Path) -> None:
    with pytest.raises(HubError, match=r"^no model could be loaded \(.*nope: no such checkpoint folder") as info:
        load_models([str(tmp_path / "nope")], fallback=None)
    assert "\n" not in str(info.value)


def test_load_models_fails_fast_on_a_hanging_hub(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    save_checkpoint(tiny(1), bundled)
    with pytest.raises(HubError):  # import huggingface_hub first, so only the network is timed
        load_model("alice/a", endpoint=closed_port_endpoint(), cache_dir=tmp_path)
    with Blackhole() as dead:
        start = time.monotonic()
        loaded = load_models(
            ["alice/a", "alice/b", "alice/c", str(bundled)], endpoint=dead.endpoint, cache_dir=tmp_path, timeout=0.5
        )
        elapsed = time.monotonic() - start
        assert dead.connections == 1  # the failure is remembered: one attempt, not one per name
    assert elapsed < 1.4, elapsed  # one timeout, not three
    assert list(loaded.models) == [str(bundled)]
    assert [n.split(":")[0] for n in loaded.notices] == ["could not load alice/a", "could not load alice/b"] + [
        "could not load alice/c"
    ]
    assert all("could not be reached" in n for n in loaded.notices)


def test_load_models_uses_cached_copies_when_the_hub_is_down(hub: StandInHub, tmp_path: Path) -> None:
    model = tiny(1)
    hub.commit("alice/tiny", checkpoint_files(model, tmp_path / "ck"))
    load_model("alice/tiny", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    loaded = load_models(["alice/gone", "alice/tiny"], endpoint=closed_port_endpoint(), cache_dir=tmp_path / "cache")
    assert list(loaded.models) == ["alice/tiny"] and same_weights(loaded.models["alice/tiny"], model)
    assert loaded.notices[0].startswith("alice/tiny: the Hugging Face Hub could not be reached (")
    assert loaded.notices[0].endswith("); using the cached copy")
    assert loaded.notices[1].startswith("could not load alice/gone: no such folder here, and not in the local Hugging")
    assert loaded.notices[1].endswith("; using alice/tiny")


# -- push ------------------------------------------------------------------------------------


def full_checkpoint(folder: Path, model: CharRNN) -> Path:
    """A checkpoint folder as training leaves it, plus a model card."""
    save_checkpoint(model, folder)
    (folder / "README.md").write_text("---\nlibrary_name: chargen\n---\n# tiny\n", encoding="utf-8")
    (folder / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "log.jsonl").write_text('{"step": 1}\n', encoding="utf-8")
    (folder / "train_state.safetensors").write_bytes(b"optimizer state")
    return folder


def test_push_uploads_exactly_what_load_model_reads_back(hub: StandInHub, tmp_path: Path, monkeypatch) -> None:
    model = tiny(3, cell="rnn")
    folder = full_checkpoint(tmp_path / "ck", model)
    assert [p.name for p in push_files(folder)] == PUBLISHED  # not log.jsonl, not the training state

    url = push_checkpoint(folder, "carol/tiny", private=True, token=TOKEN, endpoint=hub.endpoint)
    assert url == f"{hub.endpoint}/carol/tiny"
    assert hub.created == [{"name": "tiny", "organization": "carol", "visibility": "private"}]
    uploaded = hub.files("carol/tiny")
    assert sorted(uploaded) == sorted(PUBLISHED)
    assert all(uploaded[name] == (folder / name).read_bytes() for name in uploaded)
    # private: invisible without a token; huggingface_hub sends HF_TOKEN when it is set
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubError, match="repo not found"):
        load_model("carol/tiny", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert same_weights(load_model("carol/tiny", endpoint=hub.endpoint, cache_dir=tmp_path / "cache"), model)


def test_push_again_updates_an_existing_repo(hub: StandInHub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push_checkpoint(full_checkpoint(tmp_path / "v1", tiny(1)), "carol/tiny", endpoint=hub.endpoint)
    save_checkpoint(tiny(2), tmp_path / "v2")
    push_checkpoint(tmp_path / "v2", "carol/tiny", endpoint=hub.endpoint)
    assert same_weights(load_model("carol/tiny", endpoint=hub.endpoint, cache_dir=tmp_path / "cache"), tiny(2))
    assert "README.md" in hub.files("carol/tiny")  # kept from the first push


def test_push_refuses_a_pickled_checkpoint_before_any_request(hub: StandInHub, tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(CheckpointError, match="holds only pickled weights"):
        push_checkpoint(folder, "carol/tiny", token=TOKEN, endpoint=hub.endpoint)
    with pytest.raises(HubError, match="not a Hub repo id"):
        push_checkpoint(full_checkpoint(tmp_path / "ok", tiny(1)), "carol/tiny@v1", token=TOKEN, endpoint=hub.endpoint)
    assert hub.requests == []


def test_push_with_a_bad_token_is_one_clear_error(hub: StandInHub, tmp_path: Path) -> None:
    with pytest.raises(HubError, match=r"^carol/tiny: the Hub refused the upload \(401: "):
        push_checkpoint(full_checkpoint(tmp_path / "ck", tiny(1)), "carol/tiny", token="wrong", endpoint=hub.endpoint)


def test_push_with_invalid_card_metadata_is_one_clear_error(hub: StandInHub, tmp_path: Path) -> None:
    folder = full_checkpoint(tmp_path / "ck", tiny(1))
    (folder / "README.md").write_text("---\nlicense: not-a-license\n---\n# tiny\n", encoding="utf-8")
    with pytest.raises(
        HubError, match=r'^carol/tiny: the Hub rejected the upload \(Invalid metadata in README.md.; "li'
    ):
        push_checkpoint(folder, "carol/tiny", token=TOKEN, endpoint=hub.endpoint)
    assert hub.files("carol/tiny") == {}  # the repo was created, but nothing was committed


# -- environment variables and the CLI, in fresh processes -------------------------------------

LOAD_SCRIPT = """
import json, sys, time
start = time.monotonic()
from chargen.hub import load_model
local = load_model(sys.argv[1])
print(json.dumps({"hub_imported_for_local": "huggingface_hub" in sys.modules}))
for name in sys.argv[2:]:
    start = time.monotonic()
    try:
        model = load_model(name)
        sd, ref = model.state_dict(), local.state_dict()
        result = {"name": name, "same": all(__import__("torch").equal(sd[k], ref[k]) for k in ref)}
    except Exception as exc:
        result = {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = time.monotonic() - start
    print(json.dumps(result))
"""


def hf_env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """A clean environment for a child process: our Hub, our cache, nothing inherited from HF_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(
        PYTHONPATH=str(ROOT), HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1"
    )
    env.update(extra)
    return env


def run_python(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_cli_push_then_load_online_then_offline_from_the_cache(hub: StandInHub, tmp_path: Path) -> None:
    folder = full_checkpoint(tmp_path / "ck", tiny(4, cell="lstm"))
    env = hf_env(tmp_path, hub.endpoint, HF_TOKEN=TOKEN)
    pushed = run_python(["-m", "chargen", "push", str(folder), "carol/tiny"], env, tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"{hub.endpoint}/carol/tiny"
    assert "uploaded config.json, model.safetensors, README.md, loss.png" in pushed.stderr
    assert sorted(hub.files("carol/tiny")) == sorted(PUBLISHED)

    online = run_python(["-c", LOAD_SCRIPT, str(folder), "carol/tiny"], env, tmp_path)
    assert online.returncode == 0, online.stderr
    assert json.loads(online.stdout.splitlines()[1])["same"] is True
    assert list((tmp_path / "hf_home" / "hub").glob("models--carol--tiny/snapshots/*/config.json"))

    hub.requests.clear()
    offline = run_python(
        ["-c", LOAD_SCRIPT, str(folder), "carol/tiny", "carol/uncached"], {**env, "HF_HUB_OFFLINE": "1"}, tmp_path
    )
    assert offline.returncode == 0, offline.stderr
    lines = [json.loads(line) for line in offline.stdout.splitlines()]
    assert lines[0] == {"hub_imported_for_local": False}  # a local folder never imports huggingface_hub
    assert lines[1]["same"] is True
    assert lines[2]["error"] == (
        "HubError: carol/uncached: no such folder here, and not in the local Hugging Face cache "
        "(HF_HUB_OFFLINE is set; load a Hub repo once while online)"
    )
    assert lines[2]["seconds"] < 1.0  # at once, not after huggingface_hub's ~20 s of retries
    assert hub.requests == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["eval", "alice/missing", "text.txt"], "error: alice/missing: no such folder here, and repo not found on the"),
        (["eval", "bob/pickled", "text.txt"], "error: bob/pickled: holds only pickled weights (pytorch_model.bin)"),
        (["push", "ck", "carol/tiny"], "error: no Hugging Face token: set HF_TOKEN or run `hf auth login` first"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(hub: StandInHub, tmp_path: Path, args: list[str], error: str) -> None:
    hub.commit("bob/pickled", {"config.json": b"{}", "pytorch_model.bin": b"pickle"})
    save_checkpoint(tiny(1), tmp_path / "ck")
    (tmp_path / "text.txt").write_text("abc\n", encoding="utf-8")
    result = run_python(["-m", "chargen", *args], hf_env(tmp_path, hub.endpoint), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(error) and result.stderr.count("\n") == 1, result.stderr


# Which names are local folders and which are Hub repos (the README's table): the base folder
# holds a checkpoints/ folder and a file named notes.txt.
NAME_RULE = [
    ("checkpoints/shakespeare", "local"),
    ("checkpoints/shakespear", "local"),  # a typo in an existing folder: never a Hub lookup
    ("checkpoints", "local"),
    ("./shakespeare", "local"),
    ("../models/x", "local"),
    ("/srv/models/x", "local"),
    ("~/models/x", "local"),
    ("notes.txt/x", "local"),  # the first component exists on disk, even as a file
    ("user/repo", "hub"),
    ("user/repo@v1", "hub"),
    ("chekpoints/shakespeare", "hub"),  # nothing named chekpoints here: it could be a user's repo
    ("shakespeare", "missing local"),  # not a repo id and not on disk
    ("a/b/c", "missing local"),
]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    save_checkpoint(tiny(1), folder / "checkpoints" / "shakespeare")
    (folder / "notes.txt").write_text("not a model\n")
    return folder


@pytest.mark.parametrize(("name", "kind"), NAME_RULE)
def test_which_names_are_local_and_which_go_to_the_hub(base: Path, name: str, kind: str) -> None:
    ref = parse_hub_ref(name, base_dir=base)
    assert (ref is not None) == (kind == "hub"), (name, ref)
    assert is_local_name(name, base_dir=base) == (kind == "local"), name


def test_local_names_resolve_against_the_base_folder_not_the_working_directory(
    base: Path, tmp_path: Path, monkeypatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    dead = closed_port_endpoint()  # a Hub lookup would fail here, so a load proves none happened
    model = load_model("checkpoints/shakespeare", base_dir=base, endpoint=dead, cache_dir=tmp_path / "c")
    assert same_weights(model, tiny(1))
    loaded = load_models(
        ["checkpoints/nope"],
        fallback="checkpoints/shakespeare",
        base_dir=base,
        endpoint=dead,
        cache_dir=tmp_path / "c",
    )
    assert list(loaded.models) == ["checkpoints/shakespeare"]
    assert loaded.notices == [
        f"could not load checkpoints/nope: no such checkpoint folder ({base / 'checkpoints' / 'nope'}); "
        "checkpoints exists here, so this names a local folder, not a Hub repo; using checkpoints/shakespeare"
    ]


def test_a_mistyped_local_folder_is_reported_as_missing_not_as_a_hub_failure(base: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(base)
    with pytest.raises(CheckpointError) as info:
        load_model("checkpoints/shakespear", endpoint=closed_port_endpoint(), cache_dir=tmp_path / "c")
    assert not isinstance(info.value, HubError)
    assert str(info.value) == (
        "checkpoints/shakespear: no such checkpoint folder (did you mean checkpoints/shakespeare?); checkpoints "
        "exists here, so this names a local folder, not a Hub repo"
    )
    with pytest.raises(CheckpointError, match=r"^\./shakespear: no such checkpoint folder$"):
        load_model("./shakespear", endpoint=closed_port_endpoint(), cache_dir=tmp_path / "c")


# -- short names and typos (issue 22) -----------------------------------------------------------

BUNDLED = {name: ROOT / folder for name, folder in BUNDLED_MODELS.items()}


def test_the_app_offers_the_library_s_bundled_models() -> None:
    from chargen.app import views

    assert views.BUNDLED_MODELS is BUNDLED_MODELS
    assert list(BUNDLED_MODELS) == ["shakespeare", "shakespeare-word", "python"]


@pytest.mark.parametrize("name", list(BUNDLED))
def test_a_short_name_loads_the_bundled_model_from_any_folder(name: str, tmp_path: Path) -> None:
    if not (BUNDLED[name] / "config.json").is_file():
        pytest.skip(f"{BUNDLED[name]} is not in this checkout")
    assert bundled_folder(name) == BUNDLED[name]
    dead = closed_port_endpoint()  # a Hub lookup would fail: a load proves none happened
    model = load_model(name, base_dir=tmp_path, endpoint=dead, cache_dir=tmp_path / "c")
    assert same_weights(model, load_model(BUNDLED[name]))


def test_a_folder_named_like_a_short_name_wins_over_the_bundled_model(tmp_path: Path, monkeypatch) -> None:
    save_checkpoint(tiny(3), tmp_path / "python")
    assert same_weights(load_model("python", base_dir=tmp_path), tiny(3))
    monkeypatch.chdir(tmp_path)
    assert same_weights(load_model("python"), tiny(3))


def test_a_short_name_without_the_bundled_models_says_why(tmp_path: Path, monkeypatch) -> None:
    import chargen.hub

    monkeypatch.setattr(chargen.hub, "PROJECT_DIR", tmp_path / "installed")  # an install without checkpoints/
    assert bundled_folder("python") is None
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_model("python")
    assert str(info.value) == (
        "python: no such checkpoint folder; python names a bundled model, and this copy of chargen has none "
        "beside it (a clone of the repository has checkpoints/python)"
    )


def test_the_cli_takes_a_short_name(tmp_path: Path) -> None:
    if not (BUNDLED["shakespeare"] / "config.json").is_file():
        pytest.skip("the bundled model is not in this checkout")
    result = run_python(
        ["-m", "chargen", "generate", "shakespeare", "--length", "5", "--seed", "1", "--json"],
        {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["sampled"]) == 5


def test_a_typo_that_is_neither_a_folder_nor_on_the_hub_says_both(base: Path, hub: StandInHub, tmp_path: Path):
    dead = closed_port_endpoint()
    with pytest.raises(HubError) as offline:
        load_model("checkpoint/shakespeare", base_dir=base, endpoint=dead, cache_dir=tmp_path / "c")
    assert str(offline.value).startswith(
        "checkpoint/shakespeare: no such folder here (did you mean checkpoints/shakespeare?), "
        "and not in the local Hugging Face cache (the Hugging Face Hub could not be reached ("
    )
    with pytest.raises(HubError) as online:
        load_model("checkpoint/shakespeare", base_dir=base, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
    assert str(online.value) == (
        "checkpoint/shakespeare: no such folder here (did you mean checkpoints/shakespeare?), "
        "and repo not found on the Hugging Face Hub (a private repo needs HF_TOKEN)"
    )
    # a name pinned to a revision is a Hub name: no folder talk
    with pytest.raises(HubError, match=r"^checkpoint/shakespeare@v1: repo not found on the Hugging Face Hub"):
        load_model("checkpoint/shakespeare@v1", base_dir=base, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
