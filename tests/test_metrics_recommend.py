"""Chapter 5's analyses (fission.metrics.recommend): ranking metrics computed by hand on tiny
lists, the time split's rules, the recommenders on hand-made histories, the online A/B on a
hand-made log, and recovery of what the simulator planted (each variant's CTR; the latent
user–item affinity that personalised recommenders should find)."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fission.metrics import recommend as rm


# ------------------------------------------------------------------ metrics by hand
def test_precision_recall_ndcg_map_novelty_by_hand():
    recs = np.array([[0, 1, 2], [3, 4, -1]])
    relevant = [np.array([1, 5]), np.array([3])]
    pop = np.array([0.5, 0.25, 0.125, 0.5, 0.5, 0.1])
    m = rm.user_metrics(recs, relevant, pop, k=3)
    # user 0: one hit at rank 2 of 3, 2 relevant items
    assert m.precision[0] == pytest.approx(1 / 3)
    assert m.recall[0] == pytest.approx(1 / 2)
    assert m.ndcg[0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["map"][0] == pytest.approx((1 / 2) / 2)          # P@2 · 1 / min(2, 3)
    assert m.novelty[0] == pytest.approx((1 + 2 + 3) / 3)      # −log2 of 0.5, 0.25, 0.125
    # user 1: a hit at rank 1, one relevant item, an empty third slot
    assert m.precision[1] == pytest.approx(1 / 3)
    assert m.recall[1] == 1 and m.ndcg[1] == 1 and m["map"][1] == 1
    assert m.novelty[1] == pytest.approx(1.0)                   # empty slot not counted


def test_gini_and_coverage():
    assert rm.gini([5, 5, 5, 5]) == pytest.approx(0)
    assert rm.gini([0, 0, 0, 4]) == pytest.approx(0.75)       # (−3·0 −1·0 + 1·0 + 3·4)/(4·4)
    lm = rm.list_metrics(np.array([[0, 1], [0, -1]]), n_items=4)
    assert lm["coverage"] == pytest.approx(0.5)
    assert lm["gini"] == pytest.approx(rm.gini([2, 1, 0, 0]))


def test_top_k_excludes_bought_items_and_pads():
    import scipy.sparse as sp
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    bought = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]]))
    top = rm.top_k(scores, bought, k=3)
    assert top[0].tolist() == [1, 2, -1]
    assert top[1].tolist() == [2, 1, 0]


# ------------------------------------------------------------------ the split and recommenders
def _log(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(ts=lambda d: pd.to_datetime(d.ts))


def test_time_split_keeps_users_with_history_and_new_targets():
    inter = _log([(1, 10, "2025-01-05"), (1, 11, "2025-05-01"), (1, 12, "2025-06-10"),   # 12: new target
                  (2, 10, "2025-05-20"), (2, 10, "2025-06-05"),                          # only a repeat
                  (3, 11, "2025-06-05"),                                                 # no history
                  (5, 12, "2025-02-01"),                                   # makes 12 a known item
                  (4, 11, "2025-05-25"), (4, 10, "2025-06-20"), (4, 12, "2025-08-01")])  # 12 after horizon
    s = rm.time_split(inter, "2025-05-31", horizon_days=28, new_days=30)
    users = s.train_users[s.eval_rows].tolist()
    assert users == [1, 4]
    rel = {u: s.items[r].tolist() for u, r in zip(users, s.relevant)}
    assert rel == {1: [12], 4: [10]}
    assert dict(zip(users, s.new.tolist())) == {1: False, 4: True}   # 4's first activity 25 May
    assert s.popularity[list(s.items).index(10)] == pytest.approx(2 / 4)   # users 1, 2 of 1, 2, 4, 5


def test_social_recommends_what_friends_bought():
    inter = _log([(1, 10, "2025-05-01"), (2, 11, "2025-05-02"), (3, 12, "2025-05-03"),
                  (3, 12, "2025-05-04"), (4, 12, "2025-05-04"), (5, 13, "2025-05-05"),
                  (1, 13, "2025-06-03"), (2, 13, "2025-06-03")])
    s = rm.time_split(inter, "2025-05-31")
    friends = pd.DataFrame({"user_id": [2], "friend_id": [1]})       # 1 referred 2
    recs = rm.recommend_social(s, friends, k=2)
    by_user = {int(s.train_users[r]): [int(s.items[i]) for i in rec] for r, rec in zip(s.eval_rows, recs)}
    assert by_user[1][0] == 11            # the referee's purchase first …
    assert by_user[2][0] == 10            # … and the referrer's, both ways
    assert by_user[1][1] == 12            # then the most popular item the user has not bought


def test_bad_input_names_the_column_and_rule():
    with pytest.raises(ValueError, match="ts"):
        rm.check_interactions(pd.DataFrame({"user_id": [1], "item_id": [2]}))
    with pytest.raises(ValueError, match=r"interactions.item_id: rule not_null broken in 1 rows"):
        rm.check_interactions(pd.DataFrame({"user_id": [1, 2], "item_id": [2, None],
                                            "ts": ["2025-01-01", "2025-01-02"]}))
    with pytest.raises(ValueError, match="friend_id"):
        s = rm.time_split(_log([(1, 1, "2025-01-01"), (1, 2, "2025-01-10")]), "2025-01-05")
        rm.recommend_social(s, pd.DataFrame({"user_id": [1]}))


def test_pair_order_and_agreement():
    off = rm.pair_order({"a": 0.3, "b": 0.2, "c": 0.1}, {"a": 0.01, "b": 0.01, "c": 0.01}, ["a", "b", "c"])
    on = rm.pair_order({"a": 0.3, "b": 0.4, "c": 0.1}, {"a": 0.01, "b": 0.01, "c": 0.01}, ["a", "b", "c"])
    assert all(p["significant"] for p in off)
    g = rm.rank_agreement(off, on)
    assert g["pairs_compared"] == 3
    assert g["disagree"] == [{"a": "a", "b": "b", "offline_higher": "a", "online_higher": "b"}]
    noisy = rm.pair_order({"a": 0.3, "b": 0.29}, {"a": 0.05, "b": 0.05}, ["a", "b"])
    assert not noisy[0]["significant"]


# ------------------------------------------------------------------ online A/B by hand
def _events(rows):
    df = pd.DataFrame(rows, columns=["user_id", "ts", "event_type", "item_id", "algo_variant"])
    df["ts"] = pd.to_datetime(df.ts)
    df["session_id"] = 1
    df["source"] = "rec"
    return df


def test_online_ab_ctr_conversion_and_srm_by_hand():
    from metrics_fixtures import make_con, orders_df
    ev = _events([
        (1, "2025-03-01 10:00", "rec_impression", 7, "popularity"),
        (1, "2025-03-01 10:01", "rec_impression", 8, "popularity"),
        (1, "2025-03-01 10:02", "rec_click", 8, "popularity"),
        (2, "2025-03-01 11:00", "rec_impression", 7, "popularity"),
        (3, "2025-03-01 10:00", "rec_impression", 7, "als"),
        (3, "2025-03-01 10:01", "rec_click", 7, "als"),
        (4, "2025-03-02 10:00", "rec_impression", 9, "als"),
        (4, "2025-03-02 10:01", "rec_click", 9, "als"),
        (4, "2025-06-01 10:00", "view", 9, None),                  # keeps the data end late
    ])
    orders = orders_df([(1, 3, "2025-03-03", 50, "paid"), (2, 4, "2025-03-20", 50, "paid"),
                        (3, 1, "2025-03-02", 50, "cancelled")])
    oi = pd.DataFrame({"order_id": [1, 2, 3], "item_id": [7, 9, 8], "qty": 1, "unit_price": 50.0})
    con = make_con(events=ev, orders=orders, order_items=oi)
    r = rm.online_ab(con, "2025-01-01", "2026-01-01", control="popularity")
    t = r["rows"].set_index("variant")
    assert t.loc["popularity", "ctr"] == pytest.approx(1 / 3)
    assert t.loc["als", "ctr"] == pytest.approx(1.0)
    # user 3 ordered the clicked item within 7 days; user 4 after 18 days; user 1's order was cancelled
    assert t.loc["als", "conversion"] == pytest.approx(1 / 2)
    assert t.loc["popularity", "conversion"] == pytest.approx(0)
    assert t.loc["als", "orders_per_user"] == pytest.approx(1.0)
    assert t.loc["popularity", "orders_per_user"] == pytest.approx(0.0)
    assert t.loc["als", "ctr_lift"] == pytest.approx(2.0)
    assert not r["srm"] and r["srm_p"] == pytest.approx(1.0)       # 2 users each
    assert r["ctr"] == pytest.approx(3 / 5)


def test_online_ab_rejects_users_in_two_variants():
    from metrics_fixtures import make_con, orders_df
    ev = _events([(1, "2025-03-01", "rec_impression", 7, "popularity"),
                  (1, "2025-03-02", "rec_impression", 7, "als")])
    con = make_con(events=ev, orders=orders_df([(1, 1, "2025-03-03", 5, "paid")]),
                   order_items=pd.DataFrame({"order_id": [1], "item_id": [7], "qty": 1, "unit_price": 5.0}))
    with pytest.raises(ValueError, match="one variant per user broken for 1 users"):
        rm.online_ab(con, "2025-01-01", "2026-01-01")


# ------------------------------------------------------------------ recovery on the simulator
simulate_mod = pytest.importorskip("fission.data.simulate")


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    from fission.data.load import connect
    out = small_platform[0]
    con = connect(out)
    yield {"con": con, "truth": json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))}
    con.close()


def test_online_ctrs_recover_the_planted_ones(sim):
    truth = sim["truth"]["recommendation"]["algo_ctr"]
    r = rm.online_ab(sim["con"], "2025-01-01", "2026-01-01")["rows"].set_index("variant")
    for v, ctr in truth.items():
        # ~20k impressions per variant: the sampling error of a CTR near 5% is about 3% of it,
        # so 10% is three standard errors
        assert r.loc[v, "ctr"] == pytest.approx(ctr, rel=0.10), v
    assert list(r.sort_values("ctr").index) == sorted(truth, key=truth.get)


def test_personalised_recommenders_find_the_latent_affinity(sim):
    from fission.chapters.recommendation import friends, interactions
    inter, buy = interactions(sim["con"], "2024-12-03", "2025-12-03", "2025-12-31")
    ev = rm.offline_evaluation(inter, "2025-12-03", 28, targets=buy, friends=friends(sim["con"]),
                               n_boot=50)
    rows = ev["all"]["rows"].set_index("algo")
    p = ev["all"]["pairs"]
    ndcg = p[p.metric == "ndcg"]
    # purchases come from each user's affinity pool, which their browsing reveals: ALS and
    # item-kNN must beat the non-personalised list significantly
    for a in ("als", "itemknn"):
        row = ndcg[(ndcg.a == "popularity") & (ndcg.b == a)].iloc[0]
        assert row.significant and row["diff"] < 0, a
        assert rows.loc[a, "ndcg_lo"] <= rows.loc[a, "ndcg"] <= rows.loc[a, "ndcg_hi"]
    assert rows.loc["popularity", "coverage"] < rows.loc["itemknn", "coverage"]
    assert ev["users"] == ev["all"]["users"] == ev["new"]["users"] + ev["returning"]["users"]


def test_no_variant_changes_orders_per_user(sim):
    # the simulator gives recommendations no effect on orders (rec clicks create no orders):
    # orders per user differ between the random groups by noise only (~3% standard error here)
    r = rm.online_ab(sim["con"], "2025-01-01", "2026-01-01")["rows"]
    assert r.orders_per_user_lift.dropna().abs().max() < 0.10
