"""Open an edition's staged data as DuckDB views, one per contract table present.

Metrics take the connection and push their heavy work down to DuckDB; only small aggregates
come back to pandas."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

from .contract import TABLES


#: overrides DuckDB's memory cap everywhere (validation, staging, chapters), e.g. ``500MB``
MEMORY_LIMIT_ENV = "FISSION_MEMORY_LIMIT"


def memory_cap(default: str | None = "4GB") -> str | None:
    """The memory cap for a DuckDB connection: ``$FISSION_MEMORY_LIMIT`` or ``default``.
    Beyond it DuckDB spills to its temp directory instead of taking the machine's memory."""
    return os.environ.get(MEMORY_LIMIT_ENV) or default


class OutOfMemory(RuntimeError):
    """A statement could not finish within DuckDB's memory cap, even on one thread."""


def retry_on_one_thread(con, sql: str, memory_limit: str | None, what: str):
    """``con.execute(sql)``; when DuckDB runs out of memory, again on one thread, which the
    connection keeps (:func:`on_one_thread`)."""
    try:
        return con.execute(sql)
    except duckdb.OutOfMemoryException:
        return on_one_thread(con, sql, memory_limit, what)


def on_one_thread(con, sql: str, memory_limit: str | None, what: str, params=None, keep: bool = True,
                  fetch=None):
    """``con.execute(sql, params)`` on one thread, after it ran out of memory on several. A hash
    aggregate or join needs some memory per thread before it can spill to disk, and a holistic
    aggregate (median) per group does not spill, so a cap that several threads exceed is often
    enough for one (DuckDB's own advice; chapter 3's K-factor at 10 M users: out of memory at
    4 GB on 2 threads, 34 s on one). ``keep``: stay on one thread afterwards (a run of heavy
    checks), or go back to the previous setting (a chapter's other statements); then ``fetch``
    takes the result first (e.g. ``lambda r: r.df()``): the next statement would replace it."""
    before = None if keep else con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads=1")
    try:
        result = con.execute(sql) if params is None else con.execute(sql, params)
        return fetch(result) if fetch else result
    except duckdb.OutOfMemoryException:
        raise OutOfMemory(
            f"DuckDB ran out of memory {what} (cap {memory_limit or 'none'}, one thread): set "
            f"{MEMORY_LIMIT_ENV} higher (e.g. {MEMORY_LIMIT_ENV}=8GB) or close other programs") from None
    finally:
        if not keep:
            con.execute(f"SET threads={int(before)}")


def table_files(data_dir: Path, name: str) -> list[Path]:
    """The Parquet or CSV files holding ``name`` in ``data_dir`` (a file, or a folder of parts)."""
    data_dir = Path(data_dir)
    for pattern in (f"{name}.parquet", f"{name}/*.parquet", f"{name}.csv", f"{name}/*.csv"):
        hits = sorted(data_dir.glob(pattern))
        if hits:
            return hits
    return []


def files_sql(files: list[Path]) -> str:
    """``files`` as a DuckDB list literal (a quote in a path doubled)."""
    return "[" + ", ".join("'" + f.as_posix().replace("'", "''") + "'" for f in files) + "]"


def scan_sql(files: list[Path]) -> str:
    """A DuckDB table function reading ``files`` (all Parquet or all CSV)."""
    if files[0].suffix == ".parquet":
        return f"read_parquet({files_sql(files)})"
    return f"read_csv({files_sql(files)}, header=true, auto_detect=true)"


def connect(data_dir: str | Path, memory_limit: str | None = "4GB",
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table found in ``data_dir``.

    DuckDB would take 80% of the machine's memory by default; chapters run side by side, so
    each connection is capped (``memory_limit``) and spills to disk beyond it."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist; run `make data` first")
    check_references(data_dir)
    con = duckdb.connect()
    memory_limit = memory_cap(memory_limit)
    if memory_limit:
        con.execute(f"SET memory_limit='{memory_limit}'")
    # spill under the system temp dir, not a .tmp folder beside the notebooks
    con.execute(f"SET temp_directory='{Path(tempfile.gettempdir()) / 'fission-duckdb'}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    for name in TABLES:
        files = table_files(data_dir, name)
        if files:
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {scan_sql(files)}')
    lit = lambda x: "'" + str(x).replace("'", "''") + "'"  # noqa: E731 - a view takes no parameters
    rows = [f"({lit(t)}, {lit(c)})" for t, cols in sorted(unavailable_columns(data_dir).items())
            for c in sorted(cols)]
    con.execute(f"CREATE VIEW {UNAVAILABLE} AS SELECT * FROM (VALUES {', '.join(rows) or '(NULL, NULL)'}) "
                "v(table_name, column_name) WHERE table_name IS NOT NULL")
    return con


class StagedDataChanged(RuntimeError):
    """A staged table refers to a file of the company's directory that changed or went away
    after staging: its checks and fingerprint no longer describe it."""


def _manifest(data_dir: Path) -> dict:
    import json
    m = Path(data_dir) / "manifest.json"
    if not m.exists():
        return {}
    try:
        return json.loads(m.read_text(encoding="utf-8"))
    except ValueError:
        return {}


def changed_references(data_dir: str | Path, manifest: dict | None = None) -> list[str]:
    """The referenced files (manifest ``references``: staged links to conforming input files)
    that are gone or whose size or mtime differ from when they were staged. A stat per file."""
    data_dir = Path(data_dir)
    refs = (manifest if manifest is not None else _manifest(data_dir)).get("references") or {}
    bad = []
    for rel, ref in refs.items():
        try:
            st = (data_dir / rel).stat()   # follows the link to the input file
        except OSError:
            bad.append(f"{ref['target']} (gone)")
            continue
        if (st.st_size, st.st_mtime_ns) != (ref["size"], ref["mtime_ns"]):
            bad.append(f"{ref['target']} (changed)")
    return bad


def check_references(data_dir: str | Path) -> None:
    """Raise ``StagedDataChanged`` when a referenced input file changed after staging."""
    bad = changed_references(data_dir)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise StagedDataChanged(
            f"the staged data in {data_dir} refers to input files that changed after staging: {shown}; "
            "run `make data` (or `fission data`) to check and stage them again")


#: the view naming the columns a mapping filled with placeholders or left empty: present for the
#: contract, absent for the analyses (fission.coverage)
UNAVAILABLE = "_unavailable_columns"


def unavailable_columns(data_dir: str | Path) -> dict[str, set[str]]:
    """Columns that are not really in the data: those the mapping (manifest ``mapping``)
    filled with placeholders or left null because the export does not have them."""
    tables = (_manifest(Path(data_dir)).get("mapping") or {}).get("tables") or {}
    return {t: set((r.get("columns") or {}).get("filled") or {}) | set((r.get("columns") or {}).get("absent") or [])
            for t, r in tables.items()}


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])
