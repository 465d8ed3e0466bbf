import networkx as nx
import numpy as np
import pandas as pd
import pytest

from fission.metrics.cascades import cascade_distribution, cascade_stats, referral_cascades
from metrics_fixtures import make_con, users_df

# (child, parent) edges: tree A 1→2, 1→3, 2→4, 4→5; star B 10→11,12,13; pair C 20→21;
# a cycle 30↔31 (bad data)
EDGES = [(2, 1), (3, 1), (4, 2), (5, 4), (11, 10), (12, 10), (13, 10), (21, 20), (30, 31), (31, 30)]


def test_cascade_stats_hand_computed():
    c, p = np.array(EDGES).T
    st = cascade_stats(c, p).set_index("root_user_id")
    assert st.attrs["cyclic_users"] == 2
    assert list(st.index) == [1, 10, 20]
    # tree A subtree sizes below edges: 2:3, 3:1, 4:2, 5:1 → W = 3·2 + 1·4 + 2·3 + 1·4 = 20
    # (= sum of the 10 pairwise distances 1+1+2+3+2+1+2+3+4+1), SV = 2·20/(5·4) = 2
    assert st.loc[1].tolist() == [5, 3, 20, 2.0]
    # star of 4: W = 3·(1·3) = 9, SV = 18/12 = 1.5
    assert st.loc[10].tolist() == [4, 1, 9, 1.5]
    assert st.loc[20].tolist() == [2, 1, 1, 1.0]


def test_cascade_stats_matches_networkx_on_random_trees():
    rng = np.random.default_rng(7)
    child, parent = [], []
    offset = 0
    sizes = [2, 7, 30, 120]
    for n in sizes:
        for v in range(1, n):
            child.append(offset + v)
            parent.append(offset + int(rng.integers(0, v)))
        offset += 1000
    st = cascade_stats(child, parent).set_index("root_user_id")
    offset = 0
    for n in sizes:
        g = nx.Graph(list(zip(child, parent)))
        comp = g.subgraph(range(offset, offset + n))
        assert st.loc[offset, "size"] == n
        assert st.loc[offset, "wiener_index"] == pytest.approx(nx.wiener_index(comp))
        assert st.loc[offset, "structural_virality"] == pytest.approx(
            nx.average_shortest_path_length(comp))
        assert st.loc[offset, "depth"] == max(nx.single_source_shortest_path_length(comp, offset).values())
        offset += 1000


def test_cascade_stats_scales():
    # a random forest of 1M users in well under a few seconds
    rng = np.random.default_rng(1)
    n = 1_000_000
    child = np.arange(1, n)
    parent = (rng.random(n - 1) * child).astype(np.int64)
    parent[rng.random(n - 1) < 0.3] = -1
    keep = parent >= 0
    st = cascade_stats(child[keep], parent[keep])
    assert st["size"].sum() == len(np.unique(np.concatenate([child[keep], parent[keep]])))


def test_referral_cascades_and_distribution():
    rows = [(u, "2025-01-01", None, "organic") for u in (1, 10, 20, 30, 31)]
    rows += [(c, "2025-02-01", p, "referral") for c, p in EDGES if c not in (30, 31)]
    st = referral_cascades(make_con(users=users_df(rows)))
    assert st["root_user_id"].tolist() == [1, 10, 20]
    assert st["acquisition_channel"].tolist() == ["organic"] * 3
    d = cascade_distribution(st, "size").set_index("size_bucket")
    assert d.loc["2", "trees"] == 1 and d.loc["3-4", "trees"] == 1 and d.loc["5-9", "trees"] == 1
    assert d["users"].sum() == 11 and d.loc["5-9", "sv_mean"] == 2.0
    dd = cascade_distribution(st, "depth").set_index("depth")
    assert dd.loc[1, "trees"] == 2 and dd.loc[3, "trees"] == 1
    assert dd["share_of_trees"].sum() == pytest.approx(1)


