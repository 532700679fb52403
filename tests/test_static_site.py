"""``deploy --static --dry-run``: the folder a static Space gets (tests/test_static_page.py runs it in Chromium)."""

from __future__ import annotations

import gzip
import json

import pytest

from chargen.checkpoint import save_checkpoint
from chargen.hosting.static import (
    ORT_MODULE,
    ORT_WASM,
    PAGE_FILES,
    StaticSiteError,
    build_static_site,
    model_names,
    ort_dist,
)
from tests.browser_page import in_ci
from tests.helpers import ROOT, run_cli, tiny_model

pytestmark = pytest.mark.slow
SIZE_GOAL = 20_000_000

if not (ROOT / "node_modules" / "onnxruntime-web").is_dir() and not in_ci():
    pytest.skip("onnxruntime-web is not installed: run `npm ci` (the static page ships it)", allow_module_level=True)


def test_dry_run_writes_a_static_space_with_the_first_model_under_the_size_goal(tmp_path):
    out = tmp_path / "site"
    result = run_cli("deploy", "someone/page", "--static", "--dry-run", str(out))
    assert result.returncode == 0, result.stderr
    readme = (out / "README.md").read_text(encoding="utf-8")
    front = readme.split("---\n")[1]
    assert "sdk: static\n" in front and "app_file: index.html\n" in front
    site = json.loads((out / "site.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in site["models"]] == ["shakespeare"]  # one model unless --models says more
    assert site["models"][0]["precision"] == "fp16" and site["prng"] == "mulberry32"
    for name in (*PAGE_FILES, f"ort/{ORT_MODULE}", "models/shakespeare/model.onnx", "models/shakespeare/export.json"):
        assert (out / name).is_file(), name
    # The runtime ships gzipped and unpacks to exactly the installed one.
    packed = (out / "ort" / f"{ORT_WASM}.gz").read_bytes()
    assert gzip.decompress(packed) == (ort_dist() / ORT_WASM).read_bytes()
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    assert total < SIZE_GOAL, total
    # No CDN: the page's own files name only files of the folder.
    for name in PAGE_FILES:
        text = (out / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, name


def test_several_models_and_a_used_folder(tmp_path):
    for name, cell in (("a", "gru"), ("b", "rnn")):
        save_checkpoint(tiny_model(cell), tmp_path / "runs" / name)
    models = [str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b")]
    site = build_static_site(models, tmp_path / "site", precision="fp32", log=lambda line: None)
    assert site.models == ["a", "b"]
    config = json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))
    assert [(m["name"], m["precision"]) for m in config["models"]] == [("a", "fp32"), ("b", "fp32")]
    with pytest.raises(StaticSiteError, match="new or empty"):
        build_static_site(models, tmp_path / "site", log=lambda line: None)


def test_model_names_are_short_and_distinct():
    assert model_names(["checkpoints/shakespeare", "me/chargen-python@abc", "x/shakespeare/"]) == [
        "shakespeare",
        "python",
        "shakespeare-2",
    ]


def test_missing_runtime_says_to_run_npm_ci(tmp_path):
    with pytest.raises(StaticSiteError, match="npm ci"):
        ort_dist(tmp_path)


def test_deploy_uploads_a_static_space_a_free_account_may_host(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from chargen.hosting.static import deploy_static
    from tests.hub_server import TOKEN, StandInHub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)  # the stand-in has no Xet storage
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name in ("first", "second"):
        save_checkpoint(tiny_model("lstm", seed=len(name)), tmp_path / name)
    with StandInHub(paid=False) as hub:
        deploy_static("alice/page", [str(tmp_path / "first")], endpoint=hub.endpoint, token=TOKEN, log=lambda x: None)
        files = hub.files("alice/page", repo_type="space")
        assert hub.repos["spaces/alice/page"].sdk == "static"
        assert {"index.html", "page.js", "site.json", "models/first/model.onnx", f"ort/{ORT_WASM}.gz"} <= set(files)
        assert "sdk: static" in files["README.md"].decode()
        # A later deploy with another model leaves no stale model behind.
        deploy_static("alice/page", [str(tmp_path / "second")], endpoint=hub.endpoint, token=TOKEN, log=lambda x: None)
        files = hub.files("alice/page", repo_type="space")
        assert "models/second/model.onnx" in files and not [f for f in files if f.startswith("models/first/")]
