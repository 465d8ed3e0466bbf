"""Stage an edition's data: simulate it (or take the company's tables), check it against
the contract once, and publish it atomically as Parquet in ``data/staged/<edition>/`` with a
``manifest.json``. The company's Parquet files that already have the contract's columns and
types are referenced (symlinked, never copied or written); other files are converted.

    manifest = stage(edition)            # no-op (milliseconds) when nothing changed
    manifest = read_manifest("2025")     # what `run` and the chapters read

The manifest records what produced the data (``inputs``); when the inputs are unchanged the
staged data is reused. A failed build never touches the previously staged data.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Callable

from ..faults import checkpoint
from ..paths import REPO, STAGED
from .contract import TABLES
from .load import changed_references, memory_cap, table_files
from .load import OutOfMemory, retry_on_one_thread
from .validate import (DUCK_TYPE, errors, q, raw_scan_sql,
                       staged_schema, validate)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
ROW_GROUP_ROWS = 65_536
_HERE = Path(__file__).resolve().parent
SIMULATOR_DIR = _HERE / "simulate"
EXAMPLES_DIR = _HERE / "examples"


class StagingError(RuntimeError):
    """The data could not be staged; the message says why and what to do next."""


class ManifestMissing(StagingError, FileNotFoundError):
    """No staged data (or no manifest) for an edition."""


def _log(msg: str) -> None:
    print(f"[data] {msg}", file=sys.stderr, flush=True)


# --- inputs: what produced the staged data ----------------------------------------------------
def simulator_hash(sim_dir: Path = SIMULATOR_DIR) -> str | None:
    """sha256 over the simulator's source (``simulate/**/*.py``, relative names + bytes)."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(sim_dir).rglob("*.py") if "__pycache__" not in p.parts) \
        if Path(sim_dir).is_dir() else []
    sim_file = Path(sim_dir).with_suffix(".py")  # a single-module simulator
    if sim_file.is_file():
        files.append(sim_file)
    if not files:
        return None
    for p in files:
        h.update(p.relative_to(Path(sim_dir).parent).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def contract_hash() -> str:
    return hashlib.sha256((_HERE / "contract.py").read_bytes()).hexdigest()


def source_dir(edition) -> Path:
    """The directory of a ``data.source: directory`` edition (relative paths: from the repo)."""
    p = Path(edition.data.path).expanduser()
    return p if p.is_absolute() else (REPO / p)


def source_files(src: Path) -> list[dict]:
    """Every contract table file in ``src`` with its size and mtime (cheap to recompute)."""
    out = []
    for name in TABLES:
        for f in table_files(src, name):
            st = f.stat()
            out.append({"table": name, "path": f.relative_to(src).as_posix(),
                        "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def mapping_path(edition) -> Path:
    """The mapping file of a ``data.source: mapping`` edition (relative paths: from the repo)."""
    p = Path(edition.data.mapping).expanduser()
    return p if p.is_absolute() else (REPO / p)


def _load_mapping(edition):
    from .mapping import MappingError, load_mapping
    try:
        return load_mapping(mapping_path(edition))
    except MappingError as e:
        raise StagingError(str(e)) from None


def inputs_for(edition, sim_dir: Path = SIMULATOR_DIR) -> dict:
    """A description of everything that determines the staged data; equal inputs → reuse."""
    common = {"manifest_version": MANIFEST_VERSION, "contract": contract_hash(), "year": edition.year}
    if edition.simulated:
        return {"source": "simulated", "seed": edition.seed, "users": edition.scale.users,
                "simulator": simulator_hash(sim_dir), **common}
    if edition.data.source == "mapping":
        # the mapping's bytes, the mapper's code and each source file's size/mtime: a change re-stages
        return {"source": "mapping", "seed": None, "users": None, "quarantine": edition.data.quarantine,
                **_load_mapping(edition).inputs(), **common}
    src = source_dir(edition)
    return {"source": str(src.resolve()), "seed": None, "users": None,
            "files": source_files(src) if src.is_dir() else [], **common}


# --- fingerprint -------------------------------------------------------------------------------
def staged_files(d: Path) -> dict[str, list[Path]]:
    return {name: files for name in TABLES if (files := table_files(d, name))}


def fingerprint(d: Path) -> str:
    """sha256 over table names, file names and file bytes, in sorted order."""
    h = hashlib.sha256()
    for name, files in sorted(staged_files(Path(d)).items()):
        h.update(name.encode() + b"\0")
        for f in files:
            h.update(f.relative_to(d).as_posix().encode() + b"\0")
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()


def short_fingerprint(manifest_or_fp: dict | str) -> str:
    fp = manifest_or_fp["fingerprint"] if isinstance(manifest_or_fp, dict) else manifest_or_fp
    return fp[:12]


# --- building ----------------------------------------------------------------------------------
def _duck():
    import duckdb
    con = duckdb.connect(":memory:")
    con.execute("SET preserve_insertion_order=true")  # deterministic output files
    con.execute("SET enable_progress_bar=false")
    # capped like every connection, spilling to a private temp dir (an in-memory database
    # would otherwise spill into a .tmp folder in whatever directory the build runs from)
    if limit := memory_cap():
        con.execute(f"SET memory_limit='{limit}'")
    spill = tempfile.mkdtemp(prefix="fission-stage-")
    con.execute(f"SET temp_directory='{spill}'")
    weakref.finalize(con, shutil.rmtree, spill, True)
    return con


def convert_table(con, name: str, files: list[Path], out: Path) -> None:
    """Write one contract table as Parquet with the contract's types (only contract columns)."""
    t = TABLES[name]
    scan = raw_scan_sql(files)
    stored = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    cols = []
    for c in t.columns:
        if c.name in stored:
            cols.append(f"CAST({q(c.name)} AS {DUCK_TYPE[c.type]}) AS {q(c.name)}")
        else:  # the validator has already said so; keep the column so the schema is whole
            cols.append(f"CAST(NULL AS {DUCK_TYPE[c.type]}) AS {q(c.name)}")
    target = out.as_posix().replace("'", "''")
    # The Parquet writer holds a whole row group in memory and cannot spill it: 64k rows keep
    # that to a few MB, so a low memory cap still converts. Fixed, so the staged bytes do not
    # depend on the machine.
    retry_on_one_thread(con, f"COPY (SELECT {', '.join(cols)} FROM {scan}) TO '{target}' "
                             f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
                        memory_cap(), f"converting {name}")


def reference_table(name: str, files: list[Path], src: Path, out: Path) -> dict[str, dict]:
    """Stage a table whose Parquet files already conform by linking to them, not copying.

    Symlinks (absolute), not hard links: a hard link shares the input's bytes, so a write to
    the staged file would change the company's file, and it cannot cross file systems. The
    links are only ever read (connect, fingerprint, row counts); the manifest keeps each
    file's size and mtime so that a later change to the input is noticed (``stage`` re-stages,
    ``load.connect`` refuses). Returns ``{staged path: {table, target, size, mtime_ns}}``."""
    refs = {}
    for f in files:
        rel = f.relative_to(src)
        link = out / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        target = f.resolve()
        link.symlink_to(target)
        st = target.stat()
        refs[rel.as_posix()] = {"table": name, "target": str(target), "size": st.st_size,
                                "mtime_ns": st.st_mtime_ns}
    return refs


def _can_symlink(d: Path) -> bool:
    """Whether links can be made in ``d`` (not everywhere on Windows); else files are converted."""
    probe = d / ".symlink-probe"
    try:
        probe.symlink_to(d)
    except (OSError, NotImplementedError):
        return False
    probe.unlink()
    return True


def _stage_directory(edition, tmp: Path, inputs: dict) -> tuple[list, dict, dict]:
    """Check the company's directory once, then stage each table: conforming Parquet is
    referenced (linked), anything else converted. Returns (problems, staged_as, references).

    No second check of the staged copy: a referenced file is the checked file, and a converted
    one holds the values the check saw (the checker reads CSV with TRY_CAST to the same types
    that ``convert_table`` CASTs to, and reports every value that does not cast; Parquet
    casts within the accepted type families keep order and bounds; a value that still fails
    to cast stops the conversion with an error)."""
    src = source_dir(edition)
    t = time.perf_counter()
    _log(f"checking {src} against the contract …")
    st: dict = {}
    problems = validate(src, stats=st)
    if errors(problems):
        raise StagingError(_fail_message(problems, edition, f"the data in {src}"))
    _log(f"checked ({st.get('tables', 0)} tables) in {time.perf_counter() - t:.1f} s; staging …")
    t = time.perf_counter()
    con, staged_as, refs = None, {}, {}
    links = _can_symlink(tmp)
    for tname, table in TABLES.items():
        files = table_files(src, tname)
        if not files:
            continue
        if links and st["schemas"].get(tname) == staged_schema(table):
            refs.update(reference_table(tname, files, src, tmp))
            staged_as[tname] = "referenced"
        else:   # CSV, other types or names, extra or missing columns: written anew
            con = con or _duck()
            convert_table(con, tname, files, tmp / f"{tname}.parquet")
            staged_as[tname] = "converted"
    if con is not None:
        con.close()
    # a file changed while it was checked or converted: what was checked is not what is staged
    if source_files(src) != inputs["files"]:
        raise StagingError(f"files in {src} changed while they were being staged; run `make data` "
                           "again once the export is complete. The previously staged data is untouched.")
    n_ref = sum(v == "referenced" for v in staged_as.values())
    _log(f"staged in {time.perf_counter() - t:.1f} s: {n_ref} tables referenced as they are, "
         f"{len(staged_as) - n_ref} converted")
    return problems, staged_as, refs


def _rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _default_simulate():
    try:
        from .simulate import simulate  # noqa: PLC0415 - lazy: heavy, and written separately
    except ImportError as e:
        raise StagingError(f"the built-in simulator is not available ({e}); "
                           "set data.source: directory in the edition's parameters to use your own tables") from e
    return simulate


def _fail_message(problems, edition, what: str) -> str:
    lines = [p.line() for p in errors(problems)]
    shown = "\n  ".join(lines[:40]) + (f"\n  … and {len(lines) - 40} more" if len(lines) > 40 else "")
    if edition.simulated:
        nxt = ("The simulator produced data that breaks the contract: this is a bug in "
               "fission.data.simulate (or in contract.py); the previously staged data is untouched.")
    elif edition.data.source == "mapping":
        nxt = (f"The mapped tables break the contract: correct the mapping {mapping_path(edition)} "
               "(columns, value maps, fills) or the exports it reads, and run `make data` again. "
               "The previously staged data is untouched.")
    else:
        src = source_dir(edition)
        nxt = (f"Fix these in {src} (or export the tables again) and run `make data` again; "
               f"`fission validate {src}` checks the directory without staging. "
               "The previously staged data is untouched.")
    return f"{what} breaks the data contract ({len(lines)} rule{'s' if len(lines) != 1 else ''}):\n  {shown}\n{nxt}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_leftovers(root: Path, name: str) -> None:
    """Remove temp/trash dirs left by a build that was killed."""
    for p in [*root.glob(f".{name}.tmp-*"), *root.glob(f".{name}.trash-*")]:
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def _lock(root: Path, name: str):
    import fcntl
    with open(root / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _up_to_date(final: Path, inputs: dict) -> dict | None:
    mf = final / MANIFEST
    if not mf.is_file():
        return None
    try:
        m = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if m.get("inputs") != inputs:
        return None
    for info in m.get("tables", {}).values():  # cheap check that nobody deleted a file
        if not all((final / f).is_file() for f in info.get("files", [])):
            return None
    if changed_references(final, m):   # a referenced input file changed or went away
        return None
    return m


def stage(edition, root: Path = STAGED, simulate: Callable | None = None, force: bool = False) -> dict:
    """Make ``root/<edition>/`` hold the edition's data, checked against the contract.

    Reuses the staged data when its manifest's ``inputs`` equal the current ones (unless
    ``force``). Otherwise builds in ``root/.<edition>.tmp-<pid>``, validates (once), writes
    the manifest and swaps it in atomically. Raises ``StagingError`` (previous data untouched)."""
    t0 = time.perf_counter()
    root = Path(root)
    name = edition.edition
    final = root / name
    inputs = inputs_for(edition)
    if root.is_dir():
        _clean_leftovers(root, name)   # what a killed build left (only dead builds' folders)
    if not force and (m := _up_to_date(final, inputs)):
        _log(f"{final} is up to date (fingerprint {short_fingerprint(m)}), {time.perf_counter() - t0:.2f} s")
        return m
    if edition.data.source == "directory":
        src = source_dir(edition)
        if not src.is_dir():
            raise StagingError(f"data.path {src} is not a directory; set data.path in the edition's "
                               "parameters to the folder holding your tables (Parquet or CSV)")
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root, name):
        if not force and (m := _up_to_date(final, inputs)):  # someone else staged it meanwhile
            return m
        _clean_leftovers(root, name)
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            manifest = _build(edition, tmp, inputs, simulate, t0)
            checkpoint("staging")
            _swap(root, name, tmp)
        except OutOfMemory as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StagingError(f"{e}; the previously staged data is untouched") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _log(f"staged {final} (fingerprint {manifest['short_fingerprint']}) in {time.perf_counter() - t0:.1f} s")
    return manifest


def _build(edition, tmp: Path, inputs: dict, simulate, t0: float) -> dict:
    con = None
    mapped = None   # the mapping's report, for a mapping source
    problems = None   # the contract check, when made on the input (a directory source)
    staged_as: dict = {}
    refs: dict = {}
    if edition.simulated:
        sim = simulate or _default_simulate()
        t = time.perf_counter()
        _log(f"simulating {edition.scale.users:,} users, year {edition.year}, seed {edition.seed} …")
        sim(tmp, year=edition.year, users=edition.scale.users, seed=edition.seed)
        _log(f"simulated in {time.perf_counter() - t:.1f} s")
        # tables the simulator does not make (kept by analysts): the packaged examples
        for tname, tab in TABLES.items():
            ex = EXAMPLES_DIR / f"{tname}.csv"
            if not tab.simulated and not table_files(tmp, tname) and ex.is_file():
                con = con or _duck()
                convert_table(con, tname, [ex], tmp / f"{tname}.parquet")
        # a simulator writing CSV is converted in place (tmp is ours)
        for tname, files in staged_files(tmp).items():
            if files[0].suffix == ".csv":
                con = con or _duck()
                convert_table(con, tname, files, tmp / f"{tname}.parquet.part")
                for f in files:
                    f.unlink()
                (tmp / f"{tname}.parquet.part").rename(tmp / f"{tname}.parquet")
        source = "simulated"
    elif edition.data.source == "mapping":
        from .mapping import MappingError, apply_mapping
        lm = _load_mapping(edition)
        t = time.perf_counter()
        _log(f"mapping the exports through {lm.path} …")
        try:
            mapped = apply_mapping(lm, tmp, quarantine=edition.data.quarantine)
        except MappingError as e:
            raise StagingError(str(e)) from None
        _log(f"mapped in {time.perf_counter() - t:.1f} s")
        source = str(lm.path)
    else:
        problems, staged_as, refs = _stage_directory(edition, tmp, inputs)
        source = str(source_dir(edition).resolve())
    if con is not None:
        con.close()

    if problems is None:   # simulated or mapped: made by us in tmp, checked once there
        t = time.perf_counter()
        _log("validating the staged tables …")
        st: dict = {}
        # a mapping's _rejected/ folder is not a table: name the tables so it is not reported as one
        problems = validate(tmp, list(TABLES) if mapped else None, stats=st)
        if errors(problems):
            raise StagingError(_fail_message(problems, edition, "the staged data"))
        _log(f"valid ({st.get('tables', 0)} tables) in {time.perf_counter() - t:.1f} s")
    for p in problems:
        if p.rule not in ("table_absent", "foreign_key_skipped", "time_order_skipped"):
            _log(f"warning: {p.line()}")

    tables = {}
    for tname, files in staged_files(tmp).items():
        tables[tname] = {"rows": _rows(files), "files": [f.relative_to(tmp).as_posix() for f in files]}
        if tname in staged_as:   # directory sources: referenced as they are, or converted
            tables[tname]["staged_as"] = staged_as[tname]
    t = time.perf_counter()
    # sha256 of every staged byte (referenced files read through their links): it names the
    # data itself, the same on any machine, whatever the files' mtimes
    fp = fingerprint(tmp)
    _log(f"fingerprint {fp[:12]} in {time.perf_counter() - t:.1f} s")
    manifest = {
        "edition": edition.edition,
        "source": source,
        "simulated": edition.simulated,
        "seed": edition.seed if edition.simulated else None,
        "users": edition.scale.users if edition.simulated else tables.get("users", {}).get("rows"),
        "year": edition.year,
        "made_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "tables": tables,
        "fingerprint": fp,
        "short_fingerprint": fp[:12],
        "inputs": inputs,
        # amounts are CNY except when a mapping says otherwise (never converted)
        "currency": mapped["currency"] if mapped else "CNY",
    }
    if mapped:
        manifest["mapping"] = mapped
    if refs:   # staged links to the company's files: load.connect checks they did not change
        manifest["references"] = refs
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


def _swap(root: Path, name: str, tmp: Path) -> None:
    """Replace ``root/name`` by ``tmp``: old → trash, tmp → final, delete trash. If the second
    rename fails the old directory is put back."""
    final = root / name
    trash = root / f".{name}.trash-{os.getpid()}"
    shutil.rmtree(trash, ignore_errors=True)
    had_old = final.exists()
    if had_old:
        os.replace(final, trash)
    try:
        os.replace(tmp, final)
    except BaseException:
        if had_old:
            os.replace(trash, final)
        raise
    if had_old:
        shutil.rmtree(trash, ignore_errors=True)


def staged_dir(edition_or_name, root: Path = STAGED) -> Path:
    name = getattr(edition_or_name, "edition", edition_or_name)
    return Path(root) / str(name)


def read_manifest(edition_or_dir, root: Path = STAGED) -> dict:
    """The manifest of an edition's staged data (an edition name, an Edition, or a directory)."""
    if isinstance(edition_or_dir, Path) or (isinstance(edition_or_dir, str) and os.sep in edition_or_dir):
        d = Path(edition_or_dir)
    else:
        d = staged_dir(edition_or_dir, root)
    mf = d / MANIFEST
    if not mf.is_file():
        raise ManifestMissing(f"no staged data in {d} ({MANIFEST} missing); run `make data` "
                              "(or `fission data`) to simulate or stage the edition's data first")
    try:
        return json.loads(mf.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ManifestMissing(f"{mf} is damaged ({e}); run `make data` to stage the data again") from None
