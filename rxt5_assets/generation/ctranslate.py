"""The fast CPU path: a deployed version converted once to CTranslate2, cached in its deployment folder, and served.

**Conversion** (`ensure_converted`). CTranslate2 has no LoRA: an adapter deployment is loaded onto its base
(`training.generate.load_trained`, fingerprint-checked), merged with `merge_and_unload()`, saved with its tokenizer to
a temporary folder and converted with `ctranslate2.converters.TransformersConverter` (int8 and/or fp32). A base
deployment converts the base it names; a full fine-tune converts as is. The converted model is **verified before it
is published**: on the probe prompts the fp32 model's greedy tokens must equal the merged transformers model's, and
for every quantization the per-token log-probability of that greedy continuation (teacher-forced, `score_batch`) must
stay within `MAX_INT8_LOGPROB_DRIFT` (int8) / `MAX_FP32_LOGPROB_DRIFT` (fp32) of transformers'. It is then published
by one `os.rename` of the finished folder to `<deployment>/ct2-<int8|fp32>/` (manifest `rxt5_ct2.json` written
last inside it before the rename), so a reader sees a complete model or none. Builders take an exclusive `flock` on
`<deployment>/.ct2.lock`: a second caller waits, then finds the folder and reuses it, so a version is converted once
however many processes load it at once. A conversion that fails verification leaves `ct2-<q>.failed.json` (reason,
CTranslate2 version) so later loads fall back at once instead of repeating it; `force=True` retries.

**When**: at deployment — `evaluation.promotion` calls `convert_at_deploy` after each switch of the active version has
committed (never inside the locked transaction, and a failure is logged, never raised: the promotion stands and
serving falls back to transformers) — and lazily at first load with the same locked, atomic publish (for versions
deployed before this existed, or when the deploy-time conversion was skipped). `RXT5_FAST_PATH_CONVERT` chooses what
deployment builds: `auto` (default: the quantization `kind="auto"` serves), `all` (int8 and fp32) or `off`.

**Serving** (`CTranslate2Backend`, the `GenerationBackend` protocol): greedy is `beam_size=1`; k candidates are
`num_hypotheses=k` sampled with `sampling_temperature`, `sampling_topp` and `sampling_topk=50` — transformers'
default top-k, which `model.generate` applies when unset, so both backends sample from the same truncated
distribution (not the same random draws); `repetition_penalty` and `max_decoding_length` as given (measured: fp32
greedy with penalty 1.2 is token-identical to `model.generate`). Threads: the `threads` argument, else
`RXT5_GENERATION_THREADS`, else every core this process may use. A `seed` makes sampling reproducible at the cost of
one model load per seeded request (CTranslate2 seeds a worker thread's generator once, at its first sample).

**Devices**: `load_ctranslate2_backend` returns None (the caller falls back to transformers) when ctranslate2 does not
import, for a device other than the CPU under `kind="auto"`, and for an explicit kind on a CUDA device CTranslate2 does
not see. On a GPU `auto` keeps transformers: no GPU was available to measure CTranslate2's CUDA path against
`model.generate` here, and transformers on CUDA is the path already checked on an H200; an explicit
`ctranslate2-int8` / `ctranslate2-fp32` with `device="cuda"` runs CTranslate2 on CUDA when it sees a device.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from rxt5_assets.errors import UserFacingError
from rxt5_assets.generation.backends import SamplingParams

log = logging.getLogger(__name__)

QUANTIZATIONS = {"int8": "int8", "fp32": "float32"}  # rxt5's name -> CTranslate2's quantization / compute type
#: what kind="auto" serves on a CPU — fp32, by measurement (bench/bench_fast_path_quality.py and
#: bench/bench_generation_latency.py; the README has the tables): fp32's greedy output is token-identical to
#: transformers' (163/163 demo eval rows), so what the gate evaluated is what is served, 5-30x faster; int8 leaves the
#: model's likelihood unchanged (target NLL 4.3843 vs 4.3842) but changes 70-80% of greedy outputs, and greedy strict
#: validity then moved by -3.5 / -0.9 / +19.3 points on three demo adapters — not within the 1 point asked for.
#: int8 stays available as kind "ctranslate2-int8" (faster on a 220m-sized model).
AUTO_QUANTIZATION = "fp32"
CACHE_PREFIX = "ct2-"
CT2_MANIFEST = "rxt5_ct2.json"
LOCK_FILE = ".ct2.lock"
THREADS_ENV = "RXT5_GENERATION_THREADS"
CONVERT_ENV = "RXT5_FAST_PATH_CONVERT"
SAMPLING_TOP_K = 50  # transformers' generate() default when top_k is unset
_SEED_LOCK = threading.Lock()  # set_random_seed is process-wide
# probe prompts of the verification: one per language, in the fine-tune's own task format
PROBES = (
    "implement rust: /// Returns the sum of the two amounts, or None on overflow.\n"
    "pub fn checked_total(a: u64, b: u64) -> Option<u64>",
    "implement elixir: @doc \"Fetches a cached value unless it has expired.\"\ndef fetch(cache, key, now)",
)
PROBE_NEW_TOKENS = 32
MAX_FP32_LOGPROB_DRIFT = 1e-3  # nats per token: fp32 is the same arithmetic in another library
MAX_INT8_LOGPROB_DRIFT = 0.5  # nats per token: quantisation noise, far below what a broken conversion shows


class ConversionError(UserFacingError, RuntimeError):
    """A deployment could not be converted to CTranslate2 (or the converted model did not match the original)."""


# ---------------------------------------------------------------------------------------------------------------------
# where things are

def ctranslate2_available() -> bool:
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return False
    return True


def _quantization(name: str) -> str:
    name = {"float32": "fp32", "int8_float32": "int8"}.get(name, name)
    if name not in QUANTIZATIONS:
        raise ValueError(f"unknown CTranslate2 quantization {name!r}: choose one of {', '.join(QUANTIZATIONS)}")
    return name


def cache_folder(deployment_folder: str | os.PathLike[str], quantization: str) -> Path:
    """`<deployment>/ct2-<int8|fp32>/`: where a version's converted model lives."""
    return Path(deployment_folder) / f"{CACHE_PREFIX}{_quantization(quantization)}"


