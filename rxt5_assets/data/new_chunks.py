"""What the retraining sensor asks of code_chunks: how many eligible chunks landed after a given id, per language.

"Eligible" is the data stage's own selection (language, minimum length, no test paths), so a tick never triggers on rows
the data stage would drop anyway. The query walks the (language, id) index from the cursor: its cost follows the new
rows, not the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from rxt5_assets.data.chunks import ChunkSelection


#: the run tag (set by the retraining sensor) the data stage stops at: chunks with an id above it belong to the next run
MAX_CHUNK_ID_TAG = "rxt5/max_chunk_id"


@dataclass(frozen=True)
class NewChunks:
    after_id: int
    per_language: dict[str, int] = field(default_factory=dict)
    max_id: int | None = None  # newest eligible id seen (None: nothing new)

    @property
    def total(self) -> int:
        return sum(self.per_language.values())


NEW_CHUNKS_SQL = (
    "select language, count(*), max(id) from code_chunks "
    "where language = any(%s) and id > %s and length(content) >= %s and file_path not like %s "
    "group by language"
)


def count_new_chunks(conn: psycopg.Connection, after_id: int, selection: ChunkSelection) -> NewChunks:
    rows = conn.execute(NEW_CHUNKS_SQL, [list(selection.languages), after_id, selection.min_length,
                                         selection.exclude_path_pattern]).fetchall()
    per_language = {language: int(count) for language, count, _ in rows}
    max_id = max((int(m) for _, _, m in rows), default=None)
    return NewChunks(after_id=after_id, per_language=per_language, max_id=max_id)


def newest_chunk_id(conn: psycopg.Connection) -> int:
    return int(conn.execute("select coalesce(max(id), 0) from code_chunks").fetchone()[0])


def last_trained_chunk_id(conn: psycopg.Connection) -> int:
    """The newest chunk id a training session has seen (0 when none): the sensor's starting cursor, so a fresh
    daemon does not retrain on code the active model already learned."""
    row = conn.execute("select coalesce(max(max_code_chunk_id), 0) from t5_training_sessions "
                       "where status in ('prepared', 'training', 'completed')").fetchone()
    return int(row[0])


@dataclass(frozen=True)
class RetrainThreshold:
    """Retrain when at least `min_new_chunks` eligible chunks landed in all, or when one language reaches its own
    threshold in `per_language` (e.g. {"elixir": 50}: a small Elixir team's code counts on its own)."""

    min_new_chunks: int = 200
    per_language: dict[str, int] = field(default_factory=dict)

    def reached(self, new: NewChunks) -> list[str]:
        """Why a retrain is due (empty: not due)."""
        reasons = []
        if new.total >= self.min_new_chunks:
            reasons.append(f"{new.total} new chunks ≥ {self.min_new_chunks}")
        for language, needed in sorted(self.per_language.items()):
            got = new.per_language.get(language, 0)
            if got >= needed:
                reasons.append(f"{got} new {language} chunks ≥ {needed}")
        return reasons

    def describe_shortfall(self, new: NewChunks) -> str:
        parts = [f"{new.total} new eligible chunk(s) since id {new.after_id}"
                 + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(new.per_language.items()))})" if new.total else "")
                 + f"; a retrain needs {self.min_new_chunks}"]
        for language, needed in sorted(self.per_language.items()):
            parts.append(f"or {needed} {language}")
        return " ".join(parts)
