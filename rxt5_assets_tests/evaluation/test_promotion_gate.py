"""The gate's rule on its own: the primary blend, renormalised weights, per-language tolerance, thin languages, force.

(test_promotion.py runs the same rule on real versions; here the inputs are built so each clause is hit exactly.)"""

from __future__ import annotations

import pytest

from rxt5_assets.evaluation.promotion import GatePolicy, gate_decision, overall_primary, primary_by_language


def scores(**languages):
    """{language: (strict_validity@best_of_k, code_bleu@best_of_k, rows)} → a runner.score_system-shaped dict."""
    by_language = {}
    for language, (strict, bleu, rows) in languages.items():
        values = {"rows": rows, "code_bleu@best_of_k": bleu, "chrf@greedy": 50.0}
        if strict is not None:
            values["strict_validity@best_of_k"] = strict
        by_language[language.replace("_to_", "->")] = values
    by_language["all"] = {"rows": sum(v["rows"] for v in by_language.values())}
    return {"by_language": by_language, "by_task": {}}


def test_the_primary_blends_strict_validity_and_code_bleu_per_language_then_averages():
    s = scores(rust=(0.8, 0.2, 10), elixir=(None, 0.3, 10), rust_to_elixir=(1.0, 1.0, 2))
    per_language = primary_by_language(s, GatePolicy())
    assert per_language["rust"] == pytest.approx(0.5)
    assert per_language["elixir"] == pytest.approx(0.3)  # no kinded row: code_bleu alone (weights renormalised)
    assert overall_primary(s, GatePolicy()) == pytest.approx(0.4)  # rust->elixir has 2 rows < 5: not averaged
    assert overall_primary(s, GatePolicy(min_language_rows=1)) == pytest.approx((0.5 + 0.3 + 1.0) / 3)
    greedy_only = GatePolicy(weights={"chrf": 1.0}, decoding="greedy")
    assert primary_by_language(s, greedy_only) == {"rust": 0.5, "elixir": 0.5, "rust->elixir": 0.5}  # chrF / 100


def test_a_language_worse_beyond_its_tolerance_refuses_even_when_the_average_improves():
    active = scores(rust=(0.5, 0.5, 10), elixir=(0.5, 0.5, 10))
    better_on_average = scores(rust=(0.9, 0.9, 10), elixir=(0.4, 0.5, 10))  # elixir −0.05: at the tolerance
    decision = gate_decision(better_on_average, active)
    assert decision.passed
    worse_elixir = scores(rust=(0.9, 0.9, 10), elixir=(0.3, 0.5, 10))  # elixir −0.1
    decision = gate_decision(worse_elixir, active)
    assert not decision.passed and decision.primary_candidate > decision.primary_active
    assert any(reason.startswith("elixir:") for reason in decision.reasons)
    assert decision.per_language["elixir"]["ok"] is False and decision.per_language["rust"]["ok"] is True
    assert gate_decision(worse_elixir, active, GatePolicy(language_tolerance=0.2)).passed


def test_overall_not_worse_and_thin_languages_are_reported_not_gated():
    active = scores(rust=(0.5, 0.5, 10), elixir_to_rust=(1.0, 1.0, 3))
    same = scores(rust=(0.5, 0.5, 10), elixir_to_rust=(0.0, 0.0, 3))
    decision = gate_decision(same, active)
    assert decision.passed  # a tie is "not worse"; the 3-row direction is shown but not gated
    assert decision.per_language["elixir->rust"]["gated"] is False
    assert decision.per_language["elixir->rust"]["delta"] == pytest.approx(-1.0)
    slightly_worse = scores(rust=(0.5, 0.49, 10))
    assert not gate_decision(slightly_worse, scores(rust=(0.5, 0.5, 10))).passed
    assert gate_decision(slightly_worse, scores(rust=(0.5, 0.5, 10)), GatePolicy(tolerance=0.01)).passed


def test_beating_the_template_floor_is_optional():
    floor = scores(rust=(1.0, 0.4, 10))
    candidate, active = scores(rust=(0.5, 0.5, 10)), scores(rust=(0.4, 0.4, 10))
    assert gate_decision(candidate, active, GatePolicy(), floor).passed
    refused = gate_decision(candidate, active, GatePolicy(require_beat_template=True), floor)
    assert not refused.passed and "template floor" in refused.reasons[-1]
    with pytest.raises(ValueError):
        GatePolicy(weights={"strict_validity": -1.0})
    with pytest.raises(ValueError, match="unknown metric"):
        GatePolicy(weights={"codebleu": 1.0})  # a typo would otherwise refuse every candidate
