"""chrF through sacrebleu: corpus-level, on sacrebleu's 0-100 scale, one reference per prediction."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = """\
Corpus chrF as sacrebleu computes it (character 6-grams, beta 2; word_order 2 gives chrF++), on its 0-100 scale.
Whitespace is ignored by chrF, so re-indented code scores the same as the original.
"""

_CITATION = """\
@inproceedings{popovic-2015-chrf,
  title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
  author = "Popovi{\\'c}, Maja",
  booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
  year = "2015",
  pages = "392--395",
}
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated texts.
    references: one reference text per prediction.
    word_order: 0 for chrF (default), 2 for chrF++.
    languages, kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    chrf: corpus chrF, 0-100.
    signature: sacrebleu's signature string.
"""


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, word_order=0, languages=None, kinds=None):
        scorer = sacrebleu.CHRF(word_order=word_order)
        result = scorer.corpus_score(list(predictions), [list(references)])
        return {"chrf": result.score, "signature": str(scorer.get_signature())}
