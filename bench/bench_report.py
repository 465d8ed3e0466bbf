"""Benchmark of the whole pipeline (issue: report pipeline figures).

In a scratch copy of the repository's tracked files (set-up already done: this venv):
1. cold `fission report` (no staged data, nothing built)          target ≤ 180 s
2. the same again, nothing changed (re-executes nothing)          target ≤ 5 s
3. one chapter's notebook edited: only it re-executes, HTML+PDF   target ≤ 45 s
4. a wording-only edit (a chapter's words file): nothing executes,
   new HTML+PDF                                                   target ≤ 10 s
5. one metric module edited (metrics/survival.py): only the chapters that import it
   re-execute (checked against codehash's import closure)
The scratch copy's own src/ is put first on PYTHONPATH, so edits there are what runs.
Prints one line per measurement and writes bench/results/report.json.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FISSION = Path(sys.executable).with_name("fission")


def scratch_copy() -> Path:
    dest = Path(tempfile.mkdtemp(prefix="fission-bench-"))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def timed(cmd, cwd, env) -> tuple[float, str]:
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return took, p.stdout


def _imports(notebook: Path, work: Path, module: str) -> bool:
    from fission.codehash import chapter_code_hash
    return module in chapter_code_hash(notebook, work / "src" / "fission")[1]


def main() -> None:
    work = scratch_copy()
    env = {**os.environ, "FISSION_HOME": str(work), "PYTHONPATH": str(work / "src")}
    report = [str(FISSION), "report", "--engine", "builtin"]   # the engine without Quarto
    results = {}
    try:
        results["cold_report_s"], out = timed(report, work, env)
        print(out.strip().splitlines()[-1])
        results["unchanged_report_s"], out = timed(report, work, env)
        assert "0 executed" in out, out
        nbs = sorted((work / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        nb = nbs[-1]
        data = json.loads(nb.read_text(encoding="utf-8"))
        data["cells"][0]["source"] = "".join(data["cells"][0]["source"]) + "\n\n（修订）"
        nb.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        results["one_chapter_edited_s"], out = timed(report, work, env)
        assert "1 executed" in out, out
        results["edited_chapter"] = nb.stem

        words = sorted((work / "notebooks" / "words").glob("0*.zh.yaml"))[0]
        words.write_text(words.read_text(encoding="utf-8").replace("。", "。 ", 1), encoding="utf-8")
        results["wording_edit_s"], out = timed(report, work, env)
        assert "0 executed" in out, out
        results["wording_edit_file"] = words.name

        module = work / "src" / "fission" / "metrics" / "survival.py"
        module.write_text(module.read_text(encoding="utf-8") + "\n# benchmark edit\n", encoding="utf-8")
        expected = sorted(p.stem for p in nbs if _imports(p, work, "metrics/survival.py"))
        results["module_edit_s"], out = timed(report, work, env)
        executed = sorted(l.split()[0] for l in out.splitlines()
                          if l.strip().endswith("re-run") and l.split()[0] != "chapter")
        assert executed == expected, (executed, expected)
        results["module_edit_reexecuted"] = executed
    finally:
        shutil.rmtree(work, ignore_errors=True)
    targets = {"cold_report_s": 180, "unchanged_report_s": 5, "one_chapter_edited_s": 45,
               "wording_edit_s": 10}
    for k, limit in targets.items():
        print(f"{k:<24} {results[k]:7.1f} s   (target ≤ {limit} s) "
              f"{'ok' if results[k] <= limit else 'OVER'}")
    print(f"module_edit_s            {results['module_edit_s']:7.1f} s   re-executed: "
          f"{', '.join(results['module_edit_reexecuted'])} (the chapters importing metrics/survival.py)")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