def _failure_marker(deployment_folder: Path, quantization: str) -> Path:
    return deployment_folder / f"{CACHE_PREFIX}{quantization}.failed.json"


def is_converted(folder: str | os.PathLike[str]) -> bool:
    folder = Path(folder)
    return (folder / CT2_MANIFEST).is_file() and (folder / "model.bin").is_file()


def read_conversion(folder: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(folder) / CT2_MANIFEST).read_text())


def default_threads() -> int:
    """`RXT5_GENERATION_THREADS`, else every core this process may run on."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            raise UserFacingError(f"{THREADS_ENV}={value!r} is not a whole number of threads") from None
        if threads < 1:
            raise UserFacingError(f"{THREADS_ENV} must be at least 1 (got {threads})")
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _read_manifest(deployment_folder: Path) -> dict[str, Any]:
    from rxt5_assets.evaluation.promotion import DEPLOYMENT_MANIFEST

    path = deployment_folder / DEPLOYMENT_MANIFEST
    if not path.is_file():
        raise ConversionError(f"{deployment_folder} is not a deployment folder (no {DEPLOYMENT_MANIFEST})")
    return json.loads(path.read_text())


def _models_dir(models_dir, home) -> Path:
    from rxt5_assets.evaluation.promotion import models_root

    return Path(models_dir) if models_dir is not None else models_root(home)


def base_available(manifest: dict[str, Any], models_dir: Path) -> str | None:
    """None when the model a deployment needs can be loaded from here, else why not — checked without importing
    torch, so a deployment whose base is elsewhere costs nothing at deploy time."""
    from rxt5_assets.training.base_model import resolve_base_path
    from rxt5_assets.training.config import DEMO, TINY
    from rxt5_assets.training.tiny import is_complete_base

    if manifest.get("kind") == "full":
        return None
    name = manifest.get("base_model") or ""
    if name in (DEMO, TINY):
        path = Path(resolve_base_path(name, models_dir=models_dir))
        return None if is_complete_base(path) else f"base {name!r} is not built in {path}"
    path = Path(name).expanduser()
    if name.startswith((".", "/", "~")) and not (path / "config.json").is_file():
        return f"base folder {path} holds no model"
    return None  # a Hugging Face id: load_base_model says whether the local cache has it


# ---------------------------------------------------------------------------------------------------------------------
# conversion

@dataclass(frozen=True)
class Converted:
    folder: Path
    quantization: str
    built: bool  # True when this call converted it, False when it was already there (or another caller built it)
    manifest: dict[str, Any]


@contextlib.contextmanager
def _exclusive(deployment_folder: Path) -> Iterator[None]:
    """An exclusive flock on `<deployment>/.ct2.lock` (blocks while another process or thread holds it)."""
    import fcntl

    with open(deployment_folder / LOCK_FILE, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def merged_model(deployment_folder: str | os.PathLike[str], *, home=None, models_dir=None) -> tuple[Any, Any]:
    """(model, tokenizer) of a deployment as plain transformers, a LoRA adapter merged into its base."""
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.generate import load_trained

    folder = Path(deployment_folder)
    manifest = _read_manifest(folder)
    models = _models_dir(models_dir, home)
    if manifest["kind"] == "base":
        model, tokenizer = load_base_model(manifest["base_model"], models_dir=models)
    else:
        model, tokenizer = load_trained(folder, models)
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
    model.eval()
    return model, tokenizer


def _convert_saved(saved: Path, target: Path, quantization: str, tokenizer) -> None:
    """A saved transformers folder converted for CTranslate2 into `target`, with the tokenizer beside it."""
    import ctranslate2

    ctranslate2.converters.TransformersConverter(str(saved)).convert(
        str(target), quantization=QUANTIZATIONS[_quantization(quantization)])
    tokenizer.save_pretrained(target)


def convert_loaded(model, tokenizer, target: str | os.PathLike[str], *, quantization: str = "fp32") -> Path:
    """A loaded (model, tokenizer) converted for CTranslate2 into `target` (created; the caller removes it), a LoRA
    merged into its base first (in place: the caller's model becomes the merged one): how the evaluation samples a
    candidate that is not deployed yet. fp32 is transformers' arithmetic (the deploy conversion verifies that on
    every version)."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    target = Path(target)
    saved = target.with_name(target.name + ".hf")
    try:
        model.save_pretrained(saved)
        tokenizer.save_pretrained(saved)
        _convert_saved(saved, target, quantization, tokenizer)
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    return target


