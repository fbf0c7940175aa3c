"""What one data-stage run hands to the next: the preprocessed parts, a row ledger, and per-part caches.

A run's `preprocessed_chunks/` folder holds, next to its parquet parts, `ledger.parquet` — one row per code_chunks row
it read: (id, content_hash, language, file_path, repo, outcome, result), outcome being the row's class before
deduplication (a drop reason, `test_path` or `candidate`) and result what its analysis gave (`accepted`, `test`,
`test_failed`, a drop reason; null when it was never analysed: a duplicate) — and `manifest.json`: the key the ledger
is valid for and, per part, the last code_chunks id its batch covered and a fingerprint of its rows.

The next run lists the table without its content (ids, hashes, paths: a few MB), batches it along the previous run's
parts, and fetches from PostgreSQL only the rows the ledger does not know as they are now (same id, content hash,
language, path and repo: the same row, so the same outcome); a part none of whose rows changed is hard-linked, not
read or written. Deduplication (the first row of a content hash, in id order, wins) is decided again over the whole
table on every run, so a deleted or new row changes it exactly as in a full rebuild; a row that becomes the first of
its hash is fetched and analysed.

The key: the selection options, the analyser version of every registered language (whether a chunk is
`wrong_language` depends on the other languages' modules) and a hash of this module. Another key: nothing is carried.

A part's fingerprint (its rows' ids, hashes, languages, repos and paths, and the key) names what later stages cache
per part (`examples.py`: scores, example candidates and their dedup keys), so a part carried unchanged is not scored
again either.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

LEDGER_SCHEMA = {"id": pl.Int64, "content_hash": pl.String, "language": pl.String, "file_path": pl.String,
                 "repo": pl.String, "outcome": pl.String, "result": pl.String}
ROW_IDENTITY = ("content_hash", "language", "file_path", "repo")
LEDGER, MANIFEST = "ledger.parquet", "manifest.json"
FORMAT = 1


def unique_temporary(path: Path) -> Path:
    """A temporary name next to `path` that no other process uses (published with an atomic rename)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def source_hash(*paths: Path) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(key: dict, rows: pl.DataFrame) -> str:
    """What a part's rows are: ids, content hashes, languages, repos, paths (in order) under `key`."""
    digest = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=16)
    digest.update(rows.select("id", "content_hash", "language", "repo", "file_path").write_csv(None).encode())
    return digest.hexdigest()


@dataclass
class PartRecord:
    file: str
    last_id: int  # the batch covered code_chunks ids up to this one (from the previous part's last_id, exclusive)
    fingerprint: str
    rows: int
    tests: int
    carried: bool = False
    patterns: dict = field(default_factory=dict)


@dataclass
class Prior:
    """The previous run's preprocessed folder, its files hard-linked into this run's temporary folder (so that a
    concurrent publish of that folder cannot take them away mid-run)."""

    ledger: pl.DataFrame
    parts: list[PartRecord]
    folder: Path  # the linked parts: <folder>/chunks/part-…, <folder>/tests/part-…

    @classmethod
    def load(cls, chunks: Path, tests: Path, key: dict, into: Path) -> "Prior | None":
        try:
            manifest = json.loads((chunks / MANIFEST).read_text())
            if manifest.get("key") != key:
                return None
            into.mkdir(parents=True)
            (into / "chunks").mkdir()
            (into / "tests").mkdir()
            os.link(chunks / LEDGER, into / LEDGER)
            parts = [PartRecord(**part) for part in manifest["parts"]]
            for part in parts:
                os.link(chunks / part.file, into / "chunks" / part.file)
                os.link(tests / part.file, into / "tests" / part.file)
            ledger = pl.read_parquet(into / LEDGER)
        except (FileNotFoundError, NotADirectoryError, KeyError, TypeError, json.JSONDecodeError):
            shutil.rmtree(into, ignore_errors=True)
            return None
        return cls(ledger=ledger, parts=parts, folder=into)

    def chunk_part(self, part: PartRecord) -> Path:
        return self.folder / "chunks" / part.file

    def test_part(self, part: PartRecord) -> Path:
        return self.folder / "tests" / part.file


def write_manifest(folder: Path, key: dict, parts: list[PartRecord], ledger: pl.DataFrame) -> None:
    ledger.write_parquet(folder / LEDGER)
    (folder / MANIFEST).write_text(json.dumps({"key": key, "parts": [part.__dict__ for part in parts]}, indent=1))


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None
