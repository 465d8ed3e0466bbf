"""Each chapter's headline numbers, recorded when it runs, collected for the cover's executive
summary (``report/_build/summary.md``)."""
from __future__ import annotations

import json
import math
from pathlib import Path


def path(output_dir: str | Path, chapter: str) -> Path:
    return Path(output_dir) / f"{chapter}.keyfigures.json"


def figure(name: str, value: float, unit: str = "", previous: float | None = None,
           digits: int = 1) -> dict:
    """One key figure: ``name`` (Chinese label), this edition's ``value``, the ``previous``
    year's value when comparable, and how many decimals to show."""
    def clean(v):
        if v is None:
            return None
        v = float(v)
        return None if math.isnan(v) else v
    return {"name": name, "value": clean(value), "unit": unit, "previous": clean(previous),
            "digits": digits}


def record(output_dir: str | Path, chapter: str, title: str, figures: list[dict],
           finding: str = "") -> None:
    """Write the chapter's key figures, and its headline ``finding`` (one sentence built from
    the computed numbers) for the executive summary; called by the chapter's last cell."""
    for f in figures:
        missing = {"name", "value", "unit", "previous"} - set(f)
        if missing:
            raise ValueError(f"key figure {f!r} lacks {', '.join(sorted(missing))}; "
                             "build it with fission.keyfigures.figure(...)")
    out = path(output_dir, chapter)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"chapter": chapter, "title": title, "finding": finding,
                               "figures": figures},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(out)


def load(output_dir: str | Path, chapters: list[str]) -> list[dict]:
    """Key-figure files of the chapters that have one, in book order."""
    found = []
    for ch in chapters:
        p = path(output_dir, ch)
        if p.exists():
            found.append(json.loads(p.read_text(encoding="utf-8")))
    return found


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.{digits}f}%"
    big = max(digits, 1)  # 1.2 万, never "1 万"
    if abs(value) >= 1e8:
        return f"{value / 1e8:,.{big}f} 亿{unit}"
    if abs(value) >= 1e4:
        return f"{value / 1e4:,.{big}f} 万{unit}"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def yoy(value: float | None, previous: float | None) -> str:
    if value is None or previous in (None, 0):
        return "—"
    change = (value / previous - 1) * 100
    return f"{change:+.1f}%"


def summary_markdown(chapters: list[dict]) -> str:
    if not chapters:
        return "*尚无章节生成关键指标。*\n"
    findings = [f"- **{ch['title']}**：{ch['finding']}" for ch in chapters if ch.get("finding")]
    head = ("**主要发现**\n\n" + "\n".join(findings) + "\n\n") if findings else ""
    rows = ["| 章节 | 指标 | 本期 | 上期 | 同比 |", "|----------|--------------|-------:|-------:|------:|"]
    for ch in chapters:
        for i, f in enumerate(ch["figures"]):
            d = f.get("digits", 1)
            title = ch["title"] if i == 0 else ""  # the chapter is named once, on its first row
            rows.append(f"| {title} | {f['name']} | {fmt(f['value'], d, f['unit'])} | "
                        f"{fmt(f['previous'], d, f['unit'])} | "
                        f"{yoy(f['value'], f['previous']) if f['unit'] != '%' else _pp(f)} |")
    return head + "\n".join(rows) + "\n"


def _pp(f: dict) -> str:
    """Change of a percentage in percentage points."""
    if f["value"] is None or f["previous"] is None:
        return "—"
    return f"{f['value'] - f['previous']:+.1f} pp"


def write_summary(build: Path, edition) -> Path:
    out = Path(build) / "summary.md"
    out.write_text(summary_markdown(load(build, edition.chapters)), encoding="utf-8")
    return out
