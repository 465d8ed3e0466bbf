"""Check a directory of tables against the data contract (``contract.TABLES``).

Every check is one aggregate DuckDB query over the files, so it scales to 100M-row tables:
only counts and at most three example rows per broken rule come back to Python. The input
is only ever read (an in-memory DuckDB connection whose spill directory is a private temp
directory).

    problems = validate("data/raw/acme")       # list[Problem]
    print(format_report(problems))
    exit_code = run("data/raw/acme")             # what `fission validate DIR` calls
"""
from __future__ import annotations

import datetime as _dt
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import duckdb

from .contract import TABLES, Column, Table
from .footer import Footer, read_footer
from .load import (MEMORY_LIMIT_ENV, OutOfMemory, files_sql, memory_cap, retry_on_one_thread,
                   table_files)

N_EXAMPLES = 3

# --- types ------------------------------------------------------------------------------------
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
         "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
_REALS = {"FLOAT", "DOUBLE", "DECIMAL"}
_TS = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"}

#: contract type -> the DuckDB type families accepted in a Parquet file
ACCEPTED: dict[str, set[str]] = {
    "id": _INTS, "int": _INTS,
    "money": _INTS | _REALS, "float": _INTS | _REALS,
    "ts": _TS, "date": {"DATE"},
    "str": {"VARCHAR"}, "cat": {"VARCHAR"},
    "bool": {"BOOLEAN"},
}
#: contract type -> the DuckDB type a value is cast to (CSV input, staging)
DUCK_TYPE: dict[str, str] = {
    "id": "BIGINT", "int": "BIGINT", "money": "DOUBLE", "float": "DOUBLE",
    "ts": "TIMESTAMP", "date": "DATE", "str": "VARCHAR", "cat": "VARCHAR", "bool": "BOOLEAN",
}
TYPE_LEGEND: dict[str, str] = {
    "id": "64-bit integer identifier (Parquet INT64; any integer type is accepted)",
    "int": "integer count or code (any integer type)",
    "float": "real number (DOUBLE/FLOAT/DECIMAL or integer)",
    "money": "amount in CNY (DOUBLE/FLOAT/DECIMAL or integer)",
    "ts": "timestamp, UTC+8 wall time without a zone (Parquet TIMESTAMP; CSV `2025-03-01 10:00:00`)",
    "date": "calendar date (Parquet DATE; CSV `2025-03-01`)",
    "str": "free text (VARCHAR)",
    "cat": "text from the closed list given for the column (VARCHAR)",
    "bool": "true/false (Parquet BOOLEAN; CSV `true`/`false`)",
}


#: how to write a value of each contract type in a CSV file (said when a value is unreadable)
CSV_HINT: dict[str, str] = {
    "id": "write whole numbers", "int": "write whole numbers",
    "money": "write numbers with '.' as the decimal point and no thousands separator",
    "float": "write numbers with '.' as the decimal point and no thousands separator",
    "ts": "write every time as `YYYY-MM-DD HH:MM:SS` (UTC+8 wall time, no zone)",
    "date": "write every date as `YYYY-MM-DD`", "bool": "write true or false",
}
#: what to do about a broken rule, said at the end of its line
RULE_HINT: dict[str, str] = {
    "not_null": "fill the values in or drop the rows",
    "allowed": "map the values to the list (data/README.md) before exporting",
    "min": "correct or drop these rows", "max": "correct or drop these rows",
    "finite": "replace NaN/inf by a number or null (if nullable)",
    "primary_key": "keep one row per key",
    "foreign_key": "export the missing parent rows, or correct the ids",
    "time_order": "correct the times, or the rows they come from",
    "time_zone": "convert every time to UTC+8 and drop the zone",
}
#: a time that carries a zone (``Z``, ``+08:00``, ``-0500``) after its clock time
ZONE_RE = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$"


def staged_schema(table: Table) -> list[tuple[str, str]]:
    """The (column, DuckDB type) list a staged table has: the contract's columns, in order,
    each of its ``DUCK_TYPE``. Parquet stored exactly so needs no conversion to be staged."""
    return [(c.name, DUCK_TYPE[c.type]) for c in table.columns]


def _family(duck_type: str) -> str:
    t = duck_type.upper().strip()
    if t.startswith("DECIMAL"):
        return "DECIMAL"
    return t


def type_ok(contract_type: str, duck_type: str) -> bool:
    """Whether a column stored as ``duck_type`` satisfies the contract type. A column of type
    NULL (pandas writes an all-None object column so) holds no value to be wrong: it fits any
    type, and the not-null rule speaks for it if it must have values."""
    return _family(duck_type).strip('"') == "NULL" or _family(duck_type) in ACCEPTED[contract_type]


