"""The in-app training library (``chargen.app.session``): input checks, a streamed run that Stop ends with its
best model and that puts torch's thread count back, the one-at-a-time queue, session models (isolation, zip
round trip, limits, removal), their model card and the Hub push."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest
import torch

import chargen
from chargen.app.session.checks import (
    MAX_BYTES,
    MIN_CHARS,
    TrainRequest,
    check_seconds,
    check_text,
    parse_train_request,
    read_upload,
)
from chargen.app.session.history import RunHistory
from chargen.app.session.store import SessionStore, push_session_model
from chargen.app.session.stream import train_stream
from chargen.app.session.training_queue import TrainingQueue, queued_stream
from chargen.app.session.zero_gpu import gpu_call_duration, zero_gpu_cost, zero_gpu_max_seconds, zero_gpu_refusal
from chargen.errors import ChargenError, CheckpointError, ConfigError, CorpusError
from tests.helpers import make_text, tiny_model
from tests.hub_server import TOKEN, StandInHub

TEXT = make_text(words=3000)  # ~11.7k characters


def request_for(cell: str, seconds: float = 60) -> TrainRequest:
    """A checked request to train ``cell`` on TEXT for ``seconds``, as the tab makes one."""
    return parse_train_request(TEXT, cell, seconds, "small", max_seconds=seconds)


def test_the_fixture_text_is_long_enough() -> None:
    assert len(TEXT) >= MIN_CHARS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("short text", "at least 10,000"),
        (b"\x89PNG\r\n\x1a\n\x00\x00" * 2000, "binary"),
        ("café ".encode("latin-1") * 3000, "not UTF-8"),
        ("a" * 20_000, "single character"),
        ("".join(chr(0x4E00 + i) for i in range(1001)) * 10, "1,001 distinct characters"),
        ("x" * (MAX_BYTES + 1), "5.0 MB"),
        (b"ab" * (MAX_BYTES // 2 + 1), "5.0 MB"),
        ("ab\x00" * 5000, "NUL"),
        (12345, "must be a string"),
    ],
)
def test_bad_texts_get_a_one_line_error(data: object, message: str) -> None:
    with pytest.raises(CorpusError, match=message) as info:
        check_text(data)
    assert "\n" not in str(info.value)


def test_good_text_as_str_or_utf8_bytes_with_a_byte_order_mark() -> None:
    assert check_text(TEXT) == TEXT
    assert check_text(("\ufeff" + TEXT).encode("utf-8")) == TEXT


def test_an_upload_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_BYTES + 10)  # sparse: costs no disk
    with pytest.raises(CorpusError, match="the most accepted is 5.0 MB"):
        read_upload(big)
    good = tmp_path / "good.txt"
    good.write_text(TEXT, encoding="utf-8")
    assert read_upload(good) == TEXT


@pytest.mark.parametrize(
    ("cell", "seconds", "size", "message"),
    [
        ("transformer", 30, "small", "cell must be one of rnn, lstm, gru"),
        ("gru", 5, "small", "from 15 to 300"),
        ("gru", 301, "small", "from 15 to 300"),
        ("gru", float("nan"), "small", "from 15 to 300"),
        ("gru", "soon", "small", "from 15 to 300"),
        ("gru", True, "small", "from 15 to 300"),
        ("gru", 30, "huge", "size must be one of small, medium"),
    ],
)
def test_bad_settings_are_refused(cell: object, seconds: object, size: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_train_request(TEXT, cell, seconds, size, max_seconds=300)


def test_settings_are_normalised() -> None:
    request = parse_train_request(TEXT, " LSTM ", "45", None, max_seconds=300)
    assert (request.cell, request.seconds, request.size) == ("lstm", 45.0, "small")
    assert check_seconds(300, 300) == 300


def test_stop_ends_a_run_with_its_best_model_and_samples_as_it_goes() -> None:
    stop = threading.Event()
    history = RunHistory()
    updates = []
    for update in train_stream(request_for("gru"), stop=stop, sample_every=0.0):
        updates.append(update)
        history.apply(update)
        if len(history.samples) >= 2:
            stop.set()  # as the Stop button does, after a sample of the trained weights
    done = updates[-1]
    assert done["kind"] == "done" and done["stopped_early"]
    assert all(u["kind"] == "training" for u in updates[:-1])
    # Samples as it learns: the untrained weights first, then the best weights at an evaluation.
    assert history.samples[0].startswith("step 0: ")
    assert history.samples[1].startswith(f"step {history.val[0][0]}: ")
    # The model kept is the best one seen, whose loss is the run's reported figure.
    assert done["val_loss"] == pytest.approx(min(v for _, v in history.val))
    model = chargen.CharRNN(chargen.ModelConfig.from_dict(done["config"]))
    model.load_state_dict(done["weights"])
    assert all(t.device.type == "cpu" for t in done["weights"].values())
    assert set(model.vocab.chars) == set(TEXT)
    text = chargen.generate(model.eval(), "\n", 200, seed=1).text
    assert set(text) <= set(TEXT)


@pytest.fixture
def threads_before_a_run():
    """torch's thread count set to 3 for the test (unlike a run's 1, so a count left behind shows), then put back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(threads)


