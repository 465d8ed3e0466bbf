"""A build never loses a good report: one build per edition at a time, a partly failed build
publishes beside the last complete report, a build with nothing built publishes nothing."""
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from notebook_fixtures import chapter_notebook

from fission import params
from fission.notebook import write_facts
from fission.lock import BuildLocked, edition_lock
from fission.publish import PublishError, publish_edition


def test_second_build_of_an_edition_is_refused_naming_the_pid(tmp_path):
    with edition_lock("2025", tmp_path):
        with pytest.raises(BuildLocked, match=rf"another build of edition 2025 is running \(pid {os.getpid()}\)"):
            with edition_lock("2025", tmp_path):
                pass
        with edition_lock("own", tmp_path):     # another edition builds side by side
            pass
    with edition_lock("2025", tmp_path):        # released on exit
        pass


def test_a_killed_build_leaves_no_stale_lock(tmp_path):
    code = (f"from fission.lock import edition_lock\nfrom pathlib import Path\nimport time\n"
            f"with edition_lock('2025', Path({str(tmp_path)!r})):\n    print('locked', flush=True)\n"
            f"    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    with pytest.raises(BuildLocked):
        with edition_lock("2025", tmp_path):
            pass
    p.send_signal(signal.SIGKILL)
    p.wait()
    with edition_lock("2025", tmp_path):
        pass


TINY_WORDS = {"title": "小章", "text": {"n": "用户 {{ f.n | count }} 人。"},
              "keyfigures": {"users": "用户"}}
TINY_FACTS = {"n": 1576, "keyfigures": [{"id": "users", "value": 1576.0, "unit": "count",
                                         "previous": None, "digits": 0, "lo": None, "hi": None,
                                         "significant": None}]}


def _tiny_words(words_dir):
    """Words for a one-paragraph chapter 1 (beside copies of the common words)."""
    import shutil

    import yaml

    from fission.words import WORDS_DIR
    words_dir.mkdir(parents=True, exist_ok=True)
    for lang in ("zh", "en"):
        shutil.copyfile(WORDS_DIR / f"common.{lang}.yaml", words_dir / f"common.{lang}.yaml")
        (words_dir / f"01_industry_background.{lang}.yaml").write_text(
            yaml.safe_dump(TINY_WORDS, allow_unicode=True), encoding="utf-8")


def _chapter(build, chapter):
    """An executed chapter as `fission run` leaves it: its notebook and its facts."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ch.title()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "# t"},
                                           metadata={"fission": {"kind": "title"}})]
    nb.cells = [cell]
    nbformat.write(nb, build / f"{chapter}.ipynb")
    write_facts(build, chapter, TINY_FACTS)


def test_partly_failed_build_does_not_replace_the_complete_report(tmp_path, capsys, monkeypatch):
    import fission.words
    _tiny_words(tmp_path / "words")
    monkeypatch.setattr(fission.words, "WORDS_DIR", tmp_path / "words")
    ed = params.load("params/default.yaml")
    build, out = tmp_path / "build", tmp_path / "out"
    build.mkdir()
    out.mkdir()
    (out / "report.html").write_text("the last complete report")
    _chapter(build, ed.chapters[0])          # the others "failed"
    manifest = {"simulated": True, "seed": 1, "fingerprint": "0" * 16}
    res = publish_edition(ed, manifest, engine="builtin", build=build, output=out)
    assert (out / "report.html").read_text() == "the last complete report"
    assert res["html"] == tmp_path / "out-partial" / "report.html" and res["pdf"].exists()
    assert "partial" in capsys.readouterr().err
    res = publish_edition(ed, manifest, engine="builtin", build=build, output=out, publish_partial=True)
    assert res["html"] == out / "report.html" and "the last" not in (out / "report.html").read_text()


def test_nothing_built_publishes_nothing(tmp_path):
    ed = params.load("params/default.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.pdf").write_bytes(b"good")
    with pytest.raises(PublishError, match="nothing published"):
        publish_edition(ed, {"fingerprint": "0" * 16}, engine="builtin", build=tmp_path / "b",
                        output=tmp_path / "out")
    assert (tmp_path / "out" / "report.pdf").read_bytes() == b"good"


# ---- a build killed at each stage leaves the old or the new state; the next one recovers ----

def _tiny_repo(work):
    """A scratch repository with one trivial chapter, so the kill tests take seconds."""
    import shutil

    from fission.paths import REPO
    for d in ("params", "report", "notebooks/words"):
        shutil.copytree(REPO / d, work / d, ignore=shutil.ignore_patterns("_build", "_output", ".quarto"))
    (work / "pyproject.toml").write_text("")
    body = ("import duckdb\nfrom fission.notebook import Chapter\n"
            "n = duckdb.sql(f\"SELECT count(*) FROM '{data_dir}/users.parquet'\").fetchall()[0][0]\n"
            "ch = Chapter('01_industry_background', language=language, output_dir=output_dir,\n"
            "             edition=dict(year=year, compare_year=compare_year, min_group_size=min_group_size))\n"
            "ch.facts({'n': n, 'keyfigures': [{'id': 'users', 'value': float(n), 'unit': 'count',\n"
            "          'previous': None, 'digits': 0, 'lo': None, 'hi': None, 'significant': None}]})\n"
            "ch.title()\nch.say('n')")
    shutil.rmtree(work / "notebooks" / "words")
    _tiny_words(work / "notebooks" / "words")
    for f in (work / "notebooks").glob("*.ipynb"):
        f.unlink()
    chapter_notebook(work / "notebooks" / "01_industry_background.ipynb", body)


def _build(work, *extra, kill=None):
    env = {**os.environ, "FISSION_HOME": str(work)}
    env.pop("FISSION_KILL_AT", None)
    if kill:
        env["FISSION_KILL_AT"] = kill
    return subprocess.run([sys.executable, "-m", "fission.cli", "-p", "scale.users=1000",
                           "-p", "chapters=[01_industry_background]", "-p", "run.workers=1",
                           "report", "--engine", "builtin", *extra],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    _tiny_repo(work)
    first = _build(work)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    return work


def _state(work):
    out = work / "report" / "_output" / "2025"
    staged = work / "data" / "staged" / "2025" / "manifest.json"
    return ((out / "report.html").read_bytes(), (out / "report.pdf").read_bytes(),
            staged.read_bytes(), (work / "report" / "_build" / "2025" / "01_industry_background.ipynb").exists())


@pytest.mark.parametrize("point", ["staging", "execution", "publishing"])
def test_a_build_killed_at_each_stage_keeps_a_whole_report_and_the_next_recovers(tiny, point):
    before = _state(tiny)
    killed = _build(tiny, "--force-data", "--force", kill=point)
    assert killed.returncode == -9, (point, killed.stdout[-1500:], killed.stderr[-1500:])
    html, pdf, manifest, chapter = _state(tiny)    # every piece still there, old or new
    assert b"<html" in html and pdf.startswith(b"%PDF") and b"fingerprint" in manifest
    if point != "publishing":
        assert (html, pdf) == before[:2]            # nothing was published yet: the old report
    again = _build(tiny)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    current = (tiny / "report" / "_output" / "2025").resolve()
    leftovers = [p.name for d in (tiny / "report" / "_output", tiny / "data" / "staged")
                 for p in d.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")
                 and p != current]
    assert leftovers == [], leftovers
    assert _state(tiny)[3]


def test_two_builds_of_one_edition_at_once_the_second_is_refused(tiny):
    env = {**os.environ, "FISSION_HOME": str(tiny)}
    cmd = [sys.executable, "-m", "fission.cli", "-p", "scale.users=1000", "-p",
           "chapters=[01_industry_background]", "report", "--engine", "builtin", "--force"]
    first = subprocess.Popen(cmd, cwd=tiny, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (tiny / "report" / "_build" / ".2025.lock").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    second = subprocess.run(cmd, cwd=tiny, env=env, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2 and "another build of edition 2025 is running (pid" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_failing_second_edition_leaves_the_first_report_intact(tiny, tmp_path):
    """The issue's example: another edition on broken own data fails and publishes nothing,
    and the 2025 edition's report is untouched."""
    before = _state(tiny)
    bad = tmp_path / "own"
    bad.mkdir()
    (bad / "users.csv").write_text("user_id\n1\n1\n", encoding="utf-8")
    res = _build(tiny, "-p", "edition=own", "-p", "data.source=directory", "-p", f"data.path={bad}")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert _state(tiny) == before
    assert not (tiny / "report" / "_output" / "own" / "report.html").exists()
