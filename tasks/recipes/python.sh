# shellcheck shell=bash
# The Python that makes the app's venvs ([app] python, docs/inventory.md): a command (python3, python3.11,
# /usr/bin/python3.12) the host must have, or a version ("3.12"): the host's python3.12 when it has one,
# else an interpreter that uv manages under the app root (managed_dir). Read-only: a deploy adds
# python_uv.sh, whose python_by_uv gets a missing version with uv.
# Needs process.sh (fact, fail). Values set by the script before it:
#   want          the setting as written
#   managed_dir   <root>/.python: uv's interpreters for this app (UV_PYTHON_INSTALL_DIR), readable by the app
#   may_install   1: get a missing version with uv (deploy); 0: only look (plan)
#   version_cache a file of "REALPATH MTIME X.Y.Z" lines, one per interpreter (.deploy/python-versions)
: "${want:?}" "${managed_dir:?}" "${may_install:?}" "${version_cache:?}"

# host_uv: the path of uv (on PATH, or pip's --user ~/.local/bin/uv), or nothing
host_uv() {
  command -v uv 2>/dev/null && return 0
  if [ -x "${HOME:-/nonexistent}/.local/bin/uv" ]; then echo "$HOME/.local/bin/uv"; fi
}

# managed_python UV: the interpreter of version $want that uv manages in managed_dir, or nothing
managed_python() {
  UV_PYTHON_INSTALL_DIR="$managed_dir" "$1" python find --no-project --python-preference only-managed "$want" \
    2>/dev/null || true
}

# find_python: set python_path to the interpreter; facts python (its path) and python_version. A deploy
# fails with the fix when there is none; plan reports both empty, and python_uv (yes or no).
find_python() {
  local uv
  python_path=""
  case $want in
    [0-9]*.[0-9]*)
      python_path=$(command -v "python$want" 2>/dev/null || true)
      uv=$(host_uv)
      if [ -z "$python_path" ] && [ -d "$managed_dir" ] && [ -n "$uv" ]; then python_path=$(managed_python "$uv"); fi
      if [ -z "$python_path" ] && [ "$may_install" = 1 ]; then python_by_uv "$uv"; fi
      ;;
    *) python_path=$(command -v "$want" 2>/dev/null || true) ;;
  esac
  if [ -z "$python_path" ]; then
    if [ "$may_install" = 0 ]; then
      fact python ""; fact python_version ""; fact python_uv "$([ -n "$(host_uv)" ] && echo yes || echo no)"
      return 0
    fi
    fail "$want is not installed on the host"
  fi
  fact python "$python_path"
  fact python_version "$(python_version_of "$python_path")"
}

# python_version_of PATH: its X.Y.Z. Starting Python costs more than the rest of prepare, so the answer is
# kept in version_cache for as long as the interpreter is the same binary (its real path and mtime: a new
# package of the same Python replaces it); a deploy records it, plan only reads it. A script in front of
# Python (a pyenv shim, which picks a version elsewhere) is always asked.
ask_version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'; }
python_version_of() {
  local real stamp version=""
  real=$(readlink -f "$1" 2>/dev/null || true)
  stamp=$(stat -c %Y "$real" 2>/dev/null || true)
  if [ -z "$stamp" ] || [ "$(head -c 2 "$real" 2>/dev/null || true)" = "#!" ]; then
    ask_version "$1"
    return
  fi
  if [ -f "$version_cache" ]; then
    version=$(awk -v p="$real" -v m="$stamp" '$1 == p && $2 == m { v = $3 } END { print v }' "$version_cache" 2>/dev/null || true)
  fi
  case $version in
    [0-9]*.[0-9]*.[0-9]*) echo "$version"; return 0 ;;
  esac
  version=$(ask_version "$1")
  # a deploy records it (python_record.sh); plan has no such function
  if declare -F record_python_version >/dev/null; then record_python_version "$real" "$stamp" "$version"; fi
  echo "$version"
}
