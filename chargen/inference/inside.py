"""Looking inside a model: every temperature at once, what it expected, which cells track what, beam search.

All four run on the step engine that generates (:func:`chargen.inference.engine.start_stepper`, int8 by
default on the CPU), so what they show is what generation does:

- :func:`sweep` continues one prompt at several temperatures from one primed state, one batch
  row per temperature, each row decoded exactly as :func:`chargen.inference.generate.compare` decodes its
  sampled row: the same seed gives the same text. :func:`samples` makes N samples at one
  temperature with seeds ``s, s + 1, ...``.
- :func:`expectations`: for each character of a text after the first, the probability the
  model gave it (at T = 1) and its top 5 guesses.
- :func:`activations` records every unit's state after each character; :func:`find_cells`
  ranks units by how well they follow simple properties of the text (:func:`text_properties`).
- :func:`beam_search`: the likeliest continuation the beam can find, with its log-probability.

A word model (``model.unit == "word"``) is looked inside at the level of its tokens: a step reads
or writes one token, so expectations and activations have one entry per token of the text as
:meth:`chargen.vocab.Vocab.encode` cuts it (labelled with the token's text), and candidates are
tokens. Lengths are still in characters, as in :mod:`chargen.inference.generate`: a continuation runs until
it has written ``length`` characters and is cut there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chargen.checks import MAX_SEED, check_length, check_seed, check_temperature
from chargen.errors import ConfigError
from chargen.inference.decoding import gumbel_noise
from chargen.inference.engine import reference_model, resolve_precision, start_stepper, step_network
from chargen.inference.generate import cut_text, prepare_prompt
from chargen.inference.loops import Loop, find_loop
from chargen.model import CharRNN

DEFAULT_TEMPERATURES = (0.0, 0.3, 0.6, 1.0, 1.5)
"""The sweep's temperatures when none are given."""
MAX_SWEEP_ROWS = 16
"""The most continuations one sweep (or one call of :func:`samples`) makes."""
TOP_GUESSES = 5
"""How many of the model's guesses :func:`expectations` lists per character (per token of a word model)."""
MAX_BEAM_WIDTH = 16
CELL_KINDS = ("hidden", "cell")


# --- shared checks ------------------------------------------------------------------------------


def _check_model(model: CharRNN, precision: str, *, needs_state: bool = False) -> str:
    """The precision to step ``model`` at. An n-gram model (counts, no network) steps through its own
    stepper and serves every view but those that read a network's state (``needs_state``: cells)."""
    if getattr(model, "cell", None) == "ngram":
        if needs_state:
            raise ConfigError("an n-gram model has no cells: it keeps counts of what followed each context, no state")
        return resolve_precision(model, precision)
    if not isinstance(model, CharRNN):
        raise ConfigError(f"model must be a chargen CharRNN, got {type(model).__name__}")
    return resolve_precision(model, precision)


def _temperature_name(temperature: float) -> str:
    return "greedy (T = 0)" if temperature == 0 else f"T = {temperature:g}"


# --- temperature sweep --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepEntry:
    """One continuation of a sweep: its temperature, the seed it was drawn with, the text, its loop."""

    temperature: float
    seed: int
    text: str
    loop: Loop | None

    @property
    def loop_line(self) -> str | None:
        """One line about the text's repeating tail, or ``None`` when it does not end in a loop."""
        return None if self.loop is None else self.loop.describe(f"the text at {_temperature_name(self.temperature)}")

    def to_dict(self) -> dict[str, object]:
        """``{"temperature", "seed", "text", "loop"}``, the loop as its one line (or ``None``)."""
        return {"temperature": self.temperature, "seed": self.seed, "text": self.text, "loop": self.loop_line}


def _check_temperatures(temperatures: Sequence[float]) -> list[float]:
    if isinstance(temperatures, (str, bytes)) or not isinstance(temperatures, Sequence):
        raise ConfigError(f"temperatures must be a list of numbers, got {type(temperatures).__name__}")
    if not 1 <= len(temperatures) <= MAX_SWEEP_ROWS:
        raise ConfigError(f"a sweep takes 1 to {MAX_SWEEP_ROWS} temperatures, got {len(temperatures)}")
    return [check_temperature(t) for t in temperatures]


