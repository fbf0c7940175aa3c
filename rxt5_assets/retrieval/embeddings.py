"""Chunk embeddings in pgvector: mean-pooled encoder states of a model available offline, computed incrementally.

The encoder is the serving model family's own: by default the shipped `demo` base (`load_base_model("demo")`), any
name `load_base_model` accepts otherwise. Each embedding row records the encoder's fingerprint
(`<name>:<weights fingerprint>`) and the chunk's `content_hash` when it was embedded, so

* a chunk with no row for the current fingerprint (new) or a row of another content (updated in place) is embedded;
* a chunk already embedded by this encoder is never recomputed (`update_embeddings` is cheap when nothing is new);
* a deleted chunk takes its embeddings with it (`on delete cascade`), and a different encoder never mixes with another's
  vectors (every query filters on the fingerprint).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import psycopg

from rxt5_assets.errors import UserFacingError

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "demo"
MAX_TOKENS = 256  # tokens of a chunk the encoder reads (the demo base's relative attention sees 128 either way)
DEFAULT_BATCH_SIZE = 32


class VectorUnavailableError(UserFacingError):
    """The server has no pgvector: embeddings cannot be stored (full-text search still works)."""


def vector_available(conn: psycopg.Connection) -> bool:
    """Whether pgvector and the embeddings table are there; creates them when the extension can be created now (a
    server that gained pgvector after migration 5 ran). Never raises for a missing extension."""
    present = conn.execute("select to_regclass('code_chunk_embeddings') is not null").fetchone()[0]
    if present:
        return True
    from rxt5_assets.db.migrations import EMBEDDINGS_SQL

    with conn.transaction():
        conn.execute(EMBEDDINGS_SQL)  # a DO block that turns "no such extension" into a notice
    return bool(conn.execute("select to_regclass('code_chunk_embeddings') is not null").fetchone()[0])


def pgvector_missing_message(conn: psycopg.Connection) -> str:
    available = conn.execute("select default_version from pg_available_extensions where name = 'vector'").fetchone()
    why = ("the extension is available but this role may not create it (ask an administrator to run "
           "`create extension vector` in this database)" if available else
           "the extension is not installed on this PostgreSQL server (install pgvector ≥ 0.5, then `create extension "
           "vector`)")
    return f"pgvector is unavailable: {why}; vector and hybrid retrieval fall back to full-text search"


class Encoder:
    """Mean-pooled, L2-normalised encoder states of a seq2seq base; `fingerprint` names the weights."""

    def __init__(self, name: str = DEFAULT_ENCODER, *, models_dir: Any = None, max_tokens: int = MAX_TOKENS):
        import torch

        from rxt5_assets.training.base_model import load_base_model
        from rxt5_assets.training.tiny import weights_fingerprint

        model, tokenizer = load_base_model(name, models_dir=models_dir or ".")
        self.name = name
        self.fingerprint = f"{name}:{weights_fingerprint(model)}"
        self.encoder = model.get_encoder().eval()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.dimensions = int(model.config.d_model)
        self._torch = torch

    def embed(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE):
        """(len(texts), d_model) float32 array of unit vectors."""
        import numpy as np

        torch = self._torch
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # longest first within the call: batches of similar length pad little
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                batch = self.tokenizer([texts[i] or " " for i in index], padding=True, truncation=True,
                                       max_length=self.max_tokens, return_tensors="pt")
                states = self.encoder(input_ids=batch["input_ids"],
                                      attention_mask=batch["attention_mask"]).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[index] = pooled.float().numpy()
        return out


def recorded_fingerprint(name: str, models_dir: Any = None) -> str | None:
    """The encoder's fingerprint without loading it, where the base records its own (demo, tiny): lets an up-to-date
    index be checked without importing torch. None: only loading the weights tells."""
    from rxt5_assets.training.base_model import DEMO_BASE_DIR
    from rxt5_assets.training.config import DEMO, TINY
    from rxt5_assets.training.tiny import is_complete_base, read_tiny_metadata, tiny_base_dir

    folder = DEMO_BASE_DIR if name == DEMO else tiny_base_dir(models_dir or ".") if name == TINY else None
    if folder is None or not is_complete_base(folder):
        return None
    try:
        fingerprint = read_tiny_metadata(folder).get("fingerprint")
    except (OSError, ValueError):
        return None
    return f"{name}:{fingerprint}" if fingerprint else None


_encoders: dict[tuple[str, str], Encoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(name: str = DEFAULT_ENCODER, *, models_dir: Any = None) -> Encoder:
    """One loaded encoder per (name, models_dir) and process."""
    key = (name, str(models_dir))
    with _encoders_lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _encoders[key] = Encoder(name, models_dir=models_dir)
    return encoder


def vector_literal(vector) -> str:
    """pgvector's text form of one vector (no client-side pgvector package needed)."""
    return "[" + ",".join(f"{float(x):.6g}" for x in vector) + "]"


