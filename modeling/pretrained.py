"""The base classes of the models: `TransformerPreTrainedModel` (weight initialisation, capability flags, clear loading
errors) and `TransformerStack`, what the encoder and the decoder stacks share."""

import hashlib
import os
from typing import ClassVar

import torch
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .configuration_transformer import TransformerConfigBase
from .embeddings import TransformerEmbeddings


# Beside the weights, the SHA-256 of each safetensors file as `sha256sum` writes it (`sha256sum -c` checks it too):
# the format has no checksum of its own, so a corrupted tensor would otherwise load silently.
CHECKSUMS_FILE = "checksums.sha256"


class TransformerPreTrainedModel(PreTrainedModel):
    config: TransformerConfigBase
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerEncoderLayer", "TransformerDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # a decoding step with a static cache compiles as one graph (tests/test_compile.py): `generate()` then compiles it
    # by itself on an accelerator when `cache_implementation="static"`, as for GPT-2 and Llama
    _can_compile_fullgraph = True

    # What the package adds to `save_pretrained` and `push_to_hub` (a README model card, filled in by `model_card=`,
    # and every Auto class of the variant in config.json): `vanilla_transformer.hub` plugs it in when the package is
    # imported. The copy of this file saved beside a checkpoint for `trust_remote_code` runs without the package, and
    # saves as the library does.
    hub_support: ClassVar[object | None] = None

    def __init__(self, config: TransformerConfigBase, *inputs, **kwargs):
        # A config changed after it was built (`config.update(...)`, a field set by hand, overrides passed to
        # `from_pretrained`) is checked again here, with the same errors as at its construction.
        config.check()
        super().__init__(config, *inputs, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # init_std=None: Xavier-uniform linears and N(0, d_model^-0.5) embeddings, so that embeddings scaled by
        # sqrt(d_model) have unit variance like the positional encoding. A float init_std: N(0, init_std) everywhere.
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            if std is None:
                init.xavier_uniform_(module.weight)
            else:
                init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=self.config.d_model**-0.5 if std is None else std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        # Two failures the library reports without naming the file: a truncated or corrupt safetensors file, and
        # weights whose shapes differ from those config.json describes (its error points to a log record). Both become
        # errors that say which file holds what. Missing keys stay the library's: logged, and listed by
        # `output_loading_info=True`.
        #
        # Stricter than the library: only safetensors load unless `use_safetensors=False` says otherwise (a
        # `pytorch_model.bin` is a pickle), and a local folder's weights must match the checksums saved with them
        # (`verify_checksums=False` skips that).
        output_loading_info = kwargs.pop("output_loading_info", False)
        ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
        verify_checksums = kwargs.pop("verify_checksums", True)
        if kwargs.get("use_safetensors") is None:
            _refuse_pickled_weights(pretrained_model_name_or_path, kwargs)
            kwargs["use_safetensors"] = True
        if verify_checksums:
            _verify_checksums(pretrained_model_name_or_path, kwargs)
        try:
            model, loading_info = super().from_pretrained(
                pretrained_model_name_or_path,
                *model_args,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # mismatches are re-initialised, then refused below unless asked for
                **kwargs,
            )
        except SafetensorError as error:
            raise OSError(_corrupt_weights_message(pretrained_model_name_or_path, kwargs, error)) from error
        mismatched = sorted(loading_info["mismatched_keys"])
        if mismatched and not ignore_mismatched_sizes:
            shown = "; ".join(
                f"{key}: {tuple(saved)} in the weights, {tuple(built)} from config.json"
                for key, saved, built in mismatched[:5]
            )
            more = f" (and {len(mismatched) - 5} more)" if len(mismatched) > 5 else ""
            files = _weights_files(pretrained_model_name_or_path, kwargs)
            raise RuntimeError(
                f"The weights in {' and '.join(files) or pretrained_model_name_or_path} do not fit the model its "
                f"config.json describes: {shown}{more}. The config and the weights come from different models, or the "
                "config was edited. Pass `ignore_mismatched_sizes=True` to re-initialise these weights instead."
            )
        return (model, loading_info) if output_loading_info else model

    def _validate_generated_length(self, generation_config, input_ids_length, has_default_max_length):
        # `generate()` calls this once, before the first step: a generation longer than learned positions reach is
        # refused there, not when decoding gets to the limit.
        super()._validate_generated_length(generation_config, input_ids_length, has_default_max_length)
        limit = self.config.max_position_embeddings
        if self.config.position_embedding_type == "learned" and generation_config.max_length > limit:
            raise ValueError(
                f"Generating up to {generation_config.max_length} tokens ({input_ids_length} given) needs positions up "
                f"to {generation_config.max_length - 1}, but learned position embeddings cover "
                f"max_position_embeddings={limit}: lower `max_new_tokens` (at most {limit - input_ids_length} here) "
                "or shorten the prompt."
            )

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.hub_support is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        return self.hub_support.save_model(self, super().save_pretrained, save_directory, *args, **kwargs)

    def push_to_hub(self, repo_id: str, *args, **kwargs):
        if self.hub_support is None:
            return super().push_to_hub(repo_id, *args, **kwargs)
        return self.hub_support.push_model(self, repo_id, *args, **kwargs)


class TransformerStack(TransformerPreTrainedModel):
    """A stack of `num_layers` layers of `layer_class` on top of the embeddings; for pre-LN, a final LayerNorm (the
    paper's post-LN already ends on one)."""

    layer_class: ClassVar[type[nn.Module]]

    def __init__(self, config: TransformerConfigBase, num_layers: int):
        super().__init__(config)
        self.embeddings = TransformerEmbeddings(config)
        self.layers = nn.ModuleList([self.layer_class(config, i) for i in range(num_layers)])
        self.final_norm = (
            nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)
            if config.norm_first
            else nn.Identity()
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.embed_tokens = value


def _weights_files(name_or_path, kwargs: dict) -> list[str]:
    """The safetensors files of a local checkpoint folder (none for a Hub repository id)."""
    folder = os.path.join(str(name_or_path), kwargs.get("subfolder") or "")
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".safetensors")]


