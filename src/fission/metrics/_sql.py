"""Shared helpers for the metric modules: table checks, period handling, the data end."""
from __future__ import annotations

import duckdb
import pandas as pd

from ..data.load import on_one_thread

PERIODS = ("day", "week", "month", "quarter", "year")


class MissingTableError(LookupError):
    """A table the analysis needs is not in the edition's data."""


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    if hasattr(con, "has_table"):              # another engine (fission.engine) knows its own
        return con.has_table(name)
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])


def require(con: duckdb.DuckDBPyConnection, *tables: str, needed_for: str) -> None:
    """Raise :class:`MissingTableError` naming every absent table and the analysis needing it."""
    missing = [t for t in tables if not has_table(con, t)]
    if missing:
        raise MissingTableError(
            f"table(s) {', '.join(repr(t) for t in missing)} not found in the data, but "
            f"{needed_for} needs them; add them to the edition's data (see the data contract)")


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    return period


def query(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pd.DataFrame:
    """The result of ``sql`` as a DataFrame. On DuckDB, a statement that runs out of memory is
    run again on one thread (fission.data.load.on_one_thread), then the connection's threads
    are restored."""
    try:
        return con.execute(sql, params or []).df()
    except duckdb.OutOfMemoryException:
        cap = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        return on_one_thread(con, sql, cap, "in a chapter's query", params, keep=False,
                             fetch=lambda r: r.df())


def _scalar(con, sql: str):
    """The single value of ``sql``. A full scan on Spark (seconds to a minute at scale) that
    chapters repeat, over data that do not change during a run: a connection that remembers
    results (fission.engine.SparkConnection.remembered) answers it once; DuckDB answers in
    milliseconds and is asked every time."""
    if hasattr(con, "remembered"):
        return con.remembered(sql)[0][0]
    return con.execute(sql).fetchall()[0][0]


def data_end(con: duckdb.DuckDBPyConnection) -> pd.Timestamp:
    """The end of the observed data: the latest order, signup, share or visit timestamp
    present. Windows ending after it are not fully observed."""
    parts = []
    for t, c in (("orders", "order_ts"), ("users", "signup_ts"), ("shares", "share_ts"),
                 ("share_visits", "visit_ts")):
        if has_table(con, t):
            parts.append(f"(SELECT max({c})::TIMESTAMP FROM {t})")
    if not parts:
        raise MissingTableError("no table with timestamps (orders, users, shares) found")
    return pd.Timestamp(_scalar(con, f"SELECT greatest({', '.join(parts)})"))


# A users table whose first signup precedes the first activity by more than this holds an
# installed base from before the activity data (a full-history export has its first orders
# within days of its first signups).
TRUNCATION_GAP_DAYS = 90


def first_activity(con) -> pd.Timestamp | None:
    """The earliest order, share or share-visit timestamp (None without an activity table):
    when observation started (the users table may hold an installed base from before)."""
    parts = []
    for t, c in (("orders", "order_ts"), ("shares", "share_ts"), ("share_visits", "visit_ts")):
        if has_table(con, t):
            parts.append(f"(SELECT min({c})::TIMESTAMP FROM {t})")
    if not parts:
        return None
    first = _scalar(con, f"SELECT least({', '.join(parts)})")
    return None if first is None else pd.Timestamp(first)


def data_start(con: duckdb.DuckDBPyConnection) -> pd.Timestamp | None:
    """The start of the observed activity, when the activity tables start later than the users
    table: the earliest order, share or share-visit timestamp, floored to its day, if it comes
    more than ``TRUNCATION_GAP_DAYS`` after the earliest signup (an installed base signed up
    before the activity data begins); ``None`` otherwise (the history is complete) or when
    there is no activity table.

    Users who signed up before it have a left-truncated history (their early orders, shares and
    visits are not in the data); analyses that measure time from signup (K-factor, survival,
    cohort retention, membership windows) keep only users with ``signup_ts >= data_start``."""
    first = first_activity(con)
    if first is None or not has_table(con, "users"):
        return None
    first_signup = _scalar(con, "SELECT min(signup_ts)::TIMESTAMP FROM users")
    if first_signup is None:
        return None
    if first - pd.Timestamp(first_signup) <= pd.Timedelta(days=TRUNCATION_GAP_DAYS):
        return None
    return first.floor("D")


def observed_signup_sql(con: duckdb.DuckDBPyConnection, col: str = "signup_ts") -> str:
    """SQL condition keeping users whose history is fully observed (``col >= data_start``);
    ``TRUE`` when the data start is unknown."""
    ds = data_start(con)
    return "TRUE" if ds is None else f"{col}::TIMESTAMP >= {ts_literal(ds)}"


def interval_days(days: float) -> str:
    """A SQL INTERVAL of ``days`` (fractions allowed), for windows measured from a timestamp."""
    # a quoted literal: Spark (the same SQL transpiled, fission.engine) reads no expression here
    return f"INTERVAL '{float(days) * 86400.0!r}' SECOND"


def ts_literal(ts) -> str:
    """A SQL TIMESTAMP literal for ``ts`` (anything pandas can parse)."""
    return f"TIMESTAMP '{pd.Timestamp(ts).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def in_list(values, name: str, allowed) -> list:
    values = [values] if isinstance(values, str) else list(values)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{name} must be among {tuple(allowed)}, got {bad}")
    return values
