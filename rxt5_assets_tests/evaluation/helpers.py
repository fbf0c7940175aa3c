"""Toolchain skips and demo-corpus items shared by the evaluation tests.

Only the tests that need a real toolchain skip when it is missing: CI machines have rustc/rustfmt, and
scripts/test.sh installs elixir with apt-get when it runs as root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rxt5_assets import languages

DEMO_CORPUS = Path(__file__).resolve().parents[2] / "rxt5_assets" / "demo_corpus"

needs_rustc = pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc not on PATH (https://rustup.rs)")
needs_rustfmt = pytest.mark.skipif(
    shutil.which("rustfmt") is None, reason="rustfmt not on PATH (rustup component add rustfmt)"
)
needs_elixir = pytest.mark.skipif(
    shutil.which("elixir") is None,
    reason="elixir not on PATH (scripts/test.sh installs it with apt-get when run as root)",
)


def demo_items(language: str) -> list[str]:
    """Every item the language module cuts out of the demo corpus, in a stable order."""
    module = languages.get(language)
    items: list[str] = []
    for path in sorted(DEMO_CORPUS.rglob("*")):
        if path.is_file() and languages.for_path(path) is module:
            items.extend(item.text for item in module.chunk(path.read_bytes()))
    return items
