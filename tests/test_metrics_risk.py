"""Chapter 9's metrics: the fraud rules on a hand-made world (a ring, and honest users who each
hit one rule), rewards per level, refund tickets and the register; then the rules against the
simulator's planted rings on two seeds (precision ≥ 0.9, recall ≥ 0.8)."""
import json
from pathlib import Path

import pandas as pd
import pytest

from fission.metrics import risk as R
from metrics_fixtures import make_con, orders_df, users_df


def _world(with_rewards=True):
    T = pd.Timestamp
    rows, devices, orders, rewards = [], {}, [], []
    # a ring: leader 100 and six accounts it invites within minutes, all on one phone, no orders
    rows.append((100, "2025-03-01 10:00", None, "organic")); devices[100] = "ring"
    for i in range(1, 7):
        rows.append((100 + i, str(T("2025-03-05 12:00") + pd.Timedelta(minutes=i)), 100, "referral"))
        devices[100 + i] = "ring"
        rewards.append((100, 100 + i, 1, 2.0, T("2025-03-05 12:30"), "invite_signup"))
    # an honest sharer whose six invitees (over weeks) never bought: rewards without orders only
    rows.append((200, "2025-01-01", None, "organic"))
    for i in range(1, 7):
        rows.append((200 + i, f"2025-02-{i * 3:02d}", 200, "referral"))
        rewards.append((200, 200 + i, 1, 2.0, T(f"2025-02-{i * 3:02d} 01:00"), "invite_signup"))
    # a family phone (two accounts) and a shop's phone with three organic accounts: device only
    rows += [(300, "2025-04-01", None, "organic"), (301, "2025-04-02", None, "organic")]
    devices[300] = devices[301] = "family"
    for u in (400, 401, 402):
        rows.append((u, f"2025-05-0{u - 399}", None, "organic")); devices[u] = "shop"
    # an honest burst: 500 (invited by 600) brings five buyers in one hour; 600 was invited by 700
    rows += [(700, "2024-12-01", None, "organic"), (600, "2024-12-15", 700, "referral"),
             (500, "2025-01-20", 600, "referral")]
    for i in range(1, 6):
        u = 500 + i
        rows.append((u, f"2025-06-01 20:{i * 10:02d}", 500, "referral"))
        orders.append((u, u, f"2025-06-02 10:{i:02d}", 99.0, "paid"))
        rewards.append((500, u, 1, 8.0, T("2025-06-10"), "invite_order"))
        rewards.append((600, u, 2, 2.0, T("2025-06-10"), "invite_order"))
    rewards.append((700, 501, 3, 1.0, T("2025-06-10"), "invite_order"))   # beyond the cap
    rows.append((900, "2025-12-31", None, "organic"))                     # sets the data end
    users = users_df(rows)
    users["device_hash"] = [devices.get(u, f"d{u}") for u in users.user_id]
    tables = {"users": users, "orders": orders_df([(i + 1, *o[1:]) for i, o in enumerate(orders)])}
    if with_rewards:
        tables["rewards"] = pd.DataFrame(
            [(i + 1, *r) for i, r in enumerate(rewards)],
            columns=["reward_id", "beneficiary_user_id", "source_user_id", "level", "amount",
                     "reward_ts", "kind"])
    return make_con(**tables)


RING = set(range(100, 107))


def test_each_rule_flags_what_it_describes():
    sig = R.signals(_world(), 2025)
    acc = sig["accounts"].set_index("user_id")
    assert set(acc.index[acc.shared_device]) == RING | {400, 401, 402}
    assert set(acc.index[acc.invite_burst]) == RING | set(range(500, 506))
    assert set(acc.index[acc.reward_no_order]) == RING | set(range(200, 207))
    assert set(acc.index[acc.loop]) == RING
    assert not ({300, 301} & set(acc.index))      # a family phone is not a signal


def test_only_the_ring_hits_two_rules():
    f = R.fraud(_world(), 2025)
    assert f["_flagged"] == RING and f["flagged"] == 7
    assert list(f["rings"].accounts) == [7] and f["rings"].iloc[0].n_rules == 4
    rules = f["rules"].set_index("rule")
    assert rules.loc["reward_no_order", "accounts"] == 14 and rules.loc["reward_no_order", "in_rings"] == 7
    assert f["loss"] == {"basis": "rewards", "amount": 12.0, "rewards": 6}
    # stricter: three rules needed -> still the ring; five -> nobody
    assert R.flagged_accounts(R.rings(R.signals(_world(), 2025), min_rules=3)) == RING
    assert R.flagged_accounts(R.rings(R.signals(_world(), 2025), min_rules=5)) == set()
    assert R.fraud(_world(), 2024)["flagged"] == 0


def test_without_a_reward_ledger_the_loss_is_the_coupon_cost_basis():
    f = R.fraud(_world(with_rewards=False), 2025)
    assert f["_flagged"] == RING
    assert f["loss"]["basis"] == "coupon_cost" and f["loss"]["rewards"] == 6
    assert R.rewards_by_level(_world(with_rewards=False), 2025) is None
    assert R.beyond_cap(_world(with_rewards=False), 2025) is None


