"""The app's Train tab: a visitor trains a model on their own text, watches it learn and uses it.

:class:`TrainTab` renders the tab and wires its events to a :class:`TrainHandlers` (which tests call
without a server): ``/train`` (text, cell, seconds, size, unit = "characters" or
"words", vocab_size for words) streams progress whose
first output is a JSON object and whose last is ``{"model": "session:...", "steps": n, "val_loss": x}``;
``/compare_cells`` trains rnn, lstm and gru in turn; Stop keeps the best model so far. Trained and
uploaded models live in :class:`chargen.app.session.store.SessionStore`, one folder per session:
the app's ``/generate`` resolves ``session:`` names through :meth:`SessionModels.lookup` with the
caller's ``gr.Request``, so another session can never use them. The work is in the modules of
``chargen.app.session``; this module only builds widgets and turns results into their values.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from chargen.app.i18n import text
from chargen.app.session.checks import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_SECONDS,
    DEFAULT_TAB_VOCAB_SIZE,
    MAX_BYTES,
    MAX_TAB_VOCAB_SIZE,
    MIN_CHARS,
    MIN_SECONDS,
    UNITS,
    TrainRequest,
    max_seconds_from_env,
    parse_train_request,
    read_upload,
)
from chargen.app.session.history import RunHistory
from chargen.app.session.presets import SIZES
from chargen.app.session.store import SESSION_PREFIX, SessionModel, SessionStore, push_session_model
from chargen.app.session.stream import TRAINING_NICENESS, train_stream
from chargen.app.session.training_queue import TrainingQueue, queued_stream
from chargen.app.session.zero_gpu import (
    ZERO_GPU_DAILY_QUOTA_S,
    zero_gpu_cost,
    zero_gpu_duration,
    zero_gpu_enabled,
    zero_gpu_max_seconds,
    zero_gpu_refusal,
    zero_gpu_train_stream,
)
from chargen.app.views import WHITESPACE_MARKERS, markdown_text
from chargen.checks import CELLS
from chargen.errors import ChargenError

if TYPE_CHECKING:  # the page is served before torch is imported (chargen.app.demo.main)
    from chargen.model import CharRNN

UPDATE_INTERVAL_S = 0.5
"""Seconds between streamed updates of the tab: each costs gradio server CPU."""
KEPT_LINE = text("train.kept")
CURVE_NAMES = {
    "train": text("train.curve.train"),
    "validation": text("train.curve.validation"),
    "rnn validation": text("train.curve.rnn_validation"),
    "lstm validation": text("train.curve.lstm_validation"),
    "gru validation": text("train.curve.gru_validation"),
}
"""The curves' names in the loss table (as API clients read them) and the chart's legend, by what they are:
the page's script says the legend's in the visitor's language."""
CURVE_COLORS = {
    CURVE_NAMES["train"]: "#4c78a8",
    CURVE_NAMES["validation"]: "#f58518",
    CURVE_NAMES["rnn validation"]: "#54a24b",
    CURVE_NAMES["lstm validation"]: "#e45756",
    CURVE_NAMES["gru validation"]: "#b279a2",
}
"""Fixed colours, so the plot's label can name them (its own legend falls outside its box)."""
WARN_BEFORE_UNLOAD_JS = """() => {
    if (!window.chargenWarnsOnUnload) {
        window.chargenWarnsOnUnload = true;
        window.addEventListener("beforeunload", (event) => { event.preventDefault(); event.returnValue = ""; });
    }
}"""


