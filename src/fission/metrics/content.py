"""Chapter 2 (裂变营销策略的关键要素): the effect of content and user-generated content (UGC)
on conversion.

Definitions:

* **content shares vs. other shares** – the share→visit→signup→first-order funnel
  (:func:`fission.metrics.funnel.funnel`) pooled over the content-driven mechanisms
  (``CONTENT_MECHANISMS``: 内容种草 ``content`` and KOL 推广 ``kol_post``) and over all other
  (incentive-driven) mechanisms; rates are recomputed from the pooled counts, with the same
  meanings as in the funnel.
* **reviews with media → item conversion** – items with at least ``min_reviews`` reviews in
  the year are split by their media share (reviews with ``has_media`` / reviews in the year):
  ``high`` when it is at or above the pooled media share of those items' reviews, else ``low``.
  For each group: viewers = distinct (user, item) pairs with a ``view`` event in the year;
  converted = those pairs whose user also bought the item (a non-cancelled order in the year
  containing it); ``view_to_buy`` = converted / viewers.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import query, require
from .funnel import add_rates

CONTENT_MECHANISMS = ("content", "kol_post")
_COUNTS = ["shares", "visits", "shares_with_visit", "signups", "first_orders"]


def content_vs_other(funnel_by_mechanism: pd.DataFrame,
                     content=CONTENT_MECHANISMS) -> pd.DataFrame:
    """Pool a ``funnel(con, by=("mechanism",))`` result into two rows, ``group`` =
    ``content`` (the ``content`` mechanisms) and ``other``, with summed counts and recomputed
    share_reach, visits_per_share, visit_to_signup, signup_to_order, signups_per_share and
    overall_conversion."""
    f = funnel_by_mechanism
    missing = {"mechanism", *_COUNTS} - set(f.columns)
    if missing:
        raise KeyError(f"content_vs_other needs funnel columns {sorted(missing)}")
    grp = f["mechanism"].isin(list(content)).map({True: "content", False: "other"})
    df = f[_COUNTS].groupby(grp).sum().reindex(["content", "other"], fill_value=0)
    df.index.name = "group"
    return add_rates(df.reset_index())


def review_media_effect(con: duckdb.DuckDBPyConnection, year: int,
                        min_reviews: int = 10) -> pd.DataFrame:
    """Item view→purchase conversion for items with a high vs. low share of reviews with
    media in ``year`` (see the module docstring). Columns: group (``high``, ``low``), items,
    reviews, media_reviews, media_share, avg_rating, viewers, converted, view_to_buy; the
    threshold used is in ``df.attrs["threshold"]``."""
    require(con, "reviews", "events", "orders", "order_items",
            needed_for="the review-media (UGC) effect on item conversion (chapter 2)")
    df = query(con, """
        WITH r AS (
            SELECT item_id, count(*) AS reviews, count(*) FILTER (WHERE has_media) AS media_reviews,
                   avg(rating) AS avg_rating
            FROM reviews WHERE year(review_ts) = $1 GROUP BY 1
            HAVING count(*) >= $2
        ), t AS (
            SELECT sum(media_reviews)::DOUBLE / sum(reviews) AS threshold FROM r
        ), ri AS (
            SELECT r.*, CASE WHEN r.media_reviews::DOUBLE / r.reviews >= t.threshold
                             THEN 'high' ELSE 'low' END AS grp, t.threshold
            FROM r, t
        ), v AS (
            SELECT DISTINCT e.item_id, e.user_id FROM events e
            WHERE e.event_type = 'view' AND year(e.ts) = $1
              AND e.item_id IN (SELECT item_id FROM ri)
        ), b AS (
            SELECT DISTINCT oi.item_id, o.user_id FROM orders o JOIN order_items oi USING (order_id)
            WHERE o.status <> 'cancelled' AND year(o.order_ts) = $1
              AND oi.item_id IN (SELECT item_id FROM ri)
        ), c AS (
            SELECT v.item_id, count(*) AS viewers, count(b.user_id) AS converted
            FROM v LEFT JOIN b ON b.item_id = v.item_id AND b.user_id = v.user_id
            GROUP BY 1
        )
        SELECT ri.grp AS "group", count(*) AS items, sum(ri.reviews) AS reviews,
               sum(ri.media_reviews) AS media_reviews,
               sum(ri.avg_rating * ri.reviews) / sum(ri.reviews) AS avg_rating,
               coalesce(sum(c.viewers), 0) AS viewers, coalesce(sum(c.converted), 0) AS converted,
               any_value(ri.threshold) AS threshold
        FROM ri LEFT JOIN c USING (item_id)
        GROUP BY 1""", [int(year), int(min_reviews)])
    threshold = float(df["threshold"].iloc[0]) if len(df) else float("nan")
    df = df.drop(columns="threshold").set_index("group").reindex(["high", "low"]).reset_index()
    for c in ("items", "reviews", "media_reviews", "viewers", "converted"):
        df[c] = df[c].fillna(0).astype("int64")
    df["media_share"] = df["media_reviews"] / df["reviews"].where(df["reviews"] > 0)
    df["view_to_buy"] = df["converted"] / df["viewers"].where(df["viewers"] > 0)
    df.attrs["threshold"] = threshold
    df.attrs["min_reviews"] = min_reviews
    return df
