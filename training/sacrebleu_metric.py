"""sacreBLEU as an `evaluate` module, for machines that cannot reach the Hub's `evaluate-metric/sacrebleu`.

Load it with `vanilla_transformer.training.load_metric("sacrebleu")` (which prefers the Hub copy when it can be
loaded) or directly with `evaluate.load(<path of this file>)`. It takes the same arguments and returns the same
fields as the Hub module (`score`, `counts`, `totals`, `precisions`, `bp`, `sys_len`, `ref_len`), and like it only
calls `sacrebleu.corpus_bleu`: the figures are sacreBLEU's own.

This file is loaded by `evaluate` as a standalone script: it must import nothing from this package.
"""

import datasets
import evaluate
import sacrebleu as scb


_CITATION = """\
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    publisher = "Association for Computational Linguistics",
    url = "https://www.aclweb.org/anthology/W18-6319",
    pages = "186--191",
}
"""

_DESCRIPTION = """\
Corpus BLEU computed by sacreBLEU (https://github.com/mjpost/sacreBLEU), the same computation as the Hub's
`sacrebleu` metric: `sacrebleu.corpus_bleu` on the predictions and references as given.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the translations to score.
    references (list of list of str, or list of str): one or more references per prediction (the same number each).
    smooth_method (str): 'none', 'floor', 'add-k' or 'exp' (default).
    smooth_value (float): the value for 'floor' and 'add-k'.
    tokenize (str): sacreBLEU's tokenizer: '13a' (default for detokenized text), 'none' (already tokenized text,
        e.g. the lowercased Moses-tokenized Multi30k), 'intl', 'zh', 'ja-mecab', 'char', ...
    lowercase (bool): score case-insensitively. Defaults to False.
    force (bool): accept text that looks tokenized without a warning. Defaults to False.
    use_effective_order (bool): ignore n-gram orders with no match (for sentence-level scores). Defaults to False.
Returns:
    'score', 'counts', 'totals', 'precisions', 'bp', 'sys_len', 'ref_len'.
Example:
    >>> results = metric.compute(predictions=["hello there general kenobi"], references=[["hello there general kenobi"]])
    >>> round(results["score"], 1)
    100.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            homepage="https://github.com/mjpost/sacreBLEU",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence"), id="references"),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/mjpost/sacreBLEU"],
            reference_urls=["https://github.com/mjpost/sacreBLEU"],
        )

    def _compute(
        self,
        predictions,
        references,
        smooth_method="exp",
        smooth_value=None,
        force=False,
        lowercase=False,
        tokenize=None,
        use_effective_order=False,
    ):
        if isinstance(references[0], str):  # one reference per prediction
            references = [[reference] for reference in references]
        per_prediction = len(references[0])
        if any(len(refs) != per_prediction for refs in references):
            raise ValueError("Sacrebleu requires the same number of references for each prediction")
        reference_streams = [[refs[i] for refs in references] for i in range(per_prediction)]
        output = scb.corpus_bleu(
            predictions,
            reference_streams,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            force=force,
            lowercase=lowercase,
            use_effective_order=use_effective_order,
            **(dict(tokenize=tokenize) if tokenize else {}),
        )
        return {
            "score": output.score,
            "counts": output.counts,
            "totals": output.totals,
            "precisions": output.precisions,
            "bp": output.bp,
            "sys_len": output.sys_len,
            "ref_len": output.ref_len,
        }
