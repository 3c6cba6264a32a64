"""Data for the examples, through `datasets`: local files of the usual formats, or a dataset on the Hub.

Local files are read by `datasets`' own builders, chosen by extension:

| extension | read as | columns |
|---|---|---|
| `.csv` | CSV, first row the header | from the header, or `column_names=` for files without one |
| `.tsv` | tab-separated, no quoting | idem |
| `.json`, `.jsonl` | JSON lines (or a JSON list) | the keys |
| `.parquet`, `.arrow` | as stored | as stored |
| anything else (`.txt`, `train.en`, `train.lc.norm.tok.de`) | plain text, one example per line | `text`, or `column_names[0]` |

Parallel text (a translation corpus as one file per language, line i of each a translation of the others) is read
with `parallel=True`: one plain-text file per column, put side by side.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets


FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".arrow": "arrow"}
# Split names some Hub datasets and file layouts use for the validation split.
SPLIT_ALIASES = {"valid": "validation", "val": "validation", "dev": "validation"}

Files = str | os.PathLike | Sequence[str | os.PathLike]


def file_format(path: str | os.PathLike) -> str:
    """How `load_local_dataset` reads `path`: "csv", "tsv", "json", "parquet", "arrow" or "text"."""
    return FORMATS.get(Path(path).suffix.lower(), "text")


def load_local_dataset(
    files: Files,
    *,
    column_names: Sequence[str] | None = None,
    parallel: bool = False,
    cache_dir: str | None = None,
) -> datasets.Dataset:
    r"""
    Read local files into one `datasets.Dataset` (all the files one after the other, or side by side if `parallel`).

    Args:
        files: a path or a list of paths, all of one format (see the module docstring).
        column_names (list of `str`, *optional*): for plain text, the name of the column (default `"text"`); for
            CSV/TSV, the names of the columns of files that have no header row (without it, the first row is the
            header); for parallel text, one name per file (e.g. `["en", "de"]`).
        parallel (`bool`, defaults to `False`): put plain-text files side by side instead of one after the other;
            they must have the same number of lines.
        cache_dir (`str`, *optional*): where `datasets` caches the converted files.

    Text stays text: CSV/TSV fields such as "NA" or "null" are not turned into missing values, and TSV fields are
    not unquoted.
    """
    paths = _paths(files)
    formats = {file_format(path) for path in paths}
    if len(formats) > 1:
        raise ValueError(
            f"files of one split must share a format, got {sorted(formats)} for {[str(p) for p in paths]}."
        )
    (kind,) = formats
    if parallel:
        if kind != "text":
            raise ValueError(f"parallel=True reads plain-text files, one per column; {paths[0]} is read as {kind}.")
        if column_names is None or len(column_names) != len(paths):
            raise ValueError(
                f"parallel text needs one column name per file: got {len(paths)} files and column_names={column_names!r}."
            )
        columns = [_load_text([path], name, cache_dir) for path, name in zip(paths, column_names)]
        lengths = {str(path): len(column) for path, column in zip(paths, columns)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"parallel files must have the same number of lines, got {lengths}.")
        return datasets.concatenate_datasets(columns, axis=1)
    if kind == "text":
        if column_names is not None and len(column_names) != 1:
            raise ValueError(f"plain text has one column; got column_names={column_names!r}.")
        return _load_text(paths, column_names[0] if column_names else "text", cache_dir)
    if kind in ("csv", "tsv"):
        options = dict(keep_default_na=False, na_filter=False)
        if kind == "tsv":
            options.update(delimiter="\t", quoting=csv.QUOTE_NONE)
        if column_names is not None:
            options.update(column_names=list(column_names), header=None)
        return _load("csv", paths, cache_dir, **options)
    if column_names is not None:
        raise ValueError(f"column_names applies to text, CSV and TSV files; {kind} files name their own columns.")
    return _load(kind, paths, cache_dir)


def load_dataset_splits(
    *,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    data_files: Mapping[str, Files] | None = None,
    column_names: Sequence[str] | None = None,
    parallel: bool = False,
    cache_dir: str | None = None,
    **load_kwargs,
) -> datasets.DatasetDict:
    r"""
    The splits of a dataset on the Hub, or of local files, as a `datasets.DatasetDict`.

    Args:
        dataset_name (`str`, *optional*): a dataset on the Hugging Face Hub (`"wmt/wmt14"`, `"bentrevett/multi30k"`),
            loaded with `datasets.load_dataset(dataset_name, dataset_config_name, **load_kwargs)`.
        dataset_config_name (`str`, *optional*): its configuration (`"de-en"`).
        data_files (mapping, *optional*): split name -> file(s), read with `load_local_dataset` (with
            `column_names` and `parallel`), e.g. `{"train": ["train.en", "train.de"], "validation": [...]}`.
        cache_dir (`str`, *optional*): `datasets`' cache directory.

    Give exactly one of `dataset_name` and `data_files`. Split names "valid", "val" and "dev" become "validation".
    """
    if (dataset_name is None) == (data_files is None):
        raise ValueError(
            "give either dataset_name (a dataset on the Hub) or data_files (local files), not both or neither."
        )
    if dataset_name is not None:
        loaded = datasets.load_dataset(dataset_name, dataset_config_name, cache_dir=cache_dir, **load_kwargs)
        if not isinstance(loaded, datasets.DatasetDict):
            raise ValueError(f"{dataset_name!r} loaded as a {type(loaded).__name__}, not a DatasetDict of splits.")
        return datasets.DatasetDict({SPLIT_ALIASES.get(split, split): data for split, data in loaded.items()})
    splits = {}
    for split, files in data_files.items():
        name = SPLIT_ALIASES.get(split, split)
        if name in splits:
            raise ValueError(f"split {split!r} and another split both name the {name!r} split.")
        splits[name] = load_local_dataset(files, column_names=column_names, parallel=parallel, cache_dir=cache_dir)
    return datasets.DatasetDict(splits)


def _paths(files: Files) -> list[Path]:
    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(file) for file in files]
    if not paths:
        raise ValueError("no files given.")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"data file {str(path)!r} does not exist.")
    return paths


def _load_text(paths: list[Path], column: str, cache_dir: str | None) -> datasets.Dataset:
    dataset = _load("text", paths, cache_dir)
    return dataset.rename_column("text", column) if column != "text" else dataset


def _load(builder: str, paths: list[Path], cache_dir: str | None, **options) -> datasets.Dataset:
    return datasets.load_dataset(
        builder, data_files=[str(path) for path in paths], split="train", cache_dir=cache_dir, **options
    )


__all__ = ["FORMATS", "file_format", "load_dataset_splits", "load_local_dataset"]
