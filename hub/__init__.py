"""Sharing on the Hugging Face Hub: model cards, the variant's whole `auto_map`, and `push_to_hub`.

With the package installed, `save_pretrained` of its models writes, besides what the library writes (config.json, the
safetensors weights, generation_config.json and the model folder's code for `trust_remote_code`):

- an `auto_map` in config.json naming every Auto class of the checkpoint's variant, and the package version;
- a README.md model card (`model_card`).

`model.push_to_hub(repo_id)` uploads exactly those files (`saving`), and `HubTrainerMixin` keeps them, card included,
in what a `Trainer` uploads (`trainer`). The package plugs `HubSupport` into its models on import; the code saved
beside a checkpoint runs without it and saves as the library does.
"""

from .model_card import CARD_FIELDS, GENERATED_MARKER, build_model_card, card_origin, write_model_card
from .saving import HubSupport
from .trainer import HubTrainerMixin


__all__ = [
    "CARD_FIELDS",
    "GENERATED_MARKER",
    "HubSupport",
    "HubTrainerMixin",
    "build_model_card",
    "card_origin",
    "write_model_card",
]
