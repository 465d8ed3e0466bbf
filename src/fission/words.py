"""A chapter's words: prose, headings, captions, figure labels and table headers per language,
kept in ``notebooks/words/<chapter>.<lang>.yaml`` (and ``common.<lang>.yaml`` for what every
chapter shares) as Jinja templates over the chapter's facts. Analysts edit them without
touching Python; the publisher renders them again from the stored facts, so a wording edit
re-publishes without re-executing the chapter (docs/chapters.md).

In a template: ``f`` is the chapter's facts, ``ed`` the edition (year, compare_year, edition,
language, min_group_size, simulated), ``r`` the row in a table column, ``pub`` what the
publisher found when binding the book (``pub.scan``: the identifier scan) or None; the filters of
:mod:`fission.fmt` (``pct``, ``pp``, ``yuan``, ``change``, ``ci`` …) and ``name(kind)`` for the
display name of a code from a closed list, e.g. ``{{ r.channel | name('channel') }}``.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from . import fmt
from .chapters import OUTLINE, SLUG_TO_CHAPTER, section_label
from .paths import NOTEBOOKS

WORDS_DIR = NOTEBOOKS / "words"
SEC_REF_RE = re.compile(r"@sec-([a-z0-9]+)((?:-[a-z0-9]+)*)")
NOT_A_REF_RE = re.compile(r"(?<!\\)@(?!(?:fig|tbl|sec)-)")


class WordsError(ValueError):
    """A words file is missing, malformed, or a template refers to something that is not there."""


@lru_cache(maxsize=64)
def _read(path: Path, mtime: float) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise WordsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise WordsError(f"{path}: expected a mapping of keys to texts")
    return data


def read_words(name: str, language: str, words_dir: Path | None = None) -> dict:
    path = Path(words_dir or WORDS_DIR) / f"{name}.{language}.yaml"
    if not path.exists():
        raise WordsError(f"no words file {path}: copy the zh file of the same name and translate it")
    return _read(path, path.stat().st_mtime)


def dig(d: dict, dotted: str, where: str = "the facts") -> Any:
    """The entry at a dotted path (``tables.tbl-x.caption``, ``funnel.rows``)."""
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise WordsError(f"{where}: no entry {dotted!r}")
        cur = cur[part]
    return cur


class Words:
    """The words of one chapter (or of the report's front matter with ``chapter=None``) in one
    language, bound to an edition."""

    def __init__(self, chapter: str | None, language: str, edition: dict | None = None,
                 chapters_present: list[str] | None = None, words_dir: Path | None = None,
                 publication: dict | None = None):
        self.chapter = chapter
        self.language = language
        self.words_dir = Path(words_dir or WORDS_DIR)
        self.common = read_words("common", language, self.words_dir)
        self.own = read_words(chapter, language, self.words_dir) if chapter else {}
        self.where = str(self.words_dir / f"{chapter or 'common'}.{language}.yaml")
        self.edition = dict(edition or {})
        self.present = list(chapters_present) if chapters_present is not None else None
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                      keep_trailing_newline=False, trim_blocks=True,
                                      lstrip_blocks=True)
        funcs = fmt.filters(language, self.edition.get("currency") or "CNY")
        self.env.filters.update(funcs)
        self.env.globals.update(funcs)
        self.env.filters["name"] = self.name
        self.env.globals["suppressed"] = self.suppressed
        # what only the publisher knows (the identifier scan of the bound pages); None while a
        # chapter executes, so its words say what will happen instead
        self.env.globals["pub"] = publication

    # ---- lookups -----------------------------------------------------------------------
    def name(self, code: Any, kind: str) -> str:
        """Display name of a code from a closed list (``names.<kind>`` in common words)."""
        names = self.common.get("names", {}).get(kind)
        if names is None:
            raise WordsError(f"{self.words_dir}/common.{self.language}.yaml: no names.{kind}")
        for key in (code, str(code)):
            if key in names:
                return str(names[key])
        if isinstance(code, str) and code.isdigit() and int(code) in names:
            return str(names[int(code)])
        return str(code)

    def suppressed(self, n: int) -> str:
        """The note under a table whose small groups were hidden (empty when none were)."""
        if not n:
            return ""
        return self.render_text(self.common["report"]["suppressed"], None, n=int(n),
                                min=self.edition.get("min_group_size"))

    def entry(self, dotted: str) -> Any:
        return dig(self.own if self.chapter else self.common, dotted, self.where)

    # ---- rendering ---------------------------------------------------------------------
    def missing_notice(self, missing: list, part: bool = False) -> str:
        """The notice shown instead of a section (or a part of one) whose data the edition
        lacks. An item is a table or ``table.column``, or a dict for too short a history:
        ``{"history": "users.signup_ts", "have": 11, "need": 12}`` (complete months)."""
        items = [self.render_text(self.common["report"]["missing_history"], None, **m)
                 if isinstance(m, dict) else m for m in missing]
        key = "part_missing" if part else "section_missing"
        return self.render_text(self.common["report"][key], None, missing=items)

    def render_text(self, template: str, facts: dict | None = None, markdown: bool = True,
                    **extra) -> str:
        """Render a template. As Markdown (the default) an ``@`` that is no cross-reference is
        escaped: Quarto would read "NDCG@10" as a citation and its PDF would fail."""
        ctx = {"f": facts or {}, "ed": self.edition, **extra}
        try:
            text = self.env.from_string(str(template)).render(ctx)
        except jinja2.TemplateError as e:
            raise WordsError(f"{self.where}: {type(e).__name__}: {e} in template "
                             f"{str(template)[:120]!r}") from None
        text = self._absent_refs(text.strip())
        return NOT_A_REF_RE.sub(r"\\@", text) if markdown else text

    def render(self, key: str, facts: dict | None = None, markdown: bool = True, **extra) -> str:
        """Render the entry ``key`` (dotted, e.g. ``text.cohort``) with the chapter's facts."""
        return self.render_text(self.entry(key), facts, markdown, **extra)

    def title(self, facts: dict | None = None) -> str:
        return f"# {self.render('title', facts)} {{#{section_label(self.chapter)}}}"

    def heading(self, section: str, facts: dict | None = None) -> str:
        return (f"## {self.render(f'sections.{section}', facts)} "
                f"{{#{section_label(self.chapter, section)}}}")

    def caption(self, label: str, facts: dict | None = None, kind: str = "figures") -> str:
        return self.render(f"{kind}.{label}.caption", facts)

    def labels(self, label: str, facts: dict | None = None) -> dict:
        """Texts drawn inside a figure (axis labels, legends), rendered now: editing them
        re-executes the chapter (they are part of its cache key, see :meth:`figure_hash`)."""
        spec = self.entry(f"figures.{label}").get("labels") or {}
        return {k: (self.render_text(v, facts, markdown=False) if isinstance(v, str) else v)
                for k, v in spec.items()}

    def table(self, label: str, rows: list[dict], facts: dict | None = None) -> str:
        """A Markdown pipe table from ``rows`` (records) with the words' columns
        (``tables.<label>.columns``: header → template over ``r``) and optional note."""
        spec = self.entry(f"tables.{label}")
        columns = spec.get("columns") or {}
        if not columns:
            raise WordsError(f"{self.where}: tables.{label} has no columns")
        header = [self.render_text(h, facts) for h in columns]
        body = [[self.render_text(t, facts, r=_Row(r)).replace("|", "\\|").replace("\n", " ")
                 for t in columns.values()] for r in rows]
        numeric = [bool(body) and all(_looks_numeric(row[i]) for row in body)
                   for i in range(len(header))]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        text = "\n".join(lines)
        note = self.render_text(spec["note"], facts) if spec.get("note") else ""
        return text + (f"\n\n{note}" if note else "")

    def _absent_refs(self, text: str) -> str:
        """``@sec-<slug>`` of a chapter this edition does not have → a short notice."""
        if self.present is None:
            return text

        def sub(m: re.Match) -> str:
            chapter = SLUG_TO_CHAPTER.get(m.group(1))
            if chapter is None or chapter in self.present:
                return m.group(0)
            title = self.common.get("chapter_titles", {}).get(chapter, chapter)
            return self.env.from_string(self.common["report"]["absent_chapter"]).render(title=title)
        return SEC_REF_RE.sub(sub, text)

    # ---- what figures depend on ------------------------------------------------------------
    def figure_hash(self) -> str:
        """Hash of the texts figures draw (figure labels and the names of codes): part of a
        chapter's cache key, unlike prose, captions and table headers (bound at publishing)."""
        figs = {k: (v or {}).get("labels") for k, v in (self.own.get("figures") or {}).items()}
        blob = json.dumps([figs, self.common.get("names")], sort_keys=True, ensure_ascii=False,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


class _Row(dict):
    """A table row whose missing fields fail loudly (a dict's ``r.x`` would be undefined)."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


_NUMERIC_RE = re.compile(r"^[+\-−]?[\d,.]+|^—$|^CNY ")


def _looks_numeric(s: str) -> bool:
    return bool(_NUMERIC_RE.match(s.strip()))


def all_sec_labels(language: str = "zh", words_dir: Path | None = None) -> set[str]:
    """Every ``sec-`` label a reference may name: each chapter of the outline and the
    sections of the chapters that have words."""
    labels = {section_label(ch) for ch in OUTLINE}
    for ch in OUTLINE:
        path = Path(words_dir or WORDS_DIR) / f"{ch}.{language}.yaml"
        if path.exists():
            for s in (read_words(ch, language, words_dir).get("sections") or {}):
                labels.add(section_label(ch, s))
    return labels
