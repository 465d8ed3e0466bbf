"""Staging: atomic, idempotent, re-staged when inputs change, manifest and fingerprint."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from fission.data import staging as S
from fission.params import DataParams, Edition, ScaleParams
from test_validate import make_valid, valid_frames, write


def edition(name="t", seed=1, users=1000, source="simulated", path=None) -> Edition:
    data = DataParams(source=source, path=str(path) if path else None)
    return Edition.model_construct(edition=name, year=2025, compare_year=2024, seed=seed,
                                   chapters=["01_industry_background"], scale=ScaleParams(users=users),
                                   data=data)


class FakeSim:
    """Writes the small valid dataset (times shifted by the seed); counts its calls."""

    def __init__(self, broken: bool = False):
        self.calls = 0
        self.broken = broken

    def __call__(self, out, *, year, users, seed):
        self.calls += 1
        frames = valid_frames(seed=seed % 5)
        if self.broken:
            frames["orders"] = frames["orders"].assign(gmv=[1.0, -1.0, 2.0, 3.0])
        write(frames, Path(out))


def snapshot(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_stage_simulated_manifest(tmp_path):
    sim = FakeSim()
    m = S.stage(edition(seed=3), root=tmp_path, simulate=sim)
    d = tmp_path / "t"
    assert sim.calls == 1 and (d / "manifest.json").is_file()
    assert json.loads((d / "manifest.json").read_text()) == m
    assert m["edition"] == "t" and m["source"] == "simulated" and m["simulated"] is True
    assert m["seed"] == 3 and m["users"] == 1000 and m["year"] == 2025
    assert m["tables"]["orders"] == {"rows": 4, "files": ["orders.parquet"]}
    made = {"users", "suppliers", "items", "orders", "order_items", "shares", "tickets"}
    # tables the simulator does not make come from the packaged examples, when present
    examples = {p.stem for p in S.EXAMPLES_DIR.glob("*.csv")} & {"risk_register", "market"}
    assert set(m["tables"]) == made | examples
    assert len(m["fingerprint"]) == 64 and m["short_fingerprint"] == m["fingerprint"][:12]
    assert S.short_fingerprint(m) == m["fingerprint"][:12]
    assert m["inputs"]["source"] == "simulated" and m["inputs"]["seed"] == 3
    assert m["inputs"]["users"] == 1000 and m["inputs"]["year"] == 2025 and "simulator" in m["inputs"]
    assert m["fingerprint"] == S.fingerprint(d)
    assert S.read_manifest("t", root=tmp_path) == m
    assert S.read_manifest(d) == m
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".t.tmp")] == []


def test_idempotent_skip_is_fast(tmp_path):
    sim = FakeSim()
    m1 = S.stage(edition(), root=tmp_path, simulate=sim)
    before = snapshot(tmp_path / "t")
    t = time.perf_counter()
    m2 = S.stage(edition(), root=tmp_path, simulate=sim)
    assert time.perf_counter() - t < 0.5
    assert sim.calls == 1 and m2 == m1 and snapshot(tmp_path / "t") == before
    S.stage(edition(), root=tmp_path, simulate=sim, force=True)
    assert sim.calls == 2


def test_restage_when_seed_changes(tmp_path):
    sim = FakeSim()
    m1 = S.stage(edition(seed=1), root=tmp_path, simulate=sim)
    m2 = S.stage(edition(seed=2), root=tmp_path, simulate=sim)
    assert sim.calls == 2 and m2["seed"] == 2 and m2["fingerprint"] != m1["fingerprint"]
    assert S.read_manifest("t", root=tmp_path)["seed"] == 2


def test_restage_when_a_staged_file_disappears(tmp_path):
    sim = FakeSim()
    S.stage(edition(), root=tmp_path, simulate=sim)
    (tmp_path / "t" / "orders.parquet").unlink()
    S.stage(edition(), root=tmp_path, simulate=sim)
    assert sim.calls == 2 and (tmp_path / "t" / "orders.parquet").is_file()


def test_fingerprint_is_deterministic(tmp_path):
    m1 = S.stage(edition(seed=4), root=tmp_path / "a", simulate=FakeSim())
    m2 = S.stage(edition(seed=4), root=tmp_path / "b", simulate=FakeSim())
    assert m1["fingerprint"] == m2["fingerprint"]
    assert m1["made_at"] and m1["inputs"] == m2["inputs"]


def test_failed_validation_keeps_previous_data(tmp_path):
    S.stage(edition(seed=1), root=tmp_path, simulate=FakeSim())
    before = snapshot(tmp_path / "t")
    with pytest.raises(S.StagingError) as e:
        S.stage(edition(seed=2), root=tmp_path, simulate=FakeSim(broken=True))
    msg = str(e.value)
    assert "orders.gmv: negative amount in 1 row" in msg and "untouched" in msg
    assert snapshot(tmp_path / "t") == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["t"]


def test_crash_in_simulator_keeps_previous_data(tmp_path):
    S.stage(edition(seed=1), root=tmp_path, simulate=FakeSim())
    before = snapshot(tmp_path / "t")

    def boom(out, **kw):
        (Path(out) / "users.parquet").write_bytes(b"half")
        raise RuntimeError("simulator died")
    with pytest.raises(RuntimeError):
        S.stage(edition(seed=2), root=tmp_path, simulate=boom)
    assert snapshot(tmp_path / "t") == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".trash-" in p.name] == []


def test_swap_failure_restores_old(tmp_path, monkeypatch):
    S.stage(edition(seed=1), root=tmp_path, simulate=FakeSim())
    before = snapshot(tmp_path / "t")
    real = S.os.replace
    calls = []

    def flaky(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError("disk full")
        return real(a, b)
    monkeypatch.setattr(S.os, "replace", flaky)
    with pytest.raises(OSError):
        S.stage(edition(seed=2), root=tmp_path, simulate=FakeSim())
    monkeypatch.setattr(S.os, "replace", real)
    assert snapshot(tmp_path / "t") == before


def test_directory_source(tmp_path):
    src = make_valid(tmp_path / "src", "csv")
    frames = valid_frames()
    frames["orders"].assign(note="extra").to_csv(src / "orders.csv", index=False)  # extra column
    before = snapshot(src)
    ed = edition(source="directory", path=src)
    m = S.stage(ed, root=tmp_path / "staged")
    d = tmp_path / "staged" / "t"
    assert snapshot(src) == before
    assert m["source"] == str(src.resolve()) and m["simulated"] is False and m["seed"] is None
    assert m["users"] == 6
    assert {f["path"] for f in m["inputs"]["files"]} >= {"users.csv", "orders.csv"}
    staged = pd.read_parquet(d / "orders.parquet")
    assert "note" not in staged.columns
    assert str(staged["order_id"].dtype) == "int64" and str(staged["order_ts"].dtype).startswith("datetime64")
    assert S.stage(ed, root=tmp_path / "staged") == m  # unchanged → skipped
    # fingerprint deterministic across two conversions
    m2 = S.stage(ed, root=tmp_path / "staged2")
    assert m2["fingerprint"] == m["fingerprint"]
    # touching a source file re-stages
    time.sleep(0.01)
    frames["users"].to_csv(src / "users.csv", index=False)
    m3 = S.stage(ed, root=tmp_path / "staged")
    assert m3["made_at"] and m3["inputs"] != m["inputs"]


def test_bad_directory_source(tmp_path):
    frames = valid_frames()
    frames["orders"] = frames["orders"].assign(user_id=[1, 2, 99, 3])
    src = write(frames, tmp_path / "src")
    before = snapshot(src)
    with pytest.raises(S.StagingError) as e:
        S.stage(edition(source="directory", path=src), root=tmp_path / "staged")
    assert "orders.user_id: foreign key" in str(e.value) and "fission validate" in str(e.value)
    assert snapshot(src) == before
    assert not (tmp_path / "staged" / "t").exists()


def test_read_manifest_missing(tmp_path):
    with pytest.raises(S.ManifestMissing, match="make data"):
        S.read_manifest("nothing", root=tmp_path)
    with pytest.raises(FileNotFoundError):
        S.read_manifest(tmp_path / "nothing")


# --- own Parquet that already conforms: referenced, not rewritten; validated once ---------------
def conforming_dir(tmp_path) -> Path:
    """A directory of Parquet files that have the contract's columns and types exactly: the
    files staging writes from the small valid CSV dataset, copied out as the company's own."""
    S.stage(edition(source="directory", path=make_valid(tmp_path / "csv", "csv")), root=tmp_path / "first")
    out = tmp_path / "own"
    out.mkdir()
    for f in (tmp_path / "first" / "t").glob("*.parquet"):
        (out / f.name).write_bytes(f.read_bytes())
    return out


