"""Published pages carry aggregates only: groups of people smaller than the edition's
``privacy.min_group_size`` are suppressed, and identifier columns never leave the library."""
from __future__ import annotations

import pandas as pd

IDENTIFIERS = {"user_id", "device_hash", "referrer_user_id", "visitor_user_id",
               "signup_user_id", "leader_user_id", "agent_id", "beneficiary_user_id",
               "source_user_id"}


class PrivacyError(ValueError):
    pass


def suppress_small(df: pd.DataFrame, count_col: str, min_group_size: int) -> tuple[pd.DataFrame, int]:
    """Drop rows whose group (``count_col`` people) is smaller than ``min_group_size``.

    Returns the kept rows and how many groups were suppressed, so the chapter can say so."""
    if count_col not in df.columns:
        raise KeyError(f"suppress_small: no column {count_col!r} in {list(df.columns)}")
    small = df[count_col] < min_group_size
    return df.loc[~small].reset_index(drop=True), int(small.sum())


def assert_publishable(df: pd.DataFrame) -> pd.DataFrame:
    """Refuse a table that carries a person or device identifier."""
    leaked = IDENTIFIERS & set(map(str, df.columns))
    if leaked:
        raise PrivacyError(f"table would publish identifier column(s) {sorted(leaked)}; "
                           "aggregate before publishing")
    return df
