"""Partial data, checked the way an analyst meets it: a chapter's notebook executed on the data
with one table (or column) taken away must still build every section that does not need it,
show one notice for each that does, and bind (words rendered again, every reference resolved).

    facts = coverage_check.without("07_customer_service", data_dir, tmp_path, table="returns")
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat

from fission.chapters import OUTLINE
from fission.coverage import chapter_needs
from fission.data.contract import TABLES
from fission.data.load import scan_sql, table_files
from fission.notebook import read_facts
from fission.paths import NOTEBOOKS
from fission.publish.bind import bind_notebook
from fission.words import Words

EDITION = dict(edition="2025", year=2025, compare_year=2024, min_group_size=50, simulated=True)


def reduced(data_dir: Path, dest: Path, table: str, column: str | None = None) -> Path:
    """``data_dir`` without ``table`` (or without its ``column``), as links to the files."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        files = table_files(Path(data_dir), name)
        if not files or (name == table and column is None):
            continue
        if name == table:                         # the table without the column
            import duckdb
            out = (dest / f"{name}.parquet").as_posix()
            duckdb.connect().execute(f"COPY (SELECT * EXCLUDE (\"{column}\") FROM {scan_sql(files)}) "
                                     f"TO '{out}' (FORMAT parquet)")
            continue
        src = Path(data_dir) / f"{name}.parquet"
        target = dest / (src.name if src.exists() else name)
        os.symlink(src if src.exists() else Path(data_dir) / name, target)
    return dest


def without(chapter: str, data_dir: Path, tmp: Path, table: str, column: str | None = None,
            language: str = "zh", parameters: dict | None = None) -> dict:
    """Execute ``chapter``'s notebook on the data without ``table`` (or its ``column``); check
    that exactly the sections needing it are missing and that the book binds; return the facts."""
    import papermill as pm
    what = table if column is None else f"{table}.{column}"
    data = reduced(data_dir, tmp / f"data-{what}", table, column)
    out = tmp / f"build-{what}"
    out.mkdir()
    nb_out = out / f"{chapter}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{chapter}.ipynb"), str(nb_out), kernel_name="fission",
                        progress_bar=False, cwd=str(NOTEBOOKS),
                        parameters={**EDITION, "language": language, "data_dir": str(data),
                                    "output_dir": str(out), **(parameters or {})})
    facts = read_facts(out, chapter)
    needs = chapter_needs(chapter)
    expect = {s for s, tables in needs.items()
              if table in tables and (column is None or column in tables[table])}
    assert set(facts.get("missing") or {}) == expect, (chapter, what, facts.get("missing"), expect)
    words = Words(chapter, language, {**EDITION, "language": language}, list(OUTLINE))
    bound = bind_notebook(nbformat.read(nb_out, as_version=4), words, facts)
    shown = "\n".join(str(o.get("data", {}).get("text/markdown", "")) for c in bound.cells
                      if c.cell_type == "code" for o in c.get("outputs", []))
    labels = {(o.get("metadata") or {}).get("fission", {}).get("label") for c in bound.cells
              if c.cell_type == "code" for o in c.get("outputs", [])} - {None}
    # every figure/table reference in the shown text points at something shown
    import re
    for ref in set(re.findall(r"@((?:fig|tbl)-[\w-]+)", shown)):
        assert ref in labels, f"{chapter} without {what}: the text refers to {ref}, which is not shown"
    for section in expect:
        assert what.split(".")[0] in shown, f"{chapter}: the notice of {section} names {what}"
    return facts


def tables_needed(chapter: str) -> list[str]:
    return sorted({t for tables in chapter_needs(chapter).values() for t in tables})
