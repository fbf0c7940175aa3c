"""The template floor: the trivial baseline every model must beat, evaluated beside every model on the same rows.

It never sees the reference target; it copies what the prompt gives and closes it into a whole, parseable item.
What it produces, per task (L is the target language: the right side of a pair such as rust->elixir):

* implement (`implement L: <description>\\n<signature>`): the signature copied from the input — the longest tail of
  the input's lines that closes into a valid item — closed with a stub body:
    Rust   `fn …` → `fn … {\\n    todo!()\\n}`; `struct S(..)` → `struct S(..);`; `struct/enum/union/trait/impl/mod …`
           → `… {}`; `const/static X: T` → `… = todo!();`; `type T` → `type T = ();`;
           `macro_rules! m` → `macro_rules! m {\\n    () => {};\\n}`; a signature already ending in `;` is kept as is.
    Elixir `def/defp/defmacro/defmodule … [do]` → `… do\\n  :ok\\nend` (`defmodule …` → `… do\\nend`).
* generate (`generate L <kind>: <description>`): the description as the item's doc (`///` lines, `@moduledoc` or
  `@doc`) on an empty item of the requested kind named `generated` / `Generated` (Rust `pub fn generated() {
  todo!() }`, `pub struct Generated {}`, …; Elixir `def generated do :ok end`, `defmodule Generated do … end`, …).
* concept_transfer (`implement L using <concepts>: <description>`): as generate, with Rust's unit of code (a
  function) or Elixir's (a module), since the prompt names no kind.
* translate (`translate A to L: <item>`): an empty L item of the matching kind with the source item's name: a
  function becomes `def name do :ok end` / `pub fn name() { todo!() }`; anything else (struct, enum, impl, trait,
  module) becomes `defmodule Name do end` / `pub struct Name {}`.
* document (`document L: <item>`): the item's signature (its declaration line without body), as the "doc".
* test (`write tests L: <item>`): an empty test module — Rust `#[cfg(test)]\\nmod tests {\\n    use super::*;\\n}`,
  Elixir `defmodule <Module>Test do\\n  use ExUnit.Case, async: true\\nend` (<Module> from the input's defmodule).

Any other task falls back to generate's default item. Prompts written as a comment header (`// rust: implement`,
`# translate rust to elixir`, as in training/synthetic.py) are understood too.
"""

from __future__ import annotations

import re

from rxt5_assets.languages import get as get_language

_TRANSLATE = re.compile(r"^\s*(?:#|//)?\s*translate\s+(\w+)\s+to\s+(\w+)\s*:?[ \t]*\n?", re.IGNORECASE)
_GENERATE = re.compile(r"^\s*generate\s+(\w+)\s+(\w+)\s*:\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:implement|document|write tests|generate)\s+[\w>-]+(?:\s+using\s+[^:]*)?\s*:\s*",
                     re.IGNORECASE)
_COMMENT_HEADER = re.compile(r"^\s*(?:#|//)[^\n]*\n")
_RUST_ITEM = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|const|unsafe|default|extern\s+\"[^\"]*\")\s+)*"
    r"(fn|struct|enum|union|trait|impl|mod|macro_rules!|const|static|type)\b")
_ELIXIR_MODULE = re.compile(r"\bdefmodule\s+([A-Z][\w.]*)")

RUST_DEFAULT_KIND = "function"
ELIXIR_DEFAULT_KIND = "module"


def target_language_of(language: str) -> str:
    """`rust` → rust; a pair `rust->elixir` → elixir (the language the model must write)."""
    return language.split("->")[-1].strip()


def source_language_of(language: str) -> str:
    return language.split("->")[0].strip()


def strip_prompt(text: str) -> str:
    """The payload of a prompt: without `implement rust: ` style prefixes or a `// rust: implement` header line."""
    match = _PREFIX.match(text)
    if match:
        return text[match.end():]
    header = _COMMENT_HEADER.match(text)
    return text[header.end():] if header else text


# ---------------------------------------------------------------------------------------------------------------------
# closing a signature into a whole item

def _rust_close(signature: str) -> str:
    sig = signature.rstrip()
    if sig.endswith(";") or sig.endswith("}"):
        return sig
    keyword = None
    for line in sig.split("\n"):
        match = _RUST_ITEM.match(line)
        if match:
            keyword = match.group(1)
            break
    if keyword == "fn":
        return sig + " {\n    todo!()\n}"
    if keyword == "struct" and sig.endswith(")"):
        return sig + ";"
    if keyword in ("const", "static"):
        return sig + " = todo!();"
    if keyword == "type":
        return sig + " = ();"
    if keyword == "macro_rules!":
        return sig + " {\n    () => {};\n}"
    return sig + " {}"


def _elixir_close(signature: str) -> str:
    sig = signature.rstrip()
    if sig.endswith("end"):
        return sig
    if re.search(r"(^|\s)do$", sig):
        return sig + ("\nend" if sig.lstrip().startswith("defmodule") else "\n  :ok\nend")
    if sig.lstrip().startswith(("defmodule", "defprotocol")):
        return sig + " do\nend"
    return sig + " do\n  :ok\nend"


def close_signature(signature: str, language: str) -> str:
    return _rust_close(signature) if language == "rust" else _elixir_close(signature)


def _implement(payload: str, language: str) -> str:
    module = get_language(language)
    lines = payload.strip("\n").split("\n")
    for start in range(len(lines)):
        tail = "\n".join(lines[start:]).strip()
        if not tail:
            continue
        closed = close_signature(tail, language)
        if module.is_valid_item(closed):
            return closed
    return close_signature(lines[-1].strip() if lines else "", language)


