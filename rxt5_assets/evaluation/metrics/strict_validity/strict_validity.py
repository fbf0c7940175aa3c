"""Share of predictions that parse cleanly AND are the requested kind of item (0-1)."""

import datasets
import evaluate

from rxt5_assets import languages as language_registry

_DESCRIPTION = """\
Strict validity, 0-1: the share of predictions for which the language module's is_valid_item(code, kind) holds —
the tree-sitter parse has no ERROR/MISSING node, the top level holds only items (Rust) or definitions (Elixir), and,
when a kind is asked, one top-level item is of that kind. A bare parse check is not enough: tree-sitter-elixir
parses a run of identifiers such as `defp format_to_to_to` without error.
"""

_CITATION = ""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated code.
    languages: the language of each sample ("rust", "elixir", any registered language).
    kinds: the requested item kind of each sample ("function", "struct", "module", "def", ...), "" for any item.
Returns:
    strict_validity: share of valid predictions, 0-1 (None for no predictions).
    strict_validity_<language>: the same per language present.
    valid: one bool per prediction.
"""


class StrictValidity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "languages": datasets.Value("string"),
                    "kinds": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, languages, kinds):
        valid = [
            language_registry.get(lang).is_valid_item(code, kind or None)
            for code, lang, kind in zip(predictions, languages, kinds)
        ]
        result = {"strict_validity": sum(valid) / len(valid) if valid else None}
        for lang in sorted(set(languages)):
            mine = [v for v, la in zip(valid, languages) if la == lang]
            result[f"strict_validity_{lang}"] = sum(mine) / len(mine)
        result["valid"] = valid
        return result
