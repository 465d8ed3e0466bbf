"""Map a company's own exports onto the data contract.

Real exports never look like the contract: an order-line CSV with Chinese headers in GBK,
amounts in 分, local times, no user table. A mapping file (YAML, ``docs/mapping.md``) says how
the files become contract tables; :func:`apply_mapping` does the work in DuckDB (nothing is
loaded into pandas) and writes contract-typed Parquet tables, which staging then validates
exactly like a ``directory`` source.

    m = load_mapping("params/examples/online_retail.mapping.yaml")   # MappingError: one line each
    report = apply_mapping(m, out_dir, quarantine=False)              # what was read, derived, set aside

Rows that break a mapping rule (a missing required id, an unreadable time or number, a negative
quantity not marked as a cancellation, a value outside a closed list …) stop the mapping with
one line per rule — table, column, rule, count, examples — unless ``quarantine`` is set: then
they are written to ``_rejected/<table>.parquet`` with the rule they broke and counted in the
report. Nothing is dropped silently; a declared ``filter`` is counted too. Input files are only
ever read (a file that must be re-encoded is copied to a private temp directory first).
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .contract import TABLES, Column
from .load import files_sql, memory_cap
from .validate import DUCK_TYPE, ZONE_RE, lit, q

#: the contract's clock: timestamps are UTC+8 wall time without a zone
CONTRACT_TZ = "Asia/Shanghai"
#: the tables an order-line source makes, and the ones derived from it when absent
LINE_TABLES = ("orders", "order_items")
DERIVABLE = ("users", "items", "suppliers")
N_EXAMPLES = 3
ROW_GROUP_ROWS = 65_536   # as staging.convert_table: bounded Parquet writer memory
SNIFF_BYTES = 1 << 20     # encoding detection reads the first MiB (decompressed)


class MappingError(ValueError):
    """The mapping file or the data it maps is wrong; the message says what, where, what to do."""


# --- the mapping file ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scalar = str | int | float | bool | None


class FillSQL(_Strict):
    sql: str = Field(..., description="SQL over the table's other columns (e.g. 'u' || user_id)")


class SourceSpec(_Strict):
    """One export: a file pattern (or several) read as one table."""
    files: list[str] = Field(..., min_length=1, description="glob patterns, relative to the mapping file")
    format: Literal["auto", "csv", "tsv", "parquet", "jsonl", "excel"] = "auto"
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gbk", "gb18030"] = "auto"
    delimiter: str | None = Field(None, description="CSV field separator; default: detected (tsv: tab)")
    header: bool = True
    sheet: str | int | None = Field(None, description="Excel: the sheet, by name or by position from 0 "
                                    "(default: the first)")
    header_row: int | None = Field(None, ge=1, description="Excel: the row number of the header as Excel "
                                   "shows it (default 1); the rows above it (a title, notes) are skipped")
    rename: dict[str, str] = Field(default_factory=dict, description="source column -> new name")
    filter: str | None = Field(None, description="SQL condition; rows where it is not true are "
                               "left out and counted (a declared choice, not an error)")
    timezone: str | None = Field(None, description="zone of the source's zone-less times "
                                 "(default: the mapping's timezone)")
    money_unit: Literal["yuan", "fen"] | None = None
    ts_format: str | None = Field(None, description="strptime format of the times, e.g. %Y/%m/%d %H:%M")

    @field_validator("files", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v


class Part(_Strict):
    """Columns of a contract table: from the source (SQL) or placeholders (not in the source)."""
    columns: dict[str, str] = Field(default_factory=dict, description="contract column -> SQL over the source")
    fill: dict[str, Scalar | FillSQL] = Field(default_factory=dict,
                                                description="contract column -> placeholder, not in the source")
    value_maps: dict[str, dict[str, Scalar]] = Field(default_factory=dict,
                                                      description="contract column -> {source value: value}")


class TableSpec(Part):
    """A contract table read from one source, row for row."""
    source: str


class OrderLinesSpec(_Strict):
    """Orders and order items (and, when absent, users/items/suppliers) from one order-line table."""
    source: str
    order_id: str
    user_id: str
    order_ts: str
    item_id: str
    qty: str
    unit_price: str
    cancelled: str | None = Field(None, description="SQL condition true on a cancellation line "
                                  "(sign convention); its quantity is taken as positive")
    status: str | None = Field(None, description="SQL giving the order status (through value_maps.status)")
    value_maps: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    orders: Part = Part()


class Mapping(_Strict):
    version: Literal[1] = 1
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$",
                          description="currency of the source's amounts (ISO 4217); never converted")
    money_unit: Literal["yuan", "fen"] = Field("yuan", description="fen: amounts in hundredths (分, cents)")
    timezone: str = Field(CONTRACT_TZ, description="zone of the source's zone-less times")
    sources: dict[str, SourceSpec] = Field(..., min_length=1)
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    order_lines: OrderLinesSpec | None = None
    derive: dict[str, Part] = Field(default_factory=dict)
    notes: list[str] | dict[Literal["zh", "en"], list[str]] = Field(
        default_factory=list, description="said in the data notes as written; {zh: […], en: […]} "
                                          "to give them in the book's language")

    @model_validator(mode="after")
    def _consistent(self):
        srcs = set(self.sources)
        for name, t in self.tables.items():
            if name not in TABLES:
                raise ValueError(f"tables.{name}: no table {name!r} in the data contract; known: {', '.join(TABLES)}")
            if t.source not in srcs:
                raise ValueError(f"tables.{name}.source: no source {t.source!r} (sources: {', '.join(srcs)})")
            _check_part(f"tables.{name}", TABLES[name], t)
        ol = self.order_lines
        if ol is not None:
            if ol.source not in srcs:
                raise ValueError(f"order_lines.source: no source {ol.source!r} (sources: {', '.join(srcs)})")
            both = [t for t in LINE_TABLES if t in self.tables]
            if both:
                raise ValueError(f"tables.{both[0]}: made from order_lines already; map it in one place")
            _check_part("order_lines.orders", TABLES["orders"], ol.orders)
            for c in ol.value_maps:
                if c not in ("status",):
                    raise ValueError(f"order_lines.value_maps.{c}: only status has a value map here "
                                     "(map other columns under order_lines.orders.value_maps)")
        for name, part in self.derive.items():
            if name not in DERIVABLE:
                raise ValueError(f"derive.{name}: only {', '.join(DERIVABLE)} can be derived")
            if name in self.tables:
                raise ValueError(f"derive.{name}: the table is mapped under tables already")
            if ol is None:
                raise ValueError(f"derive.{name}: derivations need order_lines")
            _check_part(f"derive.{name}", TABLES[name], part)
        made = set(self.tables) | set(self.derive) | (set(LINE_TABLES) if ol else set())
        missing = [n for n, t in TABLES.items() if t.required and n not in made]
        if missing:
            how = ("map them under tables:, or derive them from order_lines under derive:"
                   if ol else "map them under tables:, or give an order_lines: section")
            raise ValueError(f"required contract tables not made: {', '.join(missing)}; {how}")
        return self


def _check_part(where: str, table, part: Part) -> None:
    for group in ("columns", "fill", "value_maps"):
        for c in getattr(part, group):
            if c not in table.names:
                raise ValueError(f"{where}.{group}.{c}: {table.name} has no column {c!r}; "
                                 f"its columns: {', '.join(table.names)}")
    both = set(part.columns) & set(part.fill)
    if both:
        raise ValueError(f"{where}: {sorted(both)[0]} is both mapped (columns) and filled (fill); choose one")


def _yaml_error(e, path: Path) -> str:
    pm = getattr(e, "problem_mark", None)
    what = getattr(e, "problem", None) or str(e).splitlines()[0]
    at = f" at line {pm.line + 1}, column {pm.column + 1}" if pm else ""
    return f"{path} is not valid YAML: {what}{at}; fix that line (docs/mapping.md shows the layout)"


def load_mapping(path: str | Path) -> "LoadedMapping":
    """Read and check a mapping file; every problem is one line naming the key and what to do.
    Source patterns are resolved against the file's folder and must match at least one file."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"mapping file {path} does not exist; set data.mapping to its path "
                           "(docs/mapping.md shows how to write one)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MappingError(_yaml_error(e, path)) from None
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected keys (sources:, tables: or order_lines:, …), got {type(raw).__name__}")
    try:
        m = Mapping.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and not isinstance(
                err.get("input"), (dict, list)) and "input" in err else ""
            lines.append(f"{path}: {key + ': ' if key else ''}{msg}{got}")
        raise MappingError("\n".join(lines)) from None
    files = {}
    for name, s in m.sources.items():
        found: list[Path] = []
        for pat in s.files:
            p = Path(pat).expanduser()
            base, rel = (Path(p.anchor), p.relative_to(p.anchor)) if p.is_absolute() else (path.parent, p)
            hits = sorted(x for x in base.glob(rel.as_posix()) if x.is_file())
            if not hits:
                raise MappingError(f"{path}: sources.{name}.files: no file matches {pat!r} "
                                   f"(looked in {base.resolve()})")
            found += [h for h in hits if h not in found]
        fmts = {_format(s, f) for f in found}
        if len(fmts) > 1:
            raise MappingError(f"{path}: sources.{name}: files of different formats ({', '.join(sorted(fmts))}); "
                               "make one source per format")
        files[name] = found
    return LoadedMapping(path=path.resolve(), spec=m, files=files)


