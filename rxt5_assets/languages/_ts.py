"""Small tree-sitter helpers shared by the language modules (no language knowledge in here).

Performance notes (measured on 2 cores with real crate code; see ``bench/bench_analyze.py``):
- a QueryCursor pass over a *whole* tree costs about a third of the parse itself, even for one trivial pattern, and
  every capture handed to Python costs more than a microsecond; ``node.type`` / ``child_by_field_name`` are several
  times slower than ``node.kind_id`` / ``child_by_field_id``.
- so the language modules read item structure by iterating the few item-level nodes, and recognise expression-level
  patterns with :func:`probe`: candidate byte offsets come from ``bytes.find`` and each one is *confirmed by the syntax
  tree* (the named node tree-sitter has at that offset), so occurrences in strings, comments or longer identifiers
  never count.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from functools import lru_cache
from typing import Callable

import tree_sitter as ts

log = logging.getLogger(__name__)

Node = ts.Node


PARSE_BUDGET_S = 2.0  # a whole source file parses in milliseconds; only a runaway error recovery takes longer
_READ_BYTES = 1 << 16
_UNPARSABLE = b"\x00 ) ] } end"  # a syntax error in every grammar rxt5 registers (tested)


class ParserPool:
    """One tree-sitter ``Parser`` per thread for a language (parsers are not thread-safe; languages and queries are)."""

    def __init__(self, language_factory: Callable[[], object]):
        self._factory = language_factory
        self._language: ts.Language | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def language(self) -> ts.Language:
        if self._language is None:
            with self._lock:
                if self._language is None:
                    self._language = ts.Language(self._factory())
        return self._language

    def parser(self) -> ts.Parser:
        p = getattr(self._local, "parser", None)
        if p is None:
            p = ts.Parser(self.language)
            self._local.parser = p
        return p

    def parse(self, data: bytes) -> ts.Tree:
        """The tree of `data`, parsed within PARSE_BUDGET_S (plus 1 s per 250 kB). Some generated text sends
        tree-sitter's error recovery into a loop that never ends (found: a 368-byte Rust `impl` from the demo base,
        which held a process at 100 % CPU and 18 GB after 20 minutes); past the budget the parse is cancelled and the
        tree of an unparsable input is returned, so every caller sees a syntax error (invalid item,
        `has_syntax_error`) instead of a hang."""
        parser = self.parser()
        budget = PARSE_BUDGET_S + len(data) / 250_000  # big files get more
        deadline = time.monotonic() + budget
        try:
            return parser.parse(lambda offset, _point: data[offset:offset + _READ_BYTES],
                                progress_callback=lambda *_: time.monotonic() > deadline)
        except ValueError:  # "Parsing failed": cancelled by the budget
            log.warning("tree-sitter gave up on %d bytes after %.0f s: treated as a syntax error", len(data),
                        budget)
            parser.reset()
            return parser.parse(_UNPARSABLE)


def closed_prefixes(data: bytes, items: list, member_cuts: Callable[[bytes, object, bytes, list], None]) -> list[str]:
    """The shared part of a language module's `closed_prefixes`: `data` cut after each top-level item but the last,
    plus what `member_cuts(data, item, outer_closing, cuts)` appends for every item (the item cut inside its body and
    closed), without the whole text and duplicates, shortest first."""
    cuts: list[bytes] = [data[:n.end_byte] for n in items[:-1]]
    for n in items:
        member_cuts(data, n, b"", cuts)
    whole = data[:items[-1].end_byte] if items else b""
    return sorted({c.decode("utf-8", "replace") for c in cuts if c != whole}, key=len)


def closing_lines(data: bytes, close_at: int, end_byte: int, outer_closing: bytes) -> bytes:
    """What closes a body cut short: a newline, the body's own closing line from `close_at` (its `}` / `end`) to the
    item's end — with that line's indentation when the closer starts its line — then the enclosing bodies' closers."""
    line_start = data.rfind(b"\n", 0, close_at) + 1
    return b"\n" + data[line_start if not data[line_start:close_at].strip() else close_at:end_byte] + outer_closing


class Grammar:
    """Node-kind and field ids of a language, resolved once (``node.kind_id`` is several times cheaper than
    ``node.type``, ``child_by_field_id`` than ``child_by_field_name``). Unknown names raise at import time, so a grammar
    upgrade that renames a node fails loudly instead of silently matching nothing."""

    def __init__(self, language: ts.Language):
        self.language = language

    def kind(self, name: str, named: bool = True) -> int:
        kid = self.language.id_for_node_kind(name, named)
        if not kid:
            raise RuntimeError(f"grammar {self.language.name!r} has no {'named' if named else 'anonymous'} node {name!r}")
        return kid

    def field(self, name: str) -> int:
        fid = self.language.field_id_for_name(name)
        if not fid:
            raise RuntimeError(f"grammar {self.language.name!r} has no field {name!r}")
        return fid


