"""The whole pipeline on a small edition, in a scratch copy of the repository:
`fission report` stages, executes every chapter and publishes HTML and PDF; a second run
executes nothing."""
import json
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

FISSION = Path(sys.executable).with_name("fission")


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for f in files:
        if (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("repo")
    _copy_repo(work)
    env = {**os.environ, "FISSION_HOME": str(work)}
    cmd = [str(FISSION), "-p", "scale.users=20000", "report", "--engine", "builtin"]
    first = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    return work, first, second


def _chapter_titles():
    titles = []
    for ch in params.load("params/default.yaml").chapters:
        cells = json.loads((REPO / "notebooks" / f"{ch}.ipynb").read_text(encoding="utf-8"))["cells"]
        titles.append("".join(cells[0]["source"]).splitlines()[0].lstrip("# ").strip())
    return titles


def test_html_is_complete_and_offline(built):
    work, first, _ = built
    html = (work / "report" / "_output" / "report.html").read_text(encoding="utf-8")
    assert "基于大数据的2025年社交电商裂变营销策略与用户增长洞察报告" in html
    for title in _chapter_titles():
        assert title in html
    figures = sum(len(re.findall(r"^#\|\s*label:\s*fig-", "".join(c["source"]), re.M))
                  for nb in (work / "notebooks").glob("[0-9]*.ipynb")
                  for c in json.loads(nb.read_text(encoding="utf-8"))["cells"])
    assert html.count('src="data:image/png') >= figures > 0
    assert not re.search(r"(src|href)=\"https?://", html), "no external resource may remain"
    assert "@fig-" not in html and "@tbl-" not in html, "cross-references resolved"
    assert "模拟数据" in html
    assert "user_id" not in html and "device_hash" not in html


def test_pdf_has_title_chapters_and_notice(built):
    work, _, _ = built
    reader = PdfReader(work / "report" / "_output" / "report.pdf")
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    assert "基于大数据的2025年社交电商裂变营销策略与用户增长洞察报告" in text
    for title in _chapter_titles():
        assert re.sub(r"\s+", "", title) in text
    assert "本报告基于模拟数据生成" in text
    assert len(reader.pages) > 3


def test_build_summary_and_second_run_is_cached(built):
    work, first, second = built
    assert "status" in first.stdout and "re-run" in first.stdout
    assert second.returncode == 0
    assert "0 executed" in second.stdout, second.stdout
    summary = (work / "report" / "_build" / "summary.md").read_text(encoding="utf-8")
    assert "平台 GMV" in summary
