"""Referral cascades: the trees formed by ``users.referrer_user_id`` (chapter 3).

Per tree (identified by its root, a user with no referrer who referred someone):

* ``size`` – number of users in the tree (root included, so ≥ 2);
* ``depth`` – the longest referral chain (edges from the root to the deepest user);
* ``wiener_index`` – sum of shortest-path distances over all unordered pairs of users,
  computed in O(n) as Σ over edges of s·(n − s), s the size of the subtree below the edge;
* ``structural_virality`` – mean pairwise distance 2·W / (n(n − 1)) (Goel, Anderson, Hofman &
  Watts 2016, "The structural virality of online diffusion"): ≈ 1–2 for broadcasts (stars),
  large for long person-to-person chains.

Only the edges (user, referrer) come out of the database; the tree work is vectorised numpy
(pointer jumping for roots and depths, level-by-level accumulation for subtree sizes), so
millions of edges take seconds. Referral cycles (impossible in clean data, possible in a
company's export) are dropped and counted in ``attrs['cyclic_users']``.

On large data (``max_users``, the edition's ``engine.driver_sample``) the database finds every
user's root itself (a recursive walk down from the roots) and only the edges of a sample of
*whole* trees reach the driver: trees in the order of the md5 of their root (the engine-neutral
hash of metrics.ltv and survival), as many as fit in ``max_users`` users. Each sampled tree is
complete, so its size, depth and virality are exact; what is estimated is only the mix of
trees.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import query, require

SIZE_BUCKETS = (2, 3, 5, 10, 20, 50, 100, 1000)


def referral_edges(con: duckdb.DuckDBPyConnection, max_users: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """(user_id, referrer_user_id) for every referred user; with ``max_users`` only those of
    whole trees sampled in the database (module docstring): trees in the order of
    ``md5(root + seed)`` while their users (root included) add up to at most ``max_users``.
    ``attrs['sample']`` then says how many trees and users there were and how many were taken
    (None without ``max_users``)."""
    require(con, "users", needed_for="referral cascades (chapter 3)")
    if max_users is None:
        e = query(con, """SELECT user_id::BIGINT AS user_id, referrer_user_id::BIGINT AS referrer_user_id
                          FROM users WHERE referrer_user_id IS NOT NULL""")
        e.attrs["sample"] = None
        return e
    if max_users < 2:
        raise ValueError("max_users must be at least 2 (a tree has a root and a referred user)")
    e = query(con, _SAMPLED_EDGES_SQL.format(seed=int(seed), max_users=int(max_users)))
    if len(e):
        tot = e.iloc[0][["trees_total", "users_total", "referred_total"]].astype("int64")
    else:                   # no tree fits (or none exists): the totals from the walk alone
        tot = query(con, _TREE_TOTALS_SQL).iloc[0].fillna(0).astype("int64")
    # the database returns rows in any order: sort for a reproducible frame
    edges = e[["user_id", "referrer_user_id"]].sort_values(["user_id", "referrer_user_id"],
                                                           ignore_index=True)
    nodes = np.union1d(edges.user_id.to_numpy(), edges.referrer_user_id.to_numpy())
    referred = edges.user_id[edges.user_id != edges.referrer_user_id].to_numpy()
    edges.attrs["sample"] = {
        "max_users": int(max_users), "seed": int(seed),
        "trees": int(np.setdiff1d(nodes, referred).size), "users": int(nodes.size),
        "trees_total": int(tot["trees_total"]), "users_total": int(tot["users_total"]),
        "sampled": bool(nodes.size < int(tot["users_total"]))}
    # users of a referral cycle reach no root: not walked, so not in the sample (as in cascade_stats)
    edges.attrs["cyclic_users"] = int(tot["referred_total"]) - int(tot["users_total"] - tot["trees_total"])
    return edges


# The walk (DuckDB's dialect; fission.engine translates it for Spark, whose recursive CTEs
# need 4.1+): ``e`` the distinct edges, ``p`` the parent links (a self-referral makes the user
# a root, as tree_roots does); roots are the nodes with no parent link, and every user reached
# from a root gets that root. Users of a referral cycle are never reached.
_WALK_SQL = """
WITH RECURSIVE e AS (
    SELECT DISTINCT user_id::BIGINT AS user_id, referrer_user_id::BIGINT AS referrer_user_id
    FROM users WHERE referrer_user_id IS NOT NULL
), p AS (
    SELECT user_id, referrer_user_id FROM e WHERE user_id <> referrer_user_id
), walk(user_id, root_user_id) AS (
    SELECT node, node FROM (SELECT referrer_user_id AS node FROM e UNION SELECT user_id FROM e) n
    WHERE node NOT IN (SELECT user_id FROM p)
    UNION ALL
    SELECT p.user_id, w.root_user_id FROM p JOIN walk w ON p.referrer_user_id = w.user_id
), t AS (
    SELECT root_user_id, count(*) AS size FROM walk GROUP BY root_user_id
), tot AS (
    SELECT (SELECT count(*) FROM t) AS trees_total, (SELECT sum(size) FROM t) AS users_total,
           (SELECT count(DISTINCT user_id) FROM p) AS referred_total
)"""

_TREE_TOTALS_SQL = _WALK_SQL + " SELECT * FROM tot"

# whole trees in md5 order while the running count of their users stays within the cap
_SAMPLED_EDGES_SQL = _WALK_SQL + """, s AS (
    SELECT root_user_id FROM (
        SELECT root_user_id, sum(size) OVER (ORDER BY md5(CAST(root_user_id + {seed} AS VARCHAR)),
                                                      root_user_id
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
        FROM t) c
    WHERE cum <= {max_users}
)
SELECT e.user_id, e.referrer_user_id, tot.trees_total, tot.users_total, tot.referred_total
FROM e JOIN walk w ON w.user_id = e.user_id
JOIN s ON s.root_user_id = w.root_user_id
CROSS JOIN tot"""


def tree_roots(user_id, referrer_user_id):
    """Root and depth of every user in the child → parent edges, by pointer jumping.
    Returns (nodes, parent index or −1, root index, depth, valid); ``valid`` is False for users
    caught in a referral cycle (no root)."""
    child = np.asarray(user_id, dtype=np.int64)
    parent = np.asarray(referrer_user_id, dtype=np.int64)
    nodes = np.unique(np.concatenate([child, parent]))
    n = nodes.size
    ci = np.searchsorted(nodes, child)
    pi = np.searchsorted(nodes, parent)
    par = np.full(n, -1, dtype=np.int64)
    keep = ci != pi                       # a self-referral makes the user a root
    par[ci[keep]] = pi[keep]
    # pointer jumping: jump[i] → an ancestor, dist[i] = edges to it; converge to the root
    ar = np.arange(n, dtype=np.int64)
    jump = np.where(par < 0, ar, par)
    dist = (par >= 0).astype(np.int64)
    for _ in range(int(np.ceil(np.log2(n + 1))) + 2):
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        dist = dist + dist[jump]
        jump = nxt
    valid = par[jump] < 0                 # reached a real root; otherwise caught in a cycle
    return nodes, par, jump, dist, valid


def cascade_stats(user_id, referrer_user_id) -> pd.DataFrame:
    """Per-tree size, depth, Wiener index and structural virality from child → parent edges
    (arrays of equal length). One row per root, sorted by size descending."""
    child = np.asarray(user_id, dtype=np.int64)
    cols = ["root_user_id", "size", "depth", "wiener_index", "structural_virality"]
    if child.size == 0:
        out = pd.DataFrame({c: pd.Series(dtype="float64" if c == "structural_virality"
                                         else "int64") for c in cols})
        out.attrs["cyclic_users"] = 0
        return out
    nodes, par, root, depth, valid = tree_roots(child, referrer_user_id)
    cyclic = int((~valid).sum())
    # subtree sizes, deepest level first
    size = valid.astype(np.int64)
    idx = np.nonzero(valid & (par >= 0))[0]
    idx = idx[np.argsort(-depth[idx], kind="stable")]
    d_sorted = depth[idx]
    bounds = np.flatnonzero(np.diff(d_sorted)) + 1
    for level in np.split(idx, bounds):
        if level.size:
            np.add.at(size, par[level], size[level])
    # Wiener index per tree: Σ_edges s (N - s)
    tree_n = size[root]
    contrib = size[idx] * (tree_n[idx] - size[idx])
    roots = np.nonzero(valid & (par < 0))[0]
    w = pd.Series(contrib, index=root[idx]).groupby(level=0).sum()
    dmax = pd.Series(depth[idx], index=root[idx]).groupby(level=0).max()
    out = pd.DataFrame({"root_user_id": nodes[roots], "size": size[roots]})
    out["depth"] = dmax.reindex(roots).fillna(0).astype("int64").to_numpy()
    out["wiener_index"] = w.reindex(roots).fillna(0).astype("int64").to_numpy()
    nn = out["size"].astype("float64")
    out["structural_virality"] = np.where(nn > 1, 2.0 * out["wiener_index"] / (nn * (nn - 1)),
                                          np.nan)
    out = out.sort_values(["size", "root_user_id"], ascending=[False, True], ignore_index=True)
    out.attrs["cyclic_users"] = cyclic
    return out


def referral_cascades(con: duckdb.DuckDBPyConnection, with_root_info: bool = True,
                      window_days: float | None = None, data_end=None,
                      edges: pd.DataFrame | None = None, max_users: int | None = None) -> pd.DataFrame:
    """:func:`cascade_stats` of the referral trees in ``users``; with ``with_root_info`` also
    the root's ``acquisition_channel``, ``root_signup_ts`` and signup month (``root_month``).

    Trees keep growing for months, so trees of roots who signed up at different times are not
    comparable as they stand (a December root has had no time to grow). With ``window_days``
    every tree is cut at its root's signup + ``window_days`` (only users who signed up by then
    count — their referrers did too, so the cut tree stays connected; a root nobody joined
    within the window has no tree) and ``complete`` says whether the window ends by the data
    end (``data_end``, default :func:`fission.metrics._sql.data_end`): compare complete trees
    only (:func:`fission.metrics.segments.cascade_summary` does).

    ``edges``: those of :func:`referral_edges` when already fetched (a chapter asks twice);
    otherwise fetched here, a sample of whole trees with ``max_users``. ``attrs['sample']``
    describes the sample (None: all trees)."""
    e = referral_edges(con, max_users) if edges is None else edges
    sample = e.attrs.get("sample")
    if window_days is not None:
        if window_days <= 0:
            raise ValueError("window_days must be positive")
        nodes, _, root, _, valid = tree_roots(e["user_id"].to_numpy(), e["referrer_user_id"].to_numpy())
        con.register("_cascade_nodes", pd.DataFrame({"user_id": nodes}))
        try:
            ts = query(con, """SELECT n.user_id, u.signup_ts FROM _cascade_nodes n
                               LEFT JOIN users u ON u.user_id = n.user_id""")
        finally:
            con.unregister("_cascade_nodes")
        sig = ts.set_index("user_id")["signup_ts"].reindex(nodes).to_numpy("datetime64[ns]")
        lag = sig - sig[root]
        inside = valid & (lag <= np.timedelta64(int(window_days * 86400), "s"))
        cyclic = int((~valid).sum())     # the cut below drops them: count them first
        ci = np.searchsorted(nodes, e["user_id"].to_numpy())
        e = e[inside[ci]]
    st = cascade_stats(e["user_id"].to_numpy(), e["referrer_user_id"].to_numpy())
    st.attrs["sample"] = sample
    if sample is not None:      # cycles never left the database: its count stands
        st.attrs["cyclic_users"] = e.attrs["cyclic_users"]
    elif window_days is not None:
        st.attrs["cyclic_users"] = cyclic
    if (with_root_info or window_days is not None) and len(st):
        con.register("_cascade_roots", st[["root_user_id"]])
        try:
            info = query(con, """SELECT r.root_user_id, u.acquisition_channel,
                                        u.signup_ts AS root_signup_ts,
                                        date_trunc('month', u.signup_ts)::DATE AS root_month
                                 FROM _cascade_roots r JOIN users u ON u.user_id = r.root_user_id""")
        finally:
            con.unregister("_cascade_roots")
        attrs = st.attrs
        st = st.merge(info, on="root_user_id", how="left")
        st.attrs = attrs
    if window_days is not None:
        # data_end() leaves a result open that would block con.register: call it last
        dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
        st["complete"] = (pd.to_datetime(st["root_signup_ts"])
                          + pd.Timedelta(days=window_days)) <= dend if len(st) else pd.Series(dtype=bool)
        st.attrs.update(window_days=window_days, data_end=str(dend))
    return st


def _bucket_labels(buckets):
    labels = []
    for lo, hi in zip(buckets, list(buckets[1:]) + [None]):
        if hi is None:
            labels.append(f"{lo}+")
        elif hi - lo == 1:
            labels.append(str(lo))
        else:
            labels.append(f"{lo}-{hi - 1}")
    return labels


def cascade_distribution(stats: pd.DataFrame, by: str = "size",
                         buckets=SIZE_BUCKETS) -> pd.DataFrame:
    """Distribution of trees: ``by='size'`` counts trees per size bucket (lower bounds
    ``buckets``), ``by='depth'`` per depth; each row has trees, users in them, share of trees
    and mean / median structural virality."""
    if by == "size":
        labels = _bucket_labels(buckets)
        key = pd.cut(stats["size"], bins=list(buckets) + [np.inf], right=False, labels=labels)
    elif by == "depth":
        key = stats["depth"]
    else:
        raise ValueError("by must be 'size' or 'depth'")
    g = stats.groupby(key, observed=False)
    out = pd.DataFrame({
        "trees": g.size(),
        "users": g["size"].sum(),
        "sv_mean": g["structural_virality"].mean(),
        "sv_median": g["structural_virality"].median(),
    })
    out.index.name = "size_bucket" if by == "size" else "depth"
    out = out.reset_index()
    out["trees"] = out["trees"].astype("int64")
    out["users"] = out["users"].astype("int64")
    total = out["trees"].sum()
    out["share_of_trees"] = out["trees"] / total if total else np.nan
    return out
