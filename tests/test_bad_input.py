"""The catalogue of bad input (issue 9, docs/bad_input.md): each case builds one broken input,
runs the real entry point (`fission validate`, `fission data`, `fission run`, the parameters)
and gets one clear line — what, where, how many, examples, what to do — a non-zero exit, no
traceback, and its input left as it was (bytes and modification times).

The data cases start from a tiny valid dataset cut from the simulator's smallest run (a few
users with their orders) and break one thing in it."""
from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import nbformat
import pandas as pd
import pytest

from fission import cli, lock, params, runner

REQUIRED = ["users", "orders", "order_items", "items", "suppliers"]


# --- the tiny valid dataset ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The required tables for 6 users with their orders, from the simulator's smallest run."""
    from fission.data.simulate import simulate
    sim = tmp_path_factory.mktemp("sim")
    simulate(sim, year=2025, users=1000, seed=1)
    con = duckdb.connect()
    for t in ("users", "orders", "order_items", "items", "suppliers"):
        con.execute(f"CREATE VIEW all_{t} AS SELECT * FROM read_parquet('{sim / t}.parquet')")
    # orders without campaign/group/live, so the optional tables can stay out
    con.execute("CREATE TABLE orders AS SELECT * FROM all_orders WHERE campaign_id IS NULL "
                "AND group_id IS NULL AND live_id IS NULL AND shipped_ts IS NOT NULL")
    con.execute("CREATE TABLE users AS SELECT * FROM all_users WHERE referrer_user_id IS NULL "
                "AND user_id IN (SELECT user_id FROM orders) ORDER BY user_id LIMIT 6")
    con.execute("DELETE FROM orders WHERE user_id NOT IN (SELECT user_id FROM users)")
    con.execute("CREATE TABLE orders8 AS SELECT * FROM orders ORDER BY order_id LIMIT 8")
    con.execute("CREATE TABLE order_items AS SELECT * FROM all_order_items "
                "WHERE order_id IN (SELECT order_id FROM orders8) ORDER BY ALL")
    con.execute("CREATE TABLE items AS SELECT * FROM all_items "
                "WHERE item_id IN (SELECT item_id FROM order_items) ORDER BY item_id")
    con.execute("CREATE TABLE suppliers AS SELECT * FROM all_suppliers "
                "WHERE supplier_id IN (SELECT supplier_id FROM items) ORDER BY ALL")
    frames = {t: con.execute(f"SELECT * FROM {'orders8' if t == 'orders' else t}").df() for t in REQUIRED}
    assert len(frames["orders"]) == 8 and len(frames["order_items"]) >= 8
    return frames


def write(frames: dict[str, pd.DataFrame], d: Path, fmt: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        if fmt == "parquet":
            df.to_parquet(d / f"{name}.parquet", index=False)
        else:
            df.to_csv(d / f"{name}.csv", index=False)
    return d


def csv_text(df: pd.DataFrame) -> pd.DataFrame:
    """The table as the text a CSV holds, to break single cells."""
    out = df.copy()
    for c in out.columns:
        out[c] = [("" if pd.isna(v) else str(v)) for v in out[c]]
    return out


def snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


# --- the entry points ----------------------------------------------------------------------------
@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """`fission` commands stage into and lock under tmp_path, never the checkout's data/ and report/."""
    monkeypatch.setattr(cli, "STAGED", tmp_path / "staged")
    monkeypatch.setattr(cli, "build_dir", lambda place: tmp_path / "build" / place)
    monkeypatch.setattr(lock, "edition_lock",
                        functools.partial(lock.edition_lock, root=tmp_path / "locks"))
    return tmp_path


def fission(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def stage_dir(d: Path) -> list[str]:
    return ["-p", "data.source=directory", "-p", f"data.path={d}", "-p", "edition=bad", "data"]


#: FISSION_BAD_INPUT_RECORD=file.jsonl records each case's line and exit code (for docs/bad_input.md)
RECORD = os.environ.get("FISSION_BAD_INPUT_RECORD")


def one_clear_line(code: int, text: str, where: str, what: list[str], todo: str) -> str:
    """Non-zero exit, no traceback, and exactly one line naming ``where`` (warnings aside), which
    says ``what`` and ``todo``; returns that line."""
    if RECORD:
        hits = [ln.strip() for ln in text.splitlines() if where in ln and not ln.lstrip().startswith(("warn", "[data]"))]
        with open(RECORD, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
                                 "code": code, "lines": hits}, ensure_ascii=False) + "\n")
    assert code != 0, text
    assert "Traceback" not in text, text
    hits = [ln for ln in text.splitlines() if where in ln and not ln.lstrip().startswith(("warn", "[data]"))]
    assert len(hits) == 1, f"expected one line naming {where!r}:\n{text}"
    for w in what + [todo]:
        assert w in hits[0], f"{w!r} not in: {hits[0]}"
    return hits[0].strip()


