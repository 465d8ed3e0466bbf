"""Which calendar years the data covers in full, and whether the edition's two years can be
compared.

A company's export rarely spans whole years: the UCI Online Retail data runs from 1 Dec 2010 to
9 Dec 2011, so "2011 against 2010" would set 49 weeks against 4. A year is *complete* when the
observed data starts on or before its 1 January and ends on or after its 31 December; the
year-on-year figures of a chapter are given only when both years are complete (otherwise the
chapter states the span it has and shows no change).

    p = periods.edition_periods(con, 2011, 2010)
    p["comparable"]                   # False
    p["year"]                         # {"year": 2011, "start": "2011-01-01", "end": "2011-12-09", "complete": False}
"""
from __future__ import annotations

import pandas as pd

from ._sql import MissingTableError, data_end, first_activity, has_table


def observed_span(con) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last timestamp of the observed activity (orders, shares, visits; the
    users' sign-ups when there is no activity table)."""
    start = first_activity(con)
    if start is None and has_table(con, "users"):
        start = pd.Timestamp(con.execute("SELECT min(signup_ts)::TIMESTAMP FROM users").fetchall()[0][0])
    if start is None:
        raise MissingTableError("no table with timestamps (orders, users, shares) found")
    return start, data_end(con)


def year_span(start: pd.Timestamp, end: pd.Timestamp, year: int) -> dict:
    """The part of ``year`` inside the observed span [start, end] (dates as ISO strings, None
    when the year is outside it) and whether it is the whole year."""
    first, last = pd.Timestamp(year=year, month=1, day=1), pd.Timestamp(year=year, month=12, day=31)
    lo, hi = max(first, start.normalize()), min(last, end.normalize())
    if lo > hi:
        return {"year": int(year), "start": None, "end": None, "days": 0, "complete": False}
    return {"year": int(year), "start": lo.strftime("%Y-%m-%d"), "end": hi.strftime("%Y-%m-%d"),
            "days": int((hi - lo).days) + 1, "complete": bool(lo == first and hi == last)}


def edition_periods(con, year: int, compare_year: int, span=None) -> dict:
    """The observed span (``span``: :func:`observed_span`'s, when already read), each of the
    edition's years within it, and ``comparable``: both years complete, so year-on-year
    figures compare like with like."""
    start, end = span or observed_span(con)
    y, c = year_span(start, end, year), year_span(start, end, compare_year)
    return {"start": start.strftime("%Y-%m-%d"), "end": end.strftime("%Y-%m-%d"),
            "year": y, "compare_year": c, "comparable": bool(y["complete"] and c["complete"])}


def complete_months(start: pd.Timestamp, end: pd.Timestamp, months: pd.Series) -> pd.Series:
    """Whether each calendar month (a Timestamp of its first day) is observed from its first to
    its last day."""
    m = pd.to_datetime(months).dt.to_period("M")
    return ((m.dt.start_time >= start.normalize())
            & (m.dt.end_time.dt.normalize() <= end.normalize())).rename("complete")