def _type_hint(col: Column, duck_type: str) -> str:
    fam = _family(duck_type)
    if col.type in ("id", "int") and fam in ("DOUBLE", "FLOAT"):
        return " (an integer column with nulls written from pandas becomes float: use dtype 'Int64')"
    if col.type == "ts" and fam.startswith("TIMESTAMP WITH TIME ZONE"):
        return " (the contract wants UTC+8 wall time without a zone: convert, then drop the zone)"
    if col.type == "ts" and fam == "VARCHAR":
        return " (write timestamps as Parquet TIMESTAMP, or as `YYYY-MM-DD HH:MM:SS` in CSV)"
    return ""


# --- problems ---------------------------------------------------------------------------------
@dataclass
class Problem:
    table: str
    column: str | None
    rule: str            # missing_table, table_absent, unreadable, missing_column, extra_column,
    #                      type, not_null, allowed, min, max, finite, primary_key, foreign_key,
    #                      foreign_key_skipped, time_order, time_order_skipped, unknown_table, empty
    message: str         # what is wrong, without the count ("time order a >= b broken")
    count: int = 0       # offending rows (0 for structural problems)
    examples: list[dict] = field(default_factory=list)
    severity: str = "error"   # 'error' | 'warning'
    hint: str = ""            # what to do; said last


    @property
    def where(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table

    def line(self) -> str:
        """One line: where, what, how many, and up to three example rows."""
        s = f"{self.where}: {self.message}"
        if self.count:
            s += f" in {self.count:,} row{'s' if self.count != 1 else ''}"
        if self.examples:
            s += ", e.g. " + "; ".join(_fmt_example(e) for e in self.examples[:N_EXAMPLES])
        hint = self.hint or (RULE_HINT.get(self.rule, "") if self.severity == "error" else "")
        return s + (f" — {hint}" if hint else "")


def _fmt_value(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M" if not (v.second or v.microsecond) else "%Y-%m-%d %H:%M:%S")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, str):
        return repr(v) if (v == "" or v != v.strip() or len(v) > 40) else v
    return str(v)


def _fmt_example(row: dict) -> str:
    """``{'__id': {...}, rest}`` -> ``order_id=5 (order_ts=..., shipped_ts=...)``."""
    ident = row.get("__id") or {}
    rest = {k: v for k, v in row.items() if k != "__id"}
    head = ", ".join(f"{k}={_fmt_value(v)}" for k, v in ident.items())
    tail = ", ".join(f"{k}={_fmt_value(v)}" for k, v in rest.items())
    if head and tail:
        return f"{head} ({tail})"
    return head or tail


def format_report(problems: list[Problem], n_tables: int | None = None) -> str:
    """One line per problem (errors first), then a summary line."""
    lines = []
    for p in sorted(problems, key=lambda p: p.severity != "error"):
        lines.append(f"{'ERROR' if p.severity == 'error' else 'warn '} {p.line()}")
    lines.append(summary(problems, n_tables))
    return "\n".join(lines)


def summary(problems: list[Problem], n_tables: int | None = None) -> str:
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    n = n_tables if n_tables is not None else len({p.table for p in problems})
    w = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    if errors:
        return f"{n} tables checked, {errors} rule{'s' if errors != 1 else ''} broken{w}"
    return f"all {n} tables pass the contract{w}"


# --- SQL helpers ------------------------------------------------------------------------------
def _delimiter_hint(found: list[str]) -> str:
    """What to do when a CSV's header matched no contract column; names the delimiter it seems
    to use when the whole header came out as one column."""
    if len(found) == 1:
        seps = [ch for ch in found[0] if not (ch.isalnum() or ch == "_")]
        if seps:
            sep = max(set(seps), key=seps.count)
            return (f"the header is one column: the file seems separated by {sep!r}, not by commas; "
                    "write it with ',' between the fields")
    return "check the header line: it must name the contract's columns (data/README.md)"


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(v) -> str:
    """A SQL literal for a closed-list value."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _encoding(f: Path) -> tuple[str, str] | None:
    """(what the encoding is, what to do) for a CSV file that is not UTF-8, else None."""
    with open(f, "rb") as fh:
        head = fh.read(4)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return ("it is UTF-16 (Excel's 'Unicode Text')",
                    "save it as 'CSV UTF-8 (comma delimited)' or convert it: iconv -f UTF-16 -t UTF-8")
        fh.seek(0)
        for n, raw in enumerate(fh, start=1):   # stops at the first bad line: cheap on big files
            try:
                raw.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            try:
                text = raw.decode("gb18030").strip()
            except UnicodeDecodeError:
                return (f"line {n} has bytes that are neither UTF-8 nor GBK ({raw[:24]!r})",
                        "save the file as UTF-8")
            return (f"it reads as GBK/GB18030 (line {n}: {text[:60]!r})",
                    "save it as UTF-8 (Excel: 'CSV UTF-8'), or convert it: iconv -f GB18030 -t UTF-8")
    return None


def raw_scan_sql(files: list[Path]) -> str:
    """How the validator (and staging) read a table: Parquet as stored, CSV all as text so
    that a bad value is reported rather than silently changing the column's type."""
    if files[0].suffix == ".parquet":
        return f"read_parquet({files_sql(files)}, union_by_name=true)"
    return f"read_csv({files_sql(files)}, header=true, auto_detect=true, all_varchar=true, union_by_name=true)"


class _Src:
    """One table as found in the directory: files, stored types, and typed column expressions."""

    def __init__(self, con, table: Table, files: list[Path]):
        self.table = table
        self.files = files
        self.csv = files[0].suffix != ".parquet"
        self.scan = raw_scan_sql(files)
        rows = con.execute(f"DESCRIBE SELECT * FROM {self.scan}").fetchall()
        self.stored: dict[str, str] = {r[0]: r[1] for r in rows}
        self.present = [c for c in table.columns if c.name in self.stored]
        self.bad_type: set[str] = set()   # columns whose values are not checked
        # parts written with different types are read as the first one's type; a zoned time
        # read as a zone-less one silently shifts by the zone, so each part's types are kept
        self.part_types: dict[str, dict[str, list[Path]]] = {}
        if not self.csv and len(files) > 1:
            for f in files:
                for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files_sql([f])})").fetchall():
                    self.part_types.setdefault(r[0], {}).setdefault(r[1], []).append(f)

    def schema(self) -> list[tuple[str, str]] | None:
        """The stored (column, type) list when every file is Parquet with the same columns and
        types (what staging needs to reference the files as they are); None otherwise."""
        if self.csv:
            return None
        if any(len(kinds) != 1 or len(next(iter(kinds.values()))) != len(self.files)
               for kinds in self.part_types.values()):
            return None
        return list(self.stored.items())

    def footer(self, con) -> Footer | None:
        """The Parquet footers' statistics (read once; None for CSV or unreadable statistics)."""
        if self.csv:
            return None
        if not hasattr(self, "_footer"):
            fam = {c: _family(t) for c, t in self.stored.items()}
            self._footer = read_footer(con, self.files, ints={c for c, f in fam.items() if f in _INTS},
                                       reals={c for c, f in fam.items() if f in _REALS})
        return self._footer

    def ok(self, *cols: str) -> bool:
        return all(c in self.stored and c not in self.bad_type for c in cols)

    def cte(self) -> str:
        """``SELECT`` giving the contract columns with contract types (plus ``<c>__raw`` for CSV)."""
        parts = []
        for c in self.present:
            if self.csv:
                parts.append(f"TRY_CAST({q(c.name)} AS {DUCK_TYPE[c.type]}) AS {q(c.name)}")
                parts.append(f"{q(c.name)} AS {q(c.name + '__raw')}")
            else:
                parts.append(q(c.name))
        return f"SELECT {', '.join(parts) or '1 AS __none'} FROM {self.scan}"

    def id_cols(self) -> list[str]:
        """Columns that identify a row in examples: the key, or the first two columns."""
        cols = list(self.table.key) or [c.name for c in self.table.columns[:2]]
        return [c for c in cols if c in self.stored]


