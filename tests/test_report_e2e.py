"""The whole pipeline on a small edition, in a scratch copy of the repository: `fission
report` stages, executes every chapter and publishes HTML and PDF in Chinese and in English;
a second run executes nothing; a wording-only edit re-publishes without executing."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from fission import params
from fission.paths import REPO
from fission.words import read_words

FISSION = Path(sys.executable).with_name("fission")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("data/staged", "report/_build", "report/_output")):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)


def _fission(work, *args, timeout=900):
    env = {**os.environ, "FISSION_HOME": str(work)}
    return subprocess.run([str(FISSION), "-p", "scale.users=20000", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("repo")
    _copy_repo(work)
    runs = {}
    runs["zh"] = _fission(work, "report", "--engine", "builtin")
    assert runs["zh"].returncode == 0, runs["zh"].stdout[-3000:] + runs["zh"].stderr[-3000:]
    runs["snapshot"] = _snapshot(work)
    runs["again"] = _fission(work, "report", "--engine", "builtin")
    runs["en"] = _fission(work, "-p", "language=en", "report", "--engine", "builtin")
    assert runs["en"].returncode == 0, runs["en"].stdout[-3000:] + runs["en"].stderr[-3000:]
    return work, runs


def _snapshot(work) -> dict:
    """What a build produced: the data fingerprint, every chapter's facts, and the text and
    figure data of every output of the executed chapters."""
    import json
    build = work / "report" / "_build" / "2025"
    snap = {"fingerprint": json.loads((work / "data" / "staged" / "2025" / "manifest.json")
                                      .read_text())["fingerprint"]}
    for nb in sorted(build.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        snap[nb.name] = [{k: v for k, v in o.get("data", {}).items()
                          if k in ("text/markdown", "image/png", "text/plain")}
                         for c in cells for o in c.get("outputs", []) if o.get("output_type") != "stream"]
    for f in sorted(build.glob("*.facts.json")):
        snap[f.name] = json.loads(f.read_text(encoding="utf-8"))
    return snap


def _same(a, b) -> bool:
    """Equal, floats to 1e-9: DuckDB's parallel float sums differ in the last bits between
    runs; everything printed is identical (the outputs are compared exactly)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _titles(lang):
    return [str(read_words(ch, lang)["title"]) for ch in params.load("params/default.yaml").chapters]


def _html_text(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html))


def _data_names(work) -> set[str]:
    """Names given in the data (e.g. experiment names), allowed to stay Chinese in English."""
    import duckdb
    staged = work / "data" / "staged" / "2025"
    con = duckdb.connect()
    names = set()
    for table, col in (("experiments", "name"), ("experiments", "hypothesis"), ("market", "source"),
                       ("campaigns", "name")):
        if (staged / f"{table}.parquet").exists():
            names |= {r[0] for r in con.execute(
                f"SELECT DISTINCT {col} FROM '{staged / table}.parquet'").fetchall() if r[0]}
    return names


def test_html_is_complete_offline_and_resolved(built):
    work, runs = built
    path = work / "report" / "_output" / "2025" / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "基于大数据的2025年社交电商裂变营销策略与用户增长洞察报告" in html
    for title in _titles("zh"):
        assert title in html
    assert html.count('src="data:image/png') >= 4
    assert not re.search(r"(src|href)=\"https?://", html), "no external resource may remain"
    text = _html_text(path)
    assert not re.search(r"\?@|@(fig|tbl|sec)-", text), "every cross-reference resolves"
    assert re.search(r"第 \d 章|第 \d\.\d+ 节", text), "chapter/section references print numbers"
    assert "模拟数据" in html and "user_id" not in html and "device_hash" not in html
    assert "unresolved" not in runs["zh"].stderr


