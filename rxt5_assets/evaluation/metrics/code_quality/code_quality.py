"""The language's own quality score of the generated code, the mean over predictions (0-1)."""

import datasets
import evaluate

from rxt5_assets import languages as language_registry
from rxt5_assets.data.quality import quality_score

_DESCRIPTION = """\
Code quality, 0-1: rxt5's quality score — the same formula that selects training examples (seed indicators from the
language module, penalties for syntax errors, generated-code markers, length and letter share) — applied to each
prediction, averaged.
"""

_CITATION = ""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated code.
    languages: the language of each sample.
    kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    code_quality: mean quality score, 0-1 (None for no predictions).
    code_quality_<language>: the same per language present.
    scores: one score per prediction.
"""


class CodeQuality(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "languages": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, languages, kinds=None):
        scores = []
        for code, lang in zip(predictions, languages):
            module = language_registry.get(lang)
            analysis = module.analyze(code)
            scores.append(quality_score(code, analysis, module.quality_indicators(analysis))[0])
        result = {"code_quality": sum(scores) / len(scores) if scores else None}
        for lang in sorted(set(languages)):
            mine = [s for s, la in zip(scores, languages) if la == lang]
            result[f"code_quality_{lang}"] = sum(mine) / len(mine)
        result["scores"] = scores
        return result
