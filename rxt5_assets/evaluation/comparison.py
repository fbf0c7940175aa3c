"""One candidate-vs-active evaluation, end to end and recorded: what the evaluation_metrics asset runs.

    outcome = evaluate_versions(database, eval_file=..., models_dir=..., dataset_session_id=...)

* the candidate: the given version, else the newest adapter trained on the dataset (`newest_candidate`);
* the active side: the active version, else the bare base the candidate was trained on (its own t5_model_versions
  row `base-<fingerprint>`, created on first use) — so results always have a model_version_id;
* the template floor (evaluation/template.py);

all on the same sampled rows with the same settings. A version's scores are reused from an earlier completed
evaluation with the same cache key (version, rows, settings), so the active version is generated once. The evaluation
is recorded `running` first; its metric rows, decision and summaries are written in one transaction at the end; any
failure (or Ctrl-C) marks it `failed` and changes nothing else — in particular never the active version.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rxt5_assets.db import Database
from rxt5_assets.db.evaluations import cached_scores, complete_evaluation, create_evaluation, fail_evaluation
from rxt5_assets.db.model_versions import active_version, get_version, is_base, newest_candidate
from rxt5_assets.errors import UserFacingError
from rxt5_assets.evaluation.promotion import (
    GateDecision, GatePolicy, base_version_for, gate_decision, overall_primary, primary_by_language, primary_of,
)
from rxt5_assets.evaluation.runner import (
    ALL, EvalRow, EvaluationSettings, SystemResult, cache_key, evaluate_model, evaluate_template, load_eval_rows,
    sample_rows,
)

log = logging.getLogger(__name__)

ROLES = ("candidate", "active", "template")
PRIMARY = "primary"
_SHOWN_CHARS = 400


@dataclass
class EvaluationOutcome:
    evaluation_id: str
    candidate: dict[str, Any]
    active: dict[str, Any]  # the active version's row, or the bare base's row when none was active
    active_is_base: bool
    rows_total: int
    rows: list[EvalRow]
    settings: EvaluationSettings
    policy: GatePolicy
    systems: dict[str, SystemResult]
    decision: GateDecision
    results: list[dict[str, Any]]  # the stored metric rows
    examples: list[dict[str, Any]]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.decision.passed


class NoCandidateError(UserFacingError):
    """No trained version exists to evaluate."""


def load_version_model(version: dict[str, Any], models_dir: Path | str, *, device: str | None = None):
    """(model, tokenizer) of a t5_model_versions row: the bare base for a base row (its weights must still match the
    recorded fingerprint), else the adapter folder on its base."""
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.generate import load_trained
    from rxt5_assets.training.tiny import weights_fingerprint

    if is_base(version):
        model, tokenizer = load_base_model(version["base_model"], models_dir=models_dir)
        expected = (version.get("hyperparameters") or {}).get("base_fingerprint")
        if expected and weights_fingerprint(model) != expected:
            raise UserFacingError(
                f"base {version['base_model']!r} no longer has the weights of {version['version']} (fingerprint "
                f"{expected[:12]}…): it was rebuilt or replaced, so that version cannot be re-evaluated")
        if device is not None:
            model.to(device)
        model.eval()
        return model, tokenizer
    if not version.get("adapter_path"):
        raise UserFacingError(f"version {version['version']} has no adapter_path")
    return load_trained(version["adapter_path"], models_dir, device=device)


def _default_device() -> str | None:
    import torch

    return "cuda" if torch.cuda.is_available() else None


def _shown_rows(rows: list[EvalRow], n: int) -> list[int]:
    """Indices of the rows shown beside their references: the first of each (language, task), then the next ones."""
    firsts, seen = [], set()
    for i, row in enumerate(rows):
        if (row.language, row.task) not in seen:
            seen.add((row.language, row.task))
            firsts.append(i)
    rest = [i for i in range(len(rows)) if i not in set(firsts)]
    return sorted((firsts + rest)[:n])


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + " …"


def _run_system(role: str, version: dict[str, Any] | None, rows: list[EvalRow], settings: EvaluationSettings,
                database: Database, models_dir: Path | str, device: str | None, shown: list[int]) -> SystemResult:
    system_id = version["id"] if version is not None else "template"
    key = cache_key(system_id, rows, settings)
    with database.connect() as conn:
        cached = cached_scores(conn, system_id, key)
    if cached is not None:
        log.info("%s %s: scores reused from an earlier evaluation on the same rows and settings", role,
                 version["version"] if version else "template")
        return SystemResult(role, system_id, version["version"] if version else None, cached["scores"],
                            cached=True, cache_key=key, shown=cached.get("shown", {}))
    if version is None:
        result = evaluate_template(rows, settings)
    else:
        log.info("%s %s: generating greedy + best-of-%d on %d rows", role, version["version"], settings.k, len(rows))
        model, tokenizer = load_version_model(version, models_dir, device=device)
        try:
            result = evaluate_model(model, tokenizer, rows, settings, work_dir=Path(models_dir) / "eval-scratch")
        finally:
            del model
            gc.collect()
    result.role, result.system_id, result.version, result.cache_key = (
        role, system_id, version["version"] if version else None, key)
    result.shown = {str(i): {"greedy": _cut(result.greedy[i]), "best_of_k": _cut(result.best[i])} for i in shown}
    return result


def _result_rows(role: str, system: SystemResult, *, model_version_id: str | None, compared_to: str | None,
                 policy: GatePolicy, settings: EvaluationSettings, rows_digest: str) -> list[dict[str, Any]]:
    scores = system.scores
    out = []
    primaries = primary_by_language(scores, policy)
    overall = overall_primary(scores, policy)
    for language, values in scores["by_language"].items():
        per_task = scores["by_task"].get(language, {}) if language != ALL else {}
        metrics = {k: v for k, v in values.items() if k not in ("rows", "kinded_rows")}
        primary = overall if language == ALL else primaries.get(language)
        if primary is not None:
            metrics[PRIMARY] = primary
        for metric, value in sorted(metrics.items()):
            by_task = {task: (primary_of(v, policy) if metric == PRIMARY else v.get(metric))
                       for task, v in per_task.items()}
            count = int(values["kinded_rows"] if metric.startswith("strict_validity@") else values["rows"])
            out.append({
                "model_version_id": model_version_id, "compared_to_version_id": compared_to, "language": language,
                "metric": metric, "value": float(value), "sample_count": count,
                "details": {"role": role, "version": system.version, "per_task": {t: v for t, v in by_task.items()
                                                                                  if v is not None},
                            "k": settings.k, "seed": settings.seed, "rows_digest": rows_digest,
                            "cache_key": system.cache_key, "unavailable": scores.get("unavailable", {})},
            })
    return out


def evaluate_versions(database: Database, *, eval_file: Path | str, models_dir: Path | str,
                      candidate: str | None = None, dataset_session_id: str | None = None,
                      settings: EvaluationSettings = EvaluationSettings(), policy: GatePolicy = GatePolicy(),
                      dagster_run_id: str | None = None, device: str | None = "auto",
                      examples_to_show: int = 6) -> EvaluationOutcome:
    """Evaluate the candidate, the active version (or bare base) and the template floor; store everything; decide."""
    from rxt5_assets.evaluation.runner import rows_digest as digest_rows

    start = time.perf_counter()
    all_rows = load_eval_rows(eval_file)  # EmptyEvaluationSetError on an empty split
    rows = sample_rows(all_rows, settings.max_rows, settings.seed)
    digest = digest_rows(rows)
    with database.connect() as conn:
        cand = get_version(conn, candidate) if candidate else newest_candidate(conn, dataset_session_id)
        if cand is None:
            raise NoCandidateError(
                f"no trained model version to evaluate{' (candidate ' + repr(candidate) + ')' if candidate else ''}: "
                "materialize lora_adapter (or run `rxt5 train`) first")
        current = active_version(conn)
        active = current if current is not None else base_version_for(conn, cand)
        conn.commit()  # the base's own row, if it was just created, stays even when the evaluation is interrupted
    evaluation_id: str | None = None
    try:
        # inside the try: an interrupt right after the `running` row is committed still marks it failed
        with database.connect() as conn:
            evaluation_id = create_evaluation(
                conn, candidate_version_id=cand["id"], active_version_id=active["id"],
                dataset_session_id=dataset_session_id, eval_file=str(eval_file), rows_total=len(all_rows),
                rows_used=len(rows), sample_seed=settings.seed, settings=settings.as_dict(),
                dagster_run_id=dagster_run_id)
        if device == "auto":
            device = _default_device()
        shown = _shown_rows(rows, examples_to_show)
        systems: dict[str, SystemResult] = {}
        systems["candidate"] = _run_system("candidate", cand, rows, settings, database, models_dir, device, shown)
        if active["id"] == cand["id"]:
            same = systems["candidate"]
            systems["active"] = SystemResult("active", same.system_id, same.version, same.scores, cached=True,
                                             cache_key=same.cache_key, shown=same.shown)
        else:
            systems["active"] = _run_system("active", active, rows, settings, database, models_dir, device, shown)
        systems["template"] = _run_system("template", None, rows, settings, database, models_dir, device, shown)
        decision = gate_decision(systems["candidate"].scores, systems["active"].scores, policy,
                                 systems["template"].scores)
        results = (
            _result_rows("candidate", systems["candidate"], model_version_id=cand["id"], compared_to=active["id"],
                         policy=policy, settings=settings, rows_digest=digest)
            + _result_rows("active", systems["active"], model_version_id=active["id"], compared_to=cand["id"],
                           policy=policy, settings=settings, rows_digest=digest)
            + _result_rows("template", systems["template"], model_version_id=None, compared_to=cand["id"],
                           policy=policy, settings=settings, rows_digest=digest))
        examples = [{"language": rows[i].language, "task": rows[i].task, "source_id": rows[i].source_id,
                     "input": _cut(rows[i].input), "reference": _cut(rows[i].target),
                     **{role: systems[role].shown.get(str(i), {}) for role in ROLES}}
                    for i in shown]
        seconds = time.perf_counter() - start
        summary = {
            "systems": {role: {**s.summary(), "cached": s.cached, "shown": s.shown}
                        for role, s in systems.items()},
            "rows_digest": digest, "rows_total": len(all_rows), "rows_used": len(rows), "seed": settings.seed,
            "policy": policy.as_dict(), "examples": examples,
        }
        version_summaries = {}
        for role in ("candidate", "active"):
            s = systems[role]
            version_summaries[s.system_id] = {
                "evaluation_id": evaluation_id, "role": role, "primary": overall_primary(s.scores, policy),
                "primary_by_language": primary_by_language(s.scores, policy),
                "by_language": s.scores["by_language"], "rows_used": len(rows), "seed": settings.seed,
                "k": settings.k,
            }
        candidate_results = {
            "evaluation_id": evaluation_id, "compared_to_version_id": active["id"],
            "compared_to": active["version"], "compared_to_is_base": current is None,
            "decision": decision.as_dict(), "rows_used": len(rows), "rows_total": len(all_rows),
            "seed": settings.seed, "k": settings.k, "by_language": systems["candidate"].scores["by_language"],
            "by_task": systems["candidate"].scores["by_task"],
            "template_primary": decision.primary_template,
        }
        with database.connect() as conn:
            complete_evaluation(
                conn, evaluation_id, results=results, training_session_id=cand.get("training_session_id"),
                summary=summary, decision=decision.as_dict(), passed=decision.passed, seconds=seconds,
                candidate_version_id=cand["id"], candidate_results=candidate_results,
                version_summaries=version_summaries)
    except BaseException as exc:
        if evaluation_id is None:  # nothing was recorded yet
            raise
        error = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        try:
            with database.connect() as conn:
                fail_evaluation(conn, evaluation_id, error)
        except Exception:  # the original error matters more than the bookkeeping
            log.exception("could not mark evaluation %s failed", evaluation_id)
        raise
    timings = {role: round(s.generation_seconds + s.scoring_seconds, 2) for role, s in systems.items()}
    return EvaluationOutcome(evaluation_id, cand, active, current is None, len(all_rows), rows, settings, policy,
                             systems, decision, results, examples, round(seconds, 2), timings)
