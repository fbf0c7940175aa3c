"""Elixir: everything rxt5 knows about Elixir source (grammar, items, docs, patterns, quality indicators, validity).

In tree-sitter-elixir nearly everything is a ``call``: ``defmodule``/``def``/``use``/``case``/``test`` are calls whose
``target`` identifier names them, module attributes are ``@`` unary operators around a call. Item structure (modules,
def clauses with their attached ``@doc``/``@spec``/``@impl``, ``use``, ``defstruct``) is read in one pass over the
top-level and module-body nodes; expression-level patterns (``|>``, ``{:ok, _}``, ``case``/``with``/``cond``,
``when``, ``test``, ``assert``, ``quote``) go through :func:`rxt5_assets.languages._ts.probe`, each candidate offset
confirmed by the node tree-sitter placed there. Kinds and fields are compared by id. See rust.py for why this beats a
full-tree Query on speed.
"""

from __future__ import annotations

import textwrap

import tree_sitter_elixir

from . import _ts
from .base import Analysis, SourceItem

_POOL = _ts.ParserPool(tree_sitter_elixir.language)
_G = _ts.Grammar(_POOL.language)
_k = _G.kind
_f = _G.field

DEF_KINDS = frozenset({b"def", b"defp", b"defmacro", b"defmacrop", b"defguard", b"defguardp", b"defdelegate"})
PUBLIC_DEF_KINDS = frozenset({b"def", b"defmacro", b"defguard", b"defdelegate"})
MODULE_KINDS = {b"defmodule": "module", b"defprotocol": "protocol", b"defimpl": "impl"}
# attributes that belong to the function defined right after them
ATTACHED_ATTRS = frozenset({b"doc", b"spec", b"impl", b"deprecated", b"since", b"decorate", b"dialyzer"})
MODULE_SPLIT_LINES = 120  # a module longer than this is split into header + functions
HEADER_MIN_LINES = 4  # a module_header chunk is emitted only when the header is longer than 3 lines

# kinds accepted by is_valid_item
VALID_KINDS = frozenset(
    {"module", "test_module", "protocol", "impl", "function", "def", "defp", "defmacro", "defmacrop", "defguard",
     "defguardp", "defdelegate", "module_header"}
)  # fmt: skip

# generate_prefix: the kinds documented by `@doc`, and the keyword an undocumented-first kind opens with
_DOC_ATTRIBUTE_KINDS = frozenset({"def", "function", "defmacro", "defguard", "defdelegate"})
_OPENING_KEYWORD = {"module": "defmodule ", "module_header": "defmodule ", "test_module": "defmodule ",
                    "protocol": "defprotocol "}

# reserved words plus the definition and control-flow macros that read as keywords (CodeBLEU's keyword weights)
KEYWORDS = frozenset(
    {"true", "false", "nil", "when", "and", "or", "not", "in", "fn", "do", "end", "catch", "rescue", "after", "else",
     "defmodule", "def", "defp", "defmacro", "defmacrop", "defguard", "defguardp", "defdelegate", "defstruct",
     "defexception", "defprotocol", "defimpl", "defoverridable", "case", "cond", "with", "for", "if", "unless",
     "receive", "try", "raise", "reraise", "throw", "quote", "unquote", "import", "alias", "require", "use",
     "__MODULE__"}
)  # fmt: skip

_TOP_ATTRS_OK = frozenset({b"doc", b"spec", b"impl", b"moduledoc", b"deprecated", b"since", b"typedoc", b"type"})

_OTP_USES = {
    b"GenServer": "use_genserver",
    b"Supervisor": "use_supervisor",
    b"DynamicSupervisor": "use_supervisor",
    b"Agent": "use_agent",
    b"Task.Supervisor": "use_supervisor",
}

# ---- node kind / field ids
K_CALL = _k("call")
K_IDENTIFIER = _k("identifier")
K_ARGUMENTS = _k("arguments")
K_DO_BLOCK = _k("do_block")
K_UNARY = _k("unary_operator")
K_BINARY = _k("binary_operator")
K_AT = _k("@", False)
K_WHEN = _k("when", False)
K_PIPE = _k("|>", False)
K_EQ = _k("=", False)
K_CONCAT = _k("<>", False)
K_BAR = _k("|", False)
K_ATOM = _k("atom")
K_TUPLE = _k("tuple")
K_KEYWORDS = _k("keywords")
K_PAIR = _k("pair")
K_KEYWORD = _k("keyword")
K_STRING = _k("string")
K_SIGIL = _k("sigil")
K_CHARLIST = _k("charlist")
K_ALIAS = _k("alias")
K_COMMENT = _k("comment")
K_ERROR = _k("ERROR")
K_DO = _k("do", False)
K_END = _k("end", False)
K_NIL = _k("nil")
K_BOOLEAN = _k("boolean")
K_LIST = _k("list")
K_STAB_CLAUSE = _k("stab_clause")
_BLOCK_CLAUSE_IDS = frozenset(_k(t) for t in ("else_block", "after_block", "rescue_block", "catch_block"))
F_OPERATOR = _f("operator")
F_LEFT = _f("left")
F_KEY = _f("key")
F_VALUE = _f("value")
F_QUOTED_START = _f("quoted_start")
F_QUOTED_END = _f("quoted_end")