def count_validate(monkeypatch) -> list:
    calls = []
    real = S.validate
    monkeypatch.setattr(S, "validate", lambda *a, **kw: (calls.append(a[0]), real(*a, **kw))[1])
    return calls


def test_conforming_parquet_is_referenced_not_rewritten(tmp_path, monkeypatch):
    src = conforming_dir(tmp_path)
    before = snapshot(src)
    calls = count_validate(monkeypatch)
    m = S.stage(edition(source="directory", path=src), root=tmp_path / "staged")
    d = tmp_path / "staged" / "t"
    assert calls == [src]    # checked once, on the input; the staged links are not checked again
    assert m["tables"] and {t["staged_as"] for t in m["tables"].values()} == {"referenced"}
    for t in m["tables"].values():
        for f in t["files"]:   # a link to the input file, no new Parquet written
            assert (d / f).is_symlink() and (d / f).resolve() == (src / f).resolve()
    assert [p for p in d.rglob("*.parquet") if not p.is_symlink()] == []
    assert set(m["references"]) == {f for t in m["tables"].values() for f in t["files"]}
    assert m["references"]["orders.parquet"]["size"] == (src / "orders.parquet").stat().st_size
    assert snapshot(src) == before
    # the fingerprint is the bytes': the same as the copy staged from the same bytes
    assert m["fingerprint"] == S.read_manifest(tmp_path / "first" / "t")["fingerprint"] == S.fingerprint(d)
    from fission.data.load import connect
    assert connect(d).execute("SELECT count(*) FROM orders").fetchone()[0] == 4
    # staging again swaps the old links out and deletes them, never what they point to
    S.stage(edition(source="directory", path=src), root=tmp_path / "staged", force=True)
    assert snapshot(src) == before and len(calls) == 2


