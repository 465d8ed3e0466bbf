"""Committed chapter notebooks: no outputs, a tagged parameters cell with every injected name,
a title cell, unique figure/table labels, key figures recorded, and listed in the book."""
import json
import re
from pathlib import Path

import pytest
import yaml

from fission import params
from fission.paths import NOTEBOOKS, REPORT

NBS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
INJECTED = {"edition", "year", "compare_year", "language", "data_dir", "min_group_size",
            "simulated", "output_dir"}


def _cells(nb):
    return json.loads(nb.read_text(encoding="utf-8"))["cells"]


def _src(c):
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb):
    for c in _cells(nb):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and not c.get("execution_count"), f"{nb.name} has outputs"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_title_and_parameters_cell(nb):
    cells = _cells(nb)
    assert cells[0]["cell_type"] == "markdown" and _src(cells[0]).startswith("# ")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = set(re.findall(r"^(\w+)\s*=", _src(tagged[0]), re.M))
    assert INJECTED <= names, f"parameters cell lacks {INJECTED - names}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_records_key_figures_and_reads_no_identifiers(nb):
    code = "\n".join(_src(c) for c in _cells(nb) if c["cell_type"] == "code")
    assert f'keyfigures.record(output_dir, "{nb.stem}"' in code
    assert "device_hash" not in code


def test_labels_unique_across_the_book():
    labels = []
    for nb in NBS:
        for c in _cells(nb):
            labels += re.findall(r"^#\|\s*label:\s*(\S+)", _src(c), re.M)
    assert len(labels) == len(set(labels)), "figure/table labels must be unique across chapters"


def test_book_and_default_edition_list_the_same_chapters():
    book = yaml.safe_load((REPORT / "_quarto.yml").read_text(encoding="utf-8"))
    listed = [Path(c).stem for c in book["book"]["chapters"] if str(c).endswith(".ipynb")]
    assert listed == params.load("params/default.yaml").chapters
    assert listed == [p.stem for p in NBS], "every chapter notebook is in the book, in order"
