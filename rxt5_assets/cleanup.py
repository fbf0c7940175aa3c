"""What `rxt5 clean` may delete under $RXT5_HOME, and deleting it safely. No Dagster, no database: the caller says
which runs are in progress and which versions to keep.

Two things accumulate:

* **per-run data folders**, `data/runs/<run id>/`: every Dagster run of the data stage writes its stage files there
  (`defs/data_assets.stage_files`). A folder is kept when a `data/latest/<asset>.json` pointer names it (a later step
  or run adopts it), when its run is in progress (queued, starting, started or cancelling in Dagster), when it is one
  of the `keep_runs` newest, or when anything in it changed less than `min_age_s` ago (a run of an instance Dagster
  does not list, e.g. a test's ephemeral one, is still protected). Run folders share files by hard links (a step
  adopting its upstream's folder links the files in), so the bytes freed count only files whose every link is in
  a removed folder.
* **CTranslate2 caches**, `models/deployments/<version>/ct2-<int8|fp32>/` (`generation/ctranslate.py`): a converted
  copy of a deployed version. The caches of the versions in `keep_versions` (the active one and the one before it, as
  the caller resolves them from t5_deployments) and of whatever `models/active` points at are kept; the deployment
  folder itself (the adapter and its manifest, what `rxt5 deploy` / `rxt5 rollback` switch to) is never touched, so a
  version whose cache was removed is converted again when it is deployed again. A cache is removed only under the
  deployment's `.ct2.lock` taken without waiting: a conversion in progress holds it, and that deployment is skipped.

Removal moves a folder aside with one rename (atomic: a reader sees the folder or nothing) and then deletes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from rxt5_assets.errors import UserFacingError

RUNS_DIR = ("data", "runs")
LATEST_DIR = ("data", "latest")
DEPLOYMENTS_DIR = ("models", "deployments")
ACTIVE_LINK = ("models", "active")
CT2_PREFIX = "ct2-"  # generation.ctranslate.CACHE_PREFIX (not imported: that module is the generation's)
CT2_LOCK = ".ct2.lock"  # generation.ctranslate.LOCK_FILE
ASIDE_PREFIX = ".rxt5-clean-"  # a folder moved aside for deletion (what a killed clean may leave)
DEFAULT_KEEP_RUNS = 3
DEFAULT_KEEP_VERSIONS = 2
DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class Item:
    """One folder `rxt5 clean` looked at: `kind` run-folder | ct2-cache; `keep_reason` None when it is removed."""

    kind: str
    path: Path
    keep_reason: str | None
    bytes: int = 0  # removed items: what deleting frees; kept ones: their size on its own

    @property
    def removed(self) -> bool:
        return self.keep_reason is None


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)

    @property
    def removals(self) -> list[Item]:
        return [item for item in self.items if item.removed]

    @property
    def kept(self) -> list[Item]:
        return [item for item in self.items if not item.removed]

    @property
    def freed_bytes(self) -> int:
        return sum(item.bytes for item in self.removals)

    def to_json(self) -> dict:
        return {"removed": [{"kind": i.kind, "path": str(i.path), "bytes": i.bytes} for i in self.removals],
                "kept": [{"kind": i.kind, "path": str(i.path), "reason": i.keep_reason} for i in self.kept],
                "freed_bytes": self.freed_bytes}


def _files(folder: Path) -> Iterator[os.stat_result]:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                yield os.lstat(os.path.join(root, name))
            except FileNotFoundError:  # removed meanwhile
                continue


def _size(folder: Path) -> int:
    return sum(stat.st_size for stat in _files(folder))


def _freed(folders: Iterable[Path]) -> dict[Path, int]:
    """Bytes that deleting all of `folders` frees, per folder: a hard-linked file counts (once, for the first
    folder holding it) only when every one of its links is inside these folders."""
    seen: dict[tuple[int, int], list] = {}  # inode -> [links found, st_nlink, size, first folder]
    for folder in folders:
        for stat in _files(folder):
            entry = seen.setdefault((stat.st_dev, stat.st_ino), [0, stat.st_nlink, stat.st_size, folder])
            entry[0] += 1
    freed: dict[Path, int] = {}
    for found, links, size, folder in seen.values():
        freed[folder] = freed.get(folder, 0) + (size if found >= links else 0)
    return freed


def _newest_change(folder: Path) -> float:
    """The latest mtime of the folder and of what it holds (a run writing there moves it)."""
    newest = folder.stat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def referenced_run_folders(home: Path) -> dict[str, str]:
    """Run folder name -> the asset whose `data/latest/<asset>.json` pointer names it."""
    latest = home.joinpath(*LATEST_DIR)
    referenced: dict[str, str] = {}
    for pointer in sorted(latest.glob("*.json")) if latest.is_dir() else []:
        try:
            folder = Path(json.loads(pointer.read_text())["folder"])
        except (OSError, ValueError, KeyError) as exc:
            raise UserFacingError(f"{pointer} cannot be read ({exc}); fix or remove it before cleaning, so no "
                                  "folder a later step adopts is deleted") from exc
        if folder.parts[:2] == RUNS_DIR and len(folder.parts) == 3:
            referenced.setdefault(folder.parts[2], pointer.stem)
    return referenced


def plan_run_folders(home: Path, *, in_progress: set[str], keep_runs: int = DEFAULT_KEEP_RUNS,
                     min_age_s: float = DEFAULT_MIN_AGE_S, now: float | None = None) -> list[Item]:
    runs = home.joinpath(*RUNS_DIR)
    if not runs.is_dir():
        return []
    now = time.time() if now is None else now
    folders = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    changed = {folder: _newest_change(folder) for folder in folders}
    newest = set(sorted(folders, key=lambda f: changed[f], reverse=True)[:max(keep_runs, 0)])
    referenced = referenced_run_folders(home)
    reasons: dict[Path, str | None] = {}
    for folder in folders:
        if folder.name in referenced:
            reasons[folder] = f"data/latest/{referenced[folder.name]}.json points at it"
        elif folder.name in in_progress:
            reasons[folder] = "its run is in progress"
        elif folder in newest:
            reasons[folder] = f"one of the {keep_runs} newest"
        elif now - changed[folder] < min_age_s:
            reasons[folder] = f"changed {int(now - changed[folder])} s ago (< {int(min_age_s)} s)"
        else:
            reasons[folder] = None
    leftovers = sorted(runs.glob(f"{ASIDE_PREFIX}*"))  # a clean killed between its rename and its rmtree
    freed = _freed([f for f in folders if reasons[f] is None] + leftovers)
    return [Item("run-folder", f, reasons[f], freed.get(f, 0) if reasons[f] is None else _size(f))
            for f in sorted(folders, key=lambda f: changed[f])] + [
        Item("run-folder", f, None, freed.get(f, 0)) for f in leftovers]


def active_deployment(home: Path) -> str | None:
    """The deployment folder name `models/active` points at (a version name), None when nothing is deployed."""
    link = home.joinpath(*ACTIVE_LINK)
    return link.resolve().name if link.is_symlink() else None


def plan_ct2_caches(home: Path, *, keep_versions: Iterable[str]) -> list[Item]:
    deployments = home.joinpath(*DEPLOYMENTS_DIR)
    if not deployments.is_dir():
        return []
    keep = set(keep_versions)
    active = active_deployment(home)
    items = []
    for folder in sorted(p for p in deployments.iterdir() if p.is_dir() and not p.name.startswith(".")):
        items += [Item("ct2-cache", aside, None, _size(aside)) for aside in sorted(folder.glob(f"{ASIDE_PREFIX}*"))]
        for cache in sorted(p for p in folder.glob(f"{CT2_PREFIX}*") if p.is_dir()):
            if folder.name == active:
                reason = "the active version: models/active points at it"
            elif folder.name in keep:
                reason = "a recently deployed version (t5_deployments)"
            else:
                reason = None
            items.append(Item("ct2-cache", cache, reason, _size(cache)))
    return items


@contextlib.contextmanager
def _no_conversion_running(deployment: Path) -> Iterator[bool]:
    """True (and the lock held) when no CTranslate2 conversion of this deployment is running; False otherwise."""
    with open(deployment / CT2_LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove(folder: Path) -> None:
    if folder.name.startswith(ASIDE_PREFIX):  # already out of the way: a killed clean's remains
        shutil.rmtree(folder)
        return
    aside = folder.parent / f"{ASIDE_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}"
    os.rename(folder, aside)  # one atomic step: afterwards nothing finds the folder under its name
    shutil.rmtree(aside)


def apply(plan: Plan, home: Path, *, in_progress: set[str]) -> list[Item]:
    """Delete the plan's removals, re-checking each just before: a run folder a pointer or a run in progress names
    now is kept, and a CTranslate2 cache is removed only while no conversion of its deployment runs. Returns what was
    removed."""
    removed = []
    for item in plan.removals:
        if not item.path.exists():
            continue
        if item.kind == "run-folder":
            if item.path.name in referenced_run_folders(home) or item.path.name in in_progress:
                continue
            _remove(item.path)
        else:
            deployment = item.path.parent
            if deployment.name == active_deployment(home):
                continue
            with _no_conversion_running(deployment) as free:
                if not free:
                    continue
                _remove(item.path)
        removed.append(item)
    return removed


def format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