def test_non_conforming_file_is_still_converted(tmp_path, monkeypatch):
    src = conforming_dir(tmp_path)
    import duckdb
    orders = (src / "orders.parquet").as_posix()
    # order_id stored as INTEGER: accepted by the contract, but not the staged type (BIGINT)
    duckdb.sql(f"COPY (SELECT * REPLACE (order_id::INTEGER AS order_id) FROM '{orders}') "
               f"TO '{src / 'o.parquet'}' (FORMAT parquet)")
    (src / "o.parquet").replace(src / "orders.parquet")
    # pandas writes nanosecond timestamps (TIMESTAMP_NS) and an extra column: converted too
    frames = valid_frames()
    frames["tickets"].assign(note="x").to_parquet(src / "tickets.parquet", index=False)
    calls = count_validate(monkeypatch)
    m = S.stage(edition(source="directory", path=src), root=tmp_path / "staged")
    d = tmp_path / "staged" / "t"
    assert len(calls) == 1
    assert m["tables"]["orders"]["staged_as"] == m["tables"]["tickets"]["staged_as"] == "converted"
    assert m["tables"]["users"]["staged_as"] == "referenced"
    assert not (d / "orders.parquet").is_symlink() and (d / "users.parquet").is_symlink()
    assert "orders.parquet" not in m["references"] and "users.parquet" in m["references"]
    typ = {r[0]: r[1] for r in duckdb.sql(f"DESCRIBE SELECT * FROM '{d / 'orders.parquet'}'").fetchall()}
    assert typ["order_id"] == "BIGINT"
    assert "note" not in pd.read_parquet(d / "tickets.parquet").columns


def test_csv_source_is_validated_once(tmp_path, monkeypatch):
    src = make_valid(tmp_path / "src", "csv")
    calls = count_validate(monkeypatch)
    m = S.stage(edition(source="directory", path=src), root=tmp_path / "staged")
    assert calls == [src] and "references" not in m
    assert {t["staged_as"] for t in m["tables"].values()} == {"converted"}


def test_changed_input_after_staging_is_noticed(tmp_path, monkeypatch):
    from fission.data.load import StagedDataChanged, connect
    src = conforming_dir(tmp_path)
    ed = edition(source="directory", path=src)
    root = tmp_path / "staged"
    m1 = S.stage(ed, root=root)
    d = root / "t"
    # a new value in a referenced file, written by the company after staging
    import duckdb
    users = (src / "users.parquet").as_posix()
    duckdb.sql(f"COPY (SELECT * REPLACE (CASE WHEN user_id = 1 THEN '上海' ELSE province END AS province) "
               f"FROM '{users}') TO '{src / 'u.parquet'}' (FORMAT parquet)")
    (src / "u.parquet").replace(src / "users.parquet")
    with pytest.raises(StagedDataChanged, match="users.parquet"):
        connect(d)   # the chapters do not read data the fingerprint no longer describes
    calls = count_validate(monkeypatch)
    m2 = S.stage(ed, root=root)   # noticed: checked and staged again
    assert len(calls) == 1 and m2["inputs"] != m1["inputs"]
    assert m2["fingerprint"] != m1["fingerprint"]
    assert connect(d).execute("SELECT province FROM users WHERE user_id = 1").fetchone()[0] == "上海"
    assert S.stage(ed, root=root) == m2 and len(calls) == 1   # unchanged now: reused
    # the same bytes touched (mtime only): re-checked, same fingerprint
    import os
    st = (src / "users.parquet").stat()
    os.utime(src / "users.parquet", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    m3 = S.stage(ed, root=root)
    assert len(calls) == 2 and m3["fingerprint"] == m2["fingerprint"]
    # the input deleted: the link dangles, connect refuses, staging says what is missing
    (src / "users.parquet").unlink()
    with pytest.raises(StagedDataChanged, match="gone"):
        connect(d)
    with pytest.raises(S.StagingError, match="users"):
        S.stage(ed, root=root)


def test_input_changing_during_staging_fails(tmp_path, monkeypatch):
    src = conforming_dir(tmp_path)
    root = tmp_path / "staged"
    S.stage(edition(source="directory", path=make_valid(tmp_path / "old", "csv")), root=root)
    before = snapshot(root / "t")
    real = S.validate

    def export_still_running(*a, **kw):
        out = real(*a, **kw)
        with open(src / "orders.parquet", "ab") as fh:   # the file grows after the check
            fh.write(b"\0")
        return out
    monkeypatch.setattr(S, "validate", export_still_running)
    with pytest.raises(S.StagingError, match="changed while"):
        S.stage(edition(source="directory", path=src), root=root)
    assert snapshot(root / "t") == before
    assert (src / "users.parquet").is_file()   # removing the failed build's links kept their targets
    assert [p.name for p in root.iterdir() if ".tmp-" in p.name] == []
