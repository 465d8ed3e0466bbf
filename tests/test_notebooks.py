"""Committed chapter notebooks are thin (docs/chapters.md): no outputs, a tagged parameters
cell with every injected name, one facts call, no prose or Chinese in code, no content in
Markdown cells, unique figure/table labels, words in both languages, in outline order."""
import json
import re

import pytest

from fission import params
from fission.chapters import OUTLINE
from fission.paths import NOTEBOOKS, REPO
from fission.words import WORDS_DIR

NBS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

LABEL_RE = re.compile(r"ch\.(?:figure|table)\([^\n]*?[\"']((?:fig|tbl)-[\w-]+)[\"']")


def _cells(nb):
    return json.loads(nb.read_text(encoding="utf-8"))["cells"]


def _src(c):
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def _tags(c):
    return c.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb):
    for c in _cells(nb):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and not c.get("execution_count"), f"{nb.name} has outputs"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_parameters_cell(nb):
    tagged = [c for c in _cells(nb) if "parameters" in _tags(c)]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    # as papermill reads it (a line it cannot parse is injected with a warning in every run)
    import nbformat
    from papermill.translators import PythonTranslator
    names = {p.name for p in PythonTranslator.inspect(nbformat.v4.new_code_cell(_src(tagged[0])))}
    injected = set(params.load(REPO / "params" / "default.yaml").notebook_parameters(NOTEBOOKS))
    assert injected <= names, f"parameters cell lacks (or papermill cannot parse) {injected - names}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.stem)
def test_thin_one_facts_call_words_outside(nb):
    cells = _cells(nb)
    code = "\n".join(_src(c) for c in cells if c["cell_type"] == "code" and "parameters" not in _tags(c))
    assert code.count("ch.facts(") == 1, "one facts call per chapter"
    assert re.search(rf"Chapter\(\s*\"{nb.stem}\"", code)
    assert not re.search(r"[\u4e00-\u9fff]", code), "no Chinese in code: words live in notebooks/words/"
    assert "#| fig-cap" not in code and "#| tbl-cap" not in code, "captions are words"
    assert "device_hash" not in code and "user_id" not in code
    for c in cells:
        if c["cell_type"] == "markdown":
            assert "remove-cell" in _tags(c), "Markdown content would be published untranslated"
    for lang in ("zh", "en"):
        assert (WORDS_DIR / f"{nb.stem}.{lang}.yaml").exists()


def test_labels_unique_across_the_book():
    labels = [m for nb in NBS for c in _cells(nb) for m in LABEL_RE.findall(_src(c))]
    assert labels and len(labels) == len(set(labels)), "figure/table labels must be unique"


def test_default_edition_lists_the_notebooks_in_outline_order():
    chapters = params.load("params/default.yaml").chapters
    assert chapters == [p.stem for p in NBS], "every chapter notebook is in the default edition"
    order = list(OUTLINE)
    assert chapters == sorted(chapters, key=order.index)
