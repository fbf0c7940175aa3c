"""CodeBLEU (Ren et al. 2020, arXiv:2009.10297) for Rust and Elixir, on the project's tree-sitter grammars.

    code_bleu = 0.25 * ngram_match + 0.25 * weighted_ngram_match + 0.25 * syntax_match + 0.25 * dataflow_match

Every component is corpus-level and in [0, 1]:

* ``ngram_match``: BLEU-4 over code tokens — the text of the tree's leaves, split on whitespace, plus any text the
  leaves do not cover (a comment's ``//``) — with brevity penalty. Only n-gram orders the candidates have count (so
  two identical 3-token items score 1, not 0), and an order with no match is smoothed like sacrebleu's ``exp``.
* ``weighted_ngram_match``: the same, with each unigram weighted 1.0 when it is a keyword of the language
  (``LanguageModule.keywords``) and 0.2 otherwise, as in the paper (higher orders unweighted). Precision over the
  candidate's tokens, as the paper defines it (the reference implementation divides by the reference's instead).
* ``syntax_match``: the paper's AST match — the share of the reference's subtrees (named, non-leaf nodes compared by
  their node-type structure, identifiers and literals ignored) found in the candidate, each counted at most as often
  as the candidate has it.
* ``dataflow_match``: the share of the reference's data-flow edges found in the candidate. Edges come from a simplified
  data-flow graph read from the tree: a binding or assignment (``let p = e``, ``p = e``, ``x += e``, ``for p in e``;
  Elixir ``p = e``, ``p <- e``) gives ``(v, computedFrom, vars(e))`` for each variable ``v`` the pattern binds; a later
  use of a bound variable gives ``(v, comesFrom, v)``. Parameters, closure/``fn``/``case`` clause and match-arm
  patterns bind without an edge. Variables are renamed ``0, 1, ...`` in order of first binding, so the edges compare
  structure, not names. Scopes are not tracked: a name once bound stays a variable for the rest of the item.

A component whose references yield nothing to match (no subtrees, no data flow at all) is reported as ``None`` and
its weight is shared among the others, so identical inputs always score 1.0.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import tree_sitter_elixir
import tree_sitter_rust

from rxt5_assets import languages
from rxt5_assets.languages import _ts

WEIGHTS = (0.25, 0.25, 0.25, 0.25)  # ngram, weighted ngram, syntax, data flow
KEYWORD_WEIGHT = 1.0
OTHER_WEIGHT = 0.2
MAX_ORDER = 4
MAX_DEPTH = 300  # deeper nesting (degenerate generations) is not descended into

COMPONENTS = ("ngram_match", "weighted_ngram_match", "syntax_match", "dataflow_match")


# ----------------------------------------------------------------------------------------------------------------------
# tokens and n-grams


def tokens(code: str, tree_root, data: bytes) -> list[str]:
    """Leaf texts split on whitespace, plus the non-blank text between leaves."""
    out: list[str] = []
    pos = 0
    cursor = tree_root.walk()
    while True:
        node = cursor.node
        if node.child_count == 0:
            if node.start_byte > pos:
                out.extend(data[pos : node.start_byte].decode("utf-8", "replace").split())
            if node.end_byte > node.start_byte:
                out.extend(data[node.start_byte : node.end_byte].decode("utf-8", "replace").split())
            pos = max(pos, node.end_byte)
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                if len(data) > pos:
                    out.extend(data[pos:].decode("utf-8", "replace").split())
                return out


def _ngrams(toks: list[str], n: int) -> Counter:
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def _bleu(matches: list[float], totals: list[float], cand_len: int, ref_len: int) -> float:
    orders = [(m, t) for m, t in zip(matches, totals) if t > 0]
    if not orders or cand_len == 0:
        return 0.0
    log_sum = 0.0
    smooth = 1.0
    for m, t in orders:
        if m > 0:
            log_sum += math.log(m / t)
        else:  # sacrebleu's "exp" smoothing: 1 / (2^k * total) for the k-th order without a match
            smooth *= 2.0
            log_sum += math.log(1.0 / (smooth * t))
    brevity = 1.0 if cand_len > ref_len else math.exp(1.0 - ref_len / cand_len)
    return brevity * math.exp(log_sum / len(orders))


# ----------------------------------------------------------------------------------------------------------------------
# syntax: subtrees by node-type structure


def _subtrees(root, intern: dict) -> Counter:
    """Each named non-leaf node as an interned id of (type, child structures); leaves (names, literals) ignored."""
    counts: Counter = Counter()
    stack = [(root, iter(root.named_children), [])]
    while stack:
        node, children, reps = stack[-1]
        child = next(children, None)
        if child is not None:
            if len(stack) < MAX_DEPTH:
                stack.append((child, iter(child.named_children), []))
            continue
        stack.pop()
        rep = intern.setdefault((node.kind_id, tuple(reps)), len(intern))
        if reps:
            counts[rep] += 1
        if stack:
            stack[-1][2].append(rep)
    return counts


# ----------------------------------------------------------------------------------------------------------------------
# data flow


@dataclass
class _Split:
    """How a binding construct is read: sources first, then the patterns bind, targets are assigned, rest follows."""

    sources: list
    patterns: list
    targets: list
    rest: list


def _named_except(node, *skip) -> list:
    ids = {n.id for n in skip if n is not None}
    return [c for c in node.named_children if c.id not in ids]


def _rust_split(node, data: bytes) -> _Split | None:
    t = node.type
    if t in ("let_declaration", "let_condition", "for_expression"):
        pattern = node.child_by_field_name("pattern")
        value = node.child_by_field_name("value")
        return _Split([value] if value else [], [pattern] if pattern else [], [], _named_except(node, pattern, value))
    if t == "parameter":
        pattern = node.child_by_field_name("pattern")
        return _Split([], [pattern] if pattern else [], [], _named_except(node, pattern))
    if t == "closure_parameters":
        params = node.named_children
        typed = [p for p in params if p.type == "parameter"]  # `|x: i32|`: read as a parameter
        return _Split([], [p for p in params if p.type != "parameter"], [], typed)
    if t == "match_arm":
        pattern = node.child_by_field_name("pattern")
        return _Split([], [pattern] if pattern else [], [], _named_except(node, pattern))
    if t in ("assignment_expression", "compound_assignment_expr"):
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        sources = [right] if right else []
        if t == "compound_assignment_expr" and left is not None:
            sources.append(left)  # x += e reads x too
        return _Split(sources, [], [left] if left else [], [])
    return None


def _rust_binders(pattern, data: bytes, names: list, guards: list) -> None:
    stack = [pattern]
    while stack:
        n = stack.pop()
        t = n.type
        if t in ("identifier", "shorthand_field_identifier"):
            text = data[n.start_byte : n.end_byte].decode("utf-8", "replace")
            if text and not text[0].isupper():  # `None`, `Ok`: variants and constants, not bindings
                names.append(text)
            continue
        if t in ("scoped_identifier", "scoped_type_identifier", "type_identifier", "macro_invocation"):
            continue
        skip = []
        if t in ("tuple_struct_pattern", "struct_pattern"):
            skip.append(n.child_by_field_name("type"))
        elif t == "match_pattern":
            cond = n.child_by_field_name("condition")
            if cond is not None:
                guards.append(cond)
                skip.append(cond)
        elif t == "field_pattern" and n.child_by_field_name("pattern") is not None:
            skip.append(n.child_by_field_name("name"))  # `x: px` binds px, not the field name
        stack.extend(reversed(_named_except(n, *skip)))


def _rust_target(node, data: bytes) -> str | None:
    """The variable an assignment writes: ``x``, ``x.f``, ``x[i]``, ``*x`` -> x."""
    while node is not None:
        t = node.type
        if t == "identifier":
            return data[node.start_byte : node.end_byte].decode("utf-8", "replace")
        if t in ("field_expression", "index_expression"):
            node = node.child_by_field_name("value") or node.named_child(0)
        elif t in ("unary_expression", "parenthesized_expression", "reference_expression"):
            node = node.named_child(0)
        else:
            return None
    return None


def _rust_is_use(node) -> bool:
    if node.type != "identifier":
        return False
    parent = node.parent
    return parent is None or parent.type not in ("scoped_identifier", "scoped_type_identifier", "macro_invocation")


_ELIXIR_DEFS = frozenset({"def", "defp", "defmacro", "defmacrop", "defguard", "defguardp"})


def _elixir_operator(node, data: bytes) -> bytes:
    op = node.child_by_field_name("operator")
    return data[op.start_byte : op.end_byte] if op is not None else b""


def _elixir_target(node):
    target = node.child_by_field_name("target")
    return target if target is not None and target.type == "identifier" else None


def _elixir_split(node, data: bytes) -> _Split | None:
    t = node.type
    if t == "binary_operator" and _elixir_operator(node, data) in (b"=", b"<-"):
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        return _Split([right] if right else [], [left] if left else [], [], [])
    if t == "stab_clause":
        left = node.child_by_field_name("left")
        return _Split([], [left] if left else [], [], _named_except(node, left))
    if t == "call":
        target = _elixir_target(node)
        if target is not None and data[target.start_byte : target.end_byte].decode("utf-8", "replace") in _ELIXIR_DEFS:
            args = next((c for c in node.named_children if c.type == "arguments"), None)
            if args is not None and args.named_child_count:
                head = args.named_child(0)
                return _Split([], [head], [], _named_except(args, head) + _named_except(node, target, args))
    return None


def _elixir_binders(pattern, data: bytes, names: list, guards: list) -> None:
    stack = [pattern]
    while stack:
        n = stack.pop()
        t = n.type
        if t == "identifier":
            text = data[n.start_byte : n.end_byte].decode("utf-8", "replace")
            if text != "_":
                names.append(text)
            continue
        if t == "unary_operator" and _elixir_operator(n, data) in (b"^", b"@"):
            guards.append(n)  # a pinned variable or an attribute is read, not bound
            continue
        if t == "binary_operator" and _elixir_operator(n, data) == b"when":
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if right is not None:
                guards.append(right)
            if left is not None:
                stack.append(left)
            continue
        if t in ("keyword", "atom", "alias", "string", "charlist", "sigil"):
            continue
        skip = [_elixir_target(n)] if t == "call" else []  # `f(a, b)` as a def head binds a and b, not f
        stack.extend(reversed(_named_except(n, *skip)))


def _elixir_is_use(node) -> bool:
    if node.type != "identifier":
        return False
    parent = node.parent
    if parent is None:
        return True
    if parent.type == "call":  # `f(x)`: f is the called function
        target = parent.child_by_field_name("target")
        return target is None or target.id != node.id
    if parent.type == "unary_operator":  # `@name` is an attribute
        op = parent.child_by_field_name("operator")
        return op is None or op.type != "@"
    return True


@dataclass(frozen=True)
class _FlowRules:
    split: Callable
    binders: Callable
    is_use: Callable
    target: Callable | None


_RULES = {
    "rust": _FlowRules(_rust_split, _rust_binders, _rust_is_use, _rust_target),
    "elixir": _FlowRules(_elixir_split, _elixir_binders, _elixir_is_use, None),
}


class _DataFlow:
    def __init__(self, data: bytes, rules: _FlowRules):
        self.data = data
        self.rules = rules
        self.index: dict[str, int] = {}  # variable name -> its normalised number
        self.edges: Counter = Counter()
        self.sinks: list[set] = []  # variables read by the sources being visited

    def _var(self, name: str) -> int:
        return self.index.setdefault(name, len(self.index))

    def visit(self, node, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            return
        rules = self.rules
        split = rules.split(node, self.data)
        if split is None:
            if rules.is_use(node):
                name = self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")
                v = self.index.get(name)
                if v is not None:
                    self.edges[(v, "comesFrom", (v,))] += 1
                    for sink in self.sinks:
                        sink.add(v)
            for child in node.children:
                self.visit(child, depth + 1)
            return
        read: set[int] = set()
        self.sinks.append(read)
        for source in split.sources:
            self.visit(source, depth + 1)
        self.sinks.pop()
        for sink in self.sinks:  # nested: what the inner sources read, the outer binding reads too
            sink.update(read)
        parents = tuple(sorted(read))
        for pattern in split.patterns:
            names: list[str] = []
            guards: list = []
            rules.binders(pattern, self.data, names, guards)
            for guard in guards:
                self.visit(guard, depth + 1)
            for name in names:
                v = self._var(name)
                if split.sources:
                    self.edges[(v, "computedFrom", parents)] += 1
        for target in split.targets:
            name = rules.target(target, self.data) if rules.target else None
            if name is not None:
                self.edges[(self._var(name), "computedFrom", parents)] += 1
            else:
                self.visit(target, depth + 1)
        for rest in split.rest:
            self.visit(rest, depth + 1)


# ----------------------------------------------------------------------------------------------------------------------
# the metric

_GRAMMARS = {"rust": tree_sitter_rust.language, "elixir": tree_sitter_elixir.language}
_POOLS: dict[str, _ts.ParserPool] = {}


def _pool(language: str) -> _ts.ParserPool:
    pool = _POOLS.get(language)
    if pool is None:
        if language not in _GRAMMARS:
            raise KeyError(f"CodeBLEU has no grammar for language {language!r}; known: {', '.join(sorted(_GRAMMARS))}")
        pool = _POOLS.setdefault(language, _ts.ParserPool(_GRAMMARS[language]))
    return pool


@dataclass
class _Parsed:
    tokens: list[str]
    subtrees: Counter
    flow: Counter


def _parse(code: str, language: str, intern: dict) -> _Parsed:
    data = code.encode("utf-8", "replace")
    root = _pool(language).parse(data).root_node
    flow = _DataFlow(data, _RULES[language])
    flow.visit(root)
    return _Parsed(tokens(code, root, data), _subtrees(root, intern), flow.edges)


def code_bleu(predictions: Sequence[str], references: Sequence[str], languages_: str | Sequence[str],
              weights: Sequence[float] = WEIGHTS) -> dict[str, float | None]:  # fmt: skip
    """Corpus CodeBLEU and its four components (all 0-1); ``languages_`` is one language or one per sample."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    langs = [languages_] * len(predictions) if isinstance(languages_, str) else list(languages_)
    if len(langs) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions but {len(langs)} languages")
    plain_m, plain_t = [0.0] * MAX_ORDER, [0.0] * MAX_ORDER
    weighted_m, weighted_t = [0.0] * MAX_ORDER, [0.0] * MAX_ORDER
    cand_len = ref_len = 0
    syntax_hit = syntax_total = flow_hit = flow_total = 0
    intern: dict = {}
    for pred, ref, lang in zip(predictions, references, langs):
        keywords = getattr(languages.get(lang), "keywords", frozenset())
        cand = _parse(pred, lang, intern)
        gold = _parse(ref, lang, intern)
        cand_len += len(cand.tokens)
        ref_len += len(gold.tokens)
        for n in range(1, MAX_ORDER + 1):
            c, r = _ngrams(cand.tokens, n), _ngrams(gold.tokens, n)
            for gram, count in c.items():
                clipped = min(count, r.get(gram, 0))
                plain_m[n - 1] += clipped
                plain_t[n - 1] += count
                w = (KEYWORD_WEIGHT if gram[0] in keywords else OTHER_WEIGHT) if n == 1 else 1.0
                weighted_m[n - 1] += w * clipped
                weighted_t[n - 1] += w * count
        syntax_hit += sum((cand.subtrees & gold.subtrees).values())
        syntax_total += sum(gold.subtrees.values())
        flow_hit += sum((cand.flow & gold.flow).values())
        flow_total += sum(gold.flow.values())
    parts = {
        "ngram_match": _bleu(plain_m, plain_t, cand_len, ref_len),
        "weighted_ngram_match": _bleu(weighted_m, weighted_t, cand_len, ref_len),
        "syntax_match": syntax_hit / syntax_total if syntax_total else None,
        "dataflow_match": flow_hit / flow_total if flow_total else None,
    }
    used = [(w, parts[name]) for w, name in zip(weights, COMPONENTS) if parts[name] is not None]
    total_weight = sum(w for w, _ in used)
    score = sum(w * v for w, v in used) / total_weight if total_weight else 0.0
    return {"code_bleu": score, **parts}