def test_a_stopped_run_puts_the_torch_thread_count_back(threads_before_a_run: int) -> None:
    stop = threading.Event()
    during = []
    updates = []
    for update in train_stream(request_for("rnn"), stop=stop, sample_every=0.0):
        during.append(torch.get_num_threads())
        updates.append(update)
        stop.set()
    assert updates[-1]["kind"] == "done" and updates[-1]["stopped_early"]
    assert set(during) == {1}  # the run trained with its own count...
    assert torch.get_num_threads() == threads_before_a_run  # ...and gave the process its count back


def test_a_closed_stream_puts_the_torch_thread_count_back(threads_before_a_run: int) -> None:
    stream = train_stream(request_for("gru"), threads=2)
    next(stream)
    assert torch.get_num_threads() == 2
    stream.close()
    assert torch.get_num_threads() == threads_before_a_run


def test_a_failed_run_puts_the_torch_thread_count_back(threads_before_a_run: int) -> None:
    # Unchecked on purpose: train() itself refuses a word list smaller than the text's characters.
    bad = TrainRequest(TEXT, "gru", "small", 30.0, unit="word", vocab_size=3)
    with pytest.raises(ConfigError, match="vocab-size must be at least the corpus's 30 distinct characters"):
        list(train_stream(bad))
    assert torch.get_num_threads() == threads_before_a_run


def test_threads_none_leaves_the_count_alone(threads_before_a_run: int) -> None:
    stream = train_stream(request_for("rnn"), threads=None)
    next(stream)
    assert torch.get_num_threads() == threads_before_a_run
    stream.close()
    assert torch.get_num_threads() == threads_before_a_run


def test_the_training_thread_runs_at_a_lower_priority_than_the_server() -> None:
    import os

    stream = train_stream(request_for("rnn"))
    next(stream)
    trainer = next(t for t in threading.enumerate() if t.name == "chargen-session-training")
    assert os.getpriority(os.PRIO_PROCESS, trainer.native_id) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    stream.close()


def test_closing_the_stream_stops_the_training_thread() -> None:
    stream = train_stream(request_for("rnn"))
    next(stream)
    stream.close()
    assert not any(t.name == "chargen-session-training" and t.is_alive() for t in threading.enumerate())


def test_one_training_at_a_time_the_next_sees_its_place() -> None:
    line = TrainingQueue()
    first_started = threading.Event()
    release_first = threading.Event()

    def first_run():
        first_started.set()
        release_first.wait(10)
        yield {"kind": "done", "who": "first"}

    first = queued_stream(line, first_run)
    second = queued_stream(line, lambda: iter([{"kind": "done", "who": "second"}]), poll=0.05)
    results: list[dict] = []
    worker = threading.Thread(target=lambda: results.extend(first))
    worker.start()
    first_started.wait(10)
    assert next(second) == {"kind": "queued", "place": 1}
    release_first.set()
    worker.join(10)
    rest = list(second)
    assert results == [{"kind": "done", "who": "first"}]
    assert rest[-1] == {"kind": "done", "who": "second"}
    assert len(line) == 0


def test_session_models_are_invisible_to_other_sessions(tmp_path: Path) -> None:
    store = SessionStore(root=tmp_path)
    kept = store.add("alice", tiny_model(seed=1), "gru small")
    assert kept.name.startswith("session:")
    assert store.get("alice", kept.name).model is kept.model
    for session in ("bob", None, ""):
        with pytest.raises(ConfigError, match="not one of this session's models"):
            store.get(session, kept.name)
    assert store.names("bob") == []
    store.close()
    assert not store.root.exists()


def test_zip_round_trip_through_load_model_and_upload(tmp_path: Path) -> None:
    store = SessionStore(root=tmp_path)
    model = tiny_model(seed=2)
    history = RunHistory(train=[[5, 2.5], [10, 2.1]], val=[[10, 2.2]], samples=["step 10: abc"], step=10)
    kept = store.add("alice", model, "lstm small", history)
    archive = store.zip("alice", kept.name)
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["README.md", "config.json", "loss.png", "model.safetensors"]
        card = zf.read("README.md").decode()
        zf.extractall(tmp_path / "unzipped")
    assert "2.200 nats/char" in card and "![loss curve](loss.png)" in card
    loaded = chargen.load_model(tmp_path / "unzipped")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    uploaded = store.load_zip("bob", archive)
    assert all(torch.equal(uploaded.model.state_dict()[k], v) for k, v in model.state_dict().items())
    assert store.names("bob") == [uploaded.name]
    store.close()


