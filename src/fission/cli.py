"""The ``fission`` command: simulate, validate, inspect, data (stage), run, render, report."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import params as params_mod
from .paths import STAGED, build_dir


def _edition(args):
    # --quarantine is data.quarantine=true for this run (a mapping source sets bad rows aside)
    extra = ["data.quarantine=true"] if getattr(args, "quarantine", False) else []
    return params_mod.load(args.params, (args.set or []) + extra)


def _locked(fn):
    """Run a command that writes the edition's files under the edition's build lock."""
    def wrapper(args):
        from .lock import edition_lock
        with edition_lock(_edition(args).edition):
            return fn(args)
    wrapper.__name__ = fn.__name__
    return wrapper


def _stage(edition, force=False) -> dict:
    from .data import staging
    return staging.stage(edition, STAGED, force=force)


def cmd_simulate(args) -> int:
    from .data.simulate import simulate
    ed = _edition(args)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        simulate(out, year=ed.year, users=ed.scale.users, seed=ed.seed)
        print(f"simulated {ed.scale.users:,} users ({ed.compare_year}–{ed.year}) into {out}")
        return 0
    return cmd_data(args)


def cmd_inspect(args) -> int:
    """The coverage matrix: which chapter sections the data can build, and what the others lack."""
    import tempfile

    from .coverage import format_matrix, matrix
    from .data.load import connect
    src = Path(args.source) if args.source else STAGED / _edition(args).edition
    if not src.exists():
        print(f"{src} does not exist: give a data directory or a mapping file, or stage the "
              "edition first (`make data`)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fission-inspect-") as tmp:
        if src.is_file():                       # a mapping file: map the exports first
            import json

            from .data.mapping import apply_mapping
            report = apply_mapping(src, tmp, quarantine=True)
            # as staging records it: the columns the mapping filled are not data
            (Path(tmp) / "manifest.json").write_text(json.dumps({"mapping": report}, default=str))
            src = Path(tmp)
        print(f"coverage of {args.source or src}:")
        print(format_matrix(matrix(connect(src))))
    return 0


def cmd_validate(args) -> int:
    from .data import validate
    return validate.run(Path(args.dir))


@_locked
def cmd_data(args) -> int:
    ed = _edition(args)
    m = _stage(ed, force=getattr(args, "force", False))
    print(f"staged data for edition {ed.edition}: {STAGED / ed.edition} "
          f"(fingerprint {m['fingerprint'][:12]})")
    if getattr(args, "to", None) is not None:
        return _export_lake(ed, m, args.to or ed.engine.data_path, force=getattr(args, "force", False))
    return 0


def _export_lake(ed, manifest, target, force=False) -> int:
    """`fission data --to`: the staged tables where the Spark engine reads them (fission.data.lake)."""
    from .data import lake
    if not target:
        print("error: --to without a location needs engine.data_path in the edition's parameters "
              "(e.g. -p engine.data_path=s3a://bucket/fission/2025)", file=sys.stderr)
        return 2
    if not force and lake.up_to_date(target, manifest["fingerprint"]):
        print(f"lake {target} is up to date (fingerprint {manifest['fingerprint'][:12]})")
        return 0
    spark = None
    if lake.is_remote(target):              # copied through the Hadoop client of a Spark driver
        from .engine import spark_session
        spark = spark_session(ed.engine.master, None, ed.engine.conf)
    try:
        info = lake.export(STAGED / ed.edition, target, manifest, spark=spark)
    except lake.LakeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lake.record(STAGED / ed.edition, info)
    parts = [f"{t} ({len(i['partitions'])} months)" for t, i in info["tables"].items() if i["partition_by"]]
    print(f"exported {len(info['tables'])} tables to {target}, partitioned by month: {', '.join(parts)}; "
          f"read with -p engine.kind=spark -p engine.data_path={target}")
    return 0


def _run(ed, manifest, args) -> int:
    from . import runner
    chapters = [c.strip() for c in args.chapters.split(",")] if getattr(args, "chapters", None) else None
    results = runner.run(ed, STAGED / ed.edition, manifest["fingerprint"], chapters=chapters,
                         force=getattr(args, "force", False), build=build_dir(ed.place))
    return 0 if all(r.status == "ok" for r in results) else 1


@_locked
def cmd_run(args) -> int:
    from .data import staging
    ed = _edition(args)
    return _run(ed, staging.read_manifest(STAGED / ed.edition), args)


def _render(ed, manifest, engine: str, partial: bool = False) -> None:
    from .publish import publish_edition
    publish_edition(ed, manifest, engine=engine, publish_partial=partial)


@_locked
def cmd_render(args) -> int:
    from .data import staging
    ed = _edition(args)
    _render(ed, staging.read_manifest(STAGED / ed.edition), args.engine, args.publish_partial)
    return 0


@_locked
def cmd_report(args) -> int:
    start = time.perf_counter()
    ed = _edition(args)
    manifest = _stage(ed, force=args.force_data)
    code = _run(ed, manifest, args)
    _render(ed, manifest, args.engine, args.publish_partial)
    print(f"report for edition {ed.edition} built in {time.perf_counter() - start:.1f} s"
          + ("" if code == 0 else " — with failed chapters (see above)"))
    return code


PARTIAL_HELP = ("publish a book with missing (failed) chapters over the edition's report; "
                "without it such a book goes to report/_output/<edition>-partial/")


def main(argv: list[str] | None = None) -> int:
    def edition_options(params_default, set_default):
        o = argparse.ArgumentParser(add_help=False)
        o.add_argument("--params", "-P", default=params_default, help="edition parameters file")
        o.add_argument("-p", "--set", action="append", metavar="KEY=VALUE", default=set_default,
                       help="override a parameter, e.g. -p scale.users=20000 (repeatable)")
        return o

    p = argparse.ArgumentParser(prog="fission", description=__doc__,
                                parents=[edition_options("params/default.yaml", None)])
    # the same options after the command (`fission report -p key=value`); SUPPRESS keeps the
    # values given before it
    after = edition_options(argparse.SUPPRESS, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    real_add_parser = sub.add_parser
    sub.add_parser = lambda *a, **kw: real_add_parser(*a, parents=[after], **kw)

    s = sub.add_parser("simulate", help="simulate the platform (into --out, or stage the edition)")
    s.add_argument("--out", help="directory to write the tables and truth.json into")
    s.set_defaults(fn=cmd_simulate)
    s = sub.add_parser("validate", help="check a dataset directory against the data contract")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_validate)
    s = sub.add_parser("inspect", help="which chapter sections the data can build (before anything runs)")
    s.add_argument("source", nargs="?", help="a data directory or a mapping file (default: the "
                                             "edition's staged data)")
    s.set_defaults(fn=cmd_inspect)
    s = sub.add_parser("data", help="stage the edition's data as Parquet in data/staged/<edition>")
    s.add_argument("--force", action="store_true", help="re-stage even if nothing changed")
    s.add_argument("--quarantine", action="store_true",
                   help="data.source mapping: set rows that break a mapping rule aside in "
                        "data/staged/<edition>/_rejected/ instead of stopping")
    s.add_argument("--to", nargs="?", const="", metavar="PATH",
                   help="also write the staged tables where a Spark cluster reads them (a folder, "
                        "file://, hdfs://, s3a://; default: engine.data_path), the event-sized "
                        "ones partitioned by month (fission.data.lake)")
    s.set_defaults(fn=cmd_data)
    for name, fn, helptext in (("run", cmd_run, "execute the chapter notebooks"),
                               ("report", cmd_report, "data → run → render")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--chapters", help="comma-separated chapter names (default: all)")
        s.add_argument("--force", action="store_true", help="re-execute even if up to date")
        if name == "report":
            s.add_argument("--force-data", action="store_true", help="re-stage the data")
            s.add_argument("--engine", default="auto", choices=["auto", "builtin", "quarto"])
            s.add_argument("--publish-partial", action="store_true", help=PARTIAL_HELP)
        s.set_defaults(fn=fn)
    s = sub.add_parser("render", help="publish report.html and report.pdf from the executed chapters")
    s.add_argument("--engine", default="auto", choices=["auto", "builtin", "quarto"])
    s.add_argument("--publish-partial", action="store_true", help=PARTIAL_HELP)
    s.set_defaults(fn=cmd_render)

    args = p.parse_args(argv)
    from .data.staging import StagingError
    from .lock import BuildLocked
    from .publish.book import PublishError
    from .words import WordsError
    try:
        return args.fn(args)
    except (params_mod.ParamsError, StagingError, PublishError, WordsError, FileNotFoundError,
            LookupError, BuildLocked) as e:
        # Expected failures carry a message saying what to do; no traceback needed.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
