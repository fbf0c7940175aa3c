"""Metrics of generated code: local ``evaluate`` modules shipped in this package (``metrics/<name>/<name>.py``),
loaded offline from their path — nothing is downloaded, generated code is never run.

| metric            | scale | what it measures                                                                        |
|-------------------|-------|-----------------------------------------------------------------------------------------|
| bleu              | 0-100 | sacrebleu corpus BLEU-4 (tokenizer 13a)                                                  |
| chrf              | 0-100 | sacrebleu corpus chrF (character 6-grams)                                                |
| rouge_l           | 0-1   | mean ROUGE-L F-measure (rouge-score) on code tokens, punctuation kept                    |
| code_bleu         | 0-1   | CodeBLEU: n-gram, keyword-weighted n-gram, syntax-subtree and data-flow match, 1/4 each  |
| strict_validity   | 0-1   | share that parses without ERROR/MISSING and is the requested kind of item (is_valid_item)|
| compile_success   | 0-1   | share the toolchain accepts: rustc --emit=metadata; Elixir string_to_quoted + top level  |
| parse_success     | 0-1   | (from compile_success) the toolchain's syntax check: rustfmt / Code.string_to_quoted     |
| code_quality      | 0-1   | mean rxt5 quality score of the generated code (data/quality.py)                          |

``import evaluate`` costs about 5 s, so nothing here imports it before ``load_metric`` is first called, and each
module is loaded once per process. evaluate copies a module into its modules cache ($HF_HOME/modules) before
importing it: ``load_metric`` uses that folder when it is writable, else ``evaluate_cache_dir()/modules`` (under
``$RXT5_HOME``, or the temp dir); evaluate's own files go to ``evaluate_cache_dir()``. The modules also load with a
plain ``evaluate.load(str(metric_path(name)))`` and run together under ``evaluate.combine``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Sequence

METRICS = ("bleu", "chrf", "rouge_l", "code_bleu", "strict_validity", "compile_success", "code_quality")
METRICS_DIR = Path(__file__).with_name("metrics")
DEFAULT_COMPILE_TIMEOUT_S = 15.0

_CODE_BLEU_PARTS = ("ngram_match", "weighted_ngram_match", "syntax_match", "dataflow_match")

_load_lock = threading.Lock()
_loaded: dict[str, object] = {}
_compute_locks = {name: threading.Lock() for name in METRICS}  # an evaluate module is not safe to share mid-compute


class Scores(dict):
    """Metric values by key, each a float or None; ``unavailable`` maps every None key to the reason."""

    def __init__(self, values: dict[str, float | None], unavailable: dict[str, str]):
        super().__init__(values)
        self.unavailable = dict(unavailable)

    def __repr__(self) -> str:
        return f"Scores({dict.__repr__(self)}, unavailable={self.unavailable!r})"


def metric_path(name: str) -> Path:
    """The folder of a shipped metric module (what ``evaluate.load`` takes)."""
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS_DIR / name


def evaluate_cache_dir() -> Path:
    """``$RXT5_HOME/cache/evaluate``, or a folder under the system temp dir when that cannot be created."""
    from rxt5_assets.db.connection import rxt5_home

    for candidate in (rxt5_home() / "cache" / "evaluate", Path(tempfile.gettempdir()) / "rxt5-evaluate"):
        if _writable(candidate):
            return candidate
    raise OSError("no writable folder for evaluate's files (tried $RXT5_HOME/cache/evaluate and the temp dir)")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".writable").touch()
        return True
    except OSError:
        return False


def _modules_cache(root: Path) -> Path:
    """Where evaluate copies the modules before importing them. ``evaluate_modules`` is one package per process, so
    every module must land in the same folder: the one already imported, else evaluate's own HF_MODULES_CACHE (so a
    plain ``evaluate.load`` in this process keeps working), else — when that is not writable — ``root/modules``."""
    import evaluate

    package = sys.modules.get("evaluate_modules")
    location = getattr(package, "__file__", None)
    if location:
        return Path(location).parent.parent
    default = Path(evaluate.config.HF_MODULES_CACHE)
    return default if _writable(default) else root / "modules"


def load_metric(name: str):
    """The ``evaluate`` module ``name`` (one of METRICS), loaded offline from this package and cached in-process."""
    path = metric_path(name)
    with _load_lock:
        metric = _loaded.get(name)
        if metric is not None:
            return metric
        from evaluate.loading import evaluation_module_factory, import_main_class, init_dynamic_modules

        root = evaluate_cache_dir()
        dynamic_modules = init_dynamic_modules(hf_modules_cache=_modules_cache(root))
        module = evaluation_module_factory(str(path), dynamic_modules_path=dynamic_modules)
        metric = import_main_class(module.module_path)(cache_dir=str(root / "data"), keep_in_memory=True,
                                                       hash=module.hash)  # fmt: skip
        metric.download_and_prepare()  # a local module has nothing to download; this only finishes its set-up
        _loaded[name] = metric
        return metric


def strict_valid(code: str, language: str, kind: str | None = None) -> bool:
    """One sample: parses without ERROR/MISSING nodes and is the requested kind of item (any item when None)."""
    from rxt5_assets import languages

    return languages.get(language).is_valid_item(code, kind)


def _compute(name: str, **inputs) -> dict:
    metric = load_metric(name)
    with _compute_locks[name]:
        return metric.compute(**inputs)


def score_generations(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    language: str,
    kinds: str | Sequence[str | None] | None = None,
    metrics: Iterable[str] = METRICS,
    compile_timeout_s: float = DEFAULT_COMPILE_TIMEOUT_S,
    search_path: str | None = None,
) -> Scores:
    """Score generated code against references for one language.

    Keys: bleu, chrf (0-100); rouge_l, code_bleu and code_bleu_<component>, strict_validity, compile_success,
    parse_success, code_quality (0-1). ``kinds`` is the requested item kind, one for all or one per sample (None =
    any item); it only affects strict_validity. ``compile_timeout_s`` is the per-sample limit of compile_success;
    ``search_path`` replaces $PATH for finding the toolchains. A value that cannot be computed is None with its
    reason in ``.unavailable`` — never 0.
    """
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    wanted = list(dict.fromkeys(metrics))
    for name in wanted:
        metric_path(name)  # unknown names fail before any work
    n = len(predictions)
    if kinds is None or isinstance(kinds, str):
        kinds = [kinds] * n
    kinds = ["" if k is None else k for k in kinds]
    if len(kinds) != n:
        raise ValueError(f"{n} predictions but {len(kinds)} kinds")
    langs = [language] * n
    values: dict[str, float | None] = {}
    unavailable: dict[str, str] = {}

    def put(key: str, value, reason: str = "") -> None:
        values[key] = value
        if value is None:
            unavailable[key] = reason or "not computed"

    for name in wanted:
        keys = {
            "code_bleu": ["code_bleu"] + [f"code_bleu_{p}" for p in _CODE_BLEU_PARTS],
            "compile_success": ["compile_success", "parse_success"],
        }.get(name, [name])
        if n == 0:
            for key in keys:
                put(key, None, "no predictions")
            continue
        if name in ("bleu", "chrf", "rouge_l"):
            put(name, _compute(name, predictions=predictions, references=references)[name])
        elif name == "code_bleu":
            out = _compute(name, predictions=predictions, references=references, languages=langs)
            put("code_bleu", out["code_bleu"])
            for part in _CODE_BLEU_PARTS:
                put(f"code_bleu_{part}", out[part], f"the references hold nothing for {part}")
        elif name == "strict_validity":
            put(name, _compute(name, predictions=predictions, languages=langs, kinds=kinds)[name])
        elif name == "compile_success":
            out = _compute(name, predictions=predictions, languages=langs, timeout_s=compile_timeout_s,
                           search_path=search_path)  # fmt: skip
            for key in keys:
                put(key, out[key], out["unavailable"].get(key, ""))
        elif name == "code_quality":
            put(name, _compute(name, predictions=predictions, languages=langs)[name])
    return Scores(values, unavailable)
