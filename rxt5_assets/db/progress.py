"""t5_training_progress: a ProgressSink that writes each logging step as it happens."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb


class PostgresProgressSink:
    """One row per (session, kind, step), committed immediately so the seed's progress query shows a live run.

    On resume, rows after the checkpoint's step are deleted before training continues, so no step is ever stored twice
    (the base's eval row at step 0 stays). Eval rows carry the per-language and per-task losses in `metrics`.
    """

    def __init__(self, url: str, training_session_id: str):
        self.training_session_id = training_session_id
        self._conn = psycopg.connect(url, autocommit=True)

    def record(self, rec) -> None:
        self._conn.execute(
            """insert into t5_training_progress
                   (training_session_id, kind, epoch, step, loss, eval_loss, learning_rate, training_time_seconds,
                    metrics)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (training_session_id, kind, step) do update set
                   epoch = excluded.epoch, loss = excluded.loss, eval_loss = excluded.eval_loss,
                   learning_rate = excluded.learning_rate, training_time_seconds = excluded.training_time_seconds,
                   metrics = excluded.metrics, inserted_at = clock_timestamp()""",
            (self.training_session_id, rec.kind, rec.epoch, rec.step, rec.loss, rec.eval_loss, rec.learning_rate,
             rec.training_time_seconds, Jsonb(getattr(rec, "metrics", None) or {})),
        )

    def resumed(self, from_step: int) -> None:
        self._conn.execute(
            "delete from t5_training_progress where training_session_id = %s and step > %s",
            (self.training_session_id, from_step),
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "PostgresProgressSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

