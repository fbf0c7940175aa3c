"""The metrics as local evaluate modules: known answers through ``score_generations`` / ``load_metric``, offline
loading with plain ``evaluate.load(path)``, and unavailable toolchains reported with a reason instead of 0."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from rxt5_assets.evaluation import metrics

from .helpers import needs_elixir, needs_rustc, needs_rustfmt

RUST_FN = "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    let s = a + b;\n    s\n}\n"
ELIXIR_MODULE = 'defmodule Calc do\n  @doc "Adds."\n  def add(a, b) do\n    s = a + b\n    s\n  end\nend\n'
TEXT_METRICS = ("bleu", "chrf", "rouge_l", "code_bleu")


@pytest.mark.parametrize("language, code", [("rust", RUST_FN), ("elixir", ELIXIR_MODULE)])
def test_identical_code_scores_the_top_of_every_scale(language, code):
    scores = metrics.score_generations([code, code], [code, code], language=language, metrics=TEXT_METRICS)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert scores["rouge_l"] == pytest.approx(1.0)
    assert scores["code_bleu"] == pytest.approx(1.0)
    for part in ("ngram_match", "weighted_ngram_match", "syntax_match", "dataflow_match"):
        assert scores[f"code_bleu_{part}"] == pytest.approx(1.0)
    assert scores.unavailable == {}


def test_bleu_chrf_and_rouge_l_on_hand_computed_cases():
    bleu = metrics.load_metric("bleu").compute(predictions=["a b c d e f g x"], references=["a b c d e f g h"])
    # precisions 7/8, 6/7, 5/6, 4/5, no brevity penalty: (7/8 * 6/7 * 5/6 * 4/5) ** (1/4) = 0.5 ** 0.25
    assert bleu["bleu"] == pytest.approx(100 * 0.5**0.25)
    assert metrics.load_metric("chrf").compute(predictions=["aaaa"], references=["zzzz"])["chrf"] == 0.0
    rouge = metrics.load_metric("rouge_l")
    # code tokens [a, (, b, )] vs [a, (, c, )]: LCS 3 of 4
    assert rouge.compute(predictions=["a(b)"], references=["a(c)"])["rouge_l"] == pytest.approx(0.75)
    # rouge-score's own tokenizer drops the punctuation, leaving [a, b] vs [a, c]
    assert rouge.compute(predictions=["a(b)"], references=["a(c)"], tokenizer="words")["rouge_l"] == 0.5


def test_strict_validity_wants_a_clean_parse_of_the_requested_kind():
    cases = [
        ("rust", RUST_FN, None, True),
        ("rust", "fn f( {", None, False),  # broken
        ("rust", "let x = 1;", None, False),  # parses as a statement, is no item
        ("rust", "pub struct Point { x: f64 }", "struct", True),
        ("rust", "pub struct Point { x: f64 }", "function", False),  # valid item, wrong kind
        ("elixir", ELIXIR_MODULE, "module", True),
        ("elixir", "defmodule A do def f(x) x end", None, False),  # unbalanced do
        ("elixir", "defp format_to_to_to", None, False),  # tree-sitter parses it; it defines nothing
        ("elixir", "def f(x), do: x", "def", True),
        ("elixir", "def f(x), do: x", "module", False),
    ]
    for language, code, kind, expected in cases:
        assert metrics.strict_valid(code, language, kind) is expected, (language, code, kind)
    rust = [c for c in cases if c[0] == "rust"]
    scores = metrics.score_generations(
        [c[1] for c in rust], [RUST_FN] * len(rust), language="rust", kinds=[c[2] for c in rust],
        metrics=["strict_validity"],
    )  # fmt: skip
    assert scores == {"strict_validity": pytest.approx(2 / 5)}


@needs_rustc
@needs_rustfmt
def test_compile_and_parse_success_for_rust():
    predictions = [RUST_FN, 'pub fn f() -> i32 { "x" }', "fn f( {"]
    scores = metrics.score_generations(predictions, [RUST_FN] * 3, language="rust", metrics=["compile_success"])
    assert scores["compile_success"] == pytest.approx(1 / 3)  # the type error fails to compile...
    assert scores["parse_success"] == pytest.approx(2 / 3)  # ...but parses
    out = metrics.load_metric("compile_success").compute(predictions=predictions, languages=["rust"] * 3)
    assert out["compile_status"] == ["ok", "error", "error"]
    assert out["parse_status"] == ["ok", "ok", "error"]
    assert out["tools"]["compile_success_rust"].startswith("rustc ")


@needs_elixir
def test_compile_and_parse_success_for_elixir():
    predictions = [ELIXIR_MODULE, "defp format_to_to_to", "defmodule A do def f(x) x end"]
    scores = metrics.score_generations(predictions, [ELIXIR_MODULE] * 3, language="elixir",
                                       metrics=["compile_success", "strict_validity"])  # fmt: skip
    assert scores["compile_success"] == pytest.approx(1 / 3)  # only the module defines something
    assert scores["parse_success"] == pytest.approx(2 / 3)  # Code.string_to_quoted accepts the bare call
    assert scores["strict_validity"] == pytest.approx(1 / 3)


def test_a_missing_toolchain_gives_none_and_a_reason_not_zero():
    scores = metrics.score_generations([RUST_FN], [RUST_FN], language="rust", search_path="",
                                       metrics=["compile_success", "code_quality"])  # fmt: skip
    assert scores["compile_success"] is None and scores["parse_success"] is None
    assert "rustc not found" in scores.unavailable["compile_success"]
    assert "rustfmt not found" in scores.unavailable["parse_success"]
    assert 0.0 < scores["code_quality"] <= 1.0  # the other metrics are unaffected
    elixir = metrics.score_generations([ELIXIR_MODULE], [ELIXIR_MODULE], language="elixir", search_path="",
                                       metrics=["compile_success"])  # fmt: skip
    assert elixir == {"compile_success": None, "parse_success": None}
    assert "elixir not found" in elixir.unavailable["compile_success"]


def test_code_quality_is_the_language_quality_score():
    from rxt5_assets import languages
    from rxt5_assets.data.quality import quality_score

    rust = languages.get("rust")
    analysis = rust.analyze(RUST_FN)
    expected = quality_score(RUST_FN, analysis, rust.quality_indicators(analysis))[0]
    scores = metrics.score_generations([RUST_FN, "fn f( {"], [RUST_FN] * 2, language="rust", metrics=["code_quality"])
    broken = rust.analyze("fn f( {")
    assert scores["code_quality"] == pytest.approx(
        (expected + quality_score("fn f( {", broken, rust.quality_indicators(broken))[0]) / 2
    )
    assert 0.0 <= scores["code_quality"] <= 1.0


def test_bad_inputs_and_empty_runs():
    with pytest.raises(KeyError, match="unknown metric 'meteor'"):
        metrics.score_generations([RUST_FN], [RUST_FN], language="rust", metrics=["meteor"])
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        metrics.score_generations([RUST_FN], [RUST_FN, RUST_FN], language="rust")
    empty = metrics.score_generations([], [], language="rust", metrics=["bleu", "compile_success"])
    assert empty == {"bleu": None, "compile_success": None, "parse_success": None}
    assert set(empty.unavailable.values()) == {"no predictions"}


def test_the_modules_load_offline_with_plain_evaluate_load(tmp_path):
    """In a fresh interpreter without network (unshare -n where permitted): importing the facade imports neither
    evaluate nor dagster, evaluate.load(path) loads every shipped module and evaluate.combine runs all seven."""
    script = textwrap.dedent(
        """
        import json, sys
        from rxt5_assets.evaluation import code_bleu, metrics, toolchain
        lazy = "evaluate" not in sys.modules and "dagster" not in sys.modules
        import evaluate
        loaded = {name: type(evaluate.load(str(metrics.metric_path(name)))).__name__ for name in metrics.METRICS}
        every = evaluate.combine([str(metrics.metric_path(name)) for name in metrics.METRICS])
        code = "pub fn main() {}"
        both = every.compute(predictions=[code], references=[code], languages=["rust"], kinds=["function"])
        print(json.dumps({"lazy": lazy, "loaded": loaded, "combined": both}))
        """
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_EVALUATE_OFFLINE="1")  # fmt: skip
    argv = [sys.executable, "-c", script]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        argv = [unshare, "-n", *argv]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["lazy"] is True
    assert out["loaded"] == {
        "bleu": "Bleu", "chrf": "Chrf", "rouge_l": "RougeL", "code_bleu": "CodeBleu",
        "strict_validity": "StrictValidity", "compile_success": "CompileSuccess", "code_quality": "CodeQuality",
    }  # fmt: skip
    combined = out["combined"]
    assert combined["bleu"] == pytest.approx(100.0) and combined["chrf"] == pytest.approx(100.0)
    assert combined["code_bleu"] == pytest.approx(1.0)
    assert combined["rouge_l"] == pytest.approx(1.0)
    assert combined["strict_validity"] == 1.0
    assert 0.0 < combined["code_quality"] <= 1.0
    assert "compile_success" in combined  # a value, or None with its reason where rustc is missing
    assert (tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics").is_dir()  # copied where HF_HOME says