class _Checker:
    def __init__(self, data_dir: Path, memory_limit: str | None, threads: int | None):
        self.dir = data_dir
        self.memory_limit = memory_limit
        self._tmp = tempfile.mkdtemp(prefix="fission-validate-")
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET temp_directory='{self._tmp}'")
        self.con.execute("SET preserve_insertion_order=false")
        self.con.execute("SET enable_progress_bar=false")
        if memory_limit:
            self.con.execute(f"SET memory_limit='{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads={int(threads)}")
        self.srcs: dict[str, _Src] = {}
        self.problems: list[Problem] = []
        self.rows: dict[str, int] = {}
        self.scanned: dict[str, int] = {}      # rules left to a scan per table (the rest: footers)
        self.dense: dict[str, tuple[str, tuple[int, int]]] = {}   # tables whose key is a full range
        self.fk_settled = 0

    def close(self):
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def add(self, *a, **kw):
        self.problems.append(Problem(*a, **kw))

    def sql(self, query: str):
        return retry_on_one_thread(self.con, query, self.memory_limit, f"checking {self.dir}")

    # -- examples --
    def examples(self, src: _Src, where: str, cols: list, raw: bool = False,
                 ctes: str = "", frm: str = "src") -> list[dict]:
        """Up to three offending rows: identifying columns plus ``cols`` (names of ``src``
        columns, or ``(sql, label)`` pairs)."""
        items = []
        for c in cols:
            if isinstance(c, tuple):
                items.append(c)
            else:
                items.append((f"src.{q(c + '__raw')}" if raw and src.csv else f"src.{q(c)}", c))
        labels = [lab for _, lab in items]
        ids = [c for c in src.id_cols() if c not in labels]
        sel = [f"src.{q(c)}" for c in ids] + [e for e, _ in items]
        sql = (f"WITH src AS ({src.cte()}){ctes} SELECT {', '.join(sel)} FROM {frm} "
               f"WHERE {where} LIMIT {N_EXAMPLES}")
        try:
            rows = self.sql(sql).fetchall()
        except duckdb.Error:
            return []
        out = []
        for r in rows:
            d = {"__id": dict(zip(ids, r[:len(ids)]))}
            d.update(zip(labels, r[len(ids):]))
            out.append(d)
        return out

    def names(self, files: list[Path]) -> str:
        shown = ", ".join(f.relative_to(self.dir).as_posix() for f in files[:3])
        return shown + (f" and {len(files) - 3} more" if len(files) > 3 else "")

    # -- per table --
    def load(self, t: Table) -> _Src | None:
        files = table_files(self.dir, t.name)
        if not files:
            return None
        empty = [f for f in files if f.stat().st_size == 0]
        if empty:   # DuckDB would read an empty CSV as one column named column0
            self.add(t.name, None, "unreadable",
                     f"{self.names(empty)} {'is' if len(empty) == 1 else 'are'} empty (0 bytes)",
                     hint="export the table again (a CSV needs at least its header line)")
            return None
        try:
            src = _Src(self.con, t, files)
        except duckdb.Error as e:
            self.add(t.name, None, "unreadable", *self.unreadable(files, e))
            return None
        self.srcs[t.name] = src
        return src

    def unreadable(self, files: list[Path], e: Exception) -> tuple:
        """(message, count, examples, severity, hint) for a file DuckDB cannot read."""
        text = str(e).strip()
        if "utf-8" in text.lower() or "unicode" in text.lower():
            for f in files:
                if found := _encoding(f):
                    return (f"{f.relative_to(self.dir).as_posix()} is not UTF-8: {found[0]}", 0, [],
                            "error", found[1])
        lines = [ln.strip() for ln in text.splitlines()
                 if ln.strip() and not ln.startswith(("LINE ", " ", "Possible Solution", "Original Line"))]
        msg = "; ".join(lines[:2])
        for f in files:   # DuckDB names the file by its full path; the line names it already
            msg = msg.replace(f"'{f.as_posix()}'", f.name).replace(f.as_posix(), f.name)
        msg = msg[:300]
        if files[0].suffix == ".parquet":
            hint = "the file is damaged or incomplete (cut off while copying?): export or copy it again"
        else:
            hint = "check the file is comma-separated UTF-8 text with one header line, or export it again"
        return f"cannot read {self.names(files)}: {msg}", 0, [], "error", hint

    def structure(self, src: _Src):
        t = src.table
        if not src.present:   # one line, not one per missing column
            found = list(src.stored)
            shown = ", ".join(repr(c) if len(c) <= 40 else repr(c[:40] + "…") for c in found[:5])
            self.add(t.name, None, "missing_column",
                     f"none of the contract's {len(t.columns)} columns found in {self.names(src.files)} "
                     f"({len(found)} column{'s' if len(found) != 1 else ''}: {shown})",
                     hint=_delimiter_hint(found) if src.csv else
                     f"the table needs the columns {', '.join(t.names[:4])}, … (data/README.md)")
            src.bad_type.update(src.stored)
            return
        for c in t.columns:
            if c.name not in src.stored and not c.optional:   # optional: added in a later edition
                self.add(t.name, c.name, "missing_column",
                         f"column missing (the contract requires it; found: {', '.join(src.stored)})")
        for name in src.stored:
            if name not in t.names:
                self.add(t.name, name, "extra_column",
                         "column not in the contract (ignored, not staged)", severity="warning")
        if src.csv:
            return
        for c in src.present:
            kinds = src.part_types.get(c.name, {})
            if len(kinds) > 1 and not all(type_ok(c.type, k) for k in kinds):
                src.bad_type.add(c.name)
                parts = "; ".join(f"{k} in {self.names(fs)}" for k, fs in kinds.items())
                bad = next(k for k in kinds if not type_ok(c.type, k))
                self.add(t.name, c.name, "type",
                         f"type differs between the files: {parts}; its values were not checked",
                         hint=f"write every file with one type, {DUCK_TYPE[c.type]}"
                              + ("; convert zoned times to UTC+8 and drop the zone"
                                 if "TIME ZONE" in bad.upper() else ""))
                continue
            if not type_ok(c.type, src.stored[c.name]):
                src.bad_type.add(c.name)
                self.add(t.name, c.name, "type",
                         f"type {src.stored[c.name]} does not fit contract type {c.type} "
                         f"(accepted: {', '.join(sorted(ACCEPTED[c.type]))}){_type_hint(c, src.stored[c.name])}; "
                         "its values were not checked")

    def column_rules(self, src: _Src) -> list[tuple[str, str | None, str, str, list[str], bool]]:
        """(rule, column, message, bad-row condition, example columns, raw?) for one scan."""
        t = src.table
        rules = []
        for c in src.present:
            n = q(c.name)
            if src.csv:
                raw = q(c.name + "__raw")
                cond = f"{raw} IS NOT NULL AND {n} IS NULL"
                if c.type in ("id", "int"):
                    cond = (f"{raw} IS NOT NULL AND ({n} IS NULL OR "
                            f"TRY_CAST({raw} AS DOUBLE) IS DISTINCT FROM {n}::DOUBLE)")
                if c.type not in ("str", "cat"):
                    rules.append(("type", c.name, f"value not readable as {c.type} ({DUCK_TYPE[c.type]})",
                                  cond, [c.name], True))
                if c.type == "ts":   # DuckDB would drop the zone silently: 10:00Z would read as 10:00
                    rules.append(("time_zone", c.name, "time with a zone (the contract's times are "
                                  "UTC+8 wall time without one)",
                                  f"regexp_matches({raw}, '{ZONE_RE}')", [c.name], True))
            if c.name in src.bad_type:
                continue
            if not c.nullable:
                rules.append(("not_null", c.name, "null in a non-nullable column",
                              f"{n} IS NULL" + (f" AND {q(c.name + '__raw')} IS NULL" if src.csv else ""),
                              [c.name], False))
            if c.allowed is not None:
                vals = ", ".join(lit(v) for v in c.allowed)
                shown = ", ".join(str(v) for v in c.allowed)
                rules.append(("allowed", c.name, f"value outside the closed list [{shown}]",
                              f"{n} IS NOT NULL AND {n} NOT IN ({vals})", [c.name], False))
            real = (src.csv and c.type in ("money", "float")) or \
                   (not src.csv and _family(src.stored.get(c.name, "")) in ("FLOAT", "DOUBLE"))
            if real:
                rules.append(("finite", c.name, "NaN or infinite value",
                              f"(isnan({n}) OR isinf({n}))", [c.name], False))
            if c.min is not None:
                what = "negative amount" if (c.type == "money" and c.min == 0) else f"value below minimum {c.min:g}"
                rules.append(("min", c.name, what, f"{n} < {c.min!r}", [c.name], False))
            if c.max is not None:
                rules.append(("max", c.name, f"value above maximum {c.max:g}", f"{n} > {c.max!r}", [c.name], False))
        for o in t.time_order:
            if o.via is None and src.ok(o.later, o.earlier):
                rules.append(("time_order", o.later, f"time order {o.later} >= {o.earlier} broken",
                              f"{q(o.later)} < {q(o.earlier)}", [o.earlier, o.later], False))
        return rules

    def settled(self, src: _Src, rule: str, col: str | None) -> bool:
        """The Parquet footers prove that no row breaks ``rule`` on ``col`` (no scan needed)."""
        f = src.footer(self.con)
        if f is None or col is None:
            return False
        c = src.table.column(col)
        return {"not_null": lambda: f.no_nulls(col),
                "allowed": lambda: f.in_integers(col, c.allowed),
                "finite": lambda: f.finite(col),
                "min": lambda: f.within(col, lo=c.min),
                "max": lambda: f.within(col, hi=c.max)}.get(rule, lambda: False)()

    def scan_table(self, src: _Src):
        t = src.table
        rules = [r for r in self.column_rules(src) if not self.settled(src, r[0], r[1])]
        footer = src.footer(self.con)
        if not rules and footer is not None:     # every rule settled by the footers: no scan
            res = (footer.rows,)
        else:
            aggs = ["count(*)"] + [f"count(*) FILTER (WHERE {r[3]})" for r in rules]
            res = self.sql(f"WITH src AS ({src.cte()}) SELECT {', '.join(aggs)} FROM src").fetchone()
        self.rows[t.name] = res[0]
        self.scanned[t.name] = len(rules)
        if res[0] == 0:   # a required table without rows fails every chapter that reads it
            self.add(t.name, None, "empty", f"{'required ' if t.required else ''}table has no rows "
                     f"({self.names(src.files)} holds only {'its header' if src.csv else 'a schema'})",
                     severity="error" if t.required else "warning",
                     hint="export the table again with its rows" if t.required else "")
        # type problems first: they switch off the other checks of their column
        broken = [(r, n) for r, n in zip(rules, res[1:]) if n]
        for (rule, col, msg, cond, cols, raw), n in broken:
            if rule == "type":
                src.bad_type.add(col)
                self.add(t.name, col, rule, msg, n, self.examples(src, cond, cols, raw=True),
                         hint=CSV_HINT.get(t.column(col).type, "") + "; the column's other checks wait until then")
        for (rule, col, msg, cond, cols, raw), n in broken:
            if rule != "type" and not (set(cols) & src.bad_type):
                self.add(t.name, col, rule, msg, n, self.examples(src, cond, cols, raw=raw))

    def primary_key(self, src: _Src):
        t = src.table
        if not t.key or not src.ok(*t.key):
            return
        k = ", ".join(q(c) for c in t.key)
        notnull = " AND ".join(f"{q(c)} IS NOT NULL" for c in t.key)
        sql = (f"WITH src AS ({src.cte()}), d AS (SELECT {k}, count(*) AS n FROM src WHERE {notnull} "
               f"GROUP BY ALL HAVING count(*) > 1) SELECT count(*), coalesce(sum(n), 0) FROM d")
        nkeys, nrows = self.sql(sql).fetchone()
        if not nkeys:
            footer = src.footer(self.con)
            if len(t.key) == 1 and footer is not None and (r := footer.dense_range(t.key[0])):
                self.dense[t.name] = (t.key[0], r)
            return
        ex = self.sql(
            f"WITH src AS ({src.cte()}) SELECT {k}, count(*) AS n FROM src WHERE {notnull} "
            f"GROUP BY ALL HAVING count(*) > 1 LIMIT {N_EXAMPLES}").fetchall()
        examples = [{"__id": dict(zip(t.key, r[:-1])), "rows": r[-1]} for r in ex]
        label = "primary key" if len(t.key) == 1 else f"composite key ({', '.join(t.key)})"
        self.add(t.name, ",".join(t.key) if len(t.key) > 1 else t.key[0], "primary_key",
                 f"{label} not unique: {nkeys:,} value{'s' if nkeys != 1 else ''} repeated", int(nrows), examples)

    def _parent(self, ref: str, child: Table, what: str, col: str) -> tuple[_Src, str] | None:
        ptable, pcol = ref.split(".")
        psrc = self.srcs.get(ptable)
        if psrc is None:
            if ptable in TABLES and not table_files(self.dir, ptable):
                self.add(child.name, col, f"{what}_skipped",
                         f"{what.replace('_', ' ')} to {ref} not checked: table {ptable} absent",
                         severity="warning")
            return None
        if not psrc.ok(pcol):
            return None
        if self.rows.get(ptable) == 0 and psrc.table.required:
            return None   # the empty parent is the error; every child row dangling says no more
        return psrc, pcol

    def foreign_keys(self, src: _Src):
        t = src.table
        checks = []
        footer = src.footer(self.con)
        for c in src.present:
            if not c.fk or not src.ok(c.name):
                continue
            par = self._parent(c.fk, t, "foreign_key", c.name)
            if not par:
                continue
            # a parent holding every integer key of a range holds every child value in it
            dense = self.dense.get(par[0].table.name)
            if dense and dense[0] == par[1] and footer is not None and footer.within(c.name, *dense[1]):
                self.fk_settled += 1
                continue
            checks.append((c, *par))
        if not checks:
            return
        ctes, flags = [f"src AS ({src.cte()})"], []
        for i, (c, psrc, pcol) in enumerate(checks):
            ctes.append(f"p{i} AS ({psrc.cte()})")
            flags.append(f"({q(c.name)} IS NULL OR {q(c.name)} IN (SELECT {q(pcol)} FROM p{i})) AS f{i}")
        aggs = ", ".join(f"count(*) FILTER (WHERE NOT f{i})" for i in range(len(checks)))
        res = self.sql(f"WITH {', '.join(ctes)} SELECT {aggs} FROM (SELECT {', '.join(flags)} FROM src)").fetchone()
        for i, ((c, psrc, pcol), n) in enumerate(zip(checks, res)):
            if not n:
                continue
            cte = f", p AS ({psrc.cte()})"
            where = f"{q(c.name)} IS NOT NULL AND {q(c.name)} NOT IN (SELECT {q(pcol)} FROM p)"
            self.add(t.name, c.name, "foreign_key",
                     f"foreign key to {c.fk} dangling (no such {psrc.table.name} row)", n,
                     self.examples(src, where, [c.name], ctes=cte))

    def cross_time_order(self, src: _Src):
        t = src.table
        for o in t.time_order:
            if o.via is None or not src.ok(o.later, o.via):
                continue
            fk = t.column(o.via).fk
            ptable, pcol = o.earlier.split(".")
            par = self._parent(f"{ptable}.{pcol}", t, "time_order", o.later)
            if not par or not fk:
                continue
            psrc, _ = par
            pkey = fk.split(".")[1]
            if not psrc.ok(pkey):
                continue
            ctes = f", p AS ({psrc.cte()})"
            frm = f"src JOIN p ON src.{q(o.via)} = p.{q(pkey)}"
            where = (f"src.{q(o.later)} IS NOT NULL AND p.{q(pcol)} IS NOT NULL "
                     f"AND src.{q(o.later)} < p.{q(pcol)}")
            n = self.sql(f"WITH src AS ({src.cte()}){ctes} SELECT count(*) FROM {frm} WHERE {where}").fetchone()[0]
            if n:
                cols = [o.via, (f"p.{q(pcol)}", o.earlier), o.later]
                ex = self.examples(src, where, cols, ctes=ctes, frm=frm)
                self.add(t.name, o.later, "time_order",
                         f"time order {o.later} >= {o.earlier} (via {o.via}) broken", n, ex)


