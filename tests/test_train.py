import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from chargen import ConfigError, CorpusError, load_model
from chargen.checkpoint import read_weights
from chargen.training.train import STATE_NAME, TrainConfig, learning_rate, train
from tests.helpers import ROOT

TINY = {
    "cell": "lstm",
    "hidden_size": 24,
    "embedding_size": 8,
    "num_layers": 2,
    "batch_size": 8,
    "seq_len": 24,
    "eval_every": 10,
    "dropout": 0.1,
    "lr": 1e-2,
    "warmup_steps": 5,
}


@pytest.mark.slow
def test_loss_drops_and_outputs_are_written(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=60, **TINY), progress_bar=False)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 10, 20, 30, 40, 50, 60]
    assert rows[0]["val_loss"] == pytest.approx(math.log(len(load_model(out).vocab)), abs=0.3)
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] - 0.6
    assert result.best_val_loss == min(r["val_loss"] for r in rows)
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "model.safetensors",
        STATE_NAME,
        "log.jsonl",
        "loss.png",
        "corpus_cache",  # the corpus's encoded ids, reused on resume (chargen.training.corpus_file)
    }
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_best_checkpoint_is_the_best_evaluated_model(corpus_file: Path, tmp_path: Path) -> None:
    from chargen.training.data import Corpus, read_text
    from chargen.training.evaluate import nll_of_rows

    out = tmp_path / "run"
    config = TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=30, **TINY)
    result = train(config, progress_bar=False)
    corpus = Corpus.from_text(read_text(corpus_file), config.val_fraction, min_chars=config.seq_len + 1)
    nats, _ = nll_of_rows(load_model(out), corpus.val)
    assert nats == pytest.approx(result.best_val_loss, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "word"), [("gru", {}), ("rnn", {}), ("lstm", {"unit": "word", "vocab_size": 40})])
def test_resume_continues_as_if_it_never_stopped(corpus_file: Path, tmp_path: Path, cell: str, word: dict) -> None:
    settings = {**TINY, "cell": cell, "eval_every": 7, **word}
    straight = tmp_path / "straight"
    train(TrainConfig(corpus=str(corpus_file), out=str(straight), max_steps=20, **settings), progress_bar=False)
    halves = tmp_path / "halves"
    first = train(
        TrainConfig(corpus=str(corpus_file), out=str(halves), max_steps=20, **settings),
        progress_bar=False,
        callbacks=[lambda p: p.step == 10],
    )
    assert first.stopped_early and first.step == 10
    second = train(
        TrainConfig(corpus=str(corpus_file), out=str(halves), max_steps=20, **settings), resume=True, progress_bar=False
    )
    assert second.step == 20 and not second.stopped_early
    a, b = read_weights(straight / STATE_NAME), read_weights(halves / STATE_NAME)
    for name in a:
        if name.startswith(("model.", "optim.")):
            assert torch.equal(a[name], b[name]), name
    log = [json.loads(x)["step"] for x in (halves / "log.jsonl").read_text().splitlines()]
    assert log == [0, 7, 14, 20]


def test_resume_keeps_saved_settings_but_takes_a_new_budget(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=10, **TINY), progress_bar=False)
    result = train(
        TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=15, cell="gru"), resume=True, progress_bar=False
    )
    assert result.step == 15
    assert load_model(out).cell == "lstm"


def test_refuses_to_overwrite_a_run_or_resume_nothing(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **TINY), resume=True)
    assert not out.exists()
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **TINY), progress_bar=False)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **TINY))


def test_resume_with_a_different_corpus_is_refused(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **TINY), progress_bar=False)
    other = tmp_path / "other.txt"
    other.write_text("completely different ☃ text\n" * 50)
    with pytest.raises(ConfigError, match="characters differ"):
        train(TrainConfig(corpus=str(other), out=str(out), max_steps=10), resume=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "corpus is empty"),
        (b"abc" * 10, "corpus is too short"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"a\x00b" * 100, "binary"),
    ],
)
def test_bad_corpora(tmp_path: Path, content: bytes, message: str) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(content)
    out = tmp_path / "run"
    with pytest.raises(CorpusError, match=message):
        train(TrainConfig(corpus=str(corpus), out=str(out), max_steps=5, **TINY))
    assert not out.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seq_len": 0}, "seq-len must be a positive integer"),
        ({"lr": -1.0}, "lr must be"),
        ({"max_steps": -5}, "max-steps must be a positive integer"),
        ({"schedule": "zigzag"}, "schedule must be"),
        ({"max_minutes": 0}, "max-minutes must be a positive number"),
        ({"cell": "xyz"}, "cell must be one of"),
        ({"dropout": 1.5}, "dropout must be in [0, 1)"),
        ({"device": "tpu"}, "device must be cpu or cuda"),
    ],
)
def test_impossible_options(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(corpus="x", out="y", **changes)
    assert message in str(info.value)


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    config = TrainConfig(corpus="x", out="y", lr=1.0, warmup_steps=10, min_lr_ratio=0.1, max_steps=100)
    assert learning_rate(config, 0, 0.0) == pytest.approx(0.1)
    assert learning_rate(config, 9, 0.09) == pytest.approx(1.0)
    assert learning_rate(config, 50, 0.5) == pytest.approx(0.55)
    assert learning_rate(config, 100, 1.0) == pytest.approx(0.1)


@pytest.mark.slow
def test_sigterm_saves_state_and_exits_cleanly(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "chargen",
        "train",
        str(corpus_file),
        "--out",
        str(out),
        "--max-steps",
        "100000",
        "--hidden",
        "16",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--eval-every",
        "5",
        "--quiet",
    ]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and len((out / "log.jsonl").read_text().splitlines() if (out / "log.jsonl").exists() else []) < 3
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"].startswith("interrupted") and summary["step"] >= 10
    assert "Traceback" not in stderr
    load_model(out)
    result = train(
        TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=summary["step"] + 3),
        resume=True,
        progress_bar=False,
    )
    assert result.step == summary["step"] + 3


