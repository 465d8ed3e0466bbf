"""Time the built-in publisher on a chapter-like book (default: 10 chapters × 5 figures ×
3 tables, like MEASURED.md's measurement). Usage:

    python bench/bench_render.py [--chapters 10] [--figures 5] [--tables 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "publish"))


def figure_png(i: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.rcParams["font.family"] = ["Noto Sans CJK SC", "DejaVu Sans"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    x = np.arange(24)
    ax.plot(x, np.cumsum(np.random.default_rng(i).normal(1, 2, 24)), label="新增用户")
    ax.set_title(f"示例图 {i}")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def table_md(rows: int, cols: int) -> str:
    head = "| " + " | ".join(["分组"] + [f"指标{j}" for j in range(1, cols)]) + " |"
    sep = "|:---|" + "---:|" * (cols - 1)
    body = ["| " + " | ".join([f"第{r}组"] + [f"{(r * 37 + j * 11) % 997:,}" for j in range(1, cols)]) + " |"
            for r in range(rows)]
    return "\n".join([head, sep, *body]) + "\n"


def chapter(n: int, figures: int, tables: int, pngs: list[str]) -> nbformat.NotebookNode:
    p = f"ch{n}"
    cells = [new_markdown_cell(f"# 第{n}章 示例章节\n\n本章说明。"),
             new_code_cell("year = 2025", metadata={"tags": ["parameters"]})]
    for k in range(1, figures + 1):
        cells.append(new_markdown_cell(f"## 小节 {n}.{k}\n\n" + "裂变营销带来的增长。" * 30))
        cells.append(new_code_cell(
            f"#| label: fig-{p}-{k}\n#| fig-cap: 第{n}章图{k}", execution_count=k,
            outputs=[new_output("display_data", data={"image/png": pngs[(n + k) % len(pngs)],
                                                      "text/plain": "<Figure>"})]))
        cells.append(new_code_cell("viz.md()", execution_count=k, outputs=[new_output(
            "display_data", data={"text/markdown": f"如 @fig-{p}-{k} 所示，增长显著。",
                                  "text/plain": "<Markdown>"})]))
    for k in range(1, tables + 1):
        cols = 9 if k == tables else 4
        cells.append(new_code_cell(
            f"#| label: tbl-{p}-{k}\n#| tbl-cap: 第{n}章表{k}", execution_count=10 + k,
            outputs=[new_output("display_data", data={"text/markdown": table_md(12, cols),
                                                      "text/plain": "<Markdown>"})]))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def build(root: Path, chapters: int, figures: int, tables: int) -> Path:
    from make_fixtures import make_book

    make_book(root, chapters=1)
    pngs = [figure_png(i) for i in range(5)]
    names = []
    for n in range(1, chapters + 1):
        name = f"{n:02d}_bench.ipynb"
        nbformat.write(chapter(n, figures, tables, pngs), root / "_build" / name)
        names.append(f"_build/{name}")
    cfg = (root / "_quarto.yml").read_text(encoding="utf-8")
    cfg = cfg.replace("    - _build/01_chapter.ipynb\n", "".join(f"    - {c}\n" for c in names))
    (root / "_quarto.yml").write_text(cfg, encoding="utf-8")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chapters", type=int, default=10)
    ap.add_argument("--figures", type=int, default=5)
    ap.add_argument("--tables", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None)
    a = ap.parse_args()
    from fission.publish import render

    root = a.keep or Path(tempfile.mkdtemp(prefix="bench-book-"))
    build(root, a.chapters, a.figures, a.tables)
    cover = {"edition": "bench", "source": "模拟", "fingerprint": "bench", "simulated": True,
             "notice": "本报告基于模拟数据生成。"}
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = render(root, engine="builtin", cover=cover)
        times.append(time.perf_counter() - t0)
    from pypdf import PdfReader

    pages = len(PdfReader(str(res["pdf"])).pages)
    print(f"{a.chapters} chapters, {a.chapters * a.figures} figures, {a.chapters * a.tables} tables: "
          f"median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)}); "
          f"{pages} PDF pages; book in {root}")


if __name__ == "__main__":
    main()
