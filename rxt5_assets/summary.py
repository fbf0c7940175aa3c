"""`rxt5 summary`: what the quick start (or any run of the graph) produced, in one screen.

Chunks per language, the newest dataset (examples, pairs), base vs fine-tuned eval loss per language from training,
the newest evaluation side by side (candidate, what it was compared to, the template floor) with the gate's verdict,
the active version, a sample generation from it, and what to do next. Reads only the monitoring tables and the deployed
model; never trains or evaluates.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rxt5_assets.db import Database

LANGUAGES = ("rust", "elixir")
SAMPLE_PROMPTS = {"elixir": "Create a GenServer for caching with TTL",
                  "rust": "Parse a comma-separated list of key=value pairs into a HashMap"}


def _latest_stats(conn, key: str) -> dict[str, Any]:
    row = conn.execute("select stats from t5_training_sessions where stats ? %s order by inserted_at desc limit 1",
                       [key]).fetchone()
    return (row[0] or {}).get(key, {}) if row else {}


def quickstart_summary(database: Database, *, sample: bool = True, home=None) -> dict[str, Any]:
    from rxt5_assets.db.evaluations import latest_evaluation
    from rxt5_assets.db.model_versions import active_version

    out: dict[str, Any] = {}
    with database.connect() as conn:
        out["chunks"] = dict(conn.execute("select coalesce(language, '(none)'), count(*) from code_chunks "
                                          "group by 1 order by 1").fetchall())
        dataset, pairs, training = (_latest_stats(conn, "dataset"), _latest_stats(conn, "pairs"),
                                    _latest_stats(conn, "training"))
        out["dataset"] = {"train_examples": dataset.get("train_examples"), "eval_examples": dataset.get("eval_examples"),
                          "pairs": pairs.get("pairs"), "pair_examples": pairs.get("examples")}
        out["training"] = {
            "version": training.get("version"),
            "eval_loss": {language: {"base": (training.get("base_eval_loss_by_language") or {}).get(language),
                                     "fine_tuned": (training.get("eval_loss_by_language") or {}).get(language)}
                          for language in LANGUAGES},
            "train_seconds": training.get("train_seconds"),
        }
        evaluation = latest_evaluation(conn)
        if evaluation:
            systems = evaluation["summary"].get("systems", {})
            decision = evaluation.get("decision") or {}
            out["evaluation"] = {
                "rows": evaluation.get("rows_used"), "passed": evaluation.get("passed"),
                "reasons": decision.get("reasons", []),
                "systems": {role: {"version": system.get("version"),
                                   "by_language": {language: {
                                       key: (system.get("scores", {}).get("by_language", {}).get(language) or {}).get(key)
                                       for key in ("strict_validity@best_of_k", "code_bleu@best_of_k", "chrf@greedy")}
                                       for language in LANGUAGES}}
                            for role, system in systems.items()},
                "primary": {language: {role: (decision.get("per_language", {}).get(language) or {}).get(role)
                                       for role in ("candidate", "active", "template")} for language in LANGUAGES},
            }
        active = active_version(conn)
        out["active_version"] = active["version"] if active else None
    if sample and out["active_version"]:
        out["sample"] = sample_generation(database, home=home)
    return out


def sample_generation(database: Database, *, home=None, language: str = "elixir") -> dict[str, Any]:
    """One generation from the served model, through the same engine `rxt5 generate` and `rxt5 serve` use."""
    from rxt5_assets.generation.engine import GeneratorEngine

    engine = GeneratorEngine(database=database, home=home)
    result = engine.code_generate(SAMPLE_PROMPTS[language], language)
    return result.as_dict()


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def format_summary(summary: dict[str, Any]) -> str:
    lines = ["rxt5 summary", ""]
    chunks = summary["chunks"]
    lines.append(f"chunks in code_chunks: {sum(chunks.values())} ("
                 + ", ".join(f"{language} {count}" for language, count in chunks.items()) + ")")
    d = summary["dataset"]
    lines.append(f"newest dataset: {d['train_examples']} train / {d['eval_examples']} eval examples, "
                 f"{d['pairs']} Rust↔Elixir pairs ({d['pair_examples']} pair examples)")
    t = summary["training"]
    if t["version"]:
        lines.append(f"newest fine-tune {t['version']} ({_num(t['train_seconds'], 0)} s), eval loss on held-out "
                     "files, base → fine-tuned:")
        for language, loss in t["eval_loss"].items():
            base, tuned = loss["base"], loss["fine_tuned"]
            change = f" ({(tuned - base) / base:+.1%})" if base and tuned else ""
            lines.append(f"  {language:7s} {_num(base)} → {_num(tuned)}{change}")
    e = summary.get("evaluation")
    if e:
        roles = [r for r in ("candidate", "active", "template") if r in e["systems"]]
        lines.append(f"newest evaluation ({e['rows']} held-out rows, generation-based), gate "
                     f"{'PASSED' if e['passed'] else 'REFUSED'}: {'; '.join(e['reasons'])}")
        lines.append("  " + " " * 36 + "".join(f"{r:>26s}" for r in roles))
        lines.append("  language  metric" + " " * 26 + "".join(
            f"{(e['systems'][r]['version'] or '') if r != 'template' else 'floor':>26s}" for r in roles))
        for language in LANGUAGES:
            rows = [("primary (gate)", {r: e["primary"][language].get(r) for r in roles})]
            for key, name in (("strict_validity@best_of_k", "strict-valid best-of-k"),
                              ("code_bleu@best_of_k", "CodeBLEU best-of-k"), ("chrf@greedy", "chrF greedy")):
                rows.append((name, {r: e["systems"][r]["by_language"][language][key] for r in roles}))
            for name, values in rows:
                lines.append(f"  {language:9s} {name:32s}" + "".join(
                    f"{_num(values[r], 1 if 'chrF' in name else 3):>26s}" for r in roles))
    lines.append(f"active version: {summary['active_version'] or 'none (nothing promoted yet)'}")
    sample = summary.get("sample")
    if sample:
        if sample.get("error"):
            lines.append(f"sample generation: error {sample['error']}")
        else:
            lines.append(f"sample generation ({sample.get('language')}, {sample.get('model_version')}, "
                         f"strict-valid {sample.get('strict_valid')}, quality {_num(sample.get('quality_score'), 2)}): "
                         f"{SAMPLE_PROMPTS.get(sample.get('language'), '')!r}")
            lines.extend("    " + line for line in (sample.get("code") or "").splitlines()[:20])
    lines += ["", "next:",
              "  .venv/bin/dagster dev                     Dagit on this database (http://127.0.0.1:3000); the sensor",
              "                                            retrains when `rxt5 ingest` adds enough new code",
              '  .venv/bin/rxt5 generate "Create a GenServer for caching with TTL" --language elixir',
              "  .venv/bin/rxt5 serve                      the HTTP service (POST /generate) on 127.0.0.1",
              "  .venv/bin/rxt5 versions                   every version, its metrics and the gate's verdicts"]
    return "\n".join(lines)


def cmd_summary(args: argparse.Namespace) -> int:
    summary = quickstart_summary(Database(home=args.home), sample=not args.no_sample, home=args.home)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


def add_summary_commands(commands) -> None:
    parser = commands.add_parser(
        "summary", help="what the graph produced: chunks, dataset, base vs fine-tuned, the gate, the active version",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--no-sample", action="store_true", help="skip the sample generation")
    parser.set_defaults(func=cmd_summary)