def test_referral_cascades_cut_at_an_observation_window():
    """Trees are cut at root signup + window; roots whose window outlasts the data are marked
    incomplete, so a December root is not compared with a grown January one."""
    from fission.metrics.segments import cascade_summary
    rows = [(1, "2025-01-01", None, "organic"), (2, "2025-01-05", 1, "referral"),
            (3, "2025-01-20", 2, "referral"),     # 19 days after the root: inside 30 days
            (4, "2025-03-15", 1, "referral"),     # 73 days after the root: cut
            (10, "2025-11-20", None, "ads"), (11, "2025-11-25", 10, "referral"),
            (20, "2025-12-15", None, "ads"), (21, "2025-12-20", 20, "referral"),
            (30, "2025-01-10", None, "organic"), (31, "2025-03-01", 30, "referral")]
    con = make_con(users=users_df(rows))
    full = referral_cascades(con).set_index("root_user_id")
    assert full.loc[1, "size"] == 4 and 30 in full.index and "complete" not in full.columns
    st = referral_cascades(con, window_days=30, data_end="2025-12-31").set_index("root_user_id")
    # root 30's only referral came after 50 days: no tree within the window
    assert sorted(st.index) == [1, 10, 20]
    assert st.loc[1, ["size", "depth"]].tolist() == [3, 2]
    assert st["complete"].to_dict() == {1: True, 10: True, 20: False}   # 12-15 + 30 d > 12-31
    assert st.loc[1, "root_signup_ts"] == pd.Timestamp("2025-01-01")
    s = cascade_summary(st.reset_index(), years=[2025]).iloc[0]
    assert (s.trees, s.users) == (2, 5) and s.mean_size == 2.5
    with pytest.raises(ValueError):
        referral_cascades(con, window_days=0)


# ------------------------------------------------------------------ whole trees sampled in SQL
def _forest_con():
    """EDGES as a users table, plus a self-referral (40) and a referrer outside the table (99)."""
    rows = [(u, "2025-01-01", None, "organic") for u in (1, 10, 20, 30, 31)]
    rows += [(c, "2025-02-01", p, "referral") for c, p in EDGES if c not in (30, 31)]
    rows += [(30, "2025-01-01", 31, "referral"), (31, "2025-01-01", 30, "referral"),
             (40, "2025-01-01", 40, "organic"), (50, "2025-02-01", 99, "referral")]
    return make_con(users=users_df([r for r in rows if r[0] not in (30, 31) or r[2] is not None]))


def test_sampled_edges_are_whole_trees_in_md5_order_within_the_cap():
    import hashlib

    from fission.metrics.cascades import referral_edges
    con = _forest_con()
    full = referral_edges(con)
    assert full.attrs["sample"] is None and len(full) == 12
    # trees (root: users): 1: 5, 10: 4, 20: 2, 40: 1 (a self-referral), 99: 2; 30 ↔ 31 a cycle
    sizes = {1: 5, 10: 4, 20: 2, 40: 1, 99: 2}
    order = sorted(sizes, key=lambda r: hashlib.md5(str(r).encode()).hexdigest())
    for cap in (2, 5, 8, 14):
        e = referral_edges(con, max_users=cap)
        taken, total = [], 0
        for r in order:                        # the md5 order, stopping at the first overflow
            if total + sizes[r] > cap:
                break
            taken.append(r)
            total += sizes[r]
        st = cascade_stats(e.user_id, e.referrer_user_id)
        assert sorted(st.root_user_id) == sorted(taken), cap
        s = e.attrs["sample"]
        assert (s["trees"], s["users"], s["trees_total"], s["users_total"]) == (len(taken), total, 5, 14)
        assert s["sampled"] == (total < 14) and e.attrs["cyclic_users"] == 2
        # each sampled tree is whole: its statistics are those of the full data
        ref = cascade_stats(full.user_id, full.referrer_user_id).set_index("root_user_id")
        assert st.set_index("root_user_id").equals(ref.loc[sorted(taken, key=lambda r: (-sizes[r], r))])
    with pytest.raises(ValueError, match="at least 2"):
        referral_edges(con, max_users=1)


def test_a_cap_above_every_user_changes_no_cascade():
    con = _forest_con()
    a = referral_cascades(con, window_days=40, data_end="2025-12-31")
    b = referral_cascades(con, window_days=40, data_end="2025-12-31", max_users=10 ** 6)
    assert b.attrs["sample"]["sampled"] is False and a.attrs["sample"] is None
    assert a.equals(b) and a.attrs["cyclic_users"] == b.attrs["cyclic_users"] == 2


def test_sampled_trees_on_the_simulator_are_exact_and_bounded(small_platform):
    from fission.data.load import connect
    from fission.metrics.cascades import referral_edges
    con = connect(small_platform[0])
    full = referral_cascades(con, with_root_info=False).set_index("root_user_id")
    e = referral_edges(con, max_users=2000)
    st = referral_cascades(con, with_root_info=False, edges=e).set_index("root_user_id")
    s = e.attrs["sample"]
    assert s["sampled"] and 1900 < s["users"] <= 2000 and s["users_total"] == full["size"].sum()
    assert s["trees_total"] == len(full) and st["size"].sum() == s["users"]
    pd.testing.assert_frame_equal(st, full.loc[st.index])
    con.close()
