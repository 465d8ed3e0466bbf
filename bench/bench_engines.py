"""Side by side: the usual Quarto way against `fission report` on the same data and chapters.

In a scratch copy of the repository (data staged once, not timed):
1. `fission run --force` + `fission render --engine builtin`   (parallel chapters, cold)
2. `fission report` with nothing changed                        (incremental, warm)
3. `quarto render --to html` with Quarto executing the chapter notebooks itself (serial,
   `execute: enabled: true`, no freeze), cold, then again (warm: it re-executes all)
4. rendering alone: the built-in engine, and `fission render --engine quarto` (HTML + PDF)
Needs `quarto` on PATH (see ../shared/tools/quarto); prints one line per measurement and
writes bench/results/engines.json.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_report import FISSION, REPO, scratch_copy  # noqa: E402


def timed(cmd, cwd, env) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return time.perf_counter() - start


def quarto_exec_project(work: Path) -> Path:
    """The chapters as a Quarto book that executes them (the usual way): _quarto.yml beside
    the source notebooks, so their default data_dir (../data/staged/2025) resolves."""
    import yaml

    from fission import params
    nbs = work / "notebooks"
    cfg = yaml.safe_load((work / "report" / "_quarto.yml").read_text(encoding="utf-8"))
    cfg["execute"] = {"enabled": True}
    cfg["book"] = {"title": "bench", "chapters": ["index.qmd", *[f"{c}.ipynb" for c in
                                                                 params.load("params/default.yaml").chapters]]}
    cfg["format"] = {"html": {"toc": True, "number-sections": True, "echo": False}}
    (nbs / "_quarto.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    (nbs / "index.qmd").write_text("# Preface {.unnumbered}\n\nbench\n", encoding="utf-8")
    return nbs


def main() -> None:
    if shutil.which("quarto") is None:
        sys.exit("quarto is not on PATH: bash ../shared/tools/quarto/install.sh PREFIX, then PATH=PREFIX/bin:$PATH")
    work = scratch_copy()
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "FISSION_HOME": str(work), "PATH": f"{venv_bin}:{os.environ['PATH']}",
           "QUARTO_PYTHON": sys.executable}
    r = {}
    try:
        timed([str(FISSION), "data"], work, env)
        r["fission_cold_s"] = timed([str(FISSION), "run", "--force"], work, env) + \
            timed([str(FISSION), "render", "--engine", "builtin"], work, env)
        r["fission_warm_s"] = timed([str(FISSION), "report", "--engine", "builtin"], work, env)
        r["render_builtin_s"] = timed([str(FISSION), "render", "--engine", "builtin"], work, env)
        r["render_quarto_s"] = timed([str(FISSION), "render", "--engine", "quarto"], work, env)
        project = quarto_exec_project(work)
        r["quarto_exec_cold_s"] = timed(["quarto", "render", str(project), "--to", "html"], work, env)
        r["quarto_exec_warm_s"] = timed(["quarto", "render", str(project), "--to", "html"], work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    labels = {
        "fission_cold_s": "fission run --force + render (HTML+PDF), cold",
        "fission_warm_s": "fission report, nothing changed",
        "quarto_exec_cold_s": "quarto render --to html, Quarto executes (serial)",
        "quarto_exec_warm_s": "quarto render --to html again (re-executes all)",
        "render_builtin_s": "render only: built-in engine (HTML+PDF)",
        "render_quarto_s": "render only: Quarto engine (HTML+PDF)",
    }
    for k, text in labels.items():
        print(f"{text:<55} {r[k]:7.1f} s")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "engines.json").write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
