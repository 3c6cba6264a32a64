"""Two corrections to the library's `Trainer` (transformers 5.24), as mixins; `InOrderTrainer` and
`InOrderSeq2SeqTrainer` include them.

- `TiedWeightsResumeMixin`: resuming from a checkpoint no longer reports the tied weights as missing keys.
  `save_pretrained` stores a tied weight once (`lm_head.weight` is the token embedding), so the checkpoint has no
  `lm_head.weight`; `Trainer._issue_warnings_after_load` still checks the missing keys against
  `_keys_to_ignore_on_save`, the mechanism of transformers 4, and logs "There were missing keys in the checkpoint model
  loaded: [..., 'lm_head.weight']" on every resume (library models with tied weights, BART or T5, do the same).
  Nothing is missing: loading the embedding loaded the tied weight with it.
- `KeepGenerationConfigMixin`: evaluating with `generate()` leaves the model's generation config as it was.
  `Seq2SeqTrainer.prediction_step` fills the library's global defaults into `model.generation_config` (`max_length`
  20, `top_k` 50, ...), which every later save writes to generation_config.json: the saved model then cuts its output
  at 20 tokens, and `generate(max_new_tokens=...)` warns that `max_length` is set too.

Once the library fixes either, its mixin's test fails, and the mixin can go.
"""

from __future__ import annotations

import copy


class TiedWeightsResumeMixin:
    """Mix into a `Trainer` (sub)class, before it in the bases: resuming reports as missing only weights that are
    missing, not those tied to a weight the checkpoint holds."""

    def _issue_warnings_after_load(self, load_result):
        model = self.accelerator.unwrap_model(self.model)
        tied = getattr(model, "all_tied_weights_keys", None) or {}
        missing = [key for key in load_result.missing_keys if not _shares_storage(model, key, tied.get(key))]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))


class KeepGenerationConfigMixin:
    """Mix into a `Seq2SeqTrainer` (sub)class, before it in the bases: `predict_with_generate` evaluation leaves
    `model.generation_config` as it was, so that what is saved is what the model was given."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        kept = copy.deepcopy(self.model.generation_config)
        try:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)
        finally:
            self.model.generation_config = kept


def _shares_storage(model, key: str, source: str | None) -> bool:
    """Whether parameter `key` is tied to `source`: the same tensor, so loading one loaded the other."""
    if source is None:
        return False
    try:
        return model.get_parameter(key) is model.get_parameter(source)
    except AttributeError:
        return False


__all__ = ["KeepGenerationConfigMixin", "TiedWeightsResumeMixin"]
