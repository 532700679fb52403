"""The continuous-batching engine: every request's text is compare()'s for the same arguments,
however many requests share the batch and whenever they join or leave.

The oracle is :func:`chargen.inference.generate.compare` run alone, one request at a time.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from chargen.errors import ConfigError
from chargen.inference.batching import BatchingEngine, EngineFull, UpdatePacer, stream_updates, visitor_of
from chargen.inference.generate import compare
from chargen.inference.settings import SamplingSettings
from tests.helpers import tiny_model

# Different prompts, lengths, temperatures, seeds, top-k, top-p and repetition penalties, and
# the edge cases: an empty prompt, unknown characters, greedy (temperature 0), one character.
REQUESTS = [
    dict(prompt="abc", length=60, temperature=0.8, seed=1),
    dict(prompt="head", length=13, temperature=0.0, seed=2),
    dict(prompt="", length=45, temperature=1.3, seed=3, top_k=3),
    dict(prompt="ddd d\n", length=25, temperature=0.7, seed=4, top_p=0.8),
    dict(prompt="a b", length=33, temperature=1.0, seed=5, repetition_penalty=1.3),
    dict(prompt="xyz é", length=1, temperature=0.5, seed=6),
    dict(prompt="cab", length=40, temperature=1.0, seed=7, top_k=4, top_p=0.9),
    dict(prompt="fed", length=20, temperature=2.5, seed=8),
]


def _assert_same_as_compare(model, precision: str, request: dict, job) -> None:
    assert job.wait(timeout=60), f"{request} did not finish"
    got = job.snapshot()
    want = compare(model, precision=precision, **request)
    assert got.done and want.done
    assert (got.greedy, got.sampled) == (want.greedy, want.sampled), request
    assert got.sampled_probs == want.sampled_probs, request
    assert got.seed == want.seed and got.loop == want.loop, request
    assert got.prompt_used == want.prompt_used and got.dropped == want.dropped, request


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Served as the app serves: one intra-op thread (the identity is stated for that)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("precision", ["int8", "exact", "fp16"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_concurrent_requests_joining_at_different_steps_equal_compare_alone(cell: str, precision: str) -> None:
    model = tiny_model(cell=cell, hidden=32)
    engine = BatchingEngine(model, precision=precision)
    try:
        jobs = []
        # Two start together; each later one joins once the first has made a few more characters,
        # so requests join a batch that is mid-way (and some leave before others join).
        for i, request in enumerate(REQUESTS):
            jobs.append(engine.submit(**request))
            if i >= 1:
                assert jobs[0].wait(timeout=60, made=min(5 * i, REQUESTS[0]["length"]))
        for request, job in zip(REQUESTS, jobs, strict=True):
            _assert_same_as_compare(model, precision, request, job)
        # The library's settings object works as the keywords do.
        request = REQUESTS[2]
        settings = SamplingSettings(temperature=request["temperature"], top_k=request["top_k"], seed=request["seed"])
        job = engine.submit(request["prompt"], request["length"], settings=settings)
        _assert_same_as_compare(model, precision, request, job)
        assert engine.batched == (precision != "exact")
        assert engine.stats.max_rows >= 4, "requests must have shared the batch"
        assert engine.active == 0
    finally:
        engine.close()


def test_a_hidden_size_that_cannot_batch_exactly_steps_each_request_alone_and_still_equals_compare() -> None:
    model = tiny_model(hidden=12)  # not a multiple of 16: kernels' scalar tails would move with the batch
    engine = BatchingEngine(model, precision="int8")
    try:
        assert not engine.batched
        jobs = [engine.submit(**request) for request in REQUESTS[:4]]
        for request, job in zip(REQUESTS[:4], jobs, strict=True):
            _assert_same_as_compare(model, "int8", request, job)
    finally:
        engine.close()


def test_fp32_batches_and_finishes_but_is_only_rounding_close_to_compare() -> None:
    model = tiny_model(hidden=32)
    engine = BatchingEngine(model, precision="fp32")
    try:
        jobs = [engine.submit(**request) for request in REQUESTS]
        for request, job in zip(REQUESTS, jobs, strict=True):
            assert job.wait(timeout=60)
            got, want = job.snapshot(), compare(model, precision="fp32", **request)
            assert len(got.greedy) == len(got.sampled) == request["length"]
            if got.sampled == want.sampled:  # a near-tie can tip the other way; then the rest differs too
                assert got.sampled_probs == pytest.approx(want.sampled_probs, abs=1e-5)
    finally:
        engine.close()


def test_the_bundled_model_many_requests_at_once_equal_compare() -> None:
    from chargen.hub import load_model

    model = load_model("checkpoints/shakespeare")
    engine = BatchingEngine(model)  # auto: int8 here
    prompts = ["ROMEO:", "", "To be, or not to be", "Élan 🙂 and the night", "JULIET:\nO "]
    requests = [
        dict(prompt=prompts[i % len(prompts)], length=40 + 7 * i, temperature=[0.0, 0.5, 0.8, 1.5][i % 4], seed=i)
        for i in range(12)
    ]
    try:
        jobs = [engine.submit(**request) for request in requests]
        for request, job in zip(requests, jobs, strict=True):
            _assert_same_as_compare(model, "auto", request, job)
        # Five prompts for twelve requests: the later ones reused a primed state, and were still exact.
        assert engine.stats.requests == 12 and engine.stats.prime_hits >= 7
    finally:
        engine.close()


def test_a_burst_of_distinct_prompts_is_primed_together_and_each_text_equals_compare(monkeypatch) -> None:
    """A class arriving at once: every prompt new, all waiting when the priming thread wakes. They are
    primed in one StepNetwork.prime call, and each text is still compare()'s alone."""
    import threading

    from chargen.hub import load_model
    from chargen.inference import batching

    model = load_model("checkpoints/shakespeare")
    calls: list[int] = []
    all_submitted = threading.Event()
    real_step_network = batching.step_network

    class Recorded:  # the real network; its prime calls are recorded, and the first waits for the burst
        def __init__(self, network):
            self.network = network

        def __getattr__(self, name):  # resume and the rest: the real network's
            return getattr(self.network, name)

        def prime(self, prompts):
            calls.append(len(prompts))
            if len(calls) == 1:
                assert all_submitted.wait(60)
            return self.network.prime(prompts)

    monkeypatch.setattr(batching, "step_network", lambda *args: Recorded(real_step_network(*args)))
    names, lines = ("ROMEO", "JULIET", "HAMLET", "KING LEAR"), ("O", "What is", "")
    prompts = [f"{name}:\n{line}" for name in names for line in lines]
    prompts += [prompts[1], prompts[5]]  # two asked twice in the same burst: primed once each
    requests = [
        dict(prompt=prompt, length=30, temperature=[0.0, 0.7, 1.2][i % 3], seed=100 + i, top_k=[0, 5][i % 2])
        for i, prompt in enumerate(prompts)
    ]
    engine = BatchingEngine(model, precision="int8")
    try:
        jobs = [engine.submit(**request) for request in requests]
        all_submitted.set()
        for request, job in zip(requests, jobs, strict=True):
            _assert_same_as_compare(model, "int8", request, job)
        # The first wake took what had arrived by then; every other new prompt was primed in one call.
        assert sum(calls) == 12 and len(calls) <= 2 and max(calls) >= 11, calls
        assert engine.stats.requests == 14 and engine.stats.prime_hits == 2
    finally:
        engine.close()


