"""Partial data, published: the small simulated platform without ``share_visits`` (the share
log's visits, needed by chapters 1, 2, 3, 4 and 10) staged as a ``directory`` source and taken
through `fission report` with the built-in publisher, as an analyst whose exports hold no visit
log would. The book is complete (published in the normal place, not ``-partial``): each section
that needs the visits shows one notice naming them, every other section of the edition is there,
every cross-reference resolves and the executive brief opens the book.

tests/coverage_check.py does this per chapter notebook; this is the whole book once."""
from __future__ import annotations

import re

import pytest

from coverage_check import reduced
from fission import coverage, params
from fission.chapters import section_label
from fission.data.load import connect
from fission.paths import REPO
from fission.words import Words, read_words
from test_report_e2e import _copy_repo, _fission, _html_text

TABLE = "share_visits"
pytestmark = pytest.mark.slow


def _flat(text: str) -> str:
    """Text as compared: no Markdown emphasis or escapes, no whitespace (HTML breaks lines)."""
    return re.sub(r"[\s*`\\]", "", text)


@pytest.fixture(scope="module")
def published(small_platform, tmp_path_factory):
    work = tmp_path_factory.mktemp("repo")
    _copy_repo(work)
    data = reduced(small_platform[0], tmp_path_factory.mktemp("data") / f"without-{TABLE}", TABLE)
    run = _fission(work, "-p", "data.source=directory", "-p", f"data.path={data}",
                   "report", "--engine", "builtin")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    con = connect(data)
    try:
        rows = coverage.matrix(con)
    finally:
        con.close()
    return work, run, rows


def _blocks(html: str) -> dict[str, str]:
    """Each section's HTML, from its heading's id to the next section or chapter heading."""
    marks = [(m.start(), m.group(1)) for m in re.finditer(r'<h[12][^>]*\bid="(sec-[\w-]+)"', html)]
    if not marks:   # pandoc puts the id on the <section> around the heading
        marks = [(m.start(), m.group(1)) for m in re.finditer(r'<section[^>]*\bid="(sec-[\w-]+)"', html)]
    return {label: html[a:b] for (a, label), (b, _) in zip(marks, marks[1:] + [(len(html), "")])}


def test_book_without_share_visits_is_published_whole(published):
    work, run, rows = published
    out = work / "report" / "_output"
    html_path = out / "2025" / "report.html"
    assert html_path.is_file() and not (out / "2025-partial").exists(), run.stderr[-2000:]
    assert "chapter(s) missing" not in run.stderr
    html = html_path.read_text(encoding="utf-8")
    blocks = {k: _flat(_html_text_of(v)) for k, v in _blocks(html).items()}

    edition = params.load(REPO / "params" / "default.yaml")
    ed = {"edition": "2025", "year": 2025, "compare_year": 2024, "language": "zh", "min_group_size": 50}
    without = [r for r in rows if not r["built"]]
    # the data lacks share_visits only, and the chapters that need it say so
    assert without and all(r["missing"] == [TABLE] for r in without)
    assert {r["chapter"] for r in without} >= {"02_fission_elements", "04_social_platforms", "10_conclusions"}
    for r in rows:
        ch, section = r["chapter"], r["section"]
        if ch not in edition.chapters:
            continue
        sec, _, part = section.partition(".")
        label = section_label(ch, sec)
        assert label in blocks, f"{label} is not in the published book"
        words = Words(ch, "zh", ed, list(edition.chapters))
        notice = _flat(words.missing_notice(r["missing"] or [TABLE], part=bool(part)))
        if r["built"]:
            assert notice not in blocks[label], f"{label} is built but shows the notice"
            title = _flat(str(read_words(ch, "zh")["sections"][sec]))
            if "{" not in title:        # a title with figures in it is checked by its label
                assert title in blocks[label]
        else:
            assert notice in blocks[label], f"{section} of {ch} lacks the notice naming {TABLE}"
    # sections that need the visits show no figure or table of their own
    for r in without:
        if "." not in r["section"]:
            block = _blocks(html)[section_label(r["chapter"], r["section"])]
            assert "data:image/png" not in block and "<table" not in block, r

    text = _html_text(html_path)
    assert not re.search(r"\?@|@(fig|tbl|sec)-", text), "every cross-reference resolves"
    assert "unresolved" not in run.stderr
    # the executive brief opens the book: its key messages and chart come before chapter 1
    brief = read_words("common", "zh")["report"]["brief"]
    first = html.index(f'id="{section_label(edition.chapters[0])}"')
    for shown in (brief["messages"], brief["chart"]["caption"]):
        assert 0 <= html.find(shown) < first, f"the brief ({shown}) is not before chapter 1"
    assert (out / "2025" / "report.pdf").is_file()


def _html_text_of(fragment: str) -> str:
    fragment = re.sub(r"<(style|script)\b.*?</\1>", "", fragment, flags=re.S)
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", fragment))
