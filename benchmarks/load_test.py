"""Load test: many visitors at once against the app, started as a user starts it.

Starts ``python app.py`` on a free 127.0.0.1 port (``GRADIO_SERVER_PORT``), waits for its page
to answer HTTP 200, then lets N gradio_client users ask for a generation at the same instant
(each ``--chars`` characters, a mix of prompts and temperatures) and prints what happened:
requests served, errors, queue rejections, throughput, and latency (p50 / p95 / max) to the first
streamed update and to the complete result. By default the same burst runs twice, against a fresh
app each time: with the continuous-batching engine on (``CHARGEN_BATCHING=1``, the default) and
off (``CHARGEN_BATCHING=0``: a thread and a batch of 2 per request), printed side by side with the
CPU the load generator used beside the server's, and where the server's CPU went (per thread,
from /proc: the engine's stepping and priming threads, the rest of the server)::

    .venv/bin/python benchmarks/load_test.py [--users 100] [--chars 300] [--engine both|on|off] [--distinct-prompts]
    .venv/bin/python benchmarks/load_test.py --arrive --distinct-prompts --engine on --users 100

``--arrive`` models a class opening a shared link instead of clients already connected: each user
fetches the page's ``/config``, then generates over gradio's REST + SSE protocol (plain urllib, a
light client), and the report splits the server's CPU per visitor into the config (the same number
of ``/config`` fetches alone, measured first in the same run), priming, model steps and the rest.
The server's CPU includes its ended child processes.

On a shared machine, pin both the app and the load generator to the same free cores, e.g.
``taskset -c 0 ...`` (one core) or ``taskset -c 0,1 ...`` (two); the app inherits the pinning.

Goals: issue 7, 20 users at once all served, 0 errors, p95 <= 5 s on 2 cores; issue 16, the same
for 100 users. Users beyond what the app admits are turned away at once with "Queue is full".
Everything is bounded: at most ``MAX_USERS`` users, each request ``--request-timeout`` seconds,
only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_USERS = 200
"""A hard cap, so a typo can't start thousands of threads."""
POLL_S = 0.01
"""How often each user looks for its result: the resolution of the latency figures."""
POLLS_PER_S = 400
"""All users together look for their first update this many times a second at most (100 users:
every 0.25 s each, the resolution of the first-update figure at that size), so the load
generator's polling doesn't grow into CPU taken from the server it measures (measured: 100 users
polling every 0.05 s through a 190 s wait on a starved core took 27 s of the load generator's CPU)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# A mix of what visitors send: the examples, plain text, an empty prompt, characters the model
# doesn't know; greedy, cool, default and hot temperatures.
PROMPTS = [
    "ROMEO:",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "To be, or not to be",
    "",
    "KING HENRY:\nWhat say you, ",
    "Élan 🙂 and the night",
    "JULIET:\nO ",
]
TEMPERATURES = [0.0, 0.5, 0.8, 1.0, 1.5]


@dataclass
class Outcome:
    """One user's request: how it ended and when (seconds from the shared start)."""

    user: int
    status: str  # "served", "rejected" (queue full) or "error"
    first_update: float | None = None
    done: float | None = None
    detail: str = ""


