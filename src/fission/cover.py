"""What the cover says: the edition, its data source and fingerprint, and — when the data is
simulated — a notice that it is; in the edition's language (common words, ``report.cover``)."""
from __future__ import annotations

import datetime as dt

from .words import Words


def cover(edition, manifest: dict, words: Words | None = None) -> dict:
    w = words or Words(None, edition.language, edition.template_context())
    simulated = bool(manifest.get("simulated", edition.simulated))
    ctx = {"seed": manifest.get("seed"), "source": manifest.get("source")}
    source = w.render("report.cover.source_simulated" if simulated else "report.cover.source_own",
                      markdown=False, **ctx)
    return {
        "title": edition.full_title(w),
        "subtitle": edition.full_subtitle(w),
        "author": w.render("report.author", markdown=False),
        "edition": w.render("report.cover.edition", markdown=False),
        "date": (edition.date or dt.date.today()).isoformat(),
        "source": source,
        "fingerprint": manifest.get("short_fingerprint") or manifest["fingerprint"][:12],
        "simulated": simulated,
        "notice": w.render("report.simulated_notice", markdown=False) if simulated else "",
        "labels": {k: str(v) for k, v in w.entry("report.cover.labels").items()},
        "data_notes": data_notes(manifest, w),
        "data_notes_title": w.render("report.cover.data_notes", markdown=False),
    }


def data_notes(manifest: dict, w: Words) -> list[str]:
    """What a mapping did to the company's exports (docs/mapping.md): its own notes, the
    currency, each table's derivations and the rows set aside by rule."""
    m = manifest.get("mapping")
    if not m:
        return []
    notes = [str(n) for n in m.get("notes") or []]
    if m.get("currency") and m["currency"] != "CNY":
        notes.append(w.render("report.cover.currency", markdown=False, currency=m["currency"]))
    for table, r in (m.get("tables") or {}).items():
        notes += [f"{table}: {d}" for d in r.get("derivations") or []]
        for rule, n in (r.get("rejected") or {}).items():
            notes.append(w.render("report.cover.rejected", markdown=False, table=table, rule=rule, n=n))
    return notes


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
