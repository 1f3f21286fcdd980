# Shared by bin/run and bin/test: find Python 3.11+, make .venv and install wismo into it.
# Re-installs only when pyproject.toml or requirements.lock changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${WISMO_VENV:-$ROOT/.venv}"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "wismo needs Python 3.11, 3.12 or 3.13 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {  # $1: the extras to install, e.g. "" or "[dev]"
  local extras="${1:-}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv in $VENV"
    "$(find_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.wismo-installed${extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    echo "==> installing wismo${extras} (first run takes a minute)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # The versions of requirements.lock (what CI tested and audited), as constraints.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      -c requirements.lock -e ".${extras}"
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
