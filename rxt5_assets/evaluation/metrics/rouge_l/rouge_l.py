"""ROUGE-L F-measure through rouge-score, on code tokens: the mean over predictions, on a 0-1 scale."""

import re

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = """\
ROUGE-L (longest common subsequence) F-measure per prediction, averaged over predictions, 0-1 (rouge-score's scale).
rouge-score's default tokenizer lowercases and drops every character outside [a-z0-9], which throws away all of
code's punctuation ({ } ( ) ; -> |> ...); here the default tokenizer is "code": identifiers, numbers and each
punctuation character are tokens and case is kept. tokenizer="words" gives rouge-score's own behaviour.
"""

_CITATION = """\
@inproceedings{lin-2004-rouge,
  title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
  author = "Lin, Chin-Yew",
  booktitle = "Text Summarization Branches Out",
  year = "2004",
  pages = "74--81",
}
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated texts.
    references: one reference text per prediction.
    tokenizer: "code" (default: identifiers, numbers and single punctuation characters, case kept) or "words"
        (rouge-score's default: lowercase alphanumeric words, punctuation dropped).
    languages, kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    rouge_l: mean ROUGE-L F-measure, 0-1.
    rouge_l_precision, rouge_l_recall: the means of precision and recall, 0-1.
"""

_CODE_TOKEN = re.compile(r"\w+|[^\w\s]")


class CodeTokenizer:
    """What rouge-score calls: tokenize(text) -> list of tokens."""

    def tokenize(self, text):
        return _CODE_TOKEN.findall(text)


class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, tokenizer="code", languages=None, kinds=None):
        if tokenizer == "code":
            scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CodeTokenizer())
        elif tokenizer == "words":
            scorer = rouge_scorer.RougeScorer(["rougeL"])
        else:
            raise ValueError(f"tokenizer must be 'code' or 'words', got {tokenizer!r}")
        scores = [scorer.score(ref, pred)["rougeL"] for pred, ref in zip(predictions, references)]
        n = len(scores)
        if not n:
            return {"rouge_l": None, "rouge_l_precision": None, "rouge_l_recall": None}
        return {
            "rouge_l": sum(s.fmeasure for s in scores) / n,
            "rouge_l_precision": sum(s.precision for s in scores) / n,
            "rouge_l_recall": sum(s.recall for s in scores) / n,
        }
