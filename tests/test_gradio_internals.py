"""chargen.app.gradio_internals: a visitor's session state built block by block holds exactly what
gradio's own SessionState holds (the oracle), and a launched demo serves through it."""

from __future__ import annotations

import os

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from chargen.app.gradio_internals import (
    QUEUE_POLL_S,
    CachedPage,
    LazySessionState,
    LazyStateHolder,
    cache_page,
    install,
    is_tested,
    optimise_serving,
)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _demo() -> tuple[gr.Blocks, list]:
    with gr.Blocks() as demo:
        with gr.Row():
            text = gr.Textbox("start", label="Text")
            number = gr.Number(3, label="Number")
        data = gr.JSON(label="Data")
        note = gr.Markdown("  indented note")
        button = gr.Button("go")
        button.click(
            lambda t, n: ({"t": t, "n": n}, f"{t}!"), inputs=[text, number], outputs=[data, note], api_name="go"
        )
    return demo, [text, number, data, note, button]


def _same(eager: SessionState, lazy: LazySessionState) -> None:
    assert sorted(vars(eager)) == sorted(vars(lazy)), "a new SessionState attribute: update LazySessionState"
    assert list(eager.config_values) == list(lazy.config_values)
    assert dict(eager.config_values.items()) == dict(lazy.config_values.items())
    assert list(eager.components) == list(lazy.components)


def test_a_fresh_session_holds_what_gradios_holds() -> None:
    demo, _ = _demo()
    _same(SessionState(demo), LazySessionState(demo))


@pytest.mark.parametrize("read_first", [False, True], ids=["values before any read", "values after a read"])
def test_values_events_give_blocks_are_kept_as_gradio_keeps_them(read_first: bool) -> None:
    demo, (text, number, data, note, _) = _demo()
    eager, lazy = SessionState(demo), LazySessionState(demo)
    if read_first:
        assert lazy.config_values[text._id] == eager.config_values[text._id]
    for state in (eager, lazy):
        state._update_value_in_config(text._id, "typed")
        state._update_value_in_config(number._id, 7)
        state._update_value_in_config(number._id, 8)  # the latest value wins
        state._update_value_in_config(data._id, {"a": [1, 2]})
        state[note._id] = gr.Markdown("replaced", render=False)  # an update that replaces the block
    _same(eager, lazy)
    assert lazy.config_values[number._id]["props"]["value"] == 8


@pytest.mark.parametrize("value", [None, 0, "", False, []], ids=repr)
@pytest.mark.parametrize("read_first", [False, True], ids=["before any read", "after a read"])
def test_a_falsy_value_is_kept_as_gradio_keeps_it(value: object, read_first: bool) -> None:
    """An event may give a block None, 0 or "": the lazy state must not read that as "no value"."""
    demo, (text, number, data, *_rest) = _demo()
    eager, lazy = SessionState(demo), LazySessionState(demo)
    for block in (text, number, data):
        if read_first:
            lazy.config_values[block._id]
        for state in (eager, lazy):
            state._update_value_in_config(block._id, value)
    _same(eager, lazy)
    for block in (text, number, data):
        assert lazy.config_values[block._id]["props"]["value"] == value


def test_an_unknown_block_is_missing_as_in_gradio() -> None:
    demo, _ = _demo()
    eager, lazy = SessionState(demo), LazySessionState(demo)
    assert (10_000 in eager.config_values) is (10_000 in lazy.config_values) is False
    with pytest.raises(KeyError):
        lazy.config_values[10_000]


def test_install_needs_a_launched_demo() -> None:
    demo, _ = _demo()
    with pytest.raises(RuntimeError, match="launch"):
        install(demo)


@pytest.mark.slow
def test_a_launched_demo_serves_its_visitors_through_lazy_sessions() -> None:
    from gradio_client import Client

    from tests.helpers import launch_in_process

    demo, (text, *_rest) = _demo()
    url = launch_in_process(demo)
    try:
        install(demo)
        holder = demo.server_app.state_holder
        assert isinstance(holder, LazyStateHolder) and demo.state_holder is holder
        client = Client(url, verbose=False, ssl_verify=False)
        data, note = client.predict("hi", 2, api_name="/go")
        assert data == {"t": "hi", "n": 2} and note == "hi!"
        sessions = list(holder.session_data.values())
        assert len(sessions) == 1 and isinstance(sessions[0], LazySessionState)
        assert sessions[0].config_values[text._id]["props"]["value"] == "hi"  # the event's input was recorded
        client.close()
    finally:
        demo.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
        return response.read(), {k.lower(): v for k, v in response.headers.items()}


