"""Chapter 2 (裂变营销策略的关键要素): the effect of content and user-generated content (UGC)
on conversion.

Definitions:

* **content shares vs. other shares** – the share→visit→signup→first-order funnel
  (:func:`fission.metrics.funnel.funnel`) grouped by ``share_type``: the content-driven
  mechanisms (``CONTENT_MECHANISMS``: 内容种草 ``content`` and KOL 推广 ``kol_post``) against all
  other (incentive-driven) mechanisms, with the funnel's rates, their standard errors (clustered
  by sharer) and :func:`content_gaps`, the content − other difference of each rate with its 95%
  interval.
* **reviews with media → item conversion** – items with at least ``min_reviews`` reviews in
  the year are split by their media share (reviews with ``has_media`` / reviews in the year):
  ``high`` when it is at or above the pooled media share of those items' reviews, else ``low``.
  For each group: viewers = distinct (user, item) pairs with a ``view`` event in the year;
  converted = those pairs whose user also bought the item (a non-cancelled order in the year
  containing it); ``view_to_buy`` = converted / viewers. The item is the unit the groups are
  formed from, so ``view_to_buy_se`` is clustered by item (ratio estimator, as in the funnel);
  :func:`media_gap` gives high − low with its interval. The comparison is observational: items
  with many photo reviews differ in other ways too, so a gap is an association, not an effect.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from ._sql import query, require
from .funnel import CONTENT_MECHANISMS, diff_rates, funnel, ratio_se

__all__ = ["CONTENT_MECHANISMS", "content_vs_other", "content_gaps", "review_media_effect",
           "media_gap"]


def content_vs_other(con: duckdb.DuckDBPyConnection, content=CONTENT_MECHANISMS,
                     **funnel_args) -> pd.DataFrame:
    """The funnel of two rows, ``group`` = ``content`` (the ``content`` mechanisms) and
    ``other``, with counts, rates and their errors; ``funnel_args`` (window_days, start, end,
    complete_only, …) go to :func:`fission.metrics.funnel.funnel`."""
    df = funnel(con, by=("share_type",), content=content, **funnel_args)
    df = df.rename(columns={"share_type": "group"}).set_index("group")
    df = df.reindex(["content", "other"])
    counts = ["shares", "visits", "shares_with_visit", "signups", "first_orders", "clusters"]
    df[counts] = df[counts].fillna(0).astype("int64")
    out = df.reset_index()
    out.attrs.update(df.attrs)
    return out


def content_gaps(cv: pd.DataFrame, rates=("visits_per_share", "visit_to_signup",
                                          "signup_to_order", "overall_conversion"),
                 alpha: float = 0.05) -> pd.DataFrame:
    """content − other of each rate of a :func:`content_vs_other` result: columns rate,
    content, other, diff, lo, hi, p_value, significant, ratio (content / other)."""
    c, o = cv.set_index("group").loc["content"], cv.set_index("group").loc["other"]
    rows = []
    for rate in rates:
        d = diff_rates(c, o, rate, alpha)
        rows.append({"rate": rate, "content": d["estimate_a"], "other": d["estimate_b"],
                     **{k: d[k] for k in ("diff", "lo", "hi", "p_value", "significant")},
                     "ratio": d["estimate_a"] / d["estimate_b"] if d["estimate_b"] else float("nan")})
    return pd.DataFrame(rows)


def review_media_effect(con: duckdb.DuckDBPyConnection, year: int,
                        min_reviews: int = 10) -> pd.DataFrame:
    """Item view→purchase conversion for items with a high vs. low share of reviews with
    media in ``year`` (see the module docstring). Columns: group (``high``, ``low``), items,
    reviews, media_reviews, media_share, avg_rating, viewers, converted, view_to_buy,
    view_to_buy_se; the threshold used is in ``df.attrs["threshold"]``."""
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
               count(c.item_id) AS viewed_items,
               coalesce(sum(c.viewers::DOUBLE * c.viewers), 0) AS ss_viewers,
               coalesce(sum(c.converted::DOUBLE * c.converted), 0) AS ss_converted,
               coalesce(sum(c.converted::DOUBLE * c.viewers), 0) AS sp_converted_viewers,
               any_value(ri.threshold) AS threshold
        FROM ri LEFT JOIN c USING (item_id)
        GROUP BY 1""", [int(year), int(min_reviews)])
    threshold = float(df["threshold"].iloc[0]) if len(df) else float("nan")
    df = df.drop(columns="threshold").set_index("group").reindex(["high", "low"]).reset_index()
    for c in ("items", "reviews", "media_reviews", "viewers", "converted", "viewed_items"):
        df[c] = df[c].fillna(0).astype("int64")
    df["media_share"] = df["media_reviews"] / df["reviews"].where(df["reviews"] > 0)
    df["view_to_buy"] = df["converted"] / df["viewers"].where(df["viewers"] > 0)
    # clusters: the viewed items of the group (items nobody viewed add nothing to either sum)
    df["view_to_buy_se"] = ratio_se(df["viewed_items"], df["converted"], df["viewers"],
                                    df["ss_converted"], df["ss_viewers"], df["sp_converted_viewers"])
    df = df.drop(columns=["ss_viewers", "ss_converted", "sp_converted_viewers"])
    df.attrs["threshold"] = threshold
    df.attrs["min_reviews"] = min_reviews
    return df


def media_gap(ugc: pd.DataFrame, alpha: float = 0.05) -> dict:
    """high − low view→buy conversion of a :func:`review_media_effect` result: high, low,
    diff, lo, hi, p_value, significant, rel (diff / low)."""
    g = ugc.set_index("group")
    d = diff_rates(g.loc["high"], g.loc["low"], "view_to_buy", alpha)
    low = d["estimate_b"]
    return {"high": d["estimate_a"], "low": low,
            **{k: d[k] for k in ("diff", "lo", "hi", "p_value", "significant")},
            "rel": d["diff"] / low if low else float("nan")}