def test_pdf_has_title_chapters_and_notice(built):
    work, _ = built
    reader = PdfReader(work / "report" / "_output" / "2025" / "report.pdf")
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    assert "基于大数据的2025年社交电商裂变营销策略与用户增长洞察报告" in text
    for title in _titles("zh"):
        assert re.sub(r"\s+", "", title) in text
    assert "本报告基于模拟数据生成" in text and len(reader.pages) > 3
    # the executive brief opens the book and takes at most two pages: key messages, the
    # chart, recommendations, the scorecard; the full key-figure table is the appendix
    pages = [re.sub(r"\s+", "", p.extract_text()) for p in reader.pages]
    first = next(i for i, t in enumerate(pages) if "关键信息" in t)
    end = next(i for i, t in enumerate(pages) if "见书末附录" in t and i >= first)  # its last line
    assert end - first <= 1, f"the brief runs over pages {first + 1}–{end + 1}"
    assert any("附录：关键指标一览" in t for t in pages[-4:])


def test_english_edition_has_no_chinese_left(built):
    work, runs = built
    out = work / "report" / "_output" / "2025-en"
    text = _html_text(out / "report.html")
    for name in sorted(_data_names(work), key=len, reverse=True):
        text = text.replace(name, "")
    assert not CJK.findall(text), f"Chinese left in the English edition: {CJK.findall(text)[:10]}"
    assert "Big-Data Insight Report 2025" in text and "simulated data" in text
    for title in _titles("en"):
        assert title in text
    assert not re.search(r"\?@|@(fig|tbl|sec)-", text)
    pdf = "".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages)
    assert "Contents" in pdf and "Figure" in pdf
    # the Chinese edition is still there, unchanged by the English build
    assert (work / "report" / "_output" / "2025" / "report.html").read_text(encoding="utf-8") \
        .count("基于大数据的2025年") > 0


def test_second_run_is_cached_and_a_wording_edit_executes_nothing(built):
    work, runs = built
    assert "status" in runs["zh"].stdout and "re-run" in runs["zh"].stdout
    assert runs["again"].returncode == 0 and "0 executed" in runs["again"].stdout
    words = work / "notebooks" / "words" / "common.zh.yaml"
    words.write_text(words.read_text(encoding="utf-8").replace("执行摘要", "执行摘要（修订）"),
                     encoding="utf-8")
    edited = _fission(work, "report", "--engine", "builtin", timeout=300)
    assert edited.returncode == 0 and "0 executed" in edited.stdout, edited.stdout[-2000:]
    assert "执行摘要（修订）" in (work / "report" / "_output" / "2025" / "report.html").read_text(encoding="utf-8")


# ---- the same book from real Quarto (runs where `quarto` is on PATH; CI installs it) --------

def _headings(html: str) -> list[str]:
    """Numbered chapter (h1) and section (h2) headings as "N title" / "N.M title"."""
    out = []
    for m in re.finditer(r"<h([12])\b[^>]*>(.*?)</h\1>", html, flags=re.S):
        text = re.sub(r"&[a-z]+;|¶", " ", re.sub(r"<[^>]+>", " ", m.group(2)))
        text = re.sub(r"\s+", " ", text).strip()
        if re.match(r"\d+(\.\d+)? \S", text):
            out.append(text)
    return out


def _ids(html: str, kind: str) -> set[str]:
    return {i for i in re.findall(rf'id="({kind}-[\w-]+)"', html) if "-caption-" not in i}


def _summary_cells(html: str) -> list[str]:
    """The cells of the executive summary's key-figure table (its first header: 章节/Chapter)."""
    for table in re.findall(r"<table\b.*?</table>", html, flags=re.S):
        heads = [re.sub(r"<[^>]+>|\s+", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, flags=re.S)]
        if heads and heads[0] in ("章节", "Chapter"):
            return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip()
                    for c in re.findall(r"<td[^>]*>(.*?)</td>", table, flags=re.S)]
    return []


