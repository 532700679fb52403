"""The app's Generate page with a word-level model beside a character model (issue 17): the texts,
their steps, the distribution at a step replayed on the generated token ids, Stop, notices and the
API. Oracles: ``chargen.compare`` for the texts and the model's own forward at batch 1 over the
generated token ids for the distributions. The browser's lockstep playback is in test_word_browser.py."""

from __future__ import annotations

import asyncio
import os

import pytest
import torch

from chargen.app import views
from chargen.checkpoint import save_checkpoint
from chargen.errors import ConfigError
from chargen.inference.generate import compare, next_char_distribution, prepare_prompt
from chargen.inference.loops import find_loop
from chargen.inference.settings import SamplingSettings
from tests.helpers import build_app, make_text, pieces_of, tiny_model, tiny_word_model

PROMPT = "The cat sat on"
LENGTH = 120


@pytest.fixture(scope="module")
def word_app(tmp_path_factory: pytest.TempPathFactory):
    """The app over a tiny word model (the default) and a tiny character model of the same text."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield build_app(models={"words": tiny_word_model(), "chars": tiny_model(vocab=make_text())})
    finally:
        torch.set_num_threads(threads)


def last(updates):
    return list(updates)[-1]


def forward_distribution(model, prompt: str, token_ids: list[int], temperature: float = 1.0) -> torch.Tensor:
    """The oracle: the model's own forward at batch 1 over the prompt's ids then ``token_ids``."""
    ids = prepare_prompt(model, prompt).ids + token_ids
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids]), None)
    return torch.softmax(logits[0, -1] / temperature, dim=-1)


# --- generation through the handlers ---------------------------------------------------------------


def test_the_word_model_is_offered_beside_the_character_model_and_says_so(word_app) -> None:
    assert word_app.handlers.model_names == ["words", "chars"]
    header, facts = word_app.handlers.header("words")
    assert "one token at a time" in header and "likeliest next token" in header
    assert "word-level: 40 tokens" in facts and "words and spaces" in facts
    header, facts = word_app.handlers.header("chars")
    assert "one character at a time" in header and "characters," in facts and "tokens" not in facts


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.8, 0, 1.0), (1.3, 5, 0.9), (0.0, 0, 1.0)])
def test_generate_gives_compares_texts_with_steps_that_add_up(word_app, temperature, top_k, top_p) -> None:
    model = word_app.models["words"]
    updates = list(word_app.handlers.generate(PROMPT, temperature, LENGTH, top_k, top_p, "7", "words"))
    greedy, sampled, seed_used, loop_line, notices, data = updates[-1]
    settings = SamplingSettings(temperature=temperature, top_k=top_k or None, top_p=top_p, seed=7)
    want = compare(model, PROMPT, LENGTH, settings=settings)
    assert (greedy, sampled, seed_used) == (want.greedy, want.sampled, "7")
    assert len(greedy) == len(sampled) == LENGTH  # length is in characters for both kinds
    assert data["unit"] == "word" and data["done"] and notices == ""
    assert data["greedy_steps"] == want.greedy_steps and data["sampled_steps"] == want.sampled_steps
    assert sum(data["greedy_steps"]) == len(greedy) and sum(data["sampled_steps"]) == len(sampled)
    if temperature > 0:  # (the tiny model's greedy text is one letter over and over)
        assert len(data["sampled_steps"]) < len(sampled), "a word model's steps write more than a character"
    assert data["probs"] == [round(p, 4) for p in want.sampled_probs] and len(data["probs"]) == len(want.sampled_steps)
    # Every step but a text's last (cut at the length) wrote a whole token of the vocabulary.
    for text, steps in [(greedy, data["greedy_steps"]), (sampled, data["sampled_steps"])]:
        assert all(piece in model.vocab for piece in pieces_of(text, steps)[:-1])
    # The loop line and the parting point are about characters, as for character models.
    assert loop_line == data["loop_line"] == views.loop_sentence(greedy, find_loop(greedy))
    assert data["parting"] == views.parting_index(greedy, sampled)
    for update in updates:  # each partial update is a prefix, its steps adding up to it
        partial = update[5]
        assert greedy.startswith(update[0]) and sampled.startswith(update[1])
        assert sum(partial["greedy_steps"]) == len(update[0]) and sum(partial["sampled_steps"]) == len(update[1])
        assert len(partial["probs"]) == len(partial["sampled_steps"])


def test_a_character_models_page_data_has_no_steps(word_app) -> None:
    data = last(word_app.handlers.generate(PROMPT, 0.8, 40, 0, 1.0, "3", "chars"))[5]
    assert data["unit"] == "char" and data["greedy_steps"] == data["sampled_steps"] == []
    assert len(data["probs"]) == len(data["sampled"]) == 40


def test_the_batching_engine_serves_a_word_model_with_the_same_outputs(word_app) -> None:
    from chargen.app import demo as module
    from chargen.inference.batching import ServingSettings

    handlers = module.Handlers(module.offered_models(word_app.models), batching=ServingSettings(max_active=4))
    try:

        async def run():
            return [out async for out in handlers.generate_batched(PROMPT, 0.9, LENGTH, 0, 1.0, "5", "words")]

        batched = asyncio.run(run())[-1]
    finally:
        for engine in handlers.engines.values():
            engine.close()
    plain = last(word_app.handlers.generate(PROMPT, 0.9, LENGTH, 0, 1.0, "5", "words"))
    assert batched[:5] == plain[:5]
    for key in ["greedy_steps", "sampled_steps", "probs", "unit", "loop_line", "parting"]:
        assert batched[5][key] == plain[5][key], key


def test_unknown_characters_in_a_prompt_are_dropped_with_a_notice(word_app) -> None:
    model = word_app.models["words"]
    result = last(word_app.handlers.generate("Th\u00e9 cat\u263a sat", 0.8, 30, 0, 1.0, 1, "words"))
    assert "left out of the prompt: '\u00e9' '\u263a'" in result[4]
    want = compare(model, "Th cat sat", 30, temperature=0.8, seed=1)
    assert result[:2] == (want.greedy, want.sampled)
    assert "had no character the model knows" in last(word_app.handlers.generate("\u65e5\u672c", 0.8, 20))[4]


# --- Stop ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shown", [1, 13, 57, LENGTH])
def test_stop_remakes_the_characters_shown_with_consistent_steps(word_app, shown: int) -> None:
    full = last(word_app.handlers.generate(PROMPT, 0.8, LENGTH, 0, 1.0, "7", "words"))
    greedy, sampled, seed_used, loop_line, _, data = word_app.handlers.stopped(PROMPT, 0.8, shown, 0, 1.0, "7", "words")
    assert (greedy, sampled, seed_used) == (full[0][:shown], full[1][:shown], "7")
    assert data["stopped_at"] == shown and data["settings"]["length"] == shown and data["done"]
    assert sum(data["greedy_steps"]) == len(greedy) and sum(data["sampled_steps"]) == len(sampled)
    assert len(data["probs"]) == len(data["sampled_steps"])
    # The same steps as the full run's, the last one cut where the shown text ends.
    for key in ["greedy_steps", "sampled_steps"]:
        steps, whole = data[key], full[5][key]
        assert steps[:-1] == whole[: len(steps) - 1] and steps[-1] <= whole[len(steps) - 1]
    assert data["probs"] == full[5]["probs"][: len(data["sampled_steps"])]
    assert loop_line == views.loop_sentence(greedy, find_loop(greedy))


# --- the distribution at a step -------------------------------------------------------------------


def generated(model, temperature: float, seed: int, top_k=None, top_p=None):
    settings = SamplingSettings(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    return compare(model, PROMPT, LENGTH, settings=settings)


def steps_text(steps: list[int], cut: bool = True) -> str:
    return ",".join(map(str, steps)) + ("+" if cut else "")


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.8, None, None), (1.3, 5, 0.9), (0.0, None, None)])
def test_the_distribution_at_a_step_replays_the_generated_tokens(word_app, temperature, top_k, top_p) -> None:
    """The oracles: generation's own probability of each drawn token (the shading) is that token's
    bar at that step, and the bars at T = 1 are the model's forward over the generated token ids."""
    model = word_app.models["words"]
    index = {token: i for i, token in enumerate(model.vocab.tokens)}
    result = generated(model, temperature, 11, top_k, top_p)
    text, steps = result.sampled, result.sampled_steps
    pieces = pieces_of(text, steps)
    written = views.check_steps(steps_text(steps), text, model)
    assert written.pieces == tuple(pieces) and written.open_end
    start = 0
    for k, piece in enumerate(pieces):
        for position in sorted({start, start + len(piece) - 1}):  # any character of the token: its step
            data = views.step_distribution(model, PROMPT, text, position, temperature, top_k, top_p, written)
            assert data["step"] == k + 1 and data["start"] == start and data["unit"] == "word"
            rows = data["rows"]
            assert len(rows) == len(model.vocab) and sorted(r[0] for r in rows) == sorted(model.vocab.tokens)
            assert sum(r[1] for r in rows) == pytest.approx(1.0, abs=1e-4)
            marked = [r for r in rows if r[3]]
            if data["cut"]:  # the text ends inside this token: which one was drawn is not known
                assert k == len(pieces) - 1 and marked == [] and data["drawn"] == piece
                assert any(
                    r[0].startswith(piece) and r[1] == pytest.approx(result.sampled_probs[k], abs=1e-5) for r in rows
                )
            else:
                (drawn,) = marked
                assert drawn[0] == piece == data["drawn"]
                assert drawn[1] == pytest.approx(result.sampled_probs[k], abs=1e-5)
            oracle = forward_distribution(model, PROMPT, [index[p] for p in pieces[:k]])
            at_one = {r[0]: r[2] for r in rows}
            for token, i in index.items():
                assert at_one[token] == pytest.approx(float(oracle[i]), abs=2e-4)  # another path: float error
            if top_k:
                assert sum(r[1] > 0 for r in rows) <= top_k
        start += len(piece)


