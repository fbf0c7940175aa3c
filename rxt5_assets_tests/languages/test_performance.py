"""Coarse performance guards (the precise side-by-side numbers come from ``bench_analyze.py``).

The bounds are loose on purpose so a loaded CI machine does not flake, yet they fail on the regressions that matter:
a Python walk over every node (several x the parse), a second parse per call (>= 2x), a full-tree query per pattern.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tree_sitter as ts

from rxt5_assets import languages

CORPUS = Path(__file__).resolve().parents[2] / "rxt5_assets" / "demo_corpus"

RUST_SAMPLE = """
/// Parses a money amount like `12.50 EUR`.
pub fn parse_amount(input: &str) -> Result<Money, ParseError> {
    let mut parts = input.split_whitespace();
    let value = parts.next().ok_or(ParseError::Empty)?;
    let currency = parts.next().map(|c| c.to_uppercase()).ok_or(ParseError::NoCurrency)?;
    let cents = match value.split_once('.') {
        Some((whole, frac)) => whole.parse::<i64>()? * 100 + frac.parse::<i64>()?,
        None => value.parse::<i64>()? * 100,
    };
    Ok(Money { cents, currency })
}
"""

ELIXIR_SAMPLE = '''
@doc """
Parses a money amount like `12.50 EUR`.
"""
@spec parse_amount(String.t()) :: {:ok, Money.t()} | {:error, atom()}
def parse_amount(input) when is_binary(input) do
  with [value, currency] <- String.split(input),
       {amount, ""} <- Float.parse(value) do
    {:ok, %Money{cents: round(amount * 100), currency: currency |> String.upcase() |> String.to_atom()}}
  else
    _ -> {:error, :invalid}
  end
end
'''


def _chunks(lang) -> list[str]:
    out: list[str] = []
    if CORPUS.exists():
        for ext in lang.extensions:
            for p in sorted(CORPUS.rglob(f"*{ext}")):
                out.extend(i.text for i in lang.chunk(p.read_bytes()))
                if len(out) >= 120:
                    return out
    return out or [RUST_SAMPLE if lang.name == "rust" else ELIXIR_SAMPLE] * 60


def _best(fn, reps: int = 5) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


@pytest.mark.parametrize("name", ["rust", "elixir"])
def test_analyze_costs_a_small_multiple_of_one_parse(name):
    lang = languages.get(name)
    chunks = _chunks(lang)
    module = __import__(type(lang).__module__, fromlist=["_POOL"])
    parser = ts.Parser(module._POOL.language)

    def parse_all():
        for c in chunks:
            parser.parse(c.encode("utf-8"))

    def analyze_all():
        for c in chunks:
            lang.quality_indicators(lang.analyze(c))

    parse_t, analyze_t = _best(parse_all), _best(analyze_all)
    assert analyze_t < 3.0 * parse_t, f"{name}: analyze {analyze_t:.3f}s vs parse {parse_t:.3f}s"


@pytest.mark.parametrize("name", ["rust", "elixir"])
def test_chunk_costs_little_more_than_the_parse(name):
    lang = languages.get(name)
    module = __import__(type(lang).__module__, fromlist=["_POOL"])
    parser = ts.Parser(module._POOL.language)
    sample = (RUST_SAMPLE if name == "rust" else ("defmodule M do\n" + ELIXIR_SAMPLE + "end\n")) * 1
    files = [("\n".join([sample] * 40)).encode()] * 5
    parse_t = _best(lambda: [parser.parse(f) for f in files])
    chunk_t = _best(lambda: [lang.chunk(f) for f in files])
    assert chunk_t < 2.0 * parse_t, f"{name}: chunk {chunk_t:.3f}s vs parse {parse_t:.3f}s"
