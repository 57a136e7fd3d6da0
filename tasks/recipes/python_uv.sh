# shellcheck shell=bash
# A deploy's part of python.sh: get the Python version $want with uv into managed_dir when the host has
# none (uv's download; nothing is uploaded before it). The same values as python.sh.
: "${want:?}" "${managed_dir:?}"

# python_by_uv UV: install $want with UV (failing with the fix without uv, or when uv cannot); sets
# python_path; fact python_installed.
python_by_uv() {
  local out
  [ -n "$1" ] || fail "Python $want is not on the host (no python$want), and uv is not there to install it: install uv for $(id -un) (pip install --user uv; or apt install python$want where the distribution has it), or set [app] python to a Python the host has"
  mkdir -p "$managed_dir"
  if ! out=$(UV_PYTHON_INSTALL_DIR="$managed_dir" UV_PYTHON_BIN_DIR="$managed_dir/bin" UV_NO_PROGRESS=1 \
      "$1" python install "$want" 2>&1); then
    printf '%s\n' "$out" | tail -n 5 >&2
    fail "Python $want is not on the host, and uv could not install it (above); nothing was uploaded"
  fi
  python_path=$(managed_python "$1")
  [ -n "$python_path" ] || fail "uv installed Python $want but cannot find it in $managed_dir"
  fact python_installed "$python_path"
}
