"""Logit processors on hand-made logits, greedy / sampled choices, and argument validation."""

from __future__ import annotations

import math

import pytest
import torch

from chargen.errors import ChargenError, ConfigError
from chargen.inference.decoding import (
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    apply_processors,
    build_processors,
    check_repetition_penalty,
    check_temperature,
    check_top_k,
    check_top_p,
    distribution,
    greedy_choice,
    gumbel_noise,
    sample_choice,
)

NO_IDS = torch.empty(1, 0, dtype=torch.long)


def logits_of(probs: list[float]) -> torch.Tensor:
    """Logits (1, V) whose softmax is ``probs``."""
    return torch.tensor([probs]).log()


def kept(scores: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(scores[0])).flatten().tolist())


# --- temperature ---------------------------------------------------------------------------


def test_temperature_below_one_sharpens_and_above_one_flattens():
    logits = logits_of([0.6, 0.3, 0.1])
    base = torch.softmax(logits, -1)
    sharp = torch.softmax(Temperature(0.5)(NO_IDS, logits), -1)
    flat = torch.softmax(Temperature(2.0)(NO_IDS, logits), -1)
    assert sharp[0, 0] > base[0, 0] > flat[0, 0]
    assert sharp[0, 2] < base[0, 2] < flat[0, 2]
    # Dividing by T is exactly softmax(logits / T), the order of the characters unchanged.
    assert torch.allclose(sharp, torch.softmax(logits / 0.5, -1))
    assert torch.equal(sharp.argsort(), base.argsort())


def test_temperature_zero_is_greedy_not_a_processor():
    with pytest.raises(ConfigError, match="greedy"):
        Temperature(0)
    assert build_processors(0.0) == []


# --- top-k ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_keeps_exactly_k_highest(k):
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    out = TopK(k)(NO_IDS, logits)
    assert kept(out) == set(logits[0].argsort(descending=True)[:k].tolist())
    finite = torch.isfinite(out)
    assert torch.equal(out[finite], logits[finite])  # survivors keep their value


def test_top_k_keeps_exactly_k_on_ties():
    out = TopK(2)(NO_IDS, torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    assert len(kept(out)) == 2


def test_top_k_is_clamped_to_the_vocabulary():
    logits = torch.tensor([[0.1, 3.0, -1.0]])
    assert torch.equal(TopK(100)(NO_IDS, logits), logits)


# --- top-p ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top_p", "expected"),
    [
        (0.3, {0}),
        (0.5, {0}),
        (0.6, {0, 1}),
        (0.79, {0, 1}),
        (0.81, {0, 1, 2}),
        (0.99, {0, 1, 2, 3}),
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, expected):
    logits = logits_of([0.5, 0.3, 0.15, 0.05])
    assert kept(TopP(top_p)(NO_IDS, logits)) == expected


def test_top_p_works_on_unsorted_logits_and_keeps_at_least_one():
    logits = logits_of([0.05, 0.15, 0.5, 0.3])
    assert kept(TopP(0.6)(NO_IDS, logits)) == {2, 3}
    assert kept(TopP(1e-9)(NO_IDS, logits)) == {2}


def test_top_p_batches_rows_independently():
    logits = torch.cat([logits_of([0.5, 0.3, 0.2]), logits_of([0.2, 0.3, 0.5])])
    out = TopP(0.6)(NO_IDS, logits)
    assert torch.isfinite(out).tolist() == [[True, True, False], [False, True, True]]


# --- repetition penalty --------------------------------------------------------------------


def test_repetition_penalty_moves_seen_characters_down():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    out = RepetitionPenalty(2.0)(torch.tensor([[0, 1, 1]]), logits)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0]]


def test_repetition_penalty_looks_only_at_the_window():
    logits = torch.tensor([[2.0, 2.0, 2.0]])
    out = RepetitionPenalty(2.0, window=2)(torch.tensor([[0, 1, 2]]), logits)
    assert out.tolist() == [[2.0, 1.0, 1.0]]


def test_repetition_penalty_with_no_history_changes_nothing():
    logits = torch.tensor([[2.0, 2.0]])
    assert torch.equal(RepetitionPenalty(3.0)(NO_IDS, logits), logits)


# --- the processors together ---------------------------------------------------------------


@pytest.mark.parametrize(
    "processor",
    [Temperature(0.7), TopK(2), TopP(0.5), RepetitionPenalty(1.5)],
    ids=["temperature", "top_k", "top_p", "penalty"],
)
def test_no_processor_edits_its_input(processor):
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0]])
    before = logits.clone()
    out = processor(torch.tensor([[1, 3]]), logits)
    assert torch.equal(logits, before)
    assert out is not logits


def test_neutral_values_add_no_step():
    assert build_processors(1.0) == []
    assert build_processors(1.0, top_k=None, top_p=1.0, repetition_penalty=1.0) == []