def test_resume_clears_temp_files_a_kill_left_and_files_are_readable(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **TINY), progress_bar=False)
    stale = out / ".model.safetensors.chargen-0a1b2c3d.tmp"  # as chargen names its temp files
    stale.write_bytes(b"half a file")
    theirs = out / ".notes.txt.tmp"  # someone else's temp file: not chargen's to delete
    theirs.write_text("keep me")
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=8), resume=True, progress_bar=False)
    assert not stale.exists()
    assert theirs.read_text() == "keep me"
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors", STATE_NAME):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask


def _rewrite_state(out: Path, change) -> None:
    """Edit a saved training state's metadata and tensors in place, as another machine would have saved it."""
    from safetensors.torch import save_file

    from chargen.training.train import _load_state

    meta, tensors = _load_state(out / STATE_NAME)
    change(meta, tensors)
    save_file(tensors, str(out / STATE_NAME), metadata={"chargen_train_state": json.dumps(meta)})


def test_a_bare_resume_keeps_the_saved_budget_and_continues_exactly(corpus_file: Path, tmp_path: Path) -> None:
    settings = {**TINY, "eval_every": 4}
    straight = tmp_path / "straight"
    train(TrainConfig(corpus=str(corpus_file), out=str(straight), max_steps=12, **settings), progress_bar=False)
    halves = tmp_path / "halves"
    first = train(
        TrainConfig(corpus=str(corpus_file), out=str(halves), max_steps=12, **settings),
        progress_bar=False,
        callbacks=[lambda p: p.step == 5],
    )
    assert first.stopped_early and first.step == 5
    # What `chargen train CORPUS --out DIR --resume` builds: no budget given.
    second = train(TrainConfig(corpus=str(corpus_file), out=str(halves)), resume=True, progress_bar=False)
    assert second.step == 12 and not second.stopped_early
    a, b = read_weights(straight / STATE_NAME), read_weights(halves / STATE_NAME)
    for name in a:
        if name.startswith(("model.", "optim.")):
            assert torch.equal(a[name], b[name]), name


def test_a_fresh_run_without_a_budget_gets_the_default_one(corpus_file: Path, tmp_path: Path) -> None:
    from chargen.training.train import DEFAULT_MAX_STEPS, prepare

    config, *_ = prepare(TrainConfig(corpus=str(corpus_file), out=str(tmp_path / "run")), resume=False)
    assert (config.max_steps, config.max_minutes, config.device) == (DEFAULT_MAX_STEPS, None, "cpu")
    config, *_ = prepare(TrainConfig(corpus=str(corpus_file), out=str(tmp_path / "run"), max_minutes=2), resume=False)
    assert (config.max_steps, config.max_minutes) == (None, 2)


def test_a_run_saved_on_cuda_resumes_with_device_cpu(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(
        TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=10, **TINY),
        progress_bar=False,
        callbacks=[lambda p: p.step == 4],
    )

    def saved_on_cuda(meta: dict, tensors: dict) -> None:
        meta["config"]["device"] = "cuda"
        tensors["rng.cuda"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state rides along

    _rewrite_state(out, saved_on_cuda)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="saved on cuda, which is not available here; resume with --device cpu"):
            train(TrainConfig(corpus=str(corpus_file), out=str(out)), resume=True, progress_bar=False)
    result = train(TrainConfig(corpus=str(corpus_file), out=str(out), device="cpu"), resume=True, progress_bar=False)
    assert result.step == 10
    assert load_model(out).device.type == "cpu"


def _bar_text(config: TrainConfig, step: int, elapsed: float, updates) -> str:
    import io

    from chargen.training.train import _ProgressBar

    sink = io.StringIO()
    bar = _ProgressBar(config, step, elapsed, file=sink)
    for update in updates(bar):
        bar.update(*update)
    bar.close()
    return sink.getvalue()


def test_progress_bar_with_max_minutes_has_a_total_and_continues_the_saved_clock() -> None:
    config = TrainConfig(corpus="x", out="y", max_minutes=3)
    text = _bar_text(config, step=40, elapsed=125.0, updates=lambda bar: [(41, 126.5, 2.5, 1000.0)])
    final = text.replace("\r", "\n").splitlines()[-1]
    assert "126/180" in final, final  # seconds of the budget: a total, so an ETA
    assert "[02:0" in final, final  # the clock starts from the 125 s already spent
    assert "s/s" not in text and "<00:5" in final, final  # no rate of seconds per second; 54 s of budget left
    assert "step=41" in final and "loss=2.500" in final


