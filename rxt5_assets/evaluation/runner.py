"""Generation-based evaluation on the held-out split: greedy and best-of-k, per language and per task.

Never teacher-forced: every metric scores generated text against the reference (see evaluation/metrics.py), and
generated code is only parsed or compiled, never run. Never on the training split: rows come from eval.jsonl, which
the data stage splits by file.

Per eval row (input, target, language — rust, elixir or a pair such as rust->elixir whose right side is the language
the model writes —, task, source_id, repo, file_path):

* **greedy**: one generation (repetition penalty 1.2, as the model card's settings);
* **best-of-k** (k = 8 by default): k samples (temperature 0.8, top-p 0.95, one `generate` call with
  num_return_sequences=k); the first that is strict-valid — `strict_valid(code, target_language, kind)`: it parses and
  is the requested kind of item — is kept, else the first sample;
* the **requested kind** comes from the reference: `analyze(target).kind` when the target is itself a valid item of
  that kind (implement, generate, translate, concept_transfer, and test, whose targets are whole test modules);
  `document` rows (doc prose) and rows whose target is not a whole item (e.g. a bare body) have no kind: they get no
  strict validity and best-of-k keeps the first sample;
* `document` rows get the text metrics only (bleu, chrf, rouge_l); every other row gets every metric.

Scores are computed per (language, task) group for each decoding and named `<metric>@greedy` / `<metric>@best_of_k`;
a language's value is the row-weighted mean of its task groups' values, `all` the row-weighted mean over every group.
`evaluate_language_performance` / `evaluate_cross_language_performance` are the seed's two entry points over the same
machinery; `evaluate_versions` runs a whole candidate-vs-active evaluation and records it (see db/evaluations.py).

Cost: the eval split is sampled down to `max_rows` (400; stratified by language and task, fixed seed; both go into
the results), decoded on CTranslate2 fp32 on a CPU (`backend`: transformers' arithmetic, several times faster), so the
demo's whole split (241 rows) evaluates in about 30 s per version on 2 CPU cores — an 80-row sample left ~17 Elixir
item rows, too few for a 0.05 per-language tolerance (it refused an adapter the whole split passes, README "The
gate"); candidate, active and template floor see the SAME
rows with the SAME settings, and a version's scores are cached in the database by (version, rows, settings), so the
active version is generated once, not once per candidate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from rxt5_assets.errors import EmptyEvaluationSetError
from rxt5_assets.evaluation.template import target_language_of, template_generations

log = logging.getLogger(__name__)

EVAL_VERSION = 1  # bump when generation or scoring changes: cached scores of older runs are then not reused
DECODINGS = ("greedy", "best_of_k")
TEXT_ONLY_TASKS = frozenset({"document"})
TEXT_METRICS = ("bleu", "chrf", "rouge_l")
STRICT_VALIDITY = "strict_validity"
ALL = "all"  # the language key of the aggregate over every row


# ---------------------------------------------------------------------------------------------------------------------
# rows

@dataclass(frozen=True)
class EvalRow:
    input: str
    target: str
    language: str
    task: str
    source_id: str = ""
    repo: str | None = None
    file_path: str | None = None
    kind: str | None = None  # the requested item kind (None: text-only row, or a target that is not a whole item)

    @property
    def target_language(self) -> str:
        return target_language_of(self.language)

    @property
    def is_cross_language(self) -> bool:
        return "->" in self.language

    @property
    def text_only(self) -> bool:
        return self.task in TEXT_ONLY_TASKS


def requested_kind(target: str, language: str, task: str) -> str | None:
    """The item kind a generation must be to count as strict-valid, derived from the reference (see module doc)."""
    if task in TEXT_ONLY_TASKS:
        return None
    from rxt5_assets.languages import get as get_language

    try:
        module = get_language(target_language_of(language))
    except KeyError:
        return None
    kind = module.analyze(target).kind
    if not kind or kind == "unknown":
        return None
    try:
        return kind if module.is_valid_item(target, kind) else None
    except ValueError:  # a kind the language's validity check does not know
        return None


def make_row(obj: dict[str, Any]) -> EvalRow:
    return EvalRow(input=obj["input"], target=obj["target"], language=obj["language"], task=obj["task"],
                   source_id=str(obj.get("source_id", "")), repo=obj.get("repo"), file_path=obj.get("file_path"),
                   kind=requested_kind(obj["target"], obj["language"], obj["task"]))


def as_rows(examples: Iterable[Any]) -> list[EvalRow]:
    """EvalRows from EvalRows, JSON objects, or training.data.Example objects."""
    rows = []
    for ex in examples:
        if isinstance(ex, EvalRow):
            rows.append(ex)
        elif isinstance(ex, dict):
            rows.append(make_row(ex))
        else:  # training.data.Example: repo/file_path live in extra
            extra = getattr(ex, "extra", {}) or {}
            rows.append(make_row({"input": ex.input, "target": ex.target, "language": ex.language, "task": ex.task,
                                  "source_id": ex.source_id, "repo": extra.get("repo"),
                                  "file_path": extra.get("file_path")}))
    return rows


def load_eval_rows(path: Path | str) -> list[EvalRow]:
    """Every row of an eval.jsonl. Raises EmptyEvaluationSetError when the file holds none."""
    from rxt5_assets.training.data import read_jsonl

    examples = read_jsonl(path, required=False)
    if not examples:
        raise EmptyEvaluationSetError(
            f"{path}: the evaluation split is empty, so no model can be evaluated (and none is promoted). The data "
            "stage holds out whole files (data_prep.eval_fraction, default 0.1): ingest more code or raise "
            "eval_fraction, then rebuild training_dataset.")
    return as_rows(examples)


def sample_rows(rows: Sequence[EvalRow], max_rows: int | None, seed: int) -> list[EvalRow]:
    """At most `max_rows` rows, stratified by (language, task): each stratum keeps its proportional share
    (max_rows · size / total, rounded by largest remainder) and at least one row while there are no more strata than
    max_rows; rows are drawn with a per-stratum seeded RNG and returned in their original order. All rows when
    max_rows is None or not smaller than the split."""
    if max_rows is None or len(rows) <= max_rows:
        return list(rows)
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1 (got {max_rows})")
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        strata[(row.language, row.task)].append(i)
    keys = sorted(strata)
    ideal = {key: max_rows * len(strata[key]) / len(rows) for key in keys}
    minimum = 1 if len(keys) <= max_rows else 0
    take = {key: min(len(strata[key]), max(minimum, math.floor(ideal[key]))) for key in keys}
    while sum(take.values()) > max_rows:  # the guaranteed rows pushed it over: trim the most over-served stratum
        key = max((k for k in keys if take[k] > minimum), key=lambda k: (take[k] - ideal[k], k))
        take[key] -= 1
    while sum(take.values()) < max_rows:  # largest remainder first
        key = max((k for k in keys if take[k] < len(strata[k])), key=lambda k: (ideal[k] - take[k], k))
        take[key] += 1
    chosen: list[int] = []
    for key in keys:
        rng = random.Random(f"{seed}:{key[0]}:{key[1]}")
        chosen.extend(rng.sample(strata[key], take[key]))
    return [rows[i] for i in sorted(chosen)]


def rows_digest(rows: Sequence[EvalRow]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps([row.input, row.target, row.language, row.task, row.kind]).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# settings

EVAL_BACKENDS = ("auto", "transformers", "ctranslate2")


@dataclass(frozen=True)
class EvaluationSettings:
    """How a version is evaluated; candidate, active and template always share one instance."""

    max_rows: int | None = 400  # eval rows sampled (stratified by language and task); None: every row
    seed: int = 42  # the sample's seed and the sampling seed of best-of-k
    k: int = 8  # best-of-k samples per row (1: best-of-k is one sample)
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 128
    max_source_length: int = 320
    repetition_penalty: float = 1.2
    # decoding choices measured on the public held-out split, never on an org's eval rows (README "Decoding"):
    no_repeat_ngram_size: int = 4  # no 4-token sequence twice in one output (0: off)
    signature_prefix: bool = True  # an implement row's output starts with its prompt's signature
    doc_prefix: bool = False  # a generate row's output starts with its description as the language's docs
    batch_size: int = 16  # inputs per generate call (best-of-k: batch_size × k sequences)
    # what decodes: "auto" = CTranslate2 fp32 (what the service runs on a CPU; transformers' arithmetic, 5-30x faster)
    # for a model on the CPU when ctranslate2 is installed, else transformers; or "transformers" / "ctranslate2"
    backend: str = "auto"
    compile_timeout_s: float = 15.0  # per compile check; a timeout fails that sample only
    metrics: tuple[str, ...] | None = None  # metric names (None: every metric of evaluation.metrics.METRICS)

    def __post_init__(self) -> None:
        problems = []
        if self.max_rows is not None and self.max_rows < 1:
            problems.append(f"max_rows must be >= 1 or None (got {self.max_rows})")
        if self.k < 1:
            problems.append(f"k must be >= 1 (got {self.k})")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.temperature <= 0:
            problems.append(f"temperature must be > 0 (got {self.temperature})")
        if self.no_repeat_ngram_size < 0:
            problems.append(f"no_repeat_ngram_size must be >= 0 (got {self.no_repeat_ngram_size})")
        if self.backend not in EVAL_BACKENDS:
            problems.append(f"backend must be one of {', '.join(EVAL_BACKENDS)} (got {self.backend!r})")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            problems.append("max_new_tokens and batch_size must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    def metric_names(self) -> tuple[str, ...]:
        if self.metrics is not None:
            return tuple(self.metrics)
        from rxt5_assets.evaluation.metrics import METRICS

        return tuple(METRICS)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = list(self.metric_names())
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def cache_key(system_id: str, rows: Sequence[EvalRow], settings: EvaluationSettings) -> str:
    """What a system's scores depend on: the system (a version id, or 'template'), the rows and the settings."""
    payload = json.dumps({"eval_version": EVAL_VERSION, "system": system_id, "rows": rows_digest(rows),
                          "settings": settings.digest()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------------------------
# generation

@dataclass
class Generations:
    greedy: list[str]
    samples: list[list[str]]  # k per row
    seconds: float = 0.0


def generate_candidates(model, tokenizer, inputs: Sequence[str], settings: EvaluationSettings, *,
                        ct2_folder: str | Path | None = None) -> Generations:
    """Greedy and k sampled generations per input, batched (inputs sorted by length so batches pad little); on
    CTranslate2 when `ct2_folder` holds the model converted (`ctranslate2_folder`)."""
    from rxt5_assets.generation.params import output_prefix
    from rxt5_assets.training.generate import generate_ids, sample_texts

    start = time.perf_counter()
    prefixes = ([output_prefix(text, signature=settings.signature_prefix, docs=settings.doc_prefix) for text in inputs]
                if settings.signature_prefix or settings.doc_prefix else None)
    if ct2_folder is not None:
        return _ctranslate2_candidates(ct2_folder, tokenizer, inputs, prefixes, settings, start)
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    common = dict(max_new_tokens=settings.max_new_tokens, repetition_penalty=settings.repetition_penalty,
                  max_source_length=settings.max_source_length, batch_size=settings.batch_size,
                  no_repeat_ngram_size=settings.no_repeat_ngram_size)
    log.info("greedy generation on %d rows ...", len(inputs))
    greedy_ids = generate_ids(model, tokenizer, [inputs[i] for i in order],
                              decoder_prefixes=[prefixes[i] for i in order] if prefixes else None, **common)
    log.info("greedy done in %.0f s; sampling %d candidates per row ...", time.perf_counter() - start, settings.k)
    samples = sample_texts(model, tokenizer, inputs, k=settings.k, temperature=settings.temperature,
                           top_p=settings.top_p, seed=settings.seed, decoder_prefixes=prefixes, **common)
    greedy: list[str] = [""] * len(inputs)
    for i, text in zip(order, tokenizer.batch_decode(greedy_ids, skip_special_tokens=True)):
        greedy[i] = text
    return Generations(greedy, samples, time.perf_counter() - start)


def _ctranslate2_candidates(folder, tokenizer, inputs, prefixes, settings: EvaluationSettings,
                            start: float) -> Generations:
    from rxt5_assets.generation.backends import SamplingParams
    from rxt5_assets.generation.ctranslate import CTranslate2Backend

    backend = CTranslate2Backend(folder, quantization="fp32", tokenizer=tokenizer,
                                 max_source_length=settings.max_source_length, batch_size=settings.batch_size)
    shared = dict(max_new_tokens=settings.max_new_tokens, repetition_penalty=settings.repetition_penalty,
                  no_repeat_ngram_size=settings.no_repeat_ngram_size)
    log.info("greedy generation on %d rows (CTranslate2) ...", len(inputs))
    greedy = [c[0] for c in backend.generate(list(inputs), SamplingParams(**shared), prefixes=prefixes)]
    log.info("greedy done in %.0f s; sampling %d candidates per row ...", time.perf_counter() - start, settings.k)
    samples = backend.generate(list(inputs), SamplingParams(**shared, num_candidates=settings.k, do_sample=True,
                                                            temperature=settings.temperature, top_p=settings.top_p,
                                                            seed=settings.seed), prefixes=prefixes)
    return Generations(greedy, samples, time.perf_counter() - start)


@contextmanager
def ctranslate2_folder(model, tokenizer, settings: EvaluationSettings, work_dir: str | Path):
    """The folder the evaluation decodes from on CTranslate2 (`settings.backend`), converted from the loaded model
    under `work_dir` and removed afterwards; None for transformers ("transformers", a model off the CPU, or "auto"
    without ctranslate2 or with a conversion that failed — logged)."""
    import shutil
    import tempfile

    wanted = settings.backend
    on_cpu = next(model.parameters()).device.type == "cpu"
    if wanted == "transformers" or (wanted == "auto" and not on_cpu):
        yield None
        return
    from rxt5_assets.generation.ctranslate import ConversionError, convert_loaded, ctranslate2_available

    if not ctranslate2_available():
        if wanted == "ctranslate2":
            raise ConversionError("evaluation backend ctranslate2: ctranslate2 is not installed "
                                  "(pip install ctranslate2==4.8.5)")
        yield None
        return
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".eval-ct2-", dir=work_dir))
    try:
        folder = None
        try:
            folder = convert_loaded(model, tokenizer, scratch / "model")
        except Exception as exc:  # noqa: BLE001 — "auto" still evaluates, on transformers
            if wanted == "ctranslate2":
                raise
            log.warning("CTranslate2 conversion failed (%s): evaluating on transformers", exc)
        yield folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def best_of_k(rows: Sequence[EvalRow], samples: Sequence[Sequence[str]]) -> tuple[list[str], list[bool | None]]:
    """Per row: the first sample that is strict-valid as the requested kind, else the first sample; and whether the
    kept one is valid (None for rows without a kind)."""
    from rxt5_assets.evaluation.metrics import strict_valid

    picks, valid = [], []
    for row, candidates in zip(rows, samples):
        if row.kind is None:
            picks.append(candidates[0] if candidates else "")
            valid.append(None)
            continue
        chosen = next((c for c in candidates if strict_valid(c, row.target_language, row.kind)), None)
        picks.append(chosen if chosen is not None else (candidates[0] if candidates else ""))
        valid.append(chosen is not None)
    return picks, valid


