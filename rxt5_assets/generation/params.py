"""Decoding parameters per language and quality level, and how a request names the kind of item it wants.

Built-in defaults (`DEFAULTS`), then `$RXT5_HOME/generation.toml` when it exists (or the file given to the engine),
then the engine's constructor argument, then a request's own overrides — each layer replaces only the keys it sets:

    # $RXT5_HOME/generation.toml — "*" matches every language / every level
    ["*".production]
    num_candidates = 12
    [elixir."*"]
    max_new_tokens = 224
    [rust.standard]
    temperature = 0.6

The same shape as a dict is the constructor's `params=` (`{"rust": {"production": {"num_candidates": 12}}}`). A level
named in the file but not built in (say `[rust.fast]`) becomes a level of its own, starting from `standard`.

Quality levels (built in):
  draft       one greedy candidate; flagged low-quality below 0.4 (the quality score of a clean item showing no
              indicator); never refused
  standard    best of 4 samples; flagged low-quality below 0.5
  production  best of 8 samples; below 0.7 (the seed's training-example threshold) or with no strict-valid candidate
              the result is an *error* (quality_below_threshold) carrying the best candidate

A candidate is low-quality when it is not a strict-valid item of the requested kind, or when the language's quality
score is below `low_quality_threshold`.

The numbers start from the evaluation's settings (temperature 0.8, top-p 0.95, repetition penalty 1.2 — the value that
stops tiny models' greedy loops — best-of-8); Elixir gets more new tokens than Rust because its items carry `@doc`
heredocs and `do … end` blocks (a demo-corpus Elixir item is longer in tokens than a Rust one at the same line count).
They are starting points, not tuned per language on held-out data.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

CONFIG_FILE = "generation.toml"
ANY = "*"


@dataclass(frozen=True)
class DecodingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 160
    repetition_penalty: float = 1.2
    num_candidates: int = 4  # k: candidates generated and scored; the best is returned
    sample: bool = True  # False: greedy (then num_candidates is 1)
    low_quality_threshold: float = 0.5  # below it (or not strict-valid) the result is flagged low-quality
    reject_low_quality: bool = False  # True: a low-quality best candidate is an error result (production)
    # a repeated n-gram of this many tokens is never generated (0: off); stops the small bases' loops
    no_repeat_ngram_size: int = 4
    signature_prefix: bool = True  # with a signature, the output starts with it (implement_signature)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.temperature <= 5:
            problems.append(f"temperature must be in (0, 5] (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1] (got {self.top_p})")
        if not 1 <= self.max_new_tokens <= 4096:
            problems.append(f"max_new_tokens must be in [1, 4096] (got {self.max_new_tokens})")
        if not 1 <= self.repetition_penalty <= 5:
            problems.append(f"repetition_penalty must be in [1, 5] (got {self.repetition_penalty})")
        if not 1 <= self.num_candidates <= 64:
            problems.append(f"num_candidates must be in [1, 64] (got {self.num_candidates})")
        if not 0 <= self.no_repeat_ngram_size <= 64:
            problems.append(f"no_repeat_ngram_size must be in [0, 64] (got {self.no_repeat_ngram_size})")
        if not 0 <= self.low_quality_threshold <= 1.01:
            problems.append(f"low_quality_threshold must be in [0, 1] (got {self.low_quality_threshold})")
        if problems:
            raise ValueError("; ".join(problems))
        if not self.sample and self.num_candidates != 1:
            object.__setattr__(self, "num_candidates", 1)  # greedy decoding yields one candidate

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "DecodingParams":
        if not overrides:
            return self
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown decoding parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
        coerced = {}
        for name, value in overrides.items():
            default = getattr(self, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false (got {value!r})")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{name} must be an integer (got {value!r})")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name} must be a number (got {value!r})")
                value = float(value)
            coerced[name] = value
        return replace(self, **coerced)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


QUALITY_LEVELS = ("draft", "standard", "production")

_LEVELS: dict[str, dict[str, Any]] = {
    "draft": {"sample": False, "num_candidates": 1, "low_quality_threshold": 0.4},
    "standard": {"num_candidates": 4, "low_quality_threshold": 0.5},
    "production": {"num_candidates": 8, "low_quality_threshold": 0.7, "reject_low_quality": True},
}
_LANGUAGES: dict[str, dict[str, Any]] = {
    "rust": {"temperature": 0.8, "max_new_tokens": 160},
    "elixir": {"temperature": 0.8, "max_new_tokens": 192},
}

#: {language: {level: DecodingParams}}; a language missing here gets ANY's values
DEFAULTS: dict[str, dict[str, DecodingParams]] = {
    language: {level: DecodingParams(**{**per_language, **per_level}) for level, per_level in _LEVELS.items()}
    for language, per_language in {**_LANGUAGES, ANY: {}}.items()
}


class ParamsTable:
    """The resolved table: built-in defaults overlaid with a config file and/or a dict (module docstring)."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
                 config_file: str | Path | None = None):
        self.source: list[str] = ["built-in defaults"]
        layers: list[Mapping[str, Mapping[str, Mapping[str, Any]]]] = []
        if config_file is not None and Path(config_file).is_file():
            try:
                layers.append(tomllib.loads(Path(config_file).read_text()))
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{config_file}: not valid TOML: {exc}") from None
            self.source.append(str(config_file))
        if overrides:
            layers.append(overrides)
            self.source.append("constructor")
        for layer in layers:
            for language, levels in layer.items():
                if not isinstance(levels, Mapping) or not all(isinstance(v, Mapping) for v in levels.values()):
                    raise ValueError(f"generation parameters: [{language}] must hold tables per quality level, "
                                     f"e.g. [{language}.standard] (or [{language}.\"*\"])")
        self._layers = layers
        self.levels = tuple(dict.fromkeys([*QUALITY_LEVELS, *(level for layer in layers for levels in layer.values()
                                                              for level in levels if level != ANY)]))

    def get(self, language: str, level: str) -> DecodingParams:
        if level not in self.levels:
            raise KeyError(f"unknown quality level {level!r}; known: {', '.join(self.levels)}")
        table = DEFAULTS.get(language, DEFAULTS[ANY])
        params = table.get(level, table["standard"])
        for layer in self._layers:
            for lang_key in (ANY, language):
                for level_key in (ANY, level):
                    values = layer.get(lang_key, {}).get(level_key)
                    if values:
                        try:
                            params = params.with_overrides(values)
                        except ValueError as exc:
                            raise ValueError(f"generation parameters [{lang_key}.{level_key}]: {exc}") from None
        return params

    def as_dict(self, languages: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        return {language: {level: self.get(language, level).as_dict() for level in self.levels}
                for language in languages}


# ---------------------------------------------------------------------------------------------------------------------
# the kind of item a request asks for

#: per language, (pattern on the lower-cased prompt, kind), first match wins; then the default. The kinds are those the
#: `generate` training task was built on (the analysed chunk's kind), so the prompt reads like a training input.
KIND_HINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "rust": (
        (r"\benum(eration)?\b|\bvariants?\b", "enum"),
        (r"\btrait\b(?! impl)", "trait"),
        (r"\bimpl(ements?)? \w+ for\b|\btrait impl", "trait_impl"),  # "implement Display for Money"
        (r"\bstruct(ure)?\b|\brecord\b", "struct"),
        (r"\bmacro\b", "macro"),
        (r"\bmod(ule)?\b", "module"),
        (r"\bconst(ant)?\b", "const"),
    ),
    "elixir": (
        (r"\bprotocol\b", "protocol"),
        (r"\b(genserver|gen_server|supervisor|agent|module|behaviou?r|application|registry|struct)\b", "module"),
        (r"\bmacro\b", "defmacro"),
        (r"\bprivate (function|helper)\b|\bhelper\b", "defp"),
    ),
}
DEFAULT_KIND = {"rust": "function", "elixir": "def"}


