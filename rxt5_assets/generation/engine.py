"""GeneratorEngine: code from the active model, scored and gated (the seed's `GeneratorEngine.code_generate`).

    engine = GeneratorEngine(home)                       # nothing is loaded yet
    result = engine.code_generate("Create a GenServer for caching with TTL", "elixir", repo="my-repo",
                                  quality="production", use_rag=True)
    result.error or result.code                          # an error *result*, never an exception, for bad requests

One request:
  1. checks the request (known language and quality level, a prompt, a known item kind);
  2. with `use_rag`, retrieves the repo's own chunks (`rxt5_assets.retrieval`) and puts them in the prompt;
  3. phrases the prompt as the training task it matches (`params.model_input`: `generate <lang> <kind>: …`);
  4. generates k candidates with the active version's backend (`params.DecodingParams` per language and level);
  5. scores each candidate — strict validity (the language module's `is_valid_item`: a tree-sitter parse and a look at
     the top level) and the language's quality score (`data.quality.quality_score`, the data stage's formula) — and
     returns the best; nothing generated is ever compiled, written to disk or run;
  6. flags a best candidate below the level's threshold (or not strict-valid) as low-quality; at a level with
     `reject_low_quality` (production) that is an error result carrying the best candidate.

The active version is `$RXT5_HOME/models/active` (a symlink to `models/deployments/<version>/`), loaded lazily on the
first request. `refresh()` notices that the link points at a new folder, loads the new backend and swaps the reference;
a request holds the backend it started with, so in-flight requests finish on the old version (the HTTP service calls
`refresh()` from a watcher thread, off the request path).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from rxt5_assets.errors import UserFacingError
from rxt5_assets.generation.backends import GenerationBackend, SamplingParams
from rxt5_assets.generation.params import CONFIG_FILE, DecodingParams, ParamsTable, infer_kind, model_input

log = logging.getLogger(__name__)

#: error code → HTTP status (the service answers with it; the CLI exits non-zero on any error)
ERROR_STATUS: dict[str, int] = {
    "bad_request": 400,  # the request is not what the API takes (not JSON, a field of the wrong type, …)
    "empty_prompt": 422,
    "unknown_language": 422,
    "unknown_quality": 422,
    "unknown_kind": 422,
    "bad_parameter": 422,  # a decoding override out of range
    "repo_required": 422,  # use_rag without a repo
    "repo_has_no_chunks": 404,  # use_rag with a repo code_chunks knows nothing of (for that language)
    "quality_below_threshold": 422,  # production: the best candidate is low-quality (attached)
    "rag_unavailable": 503,  # the retrieval package is not installed / not importable
    "no_model": 503,  # nothing deployed at models/active
    "model_load_failed": 503,
    "queue_full": 503,  # the service's bounded queue
    "time_limit": 504,
    "retrieval_failed": 500,
    "generation_failed": 500,
}


@dataclass
class GenerationError:
    code: str
    message: str

    @property
    def http_status(self) -> int:
        return ERROR_STATUS.get(self.code, 500)


@dataclass
class Candidate:
    code: str
    strict_valid: bool  # a whole item of the requested kind (language module's is_valid_item)
    parses_as_item: bool  # a whole item of any kind
    quality_score: float  # the language's quality score, 0-1
    breakdown: dict[str, float] = field(default_factory=dict)
    count: int = 1  # how many of the k samples decoded to this same text


@dataclass
class LoadedModel:
    version: str
    folder: str
    manifest: dict[str, Any]
    backend: GenerationBackend
    loaded_at: float
    load_seconds: float

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.manifest.get("kind"),
                "base_model": self.manifest.get("base_model"), "backend": self.backend.name, "folder": self.folder,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
                "load_seconds": round(self.load_seconds, 3)}


@dataclass
class GenerationResult:
    prompt: str
    language: str | None
    quality: str
    repo: str | None = None
    use_rag: bool = False
    kind: str | None = None
    code: str | None = None  # the best candidate (also set on a quality_below_threshold error: it is attached)
    quality_score: float | None = None
    strict_valid: bool | None = None
    low_quality: bool = False
    low_quality_reasons: list[str] = field(default_factory=list)
    model_version: str | None = None
    backend: str | None = None
    model_input: str | None = None  # the prompt as the model saw it (task prefix, retrieved context)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)  # best first; duplicates merged (count)
    params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: GenerationError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def http_status(self) -> int:
        return 200 if self.error is None else self.error.http_status

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return out


class _TimeLimit(Exception):
    pass


def score_candidates(texts: list[str], language: str, kind: str | None) -> list[Candidate]:
    """Each distinct text scored (parse-only: tree-sitter and the quality formula), best first: strict-valid before
    not, then whole items of another kind, then by quality score."""
    from rxt5_assets import languages
    from rxt5_assets.data.quality import quality_score

    module = languages.get(language)
    counts: dict[str, int] = {}
    for text in texts:
        text = text.strip()
        counts[text] = counts.get(text, 0) + 1
    scored = []
    for text, count in counts.items():
        if not text:
            scored.append(Candidate(text, False, False, 0.0, {}, count))
            continue
        strict = module.is_valid_item(text, kind)
        any_item = strict or module.is_valid_item(text, None)
        analysis = module.analyze(text)
        score, breakdown = quality_score(text, analysis, module.quality_indicators(analysis))
        scored.append(Candidate(text, strict, any_item, round(float(score), 4), breakdown, count))
    scored.sort(key=lambda c: (c.strict_valid, c.parses_as_item, c.quality_score, c.count), reverse=True)
    return scored


def gate(best: Candidate | None, params: DecodingParams, language: str, kind: str | None) -> list[str]:
    """Why `best` is low-quality ([] when it is not)."""
    if best is None or not best.code:
        return ["no candidate was generated"]
    reasons = []
    if not best.strict_valid:
        what = f"a whole {language} {kind}" if kind else f"a whole {language} item"
        reasons.append(f"no candidate is {what} that parses (strict validity)")
    if best.quality_score < params.low_quality_threshold:
        reasons.append(f"quality score {best.quality_score:.3f} is below the threshold "
                       f"{params.low_quality_threshold:g}")
    return reasons


BackendLoader = Callable[[Path], GenerationBackend]


class GeneratorEngine:
    """See the module docstring. Thread-safe: requests may run in several threads; loading is serialised."""

    def __init__(self, home: str | os.PathLike[str] | None = None, database=None, *, backend: str = "auto",
                 device: str | None = None, params: Mapping[str, Any] | None = None,
                 params_file: str | os.PathLike[str] | None = None, backend_loader: BackendLoader | None = None,
                 load_on_demand: bool = True, time_limit_s: float | None = None):
        """home: $RXT5_HOME (default: the environment's); database: a `Database` for retrieval (default: the home's,
        opened only when a request asks for RAG); backend: a `load_backend` kind; params / params_file: decoding
        parameters over the defaults (params.py; the file defaults to $RXT5_HOME/generation.toml); backend_loader:
        folder → backend, instead of `load_backend(folder, kind=backend)`; load_on_demand: load the active version on
        the first request (False: only `refresh()` loads — the service's watcher does); time_limit_s: the default
        per-request limit."""
        from rxt5_assets.db import rxt5_home

        self.home = rxt5_home(home)
        self._database = database
        self.backend_kind = backend
        self.device = device
        self.params = ParamsTable(params, params_file if params_file is not None else self.home / CONFIG_FILE)
        self._loader = backend_loader
        self.load_on_demand = load_on_demand
        self.time_limit_s = time_limit_s
        self._loaded: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self.last_load_error: str | None = None
        self._failed_folder: str | None = None
        self.swaps = 0

    # ---- the active version -----------------------------------------------------------------------------------------

    def active_folder(self) -> Path | None:
        """Where `models/active` points now (None when nothing is deployed)."""
        from rxt5_assets.evaluation.promotion import DEPLOYMENT_MANIFEST, fine_tuned_path

        folder = Path(os.path.realpath(fine_tuned_path(self.home)))
        return folder if (folder / DEPLOYMENT_MANIFEST).is_file() else None

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def link_changed(self) -> bool:
        """Cheap (a readlink): does `models/active` name another folder than the loaded one?"""
        folder = self.active_folder()
        current = self._loaded
        return folder is not None and (current is None or str(folder) != current.folder)

    def refresh(self, *, retry_failed: bool = False) -> bool:
        """Load the version `models/active` points at if it is not the loaded one, then swap it in; True on a swap.
        A folder that failed to load is not retried until the link moves (or `retry_failed`)."""
        with self._load_lock:
            folder = self.active_folder()
            current = self._loaded
            if folder is None or (current is not None and current.folder == str(folder)):
                return False
            if str(folder) == self._failed_folder and not retry_failed:
                return False
            from rxt5_assets.evaluation.promotion import read_manifest

            started = time.perf_counter()
            try:
                manifest = read_manifest(folder) or {}
                backend = self._loader(folder) if self._loader is not None else self._load_backend(folder)
            except Exception as exc:  # a broken deployment must not take the serving version down
                self.last_load_error = f"{folder}: {type(exc).__name__}: {exc}"
                self._failed_folder = str(folder)
                log.error("could not load %s: %s", folder, exc)
                return False
            self._loaded = LoadedModel(manifest.get("version", folder.name), str(folder), manifest, backend,
                                       time.time(), time.perf_counter() - started)
            self.last_load_error, self._failed_folder = None, None
            if current is not None:
                self.swaps += 1
                log.info("now serving %s (was %s)", self._loaded.version, current.version)
            return True

    def _load_backend(self, folder: Path) -> GenerationBackend:
        from rxt5_assets.generation.backends import load_backend

        return load_backend(folder, kind=self.backend_kind, device=self.device, home=self.home)

    def describe(self) -> dict[str, Any]:
        current = self._loaded
        return {**(current.describe() if current else {"version": None}), "swaps": self.swaps,
                "last_load_error": self.last_load_error}

    # ---- one request ------------------------------------------------------------------------------------------------

    def code_generate(self, prompt: str, language: str, repo: str | None = None, quality: str = "standard",
                      use_rag: bool = False, *, kind: str | None = None, signature: str | None = None,
                      overrides: Mapping[str, Any] | None = None, seed: int | None = None,
                      time_limit_s: float | None = None, deadline: float | None = None,
                      rag_k: int = 3) -> GenerationResult:
        """Generate, score and gate (module docstring). overrides: DecodingParams fields for this request;
        time_limit_s (or an absolute `deadline` on time.monotonic()): past it the result is a time_limit error."""
        started = time.perf_counter()
        limit = time_limit_s if time_limit_s is not None else self.time_limit_s
        if limit is not None:
            deadline = min(deadline, time.monotonic() + limit) if deadline is not None else time.monotonic() + limit
        result = GenerationResult(prompt=prompt if isinstance(prompt, str) else repr(prompt), language=language,
                                  quality=quality, repo=repo, use_rag=bool(use_rag))
        try:
            self._run(result, prompt, language, repo, quality, use_rag, kind, signature, overrides, seed, deadline,
                      rag_k)
        except _TimeLimit as exc:
            result.error = GenerationError("time_limit", f"the time limit was reached {exc}; "
                                                         "the candidates scored so far are attached")
        except Exception as exc:  # a bug or a backend failure: still a result, with what went wrong
            log.exception("generation failed")
            result.error = GenerationError("generation_failed", f"{type(exc).__name__}: {exc}")
        result.timings["total_s"] = time.perf_counter() - started
        return result

    def _run(self, result: GenerationResult, prompt, language, repo, quality, use_rag, kind, signature, overrides,
             seed, deadline, rag_k) -> None:
        from rxt5_assets import languages

        def check_time(stage: str) -> None:
            if deadline is not None and time.monotonic() >= deadline:
                raise _TimeLimit(f"before {stage}")

        def fail(code: str, message: str) -> None:
            result.error = GenerationError(code, message)

        if not isinstance(prompt, str) or not prompt.strip():
            return fail("empty_prompt", "the prompt is empty: describe the code to generate, e.g. "
                                        "\"Create a GenServer for caching with TTL\"")
        if language not in languages.names():
            return fail("unknown_language", f"unknown language {language!r}; known: {', '.join(languages.names())}")
        if quality not in self.params.levels:
            return fail("unknown_quality", f"unknown quality level {quality!r}; known: {', '.join(self.params.levels)}")
        module = languages.get(language)
        if kind is None and signature:
            analysed = module.analyze(signature).kind
            kind = analysed if analysed != "unknown" else None
        kind = kind or infer_kind(language, prompt)
        if kind is not None:
            try:
                module.is_valid_item("", kind)
            except ValueError as exc:
                return fail("unknown_kind", str(exc))
        result.kind = kind
        try:
            params = self.params.get(language, quality).with_overrides(overrides)
        except (ValueError, KeyError) as exc:
            return fail("bad_parameter", str(exc).strip("'\""))
        result.params = params.as_dict()
        if use_rag and not (isinstance(repo, str) and repo.strip()):
            return fail("repo_required", "retrieval (use_rag) needs the repo whose code to retrieve from")

        check_time("loading the model")
        loaded = self._loaded
        if loaded is None and self.load_on_demand:
            t0 = time.perf_counter()
            self.refresh(retry_failed=True)
            loaded = self._loaded
            result.timings["load_s"] = time.perf_counter() - t0
        if loaded is None:
            if self.last_load_error:
                return fail("model_load_failed", f"the deployed model could not be loaded: {self.last_load_error}")
            from rxt5_assets.evaluation.promotion import fine_tuned_path

            return fail("no_model", f"no model is deployed at {fine_tuned_path(self.home)}: promote one (materialize "
                                    "active_model_version) or run `rxt5 deploy VERSION` / `rxt5 switch --base`")
        result.model_version, result.backend = loaded.version, loaded.backend.name

        text = model_input(language, kind, prompt, signature)
        if use_rag:
            check_time("retrieval")
            t0 = time.perf_counter()
            text = self._with_retrieval(result, text, prompt, language, repo, rag_k)
            result.timings["retrieval_s"] = time.perf_counter() - t0
            if result.error is not None:
                return None
        result.model_input = text

        check_time("generation")
        t0 = time.perf_counter()
        sampling = SamplingParams(max_new_tokens=params.max_new_tokens, temperature=params.temperature,
                                  top_p=params.top_p, repetition_penalty=params.repetition_penalty,
                                  num_candidates=params.num_candidates, do_sample=params.sample, seed=seed,
                                  no_repeat_ngram_size=params.no_repeat_ngram_size)
        # the item implements the signature it was given: the output starts with it (one line; a longer one is the
        # model's to write, as a cut line would be forced wrong)
        given = (signature or "").strip()
        prefix = given if params.signature_prefix and given and "\n" not in given else None
        texts = loaded.backend.generate([text], sampling, prefixes=[prefix])[0]
        result.timings["generate_s"] = time.perf_counter() - t0

        check_time("scoring")
        t0 = time.perf_counter()
        result.candidates = score_candidates(texts, language, kind)
        result.timings["score_s"] = time.perf_counter() - t0
        best = result.candidates[0] if result.candidates else None
        if best is not None:
            result.code, result.quality_score, result.strict_valid = best.code, best.quality_score, best.strict_valid
        result.low_quality_reasons = gate(best, params, language, kind)
        result.low_quality = bool(result.low_quality_reasons)
        if result.low_quality and params.reject_low_quality:
            fail("quality_below_threshold", f"quality level {quality!r} refuses the best of {len(texts)} "
                                            f"candidate(s): " + "; ".join(result.low_quality_reasons)
                 + " (the best candidate is attached)")
        return None

    def _with_retrieval(self, result: GenerationResult, text: str, prompt: str, language: str, repo: str,
                        k: int) -> str:
        database = self._database
        if database is None:
            from rxt5_assets.db import Database

            database = self._database = Database(home=self.home)
        with database.connect() as conn:
            in_repo, in_language = conn.execute(
                "select count(*), count(*) filter (where language = %s) from code_chunks where repo = %s",
                (language, repo)).fetchone()
            if in_language == 0:
                result.error = GenerationError(
                    "repo_has_no_chunks",
                    f"repo {repo!r} has no chunks in code_chunks to retrieve from" if in_repo == 0 else
                    f"repo {repo!r} has {in_repo} chunk(s) but none in {language}: nothing to retrieve from "
                    "(ingest its code with `rxt5 ingest PATH --repo NAME`)")
                return text
            try:
                from rxt5_assets.retrieval.prompt import with_context
                from rxt5_assets.retrieval.search import retrieve
            except ImportError as exc:
                result.error = GenerationError("rag_unavailable", f"retrieval is not available: {exc}")
                return text
            try:
                retrieved = retrieve(conn, prompt, repo=repo, language=language, k=k)
            except UserFacingError as exc:  # NoChunksError (a race with a delete), RetrievalError
                code = "repo_has_no_chunks" if type(exc).__name__ == "NoChunksError" else "retrieval_failed"
                result.error = GenerationError(code, str(exc))
                return text
        result.retrieved = [asdict(chunk) if hasattr(chunk, "__dataclass_fields__") else dict(chunk)
                            for chunk in retrieved]
        return with_context(text, language, retrieved)
