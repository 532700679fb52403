"""The Gradio app: its views, its handlers called directly, and the app served and called
through gradio_client, bad input included. The real-browser test is in test_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, wait
from contextlib import contextmanager
from pathlib import Path

import pytest

from chargen.errors import ConfigError
from chargen.inference.generate import compare, next_char_distribution
from chargen.inference.loops import find_loop
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


# --- views: inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0.0), (0.8, 0.8), (2, 2.0), ("1.5", 1.5), (" 0.25 ", 0.25)],
)
def test_temperature_accepts_numbers_and_numeric_strings(value, expected) -> None:
    from chargen.app import views

    assert views.check_temperature(value) == expected


@pytest.mark.parametrize("value", [-0.1, 2.01, 5, float("nan"), float("inf"), "abc", "", None, True, [0.8], {}])
def test_temperature_refuses_with_the_allowed_range(value) -> None:
    from chargen.app import views

    with pytest.raises(ConfigError, match="temperature must be a number from 0 to 2"):
        views.check_temperature(value)


@pytest.mark.parametrize(("value", "expected"), [(10, 10), (300, 300), (300.0, 300), ("2000", 2000)])
def test_length_accepts_whole_numbers(value, expected) -> None:
    from chargen.app import views

    assert views.check_length(value) == expected


@pytest.mark.parametrize("value", [9, 2001, 1e9, 20.5, "lots", None, False, float("nan"), -5])
def test_length_refuses_with_the_allowed_range(value) -> None:
    from chargen.app import views

    with pytest.raises(ConfigError, match="length must be a whole number of characters from 10 to 2000"):
        views.check_length(value)


def test_advanced_inputs_blank_or_neutral_mean_off() -> None:
    from chargen.app import views

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
    from chargen.app import views

    with pytest.raises(ConfigError, match=message):
        getattr(views, check)(value)


def test_prompt_is_bounded_and_must_be_text() -> None:
    from chargen.app import views

    assert views.check_prompt(None) == ""
    assert views.check_prompt("x" * views.APP_MAX_PROMPT) == "x" * views.APP_MAX_PROMPT
    with pytest.raises(ConfigError, match="prompt is 5,001 characters long; the limit is 5,000"):
        views.check_prompt("x" * (views.APP_MAX_PROMPT + 1))
    with pytest.raises(ConfigError, match="prompt must be text"):
        views.check_prompt(["ROMEO:"])


def test_only_configured_models_can_be_chosen_by_short_name_or_alias() -> None:
    from chargen.app import views

    menu = views.ModelMenu(
        ("shakespeare", "python"), {"checkpoints/python": "python", "/x/checkpoints/python": "python"}
    )
    assert views.check_model_name(None, menu) == "shakespeare"
    assert views.check_model_name("", menu) == "shakespeare"
    assert views.check_model_name("python", menu) == "python"
    assert views.check_model_name("checkpoints/python", menu) == "python"
    assert views.check_model_name("/x/checkpoints/python", menu) == "python"
    for bad in ["/etc/passwd", "../checkpoints/python", "user/repo", 3, "checkpoints/shakespeare"]:
        with pytest.raises(ConfigError, match="model must be one of shakespeare, python"):
            views.check_model_name(bad, menu)


def test_models_have_short_names_and_bundled_ones_resolve_against_the_project(tmp_path: Path) -> None:
    from chargen.app import views

    assert views.short_name("checkpoints/shakespeare") == "shakespeare"
    assert views.short_name("/somewhere/else/checkpoints/python/") == "python"
    assert views.short_name("someone/tiny-model") == "tiny-model"
    assert views.short_name("alice/chargen-shakespeare@" + "3f" * 20) == "shakespeare"
    bundled = views.model_sources(None, tmp_path)
    assert bundled == {name: str(tmp_path / folder) for name, folder in views.BUNDLED_MODELS.items()}
    assert list(bundled) == ["shakespeare", "shakespeare-word", "python"]
    configured = views.model_sources("checkpoints/python, someone/repo ,", tmp_path)
    assert configured == {"python": str(tmp_path / "checkpoints/python"), "repo": "someone/repo"}
    clash = views.model_sources("a/model,b/model", tmp_path)
    assert clash == {"model": "a/model", "b/model": "b/model"}


# --- views: what is shown -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("\n" + " " * 300, "greedy output is only spaces from character 2 to the end (300 characters)"),
        ("x = 1\n\n\n\n\n\n\n\n\n", "greedy output is only line breaks from character 6 to the end (9 characters)"),
        ("ab" + " \n" * 10, "greedy output is only spaces and line breaks from character 3 to the end (20 characters)"),
        (
            "Once there was " + "a cat sat. " * 5,
            "greedy output repeats \u201c\u00b7a\u00b7cat\u00b7sat.\u201d (11 characters) "
            "from character 15 to the end, 5.1 times",
        ),
        ("abc", "greedy output does not fall into a loop within 3 characters"),
        ("", ""),
    ],
)
def test_the_loop_line_says_it_in_words_counting_from_one(text: str, line: str) -> None:
    from chargen.app import views

    assert views.loop_sentence(text, find_loop(text)) == line


def test_where_greedy_and_sampled_part() -> None:
    from chargen.app import views

    assert views.parting_index("the cat", "the dog") == 4
    assert views.parting_index("abc", "xbc") == 0
    assert views.parting_index("same", "same") is None
    assert views.parting_index("ab", "abc") is None


def test_page_data_holds_what_the_page_draws() -> None:
    from chargen.app import views
    from chargen.inference.generate import Comparison

    request = views.Request("ROMEO:", 0.8, 12, None, 0.9, 5, "shakespeare")
    greedy = "ab" + "c" * 10
    comparison = Comparison(greedy, "abd" + "e" * 9, 5, find_loop(greedy), [], "ROMEO:", True, [0.5] * 12)
    data = views.page_data(request, comparison, ["a notice"])
    assert data["greedy"] == greedy and data["sampled"] == "abd" + "e" * 9 and data["seed"] == "5"
    assert data["loop"] == {"start": 2, "period": 1, "length": 10} and data["parting"] == 2
    assert data["loop_line"].startswith("greedy output repeats \u201cc\u201d (1 character) from character 3")
    assert data["probs"] == [0.5] * 12 and data["notices"] == ["a notice"] and data["stopped_at"] is None
    assert data["settings"] == {
        "prompt": "ROMEO:",
        "temperature": 0.8,
        "length": 12,
        "top_k": 0,
        "top_p": 0.9,
        "seed": "5",
        "model": "shakespeare",
    }
    streaming = views.page_data(request, Comparison("ab", "ab", 5, None, [], "ROMEO:", False, [1.0, 1.0]))
    assert streaming["loop"] is None and streaming["loop_line"] == "" and not streaming["done"]


def test_model_facts_come_from_the_card_and_the_model(tmp_path: Path) -> None:
    from chargen.app import views
    from tests.helpers import tiny_model

    assert "tiny_shakespeare" in views.card_facts(ROOT / "checkpoints" / "shakespeare")
    assert "nats per character" in views.card_facts(ROOT / "checkpoints" / "shakespeare")
    assert views.card_facts(tmp_path) == ""
    offered = views.OfferedModel("tiny", tiny_model("gru", layers=3))
    assert offered.description == "a 3-layer GRU (16 units)"
    assert "GRU" in views.header_markdown(offered) and "LSTM" not in views.header_markdown(offered)
    assert "no model card" in views.facts_markdown(offered)


def test_notices_are_escaped_markdown() -> None:
    from chargen.app import views

    shown = views.notices_markdown(["dropped: '*' '<script>' '[x](y)'"])
    assert shown.startswith("- ")
    assert "<script>" not in shown and "\\*" in shown and "\\[x\\](y)" in shown
    assert views.notices_markdown([]) == ""


def test_example_prompts_follow_the_offered_models() -> None:
    from chargen.app import views

    both = views.example_prompts(["shakespeare", "python"])
    assert ("ROMEO:", "shakespeare") in both and ("import os\n\n\nclass ", "python") in both
    assert views.example_prompts(["else"]) == [("The ", "else")]


def test_throttle_keeps_first_and_last_and_drops_bursts() -> None:
    from chargen.app import views

    assert list(views.throttle(range(1000), interval=10.0)) == [0, 999]
    assert list(views.throttle([5], interval=10.0)) == [5]
    assert list(views.throttle([], interval=10.0)) == []
    assert list(views.throttle(range(5), interval=0.0)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.8, None, None), (1.3, 5, 0.9), (0.0, None, None)])
def test_the_distribution_at_a_step_is_the_one_sampling_drew_from(app, temperature, top_k, top_p) -> None:
    """The oracle is generation itself: the probability it reported for each drawn character (the
    shading) must be the bar of that character at that step."""
    from chargen.app import views

    model = app.models["shakespeare"]
    result = compare(model, "ROMEO:", 60, temperature=temperature, top_k=top_k, top_p=top_p, seed=11)
    for i in [0, 1, 17, 59]:
        data = views.step_distribution(model, "ROMEO:", result.sampled, i, temperature, top_k, top_p)
        rows = data["rows"]
        assert [row[0] for row in rows].count(result.sampled[i]) == 1 and len(rows) == len(model.vocab.chars)
        (drawn,) = [row for row in rows if row[3]]
        assert drawn[0] == result.sampled[i] == data["drawn"] and data["step"] == i + 1
        assert drawn[1] == pytest.approx(result.sampled_probs[i], abs=1e-5)
        assert sum(row[1] for row in rows) == pytest.approx(1.0, abs=1e-4)
        assert sum(row[2] for row in rows) == pytest.approx(1.0, abs=1e-4)
        assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
        if top_k:
            assert sum(row[1] > 0 for row in rows) <= top_k
    # Position -1: the next character after prompt + text, at T = 1 as the library computes it.
    after = views.step_distribution(model, "ROMEO:", "", 0, 1.0)
    expected = dict(next_char_distribution(model, "ROMEO:", 1.0))
    assert after["drawn"] is None and after["position"] == -1
    for char, p_t, p_one, flagged in after["rows"]:
        assert p_t == pytest.approx(expected[char], abs=2e-3) and p_one == p_t and not flagged


# --- handlers called directly -------------------------------------------------------------------


def test_app_configuration_suits_two_cores(app) -> None:
    import torch

    assert torch.get_num_threads() == app.module.TORCH_THREADS == 1
    assert app.demo._queue.max_size == app.module.QUEUE_SIZE
    generate_fn = next(fn for fn in app.demo.fns.values() if fn.api_name == "generate")
    assert generate_fn.concurrency_limit == app.module.CONCURRENCY == 2
    assert [c.elem_id for c in generate_fn.inputs[:3]] == ["prompt", "temperature", "length"]
    assert [c.label for c in generate_fn.outputs[:2]] == ["Greedy text", "Sampled text"]
    assert app.handlers.model_names == ["shakespeare", "shakespeare-word", "python"] and app.notices == []


@pytest.mark.slow
def test_importing_app_does_no_work() -> None:
    code = "import sys, torch; n = torch.get_num_threads(); import app; "
    code += "assert torch.get_num_threads() == n; assert not hasattr(app, 'demo'); assert 'chargen.hub' in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_generate_streams_then_matches_compare(app) -> None:
    updates = list(app.handlers.generate("ROMEO:", 0.8, 300, 0, 1.0, "7"))
    assert updates, "the handler yielded nothing"
    reference = compare(app.models["shakespeare"], "ROMEO:", 300, temperature=0.8, seed=7)
    greedy, sampled, seed_used, loop_line, notices, data = updates[-1]
    assert (greedy, sampled, seed_used) == (reference.greedy, reference.sampled, "7")
    assert loop_line == views_loop_line(reference) == data["loop_line"]
    assert data["probs"] == [round(p, 4) for p in reference.sampled_probs] and data["done"]
    assert notices == ""
    for update in updates:  # each partial text is a prefix of the final one
        assert greedy.startswith(update[0]) and sampled.startswith(update[1])


def views_loop_line(comparison) -> str:
    from chargen.app import views

    return views.loop_sentence(comparison.greedy, find_loop(comparison.greedy))


def test_stop_leaves_a_prefix_its_seed_and_its_loop_line(app) -> None:
    full = list(app.handlers.generate("ROMEO:", 0.8, 300, 0, 1.0, "7"))[-1]
    for shown in [1, 57, 300]:
        greedy, sampled, seed_used, loop_line, _, data = app.handlers.stopped("ROMEO:", 0.8, shown, 0, 1.0, "7", None)
        assert (greedy, sampled) == (full[0][:shown], full[1][:shown]) and seed_used == "7"
        assert loop_line == views_loop_line(compare(app.models["shakespeare"], "ROMEO:", shown, seed=7))
        assert data["stopped_at"] == shown and data["settings"]["length"] == shown
    nothing = app.handlers.stopped("ROMEO:", 0.8, 0, 0, 1.0, None, None)
    assert nothing[:2] == ("", "") and nothing[5]["stopped_at"] == 0


def test_generate_greedy_is_fixed_and_seeds_reproduce(app) -> None:
    a = list(app.handlers.generate("ROMEO:", 1.0, 60, 0, 1.0, 123))[-1]
    b = list(app.handlers.generate("ROMEO:", 1.0, 60, 0, 1.0, 123))[-1]
    c = list(app.handlers.generate("ROMEO:", 1.0, 60, 0, 1.0, None))[-1]
    assert a[:3] == b[:3]
    assert c[0] == a[0]
    assert c[2].isdigit()


def test_generate_uses_the_chosen_model_by_name_or_path(app) -> None:
    reference = compare(app.models["python"], "def f(x):", 40, temperature=0.9, top_k=5, top_p=0.9, seed=3)
    for name in ["python", "checkpoints/python", str(ROOT / "checkpoints" / "python")]:
        last = list(app.handlers.generate("def f(x):", 0.9, 40, 5, 0.9, 3, name))[-1]
        assert last[:2] == (reference.greedy, reference.sampled)


def test_unknown_characters_and_empty_prompts_give_notices(app) -> None:
    def run(*args):
        return list(app.handlers.generate(*args))[-1]

    last = run("é😀ROMEO:", 0.8, 20, 0, 1.0, 1)
    assert len(last[0]) == len(last[1]) == 20
    assert "left out of the prompt: 'é' '😀'" in last[4]
    assert "The prompt was empty" in run("", 0.8, 20)[4]
    assert r"'\\udcff' '\\x00'" in run("\udcff\x00ROMEO", 0.8, 20)[4]  # escaped for Markdown
    assert "had no character the model knows" in run("日本語", 0.8, 20)[4]


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
def test_bad_input_is_a_clear_gradio_error(app, args: tuple, message: str) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match=message):
        list(app.handlers.generate(*args))


def test_distribution_refuses_bad_input_and_the_page_shows_it_in_the_chart(app) -> None:
    import gradio as gr

    data = app.handlers.distribution("ROMEO:", 0.8, "shakespeare", "abc", 1)
    assert data["drawn"] == "b" and data["step"] == 2
    for args, message in [
        (("ROMEO:", -1, None), "temperature must be"),
        (("ROMEO:", 0.8, "../secret"), "model must be one of"),
        (("ROMEO:", 0.8, None, "abc", 4), "position must be -1"),
        (("ROMEO:", 0.8, None, "abc", -2), "position must be -1"),
        (("ROMEO:", 0.8, None, "a\u00e9", 0), "text has characters the model does not know"),
        (("ROMEO:", 0.8, None, "", -1, 300), "top-k must be"),
    ]:
        with pytest.raises(gr.Error, match=message):
            app.handlers.distribution(*args)
        shown = app.handlers.page_distribution(*args)
        assert message in shown["error"]


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
    data = client.predict("ROMEO:", 1.2, api_name="/distribution")
    assert data["drawn"] is None and data["position"] == -1
    assert data["rows"][0][0] == "\n" and len(data["rows"]) == 65
    result = client.predict("ROMEO:", 0.8, 30, 0, 1.0, "9", "shakespeare", api_name="/generate")
    sampled, probs = result[1], result[5]["probs"]
    at = client.predict("ROMEO:", 0.8, "shakespeare", sampled, 12, 0, 1.0, api_name="/distribution")
    (drawn,) = [row for row in at["rows"] if row[3]]
    assert drawn[0] == sampled[12] and round(drawn[1], 4) == probs[12]


def test_api_outputs_are_all_labelled(client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    for name in ["/generate", "/distribution"]:  # the Generate tab's; other tabs test their own
        endpoint = api["named_endpoints"][name]
        labels = [part["label"] for part in endpoint["parameters"] + endpoint["returns"]]
        assert all(label and not label.startswith("value_") for label in labels), labels
    generate = api["named_endpoints"]["/generate"]
    assert [p["parameter_name"] for p in generate["parameters"][:3]] == ["prompt", "temperature", "length"]
    assert [r["label"] for r in generate["returns"][:2]] == ["Greedy text", "Sampled text"]
    names = [p["parameter_name"] for p in api["named_endpoints"]["/distribution"]["parameters"]]
    assert names == ["prompt", "temperature", "model_name", "text", "position", "top_k", "top_p", "steps"]


def test_full_queue_answers_at_once_with_a_clear_message(app, client, monkeypatch) -> None:
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


@contextmanager
def app_py_served(tmp_path: Path, **env_vars: str) -> Iterator[tuple[str, Path]]:
    """``python /path/to/app.py`` started from ``tmp_path`` (not the project folder) with no network,
    on a free port; yields its URL and its log."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "CHARGEN_MODELS"},
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": "",
        **env_vars,
    }
    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "app did not answer within 90 s"
                time.sleep(0.1)
            yield url, log_path
        finally:
            process.terminate()
            process.wait(timeout=10)


