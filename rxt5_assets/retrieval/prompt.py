"""The one prompt format of retrieval-augmented input — at generation and in training examples alike.

    <prompt text, whole>

    <comment> context: <file path>
    <chunk, whole or cut at a line end>

    <comment> context: <file path>
    <chunk>

The task prompt comes first and is never cut, so the tokenizer's truncation (from the right, at max_source_length)
only ever shortens the context. `<comment>` is the language's line comment (`//` for Rust, `#` for Elixir), so the
context reads as code of the language. Chunks appear best first; the whole text stays within `max_chars` (unless the
prompt alone is longer): a chunk that does not fit is cut at its last line end that fits, or left out when less than
MIN_CHUNK_CHARS of it would remain.
"""

from __future__ import annotations

from typing import Sequence

DEFAULT_MAX_CHARS = 1000  # ≈ 320 tokens of the demo base's BPE on code (3.2 chars a token, measured on the demo inputs):
# what the trainer and the evaluation keep, so the context is cut at a line end here, not mid-line by the tokenizer
MIN_CHUNK_CHARS = 80
CONTEXT_MARKER = "context:"


def comment_prefix(language: str) -> str:
    from rxt5_assets import languages

    target = language.split("->")[-1].strip()
    try:
        return languages.get(target).comment_prefix
    except Exception:  # an unknown language still gets a readable marker
        return "//"


def context_header(language: str, file_path: str) -> str:
    return f"{comment_prefix(language)} {CONTEXT_MARKER} {file_path}"


def with_context(prompt_text: str, language: str, retrieved: Sequence, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """`prompt_text` followed by the retrieved chunks (objects with `file_path` and `content`), within `max_chars`."""
    text = prompt_text.rstrip()
    for chunk in retrieved:
        content = (chunk.content or "").strip("\n").rstrip()
        if not content.strip():
            continue
        block_head = f"\n\n{context_header(language, chunk.file_path)}\n"
        room = max_chars - len(text) - len(block_head)
        if room < MIN_CHUNK_CHARS:
            break
        if len(content) > room:
            cut = content.rfind("\n", 0, room + 1)
            if cut < MIN_CHUNK_CHARS:
                break
            content = content[:cut].rstrip()
        text += block_head + content
    return text


def strip_context(text: str, language: str) -> str:
    """The prompt part of a retrieval-augmented input (inverse of with_context for the prompt)."""
    marker = f"\n\n{comment_prefix(language)} {CONTEXT_MARKER} "
    index = text.find(marker)
    return text if index < 0 else text[:index]
