"""CodeBLEU for Rust and Elixir on hand-made cases whose component values are known."""

from __future__ import annotations

import pytest

from rxt5_assets import languages
from rxt5_assets.evaluation.code_bleu import code_bleu

RUST_ADD = """/// Adds two numbers.
pub fn add(a: i32, b: i32) -> i32 {
    let s = a + b;
    let mut t = s * 2;
    t += a;
    t
}
"""
# the same function with every variable renamed consistently: same syntax, same data flow, other tokens
RUST_ADD_RENAMED = """/// Adds two numbers.
pub fn add(x: i32, y: i32) -> i32 {
    let u = x + y;
    let mut v = u * 2;
    v += x;
    v
}
"""
# the same statements, but t is computed from b instead of s
RUST_ADD_OTHER_FLOW = """/// Adds two numbers.
pub fn add(a: i32, b: i32) -> i32 {
    let s = a + b;
    let mut t = b * 2;
    t += a;
    t
}
"""

ELIXIR_ADD = """defmodule Calc do
  @doc "Adds."
  def add(a, %{k: b} = m) when is_integer(a) do
    x = a + b
    {:ok, y} = combine(x, m)
    case y do
      {:ok, z} -> z + x
      _ -> 0
    end
  end
end
"""
ELIXIR_ADD_RENAMED = """defmodule Calc do
  @doc "Adds."
  def add(p, %{k: q} = r) when is_integer(p) do
    w = p + q
    {:ok, y} = combine(w, r)
    case y do
      {:ok, z} -> z + w
      _ -> 0
    end
  end
end
"""


@pytest.mark.parametrize("language, code", [("rust", RUST_ADD), ("elixir", ELIXIR_ADD)])
def test_identical_code_scores_one_on_every_component(language, code):
    scores = code_bleu([code], [code], language)
    assert scores == {
        "code_bleu": pytest.approx(1.0),
        "ngram_match": pytest.approx(1.0),
        "weighted_ngram_match": pytest.approx(1.0),
        "syntax_match": 1.0,
        "dataflow_match": 1.0,
    }


@pytest.mark.parametrize(
    "language, ref, renamed", [("rust", RUST_ADD, RUST_ADD_RENAMED), ("elixir", ELIXIR_ADD, ELIXIR_ADD_RENAMED)]
)
def test_renamed_variables_keep_syntax_and_data_flow_but_lose_tokens(language, ref, renamed):
    assert renamed != ref
    scores = code_bleu([renamed], [ref], language)
    assert scores["syntax_match"] == 1.0  # identifiers are leaves: the structure is the same
    assert scores["dataflow_match"] == 1.0  # variables are normalised by order of binding
    assert scores["ngram_match"] < 0.8
    # the mismatched tokens are identifiers (weight 0.2), the keywords all match (weight 1)
    assert scores["weighted_ngram_match"] > scores["ngram_match"]
    assert scores["code_bleu"] == pytest.approx(
        0.25 * (scores["ngram_match"] + scores["weighted_ngram_match"] + 1.0 + 1.0)
    )


def test_a_changed_data_flow_lowers_only_the_data_flow_match():
    scores = code_bleu([RUST_ADD_OTHER_FLOW], [RUST_ADD], "rust")
    assert scores["syntax_match"] == 1.0
    # reference edges (a=0, b=1, s=2, t=3): s<-(a,b), t<-(s), t<-(a,t) and the uses a,a,b,s,t,t: 9 in all.
    # The candidate has t<-(b) instead of t<-(s), and reads b twice but s never: 7 of the 9 match.
    assert scores["dataflow_match"] == pytest.approx(7 / 9)


def test_unrelated_code_scores_low():
    scores = code_bleu(["pub struct Point { x: f64, y: f64 }"], [RUST_ADD], "rust")
    assert scores["code_bleu"] < 0.2
    assert scores["dataflow_match"] == 0.0


def test_a_component_with_nothing_to_match_is_none_and_its_weight_is_shared():
    item = "pub struct Point { x: f64, y: f64 }"  # no variable: no data flow
    scores = code_bleu([item], [item], "rust")
    assert scores["dataflow_match"] is None
    assert scores["code_bleu"] == pytest.approx(1.0)


def test_corpus_mixes_languages_and_checks_lengths():
    scores = code_bleu([RUST_ADD, ELIXIR_ADD], [RUST_ADD, ELIXIR_ADD], ["rust", "elixir"])
    assert scores["code_bleu"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        code_bleu([RUST_ADD, RUST_ADD], [RUST_ADD], "rust")
    with pytest.raises(KeyError, match="python"):
        code_bleu(["x = 1"], ["x = 1"], "python")


def test_keywords_come_from_the_language_modules():
    assert {"fn", "let", "impl", "match"} <= languages.get("rust").keywords
    assert {"defmodule", "def", "do", "end", "case"} <= languages.get("elixir").keywords
    assert "add" not in languages.get("rust").keywords
