"""Small, realistic Rust/Elixir example sets generated from templates, for tests and benchmarks.

Not training data for real use: they exist so the training layer can be exercised end to end (and benchmarked) with no
database and no corpus. The rows have the same shape as `training_dataset`'s JSONL: implement tasks (doc + signature ->
body) in both languages and rust->elixir translations, with lengths that vary from a one-line getter to a dozen match
arms, so padding and length grouping matter as they do on real code.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterable

_NOUNS = ["account", "invoice", "ledger", "payment", "order", "customer", "session", "token", "job", "queue", "route",
          "request", "balance", "currency", "entry", "batch", "worker", "cache", "event", "user", "limit", "price"]
_FIELDS = ["id", "name", "amount", "status", "count", "total", "owner", "created_at", "retries", "priority", "label",
           "score", "region", "version", "timeout"]
_RUST_TYPES = {"id": "u64", "name": "String", "amount": "i64", "status": "Status", "count": "usize", "total": "u64",
               "owner": "String", "created_at": "u64", "retries": "u32", "priority": "u8", "label": "String",
               "score": "f64", "region": "String", "version": "u32", "timeout": "u64"}
_VARIANTS = ["Pending", "Active", "Suspended", "Closed", "Failed", "Retrying", "Queued", "Running", "Done", "Cancelled",
             "Expired", "Archived"]


def _camel(s: str) -> str:
    return "".join(w.capitalize() for w in s.split("_"))


def _rust_getter(rng: random.Random):
    noun, f = rng.choice(_NOUNS), rng.choice(_FIELDS)
    ty = _RUST_TYPES[f]
    if ty == "String":
        sig, body = f"pub fn {f}(&self) -> &str", f"{{\n    &self.{f}\n}}"
    else:
        sig, body = f"pub fn {f}(&self) -> {ty}", f"{{\n    self.{f}\n}}"
    return f"/// Returns the {f.replace('_', ' ')} of this {noun}.\n{sig}", body, {"noun": noun, "field": f}


def _rust_total(rng: random.Random):
    noun, f = rng.choice(_NOUNS), rng.choice(["amount", "total", "count", "retries", "score"])
    item = _camel(noun)
    filt = rng.choice(["active", "settled", "visible"])
    sig = f"pub fn total_{f}(items: &[{item}]) -> u64"
    body = f"{{\n    items\n        .iter()\n        .filter(|i| i.{filt})\n        .map(|i| i.{f} as u64)\n        .sum()\n}}"
    ex = (f"def total_{f}(items) do\n  items\n  |> Enum.filter(& &1.{filt})\n  |> Enum.map(& &1.{f})\n"
          f"  |> Enum.sum()\nend")
    return f"/// Sums the {f} of all {filt} {noun}s.\n{sig}", body, {"elixir": (f"@doc \"Sums the {f} of all {filt} "
                                                                          f"{noun}s.\"\ndef total_{f}(items)", ex)}


def _rust_display(rng: random.Random):
    noun = rng.choice(_NOUNS)
    enum = _camel(noun) + "State"
    variants = rng.sample(_VARIANTS, rng.randint(2, 10))
    arms = "\n".join(f"            {enum}::{v} => \"{v.lower()}\"," for v in variants)
    sig = f"impl fmt::Display for {enum} {{\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result"
    body = f"{{\n        let s = match self {{\n{arms}\n        }};\n        f.write_str(s)\n    }}\n}}"
    ex_arms = "\n".join(f"  def to_string(:{v.lower()}), do: \"{v.lower()}\"" for v in variants)
    return (f"/// Human-readable name of a {noun} state.\n{sig}", body,
            {"elixir": (f"@doc \"Human-readable name of a {noun} state.\"\ndef to_string(state)", ex_arms)})


def _rust_parse(rng: random.Random):
    noun = rng.choice(_NOUNS)
    fields = rng.sample([f for f in _FIELDS if _RUST_TYPES[f] in ("u64", "u32", "i64", "usize")], rng.randint(1, 5))
    ty = _camel(noun)
    lets = "\n".join(f"    let {f} = parts\n        .next()\n        .ok_or(ParseError::Missing(\"{f}\"))?\n"
                     f"        .trim()\n        .parse()\n        .map_err(|_| ParseError::Invalid(\"{f}\"))?;"
                     for f in fields)
    body = f"{{\n    let mut parts = input.split(',');\n{lets}\n    Ok({ty} {{ {', '.join(fields)} }})\n}}"
    sig = f"pub fn parse_{noun}(input: &str) -> Result<{ty}, ParseError>"
    ex_body = ("  with " + ",\n       ".join(f"{{:ok, {f}}} <- fetch_int(parts, {i}, :{f})" for i, f in enumerate(fields))
               + f" do\n    {{:ok, %{ty}{{{', '.join(f'{f}: {f}' for f in fields)}}}}}\n  end")
    ex = f"def parse_{noun}(input) do\n  parts = String.split(input, \",\")\n\n{ex_body}\nend"
    return (f"/// Parses a {noun} from a comma-separated line.\n{sig}", body,
            {"elixir": (f"@doc \"Parses a {noun} from a comma-separated line.\"\n@spec parse_{noun}(String.t()) :: "
                        f"{{:ok, {ty}.t()}} | {{:error, term()}}\ndef parse_{noun}(input)", ex)})


def _rust_new(rng: random.Random):
    noun = rng.choice(_NOUNS)
    fields = rng.sample(_FIELDS, rng.randint(1, 7))
    params = ", ".join(f"{f}: {'impl Into<String>' if _RUST_TYPES[f] == 'String' else _RUST_TYPES[f]}" for f in fields)
    inits = "\n".join(f"        {f}{': ' + f + '.into()' if _RUST_TYPES[f] == 'String' else ''}," for f in fields)
    return (f"/// Creates a new {noun}.\npub fn new({params}) -> Self", f"{{\n    Self {{\n{inits}\n    }}\n}}", {})


def _elixir_genserver(rng: random.Random):
    noun = rng.choice(_NOUNS)
    f = rng.choice(_FIELDS)
    sig = f"@impl true\ndef handle_call({{:get_{f}, key}}, _from, state)"
    body = (f"  case Map.fetch(state.{noun}s, key) do\n    {{:ok, {noun}}} -> {{:reply, {{:ok, {noun}.{f}}}, state}}\n"
            f"    :error -> {{:reply, {{:error, :not_found}}, state}}\n  end\nend")
    return f"# Looks up the {f} of a {noun} held by the server.\n{sig} do", body


def _elixir_pipeline(rng: random.Random):
    noun, f = rng.choice(_NOUNS), rng.choice(_FIELDS)
    steps = rng.sample([f"|> Enum.reject(&is_nil(&1.{f}))", f"|> Enum.sort_by(& &1.{f})", "|> Enum.take(limit)",
                        f"|> Enum.uniq_by(& &1.{f})", f"|> Enum.map(&Map.take(&1, [:id, :{f}]))",
                        "|> Enum.filter(&(&1.status == :active))"], rng.randint(1, 5))
    body = f"  {noun}s\n  " + "\n  ".join(steps) + "\nend"
    return (f"@doc \"Returns the {noun}s ordered by {f}.\"\ndef top_{noun}s({noun}s, limit \\\\ 10) do", body)


def _elixir_getter(rng: random.Random):
    noun, f = rng.choice(_NOUNS), rng.choice(_FIELDS)
    return (f"@doc \"Returns the {f} of a {noun}.\"\ndef {f}(%{_camel(noun)}{{{f}: {f}}})", f", do: {f}")


def synthetic_examples(n: int, *, seed: int = 0, languages: Iterable[str] = ("rust", "elixir", "rust->elixir"),
                       prefix: str = "syn") -> list[dict]:
    """`n` JSON-ready rows cycling through `languages` (deterministic for a seed)."""
    rng = random.Random(seed)
    langs = list(languages)
    rust_makers = [_rust_getter, _rust_total, _rust_display, _rust_parse, _rust_new]
    pair_makers = [_rust_total, _rust_display, _rust_parse]
    elixir_makers = [_elixir_genserver, _elixir_pipeline, _elixir_getter]
    rows = []
    for i in range(n):
        lang = langs[i % len(langs)]
        if lang == "rust":
            inp, tgt, _ = rng.choice(rust_makers)(rng)
            row = {"input": "// rust: implement\n" + inp, "target": tgt, "task": "implement"}
        elif lang == "elixir":
            inp, tgt = rng.choice(elixir_makers)(rng)
            row = {"input": "# elixir: implement\n" + inp, "target": tgt, "task": "implement"}
        else:
            inp, tgt, extra = rng.choice(pair_makers)(rng)
            ex_sig, ex_body = extra["elixir"]
            row = {"input": "# translate rust to elixir\n" + inp + " " + tgt, "target": ex_body, "task": "translate"}
        row.update({"language": lang, "quality_score": round(rng.uniform(0.55, 1.0), 3),
                    "source_id": f"{prefix}-{lang.replace('->', '2')}-{i}"})
        rows.append(row)
    return rows


def write_jsonl(path: Path | str, rows: Iterable[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path
