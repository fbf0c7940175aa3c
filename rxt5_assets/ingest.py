"""Checkout → item-level chunks → code_chunks.

Walks a source tree, cuts each Rust/Elixir file into items with the language module's tree-sitter chunker and stores them
with COPY into a staging table followed by one `INSERT … ON CONFLICT DO NOTHING`, so re-ingesting a tree is a no-op and a
changed file adds only its new chunks. Bad files are skipped and counted by reason; nothing already stored is touched.
"""

from __future__ import annotations

import os
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
import pathspec

from rxt5_assets import languages
from rxt5_assets.db import Database

SKIPPED_DIRECTORIES = frozenset({".git", "target", "_build", "deps", "node_modules"})
MAX_FILE_BYTES = 1_000_000
BINARY_SNIFF_BYTES = 8192
BATCH_ROWS = 5000

DEMO_CORPUS = Path(__file__).resolve().parent / "demo_corpus"

_COLUMNS = ("content", "language", "file_path", "repo", "item_kind", "item_name", "start_line", "end_line")


@dataclass
class SourceFile:
    path: Path
    relative_path: str  # posix, relative to the ingested root: what code_chunks.file_path holds
    size: int
    language: languages.LanguageModule


@dataclass
class IngestReport:
    root: str
    repo: str
    files_seen: int = 0  # files with a registered language's extension
    files_ingested: int = 0
    bytes_ingested: int = 0
    chunks_new: int = 0
    chunks_duplicate: int = 0
    skipped_files: Counter = field(default_factory=Counter)  # reason -> count
    rejected_chunks: Counter = field(default_factory=Counter)  # reason -> count
    chunks_by_language: Counter = field(default_factory=Counter)  # new chunks per language
    # folders not walked: relative path -> (reason "skipped_name" | "gitignored", source files inside)
    skipped_dirs: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_ingested / 1e6 / self.seconds if self.seconds else 0.0

    def merge(self, other: "IngestReport") -> None:
        for name in ("files_seen", "files_ingested", "bytes_ingested", "chunks_new", "chunks_duplicate", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped_files.update(other.skipped_files)
        self.rejected_chunks.update(other.rejected_chunks)
        self.chunks_by_language.update(other.chunks_by_language)
        self.skipped_dirs.update({f"{other.repo}/{path}": value for path, value in other.skipped_dirs.items()})

    def as_dict(self) -> dict:
        return {
            "root": self.root,
            "repo": self.repo,
            "files_seen": self.files_seen,
            "files_ingested": self.files_ingested,
            "bytes_ingested": self.bytes_ingested,
            "chunks_new": self.chunks_new,
            "chunks_duplicate": self.chunks_duplicate,
            "skipped_files": dict(self.skipped_files),
            "rejected_chunks": dict(self.rejected_chunks),
            "chunks_by_language": dict(self.chunks_by_language),
            "skipped_dirs": [{"path": path, "reason": reason, "source_files": count}
                             for path, (reason, count) in sorted(self.skipped_dirs.items())],
            "seconds": round(self.seconds, 3),
        }

    def skipped_dirs_summary(self, limit: int = 12) -> list[str]:
        """Lines naming the folders not walked, those holding source files first, with a hint how to include them."""
        if not self.skipped_dirs:
            return []
        ranked = sorted(self.skipped_dirs.items(), key=lambda item: (-item[1][1], item[0]))
        shown = [f"{path}/ ({count} source file{'s' if count != 1 else ''}"
                 f"{', .gitignore' if reason == 'gitignored' else ''})" for path, (reason, count) in ranked[:limit]]
        more = f", and {len(ranked) - limit} more" if len(ranked) > limit else ""
        lines = ["  folders skipped: " + ", ".join(shown) + more]
        hidden = sum(count for _, count in self.skipped_dirs.values())
        if hidden:
            names = sorted({Path(path).name for path, (_, count) in self.skipped_dirs.items() if count})[:3]
            lines.append(f"  {hidden} source files are in skipped folders; to ingest them: "
                         + " ".join(f"--include-dir {name}" for name in names))
        return lines

    def summary(self) -> str:
        lines = [
            f"{self.repo}: {self.files_seen} source files seen, {self.files_ingested} ingested "
            f"({self.bytes_ingested / 1e6:.2f} MB in {self.seconds:.2f} s, {self.megabytes_per_second:.1f} MB/s)",
            f"  chunks: {self.chunks_new} new, {self.chunks_duplicate} already stored"
            + (f", {sum(self.rejected_chunks.values())} rejected" if self.rejected_chunks else ""),
        ]
        if self.chunks_by_language:
            lines.append("  new by language: " + ", ".join(f"{k} {v}" for k, v in sorted(self.chunks_by_language.items())))
        if self.skipped_files:
            lines.append("  files skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped_files.items())))
        if self.rejected_chunks:
            lines.append("  chunks rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected_chunks.items())))
        lines.extend(self.skipped_dirs_summary())
        return "\n".join(lines)


class _IgnoreRules:
    """The .gitignore files in effect for one directory: each applies to paths relative to its own folder."""

    def __init__(self, specs: tuple[tuple[Path, pathspec.PathSpec], ...] = ()):
        self.specs = specs

    def descend(self, directory: Path) -> "_IgnoreRules":
        gitignore = directory / ".gitignore"
        try:
            lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return self
        return _IgnoreRules(self.specs + ((directory, pathspec.GitIgnoreSpec.from_lines(lines)),))

    def forcing(self, directory: Path) -> "_IgnoreRules":
        """The rules inside a folder walked although .gitignore excludes it (--include-dir): the patterns that exclude
        the folder itself are dropped, the others still apply below it."""
        specs = []
        for base, spec in self.specs:
            relative = directory.relative_to(base).as_posix() + "/"
            kept = [p for p in spec.patterns if not (p.include and p.match_file(relative) is not None)]
            specs.append((base, pathspec.GitIgnoreSpec(kept)))
        return _IgnoreRules(tuple(specs))

    def ignores(self, path: Path, is_dir: bool) -> bool:
        for base, spec in self.specs:
            relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
            if spec.match_file(relative):
                return True
        return False


def count_source_files(directory: Path) -> int:
    """Files under `directory` a registered language owns (symlinks not followed): what skipping it leaves out."""
    count = 0
    for _, _, names in os.walk(directory):
        count += sum(1 for name in names if languages.for_path(Path(name)) is not None)
    return count


def find_source_files(root: Path, report: IngestReport, include_dirs: frozenset[str] = frozenset()
                      ) -> list[SourceFile]:
    """All files under `root` that a registered language owns, minus skipped folders and .gitignore'd paths.

    Skipped folders are recorded in `report.skipped_dirs` with the source files they hold (.git is not listed); a
    folder whose name is in `include_dirs` is walked even when its name is skipped or .gitignore excludes it."""
    found: list[SourceFile] = []
    skipped_names = SKIPPED_DIRECTORIES - include_dirs
    visited_directories: set[tuple[int, int]] = set()

    def walk(directory: Path, rules: _IgnoreRules) -> None:
        try:
            info = directory.stat()
        except OSError:
            report.skipped_files["unreadable"] += 1
            return
        key = (info.st_dev, info.st_ino)
        if key in visited_directories:  # reached again through a symlink: a loop or an alias
            report.skipped_files["symlink_loop"] += 1
            return
        visited_directories.add(key)
        rules = rules.descend(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            report.skipped_files["unreadable"] += 1
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks; a loop shows up through visited_directories
            except OSError:
                is_dir = False
            if is_dir:
                reason, inner_rules = None, rules
                if entry.name in skipped_names:
                    reason = "skipped_name"
                elif rules.ignores(path, is_dir=True):
                    if entry.name in include_dirs:
                        inner_rules = rules.forcing(path)
                    else:
                        reason = "gitignored"
                if reason is not None:
                    if entry.name != ".git":
                        report.skipped_dirs[path.relative_to(root).as_posix()] = (reason, count_source_files(path))
                    continue
                walk(path, inner_rules)
                continue
            language = languages.for_path(path)
            if language is None:
                continue
            if rules.ignores(path, is_dir=False):
                report.skipped_files["gitignored"] += 1
                continue
            report.files_seen += 1
            try:
                file_info = path.stat()
            except OSError:  # broken symlink, vanished file, symlink loop on a file
                report.skipped_files["unreadable"] += 1
                continue
            if not stat.S_ISREG(file_info.st_mode):
                report.skipped_files["not_a_regular_file"] += 1
                continue
            if file_info.st_size > MAX_FILE_BYTES:
                report.skipped_files["too_large"] += 1
                continue
            found.append(SourceFile(path, path.relative_to(root).as_posix(), file_info.st_size, language))

    walk(root, _IgnoreRules())
    return found


def read_source(source: SourceFile) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason) for a file that must be skipped."""
    try:
        data = source.path.read_bytes()
    except OSError:
        return None, "unreadable"
    if len(data) > MAX_FILE_BYTES:  # grew since the walk
        return None, "too_large"
    if b"\x00" in data:
        # git's own heuristic: a NUL near the start means binary; later ones are corrupt text
        return None, "binary" if b"\x00" in data[:BINARY_SNIFF_BYTES] else "nul_bytes"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "undecodable"


def chunk_rows(source: SourceFile, text: str, repo: str, report: IngestReport) -> list[tuple]:
    """The code_chunks rows of one file; chunker failures and empty items are counted, never raised."""
    try:
        items = source.language.chunk(text.encode("utf-8"))
    except Exception:  # a grammar bug must not stop a whole ingestion
        report.skipped_files["chunker_error"] += 1
        return []
    rows = []
    for item in items:
        if not item.text.strip():
            report.rejected_chunks["empty"] += 1
            continue
        rows.append(
            (item.text, source.language.name, source.relative_path, repo, item.kind, item.name or None,
             item.start_line, item.end_line)
        )
    return rows


def store_chunks(conn, rows: list[tuple]) -> list[tuple[int, str]]:
    """COPY rows into a staging table and insert those not stored yet; returns (id, language) of the new rows."""
    conn.execute(
        """create temp table if not exists rxt5_ingest_staging (
               ord bigint, content text, language text, file_path text, repo text,
               item_kind text, item_name text, start_line integer, end_line integer)"""
    )
    conn.execute("truncate rxt5_ingest_staging")
    with conn.cursor().copy(f"copy rxt5_ingest_staging (ord, {', '.join(_COLUMNS)}) from stdin") as copy:
        for ordinal, row in enumerate(rows):
            copy.write_row((ordinal, *row))
    cursor = conn.execute(
        f"""insert into code_chunks ({', '.join(_COLUMNS)})
            select {', '.join(_COLUMNS)} from rxt5_ingest_staging order by ord
            on conflict (repo, file_path, content_hash) do nothing
            returning id, language"""
    )
    return cursor.fetchall()


def ingest_path(
    database: Database,
    root: str | os.PathLike[str],
    repo: str | None = None,
    *,
    progress: bool | None = None,
    include_dirs: tuple[str, ...] | frozenset[str] = (),
) -> IngestReport:
    """Ingest one checkout. `progress=None` shows a bar only on a terminal. `include_dirs`: folder names to walk
    although they are skipped by default (deps, _build, target, node_modules) or .gitignore'd."""
    from tqdm.auto import tqdm

    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise FileNotFoundError(f"nothing to ingest: {root_path} does not exist")
    if not root_path.is_dir():
        raise NotADirectoryError(f"rxt5 ingest takes a checkout folder, and {root_path} is not a folder")
    root_path = root_path.resolve()
    report = IngestReport(root=str(root_path), repo=repo or root_path.name)
    started = time.perf_counter()
    sources = find_source_files(root_path, report, frozenset(include_dirs))

    bar = tqdm(
        total=sum(s.size for s in sources), unit="B", unit_scale=True, desc=f"ingest {report.repo}",
        disable=None if progress is None else not progress,
    )
    pending: list[tuple] = []
    pending_bytes = 0
    with database.connect() as conn:

        def flush() -> None:
            nonlocal pending, pending_bytes
            if pending:
                new_rows = store_chunks(conn, pending)
                conn.commit()  # each batch is durable on its own
                report.chunks_new += len(new_rows)
                report.chunks_duplicate += len(pending) - len(new_rows)
                report.chunks_by_language.update(language for _, language in new_rows)
                report.bytes_ingested += pending_bytes
            pending, pending_bytes = [], 0

        for source in sources:
            text, reason = read_source(source)
            if reason:
                report.skipped_files[reason] += 1
            else:
                rows = chunk_rows(source, text, report.repo, report)
                report.files_ingested += 1
                pending.extend(rows)
                pending_bytes += source.size
                if len(pending) >= BATCH_ROWS:
                    flush()
            bar.update(source.size)
            bar.set_postfix(chunks=report.chunks_new + len(pending), refresh=False)
        flush()
    bar.close()
    report.seconds = time.perf_counter() - started
    return report


def demo_repositories() -> list[Path]:
    """The shipped demo corpus: demo_corpus/<language>/<repo>/."""
    return sorted(p for p in DEMO_CORPUS.glob("*/*") if p.is_dir())


def ingest_demo(database: Database, *, progress: bool | None = None) -> IngestReport:
    total = IngestReport(root=str(DEMO_CORPUS), repo="demo")
    for repo_dir in demo_repositories():
        total.merge(ingest_path(database, repo_dir, repo_dir.name, progress=progress))
    return total