@dataclass(frozen=True)
class TrainTabSettings:
    """What the server decides for the tab: budgets, ZeroGPU, the Hub."""

    max_seconds: float = DEFAULT_MAX_SECONDS
    min_seconds: float = MIN_SECONDS
    niceness: int = TRAINING_NICENESS
    """How far the training thread's OS priority is lowered below the server's request handlers."""
    default_seconds: float = DEFAULT_SECONDS
    zero_gpu: bool = False
    hub_endpoint: str | None = None
    oauth: bool = False

    @classmethod
    def from_env(cls) -> TrainTabSettings:
        """Settings from the environment: ``CHARGEN_TRAIN_MAX_SECONDS``, ZeroGPU, ``HF_ENDPOINT``, Space OAuth."""
        zero_gpu = zero_gpu_enabled()
        max_seconds = max_seconds_from_env()
        if zero_gpu:  # what an anonymous visitor's daily quota pays for, charged up front
            max_seconds = max(MIN_SECONDS, min(max_seconds, zero_gpu_max_seconds()))
        return cls(
            max_seconds=max_seconds,
            default_seconds=min(DEFAULT_SECONDS, max_seconds),
            zero_gpu=zero_gpu,
            hub_endpoint=os.environ.get("HF_ENDPOINT") or None,
            oauth=bool(os.environ.get("OAUTH_CLIENT_ID") and os.environ.get("SPACE_ID")),
        )


class SessionModels:
    """The session models of a running app, looked up through the caller's gradio session."""

    def __init__(self, store: SessionStore | None = None, training_queue: TrainingQueue | None = None) -> None:
        if store is None:  # the app's own: idle sessions are removed even when nobody else comes by
            store = SessionStore()
            store.start_sweeper()
        self.store = store
        self.queue = training_queue or TrainingQueue()

    def names_for(self, request: gr.Request | None, base_names: Sequence[str]) -> list[str]:
        """The model names this caller may use: the app's models, then its own session's."""
        return list(base_names) + self.store.names(_session(request))

    def lookup(self, name: str, request: gr.Request | None, base_models: Mapping[str, CharRNN]) -> CharRNN:
        """The model ``name`` for this caller: one of ``base_models`` or one of its own session models."""
        if isinstance(name, str) and name.startswith(SESSION_PREFIX):
            return self.store.get(_session(request), name).model
        return base_models[name]

    def current(self, base_models: Mapping[str, CharRNN], request: gr.Request | None) -> Mapping[str, CharRNN]:
        """``base_models`` plus the session models of the caller of ``request``, for views that take a model
        mapping: iterating lists the app's models then the caller's own; looking up another session's name
        raises ``KeyError``."""
        return _CallerModels(self, base_models, request)

    def training_text_index(self, name: str, request: gr.Request | None) -> Any:
        """The index of the text this caller's session model ``name`` was trained on, or None (an upload, a
        text too long to index); it lives and goes with the session model."""
        return self.store.get(_session(request), name).index

    def offered(self, name: str, request: gr.Request | None) -> Any:
        """A session model as the page describes it (``views.OfferedModel``): its label and where it came from."""
        from chargen.app import views

        kept = self.store.get(_session(request), name)
        return views.OfferedModel(kept.label, kept.model, facts=text("train.model.facts"))

    def choices(self, request: gr.Request | None, base_choices: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """(label, name) pairs for the model picker of this caller: the app's, then its session's."""
        return list(base_choices) + self.store.choices(_session(request))


class _CallerModels(Mapping):
    """The app's models and one caller's own session models, as one mapping (see :meth:`SessionModels.current`)."""

    def __init__(self, owner: SessionModels, base: Mapping[str, CharRNN], request: gr.Request | None) -> None:
        self._owner, self._base, self._request = owner, base, request

    def __getitem__(self, name: str) -> CharRNN:
        if name in self._base:
            return self._base[name]
        try:
            return self._owner.lookup(name, self._request, self._base)
        except ChargenError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.names_for(self._request, list(self._base)))

    def __len__(self) -> int:
        return len(self._owner.names_for(self._request, list(self._base)))


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def _error(exc: BaseException) -> gr.Error:
    return gr.Error(str(exc), print_exception=False)


CURVE_DTYPES = {"step": "float64", "loss": "float64", "curve": "string"}
"""The curve table's column types. gr.LinePlot types each axis from its column's dtype, and its chart keeps the
first spec it built: an empty table of untyped (object) columns reads as nominal, and the chart then drew
category axes with a tick per value and no curves. Typed, step and loss are quantitative from the first update."""


