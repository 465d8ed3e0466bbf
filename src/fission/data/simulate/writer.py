"""Arrow/Parquet output with the contract's types; chunked writers for the big tables."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..contract import TABLES

ARROW = {"id": pa.int64(), "int": pa.int64(), "float": pa.float64(), "money": pa.float64(),
         "ts": pa.timestamp("us"), "date": pa.date32(), "str": pa.string(), "cat": pa.string(),
         "bool": pa.bool_()}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COMPRESSION = "zstd"


def schema(name: str) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW[c.type]) for c in TABLES[name].columns])


def cat(codes, labels, mask=None) -> pa.Array:
    """Strings from integer codes into ``labels`` (mask: True = null)."""
    codes = np.asarray(codes).astype(np.int32)
    d = pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), pa.array(list(labels), pa.string()))
    return d.cast(pa.string())


def hexstr(values: np.ndarray) -> pa.Array:
    """Fixed-width lowercase hex strings of uint64 values (16 chars)."""
    v = np.ascontiguousarray(np.asarray(values, dtype=">u8"))
    import binascii
    data = binascii.hexlify(v.tobytes())
    offsets = np.arange(0, 16 * (len(v) + 1), 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(v), pa.py_buffer(offsets), pa.py_buffer(data))


class Cat:
    """A categorical column: integer codes into labels, optional null mask."""

    def __init__(self, codes, labels, mask=None):
        self.codes, self.labels, self.mask = codes, labels, mask

    def array(self) -> pa.Array:
        m = None if self.mask is None or not np.asarray(self.mask).any() else np.asarray(self.mask, bool)
        return cat(self.codes, self.labels, m)


def column(typ: str, values, mask=None) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if typ == "ts":
        v = np.asarray(values, dtype=np.int64) * 1_000_000
        return pa.array(v, type=pa.timestamp("us"), mask=mask)
    if typ == "date":
        return pa.array(np.asarray(values).astype("datetime64[D]"), type=pa.date32(), mask=mask)
    if typ in ("id", "int"):
        return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)
    if typ in ("float", "money"):
        return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=mask)
    if typ == "bool":
        return pa.array(np.asarray(values, dtype=bool), type=pa.bool_(), mask=mask)
    return pa.array(values, type=pa.string(), mask=mask)


def make_table(name: str, cols: dict) -> pa.Table:
    """``cols``: column -> array, or (array, null_mask)."""
    sch = schema(name)
    t = TABLES[name]
    if set(cols) != set(t.names):
        raise ValueError(f"{name}: columns {sorted(cols)} != contract {sorted(t.names)}")
    arrays = []
    for c in t.columns:
        v = cols[c.name]
        mask = None
        if isinstance(v, Cat):
            arrays.append(v.array())
            continue
        if isinstance(v, tuple):
            v, mask = v
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                if not mask.any():
                    mask = None
        arrays.append(column(c.type, v, mask))
    return pa.Table.from_arrays(arrays, schema=sch)


class TableWriter:
    """Writes one table as ``<out>/<name>.parquet`` (row group per ``write``) or, with
    ``parts=True``, as ``<out>/<name>/part-NNNN.parquet``."""

    def __init__(self, out_dir: Path, name: str, parts: bool = False):
        self.out_dir, self.name, self.parts = Path(out_dir), name, parts
        self.rows = 0
        self._w = None
        self._n = 0
        if parts:
            (self.out_dir / name).mkdir(parents=True, exist_ok=True)

    def write(self, cols: dict) -> None:
        tab = cols if isinstance(cols, pa.Table) else make_table(self.name, cols)
        self.rows += tab.num_rows
        if self.parts:
            if tab.num_rows or self._n == 0:
                pq.write_table(tab, self.out_dir / self.name / f"part-{self._n:04d}.parquet",
                               compression=COMPRESSION, row_group_size=1 << 20)
                self._n += 1
            return
        if self._w is None:
            self._w = pq.ParquetWriter(self.out_dir / f"{self.name}.parquet", schema(self.name),
                                       compression=COMPRESSION)
        if tab.num_rows:
            self._w.write_table(tab, row_group_size=1 << 20)

    def close(self) -> int:
        if self.parts:
            if self._n == 0:
                pq.write_table(schema(self.name).empty_table(),
                               self.out_dir / self.name / "part-0000.parquet", compression=COMPRESSION)
        else:
            if self._w is None:
                self._w = pq.ParquetWriter(self.out_dir / f"{self.name}.parquet", schema(self.name),
                                           compression=COMPRESSION)
            self._w.close()
        return self.rows


def write_table(out_dir: Path, name: str, cols: dict) -> int:
    w = TableWriter(out_dir, name)
    w.write(cols)
    return w.close()


def write_examples(out_dir: Path) -> dict:
    """Copy the shipped example ``market`` and ``risk_register`` CSVs as contract-typed Parquet."""
    rows = {}
    for name in ("market", "risk_register"):
        with open(EXAMPLES / f"{name}.csv", encoding="utf-8", newline="") as f:
            recs = list(csv.DictReader(f))
        cols = {}
        for c in TABLES[name].columns:
            raw = [r[c.name] for r in recs]
            mask = np.array([x.strip() == "" for x in raw])
            if c.type in ("id", "int"):
                vals = np.array([int(x) if x.strip() else 0 for x in raw], dtype=np.int64)
            elif c.type in ("float", "money"):
                vals = np.array([float(x) if x.strip() else 0.0 for x in raw])
            else:
                vals = raw
            cols[c.name] = (vals, mask if c.nullable else None)
        rows[name] = write_table(out_dir, name, cols)
    return rows
