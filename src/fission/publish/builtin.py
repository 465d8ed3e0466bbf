"""The built-in publisher: the same book as ``quarto render``, made with the tools Quarto is
built on — pandoc (``pypandoc-binary``) for HTML and Typst (``typst`` on PyPI) for the PDF.

notebook ──pandoc ipynb reader + filters/notebook.lua──▶ JSON AST (one per chapter, in parallel)
index.qmd ─include shortcodes, front matter─▶ Markdown ──pandoc──▶ JSON AST
joined AST ──filters/crossref.lua──▶ HTML (self-contained) and Typst ──typst──▶ PDF
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from .book import Book, PublishError

HERE = Path(__file__).resolve().parent
FILTERS = HERE / "filters"
TEMPLATES = HERE / "templates"
FONT_DIRS = ["/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto"]
#: per book language: pandoc's lang and region (zh-CN would warn of a missing translation),
#: Typst's text language and region
LANG = {"zh": {"pandoc": ("zh-Hans", "CN"), "typst": ("zh", "cn")},
        "en": {"pandoc": ("en-US", "US"), "typst": ("en", "us")}}

#: the book's own fonts (report/_quarto.yml: mainfont, sansfont, codefont) are the Chinese ones;
#: an English book puts a Latin font before each: a CJK font's curly apostrophe and quotes are
#: full width ("chapter’ s"), and Chinese left in an English book (data names) still finds the
#: CJK font next. Libertinus Serif and DejaVu Sans Mono are embedded in Typst itself (this
#: publisher's and Quarto's: every machine has them); DejaVu Sans comes with fontconfig.
CJK_FONTS = {"mainfont": "Noto Serif CJK SC", "sansfont": "Noto Sans CJK SC", "codefont": "Noto Sans Mono CJK SC"}
LATIN_FONTS = {"mainfont": "Libertinus Serif", "sansfont": "DejaVu Sans", "codefont": "DejaVu Sans Mono"}

INCLUDE_RE = re.compile(r"^[ \t]*\{\{<\s*include\s+(\"[^\"]+\"|'[^']+'|\S+)\s*>\}\}[ \t]*$",
                        re.MULTILINE)
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*\n", re.DOTALL)


@dataclass
class Chapter:
    entry: str          # as listed in _quarto.yml
    path: Path
    key: str            # c0, c1, ... unique prefix

    @property
    def kind(self) -> str:
        return "notebook" if self.path.suffix == ".ipynb" else "markdown"


def pandoc_path() -> str:
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except Exception:  # pragma: no cover - pypandoc-binary is a dependency
        exe = shutil.which("pandoc")
        if not exe:
            raise PublishError("pandoc not found (install pypandoc-binary)")
        return exe


def typst_fonts(book: Book) -> dict[str, list[str]]:
    """Per font role (mainfont, sansfont, codefont), the Typst font list of the book's
    language: the book's font (or the Chinese default), after a Latin one in English."""
    out = {}
    for role, cjk in CJK_FONTS.items():
        own = book.option("typst", role) or cjk
        out[role] = [LATIN_FONTS[role], own] if book.lang == "en" and own != LATIN_FONTS[role] else [own]
    return out


def font_paths() -> list[str]:
    """Directories holding the Noto CJK fonts (Debian fonts-noto-cjk), found with fc-list."""
    dirs: list[str] = []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            f = line.split(":")[0].strip()
            if "CJK" in f and os.path.dirname(f) not in dirs:
                dirs.append(os.path.dirname(f))
    except (OSError, subprocess.SubprocessError):
        pass
    for d in FONT_DIRS:
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    return dirs


#: messages from the tools during the current render (collected into the result)
_messages: list[str] = []


def _run_pandoc(args: list[str], *, cwd: Path, what: str, stdin: str | None = None) -> str:
    proc = subprocess.run([pandoc_path(), *args], cwd=cwd, capture_output=True, text=True,
                          input=stdin)
    for line in proc.stderr.splitlines():
        if line.strip():
            print(f"  {what}: {line}", file=sys.stderr)
            _messages.append(f"{what}: {line.strip()}")
    if proc.returncode != 0:
        raise PublishError(f"pandoc failed on {what} (exit {proc.returncode}): "
                           f"{proc.stderr.strip()}")
    return proc.stdout


# ---- index.qmd ---------------------------------------------------------------------------

