"""Publish the report book: ``render()`` builds ``report.html`` and ``report.pdf`` from
``report/_quarto.yml`` with Quarto when it is installed, otherwise with the built-in
pandoc + Typst publisher (see builtin.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..paths import REPORT
from .book import Book, PublishError, load_book

__all__ = ["render", "PublishError", "load_book", "Book"]


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
