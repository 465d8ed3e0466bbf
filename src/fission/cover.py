"""What the cover says: the edition, its data source and fingerprint, and — when the data is
simulated — a notice that it is. Both publishers get it; index.qmd includes ``_build/cover.md``."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

SIMULATED_NOTICE = "本报告基于模拟数据生成，仅用于演示与测试，不代表任何真实平台"


def cover(edition, manifest: dict) -> dict:
    simulated = bool(manifest.get("simulated", edition.simulated))
    source = "内置模拟平台（种子 {}）".format(manifest.get("seed")) if simulated else str(manifest.get("source"))
    return {
        "title": edition.full_title,
        "subtitle": edition.subtitle,
        "edition": f"{edition.year} 年版（对比 {edition.compare_year} 年）",
        "date": dt.date.today().isoformat(),
        "source": source,
        "fingerprint": manifest.get("short_fingerprint") or manifest["fingerprint"][:12],
        "simulated": simulated,
        "notice": SIMULATED_NOTICE if simulated else "",
    }


def cover_markdown(c: dict) -> str:
    lines = [
        "| 项目 | 内容 |", "|---|---|",
        f"| 版本 | {c['edition']} |",
        f"| 数据来源 | {c['source']} |",
        f"| 数据指纹 | `{c['fingerprint']}` |",
        f"| 生成日期 | {c['date']} |",
    ]
    text = "\n".join(lines) + "\n"
    if c["simulated"]:
        text = f"::: {{.callout-warning}}\n{c['notice']}。\n:::\n\n" + text
    return text


def write_cover(build: Path, c: dict) -> Path:
    out = Path(build) / "cover.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(cover_markdown(c), encoding="utf-8")
    return out
