"""Language registry: every language-specific behaviour is reached through ``get(name)`` / ``for_path(path)``.

Rust and Elixir register themselves on import; a new language is one module implementing ``LanguageModule`` plus a
``register(...)`` call, nothing else in rxt5 changes.
"""

from __future__ import annotations

import os
import threading

from .base import Analysis, LanguageModule, SourceItem
from .concepts import CONCEPTS, Concept

__all__ = [
    "Analysis",
    "CONCEPTS",
    "Concept",
    "ELIXIR",
    "LanguageModule",
    "RUST",
    "SourceItem",
    "all_languages",
    "for_path",
    "get",
    "names",
    "register",
    "unregister",
]

_lock = threading.Lock()
_by_name: dict[str, LanguageModule] = {}
_by_ext: dict[str, LanguageModule] = {}


def register(module: LanguageModule) -> LanguageModule:
    """Add (or replace, by name) a language. Raises ``TypeError`` for an object missing protocol members and
    ``ValueError`` for an empty name, a malformed extension or an extension another language already owns."""
    if not isinstance(module, LanguageModule):
        missing = [
            m
            for m in ("name", "extensions", "comment_prefix", "chunk", "analyze", "quality_indicators", "is_valid_item")
            if not hasattr(module, m)
        ]
        raise TypeError(f"{module!r} is not a LanguageModule (missing: {', '.join(missing)})")
    name = module.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"language name must be a non-empty string, got {name!r}")
    exts = tuple(module.extensions)
    for ext in exts:
        if not isinstance(ext, str) or not ext.startswith(".") or len(ext) < 2:
            raise ValueError(f"extension {ext!r} of language {name!r} must look like '.rs'")
    with _lock:
        for ext in exts:
            owner = _by_ext.get(ext.lower())
            if owner is not None and owner.name != name:
                raise ValueError(f"extension {ext!r} already belongs to language {owner.name!r}")
        old = _by_name.get(name)
        if old is not None:
            for ext in old.extensions:
                _by_ext.pop(ext.lower(), None)
        _by_name[name] = module
        for ext in exts:
            _by_ext[ext.lower()] = module
    return module


def unregister(name: str) -> None:
    """Remove a language (mainly for tests that register a temporary one)."""
    with _lock:
        module = _by_name.pop(name, None)
        if module is None:
            raise KeyError(_unknown(name))
        for ext in module.extensions:
            if _by_ext.get(ext.lower()) is module:
                del _by_ext[ext.lower()]


def _unknown(name: object) -> str:
    return f"unknown language {name!r}; known languages: {', '.join(sorted(_by_name)) or '(none)'}"


def get(name: str) -> LanguageModule:
    try:
        return _by_name[name]
    except KeyError:
        raise KeyError(_unknown(name)) from None


def for_path(path: str | os.PathLike) -> LanguageModule | None:
    """The language owning a file by its extension (case-insensitive), or ``None``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return _by_ext.get(ext) if ext else None


def names() -> list[str]:
    return sorted(_by_name)


def all_languages() -> list[LanguageModule]:
    return [_by_name[n] for n in sorted(_by_name)]


from .elixir import ELIXIR  # noqa: E402
from .rust import RUST  # noqa: E402

register(RUST)
register(ELIXIR)