def test_a_cancelled_request_leaves_at_once_and_the_others_are_unchanged() -> None:
    model = tiny_model(hidden=32)
    engine = BatchingEngine(model, precision="int8")
    try:
        long = engine.submit("abc", 5000, temperature=0.9, seed=11)
        others = [engine.submit(**request) for request in REQUESTS[:3]]
        assert long.wait(timeout=60, made=20)
        long.cancel()
        assert long.wait(timeout=60), "a cancelled request must end"
        partial = long.snapshot()
        assert not partial.done and 20 <= len(partial.greedy) < 5000
        assert partial.sampled == compare(model, "abc", 5000, temperature=0.9, seed=11).sampled[: len(partial.sampled)]
        for request, job in zip(REQUESTS[:3], others, strict=True):
            _assert_same_as_compare(model, "int8", request, job)
        assert engine.active == 0
    finally:
        engine.close()


def test_a_full_engine_refuses_and_one_visitor_cannot_take_it_all() -> None:
    model = tiny_model(hidden=32)
    engine = BatchingEngine(model, precision="int8", max_active=3, max_per_visitor=2)
    try:
        first = engine.submit("a", 5000, visitor="alice")
        engine.submit("a", 5000, visitor="alice")
        with pytest.raises(EngineFull, match="one visitor"):
            engine.submit("a", 10, visitor="alice")
        bob = engine.submit("b", 5000, visitor="bob")
        with pytest.raises(EngineFull, match="Queue is full"):
            engine.submit("c", 10, visitor="carol")
        first.cancel()
        assert first.wait(timeout=60)
        assert engine.active == 2
        again = engine.submit("a", 5, seed=3, visitor="alice")  # a freed slot is taken again
        _assert_same_as_compare(model, "int8", dict(prompt="a", length=5, seed=3), again)
        bob.cancel()
    finally:
        engine.close()


