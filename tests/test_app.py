"""The Gradio app: its views, its handlers called directly, and the app served and called
through gradio_client, bad input included. The real-browser test is in test_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, wait
from pathlib import Path
from types import ModuleType

import pytest

from chargen.errors import ConfigError
from chargen.generate import compare
from chargen.loops import find_loop
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_generate(app: ModuleType, *args, **kwargs) -> list[tuple]:
    return list(app.generate(*args, **kwargs))


# --- views: inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0.0), (0.8, 0.8), (2, 2.0), ("1.5", 1.5), (" 0.25 ", 0.25)],
)
def test_temperature_accepts_numbers_and_numeric_strings(value, expected) -> None:
    from chargen import views

    assert views.check_temperature(value) == expected


@pytest.mark.parametrize("value", [-0.1, 2.01, 5, float("nan"), float("inf"), "abc", "", None, True, [0.8], {}])
def test_temperature_refuses_with_the_allowed_range(value) -> None:
    from chargen import views

    with pytest.raises(ConfigError, match="temperature must be a number from 0 to 2"):
        views.check_temperature(value)


@pytest.mark.parametrize(("value", "expected"), [(10, 10), (300, 300), (300.0, 300), ("2000", 2000)])
def test_length_accepts_whole_numbers(value, expected) -> None:
    from chargen import views

    assert views.check_length(value) == expected


@pytest.mark.parametrize("value", [9, 2001, 1e9, 20.5, "lots", None, False, float("nan"), -5])
def test_length_refuses_with_the_allowed_range(value) -> None:
    from chargen import views

    with pytest.raises(ConfigError, match="length must be a whole number of characters from 10 to 2000"):
        views.check_length(value)


def test_advanced_inputs_blank_or_neutral_mean_off() -> None:
    from chargen import views

    assert views.check_top_k(None) is None
    assert views.check_top_k(0) is None
    assert views.check_top_k("") is None
    assert views.check_top_k(40) == 40
    assert views.check_top_p(None) is None
    assert views.check_top_p(1.0) is None
    assert views.check_top_p(0.9) == 0.9
    assert views.check_seed(None) is None
    assert views.check_seed("  ") is None
    assert views.check_seed("42") == 42
    assert views.check_seed(7.0) == 7


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        ("check_top_k", -1, "top-k must be a whole number from 0"),
        ("check_top_k", 201, "top-k must be a whole number from 0"),
        ("check_top_k", "x", "top-k must be a whole number from 0"),
        ("check_top_p", 0, "top-p must be a number above 0 and at most 1"),
        ("check_top_p", 1.5, "top-p must be a number above 0 and at most 1"),
        ("check_top_p", "most", "top-p must be a number above 0 and at most 1"),
        ("check_seed", -1, "seed must be blank"),
        ("check_seed", 2**63, "seed must be blank"),
        ("check_seed", "abc", "seed must be blank"),
        ("check_seed", 1.5, "seed must be blank"),
    ],
)
def test_advanced_inputs_refuse_clearly(check: str, value, message: str) -> None:
    from chargen import views

    with pytest.raises(ConfigError, match=message):
        getattr(views, check)(value)


def test_prompt_is_bounded_and_must_be_text() -> None:
    from chargen import views

    assert views.check_prompt(None) == ""
    assert views.check_prompt("x" * views.MAX_PROMPT) == "x" * views.MAX_PROMPT
    with pytest.raises(ConfigError, match="prompt is 5,001 characters long; the limit is 5,000"):
        views.check_prompt("x" * (views.MAX_PROMPT + 1))
    with pytest.raises(ConfigError, match="prompt must be text"):
        views.check_prompt(["ROMEO:"])


def test_only_configured_models_can_be_chosen() -> None:
    from chargen import views

    names = ["checkpoints/shakespeare", "checkpoints/python"]
    assert views.check_model_name(None, names) == "checkpoints/shakespeare"
    assert views.check_model_name("checkpoints/python", names) == "checkpoints/python"
    for bad in ["/etc/passwd", "../checkpoints/python", "user/repo", 3]:
        with pytest.raises(ConfigError, match="model must be one of checkpoints/shakespeare, checkpoints/python"):
            views.check_model_name(bad, names)


# --- views: what is shown -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["abcxyzxyzxyzxyzx", "the company and a second the company and a second the company", "no loop here", ""],
)
def test_loop_highlight_covers_the_text_and_marks_each_copy(text: str) -> None:
    from chargen import views

    loop = find_loop(text)
    pieces = views.loop_highlight(text, loop)
    assert "".join(piece for piece, _ in pieces) == text
    labels = [label for _, label in pieces]
    if loop is None:
        assert set(labels) <= {None}
    else:
        assert labels.count("loop starts") == 1
        first = labels.index("loop starts")
        assert "".join(piece for piece, _ in pieces[:first]) == text[: loop.start]
        assert all(label == "repeats" for label in labels[first + 1 :])
        assert pieces[first][0] == loop.unit


def test_loop_summary_uses_the_describe_line() -> None:
    from chargen import views
    from chargen.generate import Comparison

    text = "Once there was " + "a cat sat. " * 5
    loop = find_loop(text)
    assert loop is not None
    comparison = Comparison(text, "", 1, loop, [], "p", True, [])
    assert views.loop_summary(comparison) == loop.describe()
    assert views.loop_summary(comparison).startswith("greedy output repeats every 11 characters from character")
    no_loop = Comparison("abc", "", 1, None, [], "p", True, [])
    assert views.loop_summary(no_loop) == "greedy output does not fall into a loop within 3 characters"


def test_probability_shading_escapes_text_and_shades_surprise() -> None:
    from chargen import views

    text = "<b>&\nok"
    probs = [0.99, 0.5, 0.01, 0.99, 0.2, 1.0, 1.0]
    page = views.probability_html(text, probs)
    assert "<b>" not in page
    assert "&lt;" in page and "&gt;" in page and "&amp;" in page
    assert page.count("<span title=") >= 4
    assert views._shade(0.01) != views._shade(0.99)
    assert views.probability_html("", []) == ""
    with pytest.raises(ValueError, match="one probability per character"):
        views.probability_html("abc", [1.0])


def test_notices_are_escaped_markdown() -> None:
    from chargen import views

    shown = views.notices_markdown(["dropped: '*' '<script>' '[x](y)'"])
    assert shown.startswith("- ")
    assert "<script>" not in shown and "\\*" in shown and "\\[x\\](y)" in shown
    assert views.notices_markdown([]) == ""


def test_example_prompts_follow_the_offered_models() -> None:
    from chargen import views

    both = views.example_prompts(["checkpoints/shakespeare", "checkpoints/python"])
    assert ["ROMEO:", "checkpoints/shakespeare"] in both
    assert any(name == "checkpoints/python" for _, name in both)
    assert views.example_prompts(["checkpoints/shakespeare"])[0] == ["ROMEO:"]
    assert views.example_prompts(["someone/else"]) == [["The "]]


def test_throttle_keeps_first_and_last_and_drops_bursts() -> None:
    from chargen import views

    assert list(views.throttle(range(1000), interval=10.0)) == [0, 999]
    assert list(views.throttle([5], interval=10.0)) == [5]
    assert list(views.throttle([], interval=10.0)) == []
    assert list(views.throttle(range(5), interval=0.0)) == [0, 1, 2, 3, 4]


def test_distribution_rows_hold_both_distributions(app: ModuleType) -> None:
    from chargen import views

    model = app.MODELS["checkpoints/shakespeare"]
    rows = views.distribution_rows(model, "ROMEO:\nI love thee ", 0.5)
    assert len(rows) == views.CHART_CHARACTERS + 1 and rows[-1].char == "all others"
    assert sum(r.at_temperature for r in rows) == pytest.approx(1.0, abs=1e-4)
    assert sum(r.at_one for r in rows) == pytest.approx(1.0, abs=1e-4)
    # A low temperature sharpens: the likeliest character gains, the tail loses.
    assert rows[0].at_temperature > rows[0].at_one
    assert rows[-1].at_temperature < rows[-1].at_one
    greedy_rows = views.distribution_rows(model, "ROMEO:\nI love thee ", 0.0)
    assert greedy_rows[0].at_temperature == 1.0
    figure = views.distribution_figure(rows, 0.5)
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["T = 0.5", "T = 1"]


# --- handlers called directly -------------------------------------------------------------------


def test_app_configuration_suits_two_cores(app: ModuleType) -> None:
    import torch

    assert torch.get_num_threads() == app.TORCH_THREADS == 1
    assert app.demo._queue.max_size == app.QUEUE_SIZE
    generate_fn = next(fn for fn in app.demo.fns.values() if fn.api_name == "generate")
    assert generate_fn.concurrency_limit == app.CONCURRENCY == 2
    assert [c.elem_id for c in generate_fn.inputs[:3]] == ["prompt", "temperature", "length"]
    assert [c.elem_id for c in generate_fn.outputs[:2]] == ["greedy", "sampled"]
    assert app.MODEL_NAMES == ["checkpoints/shakespeare", "checkpoints/python"]


def test_generate_streams_then_matches_compare(app: ModuleType) -> None:
    updates = run_generate(app, "ROMEO:", 0.8, 300, 0, 1.0, "7")
    assert len(updates) >= 2, "the texts should arrive in pieces"
    first, last = updates[0], updates[-1]
    assert len(first[0]) < 300 and len(first[1]) < 300
    reference = compare(app.MODELS["checkpoints/shakespeare"], "ROMEO:", 300, temperature=0.8, seed=7)
    greedy, sampled, seed_used, loop_line, loop_view, shading, notices = last
    assert (greedy, sampled, seed_used) == (reference.greedy, reference.sampled, "7")
    assert loop_line.startswith("greedy output")
    assert "".join(piece for piece, _ in loop_view) == greedy
    assert shading.startswith('<div class="shaded-text"')
    assert notices == ""
    # Each partial text is a prefix of the final one.
    for update in updates:
        assert greedy.startswith(update[0]) and sampled.startswith(update[1])


def test_generate_greedy_is_fixed_and_seeds_reproduce(app: ModuleType) -> None:
    a = run_generate(app, "ROMEO:", 1.0, 60, 0, 1.0, 123)[-1]
    b = run_generate(app, "ROMEO:", 1.0, 60, 0, 1.0, 123)[-1]
    c = run_generate(app, "ROMEO:", 1.0, 60, 0, 1.0, None)[-1]
    assert a[:3] == b[:3]
    assert c[0] == a[0]
    assert c[2].isdigit()


def test_generate_uses_the_chosen_model_and_sampling_options(app: ModuleType) -> None:
    last = run_generate(app, "def f(x):", 0.9, 40, 5, 0.9, 3, "checkpoints/python")[-1]
    reference = compare(app.MODELS["checkpoints/python"], "def f(x):", 40, temperature=0.9, top_k=5, top_p=0.9, seed=3)
    assert last[:2] == (reference.greedy, reference.sampled)


def test_unknown_characters_and_empty_prompts_give_notices(app: ModuleType) -> None:
    last = run_generate(app, "é😀ROMEO:", 0.8, 20, 0, 1.0, 1)[-1]
    assert len(last[0]) == len(last[1]) == 20
    assert "left out of the prompt: 'é' '😀'" in last[6]
    empty = run_generate(app, "", 0.8, 20)[-1]
    assert "The prompt was empty" in empty[6]
    control = run_generate(app, "\udcff\x00ROMEO", 0.8, 20)[-1]
    assert r"'\\udcff' '\\x00'" in control[6]  # escaped for Markdown
    nothing_known = run_generate(app, "日本語", 0.8, 20)[-1]
    assert "had no character the model knows" in nothing_known[6]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x" * 5001, 0.8, 300), "prompt is 5,001 characters long"),
        (("ROMEO:", "hot", 300), "temperature must be a number from 0 to 2"),
        (("ROMEO:", 2.5, 300), "temperature must be a number from 0 to 2"),
        (("ROMEO:", float("nan"), 300), "temperature must be a number from 0 to 2"),
        (("ROMEO:", 0.8, 0), "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 0.8, 10**9), "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 0.8, 300, -3), "top-k must be a whole number"),
        (("ROMEO:", 0.8, 300, 0, 0.0), "top-p must be a number above 0"),
        (("ROMEO:", 0.8, 300, 0, 1.0, "lucky"), "seed must be blank"),
        (("ROMEO:", 0.8, 300, 0, 1.0, None, "/etc/passwd"), "model must be one of"),
    ],
)
def test_bad_input_is_a_clear_gradio_error(app: ModuleType, args: tuple, message: str) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match=message):
        run_generate(app, *args)


def test_show_distribution_draws_the_chart_or_refuses(app: ModuleType) -> None:
    import gradio as gr
    from matplotlib.figure import Figure

    assert isinstance(app.show_distribution("ROMEO:", 0.8, "checkpoints/shakespeare"), Figure)
    with pytest.raises(gr.Error, match="temperature must be"):
        app.show_distribution("ROMEO:", -1, None)
    with pytest.raises(gr.Error, match="model must be one of"):
        app.show_distribution("ROMEO:", 0.8, "../secret")


# --- served, through gradio_client --------------------------------------------------------------


def test_api_generate_with_three_arguments(client) -> None:
    result = client.predict("ROMEO:", 0.8, 300, api_name="/generate")
    greedy, sampled, seed_used = result[:3]
    assert len(greedy) == 300 and len(sampled) == 300
    assert seed_used.isdigit()
    again = client.predict("ROMEO:", 0.8, 300, api_name="/generate")
    assert again[0] == greedy


def test_api_streams_partial_results(client) -> None:
    job = client.submit("ROMEO:", 0.8, 600, 0, 1.0, "5", api_name="/generate")
    sizes = [len(update[1]) for update in job]
    assert sizes[-1] == 600
    assert len(set(sizes)) >= 2, f"expected growing partial results, saw lengths {sizes}"
    assert job.outputs()[-1][2] == "5"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", 0.8, 300), {}, None),
        (("x" * 100_000, 0.8, 300), {}, "prompt is 100,000 characters long"),
        (("\x00\u200bROMEO\U0001f600", 0.8, 30), {}, None),
        (("ROMEO:", "abc", 300), {}, "temperature must be a number"),
        (("ROMEO:", -1, 300), {}, "temperature must be a number"),
        (("ROMEO:", 0.8, 99999), {}, "length must be a whole number"),
        (("ROMEO:", 0.8, "many"), {}, "length must be a whole number"),
        (("ROMEO:", 0.8, None), {}, "length must be a whole number"),
        (("ROMEO:", 0.8, 30), {"seed": "abc"}, "seed must be blank"),
        (("ROMEO:", 0.8, 30), {"top_k": 1e6}, "top-k must be"),
        (("ROMEO:", 0.8, 30), {"model_name": "/etc/passwd"}, "model must be one of"),
    ],
)
def test_api_bad_input_is_refused_and_the_server_keeps_serving(client, args, kwargs, message) -> None:
    from gradio_client.exceptions import AppError

    if message is None:
        result = client.predict(*args, api_name="/generate", **kwargs)
        assert len(result[1]) == args[2]
    else:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/generate", **kwargs)
    assert len(client.predict("ROMEO:", 0.5, 10, api_name="/generate")[0]) == 10


def test_api_distribution(client) -> None:
    chart = client.predict("ROMEO:", 1.2, api_name="/distribution")
    assert chart["type"] == "matplotlib" and chart["plot"].startswith("data:image/")


def test_full_queue_answers_at_once_with_a_clear_message(app: ModuleType, client, monkeypatch) -> None:
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    monkeypatch.setattr(app.demo._queue, "max_size", 1)
    started = time.monotonic()
    # Two run (the concurrency limit), one waits, the rest are turned away as they arrive.
    jobs = [client.submit("ROMEO:", 0.8, 2000, api_name="/generate") for _ in range(6)]
    done, _ = wait(jobs, timeout=60, return_when=FIRST_EXCEPTION)
    errors = [str(job.exception()) for job in done if isinstance(job.exception(), (AppError, QueueError))]
    assert any("Queue is full" in error for error in errors), errors
    assert time.monotonic() - started < 30, "a full queue must answer at once, not time out"
    for job in jobs:
        job.cancel()
    monkeypatch.undo()
    assert len(client.predict("ROMEO:", 0.8, 10, api_name="/generate")[0]) == 10


# --- python app.py --------------------------------------------------------------------------------


def test_python_app_py_serves_on_the_configured_port_with_a_visible_notice(tmp_path: Path) -> None:
    """The real entry point: GRADIO_SERVER_PORT honoured, no network, a broken model named on the page."""
    import json

    from gradio_client import Client

    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "CHARGEN_MODELS": f"checkpoints/shakespeare,{tmp_path / 'no-such-model'}",
    }
    log = (tmp_path / "app.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "app.log").read_text()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "app did not answer within 90 s"
            time.sleep(0.1)
        with urllib.request.urlopen(url + "config", timeout=5) as response:
            config = json.load(response)
        by_id = {c["props"].get("elem_id"): c["props"] for c in config["components"] if c.get("props")}
        assert "no-such-model" in by_id["startup-notices"]["value"]
        assert by_id["startup-notices"]["visible"] is True
        assert by_id["model"]["visible"] is False  # one model left: no picker
        result = Client(url, verbose=False).predict("ROMEO:", 0.8, 30, api_name="/generate")
        assert len(result[0]) == len(result[1]) == 30
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