def infer_kind(language: str, prompt: str) -> str | None:
    """The item kind a prompt asks for ("Create a GenServer …" → module in Elixir); None for a language without
    hints."""
    text = prompt.lower()
    for pattern, kind in KIND_HINTS.get(language, ()):
        if re.search(pattern, text):
            return kind
    return DEFAULT_KIND.get(language)


def implement_signature(model_text: str) -> str | None:
    """The signature an `implement` prompt ends with (`implement <lang>: [<description>\n]<signature>`, the format of
    model_input and data/examples.py), or None: another task, or a last line that continues a longer signature (leading
    whitespace, or `)` / `->` / `where` / `{`...) — a multi-line signature cannot be told apart from its description.

    Decoding starts the output with it (EvaluationSettings.signature_prefix; self-training always): the item
    implements the signature it was asked for. Chosen on the public held-out split, not the org's (README)."""
    if not model_text.startswith("implement "):
        return None
    header, sep, body = model_text.partition(": ")
    if not sep or "->" in header:
        return None
    line = body.rsplit("\n", 1)[-1]
    if not line.strip() or line[0].isspace() or line.lstrip().startswith((")", "]", "}", ">", ",", "->", "where", "{")):
        return None
    return line.rstrip()


def generate_doc_prefix(model_text: str) -> str | None:
    """What a `generate` prompt's output starts with (`generate <lang> <kind>: <description>`): the description as the
    language writes an item's docs (its module's `generate_prefix`: Rust `/// ...` lines, Elixir's `@doc` heredoc
    or `defmodule `), or None: another task, an unknown language, or one without that rule."""
    if not model_text.startswith("generate "):
        return None
    header, sep, description = model_text.partition(": ")
    words = header.split()
    if not sep or len(words) != 3:
        return None
    from rxt5_assets import languages

    try:
        module = languages.get(words[1])
    except KeyError:  # an unregistered language decodes freely
        return None
    rule = getattr(module, "generate_prefix", None)
    return rule(words[2], description) if rule is not None else None


def output_prefix(model_text: str, *, signature: bool = True, docs: bool = True) -> str | None:
    """The text decoding starts an output with: an `implement` prompt's signature (`implement_signature`, with
    `signature`), a `generate` prompt's docs (`generate_doc_prefix`, with `docs`), else None. Both chosen on the
    public held-out split, not the org's (README "Decoding")."""
    if model_text.startswith("implement "):
        return implement_signature(model_text) if signature else None
    return generate_doc_prefix(model_text) if docs else None


def model_input(language: str, kind: str | None, prompt: str, signature: str | None = None) -> str:
    """The prompt phrased as the training task it matches (data/examples.py): with a signature the `implement` task
    (`implement <lang>: <description>\\n<signature>` → the item without docs), else the `generate` task
    (`generate <lang> <kind>: <description>` → the whole item, docs included)."""
    description = " ".join(prompt.split())
    if signature and signature.strip():
        return f"implement {language}: {description}\n{signature.strip()}" if description else \
            f"implement {language}: {signature.strip()}"
    return f"generate {language} {kind or 'item'}: {description}"
