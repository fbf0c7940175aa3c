"""Share of predictions the real toolchain accepts (0-1), plus its syntax check (parse_success); nothing is run."""

import datasets
import evaluate

from rxt5_assets.evaluation import toolchain

_DESCRIPTION = """\
compile_success and parse_success, 0-1, from the real toolchains (see rxt5_assets.evaluation.toolchain); generated
code is only parsed or compiled, never run.

Rust: compile_success = `rustc --edition 2021 --crate-type lib --emit=metadata` on the item alone (MultiPL-E style: a
compile error fails the sample; an item that uses crate-local types fails too, and is reported as is);
parse_success = `rustfmt --edition 2021 --emit stdout` exits 0 (its syntax check, blind to type errors).
Elixir: compiling would run macros, so compile_success = `Code.string_to_quoted/1` succeeds AND the top level holds
only definitions (defmodule/defprotocol/defimpl/def/defp/defmacro/defguard/defdelegate with a body, attributes);
parse_success = `Code.string_to_quoted/1` succeeds (it also accepts a bare call such as `defp format_to_to`).

Each sample runs under a time limit (timeout_s, default 15 s), a memory limit (memory_mb) and without network; a
sample that times out or crashes the tool fails alone. A missing toolchain gives None and a reason in
`unavailable`, never 0.
"""

_CITATION = """\
@article{cassano2023multipl,
  title = {MultiPL-E: A Scalable and Polyglot Approach to Benchmarking Neural Code Generation},
  author = {Cassano, Federico and others},
  journal = {IEEE Transactions on Software Engineering},
  year = {2023},
}
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated code.
    languages: the language of each sample ("rust" or "elixir").
    timeout_s: per-sample wall-clock (and CPU) limit, default 15.
    memory_mb: per-sample memory limit (address space for rustc/rustfmt, process heap for Elixir), default 1024.
    search_path: the PATH to find and run the tools with (default: this process's PATH).
    jobs: concurrent rustc/rustfmt processes (default: up to 4).
    kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    compile_success, parse_success: over all predictions (None when a language's toolchain is unavailable).
    compile_success_<language>, parse_success_<language>: per language present.
    compile_status, parse_status: one status per prediction (ok, error, timeout, crash; Elixir: ok, not_definitions,
        syntax_error, timeout, memory, crash), None where unavailable.
    compile_errors: the compiler's first error line per prediction ("" when none).
    unavailable: {metric key: reason} for every value that is None.
    tools: {metric key: the tool version used}; isolation: how the network was cut off.
"""

_RUST, _ELIXIR = "rust", "elixir"


class CompileSuccess(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "languages": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, languages, timeout_s=toolchain.DEFAULT_TIMEOUT_S,
                 memory_mb=toolchain.DEFAULT_MEMORY_MB, search_path=None, jobs=None, kinds=None):  # fmt: skip
        unknown = sorted(set(languages) - {_RUST, _ELIXIR})
        if unknown:
            raise ValueError(f"compile_success knows rust and elixir, not {', '.join(unknown)}")
        n = len(predictions)
        compiled = [None] * n
        parsed = [None] * n
        errors = [""] * n
        result, unavailable, tools = {}, {}, {}
        isolation = toolchain.network_isolation()[1]
        for lang in sorted(set(languages)):
            where = [i for i, la in enumerate(languages) if la == lang]
            codes = [predictions[i] for i in where]
            limits = {"timeout_s": timeout_s, "memory_mb": memory_mb, "search_path": search_path}
            if lang == _RUST:
                compile_run = toolchain.rust_compile(codes, jobs=jobs, **limits)
                parse_run = toolchain.rust_parse(codes, jobs=jobs, **limits)
                compile_ok = parse_ok = frozenset({toolchain.OK})
            else:
                compile_run = parse_run = toolchain.elixir_check(codes, **limits)
                compile_ok, parse_ok = frozenset({toolchain.OK}), toolchain.ELIXIR_PARSED
            for key, run, passing, statuses in (
                ("compile_success", compile_run, compile_ok, compiled),
                ("parse_success", parse_run, parse_ok, parsed),
            ):
                tools[f"{key}_{lang}"] = run.tool
                result[f"{key}_{lang}"] = run.rate(passing)
                if run.unavailable:
                    unavailable[f"{key}_{lang}"] = run.unavailable
                elif run.statuses is not None:
                    for i, status in zip(where, run.statuses):
                        statuses[i] = status
            if compile_run.statuses is not None:
                for i, err in zip(where, compile_run.errors):
                    errors[i] = err
        for key, statuses, passing_of in (
            ("compile_success", compiled, {_RUST: {toolchain.OK}, _ELIXIR: {toolchain.OK}}),
            ("parse_success", parsed, {_RUST: {toolchain.OK}, _ELIXIR: toolchain.ELIXIR_PARSED}),
        ):
            missing = sorted(k for k in unavailable if k.startswith(key))
            if missing:
                result[key] = None
                unavailable[key] = "; ".join(unavailable[k] for k in missing)
            elif n == 0:
                result[key] = None
                unavailable[key] = "no predictions"
            else:
                result[key] = sum(s in passing_of[la] for s, la in zip(statuses, languages)) / n
        result.update(
            compile_status=compiled,
            parse_status=parsed,
            compile_errors=errors,
            unavailable=unavailable,
            tools=tools,
            isolation=isolation,
        )
        return result
