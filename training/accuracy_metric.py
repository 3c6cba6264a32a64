"""Accuracy as an `evaluate` module, for machines that cannot load the Hub's `evaluate-metric/accuracy` (no network,
or no scikit-learn, which that module imports).

Load it with `vanilla_transformer.training.load_metric("accuracy")` (which prefers the Hub copy when it can be loaded)
or directly with `evaluate.load(<path of this file>)`. It takes the same arguments (`predictions`, `references`,
`normalize`, `sample_weight`) and returns the same field (`accuracy`) as the Hub module, whose
`sklearn.metrics.accuracy_score` computes the same thing: the (weighted) fraction of predictions equal to their
reference, or their (weighted) count with `normalize=False`.

This file is loaded by `evaluate` as a standalone script: it must import nothing from this package.
"""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """\
Accuracy is the proportion of correct predictions among the total number of cases processed:
Accuracy = (TP + TN) / (TP + TN + FP + FN).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): ground-truth labels.
    normalize (bool): if False, return the number of correctly classified samples; otherwise the fraction. Defaults
        to True.
    sample_weight (list of float): sample weights. Defaults to None.
Returns:
    accuracy (float): accuracy, in [0, 1] with normalize=True; the (weighted) number of correct predictions
        otherwise.
Example:
    >>> metric.compute(references=[0, 1, 2, 0, 1, 2], predictions=[0, 1, 1, 2, 1, 0])
    {'accuracy': 0.5}
"""

_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
          Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
          Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int32"),
                    "references": datasets.Value("int32"),
                }
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        predictions = np.asarray(predictions)
        references = np.asarray(references)
        if predictions.shape != references.shape:
            raise ValueError(f"predictions and references differ in length: {predictions.shape} vs {references.shape}.")
        correct = (predictions == references).astype(np.float64)
        if sample_weight is None:
            weights = np.ones_like(correct)
        else:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != correct.shape:
                raise ValueError(f"sample_weight has shape {weights.shape}, the predictions {correct.shape}.")
        total = float(np.dot(correct, weights))
        return {"accuracy": total / float(weights.sum()) if normalize else total}