def test_the_cached_page_and_config_are_the_bytes_gradio_makes() -> None:
    """The oracle is gradio's own routes: the same requests before and after :func:`cache_page`."""
    import gzip

    import brotli
    from gradio_client import Client

    from chargen.app import gradio_internals
    from tests.helpers import launch_in_process

    demo, _ = _demo()
    url = launch_in_process(demo)
    host = url.replace("127.0.0.1", "localhost")  # another root URL: the page names its own origin
    forwarded = {"X-Forwarded-Host": "example.org", "X-Forwarded-Proto": "https"}
    requests = [(url, None), (url + "config", None), (host, None), (host + "config/", None), (url, forwarded)]
    requests += [(url + "config", forwarded), (url + "?page=", None), (url + "config?deep_link=x", None)]
    try:
        gradios = [_get(where, headers) for where, headers in requests]
        assert cache_page(demo) is True
        for (where, headers), (expected, expected_headers) in zip(requests, gradios, strict=True):
            for _ in range(2):  # made once, then served from memory
                body, got_headers = _get(where, headers)
                assert body == expected, where
                assert got_headers["content-type"] == expected_headers["content-type"]
        assert b"https://example.org" in _get(url + "config", forwarded)[0]
        zipped, headers = _get(url + "config", {"Accept-Encoding": "gzip"})
        assert headers["content-encoding"] == "gzip" and gzip.decompress(zipped) == gradios[1][0]
        for where, expected in [(url, gradios[0][0]), (url + "config", gradios[1][0])]:
            squeezed, headers = _get(where, {"Accept-Encoding": "gzip, deflate, br, zstd"})  # a browser's
            assert headers["content-encoding"] == "br" and brotli.decompress(squeezed) == expected
        cached = [
            r.endpoint for r in demo.server_app.router.routes if isinstance(getattr(r, "endpoint", None), CachedPage)
        ]
        assert sorted(page.path for page in cached) == ["/", "/config", "/config/"]
        for host_name in [f"host{index}.example" for index in range(12)]:  # more hosts than it keeps
            body, _ = _get(url + "config", {"Host": host_name})
            assert f"http://{host_name}".encode() in body
        assert all(len(page._made) <= gradio_internals.CACHED_ROOTS for page in cached)
        # A shared link's own parameters (the page script's) are served from memory: gradio isn't called.
        root = next(page for page in cached if page.path == "/")
        calls = []
        root.original = lambda **kwargs: calls.append(kwargs)
        for _ in range(2):
            assert _get(url + "?lang=mr&prompt=Hi&temperature=0.5")[0] == gradios[0][0]
        assert calls == []
        client = Client(url, verbose=False, ssl_verify=False)  # gradio_client reads the cached /config
        assert client.predict("hi", 2, api_name="/go") == ({"t": "hi", "n": 2}, "hi!")
        client.close()
    finally:
        demo.close()


def test_an_app_with_a_login_is_not_cached() -> None:
    from tests.helpers import launch_in_process

    demo, _ = _demo()
    launch_in_process(demo, auth=("reader", "secret"))
    try:
        assert cache_page(demo) is False
        assert not any(isinstance(getattr(r, "endpoint", None), CachedPage) for r in demo.server_app.router.routes)
    finally:
        demo.close()
    with pytest.raises(RuntimeError, match="launched demo"):
        cache_page(_demo()[0])


def test_the_internals_used_exist_on_the_tested_gradio() -> None:
    """What optimise_serving touches: gradio.state_holder's SessionState / StateHolder (the lazy
    sessions), and the queue's ``sleep_when_free`` (the idle poll)."""
    from gradio.queueing import Queue

    assert is_tested(), f"gradio {gr.__version__} is not in TESTED_GRADIO: re-test chargen.app.gradio_internals"
    assert hasattr(SessionState, "_update_value_in_config") and "config_values" in vars(SessionState(_demo()[0]))
    assert "sleep_when_free" in Queue.__init__.__code__.co_names  # set in Queue.__init__, read each idle loop


def test_versions_other_than_the_tested_ones_are_recognised() -> None:
    assert is_tested("6.31.0") and is_tested("6.31.7")
    assert not is_tested("6.32.0") and not is_tested("5.31.0") and not is_tested("7.0")


@pytest.mark.slow
def test_optimise_serving_applies_both_on_the_tested_gradio_and_neither_elsewhere() -> None:
    from tests.helpers import launch_in_process

    demo, _ = _demo()
    launch_in_process(demo)
    try:
        gradio_default = demo._queue.sleep_when_free
        original_holder = demo.server_app.state_holder
        with pytest.warns(RuntimeWarning, match="gradio 9.0.0 is not one"):
            assert optimise_serving(demo, version="9.0.0") is False
        assert demo.server_app.state_holder is original_holder and demo._queue.sleep_when_free == gradio_default
        assert optimise_serving(demo) is True
        assert isinstance(demo.server_app.state_holder, LazyStateHolder)
        assert demo._queue.sleep_when_free == QUEUE_POLL_S != gradio_default
    finally:
        demo.close()


@pytest.mark.slow
def test_limit_mcp_tools_keeps_the_chosen_tools_and_refuses_unknown_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from chargen.app import gradio_internals
    from tests.helpers import launch_in_process

    with gr.Blocks() as demo:
        text = gr.Textbox()

        def shout(words: str) -> str:
            """Shout.

            Args:
                words: what to shout
            """
            return words.upper()

        def whisper(words: str) -> str:
            """Whisper.

            Args:
                words: what to whisper
            """
            return words.lower()

        gr.Button("a").click(shout, inputs=text, outputs=text, api_name="shout")
        gr.Button("b").click(whisper, inputs=text, outputs=text, api_name="whisper")
    with pytest.raises(RuntimeError, match="mcp_server=True"):
        gradio_internals.limit_mcp_tools(demo, ["shout"])
    launch_in_process(demo, mcp_server=True)
    try:
        assert set(demo.mcp_server_obj.tool_to_endpoint) == {"shout", "whisper"}  # gradio's own: every endpoint
        with pytest.raises(ValueError, match="nonesuch"):
            gradio_internals.limit_mcp_tools(demo, ["shout", "nonesuch"])
        monkeypatch.setattr(gr, "__version__", "9.0.0")
        with pytest.warns(RuntimeWarning, match="every documented endpoint"):
            assert gradio_internals.limit_mcp_tools(demo, ["shout"]) is False
        assert set(demo.mcp_server_obj.tool_to_endpoint) == {"shout", "whisper"}
        monkeypatch.undo()
        assert gradio_internals.limit_mcp_tools(demo, ["shout"]) is True
        assert demo.mcp_server_obj.tool_to_endpoint == {"shout": "/shout"}
    finally:
        demo.close()