# --- data cases ----------------------------------------------------------------------------------
@dataclass
class Case:
    fmt: str                                   # the dataset's format: parquet or csv
    make: Callable[[dict, Path], None]         # breaks the written dataset (frames, dir)
    where: str                                 # table or table.column the line names
    what: list[str] = field(default_factory=list)
    todo: str = ""


def _cut(fr, d):
    b = (d / "orders.parquet").read_bytes()
    (d / "orders.parquet").write_bytes(b[: len(b) // 2])


def _fullwidth_comma(fr, d):
    (d / "users.csv").unlink()
    fr["users"].to_csv(d / "users.csv", sep="，", index=False)


def _semicolon_decimal_comma(fr, d):
    (d / "orders.csv").unlink()
    o = csv_text(fr["orders"])
    o["gmv"] = o["gmv"].str.replace(".", ",", regex=False)
    o.to_csv(d / "orders.csv", sep=";", index=False)


def _encoded(encoding):
    def make(fr, d):
        fr["users"].to_csv(d / "users.csv", index=False, encoding=encoding)
    return make


def _cells(table, column, values):
    """Set ``column`` of the first rows of ``table`` (a CSV) to ``values`` (text)."""
    def make(fr, d):
        t = csv_text(fr[table])
        for i, v in enumerate(values):
            t.loc[i, column] = v
        t.to_csv(d / f"{table}.csv", index=False)
    return make


def _zoned_part(fr, d):
    (d / "users.parquet").unlink()
    (d / "users").mkdir()
    u = fr["users"]
    u.iloc[:3].to_parquet(d / "users" / "part-0.parquet", index=False)
    aware = u.iloc[3:].assign(signup_ts=u.signup_ts.iloc[3:].dt.tz_localize("Asia/Shanghai"))
    aware.to_parquet(d / "users" / "part-1.parquet", index=False)


def _parquet(table, change):
    def make(fr, d):
        df = fr[table].copy()
        out = change(df)                 # edits in place, or returns the new table
        df = df if out is None else out
        df.to_parquet(d / f"{table}.parquet", index=False)
    return make


def _dup_order(df):
    return pd.concat([df, df.iloc[[0]]], ignore_index=True)    # an order exported twice


def _dangling_items(df):
    first = df.drop_duplicates("order_id").index[:2]     # two rows of different orders
    df.loc[first, "item_id"] = 999_999


def _shipped_before_ordered(df):
    df.loc[2, "shipped_ts"] = df.loc[2, "order_ts"] - pd.Timedelta(hours=5)


def _negative_gmv(df):
    df.loc[[0, 3], "gmv"] = -df.loc[[0, 3], "gmv"]


def _channels(df):
    df.loc[[1, 4], "channel"] = ["微信", "WeChat"]


CASES = {
    "empty file": Case("csv", lambda fr, d: (d / "orders.csv").write_bytes(b""), "orders:",
                       ["orders.csv", "empty (0 bytes)"], "export the table again"),
    "empty table (header only)": Case(
        "csv", lambda fr, d: fr["orders"].iloc[:0].to_csv(d / "orders.csv", index=False), "orders:",
        ["required table has no rows (orders.csv holds only its header)"], "export the table again with its rows"),
    "empty table (Parquet without rows)": Case(
        "parquet", lambda fr, d: fr["orders"].iloc[:0].to_parquet(d / "orders.parquet", index=False), "orders:",
        ["required table has no rows (orders.parquet holds only a schema)"], "export the table again with its rows"),
    "truncated Parquet": Case("parquet", _cut, "orders:",
                              ["cannot read orders.parquet", "No magic bytes"], "export or copy it again"),
    "CSV with the wrong delimiter (，)": Case(
        "csv", _fullwidth_comma, "users:", ["none of the contract's 11 columns found in users.csv",
                                            "1 column: 'user_id，signup_ts"],
        "seems separated by '，', not by commas"),
    "CSV with the wrong delimiter (; and decimal comma)": Case(
        "csv", _semicolon_decimal_comma, "orders.gmv",
        ["value not readable as money", "in 8 rows", "gmv="], "'.' as the decimal point"),
    "GBK file read as UTF-8": Case("csv", _encoded("gbk"), "users:",
                                   ["users.csv is not UTF-8", "reads as GBK/GB18030 (line 2:"],
                                   "iconv -f GB18030 -t UTF-8"),
    "BOM of UTF-16 (Excel Unicode Text)": Case("csv", _encoded("utf-16"), "users:",
                                               ["users.csv is not UTF-8", "UTF-16"], "CSV UTF-8"),
    "mixed date formats": Case(
        "csv", _cells("users", "signup_ts", ["01/07/2021 11:23", "7.1.2021 11:23:00"]), "users.signup_ts",
        ["value not readable as ts", "in 2 rows", "signup_ts=01/07/2021 11:23"], "`YYYY-MM-DD HH:MM:SS`"),
    "time zone-naive and aware times mixed (CSV)": Case(
        "csv", _cells("users", "signup_ts", ["2021-01-07 11:23:33+08:00", "2021-01-07T03:23:33Z"]),
        "users.signup_ts", ["time with a zone", "in 2 rows", "+08:00"], "convert every time to UTC+8"),
    "time zone-naive and aware times mixed (Parquet parts)": Case(
        "parquet", _zoned_part, "users.signup_ts",
        ["type differs between the files", "WITH TIME ZONE in users/part-1.parquet"], "drop the zone"),
    "duplicate keys": Case("parquet", _parquet("orders", _dup_order), "orders.order_id",
                           ["primary key not unique: 1 value repeated in 2 rows", "order_id="],
                           "keep one row per key"),
    "broken foreign keys": Case("parquet", _parquet("order_items", _dangling_items), "order_items.item_id",
                                ["foreign key to items.item_id dangling", "in 2 rows", "item_id=999999"],
                                "export the missing parent rows"),
    "time order": Case("parquet", _parquet("orders", _shipped_before_ordered), "orders.shipped_ts",
                       ["time order shipped_ts >= order_ts broken in 1 row", "order_id="],
                       "correct the times"),
    "negative money": Case("parquet", _parquet("orders", _negative_gmv), "orders.gmv",
                           ["negative amount in 2 rows", "gmv=-"], "correct or drop these rows"),
    "values outside closed lists": Case(
        "parquet", _parquet("orders", _channels), "orders.channel",
        ["value outside the closed list [organic, ads, kol, live, referral, group_buy] in 2 rows",
         "channel=微信", "channel=WeChat"], "map the values to the list"),
}


@pytest.mark.parametrize("entry", ["validate", "data"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_data(case, entry, tiny, sandbox, capsys):
    c = CASES[case]
    d = write(tiny, sandbox / "in", c.fmt)
    c.make(tiny, d)
    before = snapshot(d)
    code, text = fission(capsys, *(["validate", d] if entry == "validate" else stage_dir(d)))
    line = one_clear_line(code, text, c.where, c.what, c.todo)
    if entry == "validate":
        assert [ln for ln in text.splitlines() if ln.startswith("ERROR")] == [line]
    else:
        assert "breaks the data contract (1 rule)" in text and "untouched" in text
        assert sorted(p.name for p in (sandbox / "staged").iterdir()) == [".bad.lock"]  # nothing staged
    assert snapshot(d) == before


def test_the_tiny_dataset_is_valid_in_both_formats(tiny, sandbox, capsys):
    for fmt in ("parquet", "csv"):
        d = write(tiny, sandbox / fmt, fmt)
        code, text = fission(capsys, "validate", d)
        assert code == 0 and "all 5 tables pass the contract" in text, text


ACCEPTED = {
    # Excel's 'CSV UTF-8' starts with a byte-order mark: harmless, the first column keeps its name
    "BOM of UTF-8": lambda fr, d: fr["users"].to_csv(d / "users.csv", index=False, encoding="utf-8-sig"),
    # a delimiter DuckDB's sniffer recognises (; | tab) is read as meant
    "CSV separated by ;": lambda fr, d: fr["users"].to_csv(d / "users.csv", index=False, sep=";"),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_harmless_variants_are_staged_as_meant(case, tiny, sandbox, capsys):
    d = write(tiny, sandbox / "in", "csv")
    ACCEPTED[case](tiny, d)
    before = snapshot(d)
    code, text = fission(capsys, *stage_dir(d))
    assert code == 0 and "Traceback" not in text, text
    staged = pd.read_parquet(sandbox / "staged" / "bad" / "users.parquet")
    assert list(staged.columns) == list(tiny["users"].columns)
    pd.testing.assert_frame_equal(staged, tiny["users"], check_dtype=False)
    assert snapshot(d) == before


@pytest.mark.parametrize("entry", ["validate", "data"])
def test_missing_data_directory(entry, sandbox, capsys):
    d = sandbox / "no-such-dir"
    if entry == "validate":
        code, text = fission(capsys, "validate", d)
        one_clear_line(code, text, str(d), ["does not exist"], "a folder of Parquet or CSV tables")
    else:
        code, text = fission(capsys, *stage_dir(d))
        one_clear_line(code, text, str(d), ["is not a directory"], "set data.path")
    assert not d.exists()


def test_a_table_larger_than_the_memory_limit_spills(sandbox, capsys, monkeypatch):
    """Millions of rows with DuckDB capped at 20 MB: validation and staging spill to disk
    rather than fail (the key and foreign-key checks hash every row)."""
    n = 2_000_000
    d = sandbox / "big"
    d.mkdir()
    con = duckdb.connect()
    con.execute("SET threads=2")
    ts = "TIMESTAMP '2025-01-01' + INTERVAL (i % 1000) MINUTE"
    tables = {
        "suppliers": "SELECT 1::BIGINT AS supplier_id, 'east' AS region, 'food' AS category",
        "items": "SELECT i::BIGINT AS item_id, 'food' AS category, 'b' AS brand, 9.5 AS list_price, "
                 "1::BIGINT AS supplier_id FROM range(100) t(i)",
        "users": "SELECT i::BIGINT AS user_id, TIMESTAMP '2024-06-01' AS signup_ts, 1::BIGINT AS city_tier, "
                 "'北京' AS province, '25-30' AS age_band, 'F' AS gender, 'organic' AS acquisition_channel, "
                 "NULL::BIGINT AS referrer_user_id, 'h' AS device_hash, false AS is_member, "
                 "NULL::TIMESTAMP AS member_since FROM range(1000) t(i)",
        "orders": f"SELECT i::BIGINT AS order_id, (i % 1000)::BIGINT AS user_id, {ts} AS order_ts, "
                  "10.0 AS gmv, 0.0 AS discount, 'organic' AS channel, NULL::BIGINT AS campaign_id, "
                  "NULL::BIGINT AS group_id, NULL::BIGINT AS live_id, 'paid' AS status, "
                  f"{ts} + INTERVAL 1 DAY AS shipped_ts, {ts} + INTERVAL 2 DAY AS delivered_ts, "
                  f"'east' AS warehouse_id, 'sf' AS carrier FROM range({n}) t(i)",
        "order_items": f"SELECT i::BIGINT AS order_id, (i % 100)::BIGINT AS item_id, 1::BIGINT AS qty, "
                       f"10.0::DOUBLE AS unit_price FROM range({n}) t(i)",
    }
    for name, sql in tables.items():
        con.execute(f"COPY ({sql}) TO '{d / name}.parquet' (FORMAT parquet)")
    con.close()
    before = snapshot(d)
    monkeypatch.setenv("FISSION_MEMORY_LIMIT", "20MB")
    code, text = fission(capsys, *stage_dir(d))
    assert code == 0 and "Traceback" not in text and "Out of Memory" not in text, text
    m = json.loads((sandbox / "staged" / "bad" / "manifest.json").read_text())
    assert m["tables"]["orders"]["rows"] == n and m["tables"]["order_items"]["rows"] == n
    assert snapshot(d) == before


# --- parameter cases -----------------------------------------------------------------------------
def test_bad_yaml(sandbox, capsys):
    f = sandbox / "ed.yaml"
    f.write_text("edition: own\nyear: 2025\nchapters: [01_industry_background\nseed: 1\n", encoding="utf-8")
    before = snapshot(sandbox)
    code, text = fission(capsys, "-P", f, "data")
    one_clear_line(code, text, "ed.yaml", ["is not valid YAML", "at line 4, column 5",
                                          "flow sequence started at line 3"], "fix that line")
    assert snapshot(sandbox) == before


PARAM_CASES = {
    "unknown parameter": (["-p", "scale.userz=5000"], "scale.userz", ["unknown key", "(got 5000)"], "known keys here: users"),
    "wrong type": (["-p", "seed=abc"], "seed", ["valid integer", "(got 'abc')"], "Input should be"),
    "impossible value": (["-p", "scale.users=5"], "scale.users",
                         ["greater than or equal to 1000", "(got 5)"], "Input should be"),
}


@pytest.mark.parametrize("case", ["unknown parameter",
                                  "wrong type", "impossible value"])
def test_bad_parameter(case, sandbox, capsys):
    argv, where, what, todo = PARAM_CASES[case]
    code, text = fission(capsys, *argv, "data")
    one_clear_line(code, text, f"  {where}:", what, todo)
    assert not (sandbox / "staged").exists()


def test_unknown_chapter(sandbox, capsys):
    (sandbox / "staged" / "2025").mkdir(parents=True)
    (sandbox / "staged" / "2025" / "manifest.json").write_text('{"fingerprint": "0"}')
    code, text = fission(capsys, "run", "--chapters", "bogus")
    one_clear_line(code, text, "bogus", ["not chapters of edition 2025"], "its chapters are: 01_")
    assert code == 2 and not (sandbox / "build").exists()


# --- chapter cases: a cell that hangs, a kernel that dies, a font missing ------------------------
def _notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "fission", "display_name": "Python (fission)", "language": "python"}
    p = nbformat.v4.new_code_cell(
        "edition = ''\nyear = 0\ncompare_year = 0\nlanguage = 'zh'\ndata_dir = ''\n"
        "min_group_size = 1\nsimulated = True\noutput_dir = ''")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 标题"), p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


NO_CJK_FONT = """\
from matplotlib import font_manager
class NoCJK:   # this machine's fonts without Noto Sans CJK SC, even after a re-scan
    ttflist = [f for f in font_manager.fontManager.ttflist if f.name != 'Noto Sans CJK SC']
    def __init__(self):
        pass
font_manager.fontManager = NoCJK()
from fission.viz import theme
theme.use()
"""

CHAPTER_CASES = {
    "a notebook cell that hangs": ("import time\ntime.sleep(300)", ["timed out", "after 3 seconds"],
                                   "raise run.cell_timeout"),
    "a kernel that dies": ("import os\nos.kill(os.getpid(), 9)", ["kernel died", "out of memory"],
                           "-p run.workers=1"),
    "a font missing": (NO_CJK_FONT, ["FontMissing", "'Noto Sans CJK SC' is not installed"],
                       "apt-get install -y fonts-noto-cjk"),
}


@pytest.mark.parametrize("case", [
    "a notebook cell that hangs",
    "a kernel that dies",
    "a font missing"])
def test_bad_chapter(case, sandbox, capsys, monkeypatch):
    body, what, todo = CHAPTER_CASES[case]
    nbs = sandbox / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_bad.ipynb", body)
    (sandbox / "ed.yaml").write_text(
        "edition: bad\nyear: 2025\ncompare_year: 2024\nseed: 1\nchapters: [01_bad]\n"
        f"run:\n  workers: 1\n  cell_timeout: {3 if 'hangs' in case else 60}\n", encoding="utf-8")
    monkeypatch.setattr(params, "REPO", sandbox)                  # the chapters are ours
    monkeypatch.setattr(runner, "run", functools.partial(runner.run, notebooks=nbs, progress=False,
                                                         out=sys.stdout))     # captured by capsys
    (sandbox / "staged" / "bad").mkdir(parents=True)
    (sandbox / "staged" / "bad" / "manifest.json").write_text('{"fingerprint": "0"}')
    before = snapshot(nbs)
    code, text = fission(capsys, "-P", sandbox / "ed.yaml", "run")
    line = one_clear_line(code, text, "01_bad failed:", what, todo)
    assert code == 1 and "0/1 chapters built" in text, text
    assert line and snapshot(nbs) == before
    assert not (sandbox / "build" / "bad" / "01_bad.ipynb").exists()
