"""Rust language module: chunking, pattern tags, extraction, indicators and validity on real tree-sitter parses."""

from __future__ import annotations

import textwrap

import pytest

from rxt5_assets import languages
from rxt5_assets.languages import rust as rust_mod

RUST = languages.get("rust")


def src(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


def chunks(text: str):
    return RUST.chunk(src(text))


def lines_of(source: bytes, item) -> str:
    return "\n".join(source.decode().splitlines()[item.start_line - 1 : item.end_line])


# ----------------------------------------------------------------------------------------------------------------------
# chunk()


def test_chunk_attaches_docs_and_attributes_and_skips_use():
    source = src(
        """
        //! Crate docs (inner, not attached).

        use std::fmt;
        use std::{io, path::Path};
        extern crate alloc;

        /// Adds two numbers.
        ///
        /// Wraps on overflow.
        #[inline]
        #[must_use]
        pub fn add(a: i32, b: i32) -> i32 {
            a.wrapping_add(b)
        }

        // a loose comment, separated by a blank line

        fn plain() {}
        """
    )
    items = RUST.chunk(source)
    assert [(i.kind, i.name) for i in items] == [("function", "add"), ("function", "plain")]
    add, plain = items
    assert add.text.startswith("/// Adds two numbers.")
    assert "#[inline]\n#[must_use]\npub fn add" in add.text
    assert add.text.endswith("}")
    assert (add.start_line, add.end_line) == (7, 14)
    assert lines_of(source, add) == add.text
    assert plain.text == "fn plain() {}"
    assert plain.start_line == plain.end_line == 18


def test_chunk_attaches_block_doc_and_adjacent_comment():
    items = chunks(
        """
        /** Block doc. */
        struct A;

        // SAFETY: directly above, no blank line
        #[derive(Debug)]
        enum E { X }
        """
    )
    assert [(i.kind, i.name) for i in items] == [("struct", "A"), ("enum", "E")]
    assert items[0].text.startswith("/** Block doc. */")
    assert items[1].text.startswith("// SAFETY")
    assert items[1].start_line == 4


def test_chunk_kinds_and_names():
    items = chunks(
        """
        pub struct Invoice { total: u64 }
        pub union U { a: u32, b: f32 }
        pub trait Priced { fn price(&self) -> u64; }
        impl Invoice { fn new() -> Self { Invoice { total: 0 } } }
        impl fmt::Display for Invoice {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result { write!(f, "{}", self.total) }
        }
        impl<T: Clone> Priced for Wrapper<T> { fn price(&self) -> u64 { 0 } }
        macro_rules! square { ($x:expr) => { $x * $x }; }
        mod small { pub fn inner() {} }
        mod declared_elsewhere;
        const SHORT: u32 = 1;
        const LONG: [u32; 3] = [
            1,
            2,
            3,
        ];
        static NAME: &str = "x";
        type Alias = u32;
        """
    )
    assert [(i.kind, i.name) for i in items] == [
        ("struct", "Invoice"),
        ("union", "U"),
        ("trait", "Priced"),
        ("impl", "Invoice"),
        ("trait_impl", "fmt::Display for Invoice"),
        ("trait_impl", "Priced for Wrapper<T>"),
        ("macro", "square"),
        ("module", "small"),
        ("const", "LONG"),
    ]


def test_chunk_test_module_is_one_chunk():
    source = src(
        """
        pub fn double(x: i32) -> i32 { x * 2 }

        #[cfg(test)]
        mod tests {
            use super::*;

            #[test]
            fn doubles() {
                assert_eq!(double(2), 4);
            }
        }
        """
    )
    items = RUST.chunk(source)
    assert [(i.kind, i.name) for i in items] == [("function", "double"), ("test_module", "tests")]
    t = items[1]
    assert t.text.startswith("#[cfg(test)]\nmod tests {") and "fn doubles()" in t.text
    assert lines_of(source, t) == t.text


def _big_impl(n_methods: int) -> str:
    methods = []
    for i in range(n_methods):
        methods.append(
            f"    /// Method {i}.\n    #[inline]\n    pub fn m{i}(&self) -> u32 {{\n"
            + "".join(f"        let v{j} = {j};\n" for j in range(4))
            + f"        {i}\n    }}\n"
        )
    return "pub struct Big;\n\nimpl Big {\n" + "\n".join(methods) + "}\n"


def test_chunk_large_impl_is_split_into_methods():
    source = _big_impl(16).encode()  # 16 methods x 10 lines: > 150 lines
    items = RUST.chunk(source)
    assert items[0].kind == "struct"
    methods = items[1:]
    assert [i.kind for i in methods] == ["function"] * 16
    assert [i.name for i in methods] == [f"m{i}" for i in range(16)]
    first = methods[0]
    assert first.text.startswith("    /// Method 0.\n    #[inline]\n    pub fn m0(&self)")  # own docs/attrs, full lines
    assert first.text.rstrip().endswith("}")
    assert lines_of(source, first) == first.text
    # a small impl stays whole
    small = RUST.chunk(_big_impl(3).encode())
    assert [i.kind for i in small] == ["struct", "impl"]


def test_chunk_large_inline_module_is_split_but_test_module_never():
    body = "\n".join(f"    pub fn f{i}() -> u32 {{\n        {i}\n    }}\n" for i in range(25))  # ~100 lines
    source = f"pub mod big {{\n{body}}}\n\n#[cfg(test)]\nmod tests {{\n{body}}}\n".encode()
    items = RUST.chunk(source)
    assert [i.name for i in items[:25]] == [f"f{i}" for i in range(25)]
    assert all(i.kind == "function" for i in items[:25])
    assert [(i.kind, i.name) for i in items[25:]] == [("test_module", "tests")]


def test_chunk_survives_syntax_errors():
    items = chunks(
        """
        fn good_one() -> i32 { 1 }

        fn broken( { let x = ; }

        /// After the break.
        struct AfterBroken { x: i32 }
        """
    )
    names = [i.name for i in items]
    assert "good_one" in names and "AfterBroken" in names
    after = next(i for i in items if i.name == "AfterBroken")
    assert after.text.startswith("/// After the break.")


def test_chunk_empty_and_use_only_files():
    assert RUST.chunk(b"") == []
    assert RUST.chunk(b"use std::io;\n//! docs\n") == []


# ----------------------------------------------------------------------------------------------------------------------
# analyze(): pattern tags

KITCHEN_SINK = """
//! Module docs.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// A cache.
#[derive(Debug, Clone)]
pub struct TtlCache<'a, K> {
    entries: HashMap<&'a str, K>,
}

impl<'a, K: Clone> TtlCache<'a, K> {
    /// Get.
    pub fn get(&self, key: &str) -> Option<K> {
        if let Some(v) = self.entries.get(key) {
            return Some(v.clone());
        }
        None
    }

    pub fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
        let n: u32 = input.trim().parse()?;
        let total: u32 = input.split(',').map(|s| s.len() as u32).sum();
        match n {
            0 => Ok(total),
            _ => Ok(n),
        }
    }

    fn risky(&self) -> u32 {
        let raw = unsafe { *(&1u32 as *const u32) };
        raw + "7".parse::<u32>().unwrap() + "8".parse::<u32>().expect("eight")
    }
}

mod inner {}

macro_rules! twice { ($e:expr) => { $e; $e }; }

fn worker(state: Arc<Mutex<u32>>) {
    std::thread::spawn(move || {
        *state.lock().unwrap() += 1;
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn works() {}
}
"""


def test_rust_pattern_tags():
    a = RUST.analyze(KITCHEN_SINK)
    expected = {
        "fn", "struct", "impl", "mod", "macro", "test_module", "test_fn", "result_return", "option_return",
        "question_mark", "match", "if_let", "doc_comment", "module_doc", "use", "use_grouped", "generic", "lifetime",
        "closure", "iterator_chain", "derive", "unsafe", "unwrap", "mutex", "thread_spawn",
    }  # fmt: skip
    assert expected <= a.patterns, expected - a.patterns
    assert a.counts["question_mark"] == 1
    assert a.counts["unwrap"] == 3  # two .unwrap() + one .expect()
    assert not a.has_syntax_error


def test_rust_trait_enum_error_tags():
    a = RUST.analyze(
        """
        pub trait Shape { fn area(&self) -> f64; }
        #[derive(Debug)]
        pub enum ParseError { Empty, Bad(String) }
        impl std::fmt::Display for ParseError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "bad") }
        }
        impl std::error::Error for ParseError {}
        impl Shape for Square { fn area(&self) -> f64 { 1.0 } }
        """
    )
    assert {"trait", "enum", "trait_impl", "error_impl", "error_enum"} <= a.patterns
    assert {"interface", "interface_impl", "tagged_variants", "error_type"} <= a.concepts


def test_rust_patterns_ignore_strings_and_comments():
    a = RUST.analyze(
        """
        fn quiet() -> u32 {
            // match x? and x.unwrap() and thread::spawn and Mutex
            let s = "match y? { if let Some(z) = w } .unwrap() |x| x 'a";
            /* unsafe { v.iter().map(f).collect() } */
            s.len() as u32
        }
        """
    )
    noisy = {"match", "question_mark", "unwrap", "if_let", "closure", "unsafe", "iterator_chain", "mutex",
             "thread_spawn", "lifetime"}  # fmt: skip
    assert not (a.patterns & noisy), a.patterns & noisy
    assert a.patterns >= {"fn"}


def test_rust_iterator_chain_needs_two_iterator_calls():
    assert "iterator_chain" in RUST.analyze("fn f(v: &[u8]) -> usize { v.iter().filter(|b| **b > 0).count() }").patterns
    assert "iterator_chain" in RUST.analyze("fn f() -> Vec<u32> { (0..9).map(|i| i * 2).collect() }").patterns
    assert "iterator_chain" not in RUST.analyze("fn f(o: Option<u8>) -> Option<u8> { o.map(|b| b + 1) }").patterns


def test_rust_thread_supervision():
    a = RUST.analyze(
        """
        fn supervise() {
            loop {
                let handle = std::thread::spawn(|| work());
                if handle.join().is_ok() { break; }
            }
        }
        """
    )
    assert {"thread_spawn", "thread_supervision"} <= a.patterns
    assert "supervision" in a.concepts
    assert "thread_supervision" not in RUST.analyze("fn once() { std::thread::spawn(|| work()); }").patterns


# ----------------------------------------------------------------------------------------------------------------------
# analyze(): extraction


def test_rust_function_doc_signature_body():
    code = textwrap.dedent(
        """\
        /// Parses the input.
        ///
        /// Returns an AST.
        #[inline]
        pub fn parse(input: &str) -> Result<Ast, Error> {
            let tokens = lex(input)?;
            build(tokens)
        }
        """
    )
    a = RUST.analyze(code)
    assert (a.kind, a.name) == ("function", "parse")
    assert a.doc == "Parses the input.\n\nReturns an AST."
    assert a.signature == "pub fn parse(input: &str) -> Result<Ast, Error>"
    assert a.body == "    let tokens = lex(input)?;\n    build(tokens)"
    assert a.code_without_docs.startswith("#[inline]\npub fn parse")
    assert "///" not in a.code_without_docs and "lex(input)?" in a.code_without_docs
    assert a.tests == ""


def test_rust_block_doc_and_struct_signature():
    a = RUST.analyze(
        """
        /**
         * A pair.
         * Of things.
         */
        pub struct Pair<T> where T: Clone {
            left: T,
            right: T,
        }
        """
    )
    assert (a.kind, a.name) == ("struct", "Pair")
    assert a.doc == "A pair.\nOf things."
    assert a.signature == "pub struct Pair<T> where T: Clone"
    assert "left: T," in a.body and "{" not in a.body
    assert "/**" not in a.code_without_docs


def test_rust_impl_and_tuple_struct_and_macro_signatures():
    a = RUST.analyze("impl fmt::Display for Invoice {\n    fn fmt(&self) {}\n}\n")
    assert (a.kind, a.name, a.signature) == ("trait_impl", "fmt::Display for Invoice", "impl fmt::Display for Invoice")
    assert a.body == "    fn fmt(&self) {}"
    t = RUST.analyze("pub struct Meters(pub f64);")
    assert (t.kind, t.signature, t.body) == ("struct", "pub struct Meters(pub f64)", "")
    m = RUST.analyze("macro_rules! sq {\n    ($x:expr) => { $x * $x };\n}\n")
    assert (m.kind, m.name, m.signature) == ("macro", "sq", "macro_rules! sq")
    assert m.body.strip() == "($x:expr) => { $x * $x };"


def test_rust_test_module_analysis_and_tests_text():
    a = RUST.analyze(
        textwrap.dedent(
            """
            #[cfg(test)]
            mod tests {
                use super::*;
                #[test]
                fn adds() { assert_eq!(add(1, 2), 3); }
            }
            """
        )
    )
    assert (a.kind, a.name) == ("test_module", "tests")
    assert a.tests.startswith("#[cfg(test)]\nmod tests {") and "fn adds()" in a.tests
    assert "unit_tests" in a.concepts
    # the test code of a module chunk is found inside it
    b = RUST.analyze("mod m {\n    pub fn f() {}\n    #[cfg(test)]\n    mod tests { #[test] fn t() {} }\n}\n")
    assert b.kind == "module" and "mod tests" in b.tests


def test_rust_identifiers_are_snake_words():
    a = RUST.analyze(
        """
        pub struct TtlCache { max_entries: usize }
        impl TtlCache {
            pub fn evict_expired(&mut self) {}
            fn HTTPServerName() {}
        }
        enum CacheEvent { EntryEvicted }
        """
    )
    assert {"ttl", "cache", "max", "entries", "evict", "expired", "http", "server", "name", "event", "entry",
            "evicted"} <= a.identifiers  # fmt: skip
    assert all(w == w.lower() and len(w) >= 2 for w in a.identifiers)


def test_rust_concepts_of_a_result_function():
    a = RUST.analyze("fn load(p: &str) -> Result<String, std::io::Error> { let s = std::fs::read_to_string(p)?; Ok(s) }")
    assert {"result_tuple", "error_propagation"} <= a.concepts
    assert "record" not in a.concepts


def test_rust_syntax_error_flag_and_unknown_kind():
    assert RUST.analyze("fn broken( { let x = ; }").has_syntax_error
    assert RUST.analyze("fn missing_brace() {").has_syntax_error  # MISSING node
    assert not RUST.analyze("fn fine() {}").has_syntax_error
    junk = RUST.analyze("let x = 1;")
    assert junk.kind == "unknown" and junk.name == ""


# ----------------------------------------------------------------------------------------------------------------------
# quality indicators

DOCUMENTED = """
/// Loads the configuration file.
///
/// # Errors
/// Fails when the file is missing.
pub fn load(path: &str) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)?;
    match parse(&text) {
        Some(cfg) => Ok(cfg),
        None => Err(ConfigError::Invalid),
    }
}
"""

UNWRAPPY = """
pub fn load(path: &str) -> Config {
    let text = std::fs::read_to_string(path).unwrap();
    let cfg = parse(&text).unwrap();
    cfg.validate().expect("valid");
    cfg
}
"""


def test_rust_indicators_range_and_names():
    for code in (DOCUMENTED, UNWRAPPY, KITCHEN_SINK, "fn f() {}", "garbage (((", ""):
        q = RUST.quality_indicators(RUST.analyze(code))
        assert set(q) == set(rust_mod.INDICATORS)
        assert all(0.0 <= v <= 1.0 for v in q.values()), q


def test_rust_indicators_order_documented_result_above_unwrap_heavy():
    good = RUST.quality_indicators(RUST.analyze(DOCUMENTED))
    bad = RUST.quality_indicators(RUST.analyze(UNWRAPPY))
    assert good["result_option"] == 1.0 and bad["result_option"] < 1.0
    assert good["doc_comments"] == 1.0 and bad["doc_comments"] == 0.0
    assert good["error_propagation"] == 1.0 and bad["error_propagation"] == 0.0
    assert good["pattern_matching"] == 1.0 and bad["pattern_matching"] == 0.0
    assert sum(good.values()) > sum(bad.values())


def test_rust_doc_indicator_is_graded_over_public_items():
    code = """
    impl Api {
        /// Documented.
        pub fn a(&self) {}
        pub fn b(&self) {}
        pub fn c(&self) {}
        fn private_helper(&self) {}
    }
    """
    q = RUST.quality_indicators(RUST.analyze(code))
    assert q["doc_comments"] == pytest.approx(1 / 3)
    # trait-impl methods and test code are not counted
    q2 = RUST.quality_indicators(RUST.analyze("/// Doc.\npub fn a() {}\nimpl T for X { fn t(&self) {} }\n"))
    assert q2["doc_comments"] == 1.0


def test_rust_error_propagation_and_tests_indicators_are_graded():
    mixed = RUST.quality_indicators(RUST.analyze("fn f() -> Result<(), E> { a()?; b()?; c().unwrap(); Ok(()) }"))
    assert mixed["error_propagation"] == pytest.approx(2 / 3)
    assert RUST.quality_indicators(RUST.analyze(KITCHEN_SINK))["tests"] == 1.0
    assert RUST.quality_indicators(RUST.analyze(DOCUMENTED))["tests"] == 0.0
    imports = RUST.quality_indicators(RUST.analyze("use a::{b, c};\nmod m {}\n"))["imports_and_modules"]
    assert imports == 1.0
    assert RUST.quality_indicators(RUST.analyze("fn f() {}"))["imports_and_modules"] == 0.0


# ----------------------------------------------------------------------------------------------------------------------
# is_valid_item


@pytest.mark.parametrize(
    "code,kind,expected",
    [
        ("fn f() {}", None, True),
        ("fn f() {}", "function", True),
        ("fn f() {}", "fn", True),
        ("fn f() {}", "struct", False),  # wrong kind
        ("/// doc\n#[inline]\npub fn f(x: u8) -> u8 { x }", "function", True),
        ("use std::io;\nfn f() {}", "function", True),
        ("struct A;\nimpl A { fn a(&self) {} }", "impl", True),
        ("struct A;\nimpl A { fn a(&self) {} }", "trait_impl", False),
        ("impl Display for A { fn fmt(&self) {} }", "trait_impl", True),
        ("pub trait T { fn t(&self); }", "trait", True),
        ("enum E { A, B }", "enum", True),
        ("mod m { fn f() {} }", "module", True),
        ("mod m { fn f() {} }", "test_module", False),
        ("#[cfg(test)]\nmod tests { #[test] fn t() {} }", "test_module", True),
        ("macro_rules! m { () => {}; }", "macro", True),
        ("let x = 1;", None, False),  # a statement is not an item
        ("x + 1", None, False),  # a bare expression
        ("foo_bar_baz", None, False),
        ("println!(\"hi\");", None, False),
        ("use std::io;", None, False),  # no real item
        ("", None, False),
        ("fn f( {", "function", False),  # syntax error
        ("fn f() {", "function", False),  # MISSING }
    ],
)
def test_rust_is_valid_item(code, kind, expected):
    assert RUST.is_valid_item(code, kind) is expected


def test_rust_is_valid_item_rejects_unknown_kind():
    with pytest.raises(ValueError, match="function"):
        RUST.is_valid_item("fn f() {}", "def")