def ensure_converted(deployment_folder: str | os.PathLike[str], quantization: str = AUTO_QUANTIZATION, *,
                     home=None, models_dir=None, force: bool = False) -> Converted:
    """The deployment's converted model of this quantization, converting (and verifying) it first when missing.

    Safe to call from several processes at once: one converts under the lock, the others wait and reuse it."""
    return convert_deployment(deployment_folder, (quantization,), home=home, models_dir=models_dir, force=force)[0]


def convert_deployment(deployment_folder: str | os.PathLike[str], quantizations: Sequence[str] = ("int8", "fp32"), *,
                       home=None, models_dir=None, force: bool = False) -> list[Converted]:
    """Every requested quantization of a deployment, the missing ones converted from one merged model."""
    folder = Path(deployment_folder).resolve()
    wanted = [_quantization(q) for q in quantizations]
    done = {q: cache_folder(folder, q) for q in wanted if not force and is_converted(cache_folder(folder, q))}
    if len(done) == len(wanted):  # the common case: no lock, no heavy import
        return [Converted(done[q], q, False, read_conversion(done[q])) for q in wanted]
    if not ctranslate2_available():
        raise ConversionError("ctranslate2 is not installed (pip install ctranslate2==4.8.5)")
    manifest = _read_manifest(folder)
    with _exclusive(folder):
        results: dict[str, Converted] = {}
        missing = []
        for q in wanted:
            target = cache_folder(folder, q)
            if is_converted(target) and not force:
                results[q] = Converted(target, q, False, read_conversion(target))
                continue
            marker = _failure_marker(folder, q)
            if marker.is_file() and not force:
                failure = json.loads(marker.read_text())
                raise ConversionError(f"{folder.name}: the {q} conversion failed before ({failure['reason']}); "
                                      f"remove {marker} or convert with force=True to retry")
            missing.append(q)
        if missing:
            for converted in _build(folder, manifest, missing, home=home, models_dir=models_dir):
                results[converted.quantization] = converted
    return [results[q] for q in wanted]


