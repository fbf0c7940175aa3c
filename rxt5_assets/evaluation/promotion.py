"""The promotion gate, and switching the active version atomically (database row and deployed files together).

**Primary metric** (GatePolicy, configurable): per language, a weighted blend of `<metric>@<decoding>` scores —
default `0.5 · strict_validity@best_of_k + 0.5 · code_bleu@best_of_k`, i.e. how often best-of-k yields the requested
kind of item, and how close what it yields is to the reference; a component a language lacks (no row with a requested
kind, or a metric that could not run) is left out and the remaining weights renormalised. The overall primary is the
unweighted mean over the *gated* languages: those with at least `min_language_rows` rows in the evaluated sample (a
language with fewer is reported, never gated; when none has enough, every language is averaged).

**Gate**: the candidate passes when its overall primary ≥ the active's − `tolerance` (default 0: not worse) AND on
every gated language its primary ≥ the active's − `language_tolerance` (default 0.05). `require_beat_template`
(default off) additionally demands a primary above the template floor's. The active side is the active version, or the
bare base (its own t5_model_versions row, `base-<fingerprint>`) when none is active. `force` overrides a refusal; the
decision and the override are both recorded.

**Switching** (`promote`, `deploy`, `switch_to_base`, `switch_to_fine_tuned`, `rollback`): ONE transaction that takes
a transaction-level advisory lock, flips `is_active` (the unique partial index allows one active row), records a
t5_deployments row, and switches the deployed files before committing: `$RXT5_HOME/models/deployments/<version>/` is
built once (copied into a temp folder, then renamed into place) and `$RXT5_HOME/models/active` — the seed's
`fine_tuned_path` — is a symlink replaced by `os.replace` of a fresh temp symlink, so a reader sees the old model or
the new one, never half of one. If anything fails before the commit, the link is put back (and every switch first
re-points the link at the active version, should a killed process have left it ahead). Two promotions at once are
serialised by the lock; a promotion whose evaluation compared against a version that is no longer active is refused
as stale, so the second of two racing candidates cannot slip past the gate.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import psycopg

from rxt5_assets.db import Database, rxt5_home
from rxt5_assets.db.model_versions import active_version, ensure_base_version, get_version, is_base
from rxt5_assets.errors import PromotionRefusedError, UserFacingError

log = logging.getLogger(__name__)

_ACTIVATION_LOCK_KEY = 0x7278_7435_6163_7476  # "rxt5actv": every switch of the active version takes it
ACTIVE_LINK = "active"
DEPLOYMENTS_DIR = "deployments"
DEPLOYMENT_MANIFEST = "rxt5_deployment.json"
_UNSET = object()


# ---------------------------------------------------------------------------------------------------------------------
# the gate

@dataclass(frozen=True)
class GatePolicy:
    weights: Mapping[str, float] = field(default_factory=lambda: {"strict_validity": 0.5, "code_bleu": 0.5})
    decoding: str = "best_of_k"  # which generations the primary scores: best_of_k (what is served) or greedy
    tolerance: float = 0.0  # overall: candidate primary >= active primary - tolerance
    language_tolerance: float = 0.05  # per gated language
    min_language_rows: int = 5  # languages with fewer rows in the sample are reported, not gated
    require_beat_template: bool = False

    def __post_init__(self) -> None:
        if not self.weights or any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError(f"primary weights must be non-negative with a positive sum (got {dict(self.weights)})")
        from rxt5_assets.evaluation.runner import known_metric_names

        known = {name.split("@")[0] for name in known_metric_names()} - {"primary"}
        unknown = sorted(set(self.weights) - known)
        if unknown:
            raise ValueError(f"unknown metric(s) in the primary weights: {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        if self.decoding not in ("greedy", "best_of_k"):
            raise ValueError(f"decoding must be greedy or best_of_k (got {self.decoding!r})")
        if self.tolerance < 0 or self.language_tolerance < 0:
            raise ValueError("tolerances must be >= 0")

    def describe(self) -> str:
        blend = " + ".join(f"{w:g}·{m}@{self.decoding}" for m, w in self.weights.items())
        return (f"primary = {blend} per language, averaged over languages with ≥ {self.min_language_rows} rows; "
                f"pass: overall ≥ active − {self.tolerance:g} and each language ≥ active − "
                f"{self.language_tolerance:g}" + ("; and above the template floor" if self.require_beat_template
                                                  else ""))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weights"] = dict(self.weights)
        return d


def primary_of(values: Mapping[str, float], policy: GatePolicy) -> float | None:
    """The blend for one group of scores ({metric@decoding: value}), each component on a 0-1 scale (bleu and chrf
    divided by 100), so the primary is in [0, 1]; None when no component is present."""
    from rxt5_assets.evaluation.runner import metric_scale

    present = {m: values[f"{m}@{policy.decoding}"] / metric_scale(m) for m in policy.weights
               if f"{m}@{policy.decoding}" in values}
    total = sum(policy.weights[m] for m in present)
    if not present or total <= 0:
        return None
    return sum(policy.weights[m] * v for m, v in present.items()) / total


def primary_by_language(scores: Mapping[str, Any], policy: GatePolicy) -> dict[str, float]:
    """{language: primary} from a system's scores (runner.score_system), `all` excluded."""
    out = {}
    for language, values in scores["by_language"].items():
        value = primary_of(values, policy) if language != "all" else None
        if value is not None:
            out[language] = value
    return out