_PATTERN_HEAD_IDS = frozenset(
    _k(t) for t in ("tuple", "map", "list", "atom", "quoted_atom", "string", "integer", "float", "charlist",
                    "bitstring", "boolean", "nil", "char", "sigil")
)  # fmt: skip
_PATTERN_OPERATOR_IDS = frozenset({K_EQ, K_CONCAT, K_BAR})
_STRING_IDS = frozenset({K_STRING, K_SIGIL, K_CHARLIST})

CONCEPT_OF_TAG: dict[str, str] = {
    "ok_tuple": "result_tuple",
    "error_tuple": "result_tuple",
    "nil_match": "option",
    "ok_or_error_atom": "option",
    "callback": "interface",
    "behaviour": "interface",
    "defprotocol": "interface",
    "defimpl": "interface_impl",
    "impl_attr": "interface_impl",
    "defstruct": "record",
    "tagged_tuple": "tagged_variants",
    "defmodule": "module",
    "case": "pattern_match",
    "with": "pattern_match",
    "multi_clause": "pattern_match",
    "pattern_match_head": "pattern_match",
    "with_else": "error_propagation",
    "exunit": "unit_tests",
    "test_block": "unit_tests",
    "doc": "docs",
    "moduledoc": "docs",
    "use_genserver": "process_state",
    "use_agent": "process_state",
    "use_supervisor": "supervision",
    "supervisor_ref": "supervision",
    "pipe": "pipeline",
    "defmacro": "macro",
    "quote": "macro",
    "defexception": "error_type",
}

_CONCEPT_TAGS = frozenset(CONCEPT_OF_TAG)

INDICATORS = ("doc", "pattern_matching", "pipe", "otp", "ok_error_tuples", "spec", "tests")


# ----------------------------------------------------------------------------------------------------------------------
# tree helpers


