"""Suppliers and stock: a weekly (s, S) reorder policy per item × warehouse against the realised
demand; suppliers deliver late and with defects at their own rates; weekly inventory snapshots."""
from __future__ import annotations

import numpy as np

from ..contract import CATEGORIES, REGIONS, WAREHOUSES
from . import params as P
from .calendar import DAY
from .writer import Cat


def build(rng, cal, catalog, demand):
    """demand: [items, warehouses, weeks] units sold."""
    I, Wn, K = demand.shape
    d = demand.reshape(I * Wn, K).astype(np.float64)
    pair = np.flatnonzero(d.sum(axis=1) > 0)
    d = d[pair]
    item = pair // Wn
    wh = pair % Wn
    sup = catalog.supplier[item]
    lead_w = np.ceil(catalog.sup_lead[sup] / 7).astype(np.int64)
    mean_w = np.maximum(d.mean(axis=1), 0.2)
    s_lvl = np.ceil(mean_w * (lead_w + 0.8)).astype(np.int64)           # a little thin: stock-outs happen
    S_lvl = s_lvl + np.ceil(3 * mean_w).astype(np.int64) + 1
    on_hand = S_lvl.copy()
    pending = np.zeros((K + 30, len(pair)), dtype=np.int64)             # units arriving per week
    on_order = np.zeros(len(pair), dtype=np.int64)
    snaps = {"date": [], "i": [], "on_hand": [], "on_order": []}
    po = {"pair": [], "ordered": [], "promised": [], "received": [], "qty": [], "defect": []}
    week0 = cal.t0
    for k in range(K):
        on_hand += pending[k]
        on_order -= pending[k]
        on_hand = np.maximum(on_hand - d[:, k].astype(np.int64), 0)
        pos = on_hand + on_order
        need = np.flatnonzero(pos < s_lvl)
        qty = S_lvl[need] - pos[need]
        t_ord = week0 + k * 7 * DAY + 10 * 3600 + rng.integers(0, 8 * 3600, len(need))
        lead = catalog.sup_lead[sup[need]] * DAY
        promised = t_ord + lead
        late = rng.random(len(need)) < catalog.sup_late[sup[need]]
        delay = np.where(late, rng.exponential(P.LATE_DELAY_DAYS * DAY, len(need)) + DAY, 0).astype(np.int64)
        early = rng.integers(0, DAY, len(need))
        received = promised + delay - np.where(late, 0, early)
        defect = rng.binomial(qty, catalog.sup_defect[sup[need]])
        arr_w = np.minimum((received - week0) // (7 * DAY) + 1, K + 29)
        np.add.at(pending, (arr_w, need), qty - defect)
        on_order[need] += qty - defect
        po["pair"].append(need); po["ordered"].append(t_ord); po["promised"].append(promised)
        po["received"].append(received); po["qty"].append(qty); po["defect"].append(defect)
        snaps["date"].append(np.full(len(pair), k)); snaps["i"].append(np.arange(len(pair)))
        snaps["on_hand"].append(on_hand.copy()); snaps["on_order"].append(on_order.copy())
    c = {k: np.concatenate(v) for k, v in po.items()}
    srt = np.lexsort((c["pair"], c["ordered"]))
    c = {k: v[srt] for k, v in c.items()}
    rec_ok = c["received"] < cal.t_end
    purchase_orders = {"po_id": np.arange(1, len(srt) + 1), "supplier_id": sup[c["pair"]] + 1,
                       "item_id": item[c["pair"]] + 1, "ordered_ts": c["ordered"], "promised_ts": c["promised"],
                       "received_ts": (np.maximum(c["received"], c["ordered"]), ~rec_ok),
                       "qty": c["qty"], "defect_qty": c["defect"]}
    s = {k: np.concatenate(v) for k, v in snaps.items()}
    dates = np.datetime64(cal.start) + (s["date"] * 7 + 6).astype("timedelta64[D]")
    okd = dates <= np.datetime64(cal.end)
    inventory = {"snapshot_date": dates[okd], "item_id": item[s["i"]][okd] + 1,
                 "warehouse_id": Cat(wh[s["i"]][okd], WAREHOUSES), "on_hand": s["on_hand"][okd],
                 "on_order": s["on_order"][okd]}
    suppliers = {"supplier_id": np.arange(1, len(catalog.sup_region) + 1),
                 "region": Cat(catalog.sup_region, REGIONS), "category": Cat(catalog.sup_category, CATEGORIES)}
    stockout = float((s["on_hand"] == 0).mean())
    truth = {"policy": "weekly (s, S): s = ceil(mean weekly demand × (lead weeks + 0.8)), S = s + 3 × mean + 1",
             "suppliers": {str(i + 1): {"late_rate": round(float(catalog.sup_late[i]), 4),
                                        "defect_rate": round(float(catalog.sup_defect[i]), 4),
                                        "promised_lead_days": int(catalog.sup_lead[i])}
                           for i in range(len(catalog.sup_region))},
             "late_delay_days": f"1 + Exponential(mean {P.LATE_DELAY_DAYS})",
             "stockout_share_of_snapshots": stockout}
    return suppliers, purchase_orders, inventory, truth
