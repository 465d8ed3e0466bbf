"""``fission run``: execute the chapter notebooks with papermill into ``report/_build/``.

Incremental by content hash: a chapter re-runs only when its notebook, the edition's
parameters, the staged data's fingerprint, the library modules it imports (see codehash.py)
or the texts its figures draw changed — not on prose edits, which are bound at publishing. Chapters run in
parallel processes; a failing chapter leaves the others built, keeps its executed notebook
(with the failing cell) under ``_build/failed/`` and makes the run exit non-zero.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import CaselessStrEnum, default

from .chapters import READS_OTHER_CHAPTERS
from .faults import checkpoint
from .notebook import facts_path
from .paths import BUILD, NOTEBOOKS, REPO

class IPCKernelManager(AsyncKernelManager):
    """Kernels talk over Unix sockets, not TCP ports: chapters started side by side cannot
    clash on a port, and nothing listens on the network."""
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    @default("ip")
    def _unique_socket_prefix(self) -> str:
        # jupyter_client's default, "kernel-ipc" in the working directory, is shared by
        # kernels started side by side: their sockets would collide.
        return os.path.join(tempfile.gettempdir(), f"fission-kernel-{uuid.uuid4().hex[:12]}")


# Kernel start-up troubles papermill is known for when kernels start side by side (a port
# taken between choosing and binding it, a kernel slow to answer): retried, then reported.
START_RETRIES = 3


@dataclass
class ChapterResult:
    chapter: str
    status: str          # ok, failed
    seconds: float
    executed: bool       # False when the cached build was reused
    error: str = ""
    output: str = ""


def chapter_key(notebook: Path, parameters: dict, fingerprint: str, language: str,
                inputs: list[Path] = ()) -> str:
    from .codehash import chapter_code_hash
    from .words import Words, WordsError
    h = hashlib.sha256()
    h.update(notebook.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True, ensure_ascii=False).encode())
    h.update(fingerprint.encode())
    h.update(chapter_code_hash(notebook)[0].encode())
    for p in inputs:              # other chapters' facts a chapter is built from
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    try:
        h.update(Words(notebook.stem, language).figure_hash().encode())
    except WordsError:
        pass  # a notebook without words (its own texts re-execute it on any edit)
    return h.hexdigest()


def _stamp_path(build: Path, chapter: str) -> Path:
    return build / f"{chapter}.stamp.json"


def is_current(build: Path, chapter: str, key: str) -> bool:
    stamp = _stamp_path(build, chapter)
    if not stamp.exists() or not (build / f"{chapter}.ipynb").exists() \
            or not facts_path(build, chapter).exists():
        return False
    try:
        return json.loads(stamp.read_text())["key"] == key
    except (ValueError, KeyError):
        return False


def _is_startup_failure(exc: BaseException) -> bool:
    """Errors from starting the kernel, as opposed to errors raised by the chapter's cells."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, (PapermillExecutionError, CellExecutionError, CellTimeoutError)):
        return False
    text = f"{type(exc).__name__}: {exc}"
    return any(s in text for s in ("Kernel didn't respond", "Address already in use", "ZMQError",
                                   "Kernel died before replying", "TimeoutError"))


def _execute(chapter: str, notebook: str, build: str, parameters: dict, kernel: str,
             cell_timeout: int, key: str, progress: bool) -> ChapterResult:
    """Run one chapter in this (worker) process. Success replaces ``_build/<chapter>.ipynb``
    atomically; failure removes the stale build and keeps the failed notebook for debugging."""
    import papermill as pm

    build_dir = Path(build)
    final = build_dir / f"{chapter}.ipynb"
    tmp = build_dir / f".{chapter}.{os.getpid()}.ipynb"
    failed = build_dir / "failed" / f"{chapter}.ipynb"
    facts_path(build_dir, chapter).unlink(missing_ok=True)
    start = time.perf_counter()
    error = ""
    for attempt in range(1, START_RETRIES + 1):
        try:
            pm.execute_notebook(
                notebook, str(tmp), parameters=parameters, kernel_name=kernel,
                progress_bar=progress, execution_timeout=cell_timeout, start_timeout=120,
                cwd=str(Path(notebook).parent), shutdown_kernel="immediate",
                kernel_manager_class=IPCKernelManager)
            checkpoint("execution")
            os.replace(tmp, final)
            failed.unlink(missing_ok=True)
            _stamp_path(build_dir, chapter).write_text(json.dumps({"key": key}))
            return ChapterResult(chapter, "ok", time.perf_counter() - start, True, output=str(final))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the build
            error = _describe(exc)
            if _is_startup_failure(exc) and attempt < START_RETRIES:
                print(f"  {chapter}: kernel did not start ({error.splitlines()[0]}); "
                      f"retry {attempt}/{START_RETRIES - 1}", file=sys.stderr)
                time.sleep(1.0 * attempt)
                continue
            break
    failed.parent.mkdir(exist_ok=True)
    if tmp.exists():
        os.replace(tmp, failed)
    final.unlink(missing_ok=True)
    _stamp_path(build_dir, chapter).unlink(missing_ok=True)
    facts_path(build_dir, chapter).unlink(missing_ok=True)
    return ChapterResult(chapter, "failed", time.perf_counter() - start, True, error=error,
                         output=str(failed) if failed.exists() else "")