def sweep(
    model: CharRNN,
    prompt: str,
    length: int,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    seed: int | None = None,
    precision: str = "auto",
) -> list[SweepEntry]:
    """Continue ``prompt`` at each of ``temperatures`` (0 = greedy), from one primed state, in one batch.

    Every row uses the same ``seed`` (a fresh one when ``None``), so each entry's text is
    exactly :func:`chargen.inference.generate.compare`'s sampled text (its greedy text at T = 0) for the
    same prompt, length, temperature and seed. Entries come in the order given.

    >>> [e.temperature for e in sweep(model, "ROMEO:", 50, [0, 1.0], seed=7)]  # doctest: +SKIP
    [0.0, 1.0]
    """
    temperatures = _check_temperatures(temperatures)
    seed = check_seed(seed)
    return _decode_rows(model, prompt, length, [(t, seed) for t in temperatures], precision)


def samples(
    model: CharRNN,
    prompt: str,
    length: int,
    temperature: float,
    count: int,
    seed: int | None = None,
    precision: str = "auto",
) -> list[SweepEntry]:
    """``count`` continuations of ``prompt`` at one ``temperature``, with seeds ``seed, seed + 1, ...``.

    Each equals :func:`chargen.inference.generate.generate` with its own seed; all come from one batch.
    """
    temperature = check_temperature(temperature)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SWEEP_ROWS:
        raise ConfigError(f"count must be a whole number from 1 to {MAX_SWEEP_ROWS}, got {count!r}")
    seed = check_seed(seed)
    if seed + count - 1 > MAX_SEED:
        raise ConfigError(f"seed must be at most 2**63 - {count} so that seed + {count - 1} is a seed, got {seed}")
    return _decode_rows(model, prompt, length, [(temperature, seed + i) for i in range(count)], precision)


def _decode_rows(
    model: CharRNN, prompt: str, length: int, rows: list[tuple[float, int]], precision: str
) -> list[SweepEntry]:
    """One batch row per ``(temperature, seed)``, each decoded as ``compare`` decodes its sampled row.

    ``compare`` picks ``argmax(noise + logits * (1 / T))`` with Gumbel noise drawn for all steps
    from a generator seeded with the seed (no noise and scale 1 at T = 0); so does every row
    here, with the same fused op, so a row is the same whichever rows run beside it.
    """
    precision = _check_model(model, precision)
    length = check_length(length)
    prepared = prepare_prompt(model, prompt)
    vocab_size = len(model.vocab)
    # One block of noise per distinct seed, each row reading its seed's block: a word model's
    # vocabulary makes a block (length, V) tens of MB, so rows sharing a seed (every row of a
    # sweep) share it instead of each holding a copy.
    seeds = list(dict.fromkeys(seed for temperature, seed in rows if temperature > 0.0))
    noise_blocks = torch.empty(max(1, len(seeds)), length if seeds else 1, vocab_size)
    for k, seed in enumerate(seeds):
        noise_blocks[k] = gumbel_noise(length, vocab_size, torch.Generator().manual_seed(seed))
    block_of_row = [seeds.index(seed) if temperature > 0.0 else 0 for temperature, seed in rows]
    noisy = [temperature > 0.0 for temperature, _ in rows]
    scales = [1.0 / temperature if temperature > 0.0 else 1.0 for temperature, _ in rows]
    # A word model's step writes a whole token: the batch runs until every row has written `length`
    # characters (at most `length` steps, the noise drawn above), and each row is cut there, as
    # chargen.inference.generate.TextLength and comparison_of do for compare's pair of rows.
    token_lengths = torch.tensor(model.vocab.token_lengths()) if model.unit == "word" else None
    written = torch.zeros(len(rows), dtype=torch.long)
    with torch.inference_mode():
        stepper = start_stepper(model, prepared.ids, len(rows), precision)
        device = stepper.logits.device
        noise_blocks = noise_blocks.to(device)
        blocks = torch.tensor(block_of_row, device=device)  # (rows,)
        # T = 0 rows add no noise (and scale 1): their argmax is the logits' own, as compare's greedy row.
        keep_noise = torch.tensor(noisy, device=device)[:, None]  # (rows, 1)
        scale = torch.tensor(scales, device=device)[:, None]  # (rows, 1)
        step_noise = torch.zeros(len(rows), vocab_size, device=device)
        no_noise = torch.zeros((), device=device)
        chosen = torch.empty(length, len(rows), dtype=torch.long, device=device)
        logits = stepper.logits
        steps = length
        for t in range(length):
            if seeds:
                torch.where(keep_noise, noise_blocks[blocks, t], no_noise, out=step_noise)  # (rows, V)
            torch.argmax(torch.addcmul(step_noise, logits, scale), dim=1, out=chosen[t])
            if token_lengths is not None:
                written += token_lengths[chosen[t].cpu()]
                if int(written.min()) >= length:
                    steps = t + 1
                    break
            if t + 1 < length:
                logits = stepper.step(chosen[t])
        per_row = chosen[:steps].T.tolist()
    entries = []
    for (temperature, seed), ids in zip(rows, per_row, strict=True):
        text, _ = cut_text(model, ids, length)
        entries.append(SweepEntry(temperature=temperature, seed=seed, text=text, loop=find_loop(text)))
    return entries


