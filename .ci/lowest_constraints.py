"""Print pip constraints that pin every dependency of pyproject.toml (and its `test` extra) to its declared lower
bound, so that `make test-lowest` proves the oldest releases we claim to support still work. torch included: the
lowest leg installs PyPI's build of its floor (a CUDA build, which runs on a CPU), not the machine's CPU build.
"""

import re
import sys
from pathlib import Path

import tomllib


def lower_bounds(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project.get("optional-dependencies", {}).get("test", [])
    bounds = {}
    for requirement in requirements:
        name, specifiers = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)", requirement).groups()
        floor = [spec[2:].strip() for spec in specifiers.split(",") if spec.strip().startswith(">=")]
        if not floor:
            sys.exit(
                f"{requirement!r} in pyproject.toml declares no lower bound (>=): CI cannot test the oldest release."
            )
        bounds[name] = floor[0]
    return bounds


if __name__ == "__main__":
    for name, version in lower_bounds(Path(__file__).resolve().parent.parent / "pyproject.toml").items():
        print(f"{name}=={version}")
