#!/usr/bin/env bash
# Idempotent set-up: .venv with the package and its pinned dependencies, a Jupyter kernel for
# that venv, and the CJK fonts the report needs. Safe to run again; skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)

# 1. fonts: Chinese text in the PDF and in figures needs Noto CJK.
fonts=$(fc-list 2>/dev/null || true)   # not piped into grep -q: SIGPIPE would fail under pipefail
if ! grep -q "Noto Sans CJK SC" <<<"$fonts"; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing fonts-noto-cjk (Chinese fonts)…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk fontconfig >/dev/null
  else
    echo "setup: the Chinese fonts are missing. Install them with:" >&2
    echo "    sudo apt-get install -y fonts-noto-cjk" >&2
    echo "then run 'make setup' again." >&2
    exit 1
  fi
fi

# 2. the virtual environment with pinned dependencies (re-installed when the pins change).
if [ ! -x $VENV/bin/python ]; then
  echo "setup: creating $VENV…"
  "$PYTHON" -m venv $VENV
fi
if [ ! -f $STAMP ] || [ "$(cat $STAMP)" != "$want" ]; then
  echo "setup: installing the fission package and its pinned dependencies (first time: ~1 min)…"
  $VENV/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  $VENV/bin/python -m pip install -q -c requirements.lock -e '.[dev]'
  # 3. a Jupyter kernel for this venv, found by papermill and JupyterLab run from the venv.
  $VENV/bin/python -m ipykernel install --sys-prefix --name fission \
      --display-name "Python (fission)" >/dev/null
  echo "$want" > $STAMP
fi
