"""The publisher: executed notebooks + _quarto.yml → self-contained HTML and a Typst PDF."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures" / "publish"))

from make_fixtures import make_book  # noqa: E402

from fission.paths import REPORT  # noqa: E402
from fission.publish import PublishError, load_book, render  # noqa: E402
from fission.publish.book import unknown_keys  # noqa: E402

COVER = {
    "title": "基于大数据的2024年社交电商裂变营销策略与用户增长洞察报告",
    "subtitle": "测试副标题",
    "edition": "test-2024",
    "date": "2024-12-31",
    "source": "内置模拟平台",
    "fingerprint": "sha256:0123abcd",
    "simulated": True,
    "notice": "本报告基于模拟数据生成，仅用于演示与测试。",
    "labels": {"edition": "版本", "date": "日期", "author": "编制", "source": "数据来源",
               "fingerprint": "数据指纹", "toc": "目录", "list-sep": "、"},
}
SIM = "本报告基于模拟数据"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    book = make_book(tmp_path_factory.mktemp("book"), chapters=2, missing=True)
    t0 = time.perf_counter()
    result = render(book, engine="builtin", cover=COVER)
    result["seconds"] = time.perf_counter() - t0
    return result


@pytest.fixture(scope="module")
def html(rendered) -> str:
    return Path(rendered["html"]).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf_text(rendered) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(rendered["pdf"]))
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    return re.sub(r"\s+", "", text), len(reader.pages)


def test_outputs_where_quarto_yml_says(rendered):
    assert rendered["html"].name == "report.html" and rendered["html"].parent.name == "_output"
    assert rendered["pdf"].name == "report.pdf" and rendered["pdf"].stat().st_size > 10_000
    assert rendered["seconds"] < 15


def test_missing_chapter_is_skipped_with_a_warning(rendered):
    assert rendered["chapters"] == ["index.qmd", "_build/01_chapter.ipynb",
                                    "_build/02_chapter.ipynb"]
    assert any("09_missing" in w for w in rendered["warnings"])


def test_html_content(html):
    assert "测试报告标题" not in html or COVER["title"] in html  # cover title overrides
    assert COVER["title"] in html and "test-2024" in html and "sha256:0123abcd" in html
    for title in ("前言", "第一章标题", "第二章标题"):
        assert title in html
    # index.qmd includes and unnumbered heading
    assert "摘要指标甲" in html and "指纹 abc123" in html
    assert re.search(r'<h1[^>]*class="unnumbered"[^>]*>前言</h1>', html)
    assert re.search(r'<span class="header-section-number">1</span>\s*第一章标题', html)
    assert re.search(r'<span class="header-section-number">2\.1</span>', html)
    # figure: embedded image with numbered caption and identifier
    assert re.search(r'<figure id="fig-ch1-a"[^>]*>\s*<img[^>]*src="data:image/png;base64,', html)
    assert re.search(r"<figcaption>.*图 1\.1.*图1标题.*</figcaption>", html)
    assert "图 2.1" in html
    # table with numbered caption
    assert re.search(r'<table id="tbl-ch1-a"', html)
    assert re.search(r"<caption>.*表 1\.1.*表1标题.*</caption>", html)
    assert "1,234" in html
    # a DataFrame's HTML output becomes a real (captioned) table, in both outputs
    assert re.search(r"<caption>.*表 1\.2.*网页表1.*</caption>", html) and "拼团" in html
    assert "dataframe td" not in html
    # cross-references resolved with links
    assert re.search(r'<a href="#fig-ch1-a"[^>]*>图 1\.1</a>', html)
    assert re.search(r'<a href="#tbl-ch1-a"[^>]*>表 1\.1</a>', html)
    assert "@fig-" not in html and "@tbl-" not in html
    # table of contents
    assert 'id="TOC"' in html


def test_html_leaves_out_what_it_should(html):
    for hidden in ("plot_code_marker", "table_code_marker", "md_code_marker",
                   "hidden_output_marker", "df_html_marker", "hidden-output-text", "stderr-warning-text",
                   "UserWarning", "parameter-cell-text", "SECRET_PARAM", "injected-cell-text",
                   "&lt;Figure size", "IPython.core.display", "#|"):
        assert hidden not in html, hidden
    # `#| echo: true` shows its code (without the option line), and stdout is kept
    assert "shown_code" in html and "stdout-shown-text" in html


def test_html_is_self_contained(html):
    assert "http://" not in html and "https://" not in html
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "<script" not in html


def test_html_simulated_notice(html):
    assert SIM in html
    assert html.count(SIM) >= 2  # banner and footer


def test_pdf_content(pdf_text):
    text, pages = pdf_text
    assert pages > 2
    assert re.sub(r"\s+", "", COVER["title"]) in text
    for s in ("第一章标题", "第二章标题", "图1.1图1标题", "表1.1表1标题", "表1.2网页表1", "拼团", "目录",
              COVER["notice"], "sha256:0123abcd"):
        assert s in text, s
    assert "@fig-" not in text and "stderr-warning-text" not in text
    assert "parameter-cell-text" not in text


def test_pdf_notice_on_every_page(rendered):
    from pypdf import PdfReader

    pages = [re.sub(r"\s+", "", p.extract_text() or "") for p in PdfReader(str(rendered["pdf"])).pages]
    assert len(pages) > 2
    assert all(SIM in p for p in pages)


def test_not_simulated_has_no_notice(tmp_path):
    book = make_book(tmp_path, chapters=1)
    res = render(book, engine="builtin", cover={"simulated": False, "edition": "real"})
    html = res["html"].read_text(encoding="utf-8")
    assert SIM not in html
    assert "测试报告标题" in html  # falls back to _quarto.yml's book title
    assert res["chapters"] == ["index.qmd", "_build/01_chapter.ipynb"]


def test_no_chapter_at_all_is_an_error(tmp_path):
    book = make_book(tmp_path, chapters=1)
    cfg = yaml.safe_load((book / "_quarto.yml").read_text(encoding="utf-8"))
    cfg["book"]["chapters"] = ["_build/nothing.ipynb"]
    (book / "_quarto.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PublishError):
        render(book, engine="builtin")


def test_broken_notebook_raises_publish_error_naming_the_chapter(tmp_path):
    book = make_book(tmp_path, chapters=1)
    (book / "_build" / "01_chapter.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(PublishError, match="01_chapter"):
        render(book, engine="builtin")


def test_repository_quarto_yml_keeps_formatting_only():
    """The edition's title, date, language and chapters come from params/<edition>.yaml
    (bound per edition, see test_bind.py); report/_quarto.yml holds the formatting."""
    cfg = yaml.safe_load((REPORT / "_quarto.yml").read_text(encoding="utf-8"))
    assert cfg["project"]["type"] == "book"
    assert not {"title", "subtitle", "date", "chapters"} & set(cfg["book"])
    assert cfg["execute"]["enabled"] is False
    assert {"html", "typst"} <= set(cfg["format"])
    assert unknown_keys(cfg) == []
    assert load_book(REPORT).output_file == "report"


def test_engines(tmp_path, monkeypatch):
    import fission.publish.quarto as q

    book = make_book(tmp_path, chapters=1)
    monkeypatch.setattr(q.shutil, "which", lambda name: None)
    with pytest.raises(PublishError, match="quarto"):
        render(book, engine="quarto")
    with pytest.raises(ValueError):
        render(book, engine="latex")
    res = render(book)  # auto without quarto → built-in
    assert res["html"].exists() and res["pdf"].exists()


# ---- fonts: a Latin font leads in an English PDF, the Chinese one in a Chinese PDF ----------

def _pdf_fonts(path: Path) -> set[str]:
    from pypdf import PdfReader

    fonts = set()
    for page in PdfReader(str(path)).pages:
        for f in (page.get("/Resources") or {}).get("/Font", {}).values():
            fonts.add(str(f.get_object().get("/BaseFont", "")).split("+")[-1])
    return fonts


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_typst_font_lists_follow_the_language(tmp_path, lang):
    from fission.publish.builtin import CJK_FONTS, LATIN_FONTS

    book = make_book(tmp_path, chapters=1)
    cfg = book / "_quarto.yml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("lang: zh", f"lang: {lang}"), encoding="utf-8")
    with open(book / "index.qmd", "a", encoding="utf-8") as fh:
        fh.write("\n\nThe chapter’s “growth” section.\n")
    from fission.publish.builtin import render_builtin

    res = render_builtin(load_book(book), cover=COVER, formats=("html", "pdf"), keep_work=True)
    typ = (res["work"] / "report.typ").read_text(encoding="utf-8")
    lists = {name: re.search(rf"#let {name} = \((.*)\)", typ).group(1) for name in ("serif", "sans", "mono")}
    for name, role in (("serif", "mainfont"), ("sans", "sansfont"), ("mono", "codefont")):
        fonts = re.findall(r'"([^"]+)"', lists[name])
        assert fonts == ([LATIN_FONTS[role]] if lang == "en" else []) + [CJK_FONTS[role]], (name, fonts)
    used = _pdf_fonts(res["pdf"])
    assert any("NotoSerifCJK" in f for f in used)          # Chinese text in both books
    # the English sentence (its ’ and “ ”) and the headings' digits are set in the Latin fonts
    assert any("Libertinus" in f for f in used) == (lang == "en"), used
    assert any(f.startswith("DejaVuSans") and "Mono" not in f for f in used) == (lang == "en"), used
    # the HTML page: its lang selects the Latin-first font variables of report.css in English
    page = res["html"].read_text(encoding="utf-8")
    assert "html:lang(en)" in page and re.search(r'<html lang="(\w+)', page).group(1) == lang


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_quarto_is_given_the_same_first_fonts(tmp_path, lang):
    """Quarto's Typst template takes one main font and a code font list: an English book gets
    the built-in publisher's Latin fonts first; a Chinese one keeps _quarto.yml's CJK fonts."""
    from fission.publish.builtin import typst_fonts
    from fission.publish.quarto import _font_args

    book = make_book(tmp_path, chapters=1)
    cfg = book / "_quarto.yml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("lang: zh", f"lang: {lang}"), encoding="utf-8")
    args = _font_args(load_book(book))
    fonts = typst_fonts(load_book(book))
    if lang == "zh":
        assert args == [] and fonts["mainfont"] == ["Noto Serif CJK SC"]
    else:
        assert args == ["-M", "mainfont:Libertinus Serif", "-M", "codefont:[DejaVu Sans Mono, Noto Sans Mono CJK SC]"]