def test_progress_bar_shows_val_only_after_an_evaluation_of_trained_weights() -> None:
    config = TrainConfig(corpus="x", out="y", max_steps=10)

    def before(bar):
        return [(1, 0.1, 2.5, 1000.0), (2, 0.2, 2.4, 1000.0)]

    assert "val=" not in _bar_text(config, 0, 0.0, before)

    def after(bar):
        bar.val_loss = 1.875
        return [(3, 0.3, 2.3, 1000.0)]

    final = _bar_text(config, 0, 0.0, after).replace("\r", "\n").splitlines()[-1]
    assert "3/10" in final and "val=1.875" in final, final
    assert "step/s" in final or "s/step" in final, final

    def nothing_held_out(bar):
        bar.val_loss = math.nan
        return [(3, 0.3, 2.3, 1000.0)]

    assert "val=" not in _bar_text(config, 0, 0.0, nothing_held_out)


def test_a_second_ctrl_c_stops_at_once() -> None:
    from chargen.training.train import _StopSignals

    with _StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)  # the first: stop at the next step, saving first
        assert signals.received == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):  # the second, say during a long evaluation: now
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs between bytecodes; this never finishes


# -- issue 22: stopping early and resuming a finished run ----------------------------------------


def test_ctrl_c_before_the_first_evaluation_saves_the_trained_model(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    def ctrl_c_at_step_8(progress) -> None:
        if progress.step == 8:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the run stops after this step

    config = TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=50, **{**TINY, "eval_every": 100})
    result = train(config, progress_bar=False, callbacks=[ctrl_c_at_step_8])
    assert result.stopped_early and result.step == 8
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [0, 8]  # evaluated on the way out
    assert rows[1]["val_loss"] < rows[0]["val_loss"] and result.best_val_loss == rows[1]["val_loss"]
    # the checkpoint is the trained step-8 model (the state's weights), not the untrained one
    state = read_weights(out / STATE_NAME)
    saved = load_model(out).state_dict()
    assert all(torch.equal(saved[name], state[f"model.{name}"]) for name in saved)
    # and a stop after an evaluation keeps the best evaluated model, as before: no extra evaluation
    again = tmp_path / "again"
    config = TrainConfig(corpus=str(corpus_file), out=str(again), max_steps=50, **TINY)
    train(config, progress_bar=False, callbacks=[lambda p: p.step == 13])
    assert [json.loads(line)["step"] for line in (again / "log.jsonl").read_text().splitlines()] == [0, 10]


def test_resuming_a_run_whose_budget_is_spent_says_how_to_extend_it(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chargen.cli import main

    out = tmp_path / "run"
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=6, **TINY), progress_bar=False)
    with pytest.raises(ConfigError, match=r"used its budget \(step 6 of --max-steps 6\).* --max-steps 12$"):
        train(TrainConfig(corpus=str(corpus_file), out=str(out)), resume=True, progress_bar=False)
    assert main(["train", str(corpus_file), "--out", str(out), "--resume", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"error: {out}: this run has used its budget")
    # a bigger budget continues it
    resumed = train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=8), resume=True, progress_bar=False)
    assert resumed.step == 8


@pytest.mark.parametrize(("dropout", "label"), [(0.0, "train"), (0.2, "train (dropout on)")])
def test_the_loss_plot_says_dropout_on_only_when_the_run_had_dropout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dropout: float, label: str
) -> None:
    from matplotlib.figure import Figure

    from chargen.training.train import plot_losses

    legends: list[list[str]] = []
    savefig = Figure.savefig

    def recording_savefig(fig, *args, **kwargs):
        legends.append([text.get_text() for ax in fig.axes for text in ax.get_legend().get_texts()])
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    rows = [{"step": 0, "train_loss": 3.0, "val_loss": 3.1}, {"step": 10, "train_loss": 2.0, "val_loss": 2.2}]
    plot_losses(rows, tmp_path / "loss.png", dropout=dropout)
    assert legends == [[label, "validation"]] and (tmp_path / "loss.png").stat().st_size > 0


def test_a_session_models_card_curve_follows_its_dropout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Train tab's presets train without dropout: their card's curve must not say "dropout on"."""
    from matplotlib.figure import Figure

    from chargen.app.session.card import write_card
    from chargen.app.session.history import RunHistory
    from tests.helpers import tiny_model

    legends: list[list[str]] = []
    savefig = Figure.savefig

    def recording_savefig(fig, *args, **kwargs):
        legends.append([text.get_text() for ax in fig.axes for text in ax.get_legend().get_texts()])
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    history = RunHistory(train=[[0, 3.0], [10, 2.0]], val=[[0, 3.1], [10, 2.2]], step=10)
    write_card(tmp_path, tiny_model(dropout=0.0), history, "GRU small, trained here")
    assert legends == [["train", "validation"]]
