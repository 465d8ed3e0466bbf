"""Where things live. The repository root is found from the package (editable install) or the
``FISSION_HOME`` variable, so notebooks, the CLI and tests agree on one layout."""
from __future__ import annotations

import os
from pathlib import Path


def _repo() -> Path:
    if os.environ.get("FISSION_HOME"):
        return Path(os.environ["FISSION_HOME"]).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "notebooks").is_dir():
            return parent
    return Path.cwd()


REPO = _repo()
NOTEBOOKS = REPO / "notebooks"
REPORT = REPO / "report"
BUILD = REPORT / "_build"
STAGED = REPO / "data" / "staged"
OUTPUT = REPORT / "_output"


def build_dir(edition: str) -> Path:
    """Where an edition's chapters are executed and its book is bound."""
    return BUILD / edition


def output_dir(edition: str) -> Path:
    """Where an edition's published report.html and report.pdf are."""
    return OUTPUT / edition
