"""Time the contract validator on a directory and report its peak memory.

    python bench/bench_validate.py data/staged/2025
    python bench/bench_validate.py /tmp/big --make 1000000   # first write a synthetic dataset
                                                            # (N users, 2N orders, 3N lines, 10N events)
Options: --memory-limit 4GB (DuckDB's limit), --threads N, --tables users,orders.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path


def make_synthetic(d: Path, users: int) -> None:
    """A valid dataset written by DuckDB directly (fast at any scale)."""
    import duckdb
    d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    n, t0 = users, "TIMESTAMP '2024-01-01 00:00:00'"

    def copy(name, sql):
        t = time.perf_counter()
        con.execute(f"COPY ({sql}) TO '{(d / (name + '.parquet')).as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
        print(f"  wrote {name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    copy("suppliers", "SELECT i::BIGINT AS supplier_id, (['east','south','north'])[1 + i % 3] AS region, "
                      "(['beauty','food','home'])[1 + i % 3] AS category FROM range(100) t(i)")
    copy("items", "SELECT i::BIGINT AS item_id, (['beauty','food','home'])[1 + i % 3] AS category, "
                  "'brand' || (i % 50) AS brand, (10 + i % 500)::DOUBLE AS list_price, "
                  "(i % 100)::BIGINT AS supplier_id FROM range(10000) t(i)")
    copy("users", f"SELECT i::BIGINT AS user_id, {t0} + INTERVAL (i % 300000) MINUTE AS signup_ts, "
                  "(1 + i % 5)::INTEGER AS city_tier, 'p' || (i % 31) AS province, "
                  "(['18-24','25-30','31-40'])[1 + i % 3] AS age_band, (['F','M'])[1 + i % 2] AS gender, "
                  "(['organic','referral','kol'])[1 + i % 3] AS acquisition_channel, "
                  "CASE WHEN i % 3 = 1 AND i > 0 THEN (i // 2)::BIGINT END AS referrer_user_id, "
                  "md5(i::VARCHAR) AS device_hash, i % 4 = 0 AS is_member, "
                  f"CASE WHEN i % 4 = 0 THEN {t0} + INTERVAL (i % 300000 + 60) MINUTE END AS member_since "
                  f"FROM range({n}) t(i)")
    copy("orders", f"SELECT i::BIGINT AS order_id, (i % {n})::BIGINT AS user_id, "
                   f"{t0} + INTERVAL (i % {n} % 300000 + 1000) MINUTE AS order_ts, "
                   "(20 + i % 300)::DOUBLE AS gmv, (i % 10)::DOUBLE AS discount, "
                   "(['organic','referral','kol'])[1 + i % 3] AS channel, NULL::BIGINT AS campaign_id, "
                   "NULL::BIGINT AS group_id, NULL::BIGINT AS live_id, (['paid','cancelled'])[1 + (i % 7 = 0)::INT] AS status, "
                   f"{t0} + INTERVAL (i % {n} % 300000 + 1500) MINUTE AS shipped_ts, "
                   f"{t0} + INTERVAL (i % {n} % 300000 + 4000) MINUTE AS delivered_ts, "
                   "'east' AS warehouse_id, 'sf' AS carrier "
                   f"FROM range({2 * n}) t(i)")
    copy("order_items", "SELECT (i // 3)::BIGINT AS order_id, ((i * 7) % 10000 + (i % 3))::BIGINT % 10000 AS item_id, "
                        "1 + i % 3 AS qty, (10 + i % 90)::DOUBLE AS unit_price "
                        f"FROM range({6 * n}) t(i) WHERE i % 2 = 0")
    copy("events", f"SELECT (i % {n})::BIGINT AS user_id, {t0} + INTERVAL (i % 500000) MINUTE AS ts, "
                   "(i // 20)::BIGINT AS session_id, (['view','click','cart'])[1 + i % 3] AS event_type, "
                   "(i % 10000)::BIGINT AS item_id, (['feed','rec','search'])[1 + i % 3] AS source, "
                   "CASE WHEN i % 3 = 1 THEN (['als','itemknn'])[1 + i % 2] END AS algo_variant "
                   f"FROM range({10 * n}) t(i)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--make", type=int, metavar="USERS", help="first write a synthetic dataset of this many users")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--tables", help="comma-separated contract tables to check")
    a = ap.parse_args(argv)
    if a.make:
        t = time.perf_counter()
        make_synthetic(a.dir, a.make)
        print(f"synthetic dataset ({a.make:,} users) written in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    from fission.data.validate import errors, format_report, validate
    t = time.perf_counter()
    st: dict = {}
    problems = validate(a.dir, a.tables.split(",") if a.tables else None,
                        memory_limit=a.memory_limit, threads=a.threads, stats=st)
    secs = time.perf_counter() - t
    print(format_report([p for p in problems if p.rule != "table_absent"], st.get("tables")))
    rows = sum(st.get("rows", {}).values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"validate {a.dir}: {st.get('tables', 0)} tables, {rows:,} rows in {secs:.1f} s; "
          f"peak RSS {peak_mb:,.0f} MB; {len(errors(problems))} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
