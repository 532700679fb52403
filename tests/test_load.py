"""A small version of benchmarks/load_test.py: several users at once are all served; a full queue
turns the rest away at once with a clear message; the benchmark itself runs as a user runs it.

The full load test (20 users x 300 characters, p95 <= 5 s on 2 cores) is a benchmark, not a
test: its figures depend on the machine. These check only what must hold anywhere.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


load_test = load_benchmark("load_test")


def test_several_users_at_once_are_all_served(url: str) -> None:
    report = load_test.run_users(url, users=6, chars=80, request_timeout=60)
    assert report.errors == 0, report.error_details
    assert report.served == 6 and report.rejected == 0
    assert report.latency_max is not None and report.first_update_p50 is not None
    assert report.first_update_p50 <= report.latency_max


def test_a_full_queue_answers_at_once_and_the_server_keeps_serving(app, url: str, monkeypatch) -> None:
    from gradio_client import Client

    # At most one waits and two run (the concurrency limit): the rest must be turned away, not kept
    # waiting. How many get in depends on timing: a join can find the queue full before the
    # first waiting one has started running, or one can finish before the last users join.
    monkeypatch.setattr(app.demo._queue, "max_size", 1)
    report = load_test.run_users(url, users=10, chars=2000, request_timeout=60)
    assert report.errors == 0, report.error_details
    assert report.served + report.rejected == 10
    assert report.served >= 1 and report.rejected >= 3, (report.served, report.rejected)
    assert report.rejection_max_s is not None and report.latency_max is not None
    assert report.rejection_max_s < min(3.0, report.latency_max), "a full queue must answer at once"
    monkeypatch.undo()
    result = Client(url, verbose=False, ssl_verify=False).predict("ROMEO:", 0.8, 20, api_name="/generate")
    assert len(result[0]) == len(result[1]) == 20


@pytest.mark.slow
def test_the_benchmark_starts_python_app_py_and_reports(tmp_path: Path) -> None:
    """``benchmarks/load_test.py`` end to end, as a user runs it, with three small users."""
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "benchmarks/load_test.py", "--users", "3", "--chars", "20", "--json", "--distinct-prompts"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["served"] == 3 and report["errors"] == 0 and report["rejected"] == 0
    assert report["ready_s"] > 0 and report["latency_p95"] is not None
    assert report["prompts"] == "one per user"


def test_arriving_visitors_fetch_the_page_and_get_compares_texts_over_rest(app, url: str) -> None:
    """``--arrive``: each visitor fetches /config, then generates over REST + SSE; the texts are
    ``compare()``'s for the same seed, and the server's CPU per visitor is split into its parts."""
    from chargen.inference.generate import compare

    report = load_test.arrive_users(
        url, users=4, chars=40, request_timeout=60, server_pid=os.getpid(), distinct_prompts=True
    )
    assert report.errors == 0, report.error_details
    assert report.served == 4 and report.rejected == 0
    assert report.mode.startswith("arrive") and report.prompts == "one per user"
    assert report.first_update_p50 is not None and report.latency_max is not None
    split = report.cpu_per_visitor_ms
    assert set(split) == {"config", "priming", "steps", "rest", "total"}
    assert split["config"] > 0  # four fetches of a ~150 KB config cost the server something
    parts = split["config"] + split["priming"] + split["steps"] + split["rest"]
    assert parts == pytest.approx(split["total"], abs=0.3)  # each part rounded to 0.1 ms
    assert load_test.fetch_config(url, 30) > 1000
    prompt = load_test.user_prompt(5, distinct=True)
    updates: list[None] = []
    outputs = load_test.rest_generate(url, [prompt, 0.8, 200, 0, 1.0, "7", None], 60, lambda: updates.append(None))
    expected = compare(app.models["shakespeare"], prompt, 200, temperature=0.8, seed=7)
    assert (outputs[0], outputs[1], outputs[2]) == (expected.greedy, expected.sampled, "7")
    with pytest.raises(load_test.RestError, match="temperature"):
        load_test.rest_generate(url, ["ROMEO:", 9.0, 20, 0, 1.0, "1", None], 60)


def test_the_benchmark_models_arriving_visitors(tmp_path: Path) -> None:
    """``benchmarks/load_test.py --arrive`` end to end against ``python app.py`` with the engine on."""
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "benchmarks/load_test.py", "--arrive", "--distinct-prompts", "--engine", "on"]
    done = subprocess.run(
        [*command, "--users", "3", "--chars", "20", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["served"] == 3 and report["errors"] == 0 and report["rejected"] == 0
    assert report["engine"] == "on" and report["mode"].startswith("arrive")
    assert set(report["cpu_per_visitor_ms"]) == {"config", "priming", "steps", "rest", "total"}
    assert report["server_cpu_s"] is not None


def test_distinct_prompts_are_each_users_own_and_shared_ones_repeat() -> None:
    distinct = [load_test.user_prompt(i, distinct=True) for i in range(200)]
    assert len(set(distinct)) == 200
    assert all(p.startswith(load_test.user_prompt(i)) for i, p in enumerate(distinct))
    # What tells them apart is letters: the bundled Shakespeare model knows no digits, and drops them.
    added = "".join(p[len(load_test.user_prompt(i)) :] for i, p in enumerate(distinct))
    assert set(added) <= set(string.ascii_letters + " .\n")
    shared = {load_test.user_prompt(i) for i in range(200)}
    assert shared == set(load_test.PROMPTS)


def test_percentiles_and_local_urls_only() -> None:
    assert load_test.percentile([], 95) is None
    assert load_test.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert load_test.percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert load_test.percentile([float(i) for i in range(1, 21)], 100) == 20.0
    assert load_test.check_local("http://127.0.0.1:7860") == "http://127.0.0.1:7860/"
    with pytest.raises(SystemExit, match="127.0.0.1"):
        load_test.check_local("https://example.com/")
    with pytest.raises(ValueError, match="users must be between 1 and 200"):
        load_test.run_users("http://127.0.0.1:1/", users=0, chars=10)


def test_the_startup_benchmark_times_python_app_py_against_a_bare_gradio_app() -> None:
    """``benchmarks/bench_startup.py --rounds 1``: both apps started, both paths answered, a ratio."""
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_startup.py", "--rounds", "1", "--json"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert sorted(start["app"] for start in result["starts"]) == ["app", "bare"]
    for start in result["starts"]:
        assert 0 < start["page_s"] < 120 and 0 < start["config_s"] < 120
    medians, ratio = result["medians"], result["ratio_app_to_bare"]
    assert ratio["page_s"] == round(medians["app"]["page_s"] / medians["bare"]["page_s"], 2)
