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
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ._sql import data_end as _data_end
from ._sql import query, require

SIZE_BUCKETS = (2, 3, 5, 10, 20, 50, 100, 1000)


def referral_edges(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """(user_id, referrer_user_id) for every referred user."""
    require(con, "users", needed_for="referral cascades (chapter 3)")
    return query(con, """SELECT user_id::BIGINT AS user_id, referrer_user_id::BIGINT AS referrer_user_id
                         FROM users WHERE referrer_user_id IS NOT NULL""")


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
                      window_days: float | None = None, data_end=None) -> pd.DataFrame:
    """:func:`cascade_stats` of the referral trees in ``users``; with ``with_root_info`` also
    the root's ``acquisition_channel``, ``root_signup_ts`` and signup month (``root_month``).

    Trees keep growing for months, so trees of roots who signed up at different times are not
    comparable as they stand (a December root has had no time to grow). With ``window_days``
    every tree is cut at its root's signup + ``window_days`` (only users who signed up by then
    count — their referrers did too, so the cut tree stays connected; a root nobody joined
    within the window has no tree) and ``complete`` says whether the window ends by the data
    end (``data_end``, default :func:`fission.metrics._sql.data_end`): compare complete trees
    only (:func:`fission.metrics.segments.cascade_summary` does)."""
    e = referral_edges(con)
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
        ci = np.searchsorted(nodes, e["user_id"].to_numpy())
        e = e[inside[ci]]
    st = cascade_stats(e["user_id"].to_numpy(), e["referrer_user_id"].to_numpy())
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
