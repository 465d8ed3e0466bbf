"""Publish the report book: ``render()`` builds ``report.html`` and ``report.pdf`` from
``report/_quarto.yml`` with Quarto when it is installed, otherwise with the built-in
pandoc + Typst publisher (see builtin.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..paths import REPORT
from .book import Book, PublishError, load_book

__all__ = ["render", "publish_edition", "PublishError", "load_book", "Book"]


def render(book_dir: Path = REPORT, engine: str = "auto", cover: dict | None = None
           ) -> dict[str, Any]:
    """Render the book in ``book_dir``.

    engine: "auto" (Quarto if on PATH, else built-in), "quarto" or "builtin".
    cover: keys title, subtitle, edition, date, source, fingerprint, simulated (bool);
    title/subtitle/date fall back to _quarto.yml's book entries.
    Returns {"html": Path, "pdf": Path, "chapters": [entries included], "warnings": [...]}.
    """
    from . import quarto
    from .builtin import render_builtin

    book = load_book(Path(book_dir))
    if engine == "auto":
        engine = "quarto" if quarto.available() else "builtin"
        missing = [c for c in book.chapters if not (book.root / c).exists()]
        if engine == "quarto" and missing:
            # Quarto stops on an absent chapter; the built-in publisher skips it instead.
            print(f"[publish] warning: chapters missing ({', '.join(missing)}); "
                  "using the built-in publisher instead of quarto", file=sys.stderr)
            engine = "builtin"
    if engine == "quarto":
        return quarto.render_quarto(book)
    if engine == "builtin":
        return render_builtin(book, cover)
    raise ValueError(f"unknown engine {engine!r} (auto, quarto, builtin)")


def _period(edition, data_dir: Path) -> dict | None:
    """The years the staged data cover (fission.metrics.periods), for the cover; None when the
    data cannot tell (no staged tables)."""
    import duckdb

    from ..data.load import connect
    from ..metrics import periods
    try:
        return periods.edition_periods(connect(data_dir), edition.year, edition.compare_year)
    except (LookupError, OSError, duckdb.Error):     # the cover names the years without the span
        return None


def publish_edition(edition, manifest: dict, engine: str = "auto", build: Path | None = None,
                    output: Path | None = None, publish_partial: bool = False) -> dict[str, Any]:
    """Bind the edition's book (cover, words, executed chapters) and render it; the new
    report.html / report.pdf replace the edition's published ones only once both are made.
    A book that lacks some of the edition's chapters (failed ones) goes to ``<place>-partial/``
    beside the last complete report instead, unless ``publish_partial``."""
    from ..cover import cover
    from ..paths import build_dir, output_dir
    from .bind import bind, dropped_chapters, present_chapters

    build = Path(build or build_dir(edition.place))
    output = Path(output or output_dir(edition.place))
    recover(output)
    if not present_chapters(edition, build):
        raise PublishError(f"no chapter of edition {edition.edition} has been built in {build}; "
                           f"nothing published (the report in {output} is unchanged). "
                           "Run `fission run` first and see its summary")
    # chapters dropped for lack of data are not failures: the book is complete without them
    shown = set(present_chapters(edition, build)) | set(dropped_chapters(edition, build))
    missing = [ch for ch in edition.chapters if ch not in shown]
    if missing and not publish_partial:
        print(f"[publish] warning: {len(missing)} chapter(s) missing ({', '.join(missing)}): "
              f"this book goes to {output.name}-partial/; the complete report in {output} is kept "
              "(--publish-partial publishes it there)", file=sys.stderr)
        output = output.with_name(f"{output.name}-partial")
    from ..paths import STAGED
    c = cover(edition, manifest, period=_period(edition, STAGED / edition.edition))
    book_dir = bind(edition, build, c, data_dir=STAGED / edition.edition)
    results = render(book_dir, engine=engine, cover=c)
    _check_no_identifiers(edition, results, build)
    published = _swap_in(output, results)
    return {**results, **published}


def _check_no_identifiers(edition, results: dict[str, Any], build: Path) -> None:
    """Refuse to publish pages that show an identifier of a person; record the scan's result
    (for the report's own privacy statement) in ``<build>/privacy_scan.json``."""
    import json

    from ..paths import STAGED
    from .scan import find_identifiers, visible_text

    site = Path(results["site"]) if results.get("site") else None
    pages = sorted(site.glob("*.html")) if site else [Path(results["html"])] if "html" in results else []
    text = "\n".join(visible_text(p.read_text(encoding="utf-8")) for p in pages)
    found = find_identifiers(text, STAGED / edition.edition)
    (build / "privacy_scan.json").write_text(json.dumps(
        {"pages": len(pages), "characters": len(text), "findings": found}, ensure_ascii=False,
        indent=1), encoding="utf-8")
    if found:
        raise PublishError("the report shows identifiers of people and was not published: "
                           + "; ".join(found) + ". Remove them from the chapter's facts or words")


def recover(output: Path) -> None:
    """Remove what a publication killed half-way left beside the edition's folder (versions
    that the edition's link does not point at)."""
    import shutil
    if not output.parent.exists():
        return
    current = output.resolve() if output.is_symlink() else None
    for p in output.parent.glob(f".{output.name}.v-*"):
        if p != current:
            shutil.rmtree(p, ignore_errors=True)


def _swap_in(output: Path, results: dict[str, Any]) -> dict[str, Path]:
    """Publish the rendered files as one step: the edition's folder is a link to a version
    folder ``.<name>.v-<time>-<pid>``; the new version is assembled beside it and the link is
    replaced atomically, so a reader or a killed build sees the old report or the new one,
    never a mix; :func:`recover` removes what a killed build left."""
    import os
    import shutil
    import time

    from ..faults import checkpoint
    output.parent.mkdir(parents=True, exist_ok=True)
    new = output.parent / f".{output.name}.v-{time.time_ns()}-{os.getpid()}"
    new.mkdir()
    published: dict[str, Path] = {}
    if results.get("site"):   # Quarto's HTML book: a website (index.html + chapter pages)
        for entry in Path(results["site"]).iterdir():
            (shutil.copytree if entry.is_dir() else shutil.copyfile)(entry, new / entry.name)
        published["html"] = output / "index.html"
    elif "html" in results:
        shutil.copyfile(results["html"], new / Path(results["html"]).name)
        published["html"] = output / Path(results["html"]).name
    if "pdf" in results:
        shutil.copyfile(results["pdf"], new / Path(results["pdf"]).name)
        published["pdf"] = output / Path(results["pdf"]).name
    checkpoint("publishing")
    if output.exists() and not output.is_symlink():   # a folder from before versions: keep it
        output.rename(output.parent / f".{output.name}.v-0-{os.getpid()}")
    link = output.parent / f".{output.name}.link-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(new.name)
    os.replace(link, output)
    recover(output)
    for key, path in published.items():
        print(f"[publish] {key}: {path}")
    return published
