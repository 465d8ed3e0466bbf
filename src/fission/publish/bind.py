"""Bind an edition's book: its executed chapters, their stored facts and the current words
become one Quarto book project that either engine renders.

    report/_build/<edition>/NN_name.ipynb + NN_name.facts.json   (from `fission run`)
    notebooks/words/*.<lang>.yaml                                  (the words, edited freely)
    report/_quarto.yml                                             (formatting only)
        └──▶ report/_build/<edition>/book/  _quarto.yml (generated: title, date, language,
             chapters of this edition), index.qmd (cover, preface, executive summary),
             NN_name.ipynb (prose, captions and tables rendered anew from facts + words)

Because every text is rendered here, a wording edit re-publishes without re-executing a
chapter, and the edition's title, year and language reach both engines from the parameters.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import yaml

from ..chapters import OUTLINE
from ..cover import cover_markdown
from ..notebook import read_facts
from ..paths import REPORT
from ..words import Words, WordsError, dig, read_words
from .book import PublishError
from .brief import appendix_qmd

BOOK = "book"


def built_chapters(edition, build: Path) -> list[str]:
    """The edition's chapters that have an executed notebook and its facts, in book order."""
    return [c for c in edition.chapters
            if (build / f"{c}.ipynb").exists() and (build / f"{c}.facts.json").exists()]


def is_empty(chapter: str, facts: dict) -> bool:
    """A chapter whose every section lacks its data (fission.coverage): left out of the book."""
    from ..coverage import chapter_needs
    needs = chapter_needs(chapter) if chapter in OUTLINE else {}
    sections = {s for s in needs if "." not in s}      # "<section>.<part>" is part of one
    return bool(sections) and sections <= set(facts.get("missing") or {})


def dropped_chapters(edition, build: Path) -> list[str]:
    """Built chapters left out because the edition has none of the data they need."""
    return [c for c in built_chapters(edition, build) if is_empty(c, read_facts(build, c))]


def present_chapters(edition, build: Path) -> list[str]:
    """The chapters the book shows: built, and with at least one section of data."""
    dropped = set(dropped_chapters(edition, build))
    return [c for c in built_chapters(edition, build) if c not in dropped]


def _set_options(source: str, opts: dict[str, str]) -> str:
    """Put Quarto cell options (``#| key: value``) first in a cell, replacing existing ones."""
    lines = source.splitlines()
    keep = [l for l in lines if not any(l.strip().startswith(f"#| {k}:") for k in opts)]
    # an escaped "\@" (no citation) does not survive Quarto's table-caption handling: an
    # HTML entity reads as "@" in both engines without becoming a citation
    head = [f"#| {k}: {json.dumps(v.replace(chr(92) + '@', '&#64;'), ensure_ascii=False)}"
            for k, v in opts.items()]
    return "\n".join(head + keep)


def _split(cell) -> list:
    """A cell showing a labelled figure or table and other outputs becomes one cell per
    output: Quarto would make the other outputs sub-figures of the figure (fig-x-1, fig-x-2).
    The labelled output keeps the cell's options and source; the others get neither."""
    outs = cell.get("outputs", []) if cell.cell_type == "code" else []
    labelled = [((o.get("metadata") or {}).get("fission") or {}).get("kind") in ("figure", "table")
                for o in outs]
    if len(outs) < 2 or not any(labelled):
        return [cell]
    parts = []
    for i, (out, is_labelled) in enumerate(zip(outs, labelled)):
        part = copy.deepcopy(cell)
        part.outputs = [out]
        if i and "id" in part:           # cell ids are unique within a notebook
            part["id"] = f"{cell['id']}-{i}"[-64:]
        if not is_labelled:
            part.source = ""
        parts.append(part)
    return parts


