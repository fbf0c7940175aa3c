"""The registry and the shared concept vocabulary; a third language registered without touching other code."""

from __future__ import annotations

import pytest
import tree_sitter as ts
import tree_sitter_rust

from rxt5_assets import languages
from rxt5_assets.languages import Analysis, LanguageModule, SourceItem
from rxt5_assets.languages.concepts import CONCEPTS, Concept


def test_rust_and_elixir_registered_on_import():
    assert {"rust", "elixir"} <= set(languages.names())
    assert languages.get("rust").name == "rust"
    assert languages.get("elixir").name == "elixir"
    assert {m.name for m in languages.all_languages()} >= {"rust", "elixir"}
    for m in languages.all_languages():
        assert isinstance(m, LanguageModule)


def test_module_attributes():
    rust, elixir = languages.get("rust"), languages.get("elixir")
    assert rust.extensions == (".rs",) and rust.comment_prefix == "//"
    assert elixir.extensions == (".ex", ".exs") and elixir.comment_prefix == "#"


@pytest.mark.parametrize(
    "path,expected",
    [
        ("src/lib.rs", "rust"),
        ("lib/a/b.ex", "elixir"),
        ("test/a_test.exs", "elixir"),
        ("SRC/MAIN.RS", "rust"),
        ("README.md", None),
        ("Makefile", None),
        ("archive.rs.bak", None),
    ],
)
def test_for_path(path, expected):
    m = languages.for_path(path)
    assert (m.name if m else None) == expected


def test_for_path_accepts_path_objects():
    from pathlib import Path

    assert languages.for_path(Path("crate/src/main.rs")).name == "rust"
    assert languages.for_path(Path("mix.exs")).name == "elixir"


def test_unknown_language_lists_known_ones():
    with pytest.raises(KeyError) as err:
        languages.get("cobol")
    msg = str(err.value)
    assert "cobol" in msg and "rust" in msg and "elixir" in msg


def test_register_rejects_non_modules_and_extension_clashes():
    with pytest.raises(TypeError):
        languages.register(object())  # type: ignore[arg-type]

    class Clash(_RustX):
        name = "clash"
        extensions = (".rs",)

    with pytest.raises(ValueError, match="rust"):
        languages.register(Clash())
    assert languages.for_path("x.rs").name == "rust"  # unchanged

    class BadExt(_RustX):
        name = "badext"
        extensions = ("rsx",)

    with pytest.raises(ValueError):
        languages.register(BadExt())
    assert "badext" not in languages.names()


# ---- a third language, built over the Rust grammar (no Python grammar package is installed)

_LANG = ts.Language(tree_sitter_rust.language())


class _RustX:
    """A minimal LanguageModule: functions only."""

    name = "rustx"
    extensions = (".rsx",)
    comment_prefix = "//"

    def __init__(self):
        self._parser = ts.Parser(_LANG)

    def chunk(self, source: bytes) -> list[SourceItem]:
        out = []
        for n in self._parser.parse(source).root_node.children:
            if n.type == "function_item":
                name = n.child_by_field_name("name")
                out.append(
                    SourceItem("function", name.text.decode(), n.text.decode(), n.start_point.row + 1, n.end_point.row + 1)
                )
        return out

    def analyze(self, code: str) -> Analysis:
        root = self._parser.parse(code.encode()).root_node
        return Analysis("rustx", "function", "", frozenset({"fn"}), "", "", "", code, "", root.has_error)

    def quality_indicators(self, analysis: Analysis) -> dict[str, float]:
        return {"has_fn": 1.0 if "fn" in analysis.patterns else 0.0}

    def is_valid_item(self, code: str, kind: str | None = None) -> bool:
        root = self._parser.parse(code.encode()).root_node
        return not root.has_error and all(c.type == "function_item" for c in root.named_children)


@pytest.fixture
def rustx():
    module = languages.register(_RustX())
    yield module
    languages.unregister("rustx")


def test_third_language_plugs_in(rustx):
    assert languages.get("rustx") is rustx
    assert languages.for_path("pkg/mod.rsx") is rustx
    assert "rustx" in languages.names()
    assert rustx in languages.all_languages()
    items = languages.for_path("a.rsx").chunk(b"fn one() {}\nstruct S;\nfn two() {}\n")
    assert [(i.name, i.start_line) for i in items] == [("one", 1), ("two", 3)]
    assert languages.get("rustx").is_valid_item("fn f() {}")
    # the built-in languages are untouched
    assert languages.for_path("a.rs").name == "rust"


def test_unregister_removes_name_and_extension(rustx):
    languages.unregister("rustx")
    assert languages.for_path("a.rsx") is None
    with pytest.raises(KeyError):
        languages.get("rustx")
    languages.register(rustx)  # so the fixture's teardown finds it


def test_reregistering_a_name_replaces_its_extensions(rustx):
    class RustY(_RustX):
        extensions = (".rsy",)

    new = languages.register(RustY())
    assert languages.get("rustx") is new
    assert languages.for_path("a.rsy") is new
    assert languages.for_path("a.rsx") is None


# ---- concept vocabulary

REQUIRED_CONCEPTS = {
    "result_tuple", "option", "interface", "interface_impl", "record", "tagged_variants", "module", "pattern_match",
    "error_propagation", "unit_tests", "docs", "process_state", "supervision", "pipeline", "macro", "error_type",
}  # fmt: skip


def test_concept_vocabulary():
    assert REQUIRED_CONCEPTS <= set(CONCEPTS)
    for name, concept in CONCEPTS.items():
        assert isinstance(concept, Concept)
        description, rust, elixir = concept  # a (description, rust form, elixir form) triple
        assert description and rust and elixir, name


@pytest.mark.parametrize("lang", ["rust", "elixir"])
def test_language_concepts_are_in_the_vocabulary(lang):
    module = languages.get(lang)
    assert set(module.concept_of_tag.values()) <= set(CONCEPTS)
    # each required concept is reachable from some pattern tag of each language
    assert REQUIRED_CONCEPTS <= set(module.concept_of_tag.values()), REQUIRED_CONCEPTS - set(module.concept_of_tag.values())
