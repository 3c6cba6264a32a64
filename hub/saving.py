"""What the package adds to `save_pretrained` and `push_to_hub` of its models (`HubSupport`, which the package plugs
into `TransformerPreTrainedModel.hub_support` on import).

The library's own saving still writes config.json, the safetensors weights (tied weights once), generation_config.json
and, because the package registers its classes for the Auto classes (`register_for_auto_class`), the model folder's
code beside them, which `trust_remote_code=True` loads without the package. On top of it:

- config.json names every Auto class of the variant in its `auto_map` (the library names the model's own only), and
  records the package version;
- a README.md model card (`model_card`);
- `push_to_hub` uploads exactly the files `save_pretrained` writes, through the library's upload path (`create_repo`,
  then one commit of the folder), instead of replacing the card with the library's placeholder.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
from transformers import PreTrainedModel
from transformers.utils.hub import hf_api

from ..auto import auto_map
from ..modeling.pretrained import write_checksums
from .model_card import card_origin, check_card_fields, write_model_card


class HubSupport:
    """`save_pretrained` and `push_to_hub` of the package's models, given the library's own `save_pretrained`."""

    def __init__(self, version: str):
        self.version = version

    def save_model(self, model, library_save, save_directory, *args, model_card: dict | bool | None = None, **kwargs):
        """`model.save_pretrained`: the library's files, then the model card. `model_card`: None or a dict of
        `CARD_FIELDS` to write the card, False to write none."""
        if model_card not in (None, False, True):
            check_card_fields(model_card)
        # every argument by name, whichever way it was passed
        bound = (
            inspect.signature(PreTrainedModel.save_pretrained).bind(model, save_directory, *args, **kwargs).arguments
        )
        kwargs = {name: value for name, value in bound.items() if name not in ("self", "save_directory", "kwargs")}
        kwargs.update(bound.get("kwargs", {}))
        if os.path.isfile(save_directory):
            return library_save(save_directory, **kwargs)  # the library reports the error
        if kwargs.pop("push_to_hub", False):
            upload = _start_upload(model, save_directory, kwargs)
            if model_card is not False:
                upload.adopt_remote_card(tags=None)
            card = _card_fields(model_card, model_id=upload.repo_id)
            self.save_model(model, library_save, save_directory, model_card=card, **kwargs)
            return upload.finish()
        model.config.auto_map = auto_map(type(model.config))
        model.config.vanilla_transformer_version = self.version
        library_save(save_directory, **kwargs)
        if model.should_save_on_this_rank(kwargs.get("is_main_process", True)):
            write_checksums(save_directory)
            if model_card is not False:
                write_model_card(save_directory, model, **_card_fields(model_card))
        return None

    def push_model(
        self,
        model,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | str | None = None,
        model_card: dict | bool | None = None,
    ):
        """`model.push_to_hub`: `save_pretrained` into a temporary folder, then upload that folder as one commit.

        The card follows the rules of `save_pretrained`, applied to the repository: a README.md someone wrote there
        is kept (with `tags` added, as the library does); the library's placeholder or an earlier generated card is
        replaced by a new one, whose snippets load `repo_id`."""
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        for tag in model.model_tags or []:
            if tag not in tags:
                tags.append(tag)
        repo_id = hf_api().create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
        card = _card_fields(model_card, model_id=repo_id, tags=tags or None)
        with tempfile.TemporaryDirectory() as folder:
            upload = _Upload(model, folder, repo_id, files_timestamps={}, token=token, revision=revision)
            if model_card is not False:
                upload.adopt_remote_card(tags=tags)
            model.save_pretrained(folder, max_shard_size=max_shard_size, model_card=card)
            return upload.finish(
                commit_message=commit_message, commit_description=commit_description, create_pr=create_pr
            )


def _card_fields(model_card, **defaults) -> dict | bool:
    if model_card is False:
        return False
    fields = {} if model_card in (None, True) else dict(model_card)
    for key, value in defaults.items():
        if value is not None:
            fields.setdefault(key, value)
    return fields


def _start_upload(obj, save_directory, kwargs: dict) -> _Upload:
    """`save_pretrained(..., push_to_hub=True)`: create the repository, as the library does, before saving."""
    os.makedirs(save_directory, exist_ok=True)
    commit_message = kwargs.pop("commit_message", None)
    repo_id = kwargs.pop("repo_id", str(save_directory).rstrip(os.path.sep).split(os.path.sep)[-1])
    create_pr = kwargs.pop("create_pr", False)
    private = kwargs.pop("private", None)
    token = kwargs.get("token")
    repo_id = hf_api().create_repo(repo_id, exist_ok=True, token=token, private=private).repo_id
    upload = _Upload(obj, save_directory, repo_id, obj._get_files_timestamps(save_directory), token=token)
    upload.commit_message, upload.create_pr = commit_message, create_pr
    return upload


class _Upload:
    """One upload of a saved folder to a repository, through the library's `_upload_modified_files`."""

    def __init__(self, obj, folder, repo_id: str, files_timestamps: dict, token=None, revision: str | None = None):
        self.obj, self.folder, self.repo_id = obj, str(folder), repo_id
        self.files_timestamps, self.token, self.revision = files_timestamps, token, revision
        self.commit_message, self.create_pr = None, False

    def adopt_remote_card(self, tags: list[str] | None) -> None:
        """Put the repository's README.md in the folder, unless it is the library's placeholder, so that the save
        applies the card rules to it: kept if someone else wrote it, merged if it holds a Trainer's record (or an
        earlier generated card does). No-op when the folder has its own README.md."""
        path = Path(self.folder) / "README.md"
        if path.exists():
            return
        try:
            remote = hf_api().hf_hub_download(self.repo_id, "README.md", token=self.token, revision=self.revision)
        except (EntryNotFoundError, RevisionNotFoundError):
            return  # a new repository, or a new branch
        text = Path(remote).read_text(encoding="utf-8")
        if card_origin(text) == "user" and tags:
            from huggingface_hub import ModelCard

            card = ModelCard(text, ignore_metadata_errors=True)
            card.data.tags = list(card.data.tags or []) + [tag for tag in tags if tag not in (card.data.tags or [])]
            text = str(card)
        if card_origin(text) != "placeholder":
            path.write_text(text, encoding="utf-8")

    def finish(self, commit_message=None, commit_description=None, create_pr=None):
        return self.obj._upload_modified_files(
            self.folder,
            self.repo_id,
            self.files_timestamps,
            commit_message=commit_message or self.commit_message,
            token=self.token,
            create_pr=self.create_pr if create_pr is None else create_pr,
            revision=self.revision,
            commit_description=commit_description,
        )