@dataclass
class Report:
    """What a load run measured; latencies in seconds."""

    users: int
    chars: int
    served: int
    errors: int
    rejected: int
    wall_s: float
    requests_per_s: float
    chars_per_s: float
    latency_p50: float | None
    latency_p95: float | None
    latency_max: float | None
    first_update_p50: float | None
    first_update_p95: float | None
    rejection_max_s: float | None = None
    """The slowest "Queue is full" answer: a full queue should turn users away at once."""
    client_cpu_s: float = 0.0
    """CPU seconds the users themselves (this process) used while the requests ran: on a shared
    2-core machine that time is taken from the server being measured. It grows with the requests in
    flight times the wall time: each gradio_client job checks its messages every 0.05 s until done
    (gradio_client 2.7's utils.get_pred_from_sse_v1plus), which a browser does not."""
    server_cpu_s: float | None = None
    """CPU seconds the server process used while the requests ran (None when its pid is unknown)."""
    server_cpu_by_thread: dict[str, float] = field(default_factory=dict)
    """``server_cpu_s`` split by thread name (see :func:`server_cpu`)."""
    engine: str = ""
    """"on" or "off" when this script started the app; "" for an app at ``--url``."""
    prompts: str = ""
    """"N shared" (the server primes each once) or "one per user" (``--distinct-prompts``)."""
    mode: str = "connected (gradio_client)"
    """How users came: already connected (gradio_client, :func:`run_users`) or arriving (:func:`arrive_users`)."""
    cpu_per_visitor_ms: dict[str, float] = field(default_factory=dict)
    """Arriving visitors: the server's CPU per visitor in ms, split (see :func:`cpu_split`)."""
    error_details: list[str] = field(default_factory=list)

    def goal_met(self, p95_limit: float = 5.0) -> bool:
        """All served, no errors, p95 latency within ``p95_limit`` seconds."""
        return (
            self.served == self.users and self.errors == 0 and self.latency_p95 is not None
        ) and self.latency_p95 <= p95_limit


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0-100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_local(url: str) -> str:
    """``url`` if it points at this machine; a load test never leaves 127.0.0.1."""
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"--url must be on 127.0.0.1 or localhost, got {url!r}")
    return url if url.endswith("/") else url + "/"


def wait_for_http_200(url: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited. Fails if the app exits first."""
    started = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{url} did not answer HTTP 200 within {timeout:.0f} s")
        time.sleep(0.1)


def wait_for_models(url: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll the app's ``chargen/ready`` until it says the models are loaded (``python app.py`` serves its page
    first and loads them behind it); an app without that route (an older checkout) is ready at its first 200.
    Returns the seconds waited."""
    started = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} while loading its models")
        try:
            with urllib.request.urlopen(url + "chargen/ready", timeout=2) as response:
                if json.loads(response.read()).get("ready") is True:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{url} did not load its models within {timeout:.0f} s")
        time.sleep(0.1)


THREAD_GROUPS = {
    "-step": "engine: model steps (threads *-step)",
    "-prime": "engine: priming prompts (threads *-prime)",
}
OTHER_THREADS = "rest of the server: gradio's event loop, HTTP, queue, streamed updates, handler threads"


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each live thread of process ``pid``, with the thread's OS name."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        threads[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return threads


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, its ended threads and its ended (waited-for) child
    processes included (``cutime`` + ``cstime``): a server's work in a subprocess counts as the server's."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def server_cpu(pid: int, before: tuple[float, dict], after: tuple[float, dict]) -> tuple[float, dict[str, float]]:
    """The server's CPU seconds between two ``(process_cpu, thread_cpu)`` readings, in all and per
    thread group: the batching engine's threads are named (``chargen-<model>-step`` / ``-prime``);
    everything else is gradio serving (its event loop thread does HTTP, the queue and each streamed
    update; its worker threads run synchronous handlers, which is where generation runs with the
    engine off)."""
    total = after[0] - before[0]
    groups: dict[str, float] = {}
    for tid, (name, seconds) in after[1].items():
        spent = seconds - before[1].get(tid, (name, 0.0))[1]
        group = next((label for suffix, label in THREAD_GROUPS.items() if name.endswith(suffix)), OTHER_THREADS)
        groups[group] = groups.get(group, 0.0) + spent
    # Threads that ended during the burst are in the process's total only.
    groups[OTHER_THREADS] = groups.get(OTHER_THREADS, 0.0) + max(0.0, total - sum(groups.values()))
    return round(total, 2), {label: round(seconds, 2) for label, seconds in groups.items()}


