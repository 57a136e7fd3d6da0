# shellcheck shell=bash
# A deploy's half of python.sh's version cache: record_python_version REAL STAMP VERSION replaces the line
# of the interpreter REAL in version_cache (python.sh), when its folder exists. Best effort: a cache that
# cannot be written is asked again next time.
: "${version_cache:?}"

record_python_version() {
  [ -d "${version_cache%/*}" ] || return 0
  if { awk -v p="$1" '$1 != p' "$version_cache" 2>/dev/null || true; echo "$1 $2 $3"; } > "$version_cache.tmp.$$"; then
    mv -f "$version_cache.tmp.$$" "$version_cache" || rm -f "$version_cache.tmp.$$"
  else
    rm -f "$version_cache.tmp.$$"
  fi
}