@dataclass
class IndexReport:
    model_fingerprint: str
    pgvector: bool
    chunks: int = 0  # chunks in scope (repo / language) with content
    embedded: int = 0  # computed now
    already: int = 0  # had an embedding of this encoder for their current content
    seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if not self.pgvector:
            return self.message
        return (f"embeddings ({self.model_fingerprint}): {self.embedded} new, {self.already} already there, "
                f"{self.chunks} chunks in scope, {self.seconds:.1f} s")


def _scope(repo: str | None, language: str | None) -> tuple[str, list]:
    clauses, params = ["c.content is not null", "c.content <> ''"], []
    if repo is not None:
        clauses.append("c.repo = %s")
        params.append(repo)
    if language is not None:
        clauses.append("c.language = %s")
        params.append(language)
    return " and ".join(clauses), params


def missing_embeddings(conn: psycopg.Connection, fingerprint: str, *, repo: str | None = None,
                       language: str | None = None) -> list[int]:
    """Ids of the chunks in scope with no embedding of `fingerprint` for their current content (one indexed query)."""
    where, params = _scope(repo, language)
    return [row[0] for row in conn.execute(
        f"""select c.id from code_chunks c
            left join code_chunk_embeddings e on e.chunk_id = c.id and e.model_fingerprint = %s
            where {where} and (e.chunk_id is null or e.content_hash is distinct from c.content_hash)
            order by c.id""", [fingerprint, *params])]


def update_embeddings(conn: psycopg.Connection, *, repo: str | None = None, language: str | None = None,
                      encoder: Encoder | None = None, model: str = DEFAULT_ENCODER, models_dir: Any = None,
                      batch_size: int = DEFAULT_BATCH_SIZE, progress: bool | None = False) -> IndexReport:
    """Embed the chunks (of `repo` / `language`, else all) that lack an embedding of the current encoder; each batch is
    committed on its own (a savepoint when the caller holds a transaction). Returns what was done; without pgvector
    the report says so and nothing is raised."""
    started = time.perf_counter()
    if not vector_available(conn):
        return IndexReport(model_fingerprint="", pgvector=False, message=pgvector_missing_message(conn))
    fingerprint = encoder.fingerprint if encoder else recorded_fingerprint(model, models_dir)
    if fingerprint is None:
        encoder = get_encoder(model, models_dir=models_dir)
        fingerprint = encoder.fingerprint
    where, params = _scope(repo, language)
    total = conn.execute(f"select count(*) from code_chunks c where {where}", params).fetchone()[0]
    missing = missing_embeddings(conn, fingerprint, repo=repo, language=language)
    report = IndexReport(model_fingerprint=fingerprint, pgvector=True, chunks=total, already=total - len(missing))
    if missing:
        encoder = encoder or get_encoder(model, models_dir=models_dir)
        if encoder.fingerprint != fingerprint:  # the recorded fingerprint is stale: trust the weights
            return update_embeddings(conn, repo=repo, language=language, encoder=encoder, batch_size=batch_size,
                                     progress=progress)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(missing), unit="chunk", desc="embed", disable=None if progress is None else not progress)
        for start in range(0, len(missing), batch_size):
            ids = missing[start:start + batch_size]
            rows = conn.execute("select id, content, content_hash from code_chunks where id = any(%s) order by id",
                                (ids,)).fetchall()
            vectors = encoder.embed([content for _, content, _ in rows], batch_size=batch_size)
            with conn.transaction():
                with conn.cursor() as cursor:
                    cursor.executemany(
                        """insert into code_chunk_embeddings (chunk_id, model_fingerprint, content_hash, embedding)
                           values (%s, %s, %s, %s::vector)
                           on conflict (chunk_id, model_fingerprint) do update
                              set content_hash = excluded.content_hash, embedding = excluded.embedding,
                                  updated_at = now()""",
                        [(chunk_id, encoder.fingerprint, content_hash, vector_literal(vector))
                         for (chunk_id, _, content_hash), vector in zip(rows, vectors)])
            report.embedded += len(rows)
            bar.update(len(ids))
        bar.close()
    report.seconds = time.perf_counter() - started
    return report