@contextmanager
def running_app(
    startup_timeout: float = 90.0, models: str | None = None, engine: str | None = None, app_dir: Path = ROOT
) -> Iterator[tuple[str, float, int]]:
    """``python app.py`` (from ``app_dir``: this checkout by default) on a free 127.0.0.1 port, the
    batching engine ``engine`` ("on" / "off", None: the app's default); yields ``(url, seconds until
    HTTP 200, the app's pid)``."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="chargen-load-") as scratch:
        env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(Path(scratch) / "gradio"),
            "HF_HUB_OFFLINE": "1",  # the bundled models are local; never wait on a network
        }
        if models:
            env["CHARGEN_MODELS"] = models
        if engine is not None:
            env["CHARGEN_BATCHING"] = "1" if engine == "on" else "0"
        log_path = Path(scratch) / "app.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            url = f"http://127.0.0.1:{port}/"
            try:
                try:
                    ready = wait_for_http_200(url, startup_timeout, process)
                    wait_for_models(url, startup_timeout, process)  # the users measure serving, not loading
                except (RuntimeError, TimeoutError) as exc:
                    raise RuntimeError(f"{exc}\n--- app log ---\n{log_path.read_text()[-4000:]}") from None
                yield url, ready, process.pid
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _is_queue_full(exc: BaseException) -> bool:
    return "queue is full" in str(exc).lower()


def user_prompt(index: int, distinct: bool = False) -> str:
    """User ``index``'s prompt: one of :data:`PROMPTS` in turn (a server primes each once and reuses
    it), or with ``distinct`` that prompt followed by the user's own line, so every user's prompt
    is new to the server and primed on its own (what visitors typing their own prompts cost)."""
    prompt = PROMPTS[index % len(PROMPTS)]
    if not distinct:
        return prompt
    # The index in letters (a, b, ..., z, ba, ...): the bundled Shakespeare model knows no digits.
    tag, rest = "", index
    while True:
        tag, rest = "abcdefghijklmnopqrstuvwxyz"[rest % 26] + tag, rest // 26
        if rest == 0:
            return f"{prompt}\nLine {tag} of the play."


def run_users(
    url: str,
    users: int,
    chars: int,
    request_timeout: float = 120.0,
    server_pid: int | None = None,
    distinct_prompts: bool = False,
) -> Report:
    """``users`` gradio_client users, connected first, then all asking at the same instant (prompts
    as :func:`user_prompt` gives them). With ``server_pid`` (a process on this machine) the report
    also says where the server's CPU went."""
    from gradio_client import Client

    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, got {users}")
    url = check_local(url)
    # ssl_verify=False: the URL is plain http on 127.0.0.1, so nothing is verified either way, but
    # with it on, gradio_client builds two SSL contexts per request (~80 ms of CPU), which on a
    # 2-core machine is taken from the server being measured.
    # One request first, not counted: the server's first event pays one-time costs (gradio imports
    # matplotlib on it, ~1 s) that a burst on a running server does not.
    Client(url, verbose=False, ssl_verify=False, httpx_kwargs={"timeout": request_timeout}).predict(
        PROMPTS[0], 0.8, 10, 0, 1.0, "0", api_name="/generate"
    )
    with ThreadPoolExecutor(max_workers=min(users, 16)) as pool:
        # httpx_kwargs: gradio_client's own HTTP calls (joining the queue) time out after httpx's
        # default 5 s, which under a burst on a busy machine fails requests a browser would still
        # have waited for; the request's own deadline is --request-timeout.
        clients = list(
            pool.map(
                lambda _: Client(url, verbose=False, ssl_verify=False, httpx_kwargs={"timeout": request_timeout}),
                range(users),
            )
        )
    started_at = [0.0, 0.0]  # wall clock, this process's CPU time
    server_before: list[tuple[float, dict]] = []
    poll_s = max(POLL_S, users / POLLS_PER_S)

    def start_clocks() -> None:
        if server_pid is not None:
            server_before.append((process_cpu(server_pid), thread_cpu(server_pid)))
        started_at[:] = [time.monotonic(), time.process_time()]

    # Released together; the clocks start as the last one arrives.
    start_line = threading.Barrier(users, action=start_clocks)

    def user(index: int) -> Outcome:
        client = clients[index]
        prompt = user_prompt(index, distinct_prompts)
        temperature = TEMPERATURES[index % len(TEMPERATURES)]
        start_line.wait()
        outcome = Outcome(index, "error")
        try:
            job = client.submit(prompt, temperature, chars, 0, 1.0, str(index), api_name="/generate")
            deadline = time.monotonic() + request_timeout
            # Polled, not iterated, until the first update: a Job's iterator spins every millisecond,
            # and a hundred of those would take CPU from the server they are measuring. After it,
            # the user just waits on the job's result (a future: no CPU while it waits).
            while not job.done() and outcome.first_update is None:
                if job.outputs():
                    outcome.first_update = time.monotonic() - started_at[0]
                    break
                if time.monotonic() > deadline:
                    job.cancel()
                    raise TimeoutError(f"no complete result within {request_timeout:.0f} s")
                time.sleep(poll_s)
            try:
                greedy, sampled = job.result(timeout=max(0.0, deadline - time.monotonic()))[:2]
            except FutureTimeout:
                job.cancel()
                raise TimeoutError(f"no complete result within {request_timeout:.0f} s") from None
            outcome.done = time.monotonic() - started_at[0]
            if outcome.first_update is None:  # finished between two polls
                outcome.first_update = outcome.done
            if len(greedy) != chars or len(sampled) != chars:
                raise RuntimeError(f"expected {chars} characters each, got {len(greedy)} and {len(sampled)}")
            outcome.status = "served"
        except Exception as exc:  # every failure is counted and reported, none stops the run
            outcome.status = "rejected" if _is_queue_full(exc) else "error"
            outcome.done = time.monotonic() - started_at[0]
            outcome.detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        return outcome

    with ThreadPoolExecutor(max_workers=users) as pool:
        outcomes = list(pool.map(user, range(users)))
    client_cpu = time.process_time() - started_at[1]
    wall = max(o.done or 0.0 for o in outcomes)
    report = summarize(outcomes, users, chars, wall, client_cpu)
    report.prompts = "one per user" if distinct_prompts else f"{len(PROMPTS)} shared"
    if server_pid is not None and server_before:
        after = (process_cpu(server_pid), thread_cpu(server_pid))
        report.server_cpu_s, report.server_cpu_by_thread = server_cpu(server_pid, server_before[0], after)
    for client in clients:
        client.close()
    return report