def test_bad_zips_are_refused_and_write_nothing_outside(tmp_path: Path) -> None:
    store = SessionStore(root=tmp_path / "store")
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a zip file"):
        store.load_zip("s", not_zip)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("notes.txt", "hi")
    with pytest.raises(CheckpointError, match="holds no config.json or model.safetensors"):
        store.load_zip("s", empty)
    # Names with folders (even ../) are read by their base name into the session's folder only.
    chargen.save_checkpoint(tiny_model(seed=3), tmp_path / "ckpt")
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as zf:
        zf.write(tmp_path / "ckpt" / "config.json", "../../config.json")
        zf.write(tmp_path / "ckpt" / "model.safetensors", "../../model.safetensors")
    store.load_zip("s", sneaky)
    assert not (tmp_path / "config.json").exists() and not (tmp_path.parent / "config.json").exists()
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.write(tmp_path / "ckpt" / "config.json", "config.json")
        zf.writestr("model.safetensors", b"not weights")
    with pytest.raises(ChargenError, match="safetensors"):
        store.load_zip("s", broken)
    store.close()


def test_a_session_keeps_a_bounded_number_of_models_and_ends(tmp_path: Path) -> None:
    store = SessionStore(root=tmp_path, max_models=2, ttl_s=60)
    names = [store.add("s", tiny_model(seed=i), f"m{i}").name for i in range(3)]
    assert store.names("s") == names[1:]
    assert len(list(store.root.glob("s-*/*/model.safetensors"))) == 2
    assert 0 < store.disk_bytes("s") < 1_000_000
    store.end("s")
    assert store.names("s") == [] and not list(store.root.iterdir())
    store.add("t", tiny_model(), "m")
    assert store.sweep(now=1e12) == ["t"]
    assert not list(store.root.iterdir())
    # A byte budget: a session over it keeps its newest models only (always at least one).
    one = sum(p.numel() * 4 for p in tiny_model().parameters())
    small = SessionStore(root=tmp_path / "b", max_bytes=2 * one)
    names = [small.add("s", tiny_model(seed=i), f"m{i}").name for i in range(3)]
    assert small.names("s") == names[1:]
    lone = SessionStore(root=tmp_path / "c", max_bytes=1)
    kept = lone.add("x", tiny_model(), "big")
    assert lone.names("x") == [kept.name]
    small.close()
    lone.close()
    assert not list(store.root.iterdir())
    store.close()


def test_the_sweeper_removes_idle_sessions_by_itself(tmp_path: Path) -> None:
    store = SessionStore(root=tmp_path, ttl_s=0.2)
    store.add("idle", tiny_model(), "m")
    sweeper = store.start_sweeper(interval_s=0.05)
    for _ in range(200):
        if not store.names("idle") and not list(store.root.iterdir()):
            break
        threading.Event().wait(0.05)
    assert store.names("idle") == [] and not list(store.root.iterdir())
    store.close()
    sweeper.join(5)
    assert not sweeper.is_alive()


def test_push_to_the_stand_in_hub_with_an_injected_token(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    store = SessionStore(root=tmp_path)
    history = RunHistory(train=[[5, 2.5]], val=[[5, 2.4]], step=5)
    kept = store.add("alice", tiny_model(seed=4), "gru small", history)
    with StandInHub() as hub:
        with pytest.raises(ConfigError, match="needs a Hugging Face login"):
            push_session_model(store, "alice", kept.name, "alice/mine", token=None, endpoint=hub.endpoint)
        url = push_session_model(store, "alice", kept.name, "alice/mine", token=TOKEN, endpoint=hub.endpoint)
        assert "alice/mine" in url
        loaded = chargen.load_model("alice/mine", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        with pytest.raises(ConfigError):
            push_session_model(store, "bob", kept.name, "bob/theirs", token=TOKEN, endpoint=hub.endpoint)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in kept.model.state_dict().items())
    store.close()


def test_zero_gpu_budget_and_refusals() -> None:
    assert zero_gpu_cost(60) == pytest.approx((60 + 10) * 1.5)
    assert zero_gpu_cost(60, runs=3) == pytest.approx(3 * (60 + 10) * 1.5)
    # An anonymous visitor's 120 s a day pays for one run of at most 70 s (80 s requested, 120 charged).
    assert zero_gpu_max_seconds() == 70 and zero_gpu_cost(70) <= 120
    assert zero_gpu_max_seconds(runs=3) == 16

    class Refused(Exception):
        title = "ZeroGPU quota exceeded"
        message = "You have exceeded your free ZeroGPU quota (120s requested vs. 40s left)."

    message = zero_gpu_refusal(Refused())
    assert message is not None and "120s requested vs. 40s left" in message and "shorter budget" in message
    assert zero_gpu_refusal(ValueError("other")) is None
    # What a GPU call asks for: the request's budget plus the overhead, whatever else spaces passes.
    assert gpu_call_duration(request_for("gru", 45)) == 55
    assert gpu_call_duration(request_for("gru", 45.5), "ignored", extra=1) == 56