def validate(data_dir: str | Path, tables: Iterable[str] | None = None, *,
             memory_limit: str | None = "4GB", threads: int | None = None,
             stats: dict | None = None) -> list[Problem]:
    """Check the tables in ``data_dir`` against the contract; return the problems found
    (errors and warnings). ``tables`` limits the check to some contract tables (foreign keys
    still look at the others). ``stats``, if given, receives ``{'tables': n, 'rows': {...},
    'schemas': {table: [(column, type), ...] or None}}`` (None: CSV, or Parquet parts that differ)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist: check the path "
                                "(it must be a folder of Parquet or CSV tables, data/README.md)")
    names = list(TABLES) if tables is None else list(tables)
    for n in names:
        if n not in TABLES:
            raise KeyError(f"no table {n!r} in the data contract; known: {', '.join(TABLES)}")
    ck = _Checker(data_dir, memory_cap(memory_limit), threads)
    try:
        # load every present table (parents of foreign keys too), report absent ones
        for name, t in TABLES.items():
            src = ck.load(t)
            if src is None and name in names and table_files(data_dir, name) == []:
                if t.required:
                    ck.add(name, None, "missing_table",
                           f"required table missing (expected {name}.parquet, {name}/*.parquet, "
                           f"{name}.csv or {name}/*.csv)")
                else:
                    ck.add(name, None, "table_absent", f"optional table {name} absent", severity="warning")
        if tables is None:
            known = set(TABLES)
            for p in sorted(data_dir.iterdir()):
                stem = p.name.split(".")[0]
                if stem in known or p.name.startswith(".") or p.name == "manifest.json":
                    continue
                if p.suffix in (".parquet", ".csv") or (p.is_dir() and (any(p.glob("*.parquet")) or any(p.glob("*.csv")))):
                    ck.add(stem, None, "unknown_table", f"{p.name} is not a contract table (ignored)",
                           severity="warning")
        todo = [ck.srcs[n] for n in names if n in ck.srcs]
        for src in todo:
            ck.structure(src)
        for src in todo:
            try:
                ck.scan_table(src)
            except duckdb.Error as e:
                ck.add(src.table.name, None, "unreadable", *ck.unreadable(src.files, e))
                src.bad_type.update(src.stored)
        for src in todo:       # every key first: a foreign key may be settled by its parent's
            ck.primary_key(src)
        for src in todo:
            ck.foreign_keys(src)
            ck.cross_time_order(src)
        if stats is not None:
            stats["tables"] = len(todo)
            stats["rows"] = dict(ck.rows)
            stats["schemas"] = {src.table.name: src.schema() for src in todo}
            stats["settled"] = {"scanned_rules": dict(ck.scanned), "foreign_keys": ck.fk_settled}
        return ck.problems
    finally:
        ck.close()


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def run(data_dir: str | Path, tables: Iterable[str] | None = None, out=None) -> int:
    """Validate, print one line per problem and a summary; exit code 0 when no errors,
    1 when a rule is broken, 2 when the directory does not exist."""
    out = out or sys.stdout
    try:
        st: dict = {}
        problems = validate(data_dir, tables, stats=st)
    except (FileNotFoundError, OutOfMemory) as e:
        print(f"ERROR {e}", file=out)
        return 2
    print(format_report(problems, st.get("tables")), file=out)
    if errors(problems):
        print(f"fix the rules above in {data_dir} (or export the tables again), then run "
              f"`fission validate {data_dir}` again", file=out)
    return 1 if errors(problems) else 0


# --- documentation ----------------------------------------------------------------------------
def _md(s: str) -> str:
    return s.replace("|", "\\|")


def column_markdown(t: Table) -> str:
    """The Markdown table of one contract table's columns (as in data/README.md)."""
    lines = ["| column | type | nullable | allowed values / bounds | foreign key | notes |",
             "|---|---|---|---|---|---|"]
    for c in t.columns:
        rule = ""
        if c.allowed is not None:
            rule = ", ".join(f"`{v}`" for v in c.allowed)
        elif c.min is not None or c.max is not None:
            lo = f"{c.min:g}" if c.min is not None else ""
            hi = f"{c.max:g}" if c.max is not None else ""
            rule = f"≥ {lo}" if hi == "" else (f"≤ {hi}" if lo == "" else f"{lo} – {hi}")
        notes = c.doc
        if c.name in t.key:
            notes = ("key" + ("; " + notes if notes else ""))
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {_md(rule)} | "
                     f"{f'`{c.fk}`' if c.fk else ''} | {_md(notes)} |")
    return "\n".join(lines)