def wait_until_quiet(pid: int, timeout: float = 60.0, window: float = 0.5, busy: float = 0.05) -> float:
    """Wait until process ``pid`` uses less than ``busy`` CPU seconds in ``window`` seconds (an app
    answers HTTP 200 before its warm-up ends: a burst measured then would count start-up work);
    returns the seconds waited, at most ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = process_cpu(pid)
        time.sleep(window)
        if process_cpu(pid) - before < busy:
            break
    return time.monotonic() - started


class RestError(RuntimeError):
    """A REST call the server answered with an error (``queue_full``: it was turned away)."""

    def __init__(self, message: str, queue_full: bool = False):
        super().__init__(message)
        self.queue_full = queue_full


def fetch_config(url: str, timeout: float) -> int:
    """``GET /config`` as a browser opening the page does, accepting a compressed answer (gzip; a
    browser also accepts brotli); returns the size of the config in bytes, uncompressed."""
    request = urllib.request.Request(url + "config", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    json.loads(body)  # a whole config, or an error here
    return len(body)


def rest_generate(url: str, inputs: list, timeout: float, on_update: Callable[[], None] | None = None) -> list:
    """``/generate`` over gradio's REST + SSE protocol with plain urllib (what a light client or a
    page costs, not gradio_client's polling): ``POST /gradio_api/call/generate`` with every input,
    then read ``GET /gradio_api/call/generate/{event_id}``'s events until ``complete``. Calls
    ``on_update`` at each streamed ``generating`` event; returns the complete outputs."""
    body = json.dumps({"data": inputs}).encode()
    post = urllib.request.Request(
        url + "gradio_api/call/generate", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(post, timeout=timeout) as response:
            event_id = json.loads(response.read())["event_id"]
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        raise RestError(f"HTTP {exc.code}: {detail}", queue_full=exc.code == 503) from None
    event = ""
    with urllib.request.urlopen(f"{url}gradio_api/call/generate/{event_id}", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                if event == "complete":
                    return json.loads(line[len("data: ") :])
                if event == "error":
                    detail = line[len("data: ") :][:200]
                    raise RestError(f"the server answered an error: {detail}", "queue is full" in detail.lower())
                if event == "generating" and on_update is not None:
                    on_update()
    raise RestError("the event stream ended without a complete result")


def _burst(
    users: int, work: Callable[[int], Outcome], server_pid: int | None, clocks: dict | None = None
) -> tuple[list[Outcome], dict]:
    """Run ``work(index)`` for every user at the same instant (a barrier); returns the outcomes and
    ``clocks`` (filled in: ``started``, the monotonic time at the barrier, which ``work`` may read;
    ``client_cpu``, this process's CPU seconds; ``server_before`` / ``server_after`` readings)."""
    clocks = {} if clocks is None else clocks

    def start_clocks() -> None:
        if server_pid is not None:
            clocks["server_before"] = (process_cpu(server_pid), thread_cpu(server_pid))
        clocks["started"], clocks["client_started"] = time.monotonic(), time.process_time()

    start_line = threading.Barrier(users, action=start_clocks)

    def user(index: int) -> Outcome:
        start_line.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=users) as pool:
        outcomes = list(pool.map(user, range(users)))
    clocks["client_cpu"] = time.process_time() - clocks["client_started"]
    if server_pid is not None:
        clocks["server_after"] = (process_cpu(server_pid), thread_cpu(server_pid))
    return outcomes, clocks