def test_the_generated_tokens_not_a_retokenisation_are_replayed(word_app) -> None:
    """A generated text often reads as other tokens than the model wrote ('t', 'he' reads as 'the'):
    the steps make the difference, and the distribution without them is another step's."""
    model = word_app.models["words"]
    vocab = model.vocab

    def read(text: str) -> list[str]:
        return [vocab.tokens[i] for i in vocab.encode(text)]

    for seed in range(40):
        result = generated(model, 1.5, seed)
        pieces = pieces_of(result.sampled, result.sampled_steps)
        if pieces[:-1] != read("".join(pieces[:-1])):
            break
    else:
        pytest.fail("no sampled text reads as other tokens than it was written in; the test needs one")
    text = result.sampled
    written = views.check_steps(steps_text(result.sampled_steps), text, model)
    k = next(i for i, (a, b) in enumerate(zip(pieces, read(text), strict=False)) if a != b)
    position = sum(map(len, pieces[:k])) + len(pieces[k]) - 1  # the last character of step k
    replayed = views.step_distribution(model, PROMPT, text, position, 1.5, None, None, written)
    assert replayed["drawn"] == pieces[k] and replayed["step"] == k + 1
    reread = views.step_distribution(model, PROMPT, text, position, 1.5)  # no steps: the text as the model reads it
    assert (reread["step"], reread["drawn"]) != (replayed["step"], replayed["drawn"])
    # next_char_distribution reads its prompt as the model tokenises it: right only where the two readings agree.
    before = "".join(pieces[:k])
    if read(PROMPT + before) == read(PROMPT) + pieces[:k]:
        expected = dict(next_char_distribution(model, PROMPT + before, 1.0))
        for token, _, p_one, _ in replayed["rows"]:
            assert p_one == pytest.approx(expected[token], abs=2e-3)