def test_bad_arguments_are_refused_at_submit_as_compare_refuses_them() -> None:
    model = tiny_model(hidden=32)
    engine = BatchingEngine(model, precision="int8")
    try:
        for bad in (dict(length=0), dict(temperature=-1.0), dict(top_k=-2), dict(top_p=1.5), dict(seed=-3)):
            arguments = {"prompt": "abc", "length": 10, **bad}
            with pytest.raises(ConfigError) as engine_error:
                engine.submit(**arguments)
            with pytest.raises(ConfigError) as compare_error:
                compare(model, **arguments)
            assert str(engine_error.value) == str(compare_error.value)
        assert engine.active == 0
    finally:
        engine.close()
    with pytest.raises(ConfigError, match="max_active"):
        BatchingEngine(model, max_active=0)
    engine = BatchingEngine(model, precision="int8")
    try:
        with pytest.raises(ConfigError, match="not 'exact'"):
            engine.submit("abc", 5, settings=SamplingSettings(precision="exact"))
        with pytest.raises(ConfigError, match="not both"):
            engine.submit("abc", 5, seed=1, settings=SamplingSettings())
    finally:
        engine.close()
    with pytest.raises(ConfigError, match="precision"):
        BatchingEngine(model, precision="int4")


def test_close_ends_what_is_still_held() -> None:
    engine = BatchingEngine(tiny_model(hidden=32), precision="int8")
    job = engine.submit("abc", 5000)
    engine.close()
    assert job.done
    with pytest.raises(EngineFull, match="shut down"):
        job.snapshot()
    with pytest.raises(EngineFull, match="shut down"):
        engine.submit("abc", 5)


@pytest.mark.parametrize(
    "address, forwarded_for, visitor",
    [
        ("127.0.0.1", None, "127.0.0.1"),  # no proxy: the address
        ("151.101.1.69", None, "151.101.1.69"),
        (None, None, None),
        ("10.16.3.80", "93.184.216.34", "93.184.216.34"),  # Spaces: an internal proxy forwards for the visitor
        ("10.16.3.80", "6.6.6.6, 93.184.216.34", "93.184.216.34"),  # an entry the client wrote itself is not believed
        ("10.16.3.80", "93.184.216.34, 10.0.0.2", "93.184.216.34"),  # proxies' own hops are skipped
        ("10.16.3.80", " 93.184.216.34 ,, ", "93.184.216.34"),
        ("151.101.1.69", "93.184.216.34", "151.101.1.69"),  # a public client's own header is not believed
        ("10.0.0.1", "10.0.0.2, 127.0.0.1", "10.0.0.1"),  # nothing public forwarded: the address
        ("fd00::1", "2606:4700::1111", "2606:4700::1111"),
    ],
)
def test_the_visitor_is_whom_a_private_proxy_forwards_for_else_the_address(
    address: str | None, forwarded_for: str | None, visitor: str | None
) -> None:
    assert visitor_of(address, forwarded_for) == visitor


def test_the_pacer_shares_one_update_budget_among_all_streams() -> None:
    pacer = UpdatePacer(max_per_second=20, min_interval=0.1)
    assert pacer.interval() == 0.1
    for _ in range(100):
        pacer.opened()
    assert pacer.interval() == pytest.approx(5.0)  # 100 streams x 1/5 s = 20 updates/s in all
    for _ in range(100):
        pacer.closed()
    assert pacer.streams == 0
    with pytest.raises(ConfigError):
        UpdatePacer(max_per_second=0)