def arrive_users(
    url: str,
    users: int,
    chars: int,
    request_timeout: float = 120.0,
    server_pid: int | None = None,
    distinct_prompts: bool = False,
) -> Report:
    """``users`` visitors arriving at the same instant: each fetches the page's ``/config``, then asks
    for a generation over REST + SSE (:func:`rest_generate`) with its prompt (:func:`user_prompt`).
    Latencies run from the shared start to the complete result, the page's config included.

    With ``server_pid``, the same run also measures ``users`` fetches of ``/config`` alone first (at
    once, as the visitors do), so the report splits the server's CPU per visitor
    (``cpu_per_visitor_ms``) into the config, priming (the engine's ``*-prime`` threads), model steps
    (``*-step``) and the rest (queue, HTTP, streamed updates: what is left of the burst's total).
    """
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, got {users}")
    url = check_local(url)
    # One visitor first, not counted: the server's first event pays one-time costs (see run_users).
    fetch_config(url, request_timeout)
    rest_generate(url, [PROMPTS[0], 0.8, 10, 0, 1.0, "0", None], request_timeout)

    config_cpu = None
    if server_pid is not None:
        wait_until_quiet(server_pid)

        def config_only(index: int) -> Outcome:
            try:
                fetch_config(url, request_timeout)
                return Outcome(index, "served")
            except Exception as exc:
                return Outcome(index, "error", detail=f"{type(exc).__name__}: {str(exc)[:200]}")

        _, clocks = _burst(users, config_only, server_pid)
        config_cpu = clocks["server_after"][0] - clocks["server_before"][0]

    clocks: dict = {}

    def visitor(index: int) -> Outcome:
        t0 = clocks["started"]
        outcome = Outcome(index, "error")
        prompt = user_prompt(index, distinct_prompts)
        temperature = TEMPERATURES[index % len(TEMPERATURES)]

        def updated() -> None:
            if outcome.first_update is None:
                outcome.first_update = time.monotonic() - t0

        try:
            fetch_config(url, request_timeout)
            greedy, sampled = rest_generate(
                url, [prompt, temperature, chars, 0, 1.0, str(index), None], request_timeout, updated
            )[:2]
            outcome.done = time.monotonic() - t0
            if outcome.first_update is None:  # one complete result, nothing streamed before it
                outcome.first_update = outcome.done
            if len(greedy) != chars or len(sampled) != chars:
                raise RuntimeError(f"expected {chars} characters each, got {len(greedy)} and {len(sampled)}")
            outcome.status = "served"
        except Exception as exc:  # every failure is counted and reported, none stops the run
            queue_full = getattr(exc, "queue_full", False) or _is_queue_full(exc)
            outcome.status = "rejected" if queue_full else "error"
            outcome.done = time.monotonic() - t0
            outcome.detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        return outcome

    outcomes, _ = _burst(users, visitor, server_pid, clocks)
    wall = max(o.done or 0.0 for o in outcomes)
    report = summarize(outcomes, users, chars, wall, clocks["client_cpu"])
    report.prompts = "one per user" if distinct_prompts else f"{len(PROMPTS)} shared"
    report.mode = "arrive (config + REST/SSE generate)"
    if server_pid is not None:
        report.server_cpu_s, report.server_cpu_by_thread = server_cpu(
            server_pid, clocks["server_before"], clocks["server_after"]
        )
        report.cpu_per_visitor_ms = cpu_split(report.server_cpu_s, report.server_cpu_by_thread, config_cpu, users)
    return report


