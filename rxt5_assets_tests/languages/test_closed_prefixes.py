"""closed_prefixes: an over-long item becomes a shorter whole item of the same kind (training.fit's input)."""

import pytest

from rxt5_assets import languages

RUST_STRUCT = '''/// A breaker's thresholds.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Failures before the breaker opens.
    pub failure_threshold: u32,
    #[serde(default)]
    pub cool_down: Duration,
    pub half_open_max_calls: u32,
}'''

RUST_IMPL = '''impl BreakerConfig {
    pub fn new() -> Self {
        Self { failure_threshold: 3, cool_down: Duration::from_secs(5), half_open_max_calls: 1 }
    }

    /// The same with another threshold.
    pub fn with_threshold(self, n: u32) -> Self {
        Self { failure_threshold: n, ..self }
    }
}'''

ELIXIR_MODULE = '''defmodule EdgeGateway.Plugs.RequestId do
  @moduledoc """
  Ensures every request carries an `x-request-id`.
  """

  alias EdgeGateway.Conn

  @impl true
  def init(opts), do: Keyword.get(opts, :header, "x-request-id")

  # the header's value, or a fresh one
  @impl true
  def call(%Conn{} = conn, header) do
    Conn.put_resp_header(conn, header, id(conn, header))
  end
end'''


def test_rust_prefixes_close_the_item_after_each_member_and_keep_its_docs():
    rust = languages.get("rust")
    prefixes = rust.closed_prefixes(RUST_STRUCT)
    assert len(prefixes) == 2  # after the 1st and the 2nd field; after the 3rd it is the item itself
    for p in prefixes:
        assert p.startswith("/// A breaker's thresholds.\n#[derive(Debug, Clone)]\npub struct BreakerConfig {")
        assert p.endswith("\n}") and rust.is_valid_item(p, "struct")
    assert "cool_down" not in prefixes[0] and "#[serde" not in prefixes[0]  # no dangling attribute
    assert "cool_down" in prefixes[1] and "half_open" not in prefixes[1]
    impl = rust.closed_prefixes(RUST_IMPL)
    assert len(impl) == 1 and rust.is_valid_item(impl[0], "impl") and "with_threshold" not in impl[0]
    assert "/// The same" not in impl[0]  # a doc comment is never left without its item


def test_elixir_prefixes_end_with_the_module_end_and_never_on_an_attribute():
    elixir = languages.get("elixir")
    prefixes = elixir.closed_prefixes(ELIXIR_MODULE)
    assert len(prefixes) == 2  # after `alias` and after `def init`; not after @moduledoc / @impl / the comment
    for p in prefixes:
        assert p.startswith("defmodule EdgeGateway.Plugs.RequestId do\n  @moduledoc")
        assert p.endswith("\nend") and elixir.is_valid_item(p, "module")
        assert not p.rstrip().removesuffix("end").rstrip().endswith("@impl true")
    assert "def init" in prefixes[1] and "def call" not in prefixes[1]


@pytest.mark.parametrize("language, code", [("rust", "pub struct Unit;"), ("rust", "fn f() {}"),
                                            ("elixir", "def f(x), do: x"), ("elixir", "not an item {")])
def test_items_without_a_body_of_members_have_no_prefixes(language, code):
    assert languages.get(language).closed_prefixes(code) == []


# a demo-base sample on which tree-sitter-rust's error recovery never ended (100 % CPU, 9 GB, minutes): the parse
# budget cancels it and the sample is simply not a valid item
RUNAWAY_RUST = ('impl Value {\n    fn new() -> Result<Self, S::Item> {\n        let mut self = self.0;\n        if '
                '!u32(self.as_ref().map(|b\'\' => {\n            Some(input) => self.as_str() };\n        }\n\n    pub '
                'unsafe fn read(&mut self) {\n            debug_assert!(f, "0.b);\n\n        // Return a `N`\'2` '
                'return Ok(())\n        } else if Ok(key) {\n            tokens.len(),\n        }\n    }\n}')


def test_a_parse_that_never_ends_is_cancelled_and_counts_as_a_syntax_error():
    rust = languages.get("rust")
    assert rust.is_valid_item(RUNAWAY_RUST, "impl") is False
    assert rust.analyze(RUNAWAY_RUST).has_syntax_error
    assert rust.is_valid_item("impl Value {\n    fn new() -> Self { Value }\n}", "impl")  # the parser still works
