"""The thin Quarto engine: ``quarto render <book_dir>`` builds both formats from _quarto.yml."""
from __future__ import annotations

import shutil
import subprocess
from typing import Any

from .book import Book, PublishError


def available() -> bool:
    return shutil.which("quarto") is not None


def render_quarto(book: Book) -> dict[str, Any]:
    exe = shutil.which("quarto")
    if not exe:
        raise PublishError("quarto is not on PATH")
    missing = [c for c in book.chapters if not (book.root / c).exists()]
    if missing:
        # Quarto stops on a missing chapter; the built-in engine skips it instead.
        raise PublishError(f"quarto render: chapters missing: {', '.join(missing)}")
    proc = subprocess.run([exe, "render", str(book.root)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PublishError(f"quarto render failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-4000:]}")
    out = book.output_dir
    results: dict[str, Any] = {"chapters": list(book.chapters), "warnings": []}
    # An HTML book is a small website (index.html + one page per chapter); single-file
    # formats (the PDF) are named after book.output-file.
    for key, cand in (("html", out / "index.html"), ("html", out / f"{book.output_file}.html"),
                      ("pdf", out / f"{book.output_file}.pdf")):
        if cand.exists() and key not in results:
            results[key] = cand
            print(f"[publish] {cand}")
    return results
