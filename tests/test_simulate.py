"""The simulator: determinism, the data contract, and planted truths visible with simple estimators."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fission.data.contract import TABLES
from fission.data.load import table_files
from fission.data.simulate import simulate
from fission.data.simulate.writer import ARROW

USERS = 20_000
YEAR = 2025


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_a")
    truth = simulate(out, year=YEAR, users=USERS, seed=7, progress=False)
    return out, truth


@pytest.fixture(scope="module")
def con(sim):
    import duckdb
    c = duckdb.connect()
    for name in TABLES:
        files = table_files(sim[0], name)
        if files:
            c.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({[str(f) for f in files]})")
    return c


def read(out, name) -> pa.Table:
    return pa.concat_tables([pq.read_table(f) for f in table_files(out, name)])


def digest(out, name) -> str:
    t = read(out, name)
    t = t.sort_by([(c, "ascending") for c in t.column_names if not pa.types.is_null(t.schema.field(c).type)])
    h = hashlib.sha256()
    for col in t.columns:
        for chunk in col.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(buf.to_pybytes())
        h.update(str(col.to_pylist()[:50]).encode())
    return h.hexdigest()


def test_determinism(sim, tmp_path):
    out, truth = sim
    same = tmp_path / "same"
    simulate(same, year=YEAR, users=USERS, seed=7, progress=False)
    for name in TABLES:
        a = [f.read_bytes() for f in table_files(out, name)]
        b = [f.read_bytes() for f in table_files(same, name)]
        assert a == b, name
    other = tmp_path / "other"
    simulate(other, year=YEAR, users=USERS, seed=8, progress=False)
    for name in ("users", "orders", "events", "shares"):
        assert digest(out, name) != digest(other, name), name


def test_contract_tables_and_types(sim):
    out, truth = sim
    for name, t in TABLES.items():
        files = table_files(out, name)
        assert files, f"{name} missing"
        sch = pq.read_schema(files[0])
        assert sch.names == t.names, name
        for c in t.columns:
            assert sch.field(c.name).type == ARROW[c.type], (name, c.name, sch.field(c.name).type)
        tab = read(out, name)
        for c in t.columns:
            if not c.nullable:
                assert tab.column(c.name).null_count == 0, (name, c.name)
    assert abs(truth["users"] - USERS) / USERS < 0.05
    for key in ("seed", "users", "year", "compare_year", "start", "end", "channels", "sharing",
                "experiments", "fraud_rings", "churn", "acquisition_cost", "future_12m", "monthly_buyers"):
        assert key in truth
    assert truth["start"] == "2024-01-01" and truth["end"] == "2025-12-31"
    assert json.loads((out / "truth.json").read_text())["seed"] == 7


def test_validator_passes(sim):
    validate = pytest.importorskip("fission.data.validate").validate
    problems = validate(sim[0])
    assert problems == [], problems[:5]


def test_share_signup_rate_per_mechanism(sim, con):
    truth = sim[1]["sharing"]
    rows = con.execute("""
        SELECT s.mechanism, count(*) AS visits, count(DISTINCT s.share_id) AS shares,
               count(v.signup_user_id) AS signups
        FROM share_visits v JOIN shares s USING (share_id)
        WHERE s.share_ts < TIMESTAMP '2025-11-01'
        GROUP BY 1""").fetchall()
    nshares = dict(con.execute("SELECT mechanism, count(*) FROM shares WHERE share_ts < TIMESTAMP '2025-11-01' GROUP BY 1").fetchall())
    for mech, visits, _, signups in rows:
        t = truth["mechanisms"][mech]
        # within 10 %, or 3.5 binomial standard errors for the rare mechanisms at this small scale
        rel = max(0.10, 3.5 / np.sqrt(visits * t["visit_signup_rate"]))
        assert signups / visits == pytest.approx(t["visit_signup_rate"], rel=rel), mech
        # per share, visits are over-dispersed (gamma reach): allow 4 standard errors
        rel_s = max(0.10, 4 * np.sqrt((1 + 1 / 0.8) / nshares[mech]))
        assert visits / nshares[mech] == pytest.approx(t["visits_per_share"], rel=rel_s), mech
        assert signups / nshares[mech] == pytest.approx(t["signups_per_share"], rel=max(rel, rel_s)), mech


def test_invites_per_user_within_window(sim, con):
    truth = sim[1]["sharing"]
    fraud = {u for r in sim[1]["fraud_rings"] for u in r["user_ids"]}
    # window signups only: the installed base signed up before the window and shares no more
    n_users, = con.execute("SELECT count(*) FROM users WHERE signup_ts < TIMESTAMP '2025-10-01' "
                           "AND signup_ts >= TIMESTAMP '2024-01-01'").fetchone()
    per = dict(con.execute("""
        SELECT s.mechanism, count(*) FROM shares s JOIN users u USING (user_id)
        WHERE u.signup_ts < TIMESTAMP '2025-10-01' AND u.signup_ts >= TIMESTAMP '2024-01-01'
          AND s.share_ts <= u.signup_ts + INTERVAL 30 DAY
          AND NOT list_contains(?, u.user_id)
        GROUP BY 1""", [sorted(fraud)]).fetchall())
    over, = con.execute("""SELECT count(*) FROM shares s JOIN users u USING (user_id)
                           WHERE s.share_ts > u.signup_ts + INTERVAL 30 DAY""").fetchone()
    assert over == 0
    for mech, t in truth["mechanisms"].items():
        assert per[mech] / n_users == pytest.approx(t["invites_per_user"], rel=0.12), mech


def test_k_factor_recovers_planted_k(sim, con):
    """K = referred signups per user: per mechanism and in total, the mean number of users each
    window signup brought in (through visits to its shares) recovers the planted
    invites × visits/share × signup rate.

    Tolerance: 4 standard errors of that mean, the SE taken from the data's own per-user spread
    (referrals are over-dispersed: gamma sharing propensity and gamma share reach). Under the
    model the estimate is unbiased — every user's expected referrals are exactly K (propensity
    mean 1, platform multipliers normalised), and users who signed up before 2025-11-01 have
    their whole 30-day sharing window (plus visit and signup delays of hours) inside the data —
    so a miss beyond 4 SE (false alarm ≈ 6e-5 per check) means K is planted or counted wrongly;
    at this scale 4 SE is about 10 % of the total K."""
    truth = sim[1]["sharing"]
    fraud = sorted({u for r in sim[1]["fraud_rings"] for u in r["user_ids"]})
    per_user = con.execute("""
        WITH p AS (SELECT user_id FROM users WHERE signup_ts >= TIMESTAMP '2024-01-01'
                     AND signup_ts < TIMESTAMP '2025-11-01' AND NOT list_contains(?, user_id)),
        c AS (SELECT s.user_id, s.mechanism, count(*) AS n
              FROM share_visits v JOIN shares s USING (share_id)
              WHERE v.signup_user_id IS NOT NULL GROUP BY ALL),
        m AS (SELECT DISTINCT mechanism FROM shares)
        SELECT p.user_id, m.mechanism, coalesce(c.n, 0) AS n
        FROM p CROSS JOIN m LEFT JOIN c ON c.user_id = p.user_id AND c.mechanism = m.mechanism""",
                           [fraud]).df()
    wide = per_user.pivot(index="user_id", columns="mechanism", values="n")
    wide["total"] = wide.sum(axis=1)
    planted = {m: t["k_factor"] for m, t in truth["mechanisms"].items()} | {"total": truth["k_factor_total"]}
    for col, k in planted.items():
        x = wide[col].to_numpy(float)
        se = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(x.mean() - k) <= 4 * se, (col, x.mean(), k, se)


def test_fraud_rings(sim, con):
    rings = sim[1]["fraud_rings"]
    assert len(rings) >= 3
    for r in rings:
        devs = con.execute("SELECT DISTINCT device_hash FROM users WHERE list_contains(?, user_id)",
                           [r["user_ids"]]).fetchall()
        assert 1 <= len(devs) <= 2 and {d for d, in devs} == set(r["device_hashes"])
        assert len(r["user_ids"]) >= 5
        paid, = con.execute("SELECT count(*) FROM orders WHERE status='paid' AND list_contains(?, user_id)",
                            [r["user_ids"]]).fetchone()
        assert paid <= 1
        span, = con.execute("""SELECT epoch(max(signup_ts) - min(signup_ts)) FROM users
                               WHERE list_contains(?, user_id) AND referrer_user_id IS NOT NULL""",
                            [r["user_ids"]]).fetchone()
        assert span < 3600
    # normal devices are not shared
    shared, = con.execute("SELECT count(*) FROM (SELECT device_hash FROM users GROUP BY 1 HAVING count(*) > 1)").fetchone()
    assert shared == sum(len(r["device_hashes"]) for r in rings)


def test_experiments(sim, con):
    from scipy import stats
    ex = sim[1]["experiments"]
    assert {e["kind"] for e in ex} >= {"positive", "null", "srm"}
    for e in ex:
        n_t, n = con.execute("""SELECT count(*) FILTER (WHERE variant='treatment'), count(*) FROM assignments
                                WHERE experiment_id = ?""", [e["experiment_id"]]).fetchone()
        p = stats.chisquare([n_t, n - n_t]).pvalue
        if e["kind"] == "srm":
            assert p < 0.001
        else:
            assert p > 0.001
        # the metric as defined: share of assigned users with >= 1 paid order in the window
        rate_c, = con.execute("""
            SELECT avg(CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE o.user_id = a.user_id AND o.status = 'paid'
                         AND o.order_ts BETWEEN x.start_ts AND x.end_ts) THEN 1 ELSE 0 END)
            FROM assignments a JOIN experiments x USING (experiment_id)
            WHERE a.experiment_id = ? AND a.variant = 'control'""", [e["experiment_id"]]).fetchone()
        se = np.sqrt(e["control_rate"] * (1 - e["control_rate"]) / max(n - n_t, 1))
        assert abs(rate_c - e["control_rate"]) < 4 * se


def test_experiments_do_not_change_behaviour_beyond_the_effect(sim, con):
    """Control users order like eligible users not in the experiment (the old simulator planted
    a paid order for ~1 in 5 assigned users, re-activating lapsed ones), and treated users order
    more only by the planted order-rate lift. Group-buy orders are left out: assigned users join
    no groups in their window. Tolerance: 4 binomial standard errors."""
    fraud = sorted({u for r in sim[1]["fraud_rings"] for u in r["user_ids"]})
    for e in sim[1]["experiments"]:
        rows = dict(con.execute("""
            WITH x AS (SELECT * FROM experiments WHERE experiment_id = $1),
            el AS (SELECT u.user_id, coalesce(a.variant, 'not assigned') AS grp
                   FROM users u CROSS JOIN x
                   LEFT JOIN assignments a ON a.user_id = u.user_id AND a.experiment_id = x.experiment_id
                   WHERE u.signup_ts <= x.start_ts - INTERVAL 30 DAY AND NOT list_contains($2, u.user_id)),
            y AS (SELECT DISTINCT o.user_id FROM orders o, x
                  WHERE o.status = 'paid' AND o.group_id IS NULL AND o.order_ts BETWEEN x.start_ts AND x.end_ts)
            SELECT grp, [count(*), count(y.user_id)] FROM el LEFT JOIN y USING (user_id) GROUP BY 1""",
                                [e["experiment_id"], fraud]).fetchall())
        (n_c, k_c), (n_o, k_o), (n_t, k_t) = rows["control"], rows["not assigned"], rows["treatment"]
        p = (k_c + k_o) / (n_c + n_o)
        assert abs(k_c / n_c - k_o / n_o) < 4 * np.sqrt(p * (1 - p) * (1 / n_c + 1 / n_o)), (e["kind"], rows)
        se = np.sqrt(p * (1 - p) * (1 / n_c + 1 / n_t))
        assert abs(k_t / n_t - k_c / n_c - e["true_diff"]) < 4 * se, (e["kind"], rows)


def test_seasonality_of_signups(sim, con):
    daily = dict(con.execute("""SELECT CAST(signup_ts AS DATE), count(*) FROM users
                                WHERE year(signup_ts) = 2025 GROUP BY 1""").fetchall())
    import datetime as dt
    mean = np.mean(list(daily.values()))
    d = lambda s: daily.get(dt.date.fromisoformat(s), 0)  # noqa: E731
    assert np.mean([d("2025-06-16"), d("2025-06-17"), d("2025-06-18")]) > mean
    assert np.mean([d("2025-11-10"), d("2025-11-11")]) > mean
    sf = [d(f"2025-{x}") for x in ("01-29", "01-30", "01-31", "02-01", "02-02", "02-03", "02-04")]
    assert np.mean(sf) < mean


def test_tier_growth(sim, con):
    g = dict(con.execute("""SELECT city_tier, count(*) FILTER (WHERE year(signup_ts)=2025) /
                                   count(*) FILTER (WHERE year(signup_ts)=2024) FROM users GROUP BY 1""").fetchall())
    assert min(g[3], g[4], g[5]) > g[1]
    assert g[1] > 1.0


def test_group_success_falls_with_size(sim, con):
    rates = dict(con.execute("""SELECT target_size, avg(CASE WHEN status='success' THEN 1 ELSE 0 END)
                                FROM group_buys GROUP BY 1""").fetchall())
    assert rates[2] > rates[3] > rates[4] > rates[5]
    truth = sim[1]["group_buy"]["fill_rate_by_target_size"]
    assert rates[2] == pytest.approx(truth["2"], abs=0.05)
    # successful groups have exactly target_size members and their orders carry group_id
    bad, = con.execute("""SELECT count(*) FROM group_buys g JOIN (SELECT group_id, count(*) n FROM group_members GROUP BY 1) m
                          USING (group_id) WHERE g.status='success' AND m.n <> g.target_size""").fetchone()
    assert bad <= 0.01 * con.execute("SELECT count(*) FROM group_buys").fetchone()[0]
    n_go, = con.execute("SELECT count(*) FROM orders WHERE group_id IS NOT NULL").fetchone()
    assert n_go > 0


def test_ticket_response_slower_on_peak_days(sim, con):
    rows = dict(con.execute("""
        SELECT CASE WHEN strftime(created_ts, '%m-%d') IN ('06-17','06-18','06-19','11-11','11-12','11-13')
                    THEN 'peak' ELSE 'normal' END,
               median(epoch(first_response_ts - created_ts) / 3600)
        FROM tickets WHERE first_response_ts IS NOT NULL GROUP BY 1""").fetchall())
    assert rows["peak"] > rows["normal"]


def test_orders_consistent(sim, con):
    bad, = con.execute("""SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(qty*unit_price) s FROM order_items GROUP BY 1) i
                          USING (order_id) WHERE abs(o.gmv + o.discount - i.s) > 0.05""").fetchone()
    assert bad == 0
    late, = con.execute("""SELECT count(*) FROM returns r JOIN orders o USING (order_id)
                           WHERE r.no_reason_7d AND r.requested_ts > o.delivered_ts + INTERVAL 7 DAY""").fetchone()
    assert late == 0
    ctr = dict(con.execute("""SELECT algo_variant, count(*) FILTER (WHERE event_type='rec_click') /
                                     count(*) FILTER (WHERE event_type='rec_impression')
                              FROM events WHERE algo_variant IS NOT NULL GROUP BY 1""").fetchall())
    assert ctr["als"] > ctr["popularity"]
    n_ev, n_u = con.execute("SELECT count(*), count(DISTINCT user_id) FROM events").fetchone()
    assert n_ev / sim[1]["users"] >= 10


# --- the latent truths the estimators target ------------------------------------------------
CHANNEL_LIST = ["organic", "ads", "kol", "live", "referral", "group_buy"]


def test_truth_monthly_buyers_match_the_orders(sim, con):
    """monthly_buyers: the simulator's own count of active buyers (a non-cancelled order) and new
    buyers (window signups whose first non-cancelled order falls in the month) equals a direct
    count over the tables."""
    truth = sim[1]["monthly_buyers"]
    assert len(truth) == 24 and list(truth)[0] == "2024-01" and list(truth)[-1] == "2025-12"
    rows = con.execute("""
        WITH o AS (SELECT user_id, order_ts FROM orders WHERE status <> 'cancelled'),
        a AS (SELECT strftime(order_ts, '%Y-%m') AS m, count(DISTINCT user_id) AS active FROM o GROUP BY 1),
        f AS (SELECT strftime(min(o.order_ts), '%Y-%m') AS m FROM o JOIN users u USING (user_id)
              WHERE u.signup_ts >= TIMESTAMP '2024-01-01' GROUP BY o.user_id),
        n AS (SELECT m, count(*) AS new FROM f GROUP BY 1)
        SELECT a.m, a.active, coalesce(n.new, 0) FROM a LEFT JOIN n USING (m) ORDER BY 1""").fetchall()
    assert {m: {"active": a, "new": n} for m, a, n in rows} == truth


def test_truth_acquisition_cost_matches_the_tables(sim, con):
    """acquisition_cost: the simulator's accounting equals the README's attribution rule applied
    to the tables (users by signup year; campaign spend by campaign start year and type; the
    first-order discount of referral users within 30 days of signup, by signup year; the
    group-buy discount of non-cancelled group orders, by order year). Plausible: campaign-only
    CAC near the planted CAC, and incentives make fission channels cost more than that."""
    t = sim[1]["acquisition_cost"]
    types = t["campaign_types"]
    planted = sim[1]["channels"]["cac"]
    for year in ("2024", "2025"):
        row = t["by_year"][year]
        assert set(row) == set(CHANNEL_LIST)
        users = dict(con.execute("""SELECT acquisition_channel, count(*) FROM users
                                    WHERE year(signup_ts) = ? GROUP BY 1""", [int(year)]).fetchall())
        spend = dict(con.execute("SELECT type, sum(cost) FROM campaigns WHERE year(start_ts) = ? GROUP BY 1",
                                 [int(year)]).fetchall())
        first_disc, = con.execute("""
            WITH f AS (SELECT user_id, arg_min(discount, order_ts) AS d, min(order_ts) AS ts
                       FROM orders WHERE status <> 'cancelled' GROUP BY 1)
            SELECT coalesce(sum(f.d), 0) FROM f JOIN users u USING (user_id)
            WHERE u.acquisition_channel = 'referral' AND year(u.signup_ts) = ?
              AND f.ts <= u.signup_ts + INTERVAL 30 DAY""", [int(year)]).fetchone()
        group_disc, = con.execute("""SELECT coalesce(sum(discount), 0) FROM orders WHERE group_id IS NOT NULL
                                     AND status <> 'cancelled' AND year(order_ts) = ?""", [int(year)]).fetchone()
        for ch, r in row.items():
            assert r["users"] == users.get(ch, 0), (year, ch)
            assert r["campaign_spend"] == pytest.approx(sum(spend.get(x, 0.0) for x in types[ch]), abs=0.05)
            fo = first_disc if ch == "referral" else 0.0
            gb = group_disc if ch == "group_buy" else 0.0
            assert r["first_order_discount"] == pytest.approx(fo, abs=0.05), (year, ch)
            assert r["group_buy_discount"] == pytest.approx(gb, abs=0.05), (year, ch)
            assert r["incentive_spend"] == pytest.approx(fo + gb, abs=0.05)
            assert r["cac_full"] == pytest.approx((r["campaign_spend"] + r["incentive_spend"]) / r["users"], rel=1e-3)
            assert r["cac_campaign_only"] == pytest.approx(planted[ch], rel=0.15), (year, ch)
        assert 0 < row["referral"]["new_user_coupon"] <= row["referral"]["first_order_discount"]
        assert row["group_buy"]["cac_full"] > 2 * row["group_buy"]["cac_campaign_only"]
        assert row["referral"]["cac_full"] > row["referral"]["cac_campaign_only"]


def test_truth_future_12m_consistent_with_the_data(sim, con):
    """future_12m: customers per frequency bin (paid purchase days in the data − 1, as
    fission.metrics.ltv.rfm_summary counts them) equal a count over the tables; the bins add up
    to the total; customers who bought more often buy more next year; spend per purchase is
    near the data's paid average order value (same price and discount model)."""
    t = sim[1]["future_12m"]
    assert t["from"] == "2026-01-01" and t["days"] == 365
    bins = t["by_frequency"]
    assert list(bins) == ["0", "1", "2", "3", "4-5", "6+"]
    counts = dict(con.execute("""
        WITH d AS (SELECT user_id, count(DISTINCT order_ts::DATE) - 1 AS f FROM orders
                   WHERE status = 'paid' GROUP BY 1)
        SELECT CASE WHEN f <= 3 THEN f::VARCHAR WHEN f <= 5 THEN '4-5' ELSE '6+' END, count(*)
        FROM d GROUP BY 1""").fetchall())
    for b, r in bins.items():
        assert r["customers"] == counts[b], b
        assert r["purchase_days"] <= r["purchases"]
    for k in ("customers", "purchases", "purchase_days"):
        assert sum(r[k] for r in bins.values()) == t["total"][k]
    assert sum(r["spend"] for r in bins.values()) == pytest.approx(t["total"]["spend"], abs=1.0)
    per = [bins[b]["purchases_per_customer"] for b in ("0", "2", "6+")]
    assert 0 < per[0] < per[1] < per[2]
    aov, = con.execute("SELECT avg(gmv) FROM orders WHERE status = 'paid' AND year(order_ts) = 2025").fetchone()
    assert t["total"]["spend"] / t["total"]["purchases"] == pytest.approx(aov, rel=0.2)


