"""Which library code a chapter runs: the ``fission`` modules its notebook imports, followed
through their own imports. A chapter's cache key hashes exactly these files, so editing one
metric module re-executes only the chapters that import it.

Written here rather than with the standard library's ``modulefinder``, which executes the
import machinery over every third-party package too (seconds per notebook); only our own
package matters for the key, and its imports are plain ``import``/``from`` statements.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "fission"
SRC = Path(__file__).resolve().parent           # src/fission


def _module_file(module: str, src: Path) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(code: str, current: str | None = None, is_package: bool = False) -> set[str]:
    """Absolute names of the modules ``code`` imports (``from a import b`` yields ``a`` and
    ``a.b``, since b may be a submodule). ``current`` resolves relative imports."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and current:
                pkg = current.split(".")
                pkg = pkg if is_package else pkg[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            if base:
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
    return out


def closure(modules: set[str], src: Path = SRC) -> list[Path]:
    """The files of ``modules`` inside the package, their parent packages' ``__init__`` and
    everything they import in turn (sorted)."""
    seen: dict[Path, None] = {}
    todo = list(modules)
    while todo:
        mod = todo.pop()
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):   # importing a.b.c runs a/__init__ and a/b/__init__
            f = _module_file(".".join(parts[:i]), src)
            if f is None or f in seen:
                continue
            seen[f] = None
            name = _module_name(f, src)
            todo.extend(imports_of(f.read_text(encoding="utf-8"), name, f.name == "__init__.py"))
    return sorted(seen)


def notebook_imports(notebook: Path) -> set[str]:
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    out: set[str] = set()
    for c in nb.cells:
        if c.cell_type == "code":
            # IPython magics would not parse; they import nothing of ours
            code = "\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
            out |= imports_of(code)
    return out


def chapter_code_hash(notebook: Path, src: Path = SRC) -> tuple[str, list[str]]:
    """Hash of the library files the notebook imports (transitively), and their names."""
    files = closure(notebook_imports(notebook), src)
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(src).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest(), [f.relative_to(src).as_posix() for f in files]
