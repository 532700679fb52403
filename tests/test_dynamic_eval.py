"""Dynamic evaluation: scored before each update, a copy adapts, the model itself is untouched."""

import json

import pytest
import torch

from chargen.checkpoint import save_checkpoint
from chargen.errors import ConfigError
from chargen.training.dynamic_eval import AdaptSettings, adapted_nll, score_adapted
from chargen.training.evaluate import nll_per_char, score_text
from tests.helpers import make_text, run_cli, tiny_model, tiny_word_model


def test_a_vanishing_learning_rate_scores_as_plain_eval_and_the_model_is_untouched() -> None:
    model = tiny_model("lstm")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.randint(0, len(model.vocab), (400,), generator=torch.Generator().manual_seed(1))
    static, count = nll_per_char(model, ids)
    adapted, adapted_count = adapted_nll(model, ids, AdaptSettings(lr=1e-12, segment=37))
    assert adapted_count == count == 399
    assert adapted == pytest.approx(static, abs=1e-5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_passage_read_twice_is_predicted_better_the_second_time() -> None:
    text = make_text(seed=3, words=60)
    model = tiny_model("gru", vocab=text, hidden=32)
    ids = torch.tensor(model.vocab.encode(text + text))
    half = len(model.vocab.encode(text))
    settings = AdaptSettings(lr=3e-4, segment=20, decay=0.0)
    static_second, _ = nll_per_char(model, ids[half - 1 :])
    # Adapted over both copies minus adapted over the first: the second copy's total.
    both, n_both = adapted_nll(model, ids, settings)
    first, n_first = adapted_nll(model, ids[:half], settings)
    adapted_second = (both * n_both - first * n_first) / (n_both - n_first)
    assert adapted_second < static_second - 0.05


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="adapt-lr must be above 0 and at most 0.0003"):
        AdaptSettings(lr=1e-3)
    with pytest.raises(ConfigError, match="character models only"):
        score_adapted(tiny_word_model(), "some text", AdaptSettings())


@pytest.mark.slow
def test_cli_prints_static_and_adapted_figures(tmp_path) -> None:
    text = make_text(seed=5, words=80)
    model = tiny_model("lstm", vocab=text)
    save_checkpoint(model, tmp_path / "m")
    (tmp_path / "t.txt").write_text(text)
    plain = run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt"))
    done = run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt"), "--adapt", "--adapt-lr", "2e-4")
    assert plain.returncode == 0 and done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["nats_per_char"] == json.loads(plain.stdout)["nats_per_char"]
    assert figures["nats_per_char"] == score_text(model, text)["nats_per_char"]
    assert figures["adapt_lr"] == 2e-4 and figures["adapted_nats_per_char"] > 0
    # The folder's adapt.json gives the default learning rate.
    (tmp_path / "m" / "adapt.json").write_text('{"lr": 5e-05}')
    done = run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt"), "--adapt")
    assert json.loads(done.stdout)["adapt_lr"] == 5e-05
    bad = run_cli("eval", str(tmp_path / "m"), str(tmp_path / "t.txt"), "--adapt", "--adapt-lr", "1e-3")
    assert bad.returncode == 2 and "at most 0.0003" in bad.stderr


def test_the_curve_ends_at_evals_static_and_adapted_figures() -> None:
    """The Look inside view's curve: running means whose last points are plain eval's and --adapt's."""
    from chargen.training.dynamic_eval import adaptation_curve

    text = make_text(seed=5, words=50)
    model = tiny_model("lstm", vocab=text, hidden=24)
    settings = AdaptSettings(lr=3e-4, segment=25)
    curve = adaptation_curve(model, text, settings)
    assert len(curve.chars) == len(curve.static) == len(curve.adapted) > 2
    assert curve.chars[-1] == len(text) and list(curve.chars) == sorted(curve.chars)
    assert curve.static[-1] == pytest.approx(score_text(model, text)["nats_per_char"], abs=1e-5)
    assert curve.adapted[-1] == pytest.approx(score_adapted(model, text, settings)["adapted_nats_per_char"], abs=1e-5)
    assert curve.static[0] == pytest.approx(curve.adapted[0])  # the first segment is scored before any update


def test_the_look_inside_view_answers_the_curve_and_draws_it() -> None:
    from chargen.app.inside_tab import InsideHandlers
    from chargen.training.dynamic_eval import adaptation_curve

    text = make_text(seed=7, words=40)
    model = tiny_model("gru", vocab=text, hidden=24)
    handlers = InsideHandlers({"tiny": model}, adapt_lrs={"tiny": 2e-4})
    answer = handlers.adapt(text, "tiny")
    curve = adaptation_curve(model, text, AdaptSettings(lr=2e-4))
    assert answer["chars"] == list(curve.chars) and answer["lr"] == 2e-4
    assert answer["adapted"] == [round(x, 4) for x in curve.adapted]
    rows, line = handlers.draw_adapt(answer)
    assert len(rows) == 2 * len(curve.chars) and rows["characters read"].dtype.kind == "f"
    assert f"{answer['adapted_nats_per_char']:.3f}" in line and "unchanged" in line
    with pytest.raises(ConfigError, match="character-level network"):
        InsideHandlers({"words": tiny_word_model()}).adapt("some words here", "words")