def test_the_distribution_endpoint_takes_the_steps(word_app) -> None:
    import gradio as gr

    model = word_app.models["words"]
    result = generated(model, 0.8, 4)
    text, steps = result.sampled, result.sampled_steps
    k = 5
    position = sum(steps[:k])
    for given in [
        steps_text(steps),
        steps_text(steps[:-1], cut=False) + f", {steps[-1]}+",
        f"[{', '.join(map(str, steps))}]+",
    ]:
        data = word_app.handlers.distribution(PROMPT, 0.8, "words", text, position, 0, 1.0, given)
        (drawn,) = [r for r in data["rows"] if r[3]]
        assert data["step"] == k + 1 and drawn[1] == pytest.approx(result.sampled_probs[k], abs=1e-5)
    # The page's chart gets the rows it draws: the likeliest and the drawn one.
    chart = word_app.handlers.page_distribution(PROMPT, 0.8, "words", text, position, 0, 1.0, steps_text(steps))
    assert len(chart["rows"]) <= 11 and [r for r in chart["rows"] if r[3]] == [drawn]
    # Next after the prompt (-1): every token, as the library computes it.
    after = word_app.handlers.distribution(PROMPT, 1.0, "words")
    expected = dict(next_char_distribution(model, PROMPT, 1.0))
    assert after["drawn"] is None and after["position"] == -1 and len(after["rows"]) == len(model.vocab)
    for token, p_t, _, _ in after["rows"]:
        assert p_t == pytest.approx(expected[token], abs=2e-3)
    for steps_given, message in [
        ("1,2", "steps must add up to the text's"),
        ("0," + steps_text(steps, cut=False), "steps must be the characters each step wrote"),
        ("three", "steps must be the characters each step wrote"),
        (",".join(["1"] * len(text)), None),  # every character is a token: a valid (other) reading
    ]:
        args = (PROMPT, 0.8, "words", text, position, 0, 1.0, steps_given)
        if message is None:
            assert word_app.handlers.distribution(*args)["step"] == position + 1
            continue
        with pytest.raises(gr.Error, match=message):
            word_app.handlers.distribution(*args)
        assert message in word_app.handlers.page_distribution(*args)["error"]


