"""The Quarto engine: ``quarto render`` on the edition's bound book project (bind.py).

The bound project is what Quarto expects of a book of executed notebooks: chapters beside
``_quarto.yml``, cell options (``#| label``, ``#| fig-cap``) written into the cells, the
preface unnumbered, the edition's title, date and language in the generated metadata.
HTML and Typst are rendered in two runs: in one run Quarto 1.11 removes a notebook's
extracted ``figure-typst`` images before the book's Typst file is compiled ("file not
found … figure-typst/…png"); rendered one format at a time, both come out whole.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

from .book import Book, PublishError


def available() -> bool:
    return shutil.which("quarto") is not None


def _font_args(book: Book) -> list[str]:
    """The built-in publisher's font choice (builtin.typst_fonts: an English book's Latin font
    first). Quarto's Typst template takes one main font: the Chinese one is then reached
    through Typst's own fallback."""
    from .builtin import typst_fonts
    if book.lang != "en":
        return []
    fonts = typst_fonts(book)
    return ["-M", f"mainfont:{fonts['mainfont'][0]}", "-M", f"codefont:[{', '.join(fonts['codefont'])}]"]


def _quarto(exe: str, book: Book, fmt: str) -> None:
    fonts = _font_args(book) if fmt == "typst" else []
    proc = subprocess.run([exe, "render", str(book.root), "--to", fmt, *fonts], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise PublishError(f"quarto render --to {fmt} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-4000:]}")
    for line in proc.stderr.splitlines():
        if "WARN" in line and "typst-gather" not in line:
            print(f"  quarto: {line.strip()}", file=sys.stderr)


def render_quarto(book: Book) -> dict[str, Any]:
    exe = shutil.which("quarto")
    if not exe:
        raise PublishError("quarto is not on PATH; use --engine builtin")
    missing = [c for c in book.chapters if not (book.root / c).exists()]
    if missing:
        raise PublishError(f"quarto render: chapters missing: {', '.join(missing)}")
    out = book.output_dir
    shutil.rmtree(out, ignore_errors=True)
    results: dict[str, Any] = {"chapters": list(book.chapters), "warnings": []}
    formats = set(book.formats) or {"html", "typst"}
    site = book.root / "_site_html"
    shutil.rmtree(site, ignore_errors=True)
    if "html" in formats:
        _quarto(exe, book, "html")
        # a Quarto HTML book is a small website: index.html and one page per chapter. Set
        # aside: a full project render cleans the output directory first.
        out.rename(site)
    if "typst" in formats:
        _quarto(exe, book, "typst")
        results["pdf"] = out / f"{book.output_file}.pdf"
    if site.exists():
        out.mkdir(exist_ok=True)
        site.rename(out / "site")
        results["site"] = out / "site"
        results["html"] = out / "site" / "index.html"
    for key in ("html", "pdf"):
        if key in results and not results[key].exists():
            raise PublishError(f"quarto render made no {results[key]}")
        if key in results:
            print(f"[publish] {results[key]}")
    return results
