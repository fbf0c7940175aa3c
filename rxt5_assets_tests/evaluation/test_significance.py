"""The paired bootstrap: how sure a difference between two systems on the same rows is."""

import pytest

from rxt5_assets.evaluation.significance import corpus_chrf, paired_bootstrap


def test_identical_systems_differ_by_nothing():
    rows = [1, 0, 1, 1, 0, 0, 1, 0]
    out = paired_bootstrap(rows, list(rows), resamples=200)
    assert (out.delta, out.low, out.high, out.p_b_better) == (0, 0, 0, 0)
    assert not out.significant


def test_a_system_better_on_every_row_is_significant():
    a = [0.0] * 30
    b = [1.0] * 25 + [0.0] * 5
    out = paired_bootstrap(a, b, resamples=500, seed=1)
    assert out.delta == pytest.approx(25 / 30)
    assert 0 < out.low <= out.delta <= out.high <= 1
    assert out.significant and out.p_b_better == 1.0
    assert out.describe(100).endswith("*") and out.describe(100).startswith("+83.3 [")


def test_one_row_of_difference_on_few_rows_is_not_significant():
    a = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    b = [1, 0, 1, 0, 1, 0, 1, 0, 1, 1]  # one row flips
    out = paired_bootstrap(a, b, resamples=1000, seed=2)
    assert out.delta == pytest.approx(0.1)
    assert out.low <= 0 < out.high and not out.significant
    assert 0.4 < out.p_b_better < 1.0


def test_the_bootstrap_is_seeded_and_checks_its_input():
    a, b = [0, 1, 1, 0, 1], [1, 1, 0, 0, 1]
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)
    with pytest.raises(ValueError, match="paired rows"):
        paired_bootstrap([1, 2], [1])
    with pytest.raises(ValueError, match="at least one row"):
        paired_bootstrap([], [])


def test_a_corpus_metric_is_recomputed_on_each_resample():
    refs = ["pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}", "defmodule Cart do\n  def total(items), do: 0\nend"]
    a = [("fn x() {}", refs[0]), ("defmodule X do\nend", refs[1])]
    b = [(refs[0], refs[0]), (refs[1], refs[1])]
    out = paired_bootstrap(a, b, corpus_chrf, resamples=50)
    assert corpus_chrf(b) == pytest.approx(100.0)
    assert out.delta == pytest.approx(100.0 - corpus_chrf(a)) and out.low > 0
