"""The behaviour log for a chunk of users. Items come from each user's affinity pool (latent
factors), so held-out purchases are predictable from views and clicks; rec impressions carry the
user's algo variant and are clicked at the variant's true CTR."""
from __future__ import annotations

import numpy as np

from ..contract import ALGO_VARIANTS, EVENT_SOURCES, EVENT_TYPES
from . import params as P
from .calendar import DAY
from .catalog import pick_from_pool
from .writer import Cat

ET = {e: i for i, e in enumerate(EVENT_TYPES)}
SRC = {s: i for i, s in enumerate(EVENT_SOURCES)}
CTR = np.array([P.ALGO_CTR[a] for a in ALGO_VARIANTS])
BROWSE_TYPES = np.array([ET[t] for t in P.EVENT_TYPE_P])
BROWSE_P = np.array(list(P.EVENT_TYPE_P.values())); BROWSE_P = BROWSE_P / BROWSE_P.sum()
SRC_CODES = np.array([SRC[s] for s in P.EVENT_SOURCE_P])
SRC_P = np.array(list(P.EVENT_SOURCE_P.values()))


def chunk(rng, cal, U, lo, hi, info, catalog, pools):
    n = hi - lo
    sl = slice(lo, hi)
    signup = U["ts"][sl]
    su, sa, sb, smu = info["spells"]
    # browse sessions: some right after signup, more while active
    nb0 = rng.poisson(P.BROWSE_SESSIONS_BASE, n)
    bu0 = np.repeat(np.arange(n), nb0)
    bt0 = signup[bu0] + (rng.random(len(bu0)) * np.minimum(P.WINDOW_DAYS * DAY, cal.t_end - signup[bu0])).astype(np.int64)
    nb1 = rng.poisson(P.BROWSE_SESSIONS_PER_ORDER * smu)
    bu1 = np.repeat(su, nb1)
    bt1 = cal.sample_order_times(rng, np.repeat(sa, nb1), np.repeat(sb, nb1))
    b_u = np.concatenate([bu0, bu1]); b_t = np.concatenate([bt0, bt1])
    # order sessions end with a click and a cart of the purchased item just before the order
    o_u, o_t, o_item = info["u"], info["ts"], info["item"]
    sess_u = np.concatenate([b_u, o_u])
    sess_t = np.concatenate([b_t, o_t - rng.integers(120, 1800, len(o_t))])
    sess_t = np.maximum(sess_t, signup[sess_u])
    is_order = np.concatenate([np.zeros(len(b_u), bool), np.ones(len(o_u), bool)])
    sess_item = np.concatenate([np.full(len(b_u), -1), o_item])
    srt = np.lexsort((sess_t, sess_u))
    sess_u, sess_t, is_order, sess_item = sess_u[srt], sess_t[srt], is_order[srt], sess_item[srt]
    S = len(sess_u)
    cnt = np.bincount(sess_u, minlength=n)
    srank = np.arange(S) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sess_id = (lo + sess_u + 1) * 10_000 + np.minimum(srank, 9_999)
    # events per session
    ne = 1 + rng.poisson(P.EVENTS_PER_SESSION_EXTRA, S) + 2 * is_order
    es = np.repeat(np.arange(S), ne)
    E = len(es)
    start = np.cumsum(ne) - ne
    k = np.arange(E) - start[es]
    etype = BROWSE_TYPES[rng.choice(len(BROWSE_TYPES), E, p=BROWSE_P)]
    # order sessions: last two events are click, cart of the bought item
    last = k >= (ne[es] - 2)
    oe = is_order[es] & last
    etype[oe] = np.where(k[oe] == ne[es][oe] - 1, ET["cart"], ET["click"])
    eu = sess_u[es]
    item = pick_from_pool(rng, pools, eu)
    item[oe] = sess_item[es][oe]
    algo = U["algo"][sl][eu]
    rec = etype == ET["rec_impression"]
    popr = rec & (algo == 0)
    item[popr] = rng.choice(catalog.n, int(popr.sum()), p=catalog.popularity)
    src = SRC_CODES[rng.choice(len(SRC_CODES), E, p=SRC_P)]
    src[etype == ET["search"]] = SRC["search"]
    src[rec] = SRC["rec"]
    item = np.where(etype == ET["search"], -1, item)
    gap = rng.exponential(45.0, E).astype(np.int64) + 1
    cs = np.cumsum(gap)
    ts = sess_t[es] + cs - (cs[start] - gap[start])[es]
    # rec clicks
    clk = np.flatnonzero(rec & (rng.random(E) < CTR[algo]))
    def ins(a, b):
        return np.concatenate([a, b])
    pos = ins(np.arange(E) * 2, clk * 2 + 1)
    order = np.argsort(pos, kind="stable")
    eu = ins(eu, eu[clk])[order]
    ts = ins(ts, ts[clk] + rng.integers(2, 30, len(clk)))[order]
    sid = ins(sess_id[es], sess_id[es][clk])[order]
    etype = ins(etype, np.full(len(clk), ET["rec_click"]))[order]
    item = ins(item, item[clk])[order]
    src = ins(src, src[clk])[order]
    isrec = (etype == ET["rec_impression"]) | (etype == ET["rec_click"])
    algo = ins(algo, algo[clk])[order]
    ok = (ts < cal.t_end) & (ts >= cal.t0)      # legacy users' activity before the window is not written
    return {"user_id": lo + eu[ok] + 1, "ts": ts[ok], "session_id": sid[ok],
            "event_type": Cat(etype[ok], EVENT_TYPES), "item_id": (item[ok] + 1, item[ok] < 0),
            "source": Cat(src[ok], EVENT_SOURCES),
            "algo_variant": Cat(algo[ok], ALGO_VARIANTS, ~isrec[ok])}