class LoadedMapping:
    """A checked mapping with its source files found."""

    def __init__(self, path: Path, spec: Mapping, files: dict[str, list[Path]]):
        self.path, self.spec, self.files = path, spec, files

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def inputs(self) -> dict:
        """What the staged data depends on: the mapping's bytes and each source file's size/mtime."""
        out = []
        for name, fs in self.files.items():
            for f in fs:
                st = f.stat()
                out.append({"source": name, "path": str(f.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        return {"mapping": str(self.path), "mapping_sha256": self.sha256(),
                "mapper_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), "files": out}


def _format(s: SourceSpec, f: Path) -> str:
    if s.format != "auto":
        return s.format
    suf = [x.lower() for x in f.suffixes if x.lower() not in (".gz", ".zst")]
    ext = suf[-1] if suf else ""
    return {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl",
            ".ndjson": "jsonl", ".json": "jsonl", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
            ".xlsb": "excel", ".ods": "excel"}.get(ext, "csv")


# --- encodings -------------------------------------------------------------------------------------
def _open_bytes(f: Path):
    return gzip.open(f, "rb") if f.suffix.lower() == ".gz" else open(f, "rb")


def detect_encoding(f: Path, declared: str = "auto") -> tuple[str, str]:
    """(encoding, how it was decided) of a text file, from its first MiB: a UTF-8 BOM →
    utf-8-sig; valid UTF-8 → utf-8; else GB18030 (a superset of GBK) if it decodes so."""
    if declared in ("gbk", "gb18030"):
        return "gb18030", f"declared {declared} (read as GB18030, its superset)"
    with _open_bytes(f) as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with a byte-order mark" + (" (declared)" if declared != "auto" else "")
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise MappingError(f"{f.name} is UTF-16 (Excel's 'Unicode Text'): save it as 'CSV UTF-8' or "
                           "convert it: iconv -f UTF-16 -t UTF-8")
    if declared in ("utf-8", "utf-8-sig"):
        return "utf-8", "declared utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8", "valid UTF-8 (first MiB)"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as e:
        raise MappingError(f"{f.name} is neither UTF-8 nor GBK/GB18030 (bytes {head[e.start:e.start + 8]!r} "
                           f"at {e.start}): set sources.<name>.encoding, or save the file as UTF-8") from None
    return "gb18030", "not UTF-8; decodes as GBK/GB18030 (first MiB)"


def _transcode(f: Path, encoding: str, out: Path) -> None:
    """Copy ``f`` as UTF-8 into ``out`` (streamed; the input is only read)."""
    with _open_bytes(f) as fin, open(out, "w", encoding="utf-8", newline="") as fout:
        reader = io.TextIOWrapper(fin, encoding=encoding, newline="")
        try:
            while chunk := reader.read(1 << 20):
                fout.write(chunk)
        except UnicodeDecodeError as e:
            raise MappingError(f"{f.name} is not {encoding} throughout ({e.reason} at byte {e.start} of a "
                               f"chunk): set sources.<name>.encoding, or save the file as UTF-8") from None


# --- Excel ---------------------------------------------------------------------------------------
# fastexcel (Rust calamine → Arrow) rather than openpyxl's read-only row stream: on 200,000
# Online Retail lines (8 columns) it took 4.4 s against openpyxl's 36 s (row by row in Python),
# and it reads .xls/.xlsb/.ods too. The price is memory: it holds one sheet's cells at a time
# rather than a batch of rows — bounded, as a sheet has at most 1,048,576 rows; the full
# 541,909-line file peaks at 457 MB (docs/mapping.md). The sheet goes to a temp Parquet file in
# row groups, which DuckDB then reads like any Parquet source; nothing goes through pandas.
def excel_to_parquet(f: Path, s: SourceSpec, where: str, out: Path) -> dict:
    """Write the chosen sheet of workbook ``f`` as text columns to ``out`` (Parquet); return what
    was read (sheet name, header row, rows). Cells come as text, like a CSV read with all_varchar:
    the mapping's types decide (a date cell reads '2025-04-20 15:37:00', a number cell '10479')."""
    import fastexcel
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        book = fastexcel.read_excel(str(f))
    except fastexcel.FastExcelError as e:
        raise MappingError(f"{where}: {f.name} is not a workbook fastexcel can read "
                           f"({str(e).strip().splitlines()[0][:200]}); save it as .xlsx or CSV (UTF-8)") from None
    names = list(book.sheet_names)
    sheet = 0 if s.sheet is None else s.sheet
    if isinstance(sheet, int) and not 0 <= sheet < len(names) and str(sheet) in names:
        sheet = str(sheet)   # a sheet named 2025 written unquoted in the YAML
    if sheet not in names and not (isinstance(sheet, int) and 0 <= sheet < len(names)):
        raise MappingError(f"{where}.sheet: {f.name} has no sheet {sheet!r}; its sheets: "
                           f"{', '.join(repr(n) for n in names)} (give a name, or a position from 0)")
    sheet_name = names[sheet] if isinstance(sheet, int) else sheet
    skip = (s.header_row or 1) - 1
    try:
        if s.header:
            batch = book.load_sheet(sheet_name, header_row=skip, dtypes="string").to_arrow()
        else:
            batch = book.load_sheet(sheet_name, header_row=None, skip_rows=skip or None, dtypes="string").to_arrow()
            # the names read_csv gives a header-less file
            batch = batch.rename_columns([f"column{i}" for i in range(batch.num_columns)])
    except fastexcel.FastExcelError as e:
        raise MappingError(f"{where}: sheet {sheet_name!r} of {f.name} cannot be read: "
                           f"{str(e).strip().splitlines()[0][:200]}") from None
    if batch.num_columns == 0:
        raise MappingError(f"{where}: sheet {sheet_name!r} of {f.name} has nothing from row {skip + 1} on; "
                           f"check sheet and header_row (its sheets: {', '.join(repr(n) for n in names)})")
    table = pa.Table.from_batches([batch])
    pq.write_table(table, out, row_group_size=ROW_GROUP_ROWS, compression="zstd")
    return {"sheet": sheet_name, "header_row": (skip + 1) if s.header else None, "rows": table.num_rows}


# --- SQL helpers -----------------------------------------------------------------------------------
_MACROS = [
    # a text key (stock code 85123A, SKU 货号) as a stable 60-bit id: the first 15 hex digits of
    # its md5; stable across runs and files, collisions ~1e-9 for a million keys
    "CREATE OR REPLACE MACRO text_id(x) AS CASE WHEN x IS NULL THEN NULL ELSE "
    "CAST(('0x' || substr(md5(CAST(x AS VARCHAR)), 1, 15)) AS BIGINT) END",
    # whole numbers only: DuckDB's cast would round '17850.5' to 17851
    "CREATE OR REPLACE MACRO _whole(x) AS CASE WHEN TRY_CAST(x AS DECIMAL(38, 6)) "
    "= TRY_CAST(x AS BIGINT) THEN TRY_CAST(x AS BIGINT) END",
    # 17850.0 (an id exported as a float) → 17850
    "CREATE OR REPLACE MACRO float_id(x) AS _whole(trim(CAST(x AS VARCHAR)))",
]


def _typed(col: Column, v: str, tz: str, unit: str, ts_format: str | None) -> str:
    """SQL turning the text/any value ``v`` into the contract type of ``col`` (NULL when unreadable)."""
    t = col.type
    if t in ("id", "int"):
        return f"_whole({v})"
    if t == "money":   # exact decimals: sums stay deterministic across threads
        d = f"TRY_CAST({v} AS DECIMAL(38, 6))"
        return f"CAST({d} / 100 AS DECIMAL(38, 6))" if unit == "fen" else d
    if t == "float":
        return f"TRY_CAST({v} AS DOUBLE)"
    if t == "ts":
        s = f"CAST({v} AS VARCHAR)"
        naive = f"try_strptime({s}, {lit(ts_format)})" if ts_format else f"TRY_CAST({s} AS TIMESTAMP)"
        if tz != CONTRACT_TZ:
            naive = f"timezone({lit(CONTRACT_TZ)}, timezone({lit(tz)}, {naive}))"
        zoned = f"timezone({lit(CONTRACT_TZ)}, TRY_CAST({s} AS TIMESTAMPTZ))"
        return f"CASE WHEN regexp_matches({s}, {lit(ZONE_RE)}) THEN {zoned} ELSE {naive} END"
    if t == "date":
        return f"TRY_CAST({v} AS DATE)"
    if t == "bool":
        return f"TRY_CAST({v} AS BOOLEAN)"
    return f"CAST({v} AS VARCHAR)"


def _mapped(expr: str, vmap: dict | None) -> str:
    """The value of ``expr`` through a value map (as text); values not in the map pass as they are."""
    if not vmap:
        return f"({expr})"
    whens = " ".join(f"WHEN {lit(str(k))} THEN {'NULL' if v is None else lit(str(v))}" for k, v in vmap.items())
    return f"(CASE CAST(({expr}) AS VARCHAR) {whens} ELSE CAST(({expr}) AS VARCHAR) END)"


class _Field:
    """One contract column computed per source row: raw text, typed value, and its rules."""

    def __init__(self, key: str, col: Column, expr: str, vmap: dict | None, src: SourceSpec, m: Mapping,
                 required: bool):
        self.key, self.col, self.expr, self.vmap, self.required = key, col, expr, vmap, required
        self.value = _mapped(expr, vmap)
        tz = src.timezone or m.timezone
        self.typed = _typed(col, f"r_{key}", tz, src.money_unit or m.money_unit, src.ts_format)

    def select(self) -> list[str]:
        return [f"CAST({self.value} AS VARCHAR) AS r_{self.key}"]

    def rules(self) -> list[tuple[str, str]]:
        """(rule, condition on the typed row) in the order they are checked."""
        r, v, out = f"r_{self.key}", f"v_{self.key}", []
        if self.required:
            out.append(("missing", f"{r} IS NULL OR trim({r}) = ''"))
        if self.col.type not in ("str", "cat"):   # with a value map: a value it does not know
            out.append(("unmapped_value" if self.vmap else "unreadable",
                        f"{r} IS NOT NULL AND trim({r}) <> '' AND {v} IS NULL"))
        if self.col.allowed is not None:
            vals = ", ".join(lit(x) for x in self.col.allowed)
            out.append(("unmapped_value" if self.vmap else "not_in_list", f"{v} IS NOT NULL AND {v} NOT IN ({vals})"))
        return out


RULE_TEXT = {
    "missing": "required value missing",
    "unreadable": "value not readable as {type}",
    "not_in_list": "value outside the closed list [{allowed}]",
    "unmapped_value": "value not in the value map{allowed}",
    "negative_qty": "negative quantity on a line not marked as a cancellation",
    "zero_qty": "quantity 0 (the contract wants at least 1)",
    "negative_price": "negative unit price",
    "order_conflict": "lines of one order disagree on {column}",
    "mixed_cancellation": "some lines of the order are cancellations and some are not",
    "order_incomplete": "another line of the same order broke a rule (orders are staged whole or not at all)",
}
RULE_FIX = {
    "missing": "fill it in the export, leave the rows out with a filter in the mapping, or stage with --quarantine",
    "unreadable": "fix the values or the expression (docs/mapping.md: types), or stage with --quarantine",
    "not_in_list": "add a value map for the column (value_maps:), or stage with --quarantine",
    "unmapped_value": "add the values to the column's value map, or stage with --quarantine",
}


# --- applying a mapping ------------------------------------------------------------------------------
class _Run:
    def __init__(self, lm: LoadedMapping, out: Path, quarantine: bool):
        self.lm, self.m, self.out, self.quarantine = lm, lm.spec, Path(out), quarantine
        self.work = Path(tempfile.mkdtemp(prefix="fission-map-"))
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order=true")   # row numbers = file order
        self.con.execute("SET enable_progress_bar=false")
        if limit := memory_cap():
            self.con.execute(f"SET memory_limit='{limit}'")
        self.con.execute(f"SET temp_directory='{(self.work / 'spill').as_posix()}'")
        for sql in _MACROS:
            self.con.execute(sql)
        self.report: dict[str, Any] = {
            "mapping": str(lm.path), "mapping_sha256": lm.sha256(), "currency": self.m.currency,
            "money_unit": self.m.money_unit, "timezone": self.m.timezone, "quarantine": quarantine,
            "notes": self.m.notes, "sources": {}, "tables": {}}

    def close(self):
        self.con.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def sql(self, query: str, where: str = ""):
        try:
            return self.con.execute(query)
        except duckdb.Error as e:
            first = str(e).strip().splitlines()[0][:300]
            raise MappingError(f"{self.lm.path}: {where or 'a mapping expression'} does not work: {first}") from None

    # -- sources --
    def scan(self, name: str) -> str:
        s, files = self.m.sources[name], self.lm.files[name]
        fmt = _format(s, files[0])
        info = {"format": fmt, "files": []}
        if fmt != "excel" and (s.sheet is not None or s.header_row is not None):
            raise MappingError(f"{self.lm.path}: sources.{name}: sheet and header_row are for Excel files; "
                               f"this source is {fmt}")
        if fmt in ("csv", "tsv"):
            read = []
            for i, f in enumerate(files):
                enc, how = detect_encoding(f, s.encoding)
                info["files"].append({"path": str(f), "encoding": enc, "encoding_note": how})
                if enc == "gb18030":   # DuckDB reads UTF-8 only (its encodings extension is not bundled)
                    t = self.work / f"{name}-{i}.csv"
                    _transcode(f, enc, t)
                    read.append(t)
                else:
                    read.append(f)
            delim = s.delimiter or ("\t" if fmt == "tsv" else None)
            opts = [f"header={'true' if s.header else 'false'}", "all_varchar=true", "union_by_name=true"]
            if delim:
                opts.append(f"delim={lit(delim)}")
            scan = f"read_csv({files_sql(read)}, {', '.join(opts)})"
        elif fmt == "parquet":
            info["files"] = [{"path": str(f)} for f in files]
            scan = f"read_parquet({files_sql(files)}, union_by_name=true)"
        elif fmt == "jsonl":
            info["files"] = [{"path": str(f), "encoding": "utf-8"} for f in files]
            scan = f"read_json({files_sql(files)}, format='newline_delimited', union_by_name=true)"
        else:   # excel: each workbook's sheet to a private Parquet file first (excel_to_parquet)
            read = []
            for i, f in enumerate(files):
                t = self.work / f"{name}-{i}.parquet"
                info["files"].append({"path": str(f)} | excel_to_parquet(f, s, f"{self.lm.path}: sources.{name}", t))
                read.append(t)
            scan = f"read_parquet({files_sql(read)}, union_by_name=true)"
        cols = [r[0] for r in self.sql(f"DESCRIBE SELECT * FROM {scan}", f"reading source {name}").fetchall()]
        if fmt in ("csv", "tsv") and len(cols) == 1 and s.delimiter is None:
            info["note"] = f"the header is one column ({cols[0][:40]!r}): set sources.{name}.delimiter"
        for old in s.rename:
            if old not in cols:
                raise MappingError(f"{self.lm.path}: sources.{name}.rename: no column {old!r} in the source; "
                                   f"its columns: {', '.join(cols)}")
        ren = f" RENAME ({', '.join(f'{q(a)} AS {q(b)}' for a, b in s.rename.items())})" if s.rename else ""
        keep = f"coalesce(({s.filter}), false)" if s.filter else "true"   # the filter sees the new names
        self.sql(f"CREATE TEMP TABLE {q('s_' + name)} AS SELECT row_number() OVER () AS __row, "
                 f"{keep} AS __keep, * FROM (SELECT *{ren} FROM {scan})",
                 f"sources.{name}" + (f".filter {s.filter!r}" if s.filter else ""))
        n, kept = self.sql(f"SELECT count(*), count(*) FILTER (WHERE __keep) FROM {q('s_' + name)}").fetchone()
        info.update(rows_read=n, rows_filtered_out=n - kept, filter=s.filter)
        self.report["sources"][name] = info
        return f"(SELECT * FROM {q('s_' + name)} WHERE __keep)"

    def check_exprs(self, src_name: str, exprs: dict[str, str]) -> None:
        """Each expression on its own, so a wrong one is named by its key."""
        for where, e in exprs.items():
            self.sql(f"DESCRIBE SELECT ({e}) FROM {q('s_' + src_name)}", f"{where} ({e!r})")

    # -- row rules --
    def typed_table(self, tname: str, src_name: str, fields: list[_Field], extra_sel: list[str],
                    extra_rules: list[tuple[str, str, str]]) -> None:
        """``tname`` := the source rows with r_/v_ columns, and __rule/__col of the first broken rule."""
        src = f"(SELECT * FROM {q('s_' + src_name)} WHERE __keep)"
        inner = ", ".join(["__row"] + [x for f in fields for x in f.select()] + extra_sel)
        typed = ", ".join(f"{f.typed} AS v_{f.key}" for f in fields)
        rules = [(rule, f.key, cond) for f in fields for rule, cond in f.rules()] + extra_rules
        rule_case = "CASE " + " ".join(f"WHEN {c} THEN {lit(r)}" for r, _, c in rules) + " END" if rules else "NULL"
        col_case = "CASE " + " ".join(f"WHEN {c} THEN {lit(k)}" for _, k, c in rules) + " END" if rules else "NULL"
        self.sql(f"CREATE TEMP TABLE {q(tname)} AS SELECT *, {rule_case} AS __rule, {col_case} AS __col FROM "
                 f"(SELECT *, {typed} FROM (SELECT {inner} FROM {src}))", f"mapping {tname}")

    def settle(self, tname: str, label: str, src_name: str, fields: dict[str, _Field]) -> dict:
        """Raise (strict) or set aside (quarantine) the rows of ``tname`` that broke a rule."""
        counts = {f"{r}:{_label(c)}": n for r, c, n in self.sql(
            f"SELECT __rule, __col, count(*) FROM {q(tname)} WHERE __rule IS NOT NULL "
            "GROUP BY ALL ORDER BY min(__row)").fetchall()}
        if not counts:
            return {}
        if not self.quarantine:
            lines = [self._line(tname, label, src_name, fields, r, c, n) for r, c, n in self.sql(
                f"SELECT __rule, __col, count(*) FROM {q(tname)} WHERE __rule IS NOT NULL "
                "GROUP BY ALL ORDER BY min(__row)").fetchall()]
            k = len(lines)
            raise MappingError(f"{self.lm.path}: {k} mapping rule{'s' if k != 1 else ''} broken:\n  "
                               + "\n  ".join(lines) + "\nNothing was staged; the input files are untouched.")
        (self.out / "_rejected").mkdir(exist_ok=True)
        target = (self.out / "_rejected" / f"{label}.parquet").as_posix()
        self.sql(f"COPY (SELECT s.* EXCLUDE (__keep), t.__rule AS rule, {_label_sql('t.__col')} AS {q('column')} "
                 f"FROM {q(tname)} t JOIN {q('s_' + src_name)} s USING (__row) WHERE t.__rule IS NOT NULL "
                 f"ORDER BY s.__row) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        return counts

    def _line(self, tname, label, src_name, fields, rule, col, n) -> str:
        f = fields.get(col)
        src_cols = _columns_in(f.expr, self.source_columns(src_name)) if f else []
        show = ", ".join(["__row"] + [q(c) for c in src_cols[:3]])
        ex = self.sql(f"SELECT {show} FROM {q(tname)} t JOIN {q('s_' + src_name)} s USING (__row) "
                      f"WHERE __rule = {lit(rule)} AND __col = {lit(col)} ORDER BY __row LIMIT {N_EXAMPLES}").fetchall()
        exs = "; ".join(f"row {r[0]}" + (" (" + ", ".join(f"{c}={_show(v)}" for c, v in zip(src_cols, r[1:])) + ")"
                                        if src_cols else "") for r in ex)
        ctab = f.col if f else None
        allowed = ", ".join(map(str, ctab.allowed or ())) if ctab else ""
        if rule == "unmapped_value":
            allowed = f" nor the closed list [{allowed}]" if allowed else f" nor readable as {ctab.type}"
        what = RULE_TEXT[rule].format(type=ctab.type if ctab else "", column=col, allowed=allowed)
        frm = f" (from {f.expr!r})" if f else ""
        fix = RULE_FIX.get(rule, "correct the rows in the export, or stage with --quarantine to set them aside")
        where = _label(col) if "." in _label(col) else f"{label}.{col}"
        return (f"{where}{frm}: {what} in {n:,} row{'s' if n != 1 else ''} of source {src_name}, "
                f"e.g. {exs} — {fix}")

    def source_columns(self, src_name: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE {q('s_' + src_name)}").fetchall()
                if r[0] not in ("__row", "__keep")]

    # -- writing --
    def write(self, name: str, select: str, order: str) -> int:
        target = (self.out / f"{name}.parquet").as_posix()
        self.sql(f"COPY ({select} ORDER BY {order}) TO '{target}' "
                 f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})", f"writing {name}")
        return self.con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]

    def out_columns(self, name: str, have: dict[str, str], part: Part) -> tuple[list[str], dict]:
        """The table's SELECT list in contract order: derived/mapped values, placeholders, nulls."""
        t = TABLES[name]
        sel, cols = [], {"source": [], "derived": [], "filled": {}, "absent": []}
        for c in t.columns:
            duck = DUCK_TYPE[c.type]
            if c.name in have:
                sel.append(f"CAST({have[c.name]} AS {duck}) AS {q(c.name)}")
                cols["source"].append(c.name)   # callers that derive columns say which
            elif c.name in part.fill:
                v = part.fill[c.name]
                sel.append(f"CAST(({v.sql if isinstance(v, FillSQL) else lit(v) if v is not None else 'NULL'}) "
                           f"AS {duck}) AS {q(c.name)}")
                cols["filled"][c.name] = {"sql": v.sql} if isinstance(v, FillSQL) else v
            elif c.nullable or c.optional:
                sel.append(f"CAST(NULL AS {duck}) AS {q(c.name)}")
                cols["absent"].append(c.name)
            else:
                raise MappingError(
                    f"{self.lm.path}: {name}.{c.name} is required by the contract but neither mapped nor "
                    f"filled: give it under columns: (from the source) or fill: (a placeholder, said in "
                    f"the data notes)")
        return sel, cols


_PREFIX = {"o_": "orders.", "u_": "users.", "i_": "items.", "s_": "suppliers."}


def _label(key: str) -> str:
    """A field's name for people: o_channel → orders.channel (order-level and derived columns)."""
    for p, t in _PREFIX.items():
        if key.startswith(p):
            return t + key[len(p):]
    return key


def _label_sql(col: str) -> str:
    return "CASE " + " ".join(f"WHEN starts_with({col}, {lit(p)}) THEN {lit(t)} || {col}[{len(p) + 1}:]"
                              for p, t in _PREFIX.items()) + f" ELSE {col} END"


def _columns_in(expr: str, cols: list[str]) -> list[str]:
    """Source columns an expression names (for examples in messages)."""
    return [c for c in cols if c in expr]


def _show(v) -> str:
    return "null" if v is None else (repr(v) if isinstance(v, str) and (v == "" or v != v.strip()) else str(v))


# -- the two kinds of table ----------------------------------------------------------------------------
def _direct(run: _Run, name: str, spec: TableSpec) -> None:
    t, m = TABLES[name], run.m
    src = m.sources[spec.source]
    if spec.source not in run.report["sources"]:
        run.scan(spec.source)
    run.check_exprs(spec.source, {f"tables.{name}.columns.{c}": e for c, e in spec.columns.items()})
    fields = {c: _Field(c, t.column(c), e, spec.value_maps.get(c), src, m,
                        required=not (t.column(c).nullable or t.column(c).optional))
              for c, e in spec.columns.items()}
    tmp = f"t_{name}"
    run.typed_table(tmp, spec.source, list(fields.values()), [], [])
    rejected = run.settle(tmp, name, spec.source, fields)
    sel, cols = run.out_columns(name, {c: f"v_{c}" for c in fields}, spec)
    n = run.write(name, f"SELECT {', '.join(sel)} FROM {q(tmp)} WHERE __rule IS NULL", "__row")
    rows_in = run.con.execute(f"SELECT count(*) FROM {q(tmp)}").fetchone()[0]
    run.report["tables"][name] = {"from": f"source {spec.source}, row for row", "rows_in": rows_in,
                                  "rows_written": n, "rejected": rejected, "derivations": [], "columns": cols}


def _order_lines(run: _Run, ol: OrderLinesSpec) -> None:
    m = run.m
    src = m.sources[ol.source]
    if ol.source not in run.report["sources"]:
        run.scan(ol.source)
    O, OI = TABLES["orders"], TABLES["order_items"]
    core = {"order_id": O.column("order_id"), "user_id": O.column("user_id"), "order_ts": O.column("order_ts"),
            "item_id": OI.column("item_id"), "qty": OI.column("qty"), "unit_price": OI.column("unit_price")}
    exprs = {f"order_lines.{k}": getattr(ol, k) for k in core}
    if ol.cancelled:
        exprs["order_lines.cancelled"] = ol.cancelled
    if ol.status:
        exprs["order_lines.status"] = ol.status
    exprs |= {f"order_lines.orders.columns.{c}": e for c, e in ol.orders.columns.items()}
    for dname, part in m.derive.items():
        exprs |= {f"derive.{dname}.columns.{c}": e for c, e in part.columns.items()}
    run.check_exprs(ol.source, exprs)

    fields: dict[str, _Field] = {k: _Field(k, c, getattr(ol, k), None, src, m, required=True) for k, c in core.items()}
    if ol.status:
        fields["status"] = _Field("status", O.column("status"), ol.status, ol.value_maps.get("status"), src, m, True)
    for c, e in ol.orders.columns.items():
        col = O.column(c)
        fields[f"o_{c}"] = _Field(f"o_{c}", col, e, ol.orders.value_maps.get(c), src, m,
                                  required=not col.nullable)
    for dname, part in m.derive.items():
        for c, e in part.columns.items():
            col = TABLES[dname].column(c)
            fields[f"{dname[0]}_{c}"] = _Field(f"{dname[0]}_{c}", col, e, part.value_maps.get(c), src, m,
                                               required=False)
    cancel = f"coalesce(({ol.cancelled}), false)" if ol.cancelled else "false"
    extra_rules = [
        ("zero_qty", "qty", "v_qty = 0"),
        ("negative_qty", "qty", "v_qty < 0 AND NOT __cancel"),
        ("negative_price", "unit_price", "v_unit_price < 0"),
    ]
    # the order-line table, its rule per row; then whole-order rules on the rows still good
    run.typed_table("L", ol.source, list(fields.values()), [f"{cancel} AS __cancel"], extra_rules)
    order_cols = ["v_user_id", "__cancel"] + [f"v_{k}" for k in fields if k.startswith("o_") or k == "status"]
    conflicts = ", ".join(f"count(DISTINCT {c}) > 1 AS {q('c_' + c)}" for c in order_cols)
    run.sql(f"CREATE TEMP TABLE conflict AS SELECT v_order_id, {conflicts} FROM L WHERE __rule IS NULL "
            f"GROUP BY 1 HAVING {' OR '.join(f'count(DISTINCT {c}) > 1' for c in order_cols)}")
    for c in order_cols:
        rule, col = ("mixed_cancellation", "cancelled") if c == "__cancel" else ("order_conflict", c[2:])
        run.sql(f"UPDATE L SET __rule = {lit(rule)}, __col = {lit(col)} WHERE __rule IS NULL AND v_order_id IN "
                f"(SELECT v_order_id FROM conflict WHERE {q('c_' + c)})")
    run.sql("UPDATE L SET __rule = 'order_incomplete', __col = 'order_id' WHERE __rule IS NULL AND v_order_id IN "
            "(SELECT DISTINCT v_order_id FROM L WHERE __rule IS NOT NULL AND v_order_id IS NOT NULL)")
    rejected = run.settle("L", "order_lines", ol.source, fields)
    rows_in = run.con.execute("SELECT count(*) FROM L").fetchone()[0]

    good = "(SELECT *, abs(v_qty) AS __q FROM L WHERE __rule IS NULL)"
    # derivations by key: the report words them in its language (report.cover.derive.<key>)
    notes_o = [{"key": "orders_from_lines"},
               {"key": "gmv_from_lines"} if "gmv" not in ol.orders.columns else {"key": "gmv_from_export"}]
    status = "'paid'"
    if ol.status:
        status = "min(v_status)"
        notes_o.append({"key": "status_from_export", "column": ol.status})
    if ol.cancelled:
        status = f"CASE WHEN bool_and(__cancel) THEN 'cancelled' ELSE {status} END"
        notes_o.append({"key": "cancellation_lines", "condition": ol.cancelled, "status_in_export": bool(ol.status)})
    have = {"order_id": "v_order_id", "user_id": "min(v_user_id)", "order_ts": "min(v_order_ts)",
            "gmv": "sum(__q * v_unit_price)", "status": status}
    have |= {c: f"min(v_o_{c})" for c in ol.orders.columns}
    sel, cols = run.out_columns("orders", have, ol.orders)
    cols["derived"] = [c for c in ("order_ts", "gmv", "status") if c not in ol.orders.columns]
    cols["source"] = ["order_id", "user_id", *ol.orders.columns]
    if not ol.status and not ol.cancelled:
        cols["filled"]["status"] = "paid"
        notes_o.append({"key": "all_paid"})
    run.sql(f"CREATE TEMP TABLE o_out AS SELECT {', '.join(sel)} FROM {good} GROUP BY v_order_id")
    n = run.write("orders", "SELECT * FROM o_out", "order_id")
    run.report["tables"]["orders"] = {"from": f"order lines (source {ol.source})", "rows_in": rows_in,
                                      "rows_written": n, "rejected": rejected, "derivations": notes_o,
                                      "columns": cols}
    n = run.write("order_items", f"SELECT v_order_id AS order_id, v_item_id AS item_id, "
                  f"CAST(sum(__q) AS BIGINT) AS qty, CAST(sum(__q * v_unit_price) / sum(__q) AS DOUBLE) AS unit_price "
                  f"FROM {good} GROUP BY 1, 2", "order_id, item_id")
    run.report["tables"]["order_items"] = {
        "from": f"order lines (source {ol.source})", "rows_in": rows_in, "rows_written": n, "rejected": rejected,
        "derivations": [{"key": "order_items_from_lines"}],
        "columns": {"source": ["order_id", "item_id"], "derived": ["qty", "unit_price"], "filled": {}, "absent": []}}
    _derive(run, good)


def _derive(run: _Run, good: str) -> None:
    m = run.m
    for name in ("items", "suppliers", "users"):   # suppliers come from items' supplier_id
        if name not in m.derive:
            continue
        part = m.derive[name]
        pre = f"{name[0]}_"
        cols_from_lines = {c: f"arg_min(v_{pre}{c}, __row)" for c in part.columns}
        if name == "users":
            have = {"user_id": "v_user_id", "signup_ts": "min(v_order_ts)"} | {
                c: f"arg_min(v_{pre}{c}, {{'t': v_order_ts, 'r': __row}})" for c in part.columns}
            frm, group, order = good, "GROUP BY v_user_id", "user_id"
            notes = [{"key": "users_from_orders"}]
        elif name == "items":
            have = {"item_id": "v_item_id", "list_price": "max(v_unit_price)"} | cols_from_lines
            frm, group, order = good, "GROUP BY v_item_id", "item_id"
            notes = [{"key": "items_from_lines"}]
        else:
            have = {"supplier_id": "supplier_id"}
            frm, group, order = "read_parquet('" + (run.out / "items.parquet").as_posix() + "')", \
                "GROUP BY supplier_id", "supplier_id"
            notes = [{"key": "suppliers_from_items"}]
        if part.columns:
            notes.append({"key": "first_order_columns" if name == "users" else "first_line_columns",
                          "columns": list(part.columns)})
        # the aggregates first, then the contract's columns over them: placeholders may refer to
        # the derived columns (e.g. device_hash from user_id)
        inner = ", ".join(f"{e} AS {q(c)}" for c, e in have.items())
        sel, cols = run.out_columns(name, {c: q(c) for c in have}, part)
        cols["derived"] = [c for c in have if c not in part.columns]
        cols["source"] = list(part.columns)
        n = run.write(name, f"SELECT {', '.join(sel)} FROM (SELECT {inner} FROM {frm} {group})", order)
        run.report["tables"][name] = {"from": "derived from the order lines" if name != "suppliers"
                                      else "derived from the items", "rows_in": None, "rows_written": n,
                                      "rejected": {}, "derivations": notes, "columns": cols}


def apply_mapping(mapping: LoadedMapping | str | Path, out_dir: str | Path, quarantine: bool = False) -> dict:
    """Write the contract tables the mapping makes into ``out_dir`` (Parquet, contract types) and
    return the report: per source the files, encodings and rows read/filtered; per table where it
    came from, rows in/written, rows set aside by rule, derivations and which columns came from the
    source, were derived, filled with placeholders or left null. Raises MappingError (strict mode:
    one line per broken rule)."""
    lm = mapping if isinstance(mapping, LoadedMapping) else load_mapping(mapping)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(lm, out, quarantine)
    try:
        for name, spec in lm.spec.tables.items():
            _direct(run, name, spec)
        if lm.spec.order_lines is not None:
            _order_lines(run, lm.spec.order_lines)
        if quarantine:
            run.report["rejected_files"] = sorted(
                p.relative_to(out).as_posix() for p in (out / "_rejected").glob("*.parquet")) \
                if (out / "_rejected").is_dir() else []
        return run.report
    finally:
        run.close()