def cpu_split(total: float, by_thread: dict[str, float], config: float | None, users: int) -> dict[str, float]:
    """The server's CPU per visitor in milliseconds: ``config`` (the burst of ``/config`` alone),
    ``priming`` and ``steps`` (the engine's threads), ``rest`` (the burst's total less those three)
    and ``total``."""
    priming = sum(s for label, s in by_thread.items() if label == THREAD_GROUPS["-prime"])
    steps = sum(s for label, s in by_thread.items() if label == THREAD_GROUPS["-step"])
    config = config or 0.0
    per = {
        "config": config,
        "priming": priming,
        "steps": steps,
        "rest": total - config - priming - steps,
        "total": total,
    }
    return {part: round(1000 * seconds / users, 1) for part, seconds in per.items()}


def summarize(outcomes: list[Outcome], users: int, chars: int, wall: float, client_cpu: float = 0.0) -> Report:
    """Counts and percentiles over ``outcomes``."""
    served = [o for o in outcomes if o.status == "served"]
    latencies = [o.done for o in served if o.done is not None]
    firsts = [o.first_update for o in served if o.first_update is not None]
    rejections = [o.done for o in outcomes if o.status == "rejected" and o.done is not None]
    wall = max(wall, 1e-9)
    return Report(
        users=users,
        chars=chars,
        served=len(served),
        errors=sum(o.status == "error" for o in outcomes),
        rejected=sum(o.status == "rejected" for o in outcomes),
        wall_s=round(wall, 3),
        requests_per_s=round(len(served) / wall, 2),
        chars_per_s=round(len(served) * 2 * chars / wall),  # greedy + sampled
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        latency_max=max(latencies) if latencies else None,
        first_update_p50=percentile(firsts, 50),
        first_update_p95=percentile(firsts, 95),
        rejection_max_s=max(rejections) if rejections else None,
        client_cpu_s=round(client_cpu, 2),
        error_details=sorted({o.detail for o in outcomes if o.status == "error"})[:10],
    )