def _refuse_pickled_weights(name_or_path, kwargs: dict) -> None:
    folder = os.path.join(str(name_or_path), kwargs.get("subfolder") or "")
    if os.path.isdir(folder) and not _weights_files(name_or_path, kwargs):
        pickled = sorted(name for name in os.listdir(folder) if name.endswith(".bin"))
        if pickled:
            raise OSError(
                f"{folder} holds its weights only as {', '.join(pickled)}, a pickle, which these models do not load "
                "by default. If you trust where it comes from, load it with `use_safetensors=False` (the library then "
                "unpickles it with `weights_only=True`) and save it again: `save_pretrained` writes safetensors."
            )


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: str | os.PathLike) -> str:
    """Record the SHA-256 of every safetensors file of `folder` in its `checksums.sha256`, which loading verifies;
    written beside it first and renamed into place, so a crash never leaves a partial list."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(".safetensors"))
    lines = "".join(f"{file_sha256(os.path.join(folder, name))}  {name}\n" for name in names)
    path = os.path.join(folder, CHECKSUMS_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as file:
        file.write(lines)
    os.replace(path + ".tmp", path)
    return path


def _verify_checksums(name_or_path, kwargs: dict) -> None:
    """Compare a local checkpoint's safetensors files with the checksums saved beside them, if any."""
    listing = os.path.join(str(name_or_path), kwargs.get("subfolder") or "", CHECKSUMS_FILE)
    if not os.path.isfile(listing):
        return
    with open(listing, encoding="utf-8") as file:
        for line in file:
            expected, _, name = line.strip().partition("  ")
            path = os.path.join(os.path.dirname(listing), name)
            if name and os.path.isfile(path) and file_sha256(path) != expected:
                raise OSError(
                    f"{path} does not match the SHA-256 recorded in {listing} when it was saved: the file is "
                    "truncated or corrupt, or was changed since. Download or save the checkpoint again, or pass "
                    "`verify_checksums=False` to load it as it is."
                )


def _corrupt_weights_message(name_or_path, kwargs: dict, error: Exception) -> str:
    """Name the unreadable safetensors file of a local checkpoint (the library's error does not)."""
    culprits = []
    for path in _weights_files(name_or_path, kwargs):
        try:
            with safe_open(path, framework="pt"):
                pass
        except (SafetensorError, OSError):
            culprits.append(path)
    what = " and ".join(culprits) if culprits else f"a safetensors weights file of {name_or_path}"
    return (
        f"Cannot read {what}: {error}. The file is truncated or corrupt (an interrupted download or save?): "
        "download or save the checkpoint again."
    )