# ---------------------------------------------------------------------------------------------------------------------
# scoring

def _numeric(value: Any) -> float | None:
    """A finite float, or None (score_generations reports a value it could not compute as None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def score_group(predictions: Sequence[str], rows: Sequence[EvalRow], metrics: Sequence[str],
                settings: EvaluationSettings) -> tuple[dict[str, float], dict[str, str]]:
    """({metric: value}, {metric: why unavailable}) for one (language, task) group and one decoding: strict validity
    computed here (it needs each row's kind), everything else by evaluation.metrics.score_generations."""
    from rxt5_assets.evaluation.metrics import score_generations, strict_valid

    values: dict[str, float] = {}
    unavailable: dict[str, str] = {}
    language = rows[0].target_language
    if STRICT_VALIDITY in metrics:
        kinded = [(p, r) for p, r in zip(predictions, rows) if r.kind is not None]
        if kinded:
            values[STRICT_VALIDITY] = sum(bool(strict_valid(p, language, r.kind)) for p, r in kinded) / len(kinded)
    others = [m for m in metrics if m != STRICT_VALIDITY]
    if others:
        out = score_generations(list(predictions), [r.target for r in rows], language=language,
                                kinds=[r.kind for r in rows], metrics=others,
                                compile_timeout_s=settings.compile_timeout_s)
        for name, reason in (getattr(out, "unavailable", None) or {}).items():
            unavailable[str(name)] = str(reason)
        for name, value in out.items():
            if name == STRICT_VALIDITY:
                continue
            number = _numeric(value)
            if number is not None:
                values[str(name)] = number
    return values, unavailable


def _weighted(groups: Iterable[tuple[dict[str, float], int]]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    weights: dict[str, int] = defaultdict(int)
    for values, n in groups:
        for name, value in values.items():
            sums[name] += value * n
            weights[name] += n
    return {name: sums[name] / weights[name] for name in sums if weights[name]}


def score_system(rows: Sequence[EvalRow], greedy: Sequence[str], best: Sequence[str],
                 settings: EvaluationSettings, *, metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Scores of one system on `rows`: {"by_task": {language: {task: {...}}}, "by_language": {language: {...}},
    "unavailable": {...}}; each value dict holds `<metric>@<decoding>` numbers and `rows`. `all` aggregates."""
    if not rows:
        raise EmptyEvaluationSetError("no rows to score")
    names = tuple(metrics) if metrics is not None else settings.metric_names()
    if STRICT_VALIDITY not in names:  # the gate's own metric: always measured
        names = (*names, STRICT_VALIDITY)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[(row.language, row.task)].append(i)
    by_task: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    unavailable: dict[str, str] = {}
    for (language, task), idx in sorted(groups.items()):
        group_rows = [rows[i] for i in idx]
        group_metrics = [m for m in names if m in TEXT_METRICS] if task in TEXT_ONLY_TASKS else list(names)
        values: dict[str, float] = {}
        greedy_scores, missing = score_group([greedy[i] for i in idx], group_rows, group_metrics, settings)
        unavailable.update(missing)
        if all(best[i] == greedy[i] for i in idx):  # e.g. the template: one output scored once
            best_scores = greedy_scores
        else:
            best_scores, missing = score_group([best[i] for i in idx], group_rows, group_metrics, settings)
            unavailable.update(missing)
        for decoding, scores in (("greedy", greedy_scores), ("best_of_k", best_scores)):
            values.update({f"{name}@{decoding}": value for name, value in scores.items()})
        values["rows"] = len(idx)
        values["kinded_rows"] = sum(r.kind is not None for r in group_rows)
        by_task[language][task] = values
    by_language: dict[str, dict[str, float]] = {}
    for language, tasks in by_task.items():
        by_language[language] = _aggregate(tasks.values())
    by_language[ALL] = _aggregate([v for tasks in by_task.values() for v in tasks.values()])
    return {"by_task": {k: dict(v) for k, v in by_task.items()}, "by_language": by_language,
            "unavailable": unavailable}


def _aggregate(groups: Iterable[dict[str, float]]) -> dict[str, float]:
    groups = list(groups)
    out = _weighted((({k: v for k, v in g.items() if k not in ("rows", "kinded_rows")}, int(g["rows"]))
                     for g in groups))
    # strict validity is defined on kinded rows only: weight it by those
    for decoding in DECODINGS:
        key = f"{STRICT_VALIDITY}@{decoding}"
        pairs = [(g[key], int(g["kinded_rows"])) for g in groups if key in g and g["kinded_rows"]]
        if pairs:
            out[key] = sum(v * n for v, n in pairs) / sum(n for _, n in pairs)
    out["rows"] = sum(int(g["rows"]) for g in groups)
    out["kinded_rows"] = sum(int(g["kinded_rows"]) for g in groups)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# one system end to end, and the seed's two entry points

@dataclass
class SystemResult:
    role: str  # candidate | active | template
    system_id: str  # a t5_model_versions id, or "template"
    version: str | None
    scores: dict[str, Any]
    greedy: list[str] = field(default_factory=list)
    best: list[str] = field(default_factory=list)
    generation_seconds: float = 0.0
    scoring_seconds: float = 0.0
    cached: bool = False
    cache_key: str = ""
    shown: dict[str, dict[str, str]] = field(default_factory=dict)  # row index → its generations, for display

    def summary(self) -> dict[str, Any]:
        """What is stored (and reused from the cache): scores and timings, not the generations."""
        return {"role": self.role, "model_version_id": self.system_id, "version": self.version,
                "cache_key": self.cache_key, "scores": self.scores,
                "generation_seconds": round(self.generation_seconds, 2),
                "scoring_seconds": round(self.scoring_seconds, 2)}


def evaluate_model(model, tokenizer, rows: Sequence[EvalRow], settings: EvaluationSettings, *,
                   work_dir: str | Path | None = None) -> SystemResult:
    """Generate greedy + best-of-k for every row and score them: on CTranslate2 when `settings.backend` says so and
    `work_dir` (where the converted copy lives meanwhile) is given, else on transformers."""
    if work_dir is not None:
        with ctranslate2_folder(model, tokenizer, settings, work_dir) as folder:
            generations = generate_candidates(model, tokenizer, [r.input for r in rows], settings, ct2_folder=folder)
    else:
        generations = generate_candidates(model, tokenizer, [r.input for r in rows], settings)
    best, _ = best_of_k(rows, generations.samples)
    start = time.perf_counter()
    scores = score_system(rows, generations.greedy, best, settings)
    return SystemResult("model", "", None, scores, generations.greedy, best, generations.seconds,
                        time.perf_counter() - start)


def evaluate_template(rows: Sequence[EvalRow], settings: EvaluationSettings) -> SystemResult:
    """The template floor on `rows` (one output per row, scored as both greedy and best-of-k)."""
    start = time.perf_counter()
    outputs = template_generations(rows)
    generated = time.perf_counter() - start
    scores = score_system(rows, outputs, outputs, settings)
    return SystemResult("template", "template", None, scores, outputs, outputs, generated,
                        time.perf_counter() - start - generated)


def evaluate_language_performance(model, tokenizer, examples: Iterable[Any], language: str,
                                  settings: EvaluationSettings = EvaluationSettings()) -> dict[str, Any]:
    """The seed's `evaluate_language_performance(examples, language)`: the scores of one language's rows
    ({metric@decoding: value, rows, by_task}). Raises EmptyEvaluationSetError when there are none."""
    rows = [r for r in as_rows(examples) if r.language == language]
    if not rows:
        raise EmptyEvaluationSetError(f"no evaluation rows for language {language!r}")
    scores = evaluate_model(model, tokenizer, rows, settings).scores
    return {**scores["by_language"][language], "by_task": scores["by_task"][language],
            "unavailable": scores["unavailable"]}


def evaluate_cross_language_performance(model, tokenizer, examples: Iterable[Any],
                                        settings: EvaluationSettings = EvaluationSettings()) -> dict[str, Any]:
    """The seed's `evaluate_cross_language_performance`: the translate / concept-transfer rows (language `a->b`),
    per direction, plus `all` over every direction. Raises EmptyEvaluationSetError when there are none."""
    rows = [r for r in as_rows(examples) if r.is_cross_language]
    if not rows:
        raise EmptyEvaluationSetError("no cross-language (translate / concept_transfer) evaluation rows")
    scores = evaluate_model(model, tokenizer, rows, settings).scores
    return {"by_direction": {k: v for k, v in scores["by_language"].items() if k != ALL},
            "all": scores["by_language"][ALL], "by_task": scores["by_task"], "unavailable": scores["unavailable"]}


# ---------------------------------------------------------------------------------------------------------------------
# names a well-formed result may use (the results frame's type check)

def known_languages() -> list[str]:
    """Every registered language, every ordered pair `a->b` of them, and `all`."""
    from rxt5_assets.languages import names

    single = names()
    return [*single, *(f"{a}->{b}" for a in single for b in single if a != b), ALL]


def known_metric_names(metrics: Sequence[str] | None = None) -> list[str]:
    """`<metric>@<decoding>` for every metric (evaluation.metrics.METRICS by default, plus strict validity, the
    parse_success that compile_success reports beside it and CodeBLEU's four components) and decoding, and
    `primary`."""
    from rxt5_assets.evaluation.code_bleu import COMPONENTS

    if metrics is None:
        from rxt5_assets.evaluation.metrics import METRICS

        metrics = tuple(METRICS)
    base = set(metrics) | {STRICT_VALIDITY, "parse_success"}
    if "code_bleu" in base:
        base |= {f"code_bleu_{part}" for part in COMPONENTS}
    return [f"{m}@{d}" for m in sorted(base) for d in DECODINGS] + ["primary"]


PERCENT_METRICS = frozenset({"bleu", "chrf"})  # sacrebleu's 0-100 scale; every other metric (and primary) is 0-1


def metric_scale(metric: str) -> float:
    """The top of a stored metric's scale: 100 for `bleu@…` / `chrf@…`, 1 for the rest."""
    return 100.0 if metric.split("@")[0] in PERCENT_METRICS else 1.0
