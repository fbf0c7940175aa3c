"""BLEU through sacrebleu: corpus-level, on sacrebleu's 0-100 scale, one reference per prediction."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = """\
Corpus BLEU-4 as sacrebleu computes it (default tokenizer 13a, exp smoothing, brevity penalty), on its 0-100 scale.
Identical texts score 100; a pair shorter than 4 tokens has no 4-gram and scores 0 (sacrebleu's standard behaviour).
"""

_CITATION = """\
@inproceedings{post-2018-call,
  title = "A Call for Clarity in Reporting {BLEU} Scores",
  author = "Post, Matt",
  booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
  year = "2018",
  pages = "186--191",
}
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated texts.
    references: one reference text per prediction.
    tokenize: sacrebleu tokenizer name (default "13a"; "char", "none", ... as sacrebleu accepts).
    languages, kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    bleu: corpus BLEU, 0-100.
    precisions: the four n-gram precisions, 0-100.
    brevity_penalty: sacrebleu's BP.
    signature: sacrebleu's signature string (what to report beside the score).
"""


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, tokenize="13a", languages=None, kinds=None):
        scorer = sacrebleu.BLEU(tokenize=tokenize)
        result = scorer.corpus_score(list(predictions), [list(references)])
        return {
            "bleu": result.score,
            "precisions": list(result.precisions),
            "brevity_penalty": result.bp,
            "signature": str(scorer.get_signature()),
        }