def _describe(exc: BaseException) -> str:
    """One readable paragraph: papermill's errors carry the cell, the rest get a traceback tail."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError
    if isinstance(exc, PapermillExecutionError):
        source = "\n".join("    " + l for l in exc.source.splitlines()[:8])
        return (f"cell {exc.exec_count} raised {exc.ename}: {exc.evalue}\n  in:\n{source}")
    if isinstance(exc, CellTimeoutError):
        first = str(exc).splitlines()[0].rstrip(".")
        return (f"{first} — make the cell faster, or raise run.cell_timeout in the edition's "
                "parameters (e.g. -p run.cell_timeout=1800)")
    if isinstance(exc, DeadKernelError):
        return ("the kernel died while running a cell (killed by the system, most often for running "
                "out of memory, or crashed in a library) — run fewer chapters at once (-p run.workers=1) "
                "or give the machine more memory; the executed notebook shows the last cell run")
    tail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return tail


def run(edition, data_dir: Path, fingerprint: str, chapters: list[str] | None = None, force: bool = False,
        build: Path = BUILD, notebooks: Path = NOTEBOOKS, progress: bool | None = None,
        out=sys.stdout, dependents: frozenset = READS_OTHER_CHAPTERS) -> list[ChapterResult]:
    """Execute the edition's chapters (or ``chapters``) that are out of date; return results.
    ``dependents`` (chapter 10) run after the others, from the facts of those that have them."""
    wanted = chapters or edition.chapters
    unknown = [c for c in wanted if c not in edition.chapters]
    if unknown:
        raise LookupError(f"not chapters of edition {edition.edition}: {', '.join(unknown)}; "
                         f"its chapters are: {', '.join(edition.chapters)}")
    build.mkdir(parents=True, exist_ok=True)
    parameters = edition.notebook_parameters(Path(data_dir))
    parameters["output_dir"] = str(build)
    results: dict[str, ChapterResult] = {}
    first = [c for c in wanted if c not in dependents]
    _run_wave(edition, first, parameters, fingerprint, force, build, notebooks, progress, out, results)
    later = [c for c in wanted if c in dependents]
    if later:
        sources = [c for c in edition.chapters
                   if c not in dependents and facts_path(build, c).exists()]
        _run_wave(edition, later, {**parameters, "chapters": sources}, fingerprint, force, build,
                  notebooks, progress, out, results, [facts_path(build, c) for c in sources])
    ordered = [results[ch] for ch in wanted]
    print_summary(ordered, out)
    return ordered


def _run_wave(edition, wanted, parameters, fingerprint, force, build, notebooks, progress, out,
              results, inputs=()) -> None:
    todo = []
    for ch in wanted:
        nb = notebooks / f"{ch}.ipynb"
        key = chapter_key(nb, parameters, fingerprint, edition.language, inputs)
        if not force and is_current(build, ch, key):
            results[ch] = ChapterResult(ch, "ok", 0.0, False, output=str(build / f"{ch}.ipynb"))
        else:
            todo.append((ch, str(nb), key))
    if not todo:
        return
    workers = max(1, min(edition.workers, len(todo)))
    if progress is None:
        progress = workers == 1 and sys.stderr.isatty()
    print(f"running {len(todo)} chapter(s) with {workers} worker(s): "
          f"{', '.join(t[0] for t in todo)}", file=out, flush=True)
    # Kernels inherit this: one BLAS thread each, since chapters already run side by side.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    args = [(ch, nb, str(build), parameters, edition.run.kernel, edition.run.cell_timeout,
             key, progress) for ch, nb, key in todo]
    if workers == 1:
        for a in args:
            r = _execute(*a)
            results[r.chapter] = r
            _announce(r, out)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_execute, *a) for a in args]
            for f in as_completed(futures):
                r = f.result()
                results[r.chapter] = r
                _announce(r, out)


def _announce(r: ChapterResult, out) -> None:
    mark = "done" if r.status == "ok" else "FAILED"
    print(f"  {r.chapter}: {mark} in {r.seconds:.1f} s", file=out, flush=True)


def print_summary(results: list[ChapterResult], out=sys.stdout) -> None:
    print(f"\n{'chapter':<28} {'status':<7} {'seconds':>8}  run", file=out)
    for r in results:
        print(f"{r.chapter:<28} {r.status:<7} {r.seconds:>8.1f}  "
              f"{'re-run' if r.executed else 'cached'}", file=out)
    for r in results:
        if r.status != "ok":
            print(f"\n{r.chapter} failed: {r.error}", file=out)
            if r.output:
                print(f"  the executed notebook with the failing cell: {r.output}\n"
                      f"  open it in JupyterLab (`make lab`), fix notebooks/{r.chapter}.ipynb "
                      f"or the library, then `make run`", file=out)
    ok = sum(r.status == "ok" for r in results)
    print(f"\n{ok}/{len(results)} chapters built, "
          f"{sum(r.executed for r in results)} executed, "
          f"{sum(not r.executed for r in results)} cached", file=out, flush=True)


def results_json(results: list[ChapterResult]) -> str:
    return json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1)