def curve_frame(histories: Mapping[str, RunHistory], val_only: bool = False) -> Any:
    """The loss curves as a long table for ``gr.LinePlot``: step, loss (nats/char), curve name; typed by
    :data:`CURVE_DTYPES`. A curve with no point yet has one empty row (no step, no loss: nothing is drawn for
    it), so the chart's colours are all known from its first update: the chart takes its colour scale's domain
    from the first table it gets, and a curve missing there was drawn without a colour. Once every curve has
    points (the last update), the table holds only points, as API clients read it."""
    import pandas as pd

    rows: list[tuple[float | None, float | None, str]] = []
    for prefix, history in histories.items():
        lead = f"{prefix} " if prefix else ""
        curves = ([(f"{lead}train", history.train)] if not val_only else []) + [(f"{lead}validation", history.val)]
        for curve, points in curves:
            name = CURVE_NAMES.get(curve, curve)
            rows += [(s, v, name) for s, v in points] if points else [(None, None, name)]
    return pd.DataFrame(rows, columns=list(CURVE_DTYPES)).astype(CURVE_DTYPES)


def status_of(history: RunHistory, cell: str | None = None) -> dict[str, Any]:
    """The JSON object a training update opens with."""
    best = history.best_val
    return {
        "status": "training",
        **({"cell": cell} if cell else {}),
        "unit": history.unit,
        "step": history.step,
        "elapsed": round(history.elapsed, 1),
        "seconds": history.seconds,
        "val_loss": round(best, 4) if best is not None else None,
        "samples": len(history.samples),
    }


def final_status(kept: SessionModel, history: RunHistory) -> dict[str, Any]:
    """The last JSON object of a training: the session model's name and how it ended."""
    done = history.done or {}
    best = history.best_val
    return {
        "status": "done",
        "model": kept.name,
        "cell": kept.model.cell,
        "unit": kept.model.unit,
        "steps": history.step,
        "val_loss": round(best, 4) if best is not None and math.isfinite(best) else None,
        "elapsed": round(history.elapsed, 1),
        "stopped_early": bool(done.get("stopped_early", True)),
        "parameters": kept.model.num_parameters(),
    }


ONLY_WHITESPACE = text("train.sample.only_whitespace")
"""Said after a sample that wrote nothing but spaces and line breaks (shown as the Generate tab's markers)."""


def sample_line(sample: str) -> str:
    """One sample (``"step N: text"``) on one line: its newlines as ' / '; a sample of only whitespace shows
    it as the Generate tab's markers (· space, ↵ line break) and says so, instead of looking empty."""
    head, sep, body = sample.partition(": ")
    if sep and body and not body.strip():
        return f"{head}: {''.join(WHITESPACE_MARKERS.get(ch, ch) for ch in body)} {ONLY_WHITESPACE}"
    return sample.replace("\n", " / ")


def samples_text(histories: Mapping[str, RunHistory]) -> str:
    """Every sample so far, newest last, each on one line (:func:`sample_line`)."""
    lines = []
    for prefix, history in histories.items():
        lead = f"[{prefix}] " if prefix else ""
        lines += [lead + sample_line(sample) for sample in history.samples]
    return "\n\n".join(lines)


