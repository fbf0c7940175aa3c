"""Markdown views of an evaluation: the side-by-side table with deltas, generations beside references, the decision."""

from __future__ import annotations

from typing import Any, Mapping

from rxt5_assets.evaluation.promotion import GatePolicy, primary_of

# the columns of the side-by-side table (each as candidate / active / Δ), after the primary metric
TABLE_METRICS = ("strict_validity@best_of_k", "strict_validity@greedy", "code_bleu@best_of_k", "chrf@greedy",
                 "compile_success@best_of_k")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _delta(candidate: float | None, active: float | None) -> str:
    if candidate is None or active is None:
        return "–"
    d = candidate - active
    return f"**{d:+.3f}**" if abs(d) >= 0.005 else f"{d:+.3f}"


def _cells(cand: Mapping[str, float], act: Mapping[str, float], tmpl: Mapping[str, float],
           policy: GatePolicy) -> list[str]:
    c, a, t = primary_of(cand, policy), primary_of(act, policy), primary_of(tmpl, policy)
    cells = [_fmt(c), _fmt(a), _delta(c, a), _fmt(t)]
    for metric in TABLE_METRICS:
        cells += [_fmt(cand.get(metric)), _fmt(act.get(metric)), _delta(cand.get(metric), act.get(metric))]
    return cells


def comparison_table_md(candidate: Mapping[str, Any], active: Mapping[str, Any], template: Mapping[str, Any],
                        policy: GatePolicy, *, candidate_name: str, active_name: str) -> str:
    """Per language (all tasks) and per task: rows, primary (candidate, active, Δ, template) and the main metrics."""
    header = ["language", "task", "rows", f"primary {candidate_name}", f"primary {active_name}", "Δ", "template"]
    for metric in TABLE_METRICS:
        header += [f"{metric} cand.", "act.", "Δ"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    languages = [lang for lang in candidate["by_language"] if lang != "all"] + ["all"]
    for language in languages:
        values = candidate["by_language"][language]
        lines.append("| " + " | ".join([f"**{language}**", "(all)", str(int(values.get("rows", 0)))]
                                       + _cells(values, active["by_language"].get(language, {}),
                                                template["by_language"].get(language, {}), policy)) + " |")
        for task, task_values in sorted(candidate["by_task"].get(language, {}).items()):
            lines.append("| " + " | ".join(
                [language, task, str(int(task_values.get("rows", 0)))]
                + _cells(task_values, active["by_task"].get(language, {}).get(task, {}),
                         template["by_task"].get(language, {}).get(task, {}), policy)) + " |")
    return "\n".join(lines)


def _code(text: str) -> str:
    return "<code>" + (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")
                       .replace("\n", "<br>")) + "</code>" if text else "–"


def examples_md(examples: list[dict[str, Any]]) -> str:
    """A few generations beside their references (candidate greedy / best-of-k, active best-of-k, template)."""
    if not examples:
        return "_no rows_"
    header = ["language", "task", "input", "reference", "candidate greedy", "candidate best-of-k", "active best-of-k",
              "template"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for ex in examples:
        lines.append("| " + " | ".join([
            ex["language"], ex["task"], _code(ex["input"]), _code(ex["reference"]),
            _code(ex.get("candidate", {}).get("greedy", "")), _code(ex.get("candidate", {}).get("best_of_k", "")),
            _code(ex.get("active", {}).get("best_of_k", "")), _code(ex.get("template", {}).get("greedy", "")),
        ]) + " |")
    return "\n".join(lines)


def decision_md(decision: Mapping[str, Any], *, candidate_name: str, active_name: str) -> str:
    verdict = "**passes**" if decision["passed"] else "**refused**"
    lines = [f"{candidate_name} vs {active_name}: {verdict} — primary {_fmt(decision['primary_candidate'])} vs "
             f"{_fmt(decision['primary_active'])} (template floor {_fmt(decision['primary_template'])})", ""]
    lines += [f"- {reason}" for reason in decision["reasons"]]
    lines += ["", "| language | rows | gated | candidate | active | Δ | template | ok |", "|" + "---|" * 8]
    for language, d in decision["per_language"].items():
        lines.append(f"| {language} | {d['rows']} | {'yes' if d['gated'] else 'no'} | {_fmt(d['candidate'])} | "
                     f"{_fmt(d['active'])} | {_delta(d['candidate'], d['active'])} | {_fmt(d['template'])} | "
                     f"{'✓' if d['ok'] else '✗'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# `rxt5 versions`

def versions_overview(conn) -> list[dict[str, Any]]:
    """Every version with its status, whether it is active, and its latest evaluation's headline numbers."""
    from rxt5_assets.db.model_versions import is_base, list_versions

    out = []
    for v in list_versions(conn):
        evaluation = (v["performance_metrics"] or {}).get("evaluation") or {}
        overall = (evaluation.get("by_language") or {}).get("all", {})
        decision = (v["evaluation_results"] or {}).get("decision") or {}
        out.append({
            "active": bool(v["is_active"]), "version": v["version"], "id": v["id"], "status": v["status"],
            "kind": "base" if is_base(v) else "adapter", "base_model": v["base_model"],
            "primary": evaluation.get("primary"),
            "strict_validity@best_of_k": overall.get("strict_validity@best_of_k"),
            "code_bleu@best_of_k": overall.get("code_bleu@best_of_k"), "chrf@greedy": overall.get("chrf@greedy"),
            "gate": None if not decision else ("passed" if decision.get("passed") else "refused"),
            "compared_to": (v["evaluation_results"] or {}).get("compared_to"),
            "eval_loss": (v["performance_metrics"] or {}).get("eval_loss"),
            "inserted_at": v["inserted_at"].isoformat() if v["inserted_at"] else None,
            "activated_at": v["activated_at"].isoformat() if v["activated_at"] else None,
            "adapter_path": v["adapter_path"],
        })
    return out


def format_versions(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no model versions yet: materialize lora_adapter or run `rxt5 train`"
    columns = [("", lambda r: "*" if r["active"] else ""), ("version", lambda r: r["version"]),
               ("kind", lambda r: r["kind"]), ("status", lambda r: r["status"]),
               ("primary", lambda r: _fmt(r["primary"])),
               ("strict@bok", lambda r: _fmt(r["strict_validity@best_of_k"])),
               ("codebleu@bok", lambda r: _fmt(r["code_bleu@best_of_k"])),
               ("chrf@greedy", lambda r: _fmt(r["chrf@greedy"])),
               ("gate", lambda r: r["gate"] or "–"), ("vs", lambda r: r["compared_to"] or "–"),
               ("eval_loss", lambda r: _fmt(r["eval_loss"])), ("base", lambda r: r["base_model"]),
               ("inserted", lambda r: (r["inserted_at"] or "")[:19])]
    table = [[name for name, _ in columns]] + [[str(get(r)) for _, get in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    active = next((r["version"] for r in rows if r["active"]), None)
    lines.append("")
    lines.append(f"active: {active}" if active else "active: none (the bare base is what a new candidate must beat)")
    return "\n".join(lines)
