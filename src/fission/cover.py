"""What the cover says: the edition, its data source and fingerprint, and — when the data is
simulated — a notice that it is; in the edition's language (common words, ``report.cover``)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from .words import Words


def cover(edition, manifest: dict, words: Words | None = None, period: dict | None = None) -> dict:
    """``period``: :func:`fission.metrics.periods.edition_periods` of the staged data; when the
    two years are not both complete the cover says so instead of "compared with"."""
    w = words or Words(None, edition.language, edition.template_context())
    simulated = bool(manifest.get("simulated", edition.simulated))
    ctx = {"seed": manifest.get("seed"), "source": _shown_path(manifest.get("source"))}
    source = w.render("report.cover.source_simulated" if simulated else "report.cover.source_own",
                      markdown=False, **ctx)
    return {
        "title": edition.full_title(w),
        "subtitle": edition.full_subtitle(w),
        "author": w.render("report.author", markdown=False),
        "edition": w.render("report.cover.edition" if period is None or period["comparable"]
                            else "report.cover.edition_span", markdown=False, period=period),
        "date": (edition.date or dt.date.today()).isoformat(),
        "source": source,
        "fingerprint": manifest.get("short_fingerprint") or manifest["fingerprint"][:12],
        "simulated": simulated,
        "notice": w.render("report.simulated_notice", markdown=False) if simulated else "",
        "labels": {k: str(v) for k, v in w.entry("report.cover.labels").items()},
        "data_notes": data_notes(manifest, w),
        "data_notes_title": w.render("report.cover.data_notes", markdown=False),
    }




def _shown_path(source):
    """A source inside the repository by its path there (this machine's folders are not news)."""
    from .paths import REPO
    try:
        return str(Path(source).resolve().relative_to(REPO))
    except (TypeError, ValueError):
        return source


def _qualified(text: str, table: str) -> str:
    """``user_id`` → ``<table>.user_id``: a note names identifier columns as the schema does,
    so the publisher's identifier scan (which flags bare names, as in a table header) passes."""
    from .publish.scan import COLUMNS
    return re.sub(rf"(?<![\w.])({'|'.join(COLUMNS)})\b", rf"{table}.\1", text)


def data_notes(manifest: dict, w: Words) -> list[str]:
    """What a mapping did to the company's exports (docs/mapping.md): its own notes, the
    currency, each table's derivations and the rows set aside by rule."""
    m = manifest.get("mapping")
    if not m:
        return []
    notes = [str(n) for n in _in_language(m.get("notes"), w.language)]
    if m.get("currency") and m["currency"] != "CNY":
        notes.append(w.render("report.cover.currency", markdown=False, currency=m["currency"]))
    filled = []
    for table, r in (m.get("tables") or {}).items():
        notes += [w.render("report.cover.table_note", markdown=False, table=table,
                           note=_qualified(_derivation(d, w), table)) for d in r.get("derivations") or []]
        # the placeholders' values (SQL, some built from ids) belong in the manifest; the
        # report names the columns, qualified, once
        filled += [f"{table}.{c}" for c in ((r.get("columns") or {}).get("filled") or {})]
        for rule, n in (r.get("rejected") or {}).items():
            notes.append(w.render("report.cover.rejected", markdown=False, table=table,
                                  rule=_qualified(rule, table), n=n))
    if filled:
        notes.append(w.render("report.cover.placeholders", markdown=False, columns=filled))
    return notes


def _in_language(notes, language: str) -> list:
    """A mapping's own notes: a list as written, or ``{zh: […], en: […]}`` in the book's
    language (another language's when the mapping has none in it: said rather than lost)."""
    if isinstance(notes, dict):
        return notes.get(language) or next((v for v in notes.values() if v), [])
    return notes or []


def _derivation(d, w: Words) -> str:
    """One derivation of the mapping (``{"key": …, params}``, fission.data.mapping) in the
    book's language; text as written by older manifests."""
    if isinstance(d, str):
        return d
    return w.render(f"report.cover.derive.{d['key']}", markdown=False,
                    **{k: v for k, v in d.items() if k != "key"})


def cover_markdown(c: dict) -> str:
    """The cover facts as a table (for the front matter of both engines)."""
    lab = c["labels"]
    lines = [f"| {lab['item']} | {lab['content']} |", "|---|---|",
             f"| {lab['edition']} | {c['edition']} |",
             f"| {lab['source']} | {c['source']} |",
             f"| {lab['fingerprint']} | `{c['fingerprint']}` |",
             f"| {lab['date']} | {c['date']} |"]
    text = "\n".join(lines) + "\n"
    if c["simulated"]:
        text = f"::: {{.callout-warning}}\n{c['notice']}\n:::\n\n" + text
    if c.get("data_notes"):
        text += f"\n**{c['data_notes_title']}**\n\n" + "\n".join(f"- {n}" for n in c["data_notes"]) + "\n"
    return text
