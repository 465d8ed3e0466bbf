"""The book as described by ``report/_quarto.yml`` (a Quarto book project).

Both engines read the same file: Quarto itself, and the built-in publisher through
:func:`load_book`, which understands the subset of options the report uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class PublishError(RuntimeError):
    """Publishing failed; the message names the tool and the chapter involved."""


#: Keys the repository's _quarto.yml may use (all documented Quarto options); the built-in
#: engine understands them (the html/typst format options it maps are listed in builtin.py).
KNOWN_KEYS: dict[str, set[str]] = {
    "": {"project", "book", "lang", "execute", "format", "crossref", "number-sections",
         "toc", "toc-depth", "toc-title"},
    "project": {"type", "output-dir"},
    "book": {"title", "subtitle", "date", "author", "chapters", "output-file", "downloads",
             "appendices"},
    "execute": {"enabled", "echo", "warning", "freeze"},
    "format.html": {"embed-resources", "toc", "toc-depth", "number-sections", "echo", "warning",
                    "css", "lang", "toc-title"},
    "format.typst": {"toc", "toc-depth", "number-sections", "section-numbering", "papersize",
                     "mainfont", "sansfont", "codefont", "fontsize", "font-paths", "echo",
                     "warning", "margin"},
}


@dataclass
class Book:
    root: Path
    title: str
    subtitle: str = ""
    date: str = ""
    author: list[str] = field(default_factory=list)
    chapters: list[str] = field(default_factory=list)
    output_dir: Path = Path("_book")
    output_file: str = "report"
    lang: str = "zh"
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def option(self, fmt: str, key: str, default: Any = None) -> Any:
        """A format option, falling back to the top-level (all formats) value."""
        opts = self.formats.get(fmt) or {}
        if key in opts:
            return opts[key]
        return self.config.get(key, default)


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]


def _chapter_paths(entries: Any) -> list[str]:
    """Flatten Quarto's chapter list (plain paths, or parts ``{part: ..., chapters: [...]}``)."""
    out: list[str] = []
    for e in entries or []:
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, dict):
            if "chapters" in e:
                if isinstance(e.get("part"), str) and e["part"].endswith((".qmd", ".md")):
                    out.append(e["part"])
                out.extend(_chapter_paths(e["chapters"]))
            elif "href" in e:
                out.append(str(e["href"]))
    return out


def load_book(book_dir: Path) -> Book:
    book_dir = Path(book_dir).resolve()
    cfg_path = book_dir / "_quarto.yml"
    if not cfg_path.exists():
        raise PublishError(f"no _quarto.yml in {book_dir}")
    try:
        cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise PublishError(f"{cfg_path}: invalid YAML: {e}") from e
    bk = cfg.get("book") or {}
    formats: dict[str, dict[str, Any]] = {}
    for name, opts in (cfg.get("format") or {}).items():
        formats[str(name)] = opts if isinstance(opts, dict) else {}
    date = bk.get("date", "")
    return Book(
        root=book_dir,
        title=str(bk.get("title", "")),
        subtitle=str(bk.get("subtitle", "") or ""),
        date=str(date) if date is not None else "",
        author=_as_list(bk.get("author")),
        chapters=_chapter_paths(bk.get("chapters")) + _chapter_paths(bk.get("appendices")),
        output_dir=book_dir / str((cfg.get("project") or {}).get("output-dir", "_book")),
        output_file=str(bk.get("output-file") or _slug(str(bk.get("title", "report")))),
        lang=str(cfg.get("lang", "zh")),
        formats=formats,
        config=cfg,
    )


def _slug(s: str) -> str:
    return re.sub(r"[^\w.-]+", "-", s).strip("-") or "report"


def unknown_keys(cfg: dict[str, Any]) -> list[str]:
    """Keys of a _quarto.yml outside :data:`KNOWN_KEYS` (for the repository's own file)."""
    bad = [k for k in cfg if k not in KNOWN_KEYS[""]]
    for sect in ("project", "book", "execute"):
        bad += [f"{sect}.{k}" for k in (cfg.get(sect) or {}) if k not in KNOWN_KEYS[sect]]
    for fmt, opts in (cfg.get("format") or {}).items():
        allowed = KNOWN_KEYS.get(f"format.{fmt}")
        if allowed is None:
            bad.append(f"format.{fmt}")
            continue
        bad += [f"format.{fmt}.{k}" for k in (opts or {}) if k not in allowed]
    return bad