def test_streamed_updates_grow_to_compares_result_and_closing_the_stream_cancels() -> None:
    model = tiny_model(hidden=32)
    engine = BatchingEngine(model, precision="int8")
    pacer = UpdatePacer(max_per_second=1000, min_interval=0.001)

    async def collect(request: dict) -> list:
        return [update async for update in stream_updates(engine.submit(**request), pacer)]

    async def leave_early() -> object:
        job = engine.submit("abc", 5000, seed=1)
        stream = stream_updates(job, pacer)
        first = await stream.__anext__()
        assert not first.done and len(first.greedy) >= 1
        await stream.aclose()  # what gradio does when a visitor leaves or presses Stop
        return job

    try:
        updates = asyncio.run(collect(REQUESTS[0]))
        final = compare(model, precision="int8", **REQUESTS[0])
        assert updates[-1] == final
        assert all(not u.done for u in updates[:-1])
        for update in updates:
            assert final.greedy.startswith(update.greedy) and final.sampled.startswith(update.sampled)
            assert update.sampled_probs == final.sampled_probs[: len(update.sampled)]
        job = asyncio.run(leave_early())
        assert job.wait(timeout=60) and job.cancelled
        assert pacer.streams == 0
    finally:
        engine.close()


SLOW_MACHINE = {"timeout": 60}
"""gradio_client's HTTP calls wait this long (httpx's default, 5 s, fails on a busy shared machine)."""


@pytest.fixture(scope="module")
def batched_app(tmp_path_factory: pytest.TempPathFactory):
    """app.py's page over the bundled models with batching on (as ``python app.py`` serves it), launched."""
    import os

    from chargen.inference.batching import ServingSettings

    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ.pop("CHARGEN_MODELS", None)
    from chargen.app import demo as module
    from tests.helpers import launch_in_process

    offered, notices = module.load_app_models(None)
    demo = module.build_demo(offered, notices, batching=ServingSettings(max_active=16, max_per_visitor=8))
    launch_in_process(demo)
    try:
        yield module, demo, {m.name: m.model for m in offered}
    finally:
        demo.close()


@pytest.mark.slow
def test_the_app_serves_generate_from_the_engines_with_compares_texts(batched_app) -> None:
    from gradio_client import Client

    module, demo, models = batched_app
    generate_fn = [fn for fn in demo.fns.values() if fn.api_name == "generate"][0]
    assert generate_fn.concurrency_limit == 16 and demo._queue.max_size >= 16
    name = next(iter(models))
    asks = [("ROMEO:", 0.8, 120, "7"), ("", 0.0, 40, "1"), ("To be, or", 1.2, 200, "99"), ("ROMEO:", 0.5, 60, "3")]
    clients = [Client(demo.local_url, verbose=False, ssl_verify=False, httpx_kwargs=SLOW_MACHINE) for _ in asks]
    jobs = [c.submit(p, t, n, 0, 1.0, s, api_name="/generate") for c, (p, t, n, s) in zip(clients, asks, strict=True)]
    for job, (prompt, temperature, length, seed) in zip(jobs, asks, strict=True):
        greedy, sampled, seed_used = job.result(timeout=120)[:3]
        want = compare(models[name], prompt, length, temperature=temperature, seed=int(seed))
        assert (greedy, sampled, seed_used) == (want.greedy, want.sampled, seed)


@pytest.mark.slow
def test_the_app_refuses_a_visitor_past_their_share_and_keeps_serving(batched_app) -> None:
    from gradio_client import Client

    module, demo, models = batched_app
    # The event runs tool_named(...)'s wrapper of the bound handler (functools.wraps keeps it as __wrapped__).
    handlers = [fn.fn.__wrapped__.__self__ for fn in demo.fns.values() if fn.api_name == "generate"][0]
    name = next(iter(models))
    # This address already holds its 8 (held straight in the engine, long enough to outlast the call).
    held = [handlers.engines[name].submit("ROMEO:", 5000, visitor="127.0.0.1") for _ in range(8)]
    client = Client(demo.local_url, verbose=False, ssl_verify=False, httpx_kwargs=SLOW_MACHINE)
    try:
        with pytest.raises(Exception, match="one visitor"):
            client.predict("ROMEO:", 0.8, 20, 0, 1.0, "", api_name="/generate")
        # Through a proxy on this machine, another visitor is told apart by whom it forwards for.
        forwarded = Client(
            demo.local_url,
            verbose=False,
            ssl_verify=False,
            httpx_kwargs=SLOW_MACHINE,
            headers={"X-Forwarded-For": "93.184.216.34"},
        )
        assert len(forwarded.predict("ROMEO:", 0.8, 20, 0, 1.0, "5", api_name="/generate")[0]) == 20
    finally:
        for job in held:
            job.cancel()
    for job in held:
        assert job.wait(timeout=60)
    greedy, sampled = client.predict("ROMEO:", 0.8, 20, 0, 1.0, "5", api_name="/generate")[:2]
    assert len(greedy) == len(sampled) == 20