#: purpose of each table, for people (used where the contract's own ``doc`` is empty)
PURPOSE: dict[str, str] = {
    "users": "One row per registered user: when and how they arrived, who referred them, where they live.",
    "shares": "One row per share (invitation, group-buy link, post) sent by a user.",
    "share_visits": "One row per visit that came from a share; signup and first order when converted.",
    "group_buys": "One row per group buy (拼团) opened by a leader; whether it filled in time.",
    "group_members": "Who joined which group buy, and whether they were new to the platform.",
    "campaigns": "Marketing campaigns (KOL, group buy, coupon, live, content, ads) with their cost.",
    "kols": "Key opinion leaders (达人) the platform works with, by platform and tier.",
    "live_sessions": "Live-stream sessions with their audience.",
    "items": "The catalogue: one row per item (SKU) with its category, brand, price and supplier.",
    "orders": "One row per order: value, discount, channel, attribution, status and logistics.",
    "order_items": "The lines of each order.",
    "events": "Behaviour log (views, clicks, carts, searches, recommendation impressions); the large table.",
    "experiments": "A/B tests: what was tested, when, and the primary metric.",
    "assignments": "Which user saw which variant of which experiment.",
    "reviews": "Product reviews left after an order.",
    "tickets": "Customer-service tickets with response and resolution times and satisfaction.",
    "returns": "Return and refund requests, including 7-day no-reason returns (七天无理由).",
    "suppliers": "Suppliers of the catalogue.",
    "purchase_orders": "Purchase orders to suppliers: promised and actual receipt, defects.",
    "inventory": "Daily stock snapshots per item and warehouse.",
    "risk_register": "Risks kept by analysts (not simulated); an example file ships with the package.",
    "market": "External macro figures (market size, growth, users) with their source; not simulated.",
}