def test_truth_churn_consistent_with_the_data(sim, con):
    """churn: the populations' sizes equal counts over the tables, and where the data can see
    churn (a churn order followed by 90 observed days) Kaplan–Meier with censoring at the data
    end − 90 days (lifelines, independent of fission.metrics.survival) agrees with the truth for
    the buyers whose first order came within 30 days of signing up. Tolerance: 4 standard
    errors of the KM estimate (Greenwood, from lifelines' 95 % band)."""
    from lifelines import KaplanMeierFitter
    t = sim[1]["churn"]
    assert t["churn_days"] == 90 and t["survival_at_days"] == [30, 90, 180, 365]
    df = con.execute("""
        WITH ev AS (SELECT user_id, order_ts AS ts FROM orders WHERE status <> 'cancelled'),
        g AS (SELECT user_id, ts, lead(ts) OVER (PARTITION BY user_id ORDER BY ts) AS nxt FROM ev),
        c AS (SELECT user_id, min(ts) AS first_ts,
                     min(ts) FILTER (WHERE coalesce(nxt, TIMESTAMP '2026-01-01') - ts >= INTERVAL 90 DAY) AS churn_ts
              FROM g GROUP BY 1)
        SELECT u.acquisition_channel AS channel, epoch(u.signup_ts) AS s, epoch(c.churn_ts) AS c,
               c.first_ts <= u.signup_ts + INTERVAL 30 DAY AS conv30
        FROM users u JOIN c USING (user_id) WHERE u.signup_ts >= TIMESTAMP '2024-01-01'""").df()
    by_end = t["buyers_by_data_end"]["by_channel"]
    conv = t["first_order_within_30d"]["by_channel"]
    late_signups, = con.execute("SELECT count(*) FROM users WHERE signup_ts >= TIMESTAMP '2025-12-01'").fetchone()
    for ch in CHANNEL_LIST:
        n_data = int((df["channel"] == ch).sum())
        assert by_end[ch]["users"] == n_data, ch
        n_conv = int(((df["channel"] == ch) & df["conv30"]).sum())
        # the truth also counts December signups whose first order came after the data end
        assert n_conv <= conv[ch]["users"] <= n_conv + late_signups, ch
    for pop in ("buyers_by_data_end", "first_order_within_30d"):
        for r in [t[pop]["all"], *t[pop]["by_channel"].values()]:
            s = [r[f"survival_{d}d"] for d in (30, 90, 180, 365)]
            assert 1 >= s[0] >= s[1] >= s[2] >= s[3] >= 0 and r["median_days"] > 0
    cut = np.datetime64("2025-10-03").astype("datetime64[s]").astype(np.int64)    # data end − 90 days
    d = df[df["conv30"]]
    event = d["c"].notna() & (d["c"] <= cut)
    dur = np.where(event, d["c"] - d["s"], cut - d["s"]) / 86400
    km = KaplanMeierFitter().fit(dur, event)
    truth = t["first_order_within_30d"]["all"]
    ci = km.confidence_interval_survival_function_
    for day in (30, 90, 180, 365, truth["median_days"]):
        lo, hi = (float(np.interp(day, ci.index, ci.iloc[:, j])) for j in (0, 1))
        se = (hi - lo) / (2 * 1.96)
        expected = 0.5 if day == truth["median_days"] else truth[f"survival_{day}d"]
        assert abs(float(km.predict(day)) - expected) <= 4 * se + 1e-3, (day, km.predict(day), expected, se)