# --- what the model expected --------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """One step of a text: the character (a word model's token) read there, the probability the model
    gave it at T = 1, and its top guesses (characters, or tokens)."""

    char: str
    p: float
    top: tuple[tuple[str, float], ...]

    @property
    def rank(self) -> int | None:
        """1 if the character was the model's first guess, 2 for its second ...; ``None`` beyond the list."""
        for i, (ch, _) in enumerate(self.top):
            if ch == self.char:
                return i + 1
        return None

    def to_dict(self) -> dict[str, object]:
        """``{"char", "p", "top": [[char, p], ...]}`` (for a word model ``char`` and the guesses are tokens)."""
        return {"char": self.char, "p": self.p, "top": [[ch, p] for ch, p in self.top]}


def text_ids(model: CharRNN, text: str) -> tuple[list[int], list[str]]:
    """The ids the model reads ``text`` as (:meth:`~chargen.vocab.Vocab.encode`: characters, or a word
    model's tokens), and the text of each: they join back to ``text``."""
    ids = model.vocab.encode(text)
    tokens = model.vocab.tokens
    return ids, [tokens[i] for i in ids]


def expectations(
    model: CharRNN, text: str, primed: int = 1, top: int = TOP_GUESSES, precision: str = "auto"
) -> list[Expectation]:
    """For each character of ``text`` after the first: the probability the model gave it, and its ``top`` guesses.

    The text is read as generation reads a prompt and its continuation: its first ``primed``
    characters as a prompt is primed (:meth:`~chargen.inference.engine.StepNetwork.start`: one
    forward pass for ``fp32``, ``fp16`` and ``exact``), the rest one step at a time on the network
    ``precision`` names (as generated characters are fed). So for a prompt and its greedy
    continuation with ``primed=len(prompt)`` every generated character is the top guess; with the
    default ``primed=1`` the prompt's characters are stepped too, and a generated character may lose
    first place only in a float-level near-tie. ``int8`` primes by stepping its own network, so there
    ``primed`` changes nothing: every character is read by stepping. Probabilities are at T = 1.

    A word model reads the text as the tokens :func:`text_ids` gives: one entry per token after
    the first, ``primed`` counts tokens, and the guesses are tokens. (Generation may write a text
    in other tokens than these, e.g. a known word spelled out in characters; the entries are the
    probabilities of this reading.)

    Characters the model does not know are refused (:class:`~chargen.errors.UnknownCharactersError`
    names them).
    """
    precision = _check_model(model, precision)
    if not isinstance(text, str):
        raise ConfigError(f"text must be a string, got {type(text).__name__}")
    ids, pieces = text_ids(model, text)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top:
        raise ConfigError(f"top must be a whole number of at least 1, got {top!r}")
    if isinstance(primed, bool) or not isinstance(primed, int) or primed < 1:
        raise ConfigError(f"primed must be a whole number of at least 1, got {primed!r}")
    if len(ids) < 2:
        return []
    primed = min(primed, len(ids) - 1)
    if step_network(model, precision).primes_by_stepping:
        primed = 1  # priming is stepping: the same logits, each from the network that generates
    top = min(top, len(model.vocab))
    with torch.inference_mode():
        stepper = start_stepper(model, ids[:primed], 1, precision)
        logits = torch.empty(len(ids) - 1, len(model.vocab))  # row i scores ids[i + 1]
        if primed > 1:
            # The prompt's own predictions: the forward pass that primes (repeated here, as the
            # stepper keeps only its last position).
            prompt_logits = _reference_logits(model, ids[:primed], precision)
            logits[: primed - 1] = prompt_logits[: primed - 1]
        logits[primed - 1] = stepper.logits[0]
        feed = torch.tensor(ids, device=stepper.logits.device)  # the stepper's device (a GPU model's too)
        for i in range(primed, len(ids) - 1):
            logits[i] = stepper.step(feed[i : i + 1])[0]
        probs = torch.softmax(logits.double(), dim=1)  # (T - 1, V)
        targets = torch.tensor(ids[1:])
        given = probs.gather(1, targets[:, None])[:, 0].tolist()
        top_p, top_ids = probs.topk(top, dim=1)
        top_p, top_ids = top_p.tolist(), top_ids.tolist()
    labels = model.vocab.tokens  # an id's text: a character, or a word model's token
    return [
        Expectation(
            char=pieces[i + 1],
            p=given[i],
            top=tuple((labels[j], p) for j, p in zip(top_ids[i], top_p[i], strict=True)),
        )
        for i in range(len(ids) - 1)
    ]