def duration_text(seconds: float) -> str:
    """A time in whole seconds as the tab writes it: ``45 s``, ``2 min 5 s``."""
    seconds = max(0, round(seconds))
    if seconds >= 60:
        return text("train.time.minutes", minutes=seconds // 60, seconds=seconds % 60)
    return text("train.time.seconds", seconds=seconds)


def _loss(value: float | None) -> str:
    return f"{value:.2f}" if value is not None and math.isfinite(value) else text("train.progress.not_measured")


def run_progress_line(history: RunHistory, label: str = "") -> str:
    """One run's progress in words: its step, latest training and validation loss, the best so far and
    when it came, and the time spent and left (or how it ended); Markdown, ``label`` (a cell) in bold.

    Each part is a catalogue entry, so the page's script can say the line in the visitor's language: the
    sentence's template holds the parts as placeholders, each part matched again on its own."""
    latest_train = history.train[-1][1] if history.train else None
    latest_val = history.val[-1][1] if history.val else None
    best = history.best_val
    if best is None:
        best_text = text("train.progress.no_validation")
    else:
        best_step = next(int(s) for s, v in history.val if v == best)
        best_text = text("train.progress.best", loss=f"{best:.2f}", step=best_step)
    if history.done is not None:
        took = duration_text(history.elapsed)
        stopped = history.done.get("stopped_early")
        timing = text("train.progress.stopped", time=took) if stopped else text("train.progress.finished", time=took)
    else:
        left = max(0.0, history.seconds - history.elapsed)
        timing = text("train.progress.running", spent=duration_text(history.elapsed), left=duration_text(left))
    parts = {
        "step": history.step,
        "train": _loss(latest_train),
        "validation": _loss(latest_val),
        "best": best_text,
        "timing": timing,
    }
    if label:  # its own entry: the page matches a paragraph with bold in it as a whole
        return text("train.progress.cell_line", cell=label.upper(), **parts)
    return text("train.progress.line", **parts)


def progress_markdown(histories: Mapping[str, RunHistory], model_label: str = "") -> str:
    """The progress of one run (key ``""``) or of several (keyed by cell) for a person: a line per run, and
    once done, where the model went (``model_label``: its name in the Generate tab's list)."""
    lines = [f"- {run_progress_line(history, label)}" for label, history in histories.items()]
    if model_label:
        lines.append(f"- {text('train.progress.done', model=markdown_text(model_label))}")
    return "\n".join(lines)


def queued_markdown(place: int) -> str:
    """What a visitor waiting for a trainer reads."""
    return text("train.queued", place=place)


def cost_text(seconds: float, settings: TrainTabSettings, runs: int = 1) -> str:
    """What a training costs a visitor on ZeroGPU (empty elsewhere)."""
    if not settings.zero_gpu:
        return ""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    return text(
        "train.cost",
        seconds=f"{seconds:.0f}",
        duration=zero_gpu_duration(seconds),
        cost=f"{zero_gpu_cost(seconds, runs):.0f}",
        compare_cost=f"{zero_gpu_cost(seconds, 3 * runs):.0f}",
        quota=ZERO_GPU_DAILY_QUOTA_S,
    )


def trained_label(model: CharRNN, size: str, best: float | None) -> str:
    """A model trained in the tab as the model picker lists it: ``GRU small, trained here (val 1.85)``."""
    cell, words = model.cell.upper(), model.unit == "word"
    if best is None:
        if words:
            return text("train.model.trained_words", cell=cell, size=size)
        return text("train.model.trained", cell=cell, size=size)
    loss = f"{best:.2f}"
    if words:
        return text("train.model.trained_words_val", cell=cell, size=size, loss=loss)
    return text("train.model.trained_val", cell=cell, size=size, loss=loss)


def cell_choices() -> list[tuple[str, str]]:
    """The cell radio's (words shown, value) pairs: the value is the cell's name, as the API takes it."""
    words = {"rnn": text("train.cell.rnn"), "lstm": text("train.cell.lstm"), "gru": text("train.cell.gru")}
    return [(words.get(cell, cell), cell) for cell in CELLS]


def size_choices() -> list[tuple[str, str]]:
    """The size radio's (words shown, value) pairs: the value is the preset's name, as the API takes it."""
    words = {"small": text("train.size.small"), "medium": text("train.size.medium")}
    return [(words.get(size, size), size) for size in SIZES]


def unit_choices() -> list[tuple[str, str]]:
    """The unit radio's (words shown, value) pairs: the value is the tab's name, as the API takes it."""
    words = {"characters": text("train.unit.characters"), "words": text("train.unit.words")}
    return [(words.get(unit, unit), unit) for unit in UNITS]


class TrainHandlers:
    """The Train tab's handlers over the visitors' session models; tests call them without a server.

    Args:
        session_models: where session models live; the app's /generate looks names up there too.
        base_choices: the app's own models as the picker's (label, name) pairs, always listed first.
        settings: budgets, ZeroGPU and Hub settings (default: :meth:`TrainTabSettings.from_env`).
    """

    def __init__(
        self,
        session_models: SessionModels,
        base_choices: Sequence[tuple[str, str]],
        settings: TrainTabSettings | None = None,
    ) -> None:
        self.settings = settings or TrainTabSettings.from_env()
        self.session_models = session_models
        self.store, self.training_queue = session_models.store, session_models.queue
        self.base_choices = list(base_choices)
        self.zero_stream = zero_gpu_train_stream() if self.settings.zero_gpu else None

    def picker(self, request: gr.Request | None, value: str | None) -> Any:
        """The model picker for this caller, with ``value`` chosen."""
        return gr.update(choices=self.session_models.choices(request, self.base_choices), value=value, visible=True)

    def run_stream(self, request: TrainRequest, stop: Any) -> Callable[[], Iterator[dict[str, Any]]]:
        """One training run's updates, on this machine or in ZeroGPU's forked GPU process."""
        if self.zero_stream is not None:  # forked GPU process: the request's plain values in, plain data out
            zero_stream = self.zero_stream
            return lambda: _stoppable(zero_stream(request), stop)
        return lambda: train_stream(request, stop=stop, nice=self.settings.niceness)

    def trained(self, runs: list[tuple[str, TrainRequest]], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Run ``runs`` (label, request) in turn through the training queue, streaming the tab's outputs:
        (status, curve, samples, picker, download, last model); the last names the session model."""
        store = self.store
        session = _session(request)
        stop = store.stop_event(session)
        histories = {label: RunHistory() for label, _ in runs}
        kept: list[SessionModel] = []

        def all_runs() -> Iterator[dict[str, Any]]:
            for label, run in runs:
                if stop.is_set():
                    return
                for update in self.run_stream(run, stop)():
                    yield {**update, "_run": label}

        def keep(label: str) -> None:
            history = histories[label]
            model = history.model()
            if model is not None and not any(k.history is history for k in kept):
                label = trained_label(model, runs[0][1].size, history.best_val)
                kept.append(store.add(session, model, label, history, training_text=runs[0][1].text))

        last_yield = 0.0
        try:
            for update in queued_stream(self.training_queue, all_runs, stop):
                if update["kind"] == "queued":
                    place = update["place"]
                    queued = {"status": "queued", "place": place}
                    yield queued, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), queued_markdown(place)
                    continue
                label = update["_run"]
                histories[label].apply(update)
                if update["kind"] == "done":
                    keep(label)
                now = time.monotonic()
                if now - last_yield >= UPDATE_INTERVAL_S:
                    last_yield = now
                    one = len(runs) == 1
                    shown = {"": histories[label]} if one else histories
                    yield (
                        status_of(histories[label], None if one else label),
                        curve_frame(shown, val_only=not one),
                        samples_text(shown),
                        gr.skip(),
                        gr.skip(),
                        gr.skip(),
                        progress_markdown(shown),
                    )
        except ChargenError as exc:
            raise _error(exc) from None
        except Exception as exc:
            message = zero_gpu_refusal(exc)
            if message is not None:
                raise gr.Error(message, title=text("train.error.gpu_title"), print_exception=False) from None
            raise
        finally:
            for label in histories:  # Stop or a lost connection: keep the best weights that arrived
                keep(label)
        if not kept:
            raise gr.Error(text("train.error.nothing_kept"), print_exception=False)
        one = len(runs) == 1
        final = final_status(kept[0], histories[runs[0][0]]) if one else _compare_status(kept, histories)
        newest = kept[-1]
        shown = {"": histories[runs[0][0]]} if one else histories
        yield (
            final,
            curve_frame(shown, val_only=not one),
            samples_text(shown),
            self.picker(request, newest.name),
            gr.update(value=str(store.zip(session, newest.name)), visible=True),
            newest.name,
            progress_markdown(shown, newest.label),
        )

    def train(
        self, text: Any, cell: Any, seconds: Any, size: Any, unit: Any, vocab_size: Any, request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        """Train a model on ``text`` for ``seconds``; stream progress; the last update names the session model.

        ``unit`` is "characters" or "words"; ``vocab_size`` is a word model's count of tokens."""
        settings = self.settings
        try:
            parsed = parse_train_request(
                text, cell, seconds, size, settings.max_seconds, settings.min_seconds, unit, vocab_size
            )
        except ChargenError as exc:
            raise _error(exc) from None
        yield from self.trained([(parsed.cell, parsed)], request)

    def compare_cells(
        self, text: Any, seconds: Any, size: Any, unit: Any, vocab_size: Any, request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        """Train rnn, lstm and gru on ``text`` for ``seconds`` each and overlay their validation curves."""
        settings = self.settings
        limit = settings.max_seconds
        if settings.zero_gpu:  # three charged GPU calls
            limit = max(settings.min_seconds, min(limit, zero_gpu_max_seconds(runs=3)))
        try:
            parsed = [
                parse_train_request(text, c, seconds, size, limit, settings.min_seconds, unit, vocab_size)
                for c in CELLS
            ]
        except ChargenError as exc:
            raise _error(exc) from None
        yield from self.trained([(p.cell, p) for p in parsed], request)

    def stop(self, request: gr.Request) -> None:
        """Stop this caller's training; the best weights so far are kept."""
        self.store.request_stop(_session(request))

    def read_text_file(self, path: str | None) -> tuple[Any, Any]:
        """An uploaded .txt as the text box's value (the file box emptied either way, so the next file
        can be dropped straight in)."""
        if not path:
            return gr.skip(), gr.skip()
        try:
            return read_upload(path), None
        except ChargenError as exc:
            gr.Warning(str(exc))
            return gr.skip(), None

    def upload_model(self, path: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A downloaded model's .zip, back in this session: (status, picker, its name)."""
        if not path:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            kept = self.store.load_zip(_session(request), path)
        except ChargenError as exc:
            raise _error(exc) from None
        return (
            {"status": "uploaded", "model": kept.name, "cell": kept.model.cell, "unit": kept.model.unit},
            self.picker(request, kept.name),
            kept.name,
        )

    def push(self, repo_id: str, request: gr.Request, oauth_token: gr.OAuthToken | None = None) -> str:
        """Push the session's newest model (trained or uploaded last) to ``repo_id`` on the Hub."""
        names = self.store.names(_session(request))
        name = names[-1] if names else None
        if not name:
            raise gr.Error(text("train.error.no_model"), print_exception=False)
        token = oauth_token.token if oauth_token is not None else None
        try:
            url = push_session_model(self.store, _session(request), name, repo_id, token, self.settings.hub_endpoint)
        except ChargenError as exc:
            raise _error(exc) from None
        return f"{text('train.pushed')} [{url}]({url})"

    def cost(self, seconds: Any) -> str:
        """What training for ``seconds`` costs on ZeroGPU (empty elsewhere)."""
        return cost_text(seconds, self.settings)


class TrainTab:
    """The Train tab: :meth:`render` adds its components inside the ``gr.Tab`` being built,
    :meth:`wire_events` connects them to a :class:`TrainHandlers` and the page's model picker, which a
    trained or uploaded model joins for its session."""

    def __init__(self, handlers: TrainHandlers) -> None:
        self.handlers = handlers
        self.settings = handlers.settings

    @classmethod
    def builder(
        cls, session_models: SessionModels, settings: TrainTabSettings | None = None
    ) -> Callable[[Any], TrainTab]:
        """A tab builder for :func:`chargen.app.demo.build_demo`: called inside its ``gr.Tab`` with the
        Generate tab's parts (``parts.model``, the model picker), it renders the tab and wires its events."""

        def build(parts: Any) -> TrainTab:
            picker = parts.model
            tab = cls(TrainHandlers(session_models, list(picker.choices), settings))
            tab.render()
            tab.wire_events(picker)
            return tab

        return build

    def render(self) -> None:
        """The text and upload, the model's settings and budget, progress, curves, samples, download and push."""
        # Its paragraph is two entries, before and after the `.txt` (code, which the page never translates).
        intro = text("train.intro.after_file", min_chars=f"{MIN_CHARS:,}", max_mb=MAX_BYTES // 2**20)
        gr.Markdown(f"## {text('train.intro.title')}\n{text('train.intro.before_file')} `.txt`{intro}")
        gr.Markdown(KEPT_LINE, elem_id="train_kept")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                self.text = gr.Textbox(
                    label=text("train.text.label"),
                    lines=8,
                    max_lines=12,
                    placeholder=text("train.text.placeholder", min_chars=f"{MIN_CHARS:,}"),
                    elem_id="train_text",
                )
                self.upload = gr.File(
                    label=text("train.upload.label"),
                    file_types=[".txt"],
                    type="filepath",
                    height=110,
                    elem_id="train_file",
                )
            with gr.Column(scale=2):
                self.cell = gr.Radio(cell_choices(), value="gru", label=text("train.cell.label"), elem_id="train_cell")
                self.size = gr.Radio(
                    size_choices(), value="small", label=text("train.size.label"), elem_id="train_size"
                )
                with gr.Row(equal_height=True):
                    self.unit = gr.Radio(
                        unit_choices(),
                        value="characters",
                        label=text("train.unit.label"),
                        info=text("train.unit.info"),
                        elem_id="train_unit",
                    )
                    self.vocab_size = gr.Number(
                        value=DEFAULT_TAB_VOCAB_SIZE,
                        minimum=2,
                        maximum=MAX_TAB_VOCAB_SIZE,
                        precision=0,
                        label=text("train.vocab_size.label"),
                        info=text("train.vocab_size.info"),
                        visible=False,
                        elem_id="train_vocab_size",
                    )
                self.seconds = gr.Slider(
                    self.settings.min_seconds,
                    self.settings.max_seconds,
                    value=self.settings.default_seconds,
                    step=5,
                    label=text("train.seconds.label"),
                    elem_id="train_seconds",
                )
                self.cost = gr.Markdown(
                    cost_text(self.settings.default_seconds, self.settings),
                    visible=self.settings.zero_gpu,
                    elem_id="train_cost",
                )
                with gr.Row():
                    self.train_button = gr.Button(
                        text("train.button"), variant="primary", elem_id="train_button", scale=2
                    )
                    self.stop_button = gr.Button(text("train.stop"), elem_id="train_stop", scale=1)
                self.compare_button = gr.Button(text("train.compare"), size="sm", elem_id="train_compare")
        with gr.Row(equal_height=False):
            # The API's JSON (clients parse it) and the same progress in words beside it, for people.
            self.progress = gr.Markdown(text("train.progress.empty"), elem_id="train_progress", container=True)
            self.status = gr.JSON(label=text("train.status.label"), elem_id="train_status")
        with gr.Row(equal_height=False):
            self.curve = gr.LinePlot(
                x="step",
                y="loss",
                color="curve",
                x_title=text("train.chart.x"),
                y_title=text("train.chart.y"),
                color_title=text("train.chart.legend"),
                label=text("train.chart.label"),
                color_map=CURVE_COLORS,
                height=320,
                elem_id="train_curve",
            )
            self.samples = gr.Textbox(
                label=text("train.samples.label"),
                lines=12,
                max_lines=12,
                interactive=False,
                autoscroll=True,
                elem_id="train_samples",
            )
        with gr.Row(equal_height=False):
            with gr.Column():
                self.download = gr.DownloadButton(
                    text("train.download"), visible=False, elem_id="train_download", size="md"
                )
                self.model_zip = gr.File(
                    label=text("train.upload_zip.label"),
                    file_types=[".zip"],
                    type="filepath",
                    height=110,
                    elem_id="train_upload_zip",
                )
            with gr.Column():
                if self.settings.oauth:
                    gr.LoginButton(elem_id="train_login")
                self.repo = gr.Textbox(
                    label=text("train.repo.label"), placeholder="your-name/my-char-model", elem_id="repo"
                )
                self.push_button = gr.Button(text("train.push"), size="md", elem_id="train_push")
                self.push_result = gr.Markdown(elem_id="train_push_result")
        # A hidden box, not gr.State: any State (or an unload event) makes gradio hold a heartbeat stream
        # open for the page's whole life, so the page never goes network-idle and tools that wait for
        # that (../shared/tools/look.py) never see it load. The name is useless to other sessions anyway.
        self.last_model = gr.Textbox(label=text("train.last_model.label"), visible=False, elem_id="train_last_model")

    def wire_events(self, model_picker: gr.Dropdown) -> None:
        """``/train``, ``/compare_cells``, ``/stop_training``, ``/upload_model``, ``/push`` and the tab's own events."""
        handlers = self.handlers
        # The readable progress comes last: /train's first outputs stay as API clients index them.
        outputs = [self.status, self.curve, self.samples, model_picker, self.download, self.last_model, self.progress]
        training = self.train_button.click(
            handlers.train,
            inputs=[self.text, self.cell, self.seconds, self.size, self.unit, self.vocab_size],
            outputs=outputs,
            api_name="train",
            concurrency_id="train",
            concurrency_limit=4,  # the rest wait in TrainingQueue, which reports their place
            show_progress="minimal",
            preprocess=False,
        )
        comparing = self.compare_button.click(
            handlers.compare_cells,
            inputs=[self.text, self.seconds, self.size, self.unit, self.vocab_size],
            outputs=outputs,
            api_name="compare_cells",
            concurrency_id="train",
            show_progress="minimal",
            preprocess=False,
        )
        for event in (training, comparing):
            event.success(None, js=WARN_BEFORE_UNLOAD_JS)
        self.stop_button.click(handlers.stop, api_name="stop_training", queue=False)
        self.unit.change(
            lambda chosen: gr.update(visible=chosen == "words"),
            inputs=self.unit,
            outputs=self.vocab_size,
            queue=False,
            api_visibility="private",
            show_progress="hidden",
        )
        self.upload.upload(
            handlers.read_text_file, inputs=self.upload, outputs=[self.text, self.upload], api_visibility="private"
        )
        self.model_zip.upload(
            handlers.upload_model,
            inputs=self.model_zip,
            outputs=[self.status, model_picker, self.last_model],
            api_name="upload_model",
        ).success(None, js=WARN_BEFORE_UNLOAD_JS)
        self.push_button.click(handlers.push, inputs=[self.repo], outputs=self.push_result, api_name="push")
        if self.settings.zero_gpu:
            self.seconds.change(handlers.cost, inputs=self.seconds, outputs=self.cost, queue=False)
        # No demo.unload(...) to end the session when the page closes: it opens the same heartbeat stream
        # (see last_model above). The store's sweeper removes a session's folder after its idle limit.


def _stoppable(stream: Iterator[dict[str, Any]], stop: Any) -> Iterator[dict[str, Any]]:
    """Close ``stream`` once ``stop`` is set. On ZeroGPU, closing the parent's stream stops the forked
    worker's generator (spaces/zero/wrappers.py sets its stop event); the best weights already came back."""
    try:
        for update in stream:
            yield update
            if stop.is_set():
                return
    finally:
        stream.close()


def _compare_status(kept: list[SessionModel], histories: Mapping[str, RunHistory]) -> dict[str, Any]:
    by_cell = {k.model.cell: k for k in kept}
    return {
        "status": "done",
        "model": kept[-1].name,
        "models": {cell: k.name for cell, k in by_cell.items()},
        "steps": {cell: histories[cell].step for cell in by_cell if cell in histories},
        "val_loss": {
            cell: round(histories[cell].best_val, 4)
            for cell in by_cell
            if cell in histories and histories[cell].best_val is not None
        },
    }