# ---------------------------------------------------------------------------------------------------------------------
# empty items of a kind

def _rust_doc(description: str) -> str:
    return "".join(f"/// {line}".rstrip() + "\n" for line in description.strip().split("\n")) if description.strip() \
        else ""


def _elixir_doc(attribute: str, description: str, indent: str = "") -> str:
    if not description.strip():
        return ""
    body = "\n".join(f"{indent}{line}".rstrip() for line in description.strip().replace('"""', "'''").split("\n"))
    return f'{indent}@{attribute} """\n{body}\n{indent}"""\n'


def _camel(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Generated"


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.split(".")[-1])
    name = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    return name if name and not name[0].isdigit() else "generated"


def empty_item(language: str, kind: str, *, name: str = "generated", description: str = "") -> str:
    """A whole, parseable, empty item of `kind` in `language`, with `description` as its doc."""
    if language == "rust":
        type_name, fn_name = _camel(name), _snake(name)
        doc = _rust_doc(description)
        bodies = {
            "function": f"pub fn {fn_name}() {{\n    todo!()\n}}", "fn": f"pub fn {fn_name}() {{\n    todo!()\n}}",
            "struct": f"pub struct {type_name} {{}}", "enum": f"pub enum {type_name} {{}}",
            "union": f"pub union {type_name} {{\n    _unused: u8,\n}}", "trait": f"pub trait {type_name} {{}}",
            "impl": f"impl {type_name} {{}}", "trait_impl": f"impl Default for {type_name} {{}}",
            "module": f"pub mod {fn_name} {{}}", "mod": f"pub mod {fn_name} {{}}",
            "test_module": "#[cfg(test)]\nmod tests {\n    use super::*;\n}",
            "macro": f"macro_rules! {fn_name} {{\n    () => {{}};\n}}",
            "const": f"pub const {fn_name.upper()}: () = ();", "static": f"pub static {fn_name.upper()}: () = ();",
            "type": f"pub type {type_name} = ();",
        }
        return doc + bodies.get(kind, bodies[RUST_DEFAULT_KIND])
    module_name, fn_name = _camel(name) if "." not in name else name, _snake(name)
    if kind in ("module", "module_header", "protocol", "impl", "test_module"):
        keyword = "defprotocol" if kind == "protocol" else "defmodule"
        return f"{keyword} {module_name} do\n{_elixir_doc('moduledoc', description, '  ')}end"
    keyword = kind if kind in ("def", "defp", "defmacro", "defmacrop", "defguard", "defguardp") else "def"
    if keyword.startswith("defguard"):
        return f"{_elixir_doc('doc', description) if keyword == 'defguard' else ''}{keyword} {fn_name}(x) when x"
    doc = _elixir_doc("doc", description) if keyword in ("def", "defmacro") else ""
    return f"{doc}{keyword} {fn_name} do\n  :ok\nend"


# ---------------------------------------------------------------------------------------------------------------------
# per task

def _signature_of(code: str, language: str) -> str:
    analysis = get_language(language).analyze(code)
    if analysis.signature.strip():
        return analysis.signature.strip()
    return next((line.strip() for line in code.split("\n") if line.strip()), "")


def _translate(text: str, language: str) -> str:
    match = _TRANSLATE.match(text)
    source_language = match.group(1).lower() if match else source_language_of(language)
    target_language = match.group(2).lower() if match else target_language_of(language)
    source = text[match.end():] if match else text
    try:
        analysis = get_language(source_language).analyze(source)
        kind, name = analysis.kind, analysis.name or "generated"
    except KeyError:
        kind, name = "unknown", "generated"
    is_function = kind in ("function", "fn", "def", "defp", "defmacro", "defmacrop", "defdelegate")
    if target_language == "elixir":
        return empty_item("elixir", "def" if is_function else "module", name=name)
    return empty_item("rust", "function" if is_function else "struct", name=name.split(".")[-1])


def _tests(payload: str, language: str) -> str:
    if language == "rust":
        return empty_item("rust", "test_module")
    match = _ELIXIR_MODULE.search(payload)
    module = f"{match.group(1)}Test" if match else "GeneratedTest"
    return f"defmodule {module} do\n  use ExUnit.Case, async: true\nend"


def template_generation(input: str, task: str, language: str) -> str:  # noqa: A002 - the rows' own field name
    """The floor's output for one eval row (see the module docstring for what each task gets)."""
    target_language = target_language_of(language)
    if task == "translate":
        return _translate(input, language)
    if task == "generate":
        match = _GENERATE.match(input)
        kind = match.group(2) if match else (RUST_DEFAULT_KIND if target_language == "rust" else ELIXIR_DEFAULT_KIND)
        return empty_item(target_language, kind, description=input[match.end():] if match else strip_prompt(input))
    payload = strip_prompt(input)
    if task == "implement":
        return _implement(payload, target_language)
    if task == "document":
        return _signature_of(payload, target_language)
    if task == "test":
        return _tests(payload, target_language)
    default = RUST_DEFAULT_KIND if target_language == "rust" else ELIXIR_DEFAULT_KIND
    return empty_item(target_language, default, description=payload)


def template_generations(rows) -> list[str]:
    """template_generation for each row (objects with input, task and language)."""
    return [template_generation(row.input, row.task, row.language) for row in rows]
