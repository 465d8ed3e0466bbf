"""Ground truth: the metrics recover what the simulator planted (default scale)."""
import json
import time
from pathlib import Path

import pytest

simulate_mod = pytest.importorskip("fission.data.simulate")
if not callable(getattr(simulate_mod, "simulate", None)):
    pytest.skip("fission.data.simulate.simulate is not available yet", allow_module_level=True)

from fission.data.load import connect  # noqa: E402
from fission.metrics.experiments import experiment_results  # noqa: E402
from fission.metrics.growth import growth_accounting  # noqa: E402
from fission.metrics.viral import viral_k_overall  # noqa: E402


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    t0 = time.time()
    simulate_mod.simulate(out, year=2025, users=100_000, seed=20250101)
    elapsed = time.time() - t0
    truth_file = next(iter(sorted(out.rglob("truth.json"))))
    truth = json.loads(Path(truth_file).read_text(encoding="utf-8"))
    data_dir = truth_file.parent
    if not any(data_dir.glob("users*")):
        data_dir = next(p.parent for p in out.rglob("users*.parquet"))
    con = connect(data_dir)
    yield {"con": con, "truth": truth, "seconds": elapsed}
    con.close()


def test_k_factor_and_signups_per_share(sim):
    truth = sim["truth"]["sharing"]
    k = viral_k_overall(sim["con"], window_days=truth["window_days"]).set_index("mechanism")
    for mech, t in truth["mechanisms"].items():
        assert k.loc[mech, "k_factor"] == pytest.approx(t["k_factor"], rel=0.10), mech
        assert k.loc[mech, "invite_conversion"] == pytest.approx(t["signups_per_share"], rel=0.10), mech


def test_experiments_recover_planted_effects(sim):
    res = experiment_results(sim["con"]).set_index("experiment_id")
    for t in sim["truth"]["experiments"]:
        r = res.loc[t["experiment_id"]]
        if t["kind"] == "srm":
            assert r["srm"], t
        else:
            assert not r["srm"], t
        if t["kind"] == "positive":
            assert r["abs_lo"] <= t["true_diff"] <= r["abs_hi"], (t, r)
            assert r["rel_lo"] <= t["true_lift"] <= r["rel_hi"], (t, r)
            assert r["abs_lo"] > 0
        if t["kind"] == "null":
            assert r["abs_lo"] <= 0 <= r["abs_hi"], (t, r)
            assert r["cuped_abs_lo"] <= 0 <= r["cuped_abs_hi"], (t, r)


def test_growth_accounting_recovers_simulated_buyers(sim):
    """Monthly growth accounting against the simulator's own books (truth.json monthly_buyers):
    active buyers every month, the baseline month (2024-01, not reported: the installed base
    makes it ambiguous) and the new buyers — window signups in the month of their first
    non-cancelled order; an installed-base user's first observed order is not "new"."""
    truth = sim["truth"]["monthly_buyers"]
    g = growth_accounting(sim["con"], "month")
    assert g.attrs["baseline_active"] == truth["2024-01"]["active"]
    got = {p.strftime("%Y-%m"): {"active": int(a), "new": int(n)}
           for p, a, n in zip(g["period"], g["active"], g["new"])}
    assert got == {m: v for m, v in truth.items() if m != "2024-01"}
    # the installed base is visible: far more buyers than new buyers in the first reported month
    assert got["2024-02"]["active"] > 2 * got["2024-02"]["new"]
