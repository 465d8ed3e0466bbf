"""What an edition's data can build: each chapter declares, per section, the tables and
columns it needs (``NEEDS`` in ``fission.chapters.<slug>``); with partial data (a company's
exports rarely hold all 22 contract tables) the sections whose needs are met are built, the
others are replaced by a short notice naming what is missing, and a chapter with nothing left
is dropped with a line in the report's data notes.

    gaps = coverage.gaps(con, industry.NEEDS)   # {"market": ["market"], …}: only the gaps
    `fission inspect` prints the matrix chapter × section → built / missing what.
"""
from __future__ import annotations

import importlib

from .chapters import OUTLINE
from .data.load import UNAVAILABLE

Needs = dict[str, dict[str, list[str]]]      # section → table → columns


def columns(con, table: str) -> set[str] | None:
    """The columns of ``table`` as the engine sees them; None when the table is absent."""
    from .metrics._sql import has_table
    if not has_table(con, table):
        return None
    if hasattr(con, "columns"):                  # another engine (fission.engine) knows its own
        return set(con.columns(table))
    cols = {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    if has_table(con, UNAVAILABLE):              # placeholders of a mapping are not data
        cols -= {r[0] for r in con.execute(f"SELECT column_name FROM {UNAVAILABLE} "
                                           "WHERE table_name = ?", [table]).fetchall()}
    return cols


def gaps(con, needs: Needs) -> dict[str, list[str]]:
    """For each section whose needs are not met: what is missing (``table`` for an absent
    table, ``table.column`` for an absent column), in the order declared."""
    seen: dict[str, set[str] | None] = {}
    out = {}
    for section, tables in needs.items():
        miss = []
        for table, cols in tables.items():
            if table not in seen:
                seen[table] = columns(con, table)
            have = seen[table]
            if have is None:
                miss.append(table)
            else:
                miss += [f"{table}.{c}" for c in cols if c not in have]
        if miss:
            out[section] = miss
    return out


def chapter_needs(chapter: str) -> Needs:
    """The ``NEEDS`` of a chapter's facts module (empty when it declares none)."""
    mod = importlib.import_module(f"fission.chapters.{OUTLINE[chapter]}")
    return dict(getattr(mod, "NEEDS", {}))


def matrix(con, chapters: list[str] | None = None) -> list[dict]:
    """One row per chapter section: chapter, section, built (bool), missing (list)."""
    rows = []
    for ch in chapters or list(OUTLINE):
        needs = chapter_needs(ch)
        g = gaps(con, needs)
        for section in needs:
            rows.append({"chapter": ch, "section": section, "built": section not in g,
                         "missing": g.get(section, [])})
    return rows


def format_matrix(rows: list[dict]) -> str:
    """The matrix as text for the terminal."""
    lines, last = [], None
    for r in rows:
        if r["chapter"] != last:
            n = sum(x["built"] for x in rows if x["chapter"] == r["chapter"])
            total = sum(1 for x in rows if x["chapter"] == r["chapter"])
            lines.append(f"{r['chapter']}  ({n}/{total} sections)")
            last = r["chapter"]
        state = "built" if r["built"] else "missing " + ", ".join(r["missing"])
        lines.append(f"  {r['section']:<22} {state}")
    return "\n".join(lines)