def bind_notebook(nb, words: Words, facts: dict):
    """Render every output that names a words entry again, from ``facts`` and ``words``."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        opts: dict[str, str] = {}
        for out in cell.get("outputs", []):
            meta = (out.get("metadata") or {}).get("fission")
            if not meta:
                continue
            kind = meta.get("kind")
            if kind == "title":
                out["data"]["text/markdown"] = words.title(facts)
            elif kind == "heading":
                out["data"]["text/markdown"] = words.heading(meta["key"], facts)
            elif kind == "text":
                out["data"]["text/markdown"] = words.render(f"text.{meta['key']}", facts)
            elif kind == "notice":
                out["data"]["text/markdown"] = words.missing_notice(facts["missing"][meta["key"]],
                                                                    part="." in meta["key"])
            elif kind in ("figure", "table"):
                if opts:   # cell options label one output per cell
                    raise WordsError(f"{words.where}: {opts['label']} and {meta['label']} are "
                                     "shown by one cell; give each figure or table its own cell")
                if kind == "figure":
                    opts = {"label": meta["label"], "fig-cap": words.caption(meta["label"], facts)}
                else:
                    rows = dig(facts, meta["rows"])
                    out["data"]["text/markdown"] = words.table(meta["label"], rows, facts)
                    opts = {"label": meta["label"],
                            "tbl-cap": words.caption(meta["label"], facts, "tables")}
            out["data"].pop("text/plain", None)
        if opts:
            cell.source = _set_options(cell.source, opts)
    nb.cells = [part for cell in nb.cells for part in _split(cell)]
    return nb


def index_qmd(edition, build: Path, chapters: list[str], cover: dict, common: Words,
              book_dir: Path) -> str:
    """The book's opening: the executive brief first (what executives read), then the preface
    and the notes on the data."""
    from .brief import brief_markdown
    r = lambda key: common.render(f"report.{key}")  # noqa: E731
    dropped = dropped_chapters(edition, build)
    missing = [c for c in edition.chapters if c not in chapters and c not in dropped]
    notes = ""
    title = lambda c: str(common.common.get("chapter_titles", {}).get(c, c))  # noqa: E731
    if missing:
        notes = "\n\n" + common.render("report.missing_chapters", titles=[title(c) for c in missing]) + "\n"
    if dropped:
        notes += "\n\n" + common.render("report.chapters_dropped", titles=[title(c) for c in dropped]) + "\n"
    # no front-matter title: Quarto would number it as chapter 1 beside the unnumbered heading
    return (f"# {r('summary.title')} {{.unnumbered}}\n\n"
            f"{brief_markdown(edition, build, chapters, common, book_dir)}\n"
            f"## {r('preface_title')} {{.unnumbered}}\n\n{r('preface')}\n\n"
            f"## {r('notes_title')} {{.unnumbered}}\n\n{cover_markdown(cover)}{notes}\n")


APPENDIX = "appendix.qmd"


def quarto_yml(edition, chapters: list[str], cover: dict, source: Path = REPORT / "_quarto.yml") -> dict:
    """The repository's _quarto.yml (formatting) with this edition's values."""
    cfg = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    cfg.setdefault("project", {})["output-dir"] = "_output"
    book = cfg.setdefault("book", {})
    book.update({"title": cover["title"], "subtitle": cover["subtitle"], "date": cover["date"],
                 "author": cover["author"],
                 "chapters": ["index.qmd", *[f"{c}.ipynb" for c in chapters], APPENDIX]})
    book.setdefault("output-file", "report")
    cfg["lang"] = edition.language
    if cover.get("simulated"):
        # Quarto's Typst book has no footer of ours: the notice goes on every body page
        typst = cfg.setdefault("format", {}).setdefault("typst", {})
        typst["include-before-body"] = NOTICE_TYP
    return cfg


NOTICE_TYP = "_notice.typ"


def notice_typst(notice: str) -> str:
    """Raw Typst for Quarto's PDF: the simulated-data notice in every page footer."""
    text = re.sub(r"([\\#\[\]*_$@<>`~])", r"\\\1", notice)
    return ("#set page(footer: context {\n  set text(size: 8pt, fill: luma(90))\n"
            f"  grid(columns: (1fr, auto), [{text}], counter(page).display())\n}})\n")


def _bound_text(nb) -> str:
    return "\n".join(str(out["data"]["text/markdown"]) for cell in nb.cells
                     if cell.cell_type == "code" for out in cell.get("outputs", [])
                     if "text/markdown" in (out.get("data") or {}))


def bind(edition, build: Path, cover: dict, book_dir: Path | None = None,
         data_dir: Path | None = None) -> Path:
    """Write the edition's book project under ``build/book`` (replaced whole) and return it.
    The bound text is scanned for identifiers (``data_dir``: the staged data, for the users'
    device hashes), and chapters whose words state the scan (``pub.scan``) are bound again
    with its result; the publisher scans the rendered pages again before publishing."""
    build = Path(build)
    book_dir = Path(book_dir or build / BOOK)
    chapters = present_chapters(edition, build)
    tmp = book_dir.with_name(f".{book_dir.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        from .scan import scan_summary
        common = Words(None, edition.language, edition.template_context(), chapters)
        executed = {ch: nbformat.read(build / f"{ch}.ipynb", as_version=4) for ch in chapters}

        def bind_one(ch, publication=None):
            w = Words(ch, edition.language, edition.template_context(), chapters,
                      publication=publication)
            return bind_notebook(executed[ch], w, read_facts(build, ch))
        bound = {ch: bind_one(ch) for ch in chapters}
        index = index_qmd(edition, build, chapters, cover, common, tmp)
        appendix = appendix_qmd(edition, build, chapters, common)
        text = "\n".join([index, appendix, *(_bound_text(nb) for nb in bound.values())])
        publication = {"scan": scan_summary(text, data_dir)}
        for ch in chapters:
            if "pub." in json.dumps(read_words(ch, edition.language), ensure_ascii=False):
                bound[ch] = bind_one(ch, publication)
            nbformat.write(bound[ch], tmp / f"{ch}.ipynb")
        (tmp / "index.qmd").write_text(index, encoding="utf-8")
        (tmp / APPENDIX).write_text(appendix, encoding="utf-8")
        if cover.get("simulated"):
            (tmp / NOTICE_TYP).write_text(notice_typst(cover["notice"]), encoding="utf-8")
        (tmp / "_quarto.yml").write_text(
            yaml.safe_dump(quarto_yml(edition, chapters, cover), allow_unicode=True, sort_keys=False),
            encoding="utf-8")
        if (REPORT / "assets").is_dir():
            shutil.copytree(REPORT / "assets", tmp / "assets")
    except (WordsError, KeyError, FileNotFoundError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"binding the book of edition {edition.edition} failed: {e}") from e
    shutil.rmtree(book_dir, ignore_errors=True)
    os.replace(tmp, book_dir)
    return book_dir