def test_steps_must_be_tokens_and_only_a_cut_last_one_may_be_part_of_one() -> None:
    model = tiny_word_model()
    word = next(t for t in model.vocab.tokens if len(t) >= 3 and t.isalpha())
    part = word[:2]
    assert part not in model.vocab
    text = f"{word} {part}"
    assert views.check_steps(f"{len(word)},1,2+", text, model).pieces == (word, " ", part)
    with pytest.raises(ConfigError, match="step 3 wrote 'ca', which is not a token|step 3 wrote"):
        views.check_steps(f"{len(word)},1,2", text, model)  # not cut: the last step must be a whole token
    with pytest.raises(ConfigError, match="step 1 wrote"):
        views.check_steps(f"2,{len(word) - 2},1,2+", text, model)  # a part of a word inside the text
    assert views.check_steps("", text, model) is None and views.check_steps(None, text, model) is None
    assert views.check_steps("1,2", "abc", tiny_model()) is None  # a character model's steps are its characters
    data = views.step_distribution(
        model, PROMPT, text, len(text) - 1, 1.0, written=views.check_steps(f"{len(word)},1,2+", text, model)
    )
    assert data["cut"] and data["drawn"] == part and not any(r[3] for r in data["rows"])
    assert data["context"].endswith(f"{word} ")


def test_the_api_distribution_has_a_steps_parameter_last() -> None:
    import inspect

    from chargen.app import demo as module

    names = list(inspect.signature(module.Handlers.distribution).parameters)
    assert names[1:9] == ["prompt", "temperature", "model_name", "text", "position", "top_k", "top_p", "steps"]


# --- the bundled word model -----------------------------------------------------------------------


def test_a_missing_bundled_model_is_skipped_with_a_notice(tmp_path, monkeypatch) -> None:
    """The app must start even when a bundled folder is absent (a word model not yet committed)."""
    from chargen.app import demo as module

    real = views.BUNDLED_MODELS
    model = tiny_word_model()
    save_checkpoint(model, tmp_path / "checkpoints" / "words")
    monkeypatch.setattr(views, "BUNDLED_MODELS", {"words": "checkpoints/words", "gone": "checkpoints/gone"})
    offered, notices = module.load_app_models(None, project_dir=tmp_path)
    assert [m.name for m in offered] == ["words"] and offered[0].model.unit == "word"
    assert len(notices) == 1 and "gone" in notices[0]
    assert real is not views.BUNDLED_MODELS


@pytest.mark.slow
def test_the_served_api_gives_steps_and_takes_them_back(word_app) -> None:
    from gradio_client import Client

    url = word_app.launch()
    try:
        client = Client(url, verbose=False)
        result = client.predict(PROMPT, 0.8, LENGTH, 0, 1.0, "9", "words", api_name="/generate")
        sampled, details = result[1], result[5]
        assert details["unit"] == "word" and sum(details["sampled_steps"]) == len(sampled) == LENGTH
        k = 3
        position = sum(details["sampled_steps"][:k])
        steps = steps_text(details["sampled_steps"])
        at = client.predict(PROMPT, 0.8, "words", sampled, position, 0, 1.0, steps, api_name="/distribution")
        (drawn,) = [row for row in at["rows"] if row[3]]
        assert at["step"] == k + 1 and round(drawn[1], 4) == details["probs"][k]
        assert len(at["rows"]) == len(word_app.models["words"].vocab)
        # Called as before (no steps), the text is read as the model tokenises it.
        assert client.predict(PROMPT, 0.8, "words", sampled, position, api_name="/distribution")["rows"]
    finally:
        word_app.demo.close()


def test_the_bundled_word_model_is_offered_beside_the_character_models() -> None:
    from chargen.app import demo as module

    offered, notices = module.load_app_models(None)
    by_name = {m.name: m.model for m in offered}
    assert notices == [] and list(by_name) == list(views.BUNDLED_MODELS)
    model = by_name["shakespeare-word"]
    assert model.unit == "word" and by_name["shakespeare"].unit == "char"
    handlers = module.Handlers(offered)
    out = last(handlers.generate("ROMEO:", 0.8, 200, 0, 1.0, "3", "shakespeare-word"))
    want = compare(model, "ROMEO:", 200, temperature=0.8, seed=3)
    assert out[:2] == (want.greedy, want.sampled) and out[5]["sampled_steps"] == want.sampled_steps
    assert "word-level: 4,000 tokens" in handlers.header("shakespeare-word")[1]
