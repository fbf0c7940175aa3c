"""CodeBLEU for Rust and Elixir (0-1), with its four components; see rxt5_assets.evaluation.code_bleu."""

import datasets
import evaluate

from rxt5_assets.evaluation import code_bleu as code_bleu_impl

_DESCRIPTION = """\
CodeBLEU (Ren et al. 2020) on the project's tree-sitter grammars, 0-1:
0.25 BLEU over code tokens + 0.25 keyword-weighted BLEU + 0.25 syntax-subtree match + 0.25 data-flow match.
The PyPI codebleu package has no Elixir grammar and pins tree-sitter<0.24, hence this implementation. A component
whose references hold nothing to match (no subtree, no data flow) is None and its weight goes to the others.
"""

_CITATION = """\
@misc{ren2020codebleu,
  title = {CodeBLEU: a Method for Automatic Evaluation of Code Synthesis},
  author = {Shuo Ren and Daya Guo and Shuai Lu and Long Zhou and Shujie Liu and Duyu Tang and Neel Sundaresan
            and Ming Zhou and Ambrosio Blanco and Shuai Ma},
  year = {2020},
  eprint = {2009.10297},
  archivePrefix = {arXiv},
}
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: generated code.
    references: one reference item per prediction.
    languages: the language of each sample ("rust" or "elixir").
    weights: the four component weights (default 0.25 each).
    kinds: ignored; accepted so that evaluate.combine can pass one set of inputs to every module.
Returns:
    code_bleu, ngram_match, weighted_ngram_match, syntax_match, dataflow_match: corpus-level, 0-1 (None for a
    component with nothing to match in the references).
"""


class CodeBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                    "languages": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references, languages, weights=code_bleu_impl.WEIGHTS, kinds=None):
        return code_bleu_impl.code_bleu(predictions, references, languages, weights=weights)