def _build(folder: Path, manifest: dict[str, Any], quantizations: list[str], *, home, models_dir) -> list[Converted]:
    """Under the lock: merge once, convert each quantization into a temp folder, verify, publish by rename."""
    import ctranslate2

    for leftover in [*folder.glob(".ct2-build-*"), *folder.glob(".ct2-old-*")]:  # every builder holds the lock: these
        shutil.rmtree(leftover, ignore_errors=True)                                # are a killed builder's remains
    work = folder / f".ct2-build-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    out: list[Converted] = []
    try:
        started = time.perf_counter()
        model, tokenizer = merged_model(folder, home=home, models_dir=models_dir)
        merged = work / "merged"
        model.save_pretrained(merged)
        tokenizer.save_pretrained(merged)
        merge_seconds = time.perf_counter() - started
        reference = _reference(model, tokenizer)
        for q in quantizations:
            t0 = time.perf_counter()
            staged = work / f"ct2-{q}"
            try:
                _convert_saved(merged, staged, q, tokenizer)
                verification = _verify(staged, tokenizer, reference, q)
            except Exception as exc:  # deterministic for this model and library: remembered, not retried per load
                error = exc if isinstance(exc, ConversionError) else ConversionError(
                    f"{folder.name}: converting to CTranslate2 {q} failed: {type(exc).__name__}: {exc}")
                _failure_marker(folder, q).write_text(json.dumps(
                    {"reason": str(error), "ctranslate2": ctranslate2.__version__,
                     "at": datetime.now(timezone.utc).isoformat()}, indent=2) + "\n")
                if error is exc:
                    raise
                raise error from exc
            meta = {"version": manifest.get("version"), "kind": manifest.get("kind"),
                    "base_model": manifest.get("base_model"), "quantization": q,
                    "ctranslate2": ctranslate2.__version__, "conversion_id": uuid.uuid4().hex,
                    "converted_at": datetime.now(timezone.utc).isoformat(),
                    "merge_seconds": round(merge_seconds, 3), "convert_seconds": round(time.perf_counter() - t0, 3),
                    "verification": verification}
            (staged / CT2_MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")
            target = cache_folder(folder, q)
            if target.exists():  # a stale or forced-over copy: move it aside first (rename is atomic, rmtree is not)
                aside = folder / f".ct2-old-{uuid.uuid4().hex[:8]}"
                os.rename(target, aside)
                shutil.rmtree(aside, ignore_errors=True)
            os.rename(staged, target)
            _failure_marker(folder, q).unlink(missing_ok=True)
            log.info("%s: CTranslate2 %s model published at %s (%.1f s)", folder.name, q, target,
                     meta["convert_seconds"] + merge_seconds)
            out.append(Converted(target, q, True, meta))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _reference(model, tokenizer) -> list[dict[str, Any]]:
    """The merged transformers model's greedy continuation of each probe and its per-token log-probabilities."""
    import torch

    from rxt5_assets.training.generate import generate_ids

    ids = generate_ids(model, tokenizer, list(PROBES), max_new_tokens=PROBE_NEW_TOKENS, repetition_penalty=1.0)
    reference = []
    device = next(model.parameters()).device
    for prompt, row in zip(PROBES, ids):
        tokens = [t for t in row[1:] if t != tokenizer.pad_token_id]  # drop the decoder start token and padding
        if tokens and tokens[-1] == tokenizer.eos_token_id:
            tokens = tokens[:-1]
        enc = tokenizer([prompt], return_tensors="pt").to(device)
        labels = torch.tensor([tokens + [tokenizer.eos_token_id]], device=device)
        with torch.no_grad():
            logits = model(**enc, labels=labels).logits.float()
        logprobs = torch.log_softmax(logits, -1)[0, torch.arange(labels.shape[1]), labels[0]]
        reference.append({"prompt": prompt, "tokens": tokens, "logprobs": logprobs.tolist()})
    return reference


def _verify(staged: Path, tokenizer, reference: list[dict[str, Any]], quantization: str) -> dict[str, Any]:
    """Greedy tokens equal to transformers' (fp32), per-token log-probabilities within the drift bound (both)."""
    import ctranslate2

    translator = ctranslate2.Translator(str(staged), device="cpu", intra_threads=1)
    sources = [tokenizer.convert_ids_to_tokens(tokenizer(r["prompt"]).input_ids) for r in reference]
    greedy = translator.translate_batch(sources, beam_size=1, max_decoding_length=PROBE_NEW_TOKENS,
                                        repetition_penalty=1.0, max_input_length=0)
    scored = translator.score_batch(sources, [tokenizer.convert_ids_to_tokens(r["tokens"]) for r in reference],
                                    max_input_length=0)
    drift, agreement = 0.0, []
    for ref, hyp, score in zip(reference, greedy, scored):
        got = tokenizer.convert_tokens_to_ids(hyp.hypotheses[0])
        same = sum(a == b for a, b in zip(got, ref["tokens"]))
        agreement.append(same / max(1, max(len(got), len(ref["tokens"]))))
        if len(score.log_probs) != len(ref["logprobs"]):
            raise ConversionError(f"CTranslate2 {quantization} scored {len(score.log_probs)} tokens of a "
                                  f"{len(ref['logprobs'])}-token continuation")
        drift = max(drift, max(abs(a - b) for a, b in zip(score.log_probs, ref["logprobs"])) if ref["logprobs"]
                    else 0.0)
        if quantization == "fp32" and got != ref["tokens"]:
            raise ConversionError(f"the CTranslate2 fp32 model's greedy output differs from the merged model's on a "
                                  f"probe ({tokenizer.decode(got)!r} vs {tokenizer.decode(ref['tokens'])!r})")
    bound = MAX_FP32_LOGPROB_DRIFT if quantization == "fp32" else MAX_INT8_LOGPROB_DRIFT
    if drift > bound:
        raise ConversionError(f"the CTranslate2 {quantization} model's log-probabilities drift {drift:.4f} nats per "
                              f"token from the merged model's (bound {bound:g})")
    return {"probes": len(reference), "new_tokens": PROBE_NEW_TOKENS, "greedy_token_agreement": agreement,
            "max_logprob_drift": round(drift, 6), "bound": bound}


def convert_at_deploy(deployment_folder: str | os.PathLike[str], *, home=None,
                      models_dir=None) -> list[Converted] | None:
    """What a switch of the active version calls after its commit: build the fast path's cache for the deployed
    version (`RXT5_FAST_PATH_CONVERT`: auto | all | off). Never raises: a failure is logged, and serving falls back
    to transformers (or converts lazily at first load once the cause is fixed)."""
    mode = os.environ.get(CONVERT_ENV, "auto").strip().lower() or "auto"
    if mode in ("off", "0", "no", "false"):
        return None
    if mode not in ("auto", "all"):
        log.warning("%s=%r is not auto, all or off: using auto", CONVERT_ENV, mode)
        mode = "auto"
    folder = Path(deployment_folder)
    try:
        if not ctranslate2_available():
            log.info("ctranslate2 is not installed: %s will be served by transformers", folder.name)
            return None
        quantizations = list(QUANTIZATIONS) if mode == "all" else [AUTO_QUANTIZATION]
        if all(is_converted(cache_folder(folder, q)) for q in quantizations):
            return convert_deployment(folder, quantizations, home=home, models_dir=models_dir)
        why = base_available(_read_manifest(folder), _models_dir(models_dir, home))
        if why is not None:
            log.warning("not converting %s for CTranslate2 now: %s (it converts at first load once it can)",
                        folder.name, why)
            return None
        return convert_deployment(folder, quantizations, home=home, models_dir=models_dir)
    except Exception as exc:  # noqa: BLE001 - the promotion has committed; serving falls back
        log.warning("CTranslate2 conversion of %s failed, transformers will serve it: %s", folder.name, exc)
        return None


# ---------------------------------------------------------------------------------------------------------------------
# serving

class CTranslate2Backend:
    """`GenerationBackend` over a converted model: `ctranslate2.Translator.translate_batch`."""

    def __init__(self, model_folder: str | os.PathLike[str], *, quantization: str, device: str = "cpu",
                 threads: int | None = None, tokenizer: Any = None, max_source_length: int = 512,
                 batch_size: int = 16):
        from transformers import AutoTokenizer

        self.folder = Path(model_folder)
        self.quantization = _quantization(quantization)
        self.device = device
        self.threads = threads or default_threads()
        self.max_source_length = max_source_length
        self.batch_size = batch_size
        self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(self.folder)
        self._tokenizer_lock = threading.Lock()
        self.translator = self._new_translator()
        self.name = f"ctranslate2-{self.quantization}" + ("" if device == "cpu" else f"-{device}")

    def _new_translator(self):
        import ctranslate2

        return ctranslate2.Translator(str(self.folder), device=self.device, intra_threads=self.threads)

    def _sources(self, prompts: Sequence[str]) -> list[list[str]]:
        tok = self.tokenizer
        # a fast tokenizer called with truncation from two threads at once can fail ("Already borrowed"): the
        # Translator itself is safe to share between request threads, the tokenizer is serialised
        with self._tokenizer_lock:
            return [tok.convert_ids_to_tokens(tok(p, max_length=self.max_source_length, truncation=True).input_ids)
                    for p in prompts]

    def generate_ids(self, prompts: Sequence[str], params: SamplingParams, *, min_new_tokens: int = 0,
                     prefixes: Sequence[str | None] | None = None) -> list[list[list[int]]]:
        """Token ids (no start or end token) of `params.num_candidates` continuations per prompt. `min_new_tokens`
        forbids the end token before that many (the latency bench forces exactly 128). `prefixes`: text each output
        starts with (CTranslate2's target_prefix; it counts toward max_decoding_length, as in transformers here)."""
        import ctranslate2

        k = max(1, params.num_candidates)
        sample = params.do_sample or k > 1
        options: dict[str, Any] = dict(beam_size=1, max_decoding_length=params.max_new_tokens,
                                       repetition_penalty=params.repetition_penalty, max_input_length=0,
                                       max_batch_size=self.batch_size,
                                       no_repeat_ngram_size=params.no_repeat_ngram_size)
        if min_new_tokens:
            options["min_decoding_length"] = min_new_tokens
        sources = self._sources(prompts)
        if prefixes is not None and any(prefixes):
            from rxt5_assets.training.generate import prefix_token_ids

            with self._tokenizer_lock:
                options["target_prefix"] = [self.tokenizer.convert_ids_to_tokens(prefix_token_ids(self.tokenizer, p))
                                            if p else None for p in prefixes]
        if sample:
            options.update(sampling_topk=SAMPLING_TOP_K, sampling_topp=params.top_p,
                           sampling_temperature=params.temperature, num_hypotheses=k)
        if sample and params.seed is not None:
            # CTranslate2 seeds each worker thread's generator once, when that thread first samples: a seeded request
            # gets a translator (fresh worker threads) of its own, created after the seed is set — one model load
            with _SEED_LOCK:
                ctranslate2.set_random_seed(params.seed)
                translator = self._new_translator()
                results = translator.translate_batch(sources, **options)
                del translator
        else:
            results = self.translator.translate_batch(sources, **options)
        tok = self.tokenizer
        with self._tokenizer_lock:
            return [[tok.convert_tokens_to_ids(h) for h in r.hypotheses] for r in results]

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 prefixes: Sequence[str | None] | None = None) -> list[list[str]]:
        if not prompts:
            return []
        ids = self.generate_ids(prompts, params, prefixes=prefixes)
        with self._tokenizer_lock:
            return [self.tokenizer.batch_decode(candidates, skip_special_tokens=True) for candidates in ids]