def gated_languages(scores: Mapping[str, Any], policy: GatePolicy) -> list[str]:
    rows = {lang: int(v.get("rows", 0)) for lang, v in scores["by_language"].items() if lang != "all"}
    gated = sorted(lang for lang, n in rows.items() if n >= policy.min_language_rows)
    return gated or sorted(rows)


def overall_primary(scores: Mapping[str, Any], policy: GatePolicy) -> float | None:
    per_language = primary_by_language(scores, policy)
    values = [per_language[lang] for lang in gated_languages(scores, policy) if lang in per_language]
    return sum(values) / len(values) if values else None


@dataclass
class GateDecision:
    passed: bool
    primary_candidate: float | None
    primary_active: float | None
    primary_template: float | None
    per_language: dict[str, dict[str, Any]]
    reasons: list[str]
    policy: dict[str, Any]
    forced: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate_decision(candidate: Mapping[str, Any], active: Mapping[str, Any], policy: GatePolicy = GatePolicy(),
                  template: Mapping[str, Any] | None = None) -> GateDecision:
    """Compare two systems' scores on the same rows (see the module docstring for the rule)."""
    cand_lang, act_lang = primary_by_language(candidate, policy), primary_by_language(active, policy)
    tmpl_lang = primary_by_language(template, policy) if template is not None else {}
    gated = set(gated_languages(candidate, policy))
    cand, act = overall_primary(candidate, policy), overall_primary(active, policy)
    tmpl = overall_primary(template, policy) if template is not None else None
    reasons: list[str] = []
    passed = True
    if cand is None:
        passed = False
        reasons.append("the candidate has no primary metric (none of its components could be computed)")
    elif act is not None and cand < act - policy.tolerance:
        passed = False
        reasons.append(f"overall primary {cand:.4f} is below the active version's {act:.4f}"
                       + (f" by more than the tolerance {policy.tolerance:g}" if policy.tolerance else ""))
    per_language: dict[str, dict[str, Any]] = {}
    for language in sorted(set(cand_lang) | set(act_lang)):
        c, a = cand_lang.get(language), act_lang.get(language)
        rows = int(candidate["by_language"].get(language, {}).get("rows", 0))
        ok = True
        if language in gated and c is not None and a is not None and c < a - policy.language_tolerance:
            ok = passed = False
            reasons.append(f"{language}: primary {c:.4f} is worse than the active version's {a:.4f} by "
                           f"{a - c:.4f} (> tolerance {policy.language_tolerance:g})")
        per_language[language] = {"candidate": c, "active": a, "template": tmpl_lang.get(language),
                                  "delta": (c - a) if c is not None and a is not None else None, "rows": rows,
                                  "gated": language in gated, "ok": ok}
    if policy.require_beat_template and tmpl is not None and (cand is None or cand <= tmpl):
        passed = False
        reasons.append(f"overall primary {cand if cand is None else round(cand, 4)} does not beat the template "
                       f"floor's {tmpl:.4f}")
    if passed:
        reasons.append("not worse than the active version overall or on any gated language")
    return GateDecision(passed, cand, act, tmpl, per_language, reasons, policy.as_dict())


