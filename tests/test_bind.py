"""Binding the book: texts rendered again from stored facts and current words; the edition's
values (title, date, language, chapters) reach the generated Quarto project."""
import nbformat
import pytest
import yaml

from fission import params
from fission.cover import cover
from fission.publish.bind import bind_notebook, quarto_yml
from fission.words import WORDS_DIR, Words

WORDS = {"title": "留存", "sections": {"s": "小节"},
         "text": {"a": "留存 {{ f.r | pct }}（@fig-ch6-x）"},
         "figures": {"fig-ch6-x": {"caption": "图题：{{ f.r | pct }}"}},
         "tables": {"tbl-ch6-y": {"caption": "表题", "columns": {"值": "{{ r.v | num }}"}}}}


def _out(kind, text="", **meta):
    data = {"text/markdown": text, "text/plain": "<Markdown>"} if text else \
        {"image/png": "iVBORw0KGgo=", "text/plain": "<Image>"}
    return nbformat.v4.new_output("display_data", data=data,
                                  metadata={"fission": {"kind": kind, **meta}})


@pytest.fixture
def words(tmp_path):
    """A words folder with the common words and a small chapter 6."""
    for lang in ("zh", "en"):
        (tmp_path / f"common.{lang}.yaml").write_text(
            (WORDS_DIR / f"common.{lang}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "06_retention.zh.yaml").write_text(yaml.safe_dump(WORDS, allow_unicode=True), encoding="utf-8")
    return Words("06_retention", "zh", {"year": 2025}, words_dir=tmp_path)


def test_bind_renders_words_anew_and_writes_cell_options(words):
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell("ch.title()"), nbformat.v4.new_code_cell("ch.say('a')"),
             nbformat.v4.new_code_cell("ch.figure(fig, 'fig-ch6-x')"),
             nbformat.v4.new_code_cell("#| echo: false\nch.table('tbl-ch6-y', 'rows')")]
    cells[0].outputs = [_out("title", "# old title")]
    cells[1].outputs = [_out("text", "old prose", key="a")]
    cells[2].outputs = [_out("figure", label="fig-ch6-x")]
    cells[3].outputs = [_out("table", "| old |", label="tbl-ch6-y", rows="rows")]
    nb.cells = cells
    bound = bind_notebook(nb, words, {"r": 0.5, "rows": [{"v": 1234.5}]})
    assert bound.cells[0].outputs[0]["data"]["text/markdown"] == "# 留存 {#sec-retention}"
    assert bound.cells[1].outputs[0]["data"]["text/markdown"] == "留存 50.0%（@fig-ch6-x）"
    assert bound.cells[2].source.splitlines()[:2] == ['#| label: "fig-ch6-x"', '#| fig-cap: "图题：50.0%"']
    assert bound.cells[3].source.splitlines() == ['#| label: "tbl-ch6-y"', '#| tbl-cap: "表题"',
                                                  "#| echo: false", "ch.table('tbl-ch6-y', 'rows')"]
    assert "1,234.5" in bound.cells[3].outputs[0]["data"]["text/markdown"]
    assert "text/plain" not in bound.cells[1].outputs[0]["data"]
    assert nb.cells[1].outputs[0]["data"]["text/markdown"] == "old prose"   # input untouched


@pytest.mark.parametrize("lang, title", [("zh", "基于大数据的2026年社交电商裂变营销策略与用户增长洞察报告"),
                                         ("en", "Big-Data Insight Report 2026")])
def test_generated_quarto_project_carries_the_edition(lang, title):
    ed = params.load("params/default.yaml", ["edition=2026", "year=2026", "compare_year=2025",
                                             f"language={lang}", "date=2026-12-31"])
    c = cover(ed, {"simulated": True, "seed": 1, "fingerprint": "0" * 16})
    cfg = quarto_yml(ed, ["01_industry_background", "06_retention"], c)
    assert title in cfg["book"]["title"] and cfg["book"]["date"] == "2026-12-31"
    assert cfg["lang"] == lang and cfg["project"]["output-dir"] == "_output"
    assert cfg["book"]["chapters"] == ["index.qmd", "01_industry_background.ipynb", "06_retention.ipynb",
                                       "appendix.qmd"]
    assert ed.place == ("2026" if lang == "zh" else "2026-en")


def test_year_and_edition_that_disagree_are_refused():
    with pytest.raises(params.ParamsError, match="named for 2025 but year is 2026"):
        params.load("params/default.yaml", ["year=2026", "compare_year=2025"])
    assert params.load("params/default.yaml", ["edition=own", "year=2026", "compare_year=2025"]).year == 2026


def test_one_figure_or_table_per_cell(words):
    from fission.words import WordsError
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("both")
    cell.outputs = [_out("figure", label="fig-ch6-x"), _out("table", "| t |", label="tbl-ch6-y", rows="rows")]
    nb.cells = [cell]
    with pytest.raises(WordsError, match="own cell"):
        bind_notebook(nb, words, {"r": 1, "rows": []})


def test_a_figure_shown_with_prose_gets_its_own_cell(words):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ch.figure(fig, 'fig-ch6-x')\nch.say('a')")
    cell.outputs = [_out("figure", label="fig-ch6-x"), _out("text", "old", key="a")]
    nb.cells = [cell]
    bound = bind_notebook(nb, words, {"r": 0.5})
    assert len(bound.cells) == 2
    assert bound.cells[0].source.startswith('#| label: "fig-ch6-x"') and "image/png" in bound.cells[0].outputs[0]["data"]
    assert bound.cells[1].source == "" and bound.cells[1].outputs[0]["data"]["text/markdown"].startswith("留存 50.0%")


def test_words_see_the_publishers_scan_only_when_binding(words, tmp_path):
    text = "{% if pub %}扫描 {{ pub.scan.characters }} 字，发现 {{ pub.scan.findings | length }} 处{% else %}发布时扫描{% endif %}"
    assert words.render_text(text) == "发布时扫描"
    from fission.publish.scan import scan_summary
    scan = scan_summary("联系 13812345678 或 a@b.cn")
    bound = Words("06_retention", "zh", {"year": 2025}, words_dir=tmp_path,
                  publication={"scan": scan})
    assert bound.render_text(text) == f"扫描 {len('联系 13812345678 或 a@b.cn')} 字，发现 2 处"
