# Sourced by scripts/serve and scripts/test: provides .venv with tenantry installed in editable
# mode, with the extras the caller asks for (serve: none, test: `test`). pip runs only when
# pyproject.toml changed since the last install or an extra asked for is not installed yet.
#
# The stamp is `<sha256 of pyproject.toml> <extras>`, extras comma-separated or `-` for none.
# A stamp of the hash alone was written when every install had the test extras.

TENANTRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TENANTRY_VENV="$TENANTRY_ROOT/.venv"

# tenantry_ensure_venv [EXTRA]: the runtime alone, or the runtime with one extra (`test`).
tenantry_ensure_venv() {
  local extra="${1:-}" stamp="$TENANTRY_VENV/.tenantry-pyproject.sha256" wanted have
  wanted="$(sha256sum "$TENANTRY_ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [[ -x "$TENANTRY_VENV/bin/python" && -f "$stamp" ]]; then
    have="$(<"$stamp")"
    [[ "$have" == "$wanted" ]] && have="$wanted test"
    if [[ "${have%% *}" == "$wanted" ]] && _tenantry_has_extra "${have#* }" "$extra"; then
      return 0
    fi
  fi
  local started=$SECONDS
  if ! "$TENANTRY_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "scripts: creating .venv with $(python3 --version 2>&1)" >&2
    _tenantry_create_venv
  fi
  local target="$TENANTRY_ROOT" what="tenantry (runtime only)"
  if [[ -n "$extra" ]]; then
    target="$TENANTRY_ROOT[$extra]"
    what="tenantry with its $extra extras"
  fi
  echo "scripts: installing $what into .venv; pip reports each package" >&2
  rm -f "$stamp"  # an interrupted install leaves no stamp, so the next run installs again
  # pip's own lines (Collecting, Downloading, Installing) go to stderr beside ours.
  "$TENANTRY_VENV/bin/python" -m pip install --disable-pip-version-check --editable "$target" >&2
  printf '%s %s\n' "$wanted" "${extra:--}" >"$stamp"
  echo "scripts: .venv is ready ($(du -sh "$TENANTRY_VENV" | cut -f1), $((SECONDS - started)) s)" >&2
}

# _tenantry_has_extra INSTALLED WANTED: whether WANTED (empty: none) is among INSTALLED.
_tenantry_has_extra() {
  [[ -z "$2" ]] && return 0
  [[ ",$1," == *",$2,"* ]]
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
