"""fission run: incremental by content hash, failures isolated and located, facts kept."""
import io
import json

import pytest
from notebook_fixtures import chapter_notebook

from fission import params, runner


def _notebook(path, body):
    chapter_notebook(path, body, title="# 标题")


GOOD = ("from fission.notebook import write_facts\n"
        "write_facts(output_dir, '{ch}', {{'year': year}})\n"
        "print(data_dir)")


@pytest.fixture
def book(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for ch in ("01_a", "02_b"):
        _notebook(nbs / f"{ch}.ipynb", GOOD.format(ch=ch))
    (tmp_path / "ed.yaml").write_text(
        "edition: t\nyear: 2025\ncompare_year: 2024\nseed: 1\nchapters: [01_a, 02_b]\n"
        "run:\n  workers: 2\n  cell_timeout: 20\n", encoding="utf-8")
    ed = params.load(tmp_path / "ed.yaml", notebooks=nbs)
    data = tmp_path / "staged"
    data.mkdir()
    return ed, nbs, tmp_path / "build", data


def _run(book, fingerprint="f1", **kw):
    ed, nbs, build, data = book
    out = io.StringIO()
    res = runner.run(ed, data, fingerprint, build=build, notebooks=nbs, progress=False, out=out, **kw)
    return {r.chapter: r for r in res}, out.getvalue()


def test_second_run_executes_nothing_and_edit_reruns_only_that_chapter(book):
    ed, nbs, build, data = book
    first, _ = _run(book)
    assert all(r.status == "ok" and r.executed for r in first.values())
    assert json.loads((build / "01_a.facts.json").read_text()) == {"year": 2025}

    second, text = _run(book)
    assert not any(r.executed for r in second.values())
    assert "0 executed, 2 cached" in text

    _notebook(nbs / "02_b.ipynb", GOOD.format(ch="02_b") + "\nx = 1")
    third, _ = _run(book)
    assert not third["01_a"].executed and third["02_b"].executed

    fourth, _ = _run(book, fingerprint="f2")  # new data → everything re-runs
    assert all(r.executed for r in fourth.values())


def test_missing_facts_rerun_the_chapter(book):
    ed, nbs, build, data = book
    _run(book)
    (build / "01_a.facts.json").unlink()
    res, _ = _run(book)
    assert res["01_a"].executed and not res["02_b"].executed


def test_failing_chapter_is_isolated_and_located(book):
    ed, nbs, build, data = book
    _run(book)
    _notebook(nbs / "02_b.ipynb", "raise ValueError('orders table is empty')")
    res, text = _run(book)
    assert res["01_a"].status == "ok" and not res["01_a"].executed
    assert res["02_b"].status == "failed"
    assert "ValueError: orders table is empty" in text
    failed = build / "failed" / "02_b.ipynb"
    assert failed.exists() and "orders table is empty" in failed.read_text()
    assert (build / "01_a.ipynb").exists()          # the other chapter's output survives
    assert not (build / "02_b.ipynb").exists()      # no stale chapter reaches the book
    assert not (build / "02_b.facts.json").exists()


def test_hanging_cell_is_stopped_by_the_timeout(book, tmp_path):
    ed, nbs, build, data = book
    _notebook(nbs / "01_a.ipynb", "import time\ntime.sleep(60)")
    ed2 = params.load(tmp_path / "ed.yaml", ["run.cell_timeout=3"], notebooks=nbs)
    res = {r.chapter: r for r in runner.run(ed2, data, "f", chapters=["01_a"], build=build,
                                            notebooks=nbs, progress=False, out=io.StringIO())}
    assert res["01_a"].status == "failed" and res["01_a"].seconds < 40
    assert "timed out" in res["01_a"].error.lower() or "timeout" in res["01_a"].error.lower()


def test_unknown_chapter_is_refused(book):
    with pytest.raises(LookupError, match="not chapters of edition"):
        _run(book, chapters=["99_z"])


def test_kernel_start_failures_are_retried_cell_errors_are_not():
    from papermill.exceptions import PapermillExecutionError
    assert runner._is_startup_failure(RuntimeError("Kernel didn't respond in 60 seconds"))
    assert runner._is_startup_failure(OSError("ZMQError: Address already in use"))
    cell_error = PapermillExecutionError(3, 3, "x", "ValueError", "bad", [])
    assert not runner._is_startup_failure(cell_error)


def test_kernels_use_private_ipc_sockets():
    a, b = runner.IPCKernelManager(), runner.IPCKernelManager()
    assert a.transport == "ipc" and a.ip != b.ip   # side-by-side kernels cannot collide


READER = ("import json\nfrom fission.notebook import read_facts, write_facts\n"
          "write_facts(output_dir, '03_c', {'sum': sum(read_facts(output_dir, c)['year'] "
          "for c in chapters), 'from': chapters})")


def test_a_chapter_built_from_the_others_runs_after_them_and_follows_their_facts(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for ch in ("01_a", "02_b"):
        _notebook(nbs / f"{ch}.ipynb", GOOD.format(ch=ch))
    chapter_notebook(nbs / "03_c.ipynb", READER, title="# 标题", extra_parameters="chapters = []")
    (tmp_path / "ed.yaml").write_text(
        "edition: t\nyear: 2025\ncompare_year: 2024\nseed: 1\nchapters: [03_c, 01_a, 02_b]\n"
        "run:\n  workers: 2\n  cell_timeout: 20\n", encoding="utf-8")
    ed = params.load(tmp_path / "ed.yaml", notebooks=nbs)
    build, data = tmp_path / "build", tmp_path / "staged"
    data.mkdir()

    def run(**kw):
        res = runner.run(ed, data, "f1", build=build, notebooks=nbs, progress=False,
                         out=io.StringIO(), dependents=frozenset({"03_c"}), **kw)
        return {r.chapter: r for r in res}
    first = run()
    assert all(r.status == "ok" for r in first.values())
    assert json.loads((build / "03_c.facts.json").read_text()) == {"sum": 4050, "from": ["01_a", "02_b"]}
    assert not any(r.executed for r in run().values())
    # another chapter's facts change → the reader re-runs, even when only that chapter was asked
    _notebook(nbs / "02_b.ipynb", GOOD.format(ch="02_b").replace("'year': year", "'year': 1"))
    again = run()
    assert again["02_b"].executed and again["03_c"].executed and not again["01_a"].executed
    assert json.loads((build / "03_c.facts.json").read_text())["sum"] == 2026
    # a chapter without facts is left out of the reader's sources
    (build / "01_a.facts.json").unlink()
    only = run(chapters=["03_c"])
    assert only["03_c"].executed
    assert json.loads((build / "03_c.facts.json").read_text()) == {"sum": 1, "from": ["02_b"]}