def test_processors_come_in_transformers_order():
    steps = build_processors(0.7, top_k=5, top_p=0.9, repetition_penalty=1.2)
    assert [type(s) for s in steps] == [RepetitionPenalty, Temperature, TopK, TopP]


def test_temperature_zero_keeps_only_the_penalty():
    assert [type(s) for s in build_processors(0.0, top_k=3, top_p=0.5, repetition_penalty=1.3)] == [RepetitionPenalty]


def test_apply_processors_chains_them():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    out = apply_processors([Temperature(2.0), TopK(2)], NO_IDS, logits)
    assert out[0, 2:].tolist() == [1.5, 2.0] and kept(out) == {2, 3}


# --- choices -------------------------------------------------------------------------------


def test_greedy_choice_is_argmax_and_first_on_ties():
    scores = torch.tensor([[0.1, 0.9, 0.3], [2.0, 2.0, 1.0]])
    assert greedy_choice(scores).tolist() == [1, 0]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
def test_sampling_frequencies_match_softmax_of_logits_over_temperature(temperature):
    logits = torch.tensor([2.0, 1.0, 0.2, -0.5, 0.0])
    expected = torch.softmax(logits / temperature, -1)
    draws = 40_000
    generator = torch.Generator().manual_seed(1234)
    noise = gumbel_noise(draws, logits.numel(), generator)
    ids = greedy_choice(logits / temperature + noise)
    freq = torch.bincount(ids, minlength=logits.numel()).float() / draws
    # 40k draws: a standard error of at most 0.0025; 0.01 is four of them.
    assert (freq - expected).abs().max() < 0.01


def test_sampling_respects_filtered_characters():
    scores = TopK(2)(NO_IDS, torch.tensor([[0.0, 5.0, 4.9, -1.0]])).expand(2000, 4)
    ids = sample_choice(scores, torch.Generator().manual_seed(0))
    assert set(ids.tolist()) == {1, 2}


def test_sampling_is_reproducible_and_leaves_global_rng_alone():
    scores = torch.zeros(50, 10)
    torch.manual_seed(99)
    before = torch.get_rng_state()
    a = sample_choice(scores, torch.Generator().manual_seed(5))
    b = sample_choice(scores, torch.Generator().manual_seed(5))
    c = sample_choice(scores, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), before)


def test_gumbel_noise_is_finite():
    assert torch.isfinite(gumbel_noise(10_000, 65, torch.Generator().manual_seed(0))).all()


def test_distribution_at_temperature_and_zero():
    logits = torch.tensor([1.0, 3.0, 2.0])
    assert torch.allclose(distribution(logits, 0.5), torch.softmax(logits / 0.5, -1))
    assert distribution(logits, 0.0).tolist() == [0.0, 1.0, 0.0]


# --- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (check_temperature, 7, "temperature must be between 0 and 5, got 7"),
        (check_temperature, 7.0, "temperature must be between 0 and 5, got 7"),
        (check_temperature, -0.1, "got -0.1"),
        (check_temperature, math.nan, "got nan"),
        (check_temperature, math.inf, "got inf"),
        (check_temperature, "1", "got '1'"),
        (check_temperature, True, "got True"),
        (check_top_k, -1, "top_k must be a whole number, 0 or None for no limit, got -1"),
        (check_top_k, -3, "got -3"),
        (check_top_k, 2.5, "got 2.5"),
        (check_top_k, True, "got True"),
        (check_top_p, 0, "top_p must be greater than 0 and at most 1"),
        (check_top_p, 1.5, "got 1.5"),
        (check_top_p, -0.2, "got -0.2"),
        (check_top_p, math.nan, "got nan"),
        (check_repetition_penalty, 0.5, "repetition_penalty must be a finite number of at least 1"),
        (check_repetition_penalty, math.inf, "got inf"),
    ],
)
def test_each_limit_has_a_clear_error(check, value, message):
    with pytest.raises(ConfigError) as info:
        check(value)
    assert message in str(info.value)
    assert isinstance(info.value, ChargenError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_temperature, 0),
        (check_temperature, 5),
        (check_temperature, 0.8),
        (check_top_k, None),
        (check_top_k, 1),
        (check_top_p, None),
        (check_top_p, 1),
        (check_top_p, 1e-6),
        (check_repetition_penalty, None),
        (check_repetition_penalty, 1),
    ],
)
def test_values_at_the_limits_are_allowed(check, value):
    assert check(value) == value


def test_processors_validate_their_argument():
    with pytest.raises(ConfigError):
        TopK(0)
    with pytest.raises(ConfigError):
        TopP(0.0)
    with pytest.raises(ConfigError):
        RepetitionPenalty(0.9)
    with pytest.raises(ConfigError):
        RepetitionPenalty(1.5, window=0)
    with pytest.raises(ConfigError):
        build_processors(0.8, top_k=-1)


def test_top_k_zero_means_off_as_in_the_app_and_the_cli():
    assert check_top_k(0) is None
    assert repr(build_processors(0.8, top_k=0)) == repr(build_processors(0.8)) == "[Temperature(0.8)]"