def expand_includes(text: str, base: Path, root: Path, depth: int = 0) -> str:
    """Quarto's ``{{< include file >}}`` shortcode: textual inclusion, the path relative to the
    including file (``/path`` relative to the project root); nested includes are expanded."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1).strip("\"'")
        target = (root / name.lstrip("/")) if name.startswith("/") else (base / name)
        if not target.exists():
            msg = f"include {name} not found ({target})"
            print(f"[publish] warning: {msg}", file=sys.stderr)
            _messages.append(msg)
            return ""
        inc = target.read_text(encoding="utf-8")
        if depth < 5:
            inc = expand_includes(inc, base, root, depth + 1)
        return inc.rstrip("\n") + "\n"
    return INCLUDE_RE.sub(sub, text)


def qmd_to_markdown(path: Path, root: Path) -> tuple[str, dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    meta: dict[str, Any] = {}
    m = FRONT_MATTER_RE.match(text)
    if m:
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError:
            meta = {}
        text = text[m.end():]
    text = expand_includes(text, path.parent, root)
    if not re.search(r"^#\s", text, re.MULTILINE) and meta.get("title"):
        text = f"# {meta['title']} {{.unnumbered}}\n\n{text}"
    return text, meta


# ---- the AST -----------------------------------------------------------------------------

def _inlines(s: str) -> dict[str, Any]:
    return {"t": "MetaInlines", "c": [{"t": "Str", "c": str(s)}]}


def book_meta(book: Book, cover: dict[str, Any]) -> dict[str, Any]:
    def pick(key: str, fallback: str = "") -> str:
        v = cover.get(key)
        return str(v) if v not in (None, "") else fallback

    meta: dict[str, Any] = {
        "title": _inlines(pick("title", book.title)),
        "pagetitle": _inlines(pick("title", book.title)),
        "simulated": {"t": "MetaBool", "c": bool(cover.get("simulated"))},
    }
    if cover.get("simulated"):
        if not cover.get("notice"):
            raise PublishError("the data is simulated but the cover has no notice saying so")
        meta["notice"] = _inlines(cover["notice"])
    for key, fallback in (("subtitle", book.subtitle), ("date", book.date),
                          ("edition", ""), ("source", ""), ("fingerprint", "")):
        v = pick(key, fallback)
        if v:
            meta[key] = _inlines(v)
    authors = [cover["author"]] if cover.get("author") else book.author
    if authors:
        meta["author"] = {"t": "MetaList", "c": [_inlines(a) for a in authors]}
    # the templates' own words (cover labels, "目录"/"Contents") come with the cover
    for key, text in (cover.get("labels") or {}).items():
        meta[f"label-{key}"] = _inlines(text)
    lang = LANG.get(book.lang, LANG["zh"])
    meta["text-lang"], meta["text-region"] = _inlines(lang["typst"][0]), _inlines(lang["typst"][1])
    meta["crossref-lang"] = _inlines(book.lang if book.lang in LANG else "zh")
    return meta


def join(docs: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    blocks: list[Any] = []
    for d in docs:
        blocks.extend(d["blocks"])
    return {"pandoc-api-version": docs[0]["pandoc-api-version"], "meta": meta, "blocks": blocks}


# ---- the engine ----------------------------------------------------------------------------

def resolve_chapters(book: Book, warn: Callable[[str], None]) -> list[Chapter]:
    chapters = []
    for i, entry in enumerate(book.chapters):
        p = (book.root / entry).resolve()
        if not p.exists():
            warn(f"chapter {entry} skipped: {p} does not exist (not executed, or failed)")
            continue
        chapters.append(Chapter(entry, p, f"c{i}"))
    return chapters


def convert_chapter(ch: Chapter, book: Book, work: Path, default_echo: bool) -> dict[str, Any]:
    media = f"media/{ch.key}"
    if ch.kind == "notebook":
        args = ["-f", "ipynb", "--ipynb-output=all", "-t", "json",
                "--lua-filter", str(FILTERS / "notebook.lua"),
                "-M", f"chapter-prefix={ch.key}", "-M", f"chapter-name={ch.path.stem}",
                "-M", f"default-echo={'true' if default_echo else 'false'}",
                f"--extract-media={media}", str(ch.path)]
        out = _run_pandoc(args, cwd=work, what=f"chapter {ch.entry}")
    else:
        text, _ = qmd_to_markdown(ch.path, book.root)
        args = ["-f", "markdown", "-t", "json", f"--extract-media={media}",
                f"--resource-path={ch.path.parent}{os.pathsep}{book.root}"]
        out = _run_pandoc(args, cwd=work, what=f"chapter {ch.entry}", stdin=text)
    try:
        return json.loads(out)
    except json.JSONDecodeError as e:
        raise PublishError(f"pandoc gave no JSON for chapter {ch.entry}: {e}") from e


def _as_list(v: Any) -> list[str]:
    if not v:
        return []
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def _size(p: Path) -> str:
    n = p.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def render_builtin(book: Book, cover: dict[str, Any] | None = None,
                   formats: tuple[str, ...] | None = None, keep_work: bool | None = None
                   ) -> dict[str, Any]:
    t0 = time.perf_counter()
    cover = dict(cover or {})
    warnings: list[str] = []
    _messages.clear()

    def warn(msg: str) -> None:
        warnings.append(msg)
        print(f"[publish] warning: {msg}", file=sys.stderr)

    if formats is None:
        listed = set(book.formats)
        formats = tuple(f for f in ("html", "pdf")
                        if not listed or f in listed or (f == "pdf" and "typst" in listed))
    chapters = resolve_chapters(book, warn)
    if not chapters:
        raise PublishError(f"no chapter of {book.root / '_quarto.yml'} exists; nothing to publish")

    echo = book.option("html", "echo", (book.config.get("execute") or {}).get("echo", False))
    keep = keep_work if keep_work is not None else bool(os.environ.get("FISSION_PUBLISH_KEEP"))
    work = Path(tempfile.mkdtemp(prefix="fission-publish-"))
    try:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
            docs = list(pool.map(lambda c: convert_chapter(c, book, work, bool(echo) is True),
                                 chapters))
        t1 = time.perf_counter()
        doc = join(docs, book_meta(book, cover))
        (work / "book.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        out_dir = book.output_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {}

        lang, region = LANG.get(book.lang, LANG["zh"])["pandoc"]
        common = ["-f", "json", "--wrap=none", "--lua-filter", str(FILTERS / "crossref.lua"),
                  "--metadata", f"lang={lang}", "-V", f"region={region}", "book.json"]

        def write_html() -> Path:
            dest = out_dir / f"{book.output_file}.html"
            args = [*common, "-t", "html5", "--standalone", "--embed-resources",
                    "--template", str(TEMPLATES / "report.html"),
                    "--css", str(TEMPLATES / "report.css"),
                    *[a for css in _as_list(book.option("html", "css"))
                      if (book.root / css).exists() for a in ("--css", str(book.root / css))],
                    f"--resource-path={work}{os.pathsep}{book.root}"]
            if book.option("html", "toc", True):
                args += ["--toc", f"--toc-depth={book.option('html', 'toc-depth', 2)}"]
            if book.option("html", "number-sections", True):
                args.append("--number-sections")
            args += ["-o", str(dest)]
            _run_pandoc(args, cwd=work, what="HTML (joined book)")
            return dest

        def write_typst() -> Path:
            dest = work / "report.typ"
            args = [*common, "-t", "typst", "--template", str(TEMPLATES / "report.typ"),
                    "-V", f"papersize={book.option('typst', 'papersize', 'a4')}",
                    "-V", f"section-numbering={book.option('typst', 'section-numbering', '1.1')}"]
            for role, fonts in typst_fonts(book).items():   # a list: -V repeated
                args += [a for f in fonts for a in ("-V", f"{'monofont' if role == 'codefont' else role}={f}")]
            if book.option("typst", "toc", True):
                args += ["--toc", f"--toc-depth={book.option('typst', 'toc-depth', 2)}"]
            args += ["-o", str(dest)]
            _run_pandoc(args, cwd=work, what="Typst (joined book)")
            return dest

        jobs = {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            if "html" in formats:
                jobs["html"] = pool.submit(write_html)
            if "pdf" in formats:
                jobs["typ"] = pool.submit(write_typst)
            if "html" in jobs:
                results["html"] = jobs["html"].result()
                print(f"[publish] {results['html']}  {_size(results['html'])}")
            typ = jobs["typ"].result() if "typ" in jobs else None
        if typ is not None:
            results["pdf"] = compile_pdf(typ, out_dir / f"{book.output_file}.pdf", work)
            print(f"[publish] {results['pdf']}  {_size(results['pdf'])}")
        if keep:
            results["work"] = work
        results["chapters"] = [c.entry for c in chapters]
        for m in _messages:
            if m not in warnings:
                warnings.append(m)
        results["warnings"] = warnings
        print(f"[publish] {len(chapters)} chapter(s) in {time.perf_counter() - t0:.2f} s "
              f"(chapters → AST {t1 - t0:.2f} s)")
        return results
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def compile_pdf(typ: Path, dest: Path, root: Path) -> Path:
    import typst

    try:
        _, warns = typst.compile_with_warnings(str(typ), output=str(dest), root=str(root),
                                               font_paths=font_paths())
    except Exception as e:  # typst.TypstError carries the diagnostics
        raise PublishError(f"typst failed on the joined book ({typ.name}): {e}") from e
    for w in warns or []:
        msg = f"typst: warning: {getattr(w, 'message', w)}"
        print(f"  {msg}", file=sys.stderr)
        _messages.append(msg)
    return dest