def page_config(url: str) -> dict[str, dict]:
    import json

    with urllib.request.urlopen(url + "config", timeout=5) as response:
        config = json.load(response)
    return {c["props"].get("elem_id"): c["props"] for c in config["components"] if c.get("props")}


@pytest.mark.slow
def test_python_app_py_from_another_folder_serves_the_bundled_models_with_no_notice(tmp_path: Path) -> None:
    from gradio_client import Client

    with app_py_served(tmp_path) as (url, _):
        props = page_config(url)
        assert props["startup-notices"]["visible"] is False
        assert [choice[1] for choice in props["model"]["choices"]] == ["shakespeare", "shakespeare-word", "python"]
        client = Client(url, verbose=False)
        for model in ["shakespeare", "shakespeare-word", "python"]:
            result = client.predict("ROMEO:", 0.8, 30, 0, 1.0, None, model, api_name="/generate")
            assert len(result[0]) == len(result[1]) == 30


@pytest.mark.slow
def test_python_app_py_serves_on_the_configured_port_with_a_visible_notice(tmp_path: Path) -> None:
    """The real entry point: GRADIO_SERVER_PORT honoured, no network, a broken model named on the page."""
    from gradio_client import Client

    configured = f"checkpoints/shakespeare,{tmp_path / 'no-such-model'}"
    with app_py_served(tmp_path, CHARGEN_MODELS=configured) as (url, _):
        props = page_config(url)
        assert "no-such-model" in props["startup-notices"]["value"]
        assert props["startup-notices"]["visible"] is True
        assert props["model"]["visible"] is False  # one model left: no picker
        result = Client(url, verbose=False).predict("ROMEO:", 0.8, 30, api_name="/generate")
        assert len(result[0]) == len(result[1]) == 30


def test_objects_alive_at_start_up_are_frozen_out_of_the_collectors_walks() -> None:
    """``python app.py`` freezes what lives after its warm-up: a full collection then walks only newer objects."""
    import gc

    from chargen.app.demo import freeze_startup_objects

    kept = [[index] for index in range(1000)]  # tracked containers alive "at start-up"
    try:
        frozen = freeze_startup_objects()
        assert frozen >= len(kept) and gc.get_freeze_count() >= len(kept)  # frozen objects that die leave the count
        walked = {id(obj) for obj in gc.get_objects()}  # every generation, not the frozen ones
        assert not any(id(item) in walked for item in kept)
        later = [0]
        assert id(later) in {id(obj) for obj in gc.get_objects()}
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