# ---------------------------------------------------------------------------------------------------------------------
# deployed files

def models_root(home: str | os.PathLike[str] | None = None) -> Path:
    return rxt5_home(home) / "models"


def fine_tuned_path(home: str | os.PathLike[str] | None = None) -> Path:
    """The seed's `fine_tuned_path`: `$RXT5_HOME/models/active`, a symlink to the active version's deployed folder
    (a PEFT adapter folder plus rxt5_deployment.json, or for the bare base just the manifest naming it)."""
    return models_root(home) / ACTIVE_LINK


def read_deployment(home: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The manifest of what `models/active` serves now, or None when nothing is deployed."""
    manifest = fine_tuned_path(home) / DEPLOYMENT_MANIFEST
    try:
        return json.loads(manifest.read_text())
    except FileNotFoundError:
        return None


def load_active_model(home: str | os.PathLike[str] | None = None, *, models_dir: str | os.PathLike[str] | None = None,
                      device: str | None = None):
    """(model, tokenizer) of the deployed active version — what GeneratorEngine serves."""
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.generate import load_trained

    # resolve the link once: a concurrent switch cannot hand us half of two versions
    folder = fine_tuned_path(home).resolve()
    manifest_file = folder / DEPLOYMENT_MANIFEST
    if not manifest_file.is_file():
        raise UserFacingError(f"no model is deployed at {fine_tuned_path(home)}: promote one (materialize "
                              "active_model_version) or run `rxt5 deploy VERSION` / `rxt5 switch --base`")
    manifest = json.loads(manifest_file.read_text())
    models_dir = Path(models_dir) if models_dir is not None else models_root(home)
    if manifest["kind"] == "base":
        model, tokenizer = load_base_model(manifest["base_model"], models_dir=models_dir)
        if device is not None:
            model.to(device)
        model.eval()
        return model, tokenizer
    return load_trained(folder, models_dir, device=device)


def _deployment_folder(models: Path, version: dict[str, Any]) -> Path:
    """`models/deployments/<version>/`, built once: the adapter's files (for an adapter) and the manifest, written in a
    temp folder and renamed into place — a concurrent builder of the same version loses the rename and uses ours."""
    target = models / DEPLOYMENTS_DIR / version["version"]
    if (target / DEPLOYMENT_MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{version['version']}.tmp-{uuid.uuid4().hex[:8]}"
    hyper = version.get("hyperparameters") or {}
    manifest = {"version": version["version"], "model_version_id": version["id"], "base_model": version["base_model"],
                "base_model_path": hyper.get("base_model_path"), "base_fingerprint": hyper.get("base_fingerprint"),
                "built_at": datetime.now(timezone.utc).isoformat()}
    try:
        if is_base(version):
            tmp.mkdir()
            manifest["kind"] = "base"
        else:
            source = Path(version["adapter_path"] or "")
            if not source.is_dir():
                raise UserFacingError(f"version {version['version']}: its adapter folder {source} is missing; "
                                      "it cannot be deployed")
            shutil.copytree(source, tmp)
            manifest["kind"] = "adapter" if (source / "adapter_config.json").is_file() else "full"
            manifest["adapter_path"] = str(source)
        (tmp / DEPLOYMENT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / DEPLOYMENT_MANIFEST).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _swap_active_link(models: Path, folder: Path | None) -> str | None:
    """Point `models/active` at `folder` (None: remove it) atomically; returns the previous link target."""
    link = models / ACTIVE_LINK
    previous = os.readlink(link) if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        raise UserFacingError(f"{link} is a real folder, not rxt5's symlink: move it away so rxt5 can deploy")
    if folder is None:
        if link.is_symlink():
            link.unlink()
        return previous
    tmp = models / f".{ACTIVE_LINK}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(folder, models), tmp)
    os.replace(tmp, link)
    return previous


def _restore_link(models: Path, previous: str | None) -> None:
    link = models / ACTIVE_LINK
    try:
        if previous is None:
            if link.is_symlink():
                link.unlink()
        else:
            tmp = models / f".{ACTIVE_LINK}.tmp-{uuid.uuid4().hex[:8]}"
            os.symlink(previous, tmp)
            os.replace(tmp, link)
    except OSError as exc:  # the database still says the old version: the next switch reconciles
        log.error("could not restore %s to %s: %s", link, previous, exc)


# ---------------------------------------------------------------------------------------------------------------------
# switching the active version

@dataclass
class Deployment:
    version_id: str
    version: str
    previous_version_id: str | None
    action: str
    forced: bool
    path: str
    changed: bool  # False when the version was already active (files re-checked, nothing recorded)


def _lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(%s)", (_ACTIVATION_LOCK_KEY,))


def _top_of_history(conn: psycopg.Connection) -> tuple[int, str] | None:
    """(id, model_version_id) of the newest t5_deployments row: the top of the deployment stack."""
    row = conn.execute("select id, model_version_id::text from t5_deployments order by id desc limit 1").fetchone()
    return (row[0], row[1]) if row else None


def _switch(conn: psycopg.Connection, models: Path, version: dict[str, Any], *, action: str, forced: bool = False,
            evaluation_id: str | None = None, reason: str | None = None,
            rollback_to: Any = _UNSET) -> Deployment:
    """Inside a transaction holding the lock: make `version` the active one, in the database and on disk.

    The new t5_deployments row is pushed on the history stack: `rollback_to_id` is the row below it (the newest row,
    when it activated what is active now), or for a rollback the row below the one it pops (`rollback_to`)."""
    current = active_version(conn)
    folder = _deployment_folder(models, version)
    if current is not None and current["id"] == version["id"]:  # files already match (_reconcile ran first)
        return Deployment(version["id"], version["version"], current["id"], action, forced, str(folder), False)
    if rollback_to is _UNSET:
        top = _top_of_history(conn)
        rollback_to = top[0] if top is not None and current is not None and top[1] == current["id"] else None
    conn.execute("update t5_model_versions set is_active = false, status = 'retired' where is_active")
    conn.execute("update t5_model_versions set is_active = true, status = 'active', activated_at = now() where id = %s",
                 (version["id"],))
    conn.execute(
        """insert into t5_deployments (model_version_id, previous_version_id, rollback_to_id, action, forced,
               evaluation_id, reason, deployed_path) values (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (version["id"], current["id"] if current else None, rollback_to, action, forced, evaluation_id, reason,
         str(folder)))
    return Deployment(version["id"], version["version"], current["id"] if current else None, action, forced,
                      str(folder), True)


def _reconcile(conn: psycopg.Connection, models: Path) -> None:
    """Under the lock: point `models/active` at the active version if it points elsewhere (a process killed between
    its link swap and its commit leaves the files one switch ahead of the database; this puts them back)."""
    current = active_version(conn)
    if current is None:
        return
    folder = _deployment_folder(models, current)
    link = models / ACTIVE_LINK
    if not (link.is_symlink() and link.resolve() == folder.resolve()):
        log.warning("%s did not point at the active version %s: switched back", link, current["version"])
        _swap_active_link(models, folder)


def _locked_switch(database: Database, home, choose) -> Deployment:
    """Run `choose(conn) -> (version, switch kwargs)` and the switch in one locked transaction; the link swap is the
    last step before the commit and is undone if the commit (or anything before it) fails."""
    models = models_root(home)
    models.mkdir(parents=True, exist_ok=True)
    link = models / ACTIVE_LINK
    previous_link: str | None = os.readlink(link) if link.is_symlink() else None
    swapped = False
    with database.connect() as conn:
        try:
            with conn.transaction():
                _lock(conn)
                _reconcile(conn, models)
                version, kwargs = choose(conn)
                previous_link = os.readlink(link) if link.is_symlink() else None  # under the lock
                deployment = _switch(conn, models, version, **kwargs)
                if deployment.changed:
                    _swap_active_link(models, Path(deployment.path))
                    swapped = True
        except BaseException:
            if swapped:
                _restore_link(models, previous_link)
            raise
    log.info("%s: %s is active (%s)", deployment.action, deployment.version, deployment.path)
    _prepare_fast_path(deployment, home)  # after the commit, outside the lock; never fails the switch
    return deployment


def _require_version(conn: psycopg.Connection, id_or_version: str) -> dict[str, Any]:
    version = get_version(conn, id_or_version)
    if version is None:
        raise UserFacingError(f"no model version {id_or_version!r} in t5_model_versions (`rxt5 versions` lists them)")
    return version


def promote(database: Database, candidate: str, *, home=None, force: bool = False,
            evaluation_id: str | None = None) -> Deployment:
    """Make `candidate` active if its newest completed evaluation passed the gate against the version active NOW
    (the bare base counts as "none active"); `force` skips both conditions (the override is recorded)."""
    from rxt5_assets.db.evaluations import get_evaluation, latest_evaluation

    def choose(conn):
        version = _require_version(conn, candidate)
        current = active_version(conn)
        if current is not None and current["id"] == version["id"]:
            return version, {"action": "promote", "reason": "already active"}  # a no-op, whatever was evaluated
        evaluation = get_evaluation(conn, evaluation_id) if evaluation_id else latest_evaluation(conn, version["id"])
        if evaluation is not None and evaluation["candidate_version_id"] != version["id"]:
            raise PromotionRefusedError(f"evaluation {evaluation['id']} is not an evaluation of {version['version']}")
        problems: list[str] = []
        if evaluation is None or evaluation["status"] != "completed":
            problems.append(f"{version['version']} has no completed evaluation (materialize evaluation_metrics)")
            reasons: list[str] = []
        else:
            reasons = list(evaluation["decision"].get("reasons", []))
            if not evaluation["passed"]:
                problems.append(f"the gate refused {version['version']}: " + "; ".join(reasons))
            compared = get_version(conn, evaluation["active_version_id"]) if evaluation["active_version_id"] else None
            # current: compared against the active version, or against the bare base while none is active
            fresh = (compared is not None and compared["id"] == current["id"]) if current is not None \
                else (compared is None or is_base(compared))
            if not fresh:
                problems.append(f"{version['version']} was evaluated against "
                                f"{compared['version'] if compared else 'nothing'}, but "
                                f"{current['version'] if current else 'no version'} is active now: evaluate it again")
        if problems and not force:
            raise PromotionRefusedError("; ".join(problems) + ". Set force to promote it anyway.")
        reason = ("forced: " + "; ".join(problems)) if problems else "; ".join(reasons)
        return version, {"action": "promote", "forced": bool(problems),
                         "evaluation_id": evaluation["id"] if evaluation else None, "reason": reason}

    return _locked_switch(database, home, choose)


def deploy(database: Database, id_or_version: str, *, home=None, force: bool = False) -> Deployment:
    """The seed's `deploy_model(model_id)`: make a version active, no evaluation needed — except that a version the
    gate rejected needs `force`."""
    def choose(conn):
        version = _require_version(conn, id_or_version)
        if version["status"] == "rejected" and not force:
            raise PromotionRefusedError(f"the gate rejected {version['version']}; pass --force to deploy it anyway")
        return version, {"action": "deploy", "forced": force and version["status"] == "rejected",
                         "reason": "explicit deploy"}

    return _locked_switch(database, home, choose)


def _base_of(version: dict[str, Any]) -> tuple[str, str, str]:
    hyper = version.get("hyperparameters") or {}
    fingerprint = hyper.get("base_fingerprint")
    if not fingerprint:
        raise UserFacingError(f"version {version['version']} does not record its base's fingerprint")
    return version["base_model"], hyper.get("base_model_path") or version["base_model"], fingerprint


def base_version_for(conn: psycopg.Connection, version: dict[str, Any]) -> dict[str, Any]:
    """The bare base's own row for `version` (itself when it is a base row), created on first use."""
    if is_base(version):
        return version
    base_model, path, fingerprint = _base_of(version)
    return get_version(conn, ensure_base_version(conn, base_model=base_model, base_model_path=path,
                                                 fingerprint=fingerprint))


def switch_to_base(database: Database, *, home=None) -> Deployment:
    """`rxt5 switch --base`: serve the bare base the active (else the newest) version was trained on."""
    def choose(conn):
        current = active_version(conn)
        reference = current
        if reference is None:
            row = conn.execute("""select id::text from t5_model_versions
                                  where coalesce(hyperparameters->>'kind', '') <> 'base'
                                  order by inserted_at desc limit 1""").fetchone()
            if row is None:
                raise UserFacingError("no model version is registered yet, so no base is known: train one first")
            reference = get_version(conn, row[0])
        return base_version_for(conn, reference), {"action": "switch_base", "reason": "switch --base"}

    return _locked_switch(database, home, choose)


def switch_to_fine_tuned(database: Database, *, home=None) -> Deployment:
    """The seed's `switch_to_fine_tuned()`: serve the fine-tuned version again — the one most recently active, else
    the newest version that passed the gate."""
    def choose(conn):
        current = active_version(conn)
        if current is not None and not is_base(current):
            return current, {"action": "switch_fine_tuned", "reason": "already fine-tuned"}
        row = conn.execute(
            """select d.model_version_id::text from t5_deployments d join t5_model_versions v
                   on v.id = d.model_version_id
               where coalesce(v.hyperparameters->>'kind', '') <> 'base' order by d.id desc limit 1""").fetchone()
        if row is None:
            row = conn.execute("""select id::text from t5_model_versions where status = 'evaluated'
                                  and coalesce(hyperparameters->>'kind', '') <> 'base'
                                  order by inserted_at desc limit 1""").fetchone()
        if row is None:
            raise UserFacingError("no fine-tuned version was ever deployed or passed the gate: promote one "
                                  "(evaluation_metrics → active_model_version) or `rxt5 deploy VERSION`")
        return get_version(conn, row[0]), {"action": "switch_fine_tuned", "reason": "switch --fine-tuned"}

    return _locked_switch(database, home, choose)


def rollback(database: Database, *, home=None) -> Deployment:
    """`rxt5 rollback`: back to the version active before the current one; repeated, it walks further back (the
    t5_deployments rows form a stack: each remembers the row below it, a rollback pops one)."""
    def choose(conn):
        current = active_version(conn)
        if current is None:
            raise UserFacingError("no version is active: nothing to roll back")
        top = conn.execute("select id, model_version_id::text, rollback_to_id from t5_deployments "
                           "order by id desc limit 1").fetchone()
        if top is None or top[1] != current["id"]:
            raise UserFacingError(f"{current['version']} was not activated through rxt5 (t5_deployments does not "
                                  "end with it): nothing to roll back to; use `rxt5 deploy VERSION`")
        if top[2] is None:
            raise UserFacingError(f"{current['version']} is the first version in the deployment history: nothing to "
                                  "roll back to (`rxt5 switch --base` serves the bare base)")
        below = conn.execute("select model_version_id::text, rollback_to_id from t5_deployments where id = %s",
                             (top[2],)).fetchone()
        target = get_version(conn, below[0])
        return target, {"action": "rollback", "reason": f"rollback from {current['version']}",
                        "rollback_to": below[1]}

    return _locked_switch(database, home, choose)


def deployment_history(conn: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    cursor = conn.execute(
        """select d.id, v.version, p.version as previous, d.action, d.forced, d.reason, d.inserted_at
           from t5_deployments d join t5_model_versions v on v.id = d.model_version_id
           left join t5_model_versions p on p.id = d.previous_version_id order by d.id desc limit %s""", (limit,))
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------------------------------
# the fast inference path: each deployed version is converted for CTranslate2 once (generation/ctranslate.py)

def _prepare_fast_path(deployment: Deployment, home) -> None:
    """Build the deployed version's CTranslate2 cache in its deployment folder (`RXT5_FAST_PATH_CONVERT` chooses what;
    `off` skips it). Runs after the switch committed; a failure is logged and the switch stands — serving then falls
    back to transformers, or converts at first load."""
    try:
        from rxt5_assets.generation.ctranslate import convert_at_deploy

        convert_at_deploy(deployment.path, home=home)
    except Exception as exc:  # noqa: BLE001 - convert_at_deploy already logs its own failures; this guards the import
        log.warning("fast-path conversion of %s skipped: %s", deployment.version, exc)
