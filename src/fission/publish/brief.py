"""The executive brief (the book's first pages) and the key-figure appendix, bound from the
chapters' stored facts and the current words — with whichever chapters an edition has.

The brief: three to five key messages (one sentence each, its number, direction and interval;
chosen by :func:`fission.scorecard.key_messages`, never on noise), one chart (every key
figure's change with its interval), the recommendations of the conclusions chapter when the
edition has it, and a scorecard of each chapter's headline figure. Every key figure of every
chapter, with the chapters' findings, is in the appendix.
"""
from __future__ import annotations

from pathlib import Path

from .. import fmt, keyfigures, scorecard
from ..notebook import read_facts
from ..words import Words

CHART = "brief_kpi.png"
CONCLUSIONS = "10_conclusions"


def _words(edition, chapters: list[str], ch: str | None) -> Words:
    return Words(ch, edition.language, edition.template_context(), chapters)


def chapter_facts(build: Path, chapters: list[str]) -> dict[str, dict]:
    return {ch: read_facts(build, ch) for ch in chapters}


def kpi_rows(facts: dict[str, dict], words: dict[str, Words]) -> list[dict]:
    """:func:`fission.scorecard.scorecard` rows, named by each chapter's words."""
    return scorecard.scorecard(
        facts, lambda ch, fid: words[ch].render(f"keyfigures.{fid}", facts[ch]))


def _message(m: dict, row: dict, lang: str, currency: str = "CNY") -> dict:
    """A key message's parts as the words phrase them."""
    d = max(row["digits"], 1) if row["unit"] == "rate" else 1
    kind = "pp" if m["change_kind"] == "pp" else "pct"
    change = (fmt.change_pp if kind == "pp" else fmt.change)(m["change"], d, lang)
    interval = fmt.ci(m["lo"], m["hi"], kind, d, lang) if m["lo"] is not None else ""
    return {**m, "value": fmt.value(row["value"], row["unit"], row["digits"], lang, currency),
            "previous": fmt.value(row["previous"], row["unit"], row["digits"], lang, currency),
            "change_text": change, "interval": interval, "ref": f"@sec-{m['slug']}"}


def _headlines(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Each chapter's headline figure: its first key figure compared with last year (not a
    forecast, whose "change" is on this year, nor a figure without last year's value)."""
    out: dict[str, tuple[str, str]] = {}
    compared = [r for r in rows if not r.get("forecast") and r["previous"] is not None]
    # an edition whose data hold no whole comparison year compares nothing: this year's figures
    for r in compared or [r for r in rows if not r.get("forecast")]:
        out.setdefault(r["chapter"], (r["chapter"], r["id"]))
    return out


def _scorecard_table(rows: list[dict], facts: dict, words: dict, labels: dict, lang: str,
                     currency: str = "CNY") -> str:
    """Each chapter's headline (first) key figure: value, last year, change with its interval."""
    cols = labels["columns"]
    out = ["| " + " | ".join(cols) + " |", "|:---|:---|---:|---:|"]
    heads = set(_headlines(rows).values())
    for r in rows:
        if (r["chapter"], r["id"]) not in heads:
            continue
        fig = next(f for f in facts[r["chapter"]]["keyfigures"] if f["id"] == r["id"])
        title = words[r["chapter"]].render("title", facts[r["chapter"]])
        out.append(f"| {title} | {r['name']} | {fmt.value(r['value'], r['unit'], r['digits'], lang, currency)} "
                   f"| {keyfigures.change_cell(fig, lang)} |")
    return "\n".join(out) + "\n"


def brief_markdown(edition, build: Path, chapters: list[str], common: Words, book_dir: Path) -> str:
    """The brief's Markdown; its chart is written to ``book_dir``."""
    import matplotlib.pyplot as plt

    from ..viz import brief as viz_brief
    from ..viz import theme

    lang = edition.language
    lab = common.entry("report.brief")
    facts = chapter_facts(build, chapters)
    if not any(f.get("keyfigures") for f in facts.values()):
        return f"*{common.render('report.summary.none')}*\n"
    words = {ch: _words(edition, chapters, ch) for ch in facts}
    rows = kpi_rows(facts, words)
    by_id = {(r["chapter"], r["id"]): r for r in rows}
    msgs = [_message(m, by_id[(m["chapter"], m["id"])], lang, edition.currency)
            for m in scorecard.key_messages(rows)]
    compared = sum(1 for r in rows if r["previous"] is not None and not r.get("forecast"))
    parts = [common.render("report.brief.intro", n=len(msgs), compared=compared), ""]
    if msgs:
        parts += [f"**{lab['messages']}**", ""]
        parts += [f"{i}. " + common.render("report.brief.message", m=m) for i, m in enumerate(msgs, 1)]
        parts.append("")
    # the chart: the key messages and each chapter's headline figure, where an interval exists
    # (census totals have none to show; they are in the scorecard)
    shown = {(m["chapter"], m["id"]) for m in msgs} | set(_headlines(rows).values())
    drawn = [r for r in rows if (r["chapter"], r["id"]) in shown and r["lo"] is not None]
    theme.use()
    fig = viz_brief.kpi_changes(drawn, common.entry("report.brief.chart"))
    if fig is not None:
        fig.savefig(book_dir / CHART, dpi=150, bbox_inches="tight")
        plt.close(fig)
        parts += [f"![{common.render('report.brief.chart.caption')}]({CHART}){{width=85%}}", ""]
    parts += [f"**{lab['recommendations']}**", ""]
    if CONCLUSIONS in facts:
        parts += [words[CONCLUSIONS].render("brief.recommendations", facts[CONCLUSIONS]), ""]
    else:
        parts += [common.render("report.brief.no_recommendations"), ""]
    parts += [f"**{lab['scorecard']}**", "",
              _scorecard_table(rows, facts, words, lab, lang, edition.currency),
              common.render("report.brief.appendix_note")]
    return "\n".join(parts) + "\n"


def appendix_qmd(edition, build: Path, chapters: list[str], common: Words) -> str:
    """Every chapter's finding and key figures (the former opening table)."""
    entries = []
    for ch in chapters:
        f = read_facts(build, ch)
        w = _words(edition, chapters, ch)
        figs = [{**k, "name": w.render(f"keyfigures.{k['id']}", f)} for k in f.get("keyfigures") or []]
        finding = w.render("finding", f) if "finding" in w.own else ""
        entries.append({"title": w.render("title", f), "finding": finding, "figures": figs})
    table = keyfigures.summary_markdown(entries, common.entry("report.summary"), edition.language,
                                        edition.currency)
    return (f"# {common.render('report.appendix.title')} {{.unnumbered}}\n\n"
            f"{common.render('report.appendix.intro')}\n\n{table}")

