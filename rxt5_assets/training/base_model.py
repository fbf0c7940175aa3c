"""Loading the base model: the shipped `demo` base, the locally built `tiny` T5, a local folder, or a Hugging Face id
from the local cache.

Nothing is downloaded unless the caller passes `allow_download=True`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from rxt5_assets.errors import UserFacingError
from rxt5_assets.training.config import DEMO, TINY
from rxt5_assets.training.tiny import METADATA_FILE, is_complete_base, read_tiny_metadata, tiny_base_dir

log = logging.getLogger(__name__)

#: held by every model load in this process: transformers' from_pretrained is not thread-safe within one process —
#: two threads loading at once failed 18 of 18 times ("Cannot copy out of meta tensor"), with weights reported missing
MODEL_LOAD_LOCK = threading.RLock()


class BaseModelNotFoundError(UserFacingError, FileNotFoundError):
    """The base model is neither a local folder nor in the Hugging Face cache (and downloading was not allowed)."""


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


# The demo base lives in the package, so an installed rxt5 has it with nothing to download or build.
DEMO_BASE_DIR = Path(__file__).resolve().parent.parent / "models" / "demo_base"
DEMO_REBUILD_HINT = "rebuild it with `python scripts/build_demo_base.py` (see its model card) or reinstall rxt5"


def demo_base_metadata() -> dict:
    """How the shipped demo base was built: corpus, size, objective, steps, losses and its weights' fingerprint."""
    return read_tiny_metadata(DEMO_BASE_DIR)


def resolve_base_path(name_or_path: str, *, models_dir: Path | str) -> str:
    """What `from_pretrained` is given: the shipped folder for 'demo', the tiny base's folder for 'tiny', else the
    name or path unchanged."""
    if name_or_path == DEMO:
        return str(DEMO_BASE_DIR)
    if name_or_path == TINY:
        return str(tiny_base_dir(models_dir).resolve())
    return name_or_path


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists() or name.count("/") > 1 or "\\" in name


def load_base_model(name_or_path: str, *, models_dir: Path | str, allow_download: bool = False,
                    dtype: Any = None) -> tuple[Any, Any]:
    """`_load_base_model` under MODEL_LOAD_LOCK."""
    import warnings

    # peft reads transformers' deprecated `is_gradient_checkpointing` on every wrap: a FutureWarning in each step's
    # stderr that says nothing to an rxt5 user
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    with MODEL_LOAD_LOCK:
        return _load_base_model(name_or_path, models_dir=models_dir, allow_download=allow_download, dtype=dtype)


def _load_base_model(name_or_path: str, *, models_dir: Path | str, allow_download: bool = False,
                     dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a seq2seq base.

    * 'demo': the base shipped in the package (rxt5_assets/models/demo_base).
    * 'tiny': the cached base in `<models_dir>/tiny` (built by `ensure_tiny_base`; `train()` builds it on demand).
    * a local folder holding config.json: loaded from there.
    * a Hugging Face id (e.g. Salesforce/codet5p-770m): `from_pretrained(..., local_files_only=not allow_download)`.

    Raises BaseModelNotFoundError naming the id/path, the cache searched, and how to fix it.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if name_or_path == DEMO:
        if not is_complete_base(DEMO_BASE_DIR):
            missing = [f for f in ("config.json", "model.safetensors", "tokenizer.json", METADATA_FILE)
                       if not (DEMO_BASE_DIR / f).is_file()]
            raise BaseModelNotFoundError(
                f"the shipped demo base is incomplete: {', '.join(missing)} missing in {DEMO_BASE_DIR}; "
                f"{DEMO_REBUILD_HINT}.")
        return (AutoModelForSeq2SeqLM.from_pretrained(DEMO_BASE_DIR, **kwargs),
                AutoTokenizer.from_pretrained(DEMO_BASE_DIR))
    if name_or_path == TINY:
        path = tiny_base_dir(models_dir)
        if not is_complete_base(path):
            raise BaseModelNotFoundError(
                f"the tiny base model is not built yet (looked in {path}). Build it with "
                f"rxt5_assets.training.tiny.ensure_tiny_base(models_dir={str(models_dir)!r}, train_file=...) or run "
                f"`rxt5 train --base-model tiny --train-file <train.jsonl> ...`, which builds it from the training file.")
        return (AutoModelForSeq2SeqLM.from_pretrained(path, **kwargs), AutoTokenizer.from_pretrained(path))

    expanded = Path(name_or_path).expanduser()
    if expanded.is_dir():
        if not (expanded / "config.json").is_file():
            raise BaseModelNotFoundError(
                f"{expanded} is a folder but holds no config.json: not a saved model. Pass the folder that "
                f"save_pretrained / `huggingface-cli download --local-dir` wrote.")
        return (AutoModelForSeq2SeqLM.from_pretrained(expanded, **kwargs), AutoTokenizer.from_pretrained(expanded))
    if _looks_like_path(name_or_path):
        raise BaseModelNotFoundError(f"base model folder {expanded} does not exist.")

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=not allow_download)
        model = AutoModelForSeq2SeqLM.from_pretrained(name_or_path, local_files_only=not allow_download, **kwargs)
    except (OSError, ValueError) as exc:  # transformers raises OSError (sometimes ValueError) for a missing model
        cache = hf_cache_dir()
        if allow_download:
            hint = (f"downloading was allowed but failed ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                    f"check the id and the network, or pass a local folder")
        else:
            hint = (f"downloading is off. Fix: download it once (`huggingface-cli download {name_or_path}`, or run "
                    f"with allow_download=True / `--allow-download`), or pass a local folder holding the model")
        raise BaseModelNotFoundError(
            f"base model {name_or_path!r} was not found in the Hugging Face cache {cache} "
            f"(HF_HUB_CACHE / HF_HOME choose that folder); {hint}.") from exc
    return model, tokenizer
