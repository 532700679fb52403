"""The app's boundaries: models only from its configured list, inputs bounded, and nothing a visitor
types reaches a file path or a shell.

"Reaches" is checked with Python's audit hooks (PEP 578), which see every ``open``, directory
listing and process start in this process, gradio's worker threads included.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chargen import save_checkpoint
from tests.helpers import ROOT, tiny_model

PATH_EVENTS = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "os.chdir", "shutil.")
PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pty.spawn")


class AuditLog:
    """Audit events seen while recording; one hook for the whole run (a hook can't be removed)."""

    def __init__(self) -> None:
        self.recording = False
        self.events: list[tuple[str, tuple]] = []
        self._lock = threading.Lock()
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if self.recording and event.startswith(PATH_EVENTS + PROCESS_EVENTS):
            with self._lock:
                self.events.append((event, args))

    @contextmanager
    def record(self) -> Iterator[list[tuple[str, tuple]]]:
        self.events = []
        self.recording = True
        try:
            yield self.events
        finally:
            self.recording = False

    @staticmethod
    def mentions(events: list[tuple[str, tuple]], token: str) -> list[tuple[str, tuple]]:
        """The events with ``token`` in any argument (paths as str, bytes or path-like)."""

        def text(arg: Any) -> str:
            if isinstance(arg, bytes):
                return arg.decode("utf-8", "replace")
            return os.fspath(arg) if isinstance(arg, os.PathLike) else str(arg)

        return [(event, args) for event, args in events if any(token in text(a) for a in args)]


AUDIT = AuditLog()


@pytest.fixture
def no_model_loading(monkeypatch) -> list[str]:
    """Every way chargen loads a model, made to record and refuse: requests must never load one."""
    import chargen.checkpoint
    import chargen.hub

    calls: list[str] = []

    def refuse(name: str):
        def loader(*args: Any, **kwargs: Any):
            calls.append(f"{name}{args}")
            raise AssertionError(f"a request tried to load a model: {name}{args}")

        return loader

    for module, name in [
        (chargen.hub, "load_model"),
        (chargen.hub, "load_models"),
        (chargen.hub, "_load"),
        (chargen.checkpoint, "load_checkpoint"),  # chargen.hub calls it from there (imported when first loading)
        (chargen.checkpoint, "read_weights"),
        (chargen.checkpoint, "read_config"),
    ]:
        monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    return calls


def refusal(call) -> str:
    """The message of the error a client call raises (the test fails if it succeeds)."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        call()
    return str(info.value)


def test_the_audit_log_sees_file_opens_and_process_starts(tmp_path: Path) -> None:
    probe = tmp_path / "zz-probe-zz.txt"
    probe.write_text("x")
    with AUDIT.record() as events:
        probe.read_text()
        os.listdir(tmp_path)
        os.system("true")
    assert [event for event, _ in AUDIT.mentions(events, "zz-probe-zz")] == ["open"]
    assert "os.listdir" in [event for event, _ in events] and "os.system" in [event for event, _ in events]


# --- models only from the configured list ---------------------------------------------------------


def test_a_model_outside_the_list_is_refused_and_never_loaded(
    app, client, tmp_path: Path, no_model_loading: list[str]
) -> None:
    # A perfectly loadable checkpoint, just not one the app was configured with.
    outside = tmp_path / "outside-model"
    save_checkpoint(tiny_model(vocab="ROME:\n "), outside)
    names = [
        str(outside),
        "./checkpoints/shakespeare",
        "checkpoints/shakespeare/",
        "checkpoints/shakespeare ",
        "checkpoints/../checkpoints/python",
        "karpathy/char-rnn",
        "karpathy/char-rnn@main",
        "https://huggingface.co/karpathy/char-rnn",
    ]
    with AUDIT.record() as events:
        for name in names:
            generate = refusal(lambda n=name: client.predict("ROMEO:", 0.8, 20, 0, 1.0, None, n, api_name="/generate"))
            assert generate.startswith(f"model must be one of {', '.join(app.handlers.model_names)}"), generate
            chart = refusal(lambda n=name: client.predict("ROMEO:", 0.8, n, api_name="/distribution"))
            assert chart.startswith("model must be one of"), chart
    assert no_model_loading == []
    assert AUDIT.mentions(events, "outside-model") == []
    # The configured ones still work, by their short names and by the names they were configured with
    # (aliases of models already loaded: nothing is loaded for them either).
    with AUDIT.record() as events:
        for name in ["python", "checkpoints/python", str(ROOT / "checkpoints" / "python")]:
            assert len(client.predict("ROMEO:", 0.8, 20, 0, 1.0, None, name, api_name="/generate")[1]) == 20
    assert no_model_loading == []


def test_the_model_picker_offers_exactly_the_configured_models(app, url: str) -> None:
    import httpx

    config = httpx.get(url + "config").json()
    picker = next(c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == "model")
    assert [value for _, value in picker["choices"]] == app.handlers.model_names == list(app.models)


# --- nothing typed reaches a path or a shell -------------------------------------------------------


def test_typed_text_never_reaches_a_file_path_or_a_shell(app, client, tmp_path: Path) -> None:
    trap = tmp_path / "trap"
    trap.mkdir()
    token = "zz-trap-zz"
    typed = [
        f"{trap}/{token}",
        f"$(touch {trap}/{token}-dollar)",
        f"`touch {trap}/{token}-backtick`",
        f"; touch {trap}/{token}-semicolon #",
        f"| touch {trap}/{token}-pipe",
        f"../../../{token}/../etc/passwd",
        f"file://{trap}/{token}",
        f"{{{token}}} %s %n {token}\x00",
        f"~/{token}",
    ]
    with AUDIT.record() as events:
        for text in typed:
            # As the prompt it is just text: served, with unknown characters dropped.
            assert len(client.predict(text, 0.8, 12, api_name="/generate")[1]) == 12
            client.predict(text, 0.8, api_name="/distribution")
            refusal(lambda t=text: client.predict("ROMEO:", 0.8, "shakespeare", t, -1, api_name="/distribution"))
            # In every other field it is refused as the wrong kind of value.
            for args in [
                (text, 0.8, 12, 0, 1.0, text, text),
                ("ROMEO:", text, 12),
                ("ROMEO:", 0.8, text),
                ("ROMEO:", 0.8, 12, text),
                ("ROMEO:", 0.8, 12, 0, text),
                ("ROMEO:", 0.8, 12, 0, 1.0, None, text),
            ]:
                refusal(lambda a=args: client.predict(*a, api_name="/generate"))
    assert AUDIT.mentions(events, token) == []
    assert [event for event, _ in events if event.startswith(PROCESS_EVENTS)] == []
    assert list(trap.iterdir()) == []


def test_the_server_hands_out_no_files(url: str) -> None:
    import httpx

    for path in ["/etc/passwd", "app.py", str(ROOT / "checkpoints" / "shakespeare" / "config.json")]:
        response = httpx.get(url + f"gradio_api/file={path}")
        assert response.status_code in (403, 404), (path, response.status_code)
    for path in ["app.py", "checkpoints/shakespeare/model.safetensors", "../app.py"]:
        assert httpx.get(url + path).status_code == 404


GENERATE_TAB_ENDPOINTS = {"/generate", "/distribution"}
OTHER_TABS_ENDPOINTS = {
    "Look inside": {"/sweep", "/samples", "/expectations", "/cells", "/beam", "/adapt"},
    "Train": {"/train", "/compare_cells", "/stop_training", "/upload_model", "/push"},
}
"""Each tab's public endpoints; a new one must be added here on purpose."""


def test_only_the_documented_endpoints_and_files_only_where_the_train_tab_takes_them(client, url: str) -> None:
    import httpx

    api = client.view_api(print_info=False, return_format="dict")
    documented = GENERATE_TAB_ENDPOINTS.union(*OTHER_TABS_ENDPOINTS.values())
    assert set(api["named_endpoints"]) <= documented, set(api["named_endpoints"]) - documented
    assert GENERATE_TAB_ENDPOINTS <= set(api["named_endpoints"])
    assert api["unnamed_endpoints"] == {}
    config = httpx.get(url + "config").json()
    components = [c for c in config["components"] if c.get("props")]
    risky = {"uploadbutton", "image", "audio", "video", "model3d", "gallery", "imageeditor"}
    assert not {c["type"] for c in components} & risky
    files = [c["props"] for c in components if c["type"] == "file"]
    for props in files:  # the Train tab's corpus (.txt) and model (.zip) uploads, nothing else
        assert props.get("file_types") and set(props["file_types"]) <= {".txt", ".zip"}, props


# --- inputs are bounded ---------------------------------------------------------------------------


def test_the_page_bounds_every_input_as_the_handler_does(app, url: str) -> None:
    import httpx

    from chargen.app import views
    from chargen.inference.decoding import MAX_TEMPERATURE
    from chargen.inference.generate import MAX_LENGTH, MAX_PROMPT_CHARS

    config = httpx.get(url + "config").json()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"] if c.get("props")}
    assert props["prompt"]["max_length"] == views.APP_MAX_PROMPT
    assert props["seed"]["max_length"] == views.APP_MAX_SEED_CHARS == 20
    assert (props["temperature"]["minimum"], props["temperature"]["maximum"]) == (0, views.APP_MAX_TEMPERATURE)
    assert (props["length"]["minimum"], props["length"]["maximum"]) == (views.APP_MIN_LENGTH, views.APP_MAX_LENGTH)
    assert props["top_k"]["maximum"] == views.APP_MAX_TOP_K
    # The app's limits sit inside what generation itself allows.
    assert views.APP_MAX_LENGTH <= MAX_LENGTH and views.APP_MAX_PROMPT <= MAX_PROMPT_CHARS
    assert views.APP_MAX_TEMPERATURE <= MAX_TEMPERATURE
    assert app.demo._queue.max_size == app.module.QUEUE_SIZE is not None


def test_the_api_refuses_just_past_each_bound_and_serves_at_it(app, client) -> None:
    from chargen.app import views

    at_bounds = client.predict(
        "R" * views.APP_MAX_PROMPT, 2, views.APP_MIN_LENGTH, views.APP_MAX_TOP_K, 0.05, "0", api_name="/generate"
    )
    assert len(at_bounds[1]) == views.APP_MIN_LENGTH
    longest = client.predict("ROMEO:", 0.0, views.APP_MAX_LENGTH, api_name="/generate")
    assert len(longest[0]) == len(longest[1]) == views.APP_MAX_LENGTH
    for args, message in [
        (("R" * (views.APP_MAX_PROMPT + 1), 0.8, 20), "prompt is 5,001 characters long; the limit is 5,000"),
        (("ROMEO:", 2.0001, 20), "temperature must be a number from 0 to 2"),
        (("ROMEO:", 0.8, views.APP_MAX_LENGTH + 1), "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 0.8, views.APP_MIN_LENGTH - 1), "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 0.8, 20, views.APP_MAX_TOP_K + 1), "top-k must be a whole number from 0 (off) to 200"),
        (("ROMEO:", 0.8, 20, 0, 1.0, str(2**63)), "seed must be blank (random) or a whole number"),
    ]:
        assert message in refusal(lambda a=args: client.predict(*a, api_name="/generate"))
