"""The Train tab's words come from the catalogue (issue 23): its refusals are the catalogue's English filled
with the values, and every ``train.*`` entry with placeholders is matched by a message the tab really makes."""

from __future__ import annotations

import re

import pytest

from chargen.app.i18n import catalogue, placeholders, text
from chargen.app.session.checks import (
    MAX_TAB_VOCAB_SIZE,
    check_cell,
    check_seconds,
    check_size,
    check_text,
    check_unit,
    check_vocab_size,
)
from chargen.app.session.history import RunHistory
from chargen.errors import ChargenError
from tests.helpers import make_text

TEXT = make_text(words=3000)


REFUSALS = [
    (lambda: check_text("short"), "the text has 5 characters; training needs at least 10,000"),
    (lambda: check_text(b"ab\x00" * 5000), text("train.refusal.binary_file")),
    (lambda: check_text(12), "the text must be a string, got int"),
    (lambda: check_text("a" * 20_000), text("train.refusal.one_character")),
    (lambda: check_cell("cnn"), "cell must be one of rnn, lstm, gru, got 'cnn'"),
    (lambda: check_size("huge"), "size must be one of small, medium, got 'huge'"),
    (lambda: check_seconds(1, 60, 15), "seconds must be a number of seconds from 15 to 60, got 1"),
    (lambda: check_unit("bytes"), "unit must be one of characters, words, got 'bytes'"),
    (
        lambda: check_vocab_size(3, TEXT, "word"),
        f"vocabulary size must be a whole number from {len(set(TEXT))} (the text's distinct characters: "
        f"each has its own token) to {MAX_TAB_VOCAB_SIZE:,}, got 3",
    ),
]
"""Refusals of the tab's checks and their English, written out."""


@pytest.mark.parametrize(("refuse", "expected"), REFUSALS)
def test_the_tabs_refusals_are_the_catalogues_english(refuse, expected: str) -> None:
    with pytest.raises(ChargenError) as info:
        refuse()
    assert str(info.value) == expected
    assert any(_pattern(words).fullmatch(expected) for key, words in catalogue().items() if key.startswith("train."))


def test_every_train_template_is_matched_by_a_real_message() -> None:
    from chargen.app import train_views
    from chargen.app.session.zero_gpu import zero_gpu_refusal
    from tests.helpers import tiny_model

    history = RunHistory(train=[[0, 4.1], [50, 2.5]], val=[[0, 4.2], [25, 2.31]], step=50, seconds=130)
    history.elapsed = 70
    messages = [
        train_views.progress_markdown({"": history}),
        train_views.progress_markdown({"rnn": history, "gru": RunHistory()}),
        train_views.queued_markdown(2),
        train_views.cost_text(60, train_views.TrainTabSettings(zero_gpu=True)),
    ]
    history.done = {"stopped_early": True}
    messages.append(train_views.progress_markdown({"": history}, "GRU small, trained here (val 2.31)"))
    history.done = {"stopped_early": False}
    messages.append(train_views.progress_markdown({"": history}))
    char_model, word_model = tiny_model(), tiny_model(unit="word")
    for model in (char_model, word_model):
        messages += [train_views.trained_label(model, "small", 2.3), train_views.trained_label(model, "small", None)]
    refused = type("ZeroGpuError", (Exception,), {"title": "ZeroGPU quota exceeded", "message": "no time"})()
    messages.append(zero_gpu_refusal(refused))
    messages.append(text("train.model.uploaded", cell="gru", file="mine"))  # SessionStore.load_zip's label
    messages.append(text("train.model.uploaded_words", cell="gru", file="mine"))
    for refuse in (lambda: check_text("x" * 6 * 2**20), lambda: check_text("\x00" * 20_000)):
        with pytest.raises(ChargenError) as info:
            refuse()
        messages.append(str(info.value))
    messages += [expected for _, expected in REFUSALS]
    shown = [message.replace("**", "") for message in messages]
    templates = {key: words for key, words in catalogue().items() if key.startswith("train.") and placeholders(words)}
    unmatched = [key for key, words in templates.items() if not any(_pattern(words).search(m) for m in shown)]
    tested_elsewhere = {  # their messages need a session store or a file: tests/test_session_training.py
        "train.refusal.file_too_large",
        "train.refusal.not_utf8",
        "train.refusal.unreadable",
        "train.refusal.too_many_characters",
        "train.refusal.not_this_sessions",
        "train.refusal.zip_too_large",
        "train.refusal.not_a_zip",
        "train.refusal.zip_incomplete",
        "train.refusal.zip_unpacks_too_large",
        "train.text.placeholder",
        "train.intro.after_file",
    }
    assert set(unmatched) <= tested_elsewhere, sorted(set(unmatched) - tested_elsewhere)


def _pattern(words: str) -> re.Pattern[str]:
    """The catalogue entry as the page's script matches it: each placeholder any text."""
    parts = re.split(r"\{\w+\}", words.replace("**", ""))
    return re.compile("(.+?)".join(re.escape(part) for part in parts), re.S)
