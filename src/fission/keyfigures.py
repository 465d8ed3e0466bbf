"""Each chapter's headline numbers: part of its facts (``facts["keyfigures"]``), named by its
words (``keyfigures.<id>``) and collected into the executive summary when the book is bound."""
from __future__ import annotations

import math

from . import fmt


def figure(id: str, value: float | None, unit: str, previous: float | None = None,
           digits: int = 1, lo: float | None = None, hi: float | None = None,
           significant: bool | None = None) -> dict:
    """One key figure. ``unit`` is a code of :data:`fission.fmt.UNITS` (rates as ratios);
    ``previous`` is last year's comparable value; ``lo``/``hi`` the 95% interval of the change
    (pp for rates, relative otherwise) and ``significant`` whether it excludes no change —
    leave them None for a census total that has no sampling error."""
    if unit not in fmt.UNITS:
        raise ValueError(f"key figure {id!r}: unit {unit!r} is not one of {', '.join(fmt.UNITS)}")

    def clean(v):
        if v is None:
            return None
        v = float(v)
        return None if math.isnan(v) else v
    return {"id": id, "value": clean(value), "unit": unit, "previous": clean(previous),
            "digits": digits, "lo": clean(lo), "hi": clean(hi),
            "significant": None if significant is None else bool(significant)}


def change_cell(f: dict, lang: str) -> str:
    """The summary's change column: the change, and its interval or a not-significant mark."""
    # a rate's change in pp keeps the rate's decimals; a relative change always has one
    digits = max(f.get("digits", 1), 1) if f["unit"] == "rate" else 1
    text = fmt.value_change(f["value"], f["previous"], f["unit"], digits, lang)
    if text == "—":
        return text
    if f.get("lo") is not None and f.get("hi") is not None:   # the header names the interval
        kind = "pp" if f["unit"] == "rate" else "pct"
        bounds = fmt.ci(f["lo"], f["hi"], kind, digits, lang, short=True)
        text += f" ({bounds})" if lang == "en" else f"（{bounds}）"
    if f.get("significant") is False:
        text += " " + fmt.sig(False, lang)
    return text


def summary_markdown(chapters: list[dict], labels: dict, lang: str, currency: str = "CNY") -> str:
    """``chapters``: [{title, finding, figures: [figure dict + "name"]}] in book order;
    ``labels``: the common words' ``report.summary`` texts."""
    if not chapters:
        return f"*{labels['none']}*\n"
    findings = [f"- **{ch['title']}**：{ch['finding']}" if lang == "zh" else
                f"- **{ch['title']}**: {ch['finding']}" for ch in chapters if ch.get("finding")]
    head = (f"**{labels['findings']}**\n\n" + "\n".join(findings) + "\n\n") if findings else ""
    cols = labels["columns"]
    rows = ["| " + " | ".join(cols) + " |", "|:---|:---|---:|---:|---:|"]
    for ch in chapters:
        for i, f in enumerate(ch["figures"]):
            d = f.get("digits", 1)
            cells = (fmt.value(f["value"], f["unit"], d, lang, currency),
                     fmt.value(f["previous"], f["unit"], d, lang, currency), change_cell(f, lang))
            rows.append(f"| {ch['title'] if i == 0 else ''} | {f['name']} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"

