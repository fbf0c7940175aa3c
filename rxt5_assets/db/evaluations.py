"""t5_evaluations and t5_evaluation_results: one evaluation run and its metric rows.

An evaluation is recorded as `running` before any generation, and its metric rows, its summary, the gate's decision and
the candidate's t5_model_versions summary are written together in ONE transaction when it completes — so a failed or
interrupted evaluation leaves a `failed` row (with the error) and no metric rows, and never touches the active version.

Metric rows: one per metric × language × system, where the system (details.role) is the candidate, the active version
(the bare base's own row when none is active) or the template floor (model_version_id NULL). Candidate and active rows
carry compared_to_version_id = the other one; template rows compare to the candidate.
"""

from __future__ import annotations

from typing import Any, Iterable

import psycopg
from psycopg.types.json import Jsonb

RESULT_COLUMNS = ("model_version_id", "language", "metric", "value", "sample_count", "details")


def create_evaluation(conn: psycopg.Connection, *, candidate_version_id: str, active_version_id: str | None,
                      dataset_session_id: str | None, eval_file: str | None, rows_total: int, rows_used: int,
                      sample_seed: int, settings: dict[str, Any], dagster_run_id: str | None = None) -> str:
    return str(conn.execute(
        """insert into t5_evaluations (candidate_version_id, active_version_id, dataset_session_id, eval_file,
               rows_total, rows_used, sample_seed, settings, dagster_run_id)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning id""",
        (candidate_version_id, active_version_id, dataset_session_id, eval_file, rows_total, rows_used, sample_seed,
         Jsonb(settings), dagster_run_id),
    ).fetchone()[0])


def fail_evaluation(conn: psycopg.Connection, evaluation_id: str, error: str) -> None:
    conn.execute("update t5_evaluations set status = 'failed', error = %s, completed_at = now() where id = %s",
                 (error[:4000], evaluation_id))


def complete_evaluation(conn: psycopg.Connection, evaluation_id: str, *, results: Iterable[dict[str, Any]],
                        training_session_id: str | None, summary: dict[str, Any], decision: dict[str, Any],
                        passed: bool, seconds: float, candidate_version_id: str,
                        candidate_results: dict[str, Any], version_summaries: dict[str, dict[str, Any]]) -> int:
    """Store every metric row, mark the evaluation completed with its decision, and write the summaries into
    t5_model_versions (performance_metrics.evaluation of every evaluated version; evaluation_results and the status
    `evaluated` / `rejected` of the candidate) — all in one transaction. Returns the number of metric rows."""
    rows = list(results)
    with conn.transaction():
        with conn.cursor().copy(
            "copy t5_evaluation_results (evaluation_id, training_session_id, compared_to_version_id, "
            f"{', '.join(RESULT_COLUMNS)}) from stdin"
        ) as copy:
            for row in rows:
                copy.write_row((evaluation_id, training_session_id, row.get("compared_to_version_id"),
                                row.get("model_version_id"), row["language"], row["metric"], float(row["value"]),
                                row.get("sample_count"), Jsonb(row.get("details") or {})))
        conn.execute(
            """update t5_evaluations set status = 'completed', summary = %s, decision = %s, passed = %s,
                   seconds = %s, completed_at = now() where id = %s""",
            (Jsonb(summary), Jsonb(decision), passed, seconds, evaluation_id))
        for version_id, version_summary in version_summaries.items():
            conn.execute(
                """update t5_model_versions set performance_metrics = performance_metrics || %s where id = %s""",
                (Jsonb({"evaluation": version_summary}), version_id))
        conn.execute(
            """update t5_model_versions set evaluation_results = %s,
                   status = case when is_active then status when %s then 'evaluated' else 'rejected' end
               where id = %s""",
            (Jsonb(candidate_results), passed, candidate_version_id))
    return len(rows)


def get_evaluation(conn: psycopg.Connection, evaluation_id: str) -> dict[str, Any] | None:
    cursor = conn.execute(
        """select id::text as id, candidate_version_id::text as candidate_version_id,
                  active_version_id::text as active_version_id, dataset_session_id::text as dataset_session_id,
                  status, eval_file, rows_total, rows_used, sample_seed, settings, summary, decision, passed, seconds,
                  dagster_run_id, error, inserted_at, completed_at
           from t5_evaluations where id = %s""", (evaluation_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row)) if row else None


def latest_evaluation(conn: psycopg.Connection, candidate_version_id: str | None = None, *,
                      status: str | None = "completed") -> dict[str, Any] | None:
    """The newest evaluation (of one candidate, or of any), completed ones only unless `status` is None."""
    row = conn.execute(
        """select id::text from t5_evaluations
           where (%s::uuid is null or candidate_version_id = %s::uuid) and (%s::text is null or status = %s::text)
           order by inserted_at desc limit 1""",
        (candidate_version_id, candidate_version_id, status, status)).fetchone()
    return get_evaluation(conn, row[0]) if row else None


def evaluation_results(conn: psycopg.Connection, evaluation_id: str) -> list[dict[str, Any]]:
    """Every metric row of one evaluation, with its role (candidate | active | template) and version name."""
    cursor = conn.execute(
        """select r.details->>'role' as role, r.model_version_id::text as model_version_id, v.version,
                  r.compared_to_version_id::text as compared_to_version_id, r.language, r.metric, r.value,
                  r.sample_count, r.details
           from t5_evaluation_results r left join t5_model_versions v on v.id = r.model_version_id
           where r.evaluation_id = %s order by r.id""", (evaluation_id,))
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def cached_scores(conn: psycopg.Connection, model_version_id: str, cache_key: str) -> dict[str, Any] | None:
    """The stored scores of a version evaluated before on the same rows with the same settings (details.cache_key),
    from its newest completed evaluation — what lets the active version be scored once, not once per candidate."""
    row = conn.execute(
        """select s.value from t5_evaluations e, jsonb_each(e.summary->'systems') s
           where e.status = 'completed' and s.value->>'model_version_id' = %s and s.value->>'cache_key' = %s
           order by e.completed_at desc limit 1""",
        (model_version_id, cache_key)).fetchone()
    return row[0] if row else None