def print_report(reports: list[tuple[Report, float | None]]) -> None:
    """The figures, one per line and one column per run (engine on / off), for a person."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    def row(label: str, show) -> None:
        print(f"{label:<24}" + "".join(f"{show(report, ready):<34}" for report, ready in reports))

    first = reports[0][0]
    print(f"{first.users} users at once x {first.chars} characters (greedy + sampled each)")
    if any(report.engine for report, _ in reports):
        row("batching engine", lambda r, _: r.engine or "?")
    row("users", lambda r, _: r.mode)
    row("prompts", lambda r, _: r.prompts or "-")
    row("app ready (HTTP 200)", lambda _, ready: "-" if ready is None else f"{ready:.1f} s after start")
    row("requests served", lambda r, _: f"{r.served} / {r.users}")
    row("errors", lambda r, _: str(r.errors))
    row(
        "queue rejections",
        lambda r, _: f"{r.rejected}" + (f" (answered <= {r.rejection_max_s:.2f} s)" if r.rejection_max_s else ""),
    )
    row("wall time", lambda r, _: f"{r.wall_s:.2f} s")
    row("throughput", lambda r, _: f"{r.requests_per_s:.2f} req/s, {r.chars_per_s:,} char/s")
    row("latency p50 / p95", lambda r, _: f"{seconds(r.latency_p50)} / {seconds(r.latency_p95)}")
    row("latency max", lambda r, _: seconds(r.latency_max))
    row("first update p50 / p95", lambda r, _: f"{seconds(r.first_update_p50)} / {seconds(r.first_update_p95)}")
    row("load generator CPU", lambda r, _: f"{r.client_cpu_s:.2f} s")
    row("server CPU", lambda r, _: "-" if r.server_cpu_s is None else f"{r.server_cpu_s:.2f} s")
    labels = list(dict.fromkeys(label for report, _ in reports for label in report.server_cpu_by_thread))
    for label in labels:
        print(f"  {label}")
        row("", lambda r, _, label=label: f"{r.server_cpu_by_thread.get(label, 0.0):.2f} s")
    parts = list(dict.fromkeys(part for report, _ in reports for part in report.cpu_per_visitor_ms))
    if parts:
        print("server CPU per visitor (config: the same number of /config fetches alone, in the same run)")
        for part in parts:
            row(f"  {part}", lambda r, _, part=part: f"{r.cpu_per_visitor_ms.get(part, 0.0):.1f} ms")
    row("goal (all, 0 err, p95<=5s)", lambda r, _: "met" if r.goal_met() else "NOT met")
    for report, _ in reports:
        for detail in report.error_details:
            print(f"  error ({report.engine or 'app'}): {detail}")
    print("CPU seconds are over the burst (from the barrier to the last answer); the load generator shares")
    print("the machine with the server, so pin both to the same cores (taskset) and say which.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help=f"concurrent users, 1..{MAX_USERS} (default 20)")
    parser.add_argument("--chars", type=int, default=300, help="characters each user asks for (default 300)")
    parser.add_argument("--url", help="an app already running on 127.0.0.1 (default: start python app.py)")
    parser.add_argument("--models", help="CHARGEN_MODELS for the started app (default: the bundled models)")
    parser.add_argument(
        "--engine",
        choices=["both", "on", "off"],
        default="both",
        help="start the app with the batching engine on, off, or both one after the other (default both)",
    )
    parser.add_argument(
        "--distinct-prompts",
        action="store_true",
        help="give every user a prompt of its own (each is primed on its own; default: 7 prompts shared)",
    )
    parser.add_argument(
        "--arrive",
        action="store_true",
        help="users arrive as visitors opening the page: each fetches /config, then generates over REST + SSE "
        "(plain urllib), and the server's CPU per visitor is split into config, priming, steps and the rest",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=ROOT,
        help="the checkout whose app.py to start (default: this one; another, e.g. main's, measures a baseline "
        "with this load generator)",
    )
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for HTTP 200")
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request at most")
    parser.add_argument("--json", action="store_true", help="print each run's report as one JSON object per line")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be between 1 and {MAX_USERS}")

    reports: list[tuple[Report, float | None]] = []
    users = arrive_users if args.arrive else run_users
    if args.url:
        url = check_local(args.url)
        reports.append((users(url, args.users, args.chars, args.request_timeout, None, args.distinct_prompts), None))
    else:
        for engine in ["on", "off"] if args.engine == "both" else [args.engine]:
            with running_app(args.startup_timeout, args.models, engine, args.app_dir.resolve()) as (url, ready, pid):
                report = users(url, args.users, args.chars, args.request_timeout, pid, args.distinct_prompts)
            report.engine = engine
            reports.append((report, ready))
    if args.json:
        for report, ready in reports:
            print(json.dumps({"ready_s": ready, **asdict(report)}))
    else:
        print_report(reports)
    return 0 if all(r.errors == 0 and r.served + r.rejected == r.users for r, _ in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
