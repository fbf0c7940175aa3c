"""The cross-language concept vocabulary shared by every language module.

Each language module maps its own pattern tags onto these names (``Analysis.concepts``); the data layer pairs Rust and
Elixir chunks that share concepts (and identifier words). A new language adds its surface forms here only if it wants to
document them; the concept names themselves are the stable contract.
"""

from __future__ import annotations

from typing import NamedTuple


class Concept(NamedTuple):
    description: str
    rust: str  # how the concept looks in Rust
    elixir: str  # how the concept looks in Elixir


CONCEPTS: dict[str, Concept] = {
    "result_tuple": Concept(
        "fallible operation returning success or error",
        "Result<T, E> with Ok(..)/Err(..)",
        "{:ok, value} / {:error, reason}",
    ),
    "option": Concept(
        "value that may be absent",
        "Option<T> with Some(..)/None",
        "nil, or {:ok, value} | :error",
    ),
    "interface": Concept(
        "a set of operations types can implement",
        "trait",
        "@behaviour with @callback, or defprotocol",
    ),
    "interface_impl": Concept(
        "implementing an interface for a type",
        "impl Trait for Type",
        "defimpl Protocol, for: Type / @impl true callbacks",
    ),
    "record": Concept("a named record of fields", "struct", "defstruct"),
    "tagged_variants": Concept(
        "a value that is one of several tagged cases",
        "enum with variants",
        "tagged tuples / atoms ({:reply, ..}, :a | :b)",
    ),
    "module": Concept("a namespace grouping items", "mod", "defmodule"),
    "pattern_match": Concept(
        "branching on the shape of data",
        "match / if let / while let",
        "case / with / multi-clause function heads",
    ),
    "error_propagation": Concept(
        "stopping at the first error and passing it up",
        "the ? operator",
        "with ... else",
    ),
    "unit_tests": Concept("tests next to the code", "#[cfg(test)] mod tests with #[test]", "ExUnit.Case with test blocks"),
    "docs": Concept("documentation attached to items", "/// and //! doc comments", "@doc / @moduledoc"),
    "process_state": Concept(
        "state owned by a long-lived worker",
        "struct behind Mutex/RwLock, worker thread",
        "GenServer / Agent state",
    ),
    "supervision": Concept(
        "restarting failed workers",
        "thread supervision / restart loop around spawn",
        "Supervisor / DynamicSupervisor",
    ),
    "pipeline": Concept("data flowing through a chain of transformations", "iterator chains (.iter().map().collect())", "|> pipes"),
    "macro": Concept("code that writes code", "macro_rules!", "defmacro / quote"),
    "error_type": Concept(
        "a dedicated error type",
        "error enum with impl Error / Display",
        "defexception / error atoms",
    ),
}


def concept_names() -> list[str]:
    return list(CONCEPTS)
