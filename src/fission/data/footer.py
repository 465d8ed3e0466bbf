"""What the Parquet footers prove about a table's columns, read without reading the data.

Every Parquet writer records, per row group and column, the null count and (for most types)
the smallest and largest value. The contract check (:mod:`fission.data.validate`) uses them to
settle a rule without a scan where the statistics prove it holds: no nulls in a non-nullable
column, every value within a column's minimum and maximum, no NaN in a real column, an integer
code within its closed list, and a foreign key into a parent whose keys are every integer of a
range. Where a statistic is absent, inexact or not conclusive, the rule is checked on the
data as before: statistics only ever remove work, never a check.

No library does this for DuckDB's footers (``parquet_metadata``): written here, in one place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .load import files_sql


@dataclass(frozen=True)
class ColumnStats:
    """One column over every row group of every file of a table; ``None`` where not known."""
    nulls: int | None        # null values (None: a row group without a null count)
    lo: int | float | None   # smallest non-null value (numeric columns with exact statistics)
    hi: int | float | None   # largest non-null value
    nans: int | None         # NaN values of a real column (None: not recorded)
    all_null: bool           # every value is null (then lo/hi are None and nothing can break a range)


@dataclass(frozen=True)
class Footer:
    rows: int
    columns: dict[str, ColumnStats]

    def no_nulls(self, col: str) -> bool:
        s = self.columns.get(col)
        return s is not None and s.nulls == 0

    def within(self, col: str, lo: float | None = None, hi: float | None = None) -> bool:
        """Every non-null value of ``col`` is ≥ ``lo`` and ≤ ``hi`` (proven by the statistics)."""
        s = self.columns.get(col)
        if s is None:
            return False
        if s.all_null:
            return True
        if s.lo is None or s.hi is None:
            return False
        return (lo is None or s.lo >= lo) and (hi is None or s.hi <= hi)

    def finite(self, col: str) -> bool:
        """No NaN and no infinity in ``col`` (writers leave NaN out of min/max: its count is needed)."""
        s = self.columns.get(col)
        if s is None:
            return False
        if s.all_null:
            return True
        return s.nans == 0 and s.lo is not None and s.hi is not None \
            and math.isfinite(s.lo) and math.isfinite(s.hi)

    def in_integers(self, col: str, allowed) -> bool:
        """Every value of an integer column is in ``allowed``: its range holds only allowed codes."""
        s = self.columns.get(col)
        if s is None or not allowed or not all(isinstance(v, int) and not isinstance(v, bool) for v in allowed):
            return False
        if s.all_null:
            return True
        if s.lo is None or s.hi is None or s.hi - s.lo > len(allowed):
            return False
        return set(range(int(s.lo), int(s.hi) + 1)) <= set(allowed)

    def dense_range(self, col: str) -> tuple[int, int] | None:
        """``(lo, hi)`` when ``col`` — a key already checked unique — holds every integer from lo
        to hi: as many rows as integers in the range, none null (pigeonhole). Else None."""
        s = self.columns.get(col)
        if s is None or s.nulls != 0 or s.lo is None or s.hi is None:
            return None
        lo, hi = int(s.lo), int(s.hi)
        return (lo, hi) if self.rows == hi - lo + 1 else None


def read_footer(con, files: list[Path], ints: set[str], reals: set[str]) -> Footer | None:
    """The statistics of ``files`` (one table's Parquet parts), or None when they cannot be
    read. ``ints``/``reals``: the columns stored as integers / reals (their ranges are read
    exactly: integers as integers, since ids beyond 2**53 do not survive a double); the others
    get null counts only. A column absent from some file reads as null there, so its
    statistics prove nothing."""
    listing = files_sql(files)
    groups = "stats_null_count IS DISTINCT FROM row_group_num_rows"   # row groups holding a value
    try:
        rows = con.execute(f"""
            SELECT path_in_schema, count(DISTINCT file_name) AS files,
                   sum(stats_null_count) AS nulls, count(*) - count(stats_null_count) AS no_count,
                   bool_and(stats_null_count = row_group_num_rows) AS all_null,
                   min(TRY_CAST(stats_min_value AS HUGEINT)) AS lo_i, max(TRY_CAST(stats_max_value AS HUGEINT)) AS hi_i,
                   min(TRY_CAST(stats_min_value AS DOUBLE)) AS lo_d, max(TRY_CAST(stats_max_value AS DOUBLE)) AS hi_d,
                   count(*) FILTER (WHERE {groups} AND (stats_min_value IS NULL OR stats_max_value IS NULL
                       OR min_is_exact IS NOT DISTINCT FROM false OR max_is_exact IS NOT DISTINCT FROM false))
                       AS inexact,
                   sum(stats_nan_count) AS nans, count(*) - count(stats_nan_count) AS no_nan_count
            FROM parquet_metadata({listing}) GROUP BY path_in_schema""").fetchall()
        n_rows = con.execute(f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata({listing})").fetchone()[0]
    except Exception:   # noqa: BLE001 - no statistics is not an error: the data are scanned instead
        return None
    cols = {}
    for name, n_files, nulls, no_count, all_null, lo_i, hi_i, lo_d, hi_d, inexact, nans, no_nan in rows:
        if n_files != len(files):
            continue
        lo, hi = (lo_i, hi_i) if name in ints else (lo_d, hi_d) if name in reals else (None, None)
        if inexact or lo is None or hi is None:
            lo = hi = None
        cols[name] = ColumnStats(nulls=None if no_count else int(nulls or 0), lo=lo, hi=hi,
                                 nans=None if no_nan else int(nans or 0),
                                 all_null=bool(all_null) and not no_count)
    return Footer(rows=int(n_rows), columns=cols)
