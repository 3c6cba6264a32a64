"""Sharing on the Hugging Face Hub: self-contained remote code, `auto_map`, model cards and `push_to_hub`.

With the package installed, `save_pretrained` of its configs and models writes, besides config.json, the
safetensors weights and generation_config.json:

- an `auto_map` in config.json naming every Auto class of the checkpoint's variant, and the package version;
- the model code as flat `.py` files generated from the package's source (`remote_code`), so that
  `AutoModel...from_pretrained(folder, trust_remote_code=True)` loads the checkpoint without the package;
- a README.md model card (`model_card`).

`model.push_to_hub(repo_id)` uploads exactly those files (`saving`), and `HubTrainerMixin` keeps them, card included,
in what a `Trainer` uploads (`trainer`). The configs and models call into this package from their `save_pretrained`
and `push_to_hub`; the copies of their code saved for `trust_remote_code` do not, and save as the library does.
"""

from .model_card import CARD_FIELDS, GENERATED_MARKER, build_model_card, card_origin, write_model_card
from .remote_code import RemoteCodeError, auto_map, remote_code_files, render_module, write_remote_code
from .saving import push_model, save_config, save_model
from .trainer import HubTrainerMixin


__all__ = [
    "CARD_FIELDS",
    "GENERATED_MARKER",
    "HubTrainerMixin",
    "RemoteCodeError",
    "auto_map",
    "build_model_card",
    "card_origin",
    "push_model",
    "remote_code_files",
    "render_module",
    "save_config",
    "save_model",
    "write_model_card",
    "write_remote_code",
]
