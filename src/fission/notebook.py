"""What a chapter notebook calls to publish: its facts, and its words shown from them.

    ch = Chapter("06_retention", language, output_dir, edition)
    f = ch.facts(retention.facts(con, ...))     # stored as <output_dir>/06_retention.facts.json
    ch.title(); ch.heading("cohort"); ch.say("cohort")
    ch.figure(viz.retention.cohort_heatmap(f, ch.labels("fig-ch6-cohort")), "fig-ch6-cohort")
    ch.table("tbl-ch6-channel", "channels")     # rows: a list of records in the facts

Every output carries metadata naming the words entry it shows, so the publisher renders
prose, captions and tables again from the stored facts and the current words
(:mod:`fission.publish.bind`): the notebook shows the analyst the same text the book prints.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .words import Words, dig


def facts_path(output_dir: str | Path, chapter: str) -> Path:
    return Path(output_dir) / f"{chapter}.facts.json"


def jsonable(x: Any) -> Any:
    """Facts as JSON: DataFrames become lists of records, numpy scalars Python numbers,
    NaN None, dates ISO strings (what the publisher reads back)."""
    if isinstance(x, pd.DataFrame):
        return [jsonable(r) for r in x.to_dict(orient="records")]
    if isinstance(x, pd.Series):
        return {str(k): jsonable(v) for k, v in x.items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, np.ndarray)):
        return [jsonable(v) for v in x]
    if isinstance(x, (pd.Timestamp, dt.datetime, dt.date)):
        return None if pd.isna(x) else x.isoformat()
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else float(x)
    if x is pd.NaT or x is None:
        return None
    if isinstance(x, (int, str)):
        return x
    raise TypeError(f"facts hold a {type(x).__name__} ({x!r:.60}); give numbers, strings, "
                    "lists, dicts or DataFrames")


def write_facts(output_dir: str | Path, chapter: str, facts: dict) -> Path:
    out = facts_path(output_dir, chapter)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    tmp.write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, out)
    return out


def read_facts(output_dir: str | Path, chapter: str) -> dict:
    p = facts_path(output_dir, chapter)
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing: run the chapter again (`fission run --chapters "
                                f"{chapter} --force`)")
    return json.loads(p.read_text(encoding="utf-8"))


def _display(text: str, meta: dict) -> None:
    from IPython.display import Markdown, display
    display(Markdown(text), metadata={"fission": meta})


class Chapter:
    def __init__(self, chapter: str, language: str = "zh", output_dir: str | Path = ".",
                 edition: dict | None = None, chapters_present: list[str] | None = None):
        self.id = chapter
        self.output_dir = Path(output_dir)
        self.words = Words(chapter, language, edition, chapters_present)
        self.f: dict = {}
        self.skipping = False      # inside a section (or part) whose data is missing
        self.section, self.section_skipped = None, False

    def facts(self, facts: dict) -> dict:
        """Store the chapter's facts (as JSON) and return them as the words and figures see them.
        ``facts["missing"]`` (from :func:`fission.coverage.gaps`): sections the data cannot
        build; their cells show one notice instead (:meth:`heading`)."""
        self.f = jsonable(facts)
        write_facts(self.output_dir, self.id, self.f)
        return self.f

    @property
    def missing(self) -> dict:
        return self.f.get("missing") or {}

    def title(self) -> None:
        self.skipping = False
        _display(self.words.title(self.f), {"kind": "title"})

    def heading(self, section: str) -> None:
        """Start a section. When its data is missing, show the heading and a notice naming what
        is missing; the section's texts, figures and tables that follow are left out."""
        _display(self.words.heading(section, self.f), {"kind": "heading", "key": section})
        self.section = section
        self.skipping = self.section_skipped = section in self.missing
        if self.skipping:
            _display(self.words.missing_notice(self.missing[section]),
                     {"kind": "notice", "key": section})

    def part(self, name: str | None) -> None:
        """Start a part of the current section that needs more than the section (its NEEDS key
        is ``<section>.<name>``); ``None`` ends it. A part whose data is missing shows a one-line
        notice and its texts, figures and tables are left out; the rest of the section is not."""
        if self.section_skipped:
            return
        key = f"{self.section}.{name}" if name else None
        self.skipping = key in self.missing
        if self.skipping:
            _display(self.words.missing_notice(self.missing[key], part=True),
                     {"kind": "notice", "key": key})

    def say(self, key: str) -> None:
        """Show the paragraph ``text.<key>`` of the words."""
        if self.skipping:
            return
        _display(self.words.render(f"text.{key}", self.f), {"kind": "text", "key": key})

    def labels(self, label: str) -> dict:
        return self.words.labels(label, self.f)

    def name(self, code, kind: str) -> str:
        return self.words.name(code, kind)

    def figure(self, fig, label: str) -> None:
        """Show a matplotlib figure as the book's figure ``label`` (caption from the words).
        ``fig`` may be a function returning the figure: it is not drawn in a section whose
        data is missing."""
        from IPython.display import Image, display
        import io
        import matplotlib.pyplot as plt

        self.words.entry(f"figures.{label}")  # fail here, not at publishing, on a typo
        if self.skipping:
            if not callable(fig):
                plt.close(fig)
            return
        if callable(fig):
            fig = fig()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
        plt.close(fig)
        display(Image(buf.getvalue(), format="png"),
                metadata={"fission": {"kind": "figure", "label": label,
                                      "caption": self.words.caption(label, self.f)}})

    def table(self, label: str, rows: str) -> None:
        """Show the facts' records at ``rows`` (dotted path) as the book's table ``label``."""
        if self.skipping:
            return
        data = dig(self.f, rows)
        _display(self.words.table(label, data, self.f),
                 {"kind": "table", "label": label, "rows": rows,
                  "caption": self.words.caption(label, self.f, "tables")})
