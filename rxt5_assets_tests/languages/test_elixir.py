"""Elixir language module: chunking, pattern tags, extraction, indicators and validity on real tree-sitter parses."""

from __future__ import annotations

import textwrap

import pytest

from rxt5_assets import languages
from rxt5_assets.languages import elixir as elixir_mod

ELIXIR = languages.get("elixir")


def src(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def lines_of(source: bytes, item) -> str:
    return "\n".join(source.decode().splitlines()[item.start_line - 1 : item.end_line])


SMALL_MODULE = """
# Accounts hold money.
defmodule Bank.Account do
  @moduledoc "An account."
  defstruct [:id, balance: 0]

  def new(id), do: %__MODULE__{id: id}
end
"""


def _large_module() -> str:
    """A module > 120 lines: header, grouped clauses, attached attributes, a nested module."""
    filler = "".join(f"  def filler_{i}(x), do: x + {i}\n\n" for i in range(50))
    return (
        "defmodule Bank.Ledger do\n"
        '  @moduledoc """\n'
        "  The ledger.\n"
        '  """\n'
        "  use GenServer\n"
        "  alias Bank.Account\n"
        "  @behaviour Bank.Store\n"
        "  defstruct entries: []\n"
        "\n"
        "  # Posts an entry.\n"
        '  @doc "Posts."\n'
        "  @spec post(t(), map()) :: {:ok, t()} | {:error, atom()}\n"
        "  def post(%__MODULE__{} = l, %{amount: a}) when a > 0 do\n"
        "    {:ok, l}\n"
        "  end\n"
        "\n"
        "  def post(_l, _entry), do: {:error, :invalid}\n"
        "\n"
        "  def post(l, e, _opts), do: post(l, e)\n"
        "\n"
        "  @impl true\n"
        "  def handle_call(:get, _from, s), do: {:reply, s, s}\n"
        "\n"
        "  @impl true\n"
        "  def handle_call(:size, _from, s), do: {:reply, 0, s}\n"
        "\n"
        "  defmodule Entry do\n"
        "    defstruct [:amount]\n"
        "  end\n"
        "\n"
        "  defmacro ledger_op(name), do: quote(do: unquote(name))\n"
        "\n"
        "  defp normalize(x), do: x\n"
        "\n" + filler + "end\n"
    )


# ----------------------------------------------------------------------------------------------------------------------
# chunk()


def test_small_module_is_one_chunk_with_its_leading_comment():
    source = src(SMALL_MODULE)
    items = ELIXIR.chunk(source)
    assert [(i.kind, i.name) for i in items] == [("module", "Bank.Account")]
    m = items[0]
    assert m.text.startswith("# Accounts hold money.\ndefmodule Bank.Account do")
    assert m.text.endswith("end")
    assert (m.start_line, m.end_line) == (1, 7)
    assert lines_of(source, m) == m.text


def test_test_module_keeps_its_test_blocks():
    items = ELIXIR.chunk(
        src(
            """
            defmodule Bank.AccountTest do
              use ExUnit.Case, async: true

              describe "new/1" do
                test "starts empty" do
                  assert Bank.Account.new(1).balance == 0
                end
              end

              test "has an id" do
                refute Bank.Account.new(1).id == nil
              end
            end
            """
        )
    )
    assert [(i.kind, i.name) for i in items] == [("test_module", "Bank.AccountTest")]
    assert 'test "starts empty" do' in items[0].text and 'test "has an id"' in items[0].text


def test_large_module_is_split_into_header_and_functions():
    source = _large_module().encode()
    items = ELIXIR.chunk(source)
    by_name = {i.name: i for i in items}
    kinds = [(i.kind, i.name) for i in items[:8]]
    assert kinds == [
        ("module_header", "Bank.Ledger"),
        ("def", "post/2"),
        ("def", "post/3"),
        ("def", "handle_call/3"),
        ("module", "Entry"),
        ("defmacro", "ledger_op/1"),
        ("defp", "normalize/1"),
        ("def", "filler_0/1"),
    ]
    assert len(items) == 7 + 50
    header = items[0]
    assert header.text.startswith("defmodule Bank.Ledger do\n  @moduledoc")
    assert header.text.rstrip().endswith("defstruct entries: []")
    assert (header.start_line, header.end_line) == (1, 8)
    post = by_name["post/2"]  # both clauses, with the comment, @doc and @spec above the first
    assert post.text.startswith("  # Posts an entry.\n  @doc \"Posts.\"\n  @spec post(")
    assert "def post(_l, _entry), do: {:error, :invalid}" in post.text
    assert "post(l, e, _opts)" not in post.text  # another arity is another function
    assert lines_of(source, post) == post.text
    hc = by_name["handle_call/3"]  # clauses grouped across their @impl attributes
    assert hc.text.startswith("  @impl true\n  def handle_call(:get")
    assert hc.text.count("def handle_call") == 2


def test_small_module_header_is_not_emitted():
    body = "".join(f"  def f{i}(x), do: x + {i}\n\n" for i in range(65))
    items = ELIXIR.chunk(f"defmodule Tiny do\n  @moduledoc false\n{body}end\n".encode())
    assert items[0].kind == "def" and items[0].name == "f0/1"
    assert all(i.kind != "module_header" for i in items)


def test_protocol_and_impl_kinds():
    items = ELIXIR.chunk(
        src(
            """
            defprotocol Formattable do
              def format(value)
            end

            defimpl Formattable, for: Money do
              def format(m), do: to_string(m.amount)
            end
            """
        )
    )
    assert [(i.kind, i.name) for i in items] == [("protocol", "Formattable"), ("impl", "Formattable for Money")]


def test_chunk_survives_syntax_errors():
    items = ELIXIR.chunk(
        src(
            """
            defmodule Good do
              def a, do: 1
            end

            defmodule Broken do
              def b(x) do
                )) x
              end
            end

            defmodule AlsoGood do
              def c, do: 3
            end
            """
        )
    )
    names = [i.name for i in items]
    assert "Good" in names and "AlsoGood" in names


def test_chunk_files_without_modules():
    assert ELIXIR.chunk(b"[inputs: [\"*.exs\"]]\n") == []
    assert ELIXIR.chunk(b"ExUnit.start()\n") == []
    assert ELIXIR.chunk(b"") == []


# ----------------------------------------------------------------------------------------------------------------------
# analyze(): pattern tags

OTP_SERVER = """
defmodule Cache.Server do
  @moduledoc \"\"\"
  A cache process.
  \"\"\"
  use GenServer
  @behaviour Cache.Store
  @callback fetch(term()) :: {:ok, term()} | :error

  defstruct entries: %{}

  @doc "Starts it."
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(opts) do
    with {:ok, ttl} <- Keyword.fetch(opts, :ttl),
         true <- ttl > 0 do
      {:ok, %__MODULE__{}}
    else
      _ -> {:error, :bad_ttl}
    end
  end

  @impl true
  def handle_call({:get, key}, _from, state) when is_binary(key) do
    reply =
      case Map.fetch(state.entries, key) do
        {:ok, v} -> v
        :error -> nil
      end

    {:reply, reply, state}
  end

  def handle_call(:keys, _from, state), do: {:reply, Map.keys(state.entries), state}

  defp normalize(entries) do
    entries |> Enum.reject(&is_nil/1) |> Map.new()
  end

  defp size_class(n) do
    cond do
      n > 100 -> :big
      true -> :small
    end
  end

  defmacro cached(do: block) do
    quote do
      unquote(block)
    end
  end
end
"""


def test_elixir_pattern_tags():
    a = ELIXIR.analyze(code(OTP_SERVER))
    expected = {
        "defmodule", "def", "defp", "defmacro", "callback", "impl_attr", "behaviour", "use_genserver", "otp", "doc",
        "moduledoc", "spec", "pipe", "pipe_chain", "ok_tuple", "error_tuple", "case", "with", "cond", "multi_clause",
        "pattern_match_head", "guard", "defstruct", "quote", "tagged_tuple",
    }  # fmt: skip
    assert expected <= a.patterns, expected - a.patterns
    assert not a.has_syntax_error
    assert a.counts["pipe"] == 2


def test_elixir_supervisor_agent_protocol_exception_and_tests():
    sup = ELIXIR.analyze("defmodule S do\n  use Supervisor\n  def init(_), do: Supervisor.init([], strategy: :one_for_one)\nend\n")
    assert {"use_supervisor", "otp"} <= sup.patterns and "supervision" in sup.concepts
    agent = ELIXIR.analyze("defmodule A do\n  use Agent\nend\n")
    assert {"use_agent", "otp"} <= agent.patterns and "process_state" in agent.concepts
    dyn = ELIXIR.analyze("defmodule P do\n  def start(s), do: DynamicSupervisor.start_child(P.Sup, s)\nend\n")
    assert "otp" in dyn.patterns and "supervision" in dyn.concepts
    proto = ELIXIR.analyze("defprotocol Size do\n  def size(x)\nend\n")
    assert "defprotocol" in proto.patterns and "interface" in proto.concepts and proto.kind == "protocol"
    impl = ELIXIR.analyze("defimpl Size, for: Map do\n  def size(m), do: map_size(m)\nend\n")
    assert "defimpl" in impl.patterns and "interface_impl" in impl.concepts
    exc = ELIXIR.analyze("defmodule BadInput do\n  defexception [:message]\nend\n")
    assert "defexception" in exc.patterns and "error_type" in exc.concepts
    tests = ELIXIR.analyze(
        code(
            """
            defmodule SizeTest do
              use ExUnit.Case
              test "sizes a map" do
                assert Size.size(%{a: 1}) == 1
              end
            end
            """
        )
    )
    assert {"exunit", "test_block", "assert"} <= tests.patterns and tests.kind == "test_module"
    assert tests.tests.startswith('  test "sizes a map" do') and tests.tests.endswith("end")  # whole lines


def test_elixir_patterns_ignore_strings_and_comments():
    a = ELIXIR.analyze(
        code(
            """
            defmodule Quiet do
              # case x do |> {:ok, 1} with cond quote when
              def f(x), do: "case |> {:ok, 2} {:error, 3} with cond when test"
            end
            """
        )
    )
    noisy = {"case", "pipe", "ok_tuple", "error_tuple", "with", "cond", "quote", "guard", "test_block", "tagged_tuple"}
    assert not (a.patterns & noisy), a.patterns & noisy


def test_bare_error_atom_and_nil_give_option_concept():
    a = ELIXIR.analyze(
        code(
            """
            defmodule Lookup do
              def find(map, k) do
                case Map.get(map, k) do
                  nil -> :error
                  v -> {:ok, v}
                end
              end
            end
            """
        )
    )
    assert {"nil_match", "ok_or_error_atom"} <= a.patterns
    assert "option" in a.concepts


# ----------------------------------------------------------------------------------------------------------------------
# analyze(): extraction


def test_def_doc_signature_body():
    a = ELIXIR.analyze(
        code(
            '''
            @doc """
            Deposits money.

                iex> deposit(acc, 5)
            """
            @spec deposit(t(), pos_integer()) :: {:ok, t()}
            def deposit(%{balance: b} = acc, amount) when amount > 0 do
              {:ok, %{acc | balance: b + amount}}
            end
            def deposit(_acc, _amount), do: {:error, :invalid_amount}
            '''
        )
    )
    assert (a.kind, a.name) == ("def", "deposit/2")
    assert a.doc == "Deposits money.\n\n    iex> deposit(acc, 5)"
    assert a.signature == "def deposit(%{balance: b} = acc, amount) when amount > 0"
    assert a.body == "  {:ok, %{acc | balance: b + amount}}"
    assert a.code_without_docs.startswith("@spec deposit(")
    assert "@doc" not in a.code_without_docs and "Deposits money" not in a.code_without_docs
    assert "multi_clause" in a.patterns


def test_keyword_do_body_and_module_extraction():
    one = ELIXIR.analyze("defp twice(x), do: x * 2\n")
    assert (one.kind, one.name, one.signature, one.body) == ("defp", "twice/1", "defp twice(x)", "x * 2")
    zero = ELIXIR.analyze("def now do\n  :os.system_time()\nend\n")
    assert (zero.name, zero.signature, zero.body) == ("now/0", "def now", "  :os.system_time()")
    m = ELIXIR.analyze(code(SMALL_MODULE))
    assert (m.kind, m.name, m.signature) == ("module", "Bank.Account", "defmodule Bank.Account")
    assert m.doc == "An account."
    assert "@moduledoc" not in m.code_without_docs and "defstruct" in m.code_without_docs
    assert m.body.startswith('  @moduledoc "An account."')


def test_doc_false_is_no_doc():
    a = ELIXIR.analyze("@doc false\ndef hidden(x), do: x\n")
    assert a.doc == "" and "@doc false" not in a.code_without_docs


def test_module_header_chunk_is_analyzed_as_header():
    header = next(i for i in ELIXIR.chunk(_large_module().encode()) if i.kind == "module_header")
    a = ELIXIR.analyze(header.text)
    assert (a.kind, a.name) == ("module_header", "Bank.Ledger")
    assert not a.has_syntax_error
    assert a.doc == "The ledger."
    assert {"moduledoc", "use_genserver", "behaviour", "defstruct"} <= a.patterns
    assert a.code_without_docs.startswith("defmodule Bank.Ledger do\n  use GenServer")
    assert not a.code_without_docs.rstrip().endswith("end")


def test_module_missing_its_end_is_broken_not_a_header():
    a = ELIXIR.analyze("defmodule A do\n  def f(x) do\n    x\n  end\n")
    assert a.has_syntax_error and a.kind == "module"


def test_identifiers_are_snake_words():
    a = ELIXIR.analyze(
        code(
            """
            defmodule EdgeGateway.TtlCache do
              defstruct [:max_entries, hit_count: 0]
              def evict_expired(cache), do: cache
              defp valid?(entry), do: entry
            end
            """
        )
    )
    assert {"edge", "gateway", "ttl", "cache", "max", "entries", "hit", "count", "evict", "expired", "valid"} <= (
        a.identifiers
    )


def test_syntax_error_flag():
    assert ELIXIR.analyze("def f(x) do\n  x +\n").has_syntax_error
    assert ELIXIR.analyze("defmodule A do\n  def b(x) do\n    )) x\n  end\nend\n").has_syntax_error
    assert not ELIXIR.analyze("def f(x), do: x\n").has_syntax_error
    assert ELIXIR.analyze("x = 1\n").kind == "unknown"


# ----------------------------------------------------------------------------------------------------------------------
# quality indicators

GOOD_DEF = '''
@doc """
Parses an amount.
"""
@spec parse(String.t()) :: {:ok, integer()} | {:error, :invalid}
def parse("-" <> rest), do: with({:ok, n} <- parse(rest), do: {:ok, -n})

def parse(text) when is_binary(text) do
  case Integer.parse(text) do
    {n, ""} -> {:ok, n}
    _ -> {:error, :invalid}
  end
end
'''

PLAIN_DEF = """
def parse(text) do
  String.to_integer(text)
end
"""


def test_indicator_ranges_and_names():
    for c in (GOOD_DEF, PLAIN_DEF, OTP_SERVER, SMALL_MODULE, "x = ((", ""):
        q = ELIXIR.quality_indicators(ELIXIR.analyze(code(c)))
        assert set(q) == set(elixir_mod.INDICATORS)
        assert all(0.0 <= v <= 1.0 for v in q.values()), q


def test_indicators_order_documented_tuple_returning_above_plain():
    good = ELIXIR.quality_indicators(ELIXIR.analyze(code(GOOD_DEF)))
    plain = ELIXIR.quality_indicators(ELIXIR.analyze(code(PLAIN_DEF)))
    assert good["doc"] == 1.0 and plain["doc"] == 0.0
    assert good["spec"] == 1.0 and plain["spec"] == 0.0
    assert good["ok_error_tuples"] == 1.0 and plain["ok_error_tuples"] == 0.0
    assert good["pattern_matching"] == 1.0 and plain["pattern_matching"] == 0.0
    assert sum(good.values()) > sum(plain.values())


def test_doc_and_spec_indicators_are_graded():
    a = ELIXIR.analyze(
        code(
            """
            defmodule Api do
              @moduledoc "Api."
              @doc "A."
              @spec a() :: :ok
              def a, do: :ok
              def b, do: :ok
              def c, do: :ok
              defp d, do: :ok
            end
            """
        )
    )
    q = ELIXIR.quality_indicators(a)
    assert q["doc"] == pytest.approx(2 / 4)  # moduledoc + a, out of module + 3 public functions
    assert q["spec"] == pytest.approx(1 / 4)  # a, out of 4 functions


def test_otp_pipe_tests_indicators():
    otp = ELIXIR.quality_indicators(ELIXIR.analyze(code(OTP_SERVER)))
    assert otp["otp"] == 1.0 and otp["pipe"] == 1.0 and otp["tests"] == 0.0
    single_pipe = ELIXIR.quality_indicators(ELIXIR.analyze("def f(x), do: x |> g()\n"))
    assert 0.0 < single_pipe["pipe"] < 1.0
    impl_only = ELIXIR.quality_indicators(ELIXIR.analyze("@impl true\ndef init(s), do: {:ok, s}\n"))
    assert 0.0 < impl_only["otp"] < 1.0
    t = ELIXIR.quality_indicators(ELIXIR.analyze("defmodule T do\n  use ExUnit.Case\n  test \"x\" do\n  end\nend\n"))
    assert t["tests"] == 1.0


# ----------------------------------------------------------------------------------------------------------------------
# is_valid_item


@pytest.mark.parametrize(
    "src_text,kind,expected",
    [
        ("def f(x), do: x", None, True),
        ("def f(x), do: x", "def", True),
        ("def f(x), do: x", "function", True),
        ("def f(x), do: x", "defp", False),  # wrong kind
        ("defp f(x) do\n  x\nend", "defp", True),
        ("@doc \"x\"\n@spec f(integer()) :: integer()\ndef f(x), do: x", "def", True),
        ("defmacro m(x), do: x", "defmacro", True),
        ("defmodule A do\n  def f, do: 1\nend", "module", True),
        ("defmodule A do\n  def f, do: 1\nend", "def", False),
        ("defmodule A.Test do\n  use ExUnit.Case\nend", "test_module", True),
        ("defmodule A do\nend", "test_module", False),
        ("defmodule A, do: def(f, do: 1)", "module", True),
        ("defp format_to_to_to", None, False),  # parses without error, but has no body
        ("def f(a, b \\\\ 1)\n\ndef f(a, 0), do: a\ndef f(a, b), do: a / b", "def", True),  # head declaring defaults
        ("def f(a, b \\\\ 1)", None, False),  # a head with no clause after it
        ("def f(a)\ndef g(a), do: a", None, False),  # the clauses belong to another function
        ("defp format_to_to_to format_to_to_to", None, False),
        ("def", None, False),
        ("x = 1", None, False),
        ('IO.puts("hi")', None, False),
        ("", None, False),
        ("def f(x) do\n  x", "def", False),  # syntax error (missing end)
        ("defmodule A do\n  def f(x) do\nend", "module", False),
    ],
)
def test_is_valid_item(src_text, kind, expected):
    assert ELIXIR.is_valid_item(src_text, kind) is expected


def test_bare_identifier_trap_parses_without_error():
    # the reason is_valid_item must look past the parse error flag
    assert not ELIXIR.analyze("defp format_to_to_to").has_syntax_error
    assert not ELIXIR.is_valid_item("defp format_to_to_to", "defp")


def test_is_valid_item_rejects_unknown_kind():
    with pytest.raises(ValueError, match="defp"):
        ELIXIR.is_valid_item("def f, do: 1", "struct")