@pytest.mark.skipif(shutil.which("quarto") is None,
                    reason="quarto is not on PATH (CI installs it from ../shared/tools/quarto)")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_quarto_renders_the_same_book(built, lang):
    work, _ = built
    place = "2025" if lang == "zh" else "2025-en"
    out = work / "report" / "_output" / place
    builtin_html = (out / "report.html").read_text(encoding="utf-8")
    builtin_pdf = re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages))
    res = _fission(work, "-p", f"language={lang}", "render", "--engine", "quarto", timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    pages = [out / "index.html"] + sorted(p for p in out.glob("[0-9][0-9]_*.html")) + [out / "appendix.html"]
    quarto_html = "\n".join(p.read_text(encoding="utf-8") for p in pages)

    assert _headings(quarto_html) == _headings(builtin_html), "same chapters and sections, same numbers"
    for kind in ("fig", "tbl"):
        assert _ids(quarto_html, kind) == _ids(builtin_html, kind) and _ids(builtin_html, kind)
    summary = _summary_cells(builtin_html)
    assert summary and _summary_cells(pages[0].read_text(encoding="utf-8")) == summary
    text = _html_text(pages[0]) + "".join(_html_text(p) for p in pages[1:])
    assert not re.search(r"\?@|@(fig|tbl|sec)-|(图|表|Figure|Table) (fig|tbl)-", text)
    notice = "本报告基于模拟数据生成" if lang == "zh" else "simulated data"
    assert notice in text

    if shutil.which("chromium"):
        from fission.publish.offline import check_page
        assert check_page(out / "index.html")["requests"] == [], "the Quarto book loads nothing from outside"

    quarto_pdf = re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages))
    for h in _headings(builtin_html):
        assert re.sub(r"\s+", "", h) in quarto_pdf and re.sub(r"\s+", "", h) in builtin_pdf, h
    assert not re.search(r"\?@|@(fig|tbl|sec)-", quarto_pdf)


def test_same_parameters_and_seed_give_the_same_report(built):
    """Re-staged and re-executed from scratch: identical fingerprint, facts and key figures (to
    1e-9), and identical chapter outputs (text and figure data)."""
    work, runs = built
    assert _fission(work, "data", "--force").returncode == 0
    again = _fission(work, "run", "--force")
    assert again.returncode == 0, again.stdout[-2000:]
    snap = _snapshot(work)
    assert snap.keys() == runs["snapshot"].keys()
    for key in snap:
        assert _same(snap[key], runs["snapshot"][key]), f"{key} differs between two builds"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_published_pages_load_nothing_from_the_network(built):
    from fission.publish.offline import check_page
    work, _ = built
    for place in ("2025", "2025-en"):
        res = check_page(work / "report" / "_output" / place / "report.html")
        assert res == {"requests": [], "console": []}, (place, res)
    scan = (work / "report" / "_build" / "2025" / "privacy_scan.json").read_text(encoding="utf-8")
    assert '"findings": []' in scan


def _close(a, b, rel=1e-6) -> bool:
    """Equal, floats to ``rel``: the engines sum in other orders and Spark's percentiles and
    divisions differ from DuckDB's in the last digits."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    return a == b


def _where(a, b, path=""):
    """The first path at which two facts differ (for the failure message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b or not _close(a[k], b[k]):
                return _where(a[k], b.get(k), f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if not _close(x, y):
                return _where(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:120]} != {str(b)[:120]}"


def _spark_ready() -> bool:
    import importlib.util
    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


@pytest.mark.skipif(not _spark_ready(), reason="pyspark or Java is missing (`make setup-spark`; "
                                               "CI installs it)")
def test_spark_engine_builds_the_same_book(built):
    """`fission report -p engine.kind=spark` on Spark local: every chapter's facts — every
    number, table and decision, key figures included — equal DuckDB's (the same SQL,
    transpiled); the book is published. Runs last: it replaces the DuckDB build."""
    import json
    work, runs = built
    res = _fission(work, "-p", "engine.kind=spark", "report", "--engine", "builtin", timeout=3600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    build = work / "report" / "_build" / "2025"
    facts = sorted(build.glob("*.facts.json"))
    assert len(facts) == len(params.load("params/default.yaml").chapters)
    for f in facts:
        spark, duck = json.loads(f.read_text(encoding="utf-8")), runs["snapshot"][f.name]
        assert _close(spark, duck), f"{f.name} differs on Spark: {_where(duck, spark)}"
