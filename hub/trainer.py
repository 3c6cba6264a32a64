"""`Trainer` support: keep the generated model card, and the model code, in what the Trainer uploads.

`Trainer.push_to_hub` saves the model (so the folder gets the model code, the `auto_map` and our card), then writes
its own card over README.md and uploads the folder. Its card records the training (datasets, hyperparameters,
evaluation results) but not the architecture nor how to load the model. Mixed into a Trainer class,
`HubTrainerMixin` merges the two: our card, with the Trainer's record in it. It also copies the model code with the
weights when the Trainer pushes a checkpoint during training (`hub_strategy`), which the library's checkpoint push
leaves out (it copies config.json and the weights only, so the pushed `auto_map` would name missing files).

    class TranslationTrainer(HubTrainerMixin, Seq2SeqTrainer):
        pass

Without the mixin, a Trainer's push still uploads a repository that loads both ways; only its card is the Trainer's.
"""

from __future__ import annotations

import os
import shutil

from ..modeling import TransformerPreTrainedModel
from .model_card import write_model_card


class HubTrainerMixin:
    """Mix into a `transformers.Trainer` (sub)class, before it in the bases."""

    def create_model_card(self, *args, **kwargs):
        super().create_model_card(*args, **kwargs)
        if not self.is_world_process_zero():
            return
        model = self.accelerator.unwrap_model(self.model)
        if not isinstance(model, TransformerPreTrainedModel):
            return
        model_id = (
            getattr(self, "hub_model_id", None)
            or self.args.hub_model_id
            or os.path.basename(os.path.abspath(self.args.output_dir))
        )
        write_model_card(self.args.output_dir, model, model_id=model_id)

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        model = self.accelerator.unwrap_model(self.model)
        if self.is_world_process_zero() and isinstance(model, TransformerPreTrainedModel):
            for name in os.listdir(checkpoint_folder):
                if name.endswith(".py"):
                    shutil.copy(os.path.join(checkpoint_folder, name), os.path.join(self.args.output_dir, name))
        super()._push_from_checkpoint(checkpoint_folder)