def test_rewards_by_level_and_beyond_the_cap():
    con = _world()
    by = R.rewards_by_level(con, 2025).set_index(["level", "kind"])
    assert by.loc[(1, "invite_signup"), "rewards"] == 12 and by.loc[(1, "invite_signup"), "amount"] == 24
    assert by.loc[(1, "invite_order"), "amount"] == 40 and by.loc[(2, "invite_order"), "amount"] == 10
    assert list(by.beyond_cap) == [False, False, False, True]
    cap = R.beyond_cap(con, 2025)
    assert cap == {"rewards": 1, "amount": 1.0, "max_level": 3, "first_day": "2025-06-10",
                   "last_day": "2025-06-10"}
    m = R.rewards_monthly(con, 2025)
    assert m.amount.sum() == 75 and set(m.level) == {1, 2, 3}


def test_precision_recall():
    assert R.precision_recall({1, 2, 3, 4}, {2, 3, 4, 5, 6}) == {
        "flagged": 4, "true": 5, "hits": 3, "precision": 0.75, "recall": 0.6}


def test_refund_tickets_hand_computed():
    con = _world()
    tk = pd.DataFrame({"ticket_id": [1, 2, 3, 4], "category": ["refund", "refund", "refund", "quality"],
                       "created_ts": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-12-30", "2025-03-01"]),
                       "resolved_ts": pd.to_datetime(["2025-03-01 10:00", "2025-03-05 08:00", None,
                                                      "2025-03-01 01:00"])})
    con.register("tickets", tk)
    r = R.refund_tickets(con, 2025)   # the 2025-12-30 ticket is too recent to count
    assert r["tickets"] == 2 and r["median_h"] == pytest.approx((10 + 80) / 2)
    assert r["within_72h"] == 0.5


def test_register_scores_and_changes():
    reg = pd.DataFrame({"risk_id": [1, 2, 3, 4, 5], "area": ["fraud"] * 5, "description": ["x"] * 5,
                        "likelihood": [4, 2, 3, 2, 3], "impact": [4, 5, 3, 2, 3], "owner": ["o"] * 5,
                        "mitigation": ["m"] * 5,
                        "status": ["open", "open", "closed", "open", "mitigating"],
                        "likelihood_prev": [3, 3, 3, None, 3], "impact_prev": [4, 5, 3, None, 3],
                        "status_prev": ["open", "open", "open", None, "open"]})
    df = R.register(make_con(risk_register=reg)).set_index("risk_id")
    assert list(df.score) == [16, 10, 9, 4, 9]
    assert list(df.change) == ["up", "down", "closed", "new", "same"]
    assert list(df.status_changed) == [False, False, True, False, True]
    m = R.heat_matrix(df.reset_index())
    assert m.loc[4, 4] == 1 and m.values.sum() == 4           # the closed risk is not on the map
    assert R.heat_matrix(df.reset_index(), prev=True).values.sum() == 4
    # an older register without the *_prev columns: changes unknown, not an error
    old = R.register(make_con(risk_register=reg.drop(columns=["likelihood_prev", "impact_prev",
                                                               "status_prev"])))
    assert set(old.change) == {"unknown"}


def test_rule_defaults_are_the_published_parameters():
    import inspect
    sig = inspect.signature(R.signals).parameters
    assert {k: sig[k].default for k in R.RULE_PARAMS} == R.RULE_PARAMS
    sig = inspect.signature(R.rings).parameters
    assert {k: sig[k].default for k in R.RING_PARAMS} == R.RING_PARAMS


# ------------------------------------------------------------------ against the planted rings
def _check_rings(folder, truth):
    from fission.data.load import connect
    con = connect(folder)
    planted = {u for r in truth["fraud_rings"] for u in r["user_ids"]}
    f = R.fraud(con, truth["year"])
    pr = R.precision_recall(f["_flagged"], planted)
    assert pr["precision"] >= 0.9 and pr["recall"] >= 0.8, pr
    assert f["loss"]["amount"] == pytest.approx(truth["rewards"]["to_fraud_accounts"])
    # the ledger: rewards per level over both years, and the planted level-3 payments
    both = pd.concat([R.rewards_by_level(con, y) for y in (truth["compare_year"], truth["year"])])
    lv = both.groupby("level")[["rewards", "amount"]].sum()
    for k, v in truth["rewards"]["by_level"].items():
        assert lv.loc[int(k), "rewards"] == v["rewards"] and lv.loc[int(k), "amount"] == pytest.approx(v["amount"])
    cap = R.beyond_cap(con, truth["year"])
    assert cap["rewards"] == truth["rewards"]["violation"]["rewards"] > 0
    assert cap["first_day"] >= truth["rewards"]["violation"]["from"]
    con.close()
    return pr


def test_rules_recover_the_planted_rings_default(default_platform):
    _check_rings(*default_platform)


def test_rules_recover_the_planted_rings_other_seed(tmp_path_factory):
    from fission.data.simulate import simulate
    out = tmp_path_factory.mktemp("sim_seed7")
    simulate(out, year=2025, users=100_000, seed=7, progress=False)
    _check_rings(out, json.loads((Path(out) / "truth.json").read_text(encoding="utf-8")))
