"""The Train tab through the served app's API: /train streams progress and leaves a session model that
only its own client session can generate with; the queue, Stop, the zip round trip and refusals."""

from __future__ import annotations

import math
import threading
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import ROOT, make_text
from tests.hub_server import TOKEN, StandInHub
from tests.train_app import serve_with_train_tab

SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "train.txt"
TEXT = make_text(words=3000)
STARVED_STEPS = 100
"""Fewer steps than this in 30 s means other processes had the CPU: 64-88 steps beat the bigram table on a
core shared with five other jobs; 41 did not."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """The real app page (its bundled models) with the Train tab, served on a free port."""
    with StandInHub() as hub, serve_with_train_tab(tmp_path_factory.mktemp("app"), hub_endpoint=hub.endpoint) as served:
        yield (*served, hub)


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def bigram_nats_per_char(text: str) -> float:
    """The held-out loss of a smoothed bigram count table on the validation blocks /train holds out:
    counts from the training spans, the best of a few smoothing strengths (a baseline in its favour)."""
    from chargen.app.session.presets import PRESETS
    from chargen.app.session.stream import EVAL_CHARS
    from chargen.training.data import Corpus

    preset = PRESETS["small"]
    corpus = Corpus.from_text(text, 0.05, min_chars=preset.seq_len + 1, scheme="blocks")
    ids = corpus.ids.tolist()
    pairs = Counter()
    for start, end in corpus.train_spans:
        pairs.update(zip(ids[start : end - 1], ids[start + 1 : end], strict=True))
    firsts = Counter()
    for (a, _), n in pairs.items():
        firsts[a] += n
    vocab = len(corpus.vocab)
    rows = corpus.val[:, : max(2, EVAL_CHARS // len(corpus.val))].tolist()
    held_out = [(a, b) for row in rows for a, b in zip(row[:-1], row[1:], strict=True)]
    best = math.inf
    for alpha in (0.01, 0.03, 0.1, 0.3, 1.0):
        nll = -sum(math.log((pairs[(a, b)] + alpha) / (firsts[a] + alpha * vocab)) for a, b in held_out)
        best = min(best, nll / len(held_out))
    return best


@pytest.mark.slow
@pytest.mark.skipif(not SHAKESPEARE.exists(), reason=f"{SHAKESPEARE} is not here")
def test_thirty_seconds_on_shakespeare_beat_a_bigram_table_in_this_session_only(served) -> None:
    url = served[0]
    text = SHAKESPEARE.read_text(encoding="utf-8")[:200_000]
    baseline = bigram_nats_per_char(text)
    client = client_for(url)
    job = client.submit(text, "gru", 30, "small", api_name="/train")
    updates = [update[0] for update in job]
    final = job.result()[0]
    assert all(isinstance(u, dict) for u in updates) and updates[-1] == final
    assert any(u.get("status") == "training" and u.get("val_loss") for u in updates[:-1])
    assert final["status"] == "done" and final["model"].startswith("session:")
    assert final["steps"] > 0
    figure = f"30 s of training: {final['steps']} steps, val {final['val_loss']:.3f} vs bigram {baseline:.3f} nats/char"
    print(figure)
    if final["val_loss"] >= baseline and final["steps"] < STARVED_STEPS:
        pytest.skip(f"{figure}: the CPU was too busy to measure (less loaded, 30 s made ~180 steps, val ~1.8)")
    assert final["val_loss"] < baseline
    greedy, sampled = client.predict("ROMEO:\n", 0.8, 300, 0, 1.0, "7", final["model"], api_name="/generate")[:2]
    assert len(sampled) == 300 and set(greedy + sampled) <= set(text)
    with pytest.raises(Exception, match="model must be one of"):
        client_for(url).predict("ROMEO:\n", 0.8, 50, 0, 1.0, "7", final["model"], api_name="/generate")


@pytest.mark.slow
def test_binary_input_is_refused_and_the_server_keeps_serving(served) -> None:
    url = served[0]
    client = client_for(url)
    binary = bytes(range(256)).decode("latin-1") * 100
    with pytest.raises(Exception, match="NUL"):
        client.predict(binary, "gru", 15, "small", api_name="/train")
    with pytest.raises(Exception, match="at least 10,000"):
        client.predict("too short", "gru", 15, "small", api_name="/train")
    with pytest.raises(Exception, match="seconds must be a number of seconds from 2 to 60"):
        client.predict(TEXT, "gru", 61, "small", api_name="/train")
    greedy = client.predict("ROMEO:\n", 0.8, 20, 0, 1.0, "1", "", api_name="/generate")[0]
    assert len(greedy) == 20


@pytest.mark.slow
def test_a_second_trainer_waits_with_its_place_and_stop_keeps_the_best_so_far(served, tmp_path: Path) -> None:
    url = served[0]
    first, second = client_for(url), client_for(url)
    first_job = first.submit(TEXT, "rnn", 60, "small", api_name="/train")
    for update in first_job:
        if update[0].get("val_loss") is not None:
            break  # training, and one evaluation done
    second_job = second.submit(TEXT, "gru", 60, "small", api_name="/train")
    seen = []
    for update in second_job:
        seen.append(update[0])
        if update[0].get("status") == "queued":
            break
    assert seen[-1] == {"status": "queued", "place": 1}
    first.predict(api_name="/stop_training")
    final = first_job.result()[0]
    assert final["status"] == "done" and final["stopped_early"] and final["steps"] < 1000
    # The second run now trains; stop it as soon as it reports a step.
    for update in second_job:
        if update[0].get("status") == "training" and update[0].get("val_loss") is not None:
            break
    second.predict(api_name="/stop_training")
    second_final = second_job.result()[0]
    assert second_final["status"] == "done" and second_final["cell"] == "gru"
    # Download: the zip holds what chargen.load_model needs, and the card with the loss curve.
    archive = Path(first_job.result()[4]["value"] if isinstance(first_job.result()[4], dict) else first_job.result()[4])
    with zipfile.ZipFile(archive) as zf:
        assert {"config.json", "model.safetensors", "README.md", "loss.png"} <= set(zf.namelist())
        zf.extractall(tmp_path / "model")
    import chargen

    assert chargen.load_model(tmp_path / "model").cell == "rnn"
    # Upload it back in a third session: usable there, by that session only.
    from gradio_client import handle_file

    third = client_for(url)
    uploaded = third.predict(handle_file(str(archive)), api_name="/upload_model")[0]
    assert uploaded["status"] == "uploaded" and uploaded["model"].startswith("session:")
    assert third.predict("\n", 0.8, 30, 0, 1.0, "3", uploaded["model"], api_name="/generate")[0]
    with pytest.raises(Exception, match="model must be one of"):
        first.predict("\n", 0.8, 30, 0, 1.0, "3", uploaded["model"], api_name="/generate")
    assert not any(t.name == "chargen-session-training" and t.is_alive() for t in threading.enumerate())


@pytest.mark.slow
def test_compare_cells_trains_all_three_and_overlays_their_validation_curves(served) -> None:
    url = served[0]
    client = client_for(url)
    final, curve, samples = client.predict(TEXT, 3, "small", api_name="/compare_cells")[:3]
    assert final["status"] == "done" and set(final["models"]) == {"rnn", "lstm", "gru"}
    assert set(final["val_loss"]) == {"rnn", "lstm", "gru"}
    plot = curve.get("value") or curve  # gr.LinePlot's data: columns step, loss, curve
    assert {row[2] for row in plot["data"]} == {"rnn validation", "lstm validation", "gru validation"}
    assert all(f"[{cell}] step " in samples for cell in ("rnn", "lstm", "gru"))
    for name in final["models"].values():
        assert client.predict("The ", 0.8, 20, 0, 1.0, "1", name, api_name="/generate")[1]


def test_zero_gpu_settings_and_cost_line(monkeypatch) -> None:
    from chargen.app import train_views

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setenv("CHARGEN_TRAIN_MAX_SECONDS", "120")
    settings = train_views.TrainTabSettings.from_env()
    assert (settings.zero_gpu, settings.max_seconds, settings.default_seconds) == (False, 120, 120)
    assert train_views.cost_text(60, settings) == ""
    zero = train_views.TrainTabSettings(max_seconds=70, zero_gpu=True)
    line = train_views.cost_text(60, zero)
    assert "asks the GPU for 70 s" in line and "**105 s**" in line and "**315 s**" in line


@pytest.mark.slow
def test_push_to_the_stand_in_hub_with_the_servers_token(served, tmp_path: Path, monkeypatch) -> None:
    """Locally the token comes from HF_TOKEN (on a Space, from the visitor's login); never a mocked Hub."""
    from gradio_client import handle_file

    import chargen
    from chargen.app.session.store import SessionStore

    url, _, hub = served
    store = SessionStore(root=tmp_path)
    kept = store.add("maker", chargen.CharRNN(chargen.ModelConfig(vocab=sorted(set(TEXT)), hidden_size=16)), "m")
    archive = store.zip("maker", kept.name)
    client = client_for(url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(Exception, match="train or upload a model first"):
        client.predict("alice/mine", api_name="/push")
    uploaded = client.predict(handle_file(str(archive)), api_name="/upload_model")[0]
    with pytest.raises(Exception, match="needs a Hugging Face login"):
        client.predict("alice/mine", api_name="/push")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert "alice/mine" in client.predict("alice/mine", api_name="/push")
    pulled = chargen.load_model("alice/mine", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert all(t.equal(pulled.state_dict()[k]) for k, t in kept.model.state_dict().items())
    # The pushed repo is public; the session model itself stays usable by its own session only,
    # in every view: Look inside's too.
    assert len(client.predict("the cat", uploaded["model"], api_name="/expectations")) == len("the cat") - 1
    other = client_for(url)
    with pytest.raises(Exception, match="model must be one of"):
        other.predict("The ", 0.8, 20, 0, 1.0, "1", uploaded["model"], api_name="/generate")
    with pytest.raises(Exception, match="model must be one of"):
        other.predict("the cat", uploaded["model"], api_name="/expectations")
    store.close()


@pytest.mark.slow
def test_the_zero_gpu_path_streams_stops_and_turns_a_refusal_into_a_message(tmp_path: Path, monkeypatch) -> None:
    """Off ZeroGPU, ``spaces.GPU`` returns the function unchanged, so this runs everything of that path but
    the fork (read in spaces 0.51.3: a refusal is a gr.Error titled "ZeroGPU ..." raised before the run)."""
    import gradio as gr

    from chargen.app.session import zero_gpu

    real = zero_gpu.gpu_train_stream
    calls = []

    def gpu_train_stream(request):
        calls.append(zero_gpu.gpu_call_duration(request))
        if request.cell == "rnn":  # what spaces raises when the visitor's quota is short
            raise gr.Error(
                "You have exceeded your free ZeroGPU quota (105s requested vs. 12s left).",
                title=("ZeroGPU quota exceeded"),
            )
        yield from real(request)

    monkeypatch.setattr(zero_gpu, "gpu_train_stream", gpu_train_stream)
    with serve_with_train_tab(tmp_path, max_seconds=70, zero_gpu=True) as (url, _):
        client = client_for(url)
        with pytest.raises(Exception, match=r"GPU refused this training \(ZeroGPU quota exceeded: .*12s left"):
            client.predict(TEXT, "rnn", 20, "small", api_name="/train")
        job = client.submit(TEXT, "gru", 60, "small", api_name="/train")
        for update in job:
            if update[0].get("val_loss") is not None:
                client.predict(api_name="/stop_training")
                break
        final = job.result()[0]
        assert final["status"] == "done" and final["model"].startswith("session:") and final["steps"] < 1000
        assert client.predict("The ", 0.8, 20, 0, 1.0, "1", final["model"], api_name="/generate")[1]
    assert calls == [30, 70]  # the budget plus 10 s for the fork, the move and the last save


def test_the_loss_charts_axes_are_numbers_from_the_first_update_even_with_no_points_yet() -> None:
    """gr.LinePlot types each axis from its column's dtype and the page's chart keeps the first types it gets:
    the first update (no points yet) must already say step and loss are quantitative."""
    import gradio as gr

    from chargen.app.session.history import RunHistory
    from chargen.app.train_views import CURVE_COLORS, curve_frame

    plot = gr.LinePlot(x="step", y="loss", color="curve", color_map=CURVE_COLORS)
    empty = plot.postprocess(curve_frame({"": RunHistory()}))
    assert empty.datatypes == {"step": "quantitative", "loss": "quantitative", "curve": "nominal"}
    # No point yet, but every curve's name: the chart's colour scale knows both colours from the start.
    assert empty.data == [[None, None, "train"], [None, None, "validation"]]
    history = RunHistory(train=[[0, 4.1], [5, 3.0]], val=[[0, 4.2], [5, 3.3]])
    drawn = plot.postprocess(curve_frame({"": history}))
    assert drawn.datatypes == empty.datatypes
    assert drawn.data == [[0.0, 4.1, "train"], [5.0, 3.0, "train"], [0.0, 4.2, "validation"], [5.0, 3.3, "validation"]]
    # Compare cells: the first update (only rnn has points) already names all three validation curves.
    first = {"rnn": RunHistory(val=[[0, 4.0]]), "lstm": RunHistory(), "gru": RunHistory()}
    compared = plot.postprocess(curve_frame(first, val_only=True))
    assert compared.datatypes == empty.datatypes
    waiting = [[None, None, "lstm validation"], [None, None, "gru validation"]]
    assert compared.data == [[0.0, 4.0, "rnn validation"], *waiting]


def test_progress_in_words_says_step_losses_best_and_time_and_where_the_model_went() -> None:
    from chargen.app.session.history import RunHistory
    from chargen.app.train_views import progress_markdown

    history = RunHistory(train=[[0, 4.1], [50, 2.5]], val=[[0, 4.2], [25, 2.31], [50, 2.4]], step=50)
    history.elapsed, history.seconds = 12.4, 30
    text = progress_markdown({"": history})
    assert text == (
        "- step 50; training loss 2.50, validation loss 2.40 (nats per character); best so far 2.31 at step 25 "
        "(the weights kept); 12 s spent, about 18 s left."
    )
    history.done = {"stopped_early": False}
    history.elapsed = 30.2
    done = progress_markdown({"": history}, "GRU small, trained here (val 2.31)")
    assert "finished after 30 s." in done and "**GRU small, trained here (val 2.31)** is in the Generate tab" in done
    waiting = progress_markdown({"": RunHistory(step=0)})
    assert "not measured yet" in waiting and "no validation yet" in waiting
    compared = progress_markdown({"rnn": history, "gru": RunHistory(val=[[0, 3.0]])}).splitlines()
    assert compared[0].startswith("- **RNN**: step 50") and compared[1].startswith("- **GRU**")


def test_a_sample_of_only_whitespace_is_shown_with_the_generate_tabs_markers() -> None:
    from chargen.app.session.history import RunHistory
    from chargen.app.train_views import samples_text

    history = RunHistory(samples=["step 0:  \n \n", "step 25: The cat\nsat"])
    assert samples_text({"": history}).split("\n\n") == [
        "step 0: \u00b7\u21b5\u00b7\u21b5 (only whitespace)",
        "step 25: The cat / sat",
    ]
