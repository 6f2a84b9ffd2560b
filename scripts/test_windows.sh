#!/usr/bin/env bash
# Builds the Windows tests (zig build test-windows) and runs them under
# wine: the IOCP reactor and the ws2_32 socket layer.
#
#   bash scripts/test_windows.sh [zig build options, e.g. -Dtest-filter=reactor]
#   AVX_WINE_RUNS=20 bash scripts/test_windows.sh   # build once, run 20 times
#
# Zig: $ZIG, else `zig` on PATH, else the pinned one in .tools/.
# Wine: `wine64` on PATH, else /usr/lib/wine/wine64, else where dpkg put
# the wine64 package, else `wine`. The prefix is $WINEPREFIX, else
# .zig-cache/wine (its first start takes a while). Without wine this
# passes with a notice, unless CI or AVX_REQUIRE_WINE is set: then it fails.
# AVX_WINE_RUNS (default 1) runs the executable that many times in a row,
# stopping at the first failure, to catch races that show up in one run of
# several. Exits with the test executable's status (the failing run's).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_zig() {
  if [[ -n "${ZIG:-}" ]]; then
    echo "$ZIG"
  elif command -v zig >/dev/null 2>&1; then
    echo zig
  else
    echo ".tools/zig-$(tr -d ' \r\n' <.zig-version)/ziglang/zig"
  fi
}

find_wine() {
  local candidate
  if candidate="$(command -v wine64 2>/dev/null)"; then
    echo "$candidate"
  elif [[ -x /usr/lib/wine/wine64 ]]; then
    echo /usr/lib/wine/wine64
  elif candidate="$(dpkg -L wine64 2>/dev/null | grep -E '/wine64$' | head -n 1)" && [[ -x "$candidate" ]]; then
    echo "$candidate"
  elif candidate="$(command -v wine 2>/dev/null)"; then
    echo "$candidate"
  else
    return 1
  fi
}

runs="${AVX_WINE_RUNS:-1}"
if ! [[ "$runs" =~ ^[1-9][0-9]{0,3}$ ]]; then
  echo "test_windows: AVX_WINE_RUNS must be 1..9999, got '$runs'" >&2
  exit 2
fi

zig="$(find_zig)"
"$zig" build test-windows "$@"

exe="zig-out/bin/avx-tests-windows.exe"
if ! wine="$(find_wine)"; then
  echo "test_windows: wine not found (install wine64); built $exe but did not run it" >&2
  if [[ -n "${CI:-}" || -n "${AVX_REQUIRE_WINE:-}" ]]; then
    exit 1
  fi
  exit 0
fi

export WINEDEBUG=-all
export WINEPREFIX="${WINEPREFIX:-$PWD/.zig-cache/wine}"
echo "test_windows: $wine $exe (WINEPREFIX=$WINEPREFIX), $runs run(s)" >&2
passed=0
while ((passed < runs)); do
  status=0
  "$wine" "$exe" || status=$?
  if ((status != 0)); then
    echo "test_windows: run $((passed + 1)) of $runs failed (status $status) after $passed passed" >&2
    exit "$status"
  fi
  passed=$((passed + 1))
done
echo "test_windows: $passed of $runs runs passed in a row" >&2
