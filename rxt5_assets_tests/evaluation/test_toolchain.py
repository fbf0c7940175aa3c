"""Real-toolchain checks: rustc --emit=metadata, rustfmt and Code.string_to_quoted, with limits, never running code."""

from __future__ import annotations

from rxt5_assets import languages
from rxt5_assets.evaluation import toolchain

from .helpers import demo_items, needs_elixir, needs_rustc, needs_rustfmt

RUST_OK = "/// Adds.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
RUST_TYPE_ERROR = 'pub fn add(a: i32, b: i32) -> i32 {\n    "not a number"\n}\n'
RUST_BROKEN = "fn f( {"
# const evaluation that never ends (the compiler's own loop guard allowed away): CPU-bound, little memory
RUST_SLOW = (
    "#![allow(long_running_const_eval)]\n"
    "pub const X: u64 = { let mut i = 0u64; let mut a = 0u64;\n"
    "    while i < 100_000_000_000 { a = a.wrapping_mul(31).wrapping_add(i); i += 1; } a };\n"
)
ELIXIR_OK = "defmodule Calc do\n  def add(a, b), do: a + b\nend\n"
ELIXIR_BROKEN = "defmodule A do def f(x) x end"  # unbalanced: `def f(x) x` has no do
ELIXIR_GARBAGE = "defp format_to_to_to"


@needs_rustc
def test_rustc_compiles_a_self_contained_fn_and_rejects_type_and_syntax_errors():
    run = toolchain.rust_compile([RUST_OK, RUST_TYPE_ERROR, RUST_BROKEN, "use crate::config::Config;\n"])
    assert run.unavailable is None
    assert run.tool.startswith("rustc ")
    assert run.statuses == ("ok", "error", "error", "error")
    assert run.errors[1].startswith("error[E0308]")  # mismatched types
    assert run.rate() == 0.25


@needs_rustfmt
def test_rustfmt_is_a_syntax_check_blind_to_types():
    run = toolchain.rust_parse([RUST_OK, RUST_TYPE_ERROR, RUST_BROKEN, "mod config;\n"])
    # `mod config;` parses: rustfmt reads stdin and never looks for config.rs
    assert run.statuses == ("ok", "ok", "error", "ok")


@needs_rustc
def test_a_compile_over_the_time_limit_fails_that_sample_only():
    run = toolchain.rust_compile([RUST_OK, RUST_SLOW, RUST_TYPE_ERROR], timeout_s=2.0, jobs=1)
    assert run.statuses == ("ok", "timeout", "error")


def test_a_missing_toolchain_is_unavailable_with_a_reason_never_zero():
    for run in (
        toolchain.rust_compile([RUST_OK], search_path=""),
        toolchain.rust_parse([RUST_OK], search_path=""),
        toolchain.elixir_check([ELIXIR_OK], search_path=""),
    ):
        assert run.statuses is None
        assert run.rate() is None
        assert "not found on PATH" in run.unavailable


@needs_elixir
def test_elixir_string_to_quoted_and_what_the_top_level_holds():
    cases = {
        ELIXIR_OK: "ok",
        ELIXIR_BROKEN: "syntax_error",
        ELIXIR_GARBAGE: "not_definitions",  # parses: a call of defp with a bare identifier
        "defp format_to_to x": "not_definitions",  # a bodiless head and no clause with a body
        "def f(a, b \\\\ 1)\ndef f(a, b), do: a + b\n": "ok",
        "defguard is_even(x) when rem(x, 2) == 0\n": "ok",
        '@doc "Greets."\ndef hello(name), do: "hi " <> name\n': "ok",
        "x = 1\n": "not_definitions",
        "": "not_definitions",
    }
    run = toolchain.elixir_check(list(cases))
    assert run.unavailable is None
    assert run.tool.startswith("Elixir ")
    assert dict(zip(cases, run.statuses)) == cases


@needs_elixir
def test_an_elixir_sample_over_the_limits_fails_alone():
    body = "".join(f"  def f{i}(x), do: [x, {i}, :a{i}] ++ [x]\n" for i in range(30000))
    huge = f"defmodule Big do\n{body}end\n"
    small = [ELIXIR_OK, huge, ELIXIR_OK]
    assert toolchain.elixir_check(small, memory_mb=16).statuses == ("ok", "memory", "ok")
    assert toolchain.elixir_check(small, timeout_s=0.05).statuses == ("ok", "timeout", "ok")


def _damaged(code: str, closer: str) -> list[str]:
    """Two broken copies of a real item: cut at two thirds, and without its last closing token."""
    out = [code[: len(code) * 2 // 3]]
    i = code.rfind(closer)
    if i >= 0:
        out.append(code[:i] + code[i + len(closer) :])
    return out


def _agreement(ours: list[bool], theirs: list[bool]) -> float:
    return sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)


@needs_rustfmt
def test_strict_validity_agrees_with_rustfmt_on_real_rust_items():
    real = demo_items("rust")[::10]  # every 10th of the 433 demo items (all kinds appear): rustfmt starts per sample
    codes = real + [d for c in real for d in _damaged(c, "}")]
    rust = languages.get("rust")
    ours = [rust.is_valid_item(c) for c in codes]
    theirs = toolchain.rust_parse(codes, jobs=2).passed()
    rate = _agreement(ours, theirs)
    print(f"\nstrict validity vs rustfmt: {rate:.3f} on {len(codes)} samples ({len(real)} real items + damaged)")
    assert sum(ours[: len(real)]) == len(real)  # every real item is valid
    assert rate >= 0.97


@needs_elixir
def test_strict_validity_agrees_with_code_string_to_quoted_on_real_elixir_items():
    real = demo_items("elixir")  # all 345: one BEAM checks them all in about a second
    codes = real + [d for c in real for d in _damaged(c, "end")]
    elixir = languages.get("elixir")
    ours = [elixir.is_valid_item(c) for c in codes]
    run = toolchain.elixir_check(codes)
    parses = _agreement(ours, run.passed(toolchain.ELIXIR_PARSED))
    defines = _agreement(ours, run.passed())
    print(
        f"\nstrict validity vs Code.string_to_quoted: {parses:.3f}, vs string_to_quoted + top-level definitions:"
        f" {defines:.3f} on {len(codes)} samples ({len(real)} real items + damaged)"
    )
    # a bare parse accepts truncated items that read as calls (`def bal`): strict validity is stricter by design
    assert parses >= 0.95
    assert defines >= 0.98