def _text(data: bytes, node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _call_target(data: bytes, node) -> bytes | None:
    """``def f(x) do`` -> b"def"; None unless ``node`` is a call of a plain identifier."""
    if node.kind_id != K_CALL:
        return None
    tgt = node.child(0)
    if tgt is None or tgt.kind_id != K_IDENTIFIER:
        return None
    return data[tgt.start_byte : tgt.end_byte]


def _attr_name(data: bytes, node) -> bytes | None:
    """``@doc "..."`` -> b"doc"; None when ``node`` is not a module attribute."""
    if node.kind_id != K_UNARY:
        return None
    op = node.child(0)
    if op is None or op.kind_id != K_AT:
        return None
    operand = node.child(1)
    if operand is None:
        return None
    k = operand.kind_id
    if k == K_CALL:
        tgt = operand.child(0)
        if tgt is not None and tgt.kind_id == K_IDENTIFIER:
            return data[tgt.start_byte : tgt.end_byte]
        return None
    if k == K_IDENTIFIER:
        return data[operand.start_byte : operand.end_byte]
    return None


def _attr_value(node):
    """The first argument of an ``@attr value`` node, or None."""
    operand = node.child(1)
    if operand is None or operand.kind_id != K_CALL:
        return None
    args = operand.child(1)
    if args is None or args.kind_id != K_ARGUMENTS:
        return None
    return args.named_child(0)


def _string_content(data: bytes, node) -> str | None:
    """Content of a string / heredoc / sigil node, heredocs unindented; None when ``node`` is no string."""
    if node is None or node.kind_id not in _STRING_IDS:
        return None
    qs = node.child_by_field_id(F_QUOTED_START)
    qe = node.child_by_field_id(F_QUOTED_END)
    if qs is None or qe is None:
        return None
    raw = data[qs.end_byte : qe.start_byte].decode("utf-8", "replace")
    if data[qs.start_byte : qs.end_byte] in (b'"""', b"'''"):
        raw = textwrap.dedent(raw)
    return raw.strip()


def _doc_of(data: bytes, attr_node) -> str | bool:
    """``@doc "x"`` -> "x"; ``@doc false`` -> False."""
    v = _attr_value(attr_node)
    if v is None:
        return ""
    if v.kind_id == K_BOOLEAN:
        return "" if data[v.start_byte : v.end_byte] == b"true" else False
    s = _string_content(data, v)
    return s if s is not None else ""


def _doc_is_false(data: bytes, attr_node) -> bool:
    """``@doc false`` / ``@moduledoc false``: intentionally undocumented."""
    v = _attr_value(attr_node)
    return v is not None and v.kind_id == K_BOOLEAN and data[v.start_byte : v.end_byte] == b"false"


def _args(call):
    n = call.child(1)
    return n if n is not None and n.kind_id == K_ARGUMENTS else None


def _do_block(call):
    n = call.child(call.child_count - 1)
    return n if n is not None and n.kind_id == K_DO_BLOCK else None


def _do_keyword_value(data: bytes, call):
    """``def f(x), do: expr`` -> the ``expr`` node."""
    args = _args(call)
    if args is None or args.named_child_count == 0:
        return None
    last = args.named_child(args.named_child_count - 1)
    if last is None or last.kind_id != K_KEYWORDS:
        return None
    for pair in last.named_children:
        key = pair.child_by_field_id(F_KEY)
        if key is not None and data[key.start_byte : key.start_byte + 3] == b"do:":
            return pair.child_by_field_id(F_VALUE)
    return None


def _def_head(data: bytes, call):
    """(name, arity, head node incl. guard, head call arguments or None, has_guard) of a def-like call."""
    args = _args(call)
    if args is None or args.named_child_count == 0:
        return "", 0, None, None, False
    full = head = args.named_child(0)
    guard = False
    if head.kind_id == K_BINARY:
        op = head.child_by_field_id(F_OPERATOR)
        if op is not None and op.kind_id == K_WHEN:
            guard = True
            head = head.child_by_field_id(F_LEFT)
    if head is None:
        return "", 0, full, None, guard
    k = head.kind_id
    if k == K_CALL:
        tgt = head.child(0)
        hargs = _args(head)
        name = _text(data, tgt) if tgt is not None else _text(data, head)
        return name, hargs.named_child_count if hargs is not None else 0, full, hargs, guard
    if k == K_IDENTIFIER:
        return _text(data, head), 0, full, None, guard
    return " ".join(_text(data, head).split()), 0, full, None, guard


def _module_name(data: bytes, call) -> str:
    """``defmodule A.B`` -> "A.B"; ``defimpl String.Chars, for: Money`` -> "String.Chars for Money"."""
    args = _args(call)
    if args is None or args.named_child_count == 0:
        return ""
    first = args.named_child(0)
    name = _text(data, first) if first.kind_id != K_KEYWORDS else ""
    for c in args.named_children:
        if c.kind_id == K_KEYWORDS:
            for pair in c.named_children:
                key = pair.child_by_field_id(F_KEY)
                val = pair.child_by_field_id(F_VALUE)
                if key is not None and val is not None and data[key.start_byte : key.start_byte + 4] == b"for:":
                    name = f"{name} for {_text(data, val)}" if name else _text(data, val)
    return name


def _use_target(data: bytes, call) -> bytes:
    args = _args(call)
    if args is None or args.named_child_count == 0:
        return b""
    a = args.named_child(0)
    return data[a.start_byte : a.end_byte]


def _is_test_case(use_target: bytes) -> bool:
    """``use ExUnit.Case`` or a project case template (``use MyAppWeb.ConnCase``)."""
    return use_target == b"ExUnit.Case" or (use_target.endswith(b"Case") and use_target[:1].isupper())


def _uses_test_case(data: bytes, block) -> bool:
    for c in block.named_children:
        if _call_target(data, c) == b"use" and _is_test_case(_use_target(data, c)):
            return True
    return False


def _alone_on_line(data: bytes, node) -> bool:
    s = node.start_byte
    ls = data.rfind(b"\n", 0, s) + 1
    return not data[ls:s].strip()


def _leading_first(data: bytes, pending: list, node):
    """First node of the attached attributes/comments run right above ``node`` (comments only without a blank line)."""
    first = node
    for p in reversed(pending):
        if p.kind_id == K_COMMENT:
            if _ts.last_row(p) + 1 >= first.start_point.row and _alone_on_line(data, p):
                first = p
            else:
                break
        else:
            first = p
    return first


def _keyword_or_atom_names(data: bytes, node) -> list[str]:
    """Field names of ``defstruct [:a, b: 1]`` / ``defstruct a: 1``."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        k = n.kind_id
        if k == K_ATOM:
            out.append(_text(data, n).lstrip(":"))
        elif k == K_KEYWORD:
            out.append(_text(data, n).rstrip().rstrip(":"))
        elif k == K_LIST or k == K_KEYWORDS or k == K_ARGUMENTS:
            stack.extend(n.named_children)
        elif k == K_PAIR:
            key = n.child_by_field_id(F_KEY)
            if key is not None:
                stack.append(key)
    return out


# ---- probe confirmations: (node at the candidate offset, offset, data) -> is it the construct?


def _call_keyword(length: int):
    """``case x do``: the identifier is the call's target."""

    def confirm(n, i, d) -> bool:
        return n.kind_id == K_IDENTIFIER and n.start_byte == i and n.end_byte == i + length and n.parent.kind_id == K_CALL

    return confirm


def _pipe(n, i, d) -> bool:
    return n.kind_id == K_BINARY


def _ok_tuple(n, i, d) -> bool:
    if n.kind_id != K_ATOM or n.start_byte != i or n.end_byte != i + 3:
        return False
    p = n.parent
    return p.kind_id == K_TUPLE and p.named_child(0).start_byte == i


def _tagged_tuple(n, i, d) -> bool:
    """``{:reply, ...}``: a tuple led by an atom other than :ok/:error."""
    if n.kind_id != K_TUPLE or n.start_byte != i:
        return False
    first = n.named_child(0)
    return first is not None and first.kind_id == K_ATOM and d[first.start_byte : first.end_byte] not in (b":ok", b":error")


def _guard(n, i, d) -> bool:
    return n.kind_id == K_BINARY


def _nil_match(n, i, d) -> bool:
    """``nil ->`` clause, or an ``is_nil(x)`` call."""
    k = n.kind_id
    if k == K_NIL:
        p = n.parent
        return p.kind_id == K_ARGUMENTS and p.parent is not None and p.parent.kind_id == K_STAB_CLAUSE
    return (
        k == K_IDENTIFIER
        and n.start_byte == i - 3
        and n.end_byte == i + 3
        and d[n.start_byte : i] == b"is_"
        and n.parent.kind_id == K_CALL
    )


def _assert(n, i, d) -> bool:  # assert, assert_raise, assert_receive, refute, ...
    return n.kind_id == K_IDENTIFIER and n.start_byte == i and n.parent.kind_id == K_CALL


def _supervisor_alias(n, i, d) -> bool:  # Supervisor / DynamicSupervisor / Task.Supervisor
    return n.kind_id == K_ALIAS and n.end_byte == i + 10


def _genserver_alias(n, i, d) -> bool:
    return n.kind_id == K_ALIAS and n.start_byte == i and n.end_byte == i + 9


def _test_block(n, i, d) -> bool:
    """``test "name" do ... end``."""
    if n.kind_id != K_IDENTIFIER or n.start_byte != i or n.end_byte != i + 4:
        return False
    call = n.parent
    if call.kind_id != K_CALL or call.child(0).start_byte != i:
        return False
    args = _args(call)
    return (
        args is not None
        and args.named_child_count > 0
        and args.named_child(0).kind_id == K_STRING
        and _do_block(call) is not None
    )


_W = _ts.WORD
# (tag, token, confirm, count all occurrences?, word-boundary pre-filter (_ts.WORD*), skip when these tags are known)
_PROBES = (
    ("pipe", b"|>", _pipe, True, 0, frozenset()),
    ("ok_tuple", b":ok", _ok_tuple, False, _ts.WORD_END, frozenset({"ok_tuple"})),
    ("tagged_tuple", b"{:", _tagged_tuple, False, 0, frozenset({"tagged_tuple"})),
    ("case", b"case", _call_keyword(4), False, _W, frozenset({"case"})),
    ("with", b"with", _call_keyword(4), False, _W, frozenset({"with"})),
    ("cond", b"cond", _call_keyword(4), False, _W, frozenset({"cond"})),
    ("quote", b"quote", _call_keyword(5), False, _W, frozenset({"quote"})),
    ("guard", b"when", _guard, False, _W, frozenset({"guard"})),
    ("nil_match", b"nil", _nil_match, False, _ts.WORD_END, frozenset({"nil_match"})),
    ("supervisor_ref", b"Supervisor", _supervisor_alias, False, _ts.WORD_END,
     frozenset({"supervisor_ref", "use_supervisor"})),
    ("genserver_ref", b"GenServer", _genserver_alias, False, _W, frozenset({"genserver_ref", "use_genserver"})),
)  # fmt: skip
_TEST_PROBES = (
    ("assert", b"assert", _assert, False, _ts.WORD_START, frozenset({"assert"})),
    ("assert", b"refute", _assert, False, _ts.WORD_START, frozenset({"assert"})),
)


def _error_atoms(data: bytes, root, tags: set) -> None:
    """``{:error, _}`` -> error_tuple; a bare ``:error`` -> error_atom."""
    find = data.find
    at = root.named_descendant_for_byte_range
    i = find(b":error")
    while i != -1:
        n = at(i, i + 6)
        if n is not None and n.kind_id == K_ATOM and n.start_byte == i and n.end_byte == i + 6:
            p = n.parent
            if p.kind_id == K_TUPLE:
                if p.named_child(0).start_byte == i:
                    tags.add("error_tuple")
            else:
                tags.add("error_atom")
            if "error_tuple" in tags and "error_atom" in tags:
                return
        i = find(b":error", i + 6)


def _has_pipe_chain(data: bytes, root) -> bool:
    """``a |> f() |> g()``: a pipe whose left side is a pipe."""
    find = data.find
    i = find(b"|>")
    while i != -1:
        n = root.named_descendant_for_byte_range(i, i + 2)
        if n is not None and n.kind_id == K_BINARY:
            left = n.child_by_field_id(F_LEFT)
            if left is not None and left.kind_id == K_BINARY:
                op = left.child_by_field_id(F_OPERATOR)
                if op is not None and op.kind_id == K_PIPE:
                    return True
        i = find(b"|>", i + 2)
    return False


# ----------------------------------------------------------------------------------------------------------------------


class _Scan:
    """Item structure of a chunk: modules, def clauses with their attached attributes, module-level calls."""

    __slots__ = ("data", "tags", "modules", "clauses", "names", "main", "main_doc")

    def __init__(self, data: bytes):
        self.data = data
        self.tags: set[str] = set()
        self.modules: list = []  # [kind, name, call, moduledoc node or None]
        self.clauses: list = []  # [kind, name, arity, doc node, spec?, impl?]
        self.names: list[str] = []
        self.main = None  # (kind, call node) of the first top-level item
        self.main_doc = None  # @doc / @moduledoc node of the main item

    def walk(self, children, depth: int, module=None) -> None:
        data = self.data
        tags = self.tags
        doc = None
        spec = impl = False
        for node in children:
            k = node.kind_id
            if k == K_COMMENT:
                continue
            if k == K_UNARY:
                an = _attr_name(data, node)
                if an is None:
                    doc, spec, impl = None, False, False
                    continue
                if an == b"doc":
                    tags.add("doc")
                    doc = node
                elif an == b"spec":
                    tags.add("spec")
                    spec = True
                elif an == b"impl":
                    tags.add("impl_attr")
                    impl = True
                elif an == b"moduledoc":
                    tags.add("moduledoc")
                    if module is not None and module[3] is None:
                        module[3] = node
                        if depth == 1 and self.main is not None and self.main[1].id == module[2].id:
                            self.main_doc = node
                elif an == b"callback" or an == b"macrocallback":
                    tags.add("callback")
                elif an == b"behaviour":
                    tags.add("behaviour")
                elif an == b"type" or an == b"typep" or an == b"opaque":
                    tags.add("type")
                if an not in ATTACHED_ATTRS:
                    doc, spec, impl = None, False, False
                continue
            if k == K_ERROR and depth == 0:
                self.walk(node.named_children, depth, module)
                continue
            target = _call_target(data, node) if k == K_CALL else None
            if target is None:
                doc, spec, impl = None, False, False
                continue
            if target in DEF_KINDS:
                self.clause(node, target, doc, spec, impl, depth)
            elif target in MODULE_KINDS:
                kind = MODULE_KINDS[target]
                tags.add("defmodule" if kind == "module" else "def" + kind)
                name = _module_name(data, node)
                self.names.extend(name.replace(" for ", ".").split("."))
                entry = [kind, name, node, None]
                self.modules.append(entry)
                if self.main is None and depth == 0:
                    self.main = (kind, node)
                block = _do_block(node)
                if block is not None:
                    self.walk(block.named_children, depth + 1, entry)
            elif target == b"use":
                tags.add("use")
                used = _use_target(data, node)
                tag = _OTP_USES.get(used)
                if tag is not None:
                    tags.add(tag)
                    tags.add("otp")
                elif _is_test_case(used):
                    tags.add("exunit")
                    if module is not None and module[0] == "module":
                        module[0] = "test_module"
            elif target == b"defstruct" or target == b"defexception":
                tags.add(target.decode())
                args = _args(node)
                if args is not None:
                    self.names.extend(_keyword_or_atom_names(data, args))
            elif target == b"alias" or target == b"import" or target == b"require":
                tags.add(target.decode())
            doc, spec, impl = None, False, False

    def clause(self, node, target: bytes, doc, spec: bool, impl: bool, depth: int) -> None:
        data = self.data
        tags = self.tags
        kind = target.decode()
        tags.add("defmacro" if target == b"defmacro" or target == b"defmacrop" else ("defp" if kind == "defp" else "def"))
        name, arity, head, hargs, guard = _def_head(data, node)
        if guard:
            tags.add("guard")
        if hargs is not None and "pattern_match_head" not in tags:
            for a in hargs.named_children:
                ak = a.kind_id
                if ak in _PATTERN_HEAD_IDS:
                    tags.add("pattern_match_head")
                    break
                if ak == K_BINARY:
                    op = a.child_by_field_id(F_OPERATOR)
                    if op is not None and op.kind_id in _PATTERN_OPERATOR_IDS:
                        tags.add("pattern_match_head")
                        break
        self.clauses.append((target, name, arity, doc, spec, impl))
        self.names.append(name)
        if self.main is None and depth == 0:
            self.main = (kind, node)
            self.main_doc = doc


class ElixirLanguage:
    name = "elixir"
    extensions = (".ex", ".exs")
    comment_prefix = "#"
    concept_of_tag = CONCEPT_OF_TAG
    indicator_names = INDICATORS
    keywords = KEYWORDS

    # ---------------------------------------------------------------- chunking
    def chunk(self, source: bytes) -> list[SourceItem]:
        """Modules (kind module/test_module/protocol/impl) up to MODULE_SPLIT_LINES; a longer module becomes a
        ``module_header`` chunk (when its header is longer than 3 lines; the slice has no closing ``end``) plus one
        chunk per function, consecutive clauses of the same name/arity grouped, each with the ``@doc``/``@spec``/
        ``@impl`` attributes and comments right above. Test modules are never split."""
        tree = _POOL.parse(source)
        out: list[SourceItem] = []
        self._chunk_body(source, tree.root_node.children, out)
        return out

    def _chunk_body(self, data: bytes, children, out: list) -> None:
        pending: list = []
        group = None  # [kind, key, first node, last node, name]
        for node in children:
            k = node.kind_id
            if k == K_COMMENT:
                pending.append(node)
                continue
            if k == K_UNARY and _attr_name(data, node) in ATTACHED_ATTRS:
                pending.append(node)
                continue
            target = _call_target(data, node) if k == K_CALL else None
            if target is not None and target in DEF_KINDS:
                name, arity, _, _, _ = _def_head(data, node)
                key = (target, name, arity)
                if group is not None and group[1] == key:
                    group[3] = node  # another clause of the same function
                else:
                    self._flush(data, group, out)
                    group = [target.decode(), key, _leading_first(data, pending, node), node, f"{name}/{arity}"]
                pending = []
                continue
            self._flush(data, group, out)
            group = None
            if target is not None and target in MODULE_KINDS:
                self._chunk_module(data, node, target, pending, out)
            elif k == K_ERROR:  # keep what the parser recovered inside a broken region
                self._chunk_body(data, node.children, out)
            pending = []
        self._flush(data, group, out)

    @staticmethod
    def _emit(data: bytes, kind: str, name: str, first, last, out: list) -> None:
        start = _ts.line_start(data, first.start_byte)
        out.append(
            SourceItem(
                kind=kind,
                name=name,
                text=data[start : last.end_byte].decode("utf-8", "replace"),
                start_line=first.start_point.row + 1,
                end_line=_ts.last_row(last) + 1,
            )
        )

    def _flush(self, data: bytes, group, out: list) -> None:
        if group is not None:
            self._emit(data, group[0], group[4], group[2], group[3], out)

    def _chunk_module(self, data: bytes, node, target: bytes, pending: list, out: list) -> None:
        kind = MODULE_KINDS[target]
        name = _module_name(data, node)
        first = _leading_first(data, [p for p in pending if p.kind_id == K_COMMENT], node)
        block = _do_block(node)
        if block is None and _do_keyword_value(data, node) is None:
            return  # `defmodule X do` cut off by a syntax error: nothing recovered
        rows = node.end_point.row - node.start_point.row + 1
        if block is not None and kind == "module" and _uses_test_case(data, block):
            kind = "test_module"
        if block is None or rows <= MODULE_SPLIT_LINES or kind == "test_module":
            self._emit(data, kind, name, first, node, out)
            return
        # split: header (defmodule line .. last header line before the first function), then the items
        children = block.children
        header_end = None
        run: list = []
        for idx, c in enumerate(children):
            k = c.kind_id
            if k == K_DO:
                continue
            if k == K_COMMENT or (k == K_UNARY and _attr_name(data, c) in ATTACHED_ATTRS):
                run.append(c)
                continue
            tgt = _call_target(data, c) if k == K_CALL else None
            if (tgt is not None and (tgt in DEF_KINDS or tgt in MODULE_KINDS)) or k == K_END:
                lead = _leading_first(data, run, c)
                for x in children[idx - 1 : 0 : -1]:
                    if x.start_byte < lead.start_byte and x.kind_id != K_COMMENT:
                        header_end = x
                        break
                break
            run = []
        if header_end is not None and header_end.end_point.row - node.start_point.row + 1 >= HEADER_MIN_LINES:
            self._emit(data, "module_header", name, first, header_end, out)
        rest = children if header_end is None else [c for c in children if c.start_byte > header_end.start_byte]
        self._chunk_body(data, rest, out)

    # ---------------------------------------------------------------- analysis
    def analyze(self, code: str) -> Analysis:
        """A ``module_header`` chunk (a defmodule without its ``end``) is read by closing it; it is then reported as
        kind ``module_header`` without a syntax error. Any other unterminated code keeps its error."""
        data = code.encode("utf-8")
        root = _POOL.parse(data).root_node
        header = closed = False
        has_error = root.has_error
        if has_error:
            header, closed = self._unterminated_module(data, root)
            if closed:  # the parser could not even recover the module's block: read it closed (a second parse)
                data = data + b"\nend\n"
                root = _POOL.parse(data).root_node
            has_error = not header
        scan = _Scan(data)
        scan.walk(root.named_children, 0)
        tags = scan.tags
        counts: dict[str, int] = {}

        # -- expression-level patterns
        _ts.run_probes(data, root, _PROBES, tags, counts)
        probe = _ts.probe
        _error_atoms(data, root, tags)
        tests = _ts.probe_nodes(data, root, b"test", _test_block)
        if tests:
            tags.add("test_block")
            counts["test_blocks"] = len(tests)
        if tests or "exunit" in tags:
            for tag, token, confirm, count, word, skip in _TEST_PROBES:
                if not skip.isdisjoint(tags):
                    continue
                if probe(data, root, token, confirm, True, word):
                    tags.add(tag)
        if "pipe" in tags and counts.get("pipe", 0) > 1 and _has_pipe_chain(data, root):
            tags.add("pipe_chain")
        if "with" in tags:
            tags.add("with_else")
        if "ok_tuple" in tags and "error_atom" in tags:
            tags.add("ok_or_error_atom")
        if "supervisor_ref" in tags or "genserver_ref" in tags:
            tags.add("otp")

        # -- clauses: multi-clause, doc/spec coverage
        seen: dict[tuple, list] = {}
        for kind, name, arity, doc, spec, impl in scan.clauses:
            info = seen.get((name, arity))
            if info is None:
                seen[(name, arity)] = [kind, 1, doc, spec, impl]
            else:
                info[1] += 1
                info[2] = info[2] or doc
                info[3] = info[3] or spec
                info[4] = info[4] or impl
        doc_total = doc_done = specced = 0
        for kind, n_clauses, doc, spec, impl in seen.values():
            if n_clauses > 1:
                tags.add("multi_clause")
            specced += bool(spec)
            if kind not in PUBLIC_DEF_KINDS or impl:
                continue
            if doc is not None:
                if _doc_is_false(data, doc):
                    continue
                doc_done += 1
            doc_total += 1
        for m in scan.modules:
            if m[3] is not None:
                if _doc_is_false(data, m[3]):
                    continue
                doc_done += 1
            doc_total += 1
        counts["doc_candidates"], counts["documented"] = doc_total, doc_done
        counts["functions"] = len(seen)
        counts["specced"] = specced

        # -- main item
        main = scan.main
        name = signature = body = doc_text = ""
        remove: list[tuple[int, int]] = []
        if main is None:
            kind = "unknown"
        else:
            kind, call = main
            args = _args(call)
            if kind in ("module", "protocol", "impl"):
                entry = next(m for m in scan.modules if m[2].id == call.id)
                kind = "module_header" if header else entry[0]
                name = entry[1]
                sig_end = args.end_byte if args is not None else call.end_byte
            else:
                n, arity, head, _, _ = _def_head(data, call)
                name = f"{n}/{arity}"
                sig_end = head.end_byte if head is not None else call.end_byte
            signature = data[call.start_byte : sig_end].decode("utf-8", "replace")
            if not header:
                block = _do_block(call)
                if block is not None:
                    first_c = block.child(0)
                    last_c = block.child(block.child_count - 1)
                    inner_start = first_c.end_byte if first_c.kind_id == K_DO else block.start_byte
                    inner_end = last_c.start_byte if last_c.kind_id == K_END else block.end_byte
                    body = _ts.strip_blank_edges(data[inner_start:inner_end].decode("utf-8", "replace"))
                else:
                    v = _do_keyword_value(data, call)
                    body = _text(data, v) if v is not None else ""
            if scan.main_doc is not None:
                d = _doc_of(data, scan.main_doc)
                doc_text = d if isinstance(d, str) else ""
                remove.append((scan.main_doc.start_byte, scan.main_doc.end_byte))
        if closed:
            data = data[: -len(b"\nend\n")]
        closing = ""
        if kind == "module_header":  # the `end` the slice stops short of, at the defmodule's indentation
            start = main[1].start_byte
            closing = "\n" + data[_ts.line_start(data, start) : start].decode("utf-8", "replace") + "end"
        code_without_docs = _ts.remove_spans(data, remove).decode("utf-8", "replace") if remove else code
        tests_text = "\n\n".join(
            _ts.strip_blank_edges(data[_ts.line_start(data, t.parent.start_byte) : t.parent.end_byte].decode())
            for t in tests
        )
        patterns = frozenset(tags)
        return Analysis(
            language="elixir",
            kind=kind,
            name=name,
            patterns=patterns,
            doc=doc_text,
            signature=signature,
            body=body,
            code_without_docs=code_without_docs,
            tests=tests_text,
            has_syntax_error=has_error,
            concepts=frozenset(map(CONCEPT_OF_TAG.__getitem__, patterns & _CONCEPT_TAGS)),
            names=tuple(scan.names),
            closing=closing,
            counts=counts,
        )

    @staticmethod
    def _unterminated_module(data: bytes, root) -> tuple[bool, bool]:
        """(is a module header chunk, needs closing to be read) for a tree with errors.

        A ``module_header`` chunk is a defmodule whose only defect is the missing ``end``: tree-sitter then usually
        keeps the block and marks a MISSING ``end`` (read as is); when it cannot, the chunk is re-read with ``end``
        appended."""
        first = root.named_child(0)
        if first is None or _call_target(data, first) not in MODULE_KINDS:
            return False, False
        block = _do_block(first)
        if block is not None and root.named_child_count == 1:
            last = block.child(block.child_count - 1)
            if last.is_missing and last.kind_id == K_END:
                for c in block.children:
                    if c.has_error and not c.is_missing:
                        return False, False
                    tgt = _call_target(data, c)
                    if tgt is not None and (tgt in DEF_KINDS or tgt in MODULE_KINDS):
                        return False, False  # a header holds no functions: this is a broken module
                return True, False
        if block is None or first.has_error:
            closed = _POOL.parse(data + b"\nend\n").root_node
            if not closed.has_error:
                block = _do_block(closed.named_child(0))
                for c in block.named_children if block is not None else ():
                    tgt = _call_target(data, c)
                    if tgt is not None and (tgt in DEF_KINDS or tgt in MODULE_KINDS):
                        return False, False
                return True, True
        return False, False

    # ---------------------------------------------------------------- indicators
    def quality_indicators(self, analysis: Analysis) -> dict[str, float]:
        p = analysis.patterns
        c = analysis.counts
        total = c.get("doc_candidates", 0)
        if total:
            doc = c.get("documented", 0) / total
        else:
            doc = 1.0 if ("doc" in p or "moduledoc" in p) else 0.0
        pattern = 1.0 if not p.isdisjoint(("pattern_match_head", "multi_clause", "case", "with")) else 0.0
        pipe = 1.0 if "pipe_chain" in p else 0.6 if "pipe" in p else 0.0
        has_otp = "otp" in p or "behaviour" in p
        if has_otp and "impl_attr" in p:
            otp = 1.0
        elif has_otp:
            otp = 0.75
        elif "impl_attr" in p or "callback" in p:
            otp = 0.5
        else:
            otp = 0.0
        tuples = ("ok_tuple" in p) + ("error_tuple" in p)
        fns = c.get("functions", 0)
        spec = c.get("specced", 0) / fns if fns else (1.0 if "spec" in p else 0.0)
        tests = 1.0 if ("exunit" in p or "test_block" in p) else 0.0
        return {
            "doc": doc,
            "pattern_matching": pattern,
            "pipe": pipe,
            "otp": otp,
            "ok_error_tuples": tuples / 2,
            "spec": spec,
            "tests": tests,
        }

    # ---------------------------------------------------------------- decoding
    def generate_prefix(self, kind: str | None, description: str) -> str | None:
        """What a generated item documented by ``description`` starts with (the `generate` task's target is the
        item's source, docs first: data/examples.py): a public function or macro opens with its ``@doc`` heredoc
        holding the description, left open (more paragraphs may follow); a module or protocol opens with its
        keyword — the name comes before the ``@moduledoc`` and is the model's to write. None otherwise (``defp``
        takes no ``@doc``)."""
        if not description.strip():
            return None
        if kind in _DOC_ATTRIBUTE_KINDS:
            lines = description.strip().split("\n")
            return '@doc """\n' + "".join(f"  {line}\n" if line.strip() else "\n" for line in lines)
        return _OPENING_KEYWORD.get(kind or "")

    # ---------------------------------------------------------------- shortening
    def closed_prefixes(self, code: str) -> list[str]:
        """The item cut after an expression of a ``do`` block and closed by that block's own ``end`` line (and every
        enclosing one), shortest first: a module's first definitions, a function's first clauses or expressions, a
        ``case``'s first clauses. What a training target longer than the token budget becomes instead of a cut that
        never reaches ``end`` (training.fit). Never ends on a module attribute (a ``@doc``/``@spec`` left without
        its function) or a comment."""
        data = code.encode("utf-8")
        root = _POOL.parse(data).root_node
        items = [n for n in root.named_children
                 if n.kind_id == K_CALL and (_call_target(data, n) in MODULE_KINDS or _call_target(data, n) in DEF_KINDS)]
        return _ts.closed_prefixes(data, items, self._member_cuts)

    @classmethod
    def _member_cuts(cls, data: bytes, call, outer_closing: bytes, cuts: list[bytes]) -> None:
        block = _do_block(call)
        if block is None or data[block.end_byte - 3:block.end_byte] != b"end":
            return
        closing = _ts.closing_lines(data, block.end_byte - 3, call.end_byte, outer_closing)
        for m in block.named_children:
            if m.kind_id == K_COMMENT or _attr_name(data, m) is not None:
                continue
            if m.kind_id not in _BLOCK_CLAUSE_IDS:  # else/rescue/after blocks: cut before them, never after
                cuts.append(data[:m.end_byte].rstrip() + closing)
            if m.kind_id == K_CALL:  # a nested def / case / if / with …: cut inside it too
                cls._member_cuts(data, m, closing, cuts)

    # ---------------------------------------------------------------- validity
    def is_valid_item(self, code: str, kind: str | None = None) -> bool:
        """True when the code parses cleanly and its top level is only def-like calls *with a body* (``do ... end``
        or ``, do:``) plus their attributes and comments; a bodiless head with arguments (``def f(a, b \\\\ 1)``,
        declaring defaults) counts when clauses of the same function follow. tree-sitter-elixir accepts a run of bare
        identifiers such as ``defp format_to_to_to`` without error; that is rejected here. With ``kind`` (``module``, ``test_module``,
        ``def``, ``defp``, ``defmacro``, ``function`` = def or defp, ...) one top-level item must be of that kind;
        an unknown kind raises ``ValueError``."""
        if kind is not None and kind not in VALID_KINDS:
            raise ValueError(f"unknown Elixir item kind {kind!r}; known: {', '.join(sorted(VALID_KINDS))}")
        data = code.encode("utf-8")
        root = _POOL.parse(data).root_node
        if root.has_error:
            return False
        found: list[str] = []
        heads: set[str] = set()
        with_body: set[str] = set()
        for n in root.named_children:
            k = n.kind_id
            if k == K_COMMENT:
                continue
            if k == K_UNARY:
                if _attr_name(data, n) in _TOP_ATTRS_OK:
                    continue
                return False
            target = _call_target(data, n) if k == K_CALL else None
            if target is None:
                return False
            if target in MODULE_KINDS:
                args = _args(n)
                if args is None or args.named_child_count == 0 or args.named_child(0).kind_id == K_KEYWORDS:
                    return False
                block = _do_block(n)
                if block is None and _do_keyword_value(data, n) is None:
                    return False
                mk = MODULE_KINDS[target]
                if mk == "module" and block is not None and _uses_test_case(data, block):
                    found.append("test_module")
                found.append(mk)
            elif target in DEF_KINDS:
                name, _, head, head_args, _ = _def_head(data, n)
                if not name or head is None:
                    return False
                if target != b"defdelegate" and _do_block(n) is None and _do_keyword_value(data, n) is None:
                    if head_args is None:
                        return False
                    heads.add(name)  # a bodiless head (`def f(a, b \\ 1)`): valid when clauses of f follow
                else:
                    with_body.add(name)
                found.append(target.decode())
            else:
                return False
        if not found or not heads <= with_body:
            return False
        if kind is None:
            return True
        if kind == "function":
            return "def" in found or "defp" in found
        if kind == "module_header":
            kind = "module"
        return kind in found


ELIXIR = ElixirLanguage()
