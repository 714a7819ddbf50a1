# lib_cli.sh — helpers for the shell-level CLI tests (sourced by tests/cli_*.sh, not run).
# FT_CLI is the facetwin binary and FT_SHARED_DIR the shared data (set by CTest).
set -u
FT=${FT_CLI:?FT_CLI must point at the facetwin binary}
SHARED=${FT_SHARED_DIR:-../shared}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/facetwin-cli-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PASS=0; FAIL=0

ok()   { PASS=$((PASS+1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL+1)); echo "FAIL - $*"; }

# expect_error NAME NEEDLE CMD...: exit status 1 (an error, not a crash), exactly one
# line on stderr, containing NEEDLE (e.g. the file name and the reason).
expect_error() {
  local name=$1 needle=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  local lines; lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -qF -- "$needle"; then
    ok "$name: $err"
  else
    bad "$name: exit $rc, $lines line(s): $err (wanted '$needle')"
  fi
}

finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

# json_num KEY: first numeric value of "KEY": in stdin
json_num() { grep -o "\"$1\":[-0-9.eE+]*" | head -1 | cut -d: -f2; }
