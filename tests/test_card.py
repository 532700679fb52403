"""chargen.card: the one model card template. Front matter read back with a plain YAML parser (the
oracle), the body's parts in order, what huggingface_hub reads of the card, and a session model's card."""

from __future__ import annotations

from pathlib import Path

import yaml

from chargen.app.session.card import write_card
from chargen.app.session.history import RunHistory
from chargen.card import CardContent, model_card, write_model_card
from tests.helpers import tiny_model


def front_matter_and_body(text: str) -> tuple[dict, str]:
    """The card's YAML front matter, parsed by PyYAML alone, and the Markdown after it."""
    assert text.startswith("---\n")
    block, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(block), body


def test_the_front_matter_comes_from_card_data_with_chargens_keys() -> None:
    content = CardContent("tiny", "A tiny model.", tags=("shakespeare", "char-rnn"), license="mit")
    meta, _ = front_matter_and_body(str(model_card(tiny_model(cell="gru"), content)))
    assert meta == {
        "library_name": "chargen",
        "license": "mit",
        "pipeline_tag": "text-generation",
        "tags": ["char-rnn", "gru", "text-generation", "shakespeare"],  # each tag once
    }
    without_license, _ = front_matter_and_body(str(model_card(tiny_model(), CardContent("t", "s"))))
    assert "license" not in without_license


def test_the_body_has_its_parts_in_order_and_ends_with_a_line_break() -> None:
    content = CardContent(
        "My model",
        "A character-level LSTM.",
        facts=[("cell", "lstm (2 x 16)"), ("weights", "4,090")],
        sections=[("Samples", "- `a {{ b }} <c>`"), ("Notes", "none")],
        prompt='say "hi"\n',
    )
    _, body = front_matter_and_body(str(model_card(tiny_model(), content)))
    expected = [
        "# My model (chargen)",
        "A character-level LSTM.",
        "| | |\n|---|---|\n| cell | lstm (2 x 16) |\n| weights | 4,090 |\n",
        "![loss curve](loss.png)",
        "## Samples\n\n- `a {{ b }} <c>`\n",  # values are text: never rendered again, never escaped
        "## Notes\n\nnone\n",
        "## Use it",
        'chargen.generate(model, "say \\"hi\\"\\n", 300, temperature=0.8)',  # the prompt as Python spells it
    ]
    positions = [body.index(part) for part in expected]
    assert positions == sorted(positions)
    assert body.endswith("```\n") and not body.endswith("\n\n")
    no_curve = str(model_card(tiny_model(), CardContent("t", "s", loss_curve=False)))
    assert "loss.png" not in no_curve


def test_huggingface_hub_reads_back_what_was_written(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard, metadata_load

    path = write_model_card(tmp_path, tiny_model(cell="rnn"), CardContent("t", "s", facts=[("a", "b")]))
    assert path == tmp_path / "README.md"
    assert metadata_load(path)["tags"] == ["char-rnn", "rnn", "text-generation"]
    card = ModelCard.load(path)
    assert card.data.library_name == "chargen" and "| a | b |" in card.text


def test_a_session_models_card_has_the_runs_figures_and_samples(tmp_path: Path) -> None:
    history = RunHistory(
        train=[[5, 2.5], [10, 2.1]],
        val=[[10, 2.2]],
        samples=[f"step {i}: sample `{i}`\nline" for i in range(8)],
        step=10,
        elapsed=12.3,
        done={"chars": 12345, "stopped_early": True},
    )
    model = tiny_model(seed=1)
    write_card(tmp_path, model, history, "LSTM small, trained here")
    meta, body = front_matter_and_body((tmp_path / "README.md").read_text(encoding="utf-8"))
    assert meta == {
        "library_name": "chargen",
        "pipeline_tag": "text-generation",
        "tags": ["char-rnn", "lstm", "text-generation"],
    }
    assert body.startswith(
        "\n# LSTM small, trained here (chargen)\n\nA character-level LSTM trained in the chargen app"
    )
    assert f"| weights | {model.num_parameters():,} |" in body
    assert "| vocabulary | 10 characters |" in body
    assert "| training text | 12345 characters |" in body
    assert "| steps | 10 in 12 s (stopped early) |" in body
    assert "| best validation loss | 2.200 nats/char (5% of the text held out as blocks) |" in body
    # The newest six samples, one line each, backquotes made safe for the inline code span.
    samples = body.split("## Samples during training\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert samples == [f"- `step {i}: sample '{i}' / line`" for i in range(2, 8)]
    assert "![loss curve](loss.png)" in body and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_with_no_points_has_no_curve_and_says_so(tmp_path: Path) -> None:
    write_card(tmp_path, tiny_model(), RunHistory(), "empty")
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert not (tmp_path / "loss.png").exists() and "loss.png" not in text
    assert "- (no sample was taken)" in text and "| best validation loss | none nats/char" in text