WORD_START = 1
WORD_END = 2
WORD = 3
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def probe(
    data: bytes,
    root: Node,
    token: bytes,
    confirm: Callable[[Node, int, bytes], bool],
    first_only: bool,
    word: int = 0,
    start: int = -2,
) -> int:
    """Count occurrences of ``token`` that the syntax tree confirms (stop at the first one when ``first_only``).

    For each occurrence, ``node`` is the smallest *named* node spanning the token's bytes (for a keyword or operator
    token that is the construct itself: ``match`` -> match_expression, ``?`` -> try_expression; inside a comment or
    string it is the comment / string node); ``confirm(node, offset, data)``
    decides from the tree (node kind, parent kind, exact span) whether it is the construct wanted. ``word`` skips,
    before asking the tree, occurrences glued to an identifier character: WORD_START (the byte before, e.g. the
    apostrophe in "doesn't"), WORD_END (the byte after) or WORD (both: ``is_match``, ``unwrap_or``). ``start`` is
    the first occurrence when the caller already found it.
    """
    find = data.find
    at = root.named_descendant_for_byte_range
    n = len(token)
    size = len(data)
    ident = _IDENT_BYTES
    hits = 0
    i = find(token) if start == -2 else start
    while i != -1:
        if word and (
            (word & WORD_START and i > 0 and data[i - 1] in ident)
            or (word & WORD_END and i + n < size and data[i + n] in ident)
        ):
            i = find(token, i + n)
            continue
        node = at(i, i + n)
        if node is not None and confirm(node, i, data):
            hits += 1
            if first_only:
                break
        i = find(token, i + n)
    return hits


def run_probes(data: bytes, root: Node, probes: tuple, tags: set, counts: dict) -> None:
    """Run a language's probe table: rows of (tag, token, confirm, count?, word, skip-if-tags). A row whose skip
    tags are already known costs nothing; an absent token costs one ``bytes.find``."""
    find = data.find
    for tag, token, confirm, count, word, skip in probes:
        if skip and not skip.isdisjoint(tags):
            continue
        i = find(token)
        if i < 0:
            continue
        hits = probe(data, root, token, confirm, not count, word, i)
        if hits:
            tags.add(tag)
            if count:
                counts[tag] = counts.get(tag, 0) + hits


def probe_nodes(data: bytes, root: Node, token: bytes, confirm: Callable[[Node, int, bytes], bool]) -> list[Node]:
    """Like :func:`probe`, returning every confirmed node."""
    find = data.find
    at = root.named_descendant_for_byte_range
    n = len(token)
    out = []
    i = find(token)
    while i != -1:
        node = at(i, i + n)
        if node is not None and confirm(node, i, data):
            out.append(node)
        i = find(token, i + n)
    return out


def last_row(node: Node) -> int:
    """0-based row of the node's last character (a node ending right after a newline ends on the previous row)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


def line_start(data: bytes, offset: int) -> int:
    """Move ``offset`` back to the start of its line when only blanks precede it there."""
    ls = data.rfind(b"\n", 0, offset) + 1
    if ls < offset and not data[ls:offset].strip(b" \t"):
        return ls
    return offset


def remove_spans(code: bytes, spans: list[tuple[int, int]]) -> bytes:
    """Remove byte spans, each widened to whole lines when nothing else shares those lines."""
    if not spans:
        return code
    out = []
    pos = 0
    for start, end in sorted(spans):
        s = line_start(code, start)
        e = end
        # swallow the rest of the line (blanks + newline) when the span was alone on it
        nl = code.find(b"\n", e)
        tail = code[e:nl] if nl != -1 else code[e:]
        if not tail.strip(b" \t\r"):
            e = nl + 1 if nl != -1 else len(code)
        if s < pos:
            s = pos
        out.append(code[pos:s])
        pos = max(pos, e)
    out.append(code[pos:])
    return b"".join(out)


_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\r?\n)+")


def strip_blank_edges(text: str) -> str:
    """Drop leading blank lines and trailing whitespace, keeping the first line's indentation."""
    text = text.rstrip()
    m = _LEADING_BLANK_LINES.match(text)
    return text[m.end() :] if m else text


_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+[a-z]*")


@lru_cache(maxsize=65536)
def split_identifier(name: str) -> tuple[str, ...]:
    """``TtlCache`` -> ("ttl", "cache"); ``evict_expired!`` -> ("evict", "expired"); ``HTTPServer`` -> ("http", "server").

    Words shorter than two characters are dropped (``x``, ``T``)."""
    words = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        if not part:
            continue
        for w in _CAMEL.findall(part):
            if len(w) >= 2:
                words.append(w.lower())
    return tuple(words)


def identifier_words(names) -> frozenset[str]:
    out: set[str] = set()
    for n in names:
        out.update(split_identifier(n))
    return frozenset(out)
