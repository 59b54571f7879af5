# Sourced by scripts/test and scripts/serve: provides .venv with tenantry and its test extras
# installed in editable mode. pip runs only when pyproject.toml changed since the last install.

TENANTRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TENANTRY_VENV="$TENANTRY_ROOT/.venv"

tenantry_ensure_venv() {
  local stamp="$TENANTRY_VENV/.tenantry-pyproject.sha256" wanted
  wanted="$(sha256sum "$TENANTRY_ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [[ -x "$TENANTRY_VENV/bin/python" && -f "$stamp" && "$(<"$stamp")" == "$wanted" ]]; then
    return 0
  fi
  if ! "$TENANTRY_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    _tenantry_create_venv
  fi
  echo "scripts: installing tenantry with its test extras into .venv" >&2
  "$TENANTRY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --editable "$TENANTRY_ROOT[test]"
  printf '%s\n' "$wanted" >"$stamp"
}

_tenantry_create_venv() {
  if python3 -m venv --clear "$TENANTRY_VENV"; then
    return 0
  fi
  # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "scripts: installing python3-venv with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv --clear "$TENANTRY_VENV" && return 0
  fi
  echo "scripts: 'python3 -m venv' failed; install python3-venv (apt-get install python3-venv)" >&2
  return 1
}