def _reference_logits(model: CharRNN, ids: list[int], precision: str) -> torch.Tensor:
    """``(len(ids), V)`` logits of the forward pass that primes a stepper of ``precision``."""
    reference = reference_model(model, "fp16" if precision == "fp16" else "fp32")
    logits, _ = reference(torch.tensor([ids], dtype=torch.long, device=model.device), None)
    return logits[0].float().cpu()


# --- cells --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activations:
    """Every unit's value after each step of a text (each character; each token of a word model).

    ``values[i, k, l, u]`` is unit ``u`` of layer ``l``'s state of kind ``kinds[k]`` (hidden, and
    for an LSTM cell) after reading step ``i``: ``text[i]``, or ``tokens[i]`` for a word model.
    """

    text: str
    kinds: tuple[str, ...]
    values: torch.Tensor  # (T, kinds, layers, H)
    tokens: tuple[str, ...] = ()
    """The text read at each step when a step is a token (they join to ``text``); empty: one step per character."""

    @property
    def steps(self) -> tuple[str, ...]:
        """The text read at each step: its characters, or a word model's tokens."""
        return self.tokens or tuple(self.text)

    @property
    def hidden(self) -> torch.Tensor:
        """``(T, layers, H)``: the hidden state of every layer after each character."""
        return self.values[:, 0]

    @property
    def cell(self) -> torch.Tensor | None:
        """``(T, layers, H)``: an LSTM's cell state after each character; ``None`` for GRU and RNN."""
        return self.values[:, 1] if "cell" in self.kinds else None

    def unit(self, layer: int, kind: str, unit: int) -> list[float]:
        """One unit's value after each step (character, or token)."""
        if kind not in self.kinds:
            raise ConfigError(f"kind must be one of {', '.join(self.kinds)} for this model, got {kind!r}")
        layers, size = self.values.shape[2], self.values.shape[3]
        for name, value, limit in (("layer", layer, layers), ("unit", unit, size)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
                raise ConfigError(f"{name} must be a whole number from 0 to {limit - 1}, got {value!r}")
        return self.values[:, self.kinds.index(kind), layer, unit].tolist()


def activations(model: CharRNN, text: str, precision: str = "auto") -> Activations:
    """Record every unit (hidden state, and cell state for an LSTM) after each character of ``text``.

    The text is read as generation reads it: its first character primes the network
    ``precision`` names, the rest are stepped. A word model reads the tokens :func:`text_ids`
    gives, one step each (recorded in ``tokens``). Unknown characters are refused by name.
    """
    precision = _check_model(model, precision, needs_state=True)
    if not isinstance(text, str):
        raise ConfigError(f"text must be a string, got {type(text).__name__}")
    ids, pieces = text_ids(model, text)
    if not ids:
        raise ConfigError("text is empty; cells need at least one character")
    kinds = CELL_KINDS if model.cell == "lstm" else CELL_KINDS[:1]
    layers, size = model.config.num_layers, model.config.hidden_size
    with torch.inference_mode():
        stepper = start_stepper(model, ids[:1], 1, precision)
        feed = torch.tensor(ids, device=stepper.logits.device)  # the stepper's device (a GPU model's too)
        values = torch.empty(len(ids), len(kinds), layers, size)
        for i in range(len(ids)):
            if i:
                stepper.step(feed[i : i + 1])
            hiddens, cells = stepper.layer_states()
            for layer, h in enumerate(hiddens):
                values[i, 0, layer] = h[0]
            for layer, c in enumerate(cells):
                values[i, 1, layer] = c[0]
    return Activations(text=text, kinds=kinds, values=values, tokens=tuple(pieces) if model.unit == "word" else ())


# Properties a unit might track. Each maps a text to one number per character: the property
# after reading that character (the state a unit holds then is what is compared with it).

_SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z' ]*:$")
_OPENING, _CLOSING = "([{", ")]}"


def text_properties(text: str) -> dict[str, list[float]]:
    """Simple properties of ``text``, one value per character (after reading it).

    - ``inside quotes``: 1 between an opening ``"`` and its closing one (the quotes included).
    - ``inside brackets``: how deeply nested in ``()``, ``[]``, ``{}`` (never below 0).
    - ``position in line``: characters since the last line break (0 on the break itself).
    - ``start of line``: 1 on the first character of a line.
    - ``speaker name``: 1 on the characters of a line like ``ROMEO:`` or ``First Citizen:``.
    - ``start of speaker name``: 1 on the first character of such a line.
    - ``indentation``: the leading spaces of the current line, in fours (tabs count as one level).
    """
    inside_quotes, brackets, position, start, speaker, speaker_start, indent = ([] for _ in range(7))
    quoted = False
    depth = 0
    column = 0
    line_indent = 0.0
    in_indent = True
    lines = text.split("\n")
    speaker_lines = [bool(_SPEAKER_LINE.match(line)) for line in lines]
    line_number = 0
    for i, ch in enumerate(text):
        at_start = i == 0 or text[i - 1] == "\n"
        if at_start and i:
            line_number += 1
            column, line_indent, in_indent = 0, 0.0, True
        if ch == '"':
            quoted = not quoted
            inside_quotes.append(1.0)
        else:
            inside_quotes.append(1.0 if quoted else 0.0)
        if ch in _OPENING:
            depth += 1
        brackets.append(float(depth))
        if ch in _CLOSING:
            depth = max(0, depth - 1)
        if ch == "\n":
            position.append(0.0)
        else:
            column += 1
            position.append(float(column))
        start.append(1.0 if at_start and ch != "\n" else 0.0)
        is_speaker = speaker_lines[line_number] and ch != "\n"
        speaker.append(1.0 if is_speaker else 0.0)
        speaker_start.append(1.0 if is_speaker and at_start else 0.0)
        if in_indent and ch == " ":
            line_indent += 0.25
        elif in_indent and ch == "\t":
            line_indent += 1.0
        elif ch != "\n":
            in_indent = False
        indent.append(line_indent)
    return {
        "inside quotes": inside_quotes,
        "inside brackets": brackets,
        "position in line": position,
        "start of line": start,
        "speaker name": speaker,
        "start of speaker name": speaker_start,
        "indentation": indent,
    }


PROPERTIES = tuple(text_properties(""))
"""The names of the properties :func:`find_cells` tries."""


def step_properties(text: str, tokens: Sequence[str] = ()) -> dict[str, list[float]]:
    """:func:`text_properties` with one value per step: per character, or when ``tokens`` (joining to
    ``text``) are given, per token: the value after the token's last character (the state a unit
    holds after a step has read all of it)."""
    values = text_properties(text)
    if not tokens:
        return values
    if "".join(tokens) != text:
        raise ValueError("the tokens must join to the text")
    ends, end = [], -1
    for token in tokens:
        end += len(token)
        ends.append(end)
    return {name: [series[i] for i in ends] for name, series in values.items()}


@dataclass(frozen=True)
class CellMatch:
    """A unit that follows a property of the text: its Pearson correlation ``r`` with it."""

    layer: int
    kind: str
    unit: int
    property: str
    r: float

    def to_dict(self) -> dict[str, object]:
        """``{"layer", "kind", "unit", "property", "r"}``."""
        return {"layer": self.layer, "kind": self.kind, "unit": self.unit, "property": self.property, "r": self.r}


def correlations(values: torch.Tensor, targets: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Pearson correlation of each column of ``values[T, U]`` with each column of ``targets[T, P]``.

    Returns ``r[U, P]`` (``r[U]`` for a single target ``[T]``), computed in float32 (to ~1e-6:
    float64 took 5-15x longer for 2,000 characters of a 2x512 LSTM). A constant column or target
    has no correlation: 0.
    """
    x = values.T.float().contiguous()  # (U, T): each unit's series contiguous, for the reductions
    y = torch.as_tensor(targets, dtype=torch.float32)
    single = y.dim() == 1
    y = y[:, None] if single else y
    if x.shape[1] != y.shape[0]:
        raise ValueError(f"need one target value per row: {x.shape[1]} rows, {y.shape[0]} values")
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=0)
    denominator = x.norm(dim=1)[:, None] * y.norm(dim=0)[None, :]  # (U, P)
    r = (x @ y) / denominator
    r = torch.where(denominator > 0, r, torch.zeros_like(r)).clamp(-1.0, 1.0).double()
    return r[:, 0] if single else r


def find_cells(
    model_or_activations: CharRNN | Activations,
    text: str | None = None,
    per_property: int = 3,
    properties: Sequence[str] | None = None,
    precision: str = "auto",
) -> list[CellMatch]:
    """Units ranked by ``|r|`` with each property of the text that varies in it, best first.

    Give a model and a text, or the :class:`Activations` of one. Each property contributes its
    ``per_property`` best units (any layer, hidden or cell state); properties that are constant
    over the text (no quotes in it, say) are left out. A word model's units are compared step by
    step too, with each property's value after each token (:func:`step_properties`).
    """
    if isinstance(model_or_activations, Activations):
        recorded = model_or_activations
    else:
        if text is None:
            raise ConfigError("find_cells needs a text to read when given a model")
        recorded = activations(model_or_activations, text, precision)
    if isinstance(per_property, bool) or not isinstance(per_property, int) or per_property < 1:
        raise ConfigError(f"per_property must be a whole number of at least 1, got {per_property!r}")
    names = PROPERTIES if properties is None else tuple(properties)
    unknown = [name for name in names if name not in PROPERTIES]
    if unknown:
        raise ConfigError(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {unknown}; known: {list(PROPERTIES)}")
    kinds = recorded.kinds
    steps, _, layers, size = recorded.values.shape
    units = recorded.values.reshape(steps, -1)  # (T, K*L*H), in (kind, layer, unit) order
    values = step_properties(recorded.text, recorded.tokens)
    varying = [name for name in names if len(set(values[name])) > 1]
    if not varying:
        return []
    r_all = correlations(units, torch.tensor([values[name] for name in varying]).T)  # (K*L*H, P)
    matches = []
    for column, name in enumerate(varying):
        r = r_all[:, column]
        best = r.abs().topk(min(per_property, r.numel())).indices.tolist()
        for index in best:
            kind_index, rest = divmod(index, layers * size)
            layer, unit = divmod(rest, size)
            matches.append(CellMatch(layer=layer, kind=kinds[kind_index], unit=unit, property=name, r=float(r[index])))
    matches.sort(key=lambda m: -abs(m.r))
    return matches


# --- beam search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BeamResult:
    """The beam's best continuation (without the prompt), its log-probability at T = 1, its loop."""

    text: str
    logprob: float
    width: int
    loop: Loop | None

    @property
    def loop_line(self) -> str | None:
        """One line about the text's repeating tail, or ``None``."""
        return None if self.loop is None else self.loop.describe("the beam's text")

    def to_dict(self) -> dict[str, object]:
        """``{"text", "logprob", "loop"}``, the loop as its one line (or ``None``)."""
        return {"text": self.text, "logprob": self.logprob, "loop": self.loop_line}


def check_width(width: int) -> int:
    """``width`` if it is a whole number from 1 to :data:`MAX_BEAM_WIDTH`, else a :class:`ConfigError`."""
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_BEAM_WIDTH:
        raise ConfigError(f"beam width must be a whole number from 1 to {MAX_BEAM_WIDTH}, got {width!r}")
    return width


def beam_search(model: CharRNN, prompt: str, length: int, width: int = 4, precision: str = "auto") -> BeamResult:
    """The continuation of ``length`` characters with the highest log-probability the beam finds.

    Keeps the ``width`` likeliest partial continuations (summed log-probabilities at T = 1) and
    extends each by every character at each step, on one batch of ``width`` rows. Width 1 is
    greedy. All candidates have the same length, so no length normalisation is needed.

    A word model's candidates are sequences of tokens, extended by every token: one is complete
    once it has written ``length`` characters, and then stays in the beam unchanged (competing with
    the extensions of the others, which can only lose probability) until every candidate left is
    complete. The result is the best complete candidate's text cut to ``length`` characters, and
    ``logprob`` is that token sequence's log-probability (its last token may run past the cut).
    """
    precision = _check_model(model, precision)
    length = check_length(length)
    width = check_width(width)
    prepared = prepare_prompt(model, prompt)
    vocab_size = len(model.vocab)
    # Column `vocab_size` of a row's candidates is "stay as it is": open only to complete rows, and
    # it writes nothing. A character model's rows all complete at the last step together.
    written_by = torch.tensor([*model.vocab.token_lengths(), 0])  # (V + 1,)
    columns = vocab_size + 1
    with torch.inference_mode():
        stepper = start_stepper(model, prepared.ids, width, precision)
        device = stepper.logits.device
        scores = torch.full((width,), -math.inf, dtype=torch.float64, device=device)
        scores[0] = 0.0  # every row starts from the same primed state: expand one of them
        written = torch.zeros(width, dtype=torch.long)
        parents = torch.empty(length, width, dtype=torch.long, device=device)
        chosen = torch.empty(length, width, dtype=torch.long, device=device)  # a token id, or `vocab_size`: none
        keep = torch.arange(width, device=device)
        candidates = torch.empty(width, columns, dtype=torch.float64, device=device)
        steps = length
        for t in range(length):
            complete = (written >= length).to(device)  # (width,)
            logprobs = torch.log_softmax(stepper.logits.double(), dim=1)  # (width, V)
            torch.add(scores[:, None], logprobs, out=candidates[:, :vocab_size])
            candidates[:, :vocab_size].masked_fill_(complete[:, None], -math.inf)
            candidates[:, vocab_size] = torch.where(complete, scores, -math.inf)
            # Each finite candidate is distinct; with fewer than ``width`` of them the rest are
            # -inf rows that can never win.
            scores, best = candidates.reshape(-1).topk(width)
            torch.div(best, columns, rounding_mode="floor", out=parents[t])
            torch.remainder(best, columns, out=chosen[t])
            written = written[parents[t].cpu()] + written_by[chosen[t].cpu()]
            if bool(((written >= length) | torch.isinf(scores).cpu()).all()):
                steps = t + 1
                break
            if not torch.equal(parents[t], keep):  # rows that stay in place need no copying
                stepper.select_rows(parents[t])
            # A row that stays is complete: what it is fed no longer matters.
            stepper.step(torch.where(chosen[t] == vocab_size, 0, chosen[t]))
        row = 0  # topk sorts: row 0 is the best
        ids = []
        for t in range(steps - 1, -1, -1):
            token = int(chosen[t, row])
            if token != vocab_size:
                ids.append(token)
            row = int(parents[t, row])
        logprob = float(scores[0])
    text, _ = cut_text(model, ids[::-1], length)
    return BeamResult(text=text, logprob=logprob, width=width, loop=find_loop(text))


__all__ = [
    "DEFAULT_TEMPERATURES",
    "MAX_BEAM_WIDTH",
    "MAX_SWEEP_ROWS",
    "PROPERTIES",
    "Activations",
    "BeamResult",
    "CellMatch",
    "Expectation",
    "SweepEntry",
    "activations",
    "beam_search",
    "check_width",
    "correlations",
    "expectations",
    "find_cells",
    "samples",
    "step_properties",
    "sweep",
    "text_ids",
    "text_properties",
]