def contract_markdown() -> str:
    """The per-table sections of data/README.md, generated from ``contract.TABLES``."""
    out = []
    for t in TABLES.values():
        out.append(f"### `{t.name}`\n")
        bits = ["**required**" if t.required else "optional"]
        bits.append(f"key: {', '.join(f'`{k}`' for k in t.key)}" if t.key else "no key")
        if not t.simulated:
            bits.append("not simulated")
        out.append(" · ".join(bits) + "\n")
        purpose = t.doc or PURPOSE.get(t.name, "")
        if purpose:
            out.append(purpose + "\n")
        out.append(column_markdown(t) + "\n")
        if t.time_order:
            rules = []
            for o in t.time_order:
                via = f" (through `{o.via}`)" if o.via else ""
                rules.append(f"`{o.later}` ≥ `{o.earlier}`{via}")
            out.append("Time order, where both are present: " + "; ".join(rules) + ".\n")
    return "\n".join(out)


README_BEGIN = "<!-- contract:begin (generated by fission.data.validate.update_readme) -->"
README_END = "<!-- contract:end -->"


def type_legend_markdown() -> str:
    return "\n".join(["| type | meaning |", "|---|---|"] +
                      [f"| {k} | {_md(v)} |" for k, v in TYPE_LEGEND.items()])


def update_readme(path: str | Path | None = None) -> Path:
    """Regenerate the contract section of ``data/README.md`` (between the markers) from
    ``contract.TABLES``; the rest of the file is left as written."""
    from ..paths import REPO
    path = Path(path) if path else REPO / "data" / "README.md"
    text = path.read_text(encoding="utf-8")
    a, b = text.index(README_BEGIN), text.index(README_END)
    text = text[:a] + README_BEGIN + "\n\n" + contract_markdown() + "\n" + text[b:]
    path.write_text(text, encoding="utf-8")
    return path
