"""Chapter 5's facts on a simulated platform: numbers against the simulator's truth, the
decisions behind the words, and the words in both languages."""
import json
import time
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")

import words_check  # noqa: E402
from fission.chapters import recommendation  # noqa: E402
from fission.data.load import connect  # noqa: E402
from fission.notebook import jsonable  # noqa: E402

TABLES = {"tbl-ch5-offline": "offline.rows", "tbl-ch5-segments": "offline.segments",
          "tbl-ch5-online": "online.rows"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory, small_platform):
    out = small_platform[0]
    con = connect(out)
    truth = json.loads((Path(out) / "truth.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    f = jsonable(recommendation.facts(con, 2025, 2024, min_group_size=50))
    yield {"con": con, "truth": truth, "facts": f, "seconds": time.perf_counter() - t0}
    con.close()


def test_online_recovers_the_planted_ctrs_and_their_order(sim):
    truth = sim["truth"]["recommendation"]["algo_ctr"]
    on = sim["facts"]["online"]
    rows = {r["algo"]: r for r in on["rows"]}
    for a, ctr in truth.items():       # ~20k impressions per variant: 10% ≈ 3 standard errors
        assert rows[a]["ctr"] == pytest.approx(ctr, rel=0.10), a
    order = sorted(truth, key=truth.get, reverse=True)
    assert on["lead"]["order"] == order
    assert not on["srm"]                                   # the simulator splits users evenly
    for r in on["rows"]:               # a lift is significant exactly when its interval excludes 0
        if r["ctr_lift"] is not None:
            assert r["ctr_significant"] == (r["ctr_lift_lo"] > 0 or r["ctr_lift_hi"] < 0)


def test_offline_decisions_follow_the_paired_intervals(sim):
    off = sim["facts"]["offline"]
    pairs = {(p["a"], p["b"], p["metric"]): p for p in off["pairs"]}

    def sig(a, b, m):
        return (pairs.get((a, b, m)) or pairs[(b, a, m)])["significant"]
    for m, lead in off["lead"].items():
        assert lead["significant"] == sig(lead["top"], lead["second"], m)
        assert lead["bottom_significant"] == sig(lead["bottom"], lead["second_last"], m)
    for r in off["segments"]:
        assert r["significant"] == (r["lo"] > 0 or r["hi"] < 0)
        assert set(off["new_better"]) | set(off["new_worse"]) == {r["algo"] for r in off["segments"] if r["significant"]}
    assert off["users"] == off["users_new"] + off["users_returning"]
    assert not off["sampled"] and off["users"] == off["eligible_users"]


def test_agreement_lists_exactly_the_contradicting_pairs(sim):
    f = sim["facts"]
    g = f["agreement"]
    off = {(p["a"], p["b"]): p for p in f["offline"]["pairs"] if p["metric"] == "ndcg"}
    on = {frozenset((p["a"], p["b"])): p for p in f["online"]["pairs"]}
    expected = []
    for (a, b), p in off.items():
        q = on[frozenset((a, b))]
        if p["significant"] and q["significant"]:
            hi_off = a if p["diff"] > 0 else b
            if hi_off != q["higher"]:
                expected.append({a, b})
    assert [{d["a"], d["b"]} for d in g["disagree"]] == expected
    assert g["pairs_compared"] == len(g["agree"]) + len(g["disagree"])


def test_keyfigures_and_speed(sim):
    ids = [k["id"] for k in sim["facts"]["keyfigures"]]
    assert ids == ["rec_ctr", "best_ctr_lift", "offline_ndcg", "click_conversion"]
    k = {x["id"]: x for x in sim["facts"]["keyfigures"]}
    assert k["rec_ctr"]["significant"] == (k["rec_ctr"]["lo"] > 0 or k["rec_ctr"]["hi"] < 0)
    assert sim["seconds"] < 60


def test_words_render_in_both_languages(sim):
    out = words_check.render_all("05_recommendation", sim["facts"], tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    zh = "\n".join(out["zh"])
    assert "置信区间" in zh and "NDCG@10" in zh
    en = "\n".join(out["en"])
    assert "not significant" in en or "significantly" in en


def test_interactions_sum_weights_before_the_cutoff_and_keep_later_purchases_as_targets():
    import pandas as pd
    from metrics_fixtures import make_con, orders_df
    ev = pd.DataFrame({"user_id": [1, 1, 1, 1], "session_id": 1, "source": "feed",
                       "ts": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03", "2025-05-01"]),
                       "event_type": ["view", "cart", "rec_impression", "view"],
                       "item_id": [7, 7, 8, 7], "algo_variant": [None, None, "als", None]})
    orders = orders_df([(1, 1, "2025-03-05", 10, "paid"), (2, 1, "2025-04-10", 10, "paid"),
                        (3, 1, "2025-03-06", 10, "cancelled")])
    oi = pd.DataFrame({"order_id": [1, 2, 3], "item_id": [7, 9, 8], "qty": 1, "unit_price": 10.0})
    con = make_con(events=ev, orders=orders, order_items=oi)
    inter, buy = recommendation.interactions(con, "2025-01-01", "2025-04-01", "2025-04-29")
    w = recommendation.WEIGHTS
    got = inter.set_index("item_id")
    # item 7: a view, a cart and a purchase before the cutoff; the impression is not a choice,
    # the cancelled order is not a purchase, the May view is after the cutoff
    assert got.weight.to_dict() == {7: w["view"] + w["cart"] + w["purchase"]}
    assert got.ts[7] == pd.Timestamp("2025-03-01")
    assert sorted(buy.item_id) == [7, 9]


def test_a_training_sample_keeps_the_cores_friends_and_evaluates_only_the_core(sim):
    import numpy as np
    from fission.metrics import recommend as rm
    con = sim["con"]
    start, cutoff = "2024-12-03", "2025-12-04"
    fr = recommendation.friends(con)
    assert recommendation.training_sample(con, start, cutoff, 10 ** 9) is None
    s = recommendation.training_sample(con, start, cutoff, 2000)
    assert len(s["core"]) == 2000 and s["with_history"] > 2000
    assert np.array_equal(s["core"], recommendation.training_sample(con, start, cutoff, 2000)["core"])
    # the core is the first 2000 users with history in the order of md5(user_id), drawn in SQL
    hist = recommendation.query(con, f"""
        SELECT DISTINCT user_id FROM events WHERE item_id IS NOT NULL AND ts >= ? AND ts <= ?
          AND event_type IN ({', '.join(repr(k) for k in recommendation.BROWSE)})
        UNION SELECT user_id FROM ({recommendation.BUY_SQL}) b""", [start, cutoff, start, cutoff]).user_id
    import hashlib
    first = sorted(hist, key=lambda u: (hashlib.md5(str(int(u)).encode()).hexdigest(), u))[:2000]
    assert s["with_history"] == len(hist) and np.array_equal(s["core"], np.sort(first))
    # only the pairs of two training users reach the recommender, and they are all of those
    only = recommendation.friends(con, s["users"])
    both = fr[fr.user_id.isin(s["users"]) & fr.friend_id.isin(s["users"])]
    assert len(only) and sorted(map(tuple, only.to_numpy())) == sorted(map(tuple, both.to_numpy()))
    # every referrer and referee of a core user with history is trained on
    near = fr[fr.user_id.isin(s["core"]) | fr.friend_id.isin(s["core"])]
    inter, buy = recommendation.interactions(con, start, cutoff, "2026-01-01", s["users"])
    with_history = set(inter.user_id)
    assert set(near.user_id) & with_history <= set(s["users"])
    assert with_history <= set(s["users"]) and set(buy.user_id) <= set(s["users"])
    split = rm.time_split(inter, cutoff, 28, buy, eval_users=s["core"])
    assert len(split.eval_rows) > 0
    assert set(split.train_users[split.eval_rows]) <= set(s["core"])
    assert len(split.train_users) > len(s["core"])   # friends outside the core are trained on


def test_facts_say_when_the_training_users_were_sampled(sim):
    f = jsonable(recommendation.facts(sim["con"], 2025, 2024, max_train_users=5000, n_boot=20))
    o = f["offline"]
    assert o["train_sampled"] and o["train_core"] == 5000
    assert o["train_users"] > 5000 and o["users_with_history"] > o["train_users"]
    assert not sim["facts"]["offline"]["train_sampled"]
    out = words_check.render_all("05_recommendation", f, tables=TABLES,
                                 edition=dict(edition="2025", year=2025, compare_year=2024,
                                              min_group_size=50, simulated=True))
    assert "随机抽取 5,000 名" in "\n".join(out["zh"]) or "随机抽取 5000 名" in "\n".join(out["zh"])
    assert "a random sample of 5,000" in "\n".join(out["en"])


def test_without_the_live_variants_the_offline_sections_stay_whole(small_platform, tmp_path):
    """Logs without events.algo_variant (no live A/B): the offline sections are built, the
    online comparison and the offline–online agreement are not, and the summary and finding
    (which cite both) still render with only what is there."""
    import coverage_check
    f = coverage_check.without("05_recommendation", small_platform[0], tmp_path, "events",
                               column="algo_variant")
    assert f["missing"] == {"online": ["events.algo_variant"], "agreement": ["events.algo_variant"]}
    assert "offline" in f and "online" not in f and "agreement" not in f and "yoy" not in f
    assert [k["id"] for k in f["keyfigures"]] == ["offline_ndcg"]


def test_the_clustered_ratio_from_sums_is_the_one_from_rows():
    """The online A/B's intervals come from per-variant sums (metrics.experiments.ratio_from_sums):
    the same as from per-user rows (ratio_of_sums), here by hand and on random clusters."""
    import numpy as np

    from fission.metrics.experiments import ratio_from_sums, ratio_of_sums
    # y = (1, 0, 3), x = (2, 2, 4): R = 4/8 = 0.5, residuals (0, −1, 1), Var = 3/2 · 2 / 64
    r, se = ratio_from_sums(3, 4, 8, 2.0)
    assert r == 0.5 and se == pytest.approx(np.sqrt(3 / 2 * 2) / 8)
    assert (r, se) == pytest.approx(ratio_of_sums([1, 0, 3], [2, 2, 4]))
    rng = np.random.default_rng(3)
    x = rng.integers(1, 30, 500)
    y = rng.binomial(x, 0.1)
    rr = y.sum() / x.sum()
    assert ratio_from_sums(500, y.sum(), x.sum(), ((y - rr * x) ** 2).sum()) == pytest.approx(
        ratio_of_sums(y, x), rel=1e-12)
    assert np.isnan(ratio_from_sums(1, 1, 2, 0.0)[1]) and np.isnan(ratio_from_sums(5, 0, 0, None)[0])
