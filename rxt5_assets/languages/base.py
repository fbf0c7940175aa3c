"""The contract every language module fulfils.

Everything that differs between languages (grammar, item kinds, doc syntax, patterns, quality indicators, syntax checks)
lives in one module per language; the rest of rxt5 only talks to this interface through the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One item-level chunk cut out of a source file (what ingestion stores as a code_chunks row)."""

    kind: str  # language-specific item kind: "function", "struct", "impl", "module", "def", "defp", ...
    name: str  # best-effort item name ("" when the item has none)
    text: str  # the item's source, including its leading docs and attributes
    start_line: int  # 1-based, first line of the leading docs/attributes
    end_line: int  # 1-based, inclusive


@dataclass(slots=True)
class Analysis:
    """What the syntax tree says about one chunk of code."""

    language: str
    kind: str  # the chunk's main item kind ("function", "impl", "module", "def", ...; "unknown" when none)
    name: str
    patterns: frozenset[str]  # pattern tags found in the tree, e.g. {"fn", "result_return", "question_mark", "match"}
    doc: str  # the item's own documentation, markers stripped ("" when none)
    signature: str  # the item's header without body (e.g. "pub fn parse(input: &str) -> Result<Ast, Error>")
    body: str  # the implementation without docs/attributes/signature ("" when not separable)
    code_without_docs: str  # the whole item with its own doc comment/attribute removed
    tests: str  # the item's test code (#[cfg(test)] module / ExUnit test blocks), "" when none
    has_syntax_error: bool
    concepts: frozenset[str] = field(default_factory=frozenset)  # cross-language concept tags (see concepts.py)
    names: tuple[str, ...] = ()  # names declared in the item (its own, fields, variants, methods, …)
    # appended to the chunk (or to code_without_docs), makes it a whole item: an Elixir module_header's `end`
    closing: str = ""
    # counters behind graded indicators, e.g. {"doc_candidates": 3, "documented": 2, "question_mark": 4}
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def identifiers(self) -> frozenset[str]:
        """The declared names as lower-case words of two or more characters (``TtlCache`` → ttl, cache); the data
        stage computes the same words for a whole column at once (``preprocess.identifier_words_expr``)."""
        from rxt5_assets.languages._ts import identifier_words

        return identifier_words(self.names)


@runtime_checkable
class LanguageModule(Protocol):
    name: str  # registry key and the value stored in code_chunks.language, e.g. "rust"
    extensions: tuple[str, ...]  # file suffixes this language owns, e.g. (".rs",)
    comment_prefix: str  # line comment marker used when building prompts, e.g. "//" or "#"

    def chunk(self, source: bytes) -> list[SourceItem]:
        """Split a whole source file into item-level chunks."""
        ...

    def analyze(self, code: str) -> Analysis:
        """Parse one chunk and recognise its patterns from the syntax tree."""
        ...

    def quality_indicators(self, analysis: Analysis) -> dict[str, float]:
        """Language-specific positive indicators, each in [0, 1], keyed by a stable indicator name."""
        ...

    def is_valid_item(self, code: str, kind: str | None = None) -> bool:
        """True when `code` parses without error AND is the requested kind of item (not just any parseable text)."""
        ...

    # Optional (looked up with getattr; a language without it decodes `generate` rows freely):
    # def generate_prefix(self, kind: str | None, description: str) -> str | None:
    #     """The text a generated item of `kind` documented by `description` starts with, in the language's doc
    #     convention (the decoder is fed it: generation.params.output_prefix), or None."""