def load_ctranslate2_backend(deployment_folder: str | os.PathLike[str], *, kind: str = "auto",
                             device: str | None = None, home=None, models_dir=None,
                             threads: int | None = None) -> CTranslate2Backend | None:
    """The fast backend for a deployment, converting it first if its cache is missing; None when the caller should
    fall back to transformers (ctranslate2 missing, a device it does not serve, or — for kind "auto" — a conversion
    that failed). kind: "auto" | "ctranslate2" (= auto's quantization) | "ctranslate2-int8" | "ctranslate2-fp32"."""
    explicit = kind != "auto"
    if explicit and not kind.startswith("ctranslate2"):
        raise ValueError(f"not a CTranslate2 kind: {kind!r}")
    quantization = _quantization(kind.removeprefix("ctranslate2").lstrip("-") or AUTO_QUANTIZATION) \
        if explicit else AUTO_QUANTIZATION
    if not ctranslate2_available():
        log.info("ctranslate2 is not installed: generation falls back to transformers")
        return None
    import ctranslate2

    ct2_device = "cpu"
    if device is not None and not str(device).startswith("cpu"):
        if not explicit or not str(device).startswith("cuda") or ctranslate2.get_cuda_device_count() == 0:
            log.info("device %s: generation uses transformers (kind %s)", device, kind)
            return None
        ct2_device = "cuda"
    folder = Path(deployment_folder).resolve()
    try:
        converted = ensure_converted(folder, quantization, home=home, models_dir=models_dir)
    except Exception as exc:  # noqa: BLE001 - auto falls back on any failure; an explicit kind says why
        if explicit:
            raise
        log.warning("the CTranslate2 path is not available for %s, transformers serves it: %s", folder.name, exc)
        return None
    return CTranslate2Backend(converted.folder, quantization=quantization, device=ct2_device, threads=threads)
