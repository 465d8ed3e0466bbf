"""Tested metric functions behind every number in the report.

Each analysis lives in its own module (funnel, viral, cascades, growth, retention, survival,
ltv, experiments, ...). Data functions take a DuckDB connection whose views are named as the
contract tables, push the heavy work down to SQL and return small pandas objects; pure
statistical functions take arrays or aggregates."""
from ._sql import MissingTableError  # noqa: F401
