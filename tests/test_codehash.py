"""A chapter's cache key follows the library modules its notebook imports, transitively."""
import nbformat

from fission.codehash import chapter_code_hash, closure, imports_of


def _pkg(root):
    src = root / "fission"
    (src / "metrics").mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "metrics" / "__init__.py").write_text("from ._sql import q\n")
    (src / "metrics" / "_sql.py").write_text("import duckdb\n")
    (src / "metrics" / "survival.py").write_text("from ._sql import q\nfrom .. import fmt\n")
    (src / "metrics" / "overview.py").write_text("from . import _sql\n")
    (src / "fmt.py").write_text("import math\n")
    return src


def _nb(path, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell("%matplotlib inline")]
    nbformat.write(nb, path)
    return path


def test_imports_resolve_relative_and_from_forms():
    assert imports_of("from ..metrics import survival", "fission.chapters.x") == \
        {"fission.metrics", "fission.metrics.survival"}
    assert imports_of("from . import fmt", "fission", is_package=True) == {"fission", "fission.fmt"}
    assert imports_of("import fission.metrics.overview as o") == {"fission.metrics.overview"}


def test_closure_follows_imports_and_parent_packages(tmp_path):
    src = _pkg(tmp_path)
    files = {p.relative_to(src).as_posix() for p in closure({"fission.metrics.survival"}, src)}
    assert files == {"__init__.py", "metrics/__init__.py", "metrics/_sql.py",
                     "metrics/survival.py", "fmt.py"}


def test_editing_a_module_changes_only_the_chapters_that_import_it(tmp_path):
    src = _pkg(tmp_path)
    a = _nb(tmp_path / "a.ipynb", "from fission.metrics import survival")
    b = _nb(tmp_path / "b.ipynb", "from fission.metrics import overview")
    ha, hb = chapter_code_hash(a, src)[0], chapter_code_hash(b, src)[0]
    (src / "metrics" / "survival.py").write_text("from ._sql import q\nfrom .. import fmt\nX = 1\n")
    assert chapter_code_hash(a, src)[0] != ha and chapter_code_hash(b, src)[0] == hb
    (src / "metrics" / "_sql.py").write_text("import duckdb  # shared\n")
    assert chapter_code_hash(b, src)[0] != hb
