#!/usr/bin/env bash
# The HTTP contract: openapi.yaml lints clean with the pinned @redocly/cli (recommended rules,
# no errors and no warnings), and tools/validate_responses.py — which checks the daemon's
# captured responses against it — accepts valid captures and rejects invalid ones.
# Skips (77) only when node/npm are missing; the first run installs tools/openapi/node_modules
# from package-lock.json (npm ci), which needs the npm registry.
set -u
SRC=${FT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=${FT_PYTHON:-/usr/bin/python3}
TOOLS=$SRC/tools/openapi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/facetwin-openapi-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PASS=0; FAIL=0
ok()  { PASS=$((PASS+1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL+1)); echo "FAIL - $*"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }

# ---- validate_responses.py self-test: it must tell valid captures from invalid ones ----------
V=$SRC/tools/validate_responses.py
mkdir -p "$TMP/good" "$TMP/bad"
cat > "$TMP/good/0001.json" <<'EOF'
{"method": "POST", "path": "/v1/verify", "status": 200, "content_type": "application/json",
 "headers": {"x-request-id": "3f2a9c1d0b7e4a55"},
 "body": {"request_id": "3f2a9c1d0b7e4a55", "model": "face-cnn-7d3e2a1c", "distance": 0.7312, "same": false,
          "threshold": 0.442, "threshold_source": "far", "far": {"target": 0.001, "estimated": 0.00094, "tar": 0.913},
          "inputs": [{"kind": "image"}, {"kind": "subject", "subject_id": "alice", "face_id": 17}],
          "timings_ms": {"decode": 1.1, "encode": 7, "gallery": 0.3, "total": 8.9}, "cache": {"hits": 0, "misses": 1}}}
EOF
cat > "$TMP/good/0002.json" <<'EOF'
{"method": "DELETE", "path": "/v1/subjects/alice/faces/3", "status": 404, "content_type": "application/json; charset=utf-8",
 "headers": {"x-request-id": "client-req-42"},
 "body": {"error": {"code": "face_not_found", "message": "subject alice has no face 3", "request_id": "client-req-42"}}}
EOF
cp "$TMP/good/"*.json "$TMP/bad/"
# invalid: the error object lacks request_id
cat > "$TMP/bad/0003.json" <<'EOF'
{"method": "GET", "path": "/v1/subjects/carol", "status": 404, "content_type": "application/json",
 "headers": {"x-request-id": "9a12345678901234"},
 "body": {"error": {"code": "subject_not_found", "message": "no subject carol"}}}
EOF
if ! "$PY" -c 'import jsonschema, yaml' 2>/dev/null; then
  bad "$PY lacks jsonschema/yaml (Debian: python3-jsonschema python3-yaml)"
else
  out=$("$PY" "$V" "$SRC/openapi.yaml" "$TMP/good" 2>&1); rc=$?
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^2 responses validated, 0 failures'; then
    ok "validator accepts a valid verify 200 and a valid 404 error"
  else
    bad "validator on valid captures: exit $rc: $out"
  fi
  out=$("$PY" "$V" "$SRC/openapi.yaml" "$TMP/bad" 2>&1); rc=$?
  if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "^0003.json: GET /v1/subjects/carol 404: .*request_id" \
     && printf '%s\n' "$out" | grep -q '^3 responses validated, 1 failures' \
     && ! printf '%s\n' "$out" | grep -q '^000[12].json'; then
    ok "validator rejects the error without request_id (and only it)"
  else
    bad "validator on an invalid capture: exit $rc: $out"
  fi
  # a status the operation does not list is a failure, and so is an empty directory
  sed 's/"status": 200/"status": 418/' "$TMP/good/0001.json" > "$TMP/bad/0003.json"
  out=$("$PY" "$V" "$SRC/openapi.yaml" "$TMP/bad" 2>&1); rc=$?
  [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "status 418 is not in the spec" \
    && ok "validator rejects a status the spec does not list" || bad "status 418: exit $rc: $out"
  mkdir -p "$TMP/empty"
  out=$("$PY" "$V" "$SRC/openapi.yaml" "$TMP/empty" 2>&1); rc=$?
  [ $rc -eq 1 ] && ok "validator fails on a directory without captures" || bad "empty dir: exit $rc: $out"
  out=$("$PY" "$V" --require-all-2xx --quiet "$SRC/openapi.yaml" "$TMP/good" 2>&1); rc=$?
  [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "never seen: a 2xx response of POST /v1/enroll" \
    && ok "--require-all-2xx names the operations never answered 2xx" || bad "--require-all-2xx: exit $rc: $out"
fi

# ---- lint --------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not found: openapi.yaml not linted (install nodejs and npm; deploy/install-deps.sh does)"
  finish || exit 1
  exit 77
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
want=$(sed -n 's/.*"@redocly\/cli": *"\([^"]*\)".*/\1/p' "$TOOLS/package.json")
have=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$TOOLS/node_modules/@redocly/cli/package.json" 2>/dev/null)
if [ ! -x "$TOOLS/node_modules/.bin/redocly" ] || [ "$have" != "$want" ]; then
  echo "# npm ci in $TOOLS (@redocly/cli $want; had '${have:-none}')"
  if (cd "$TOOLS" && npm ci --no-audit --no-fund) > "$TMP/npm.log" 2>&1; then
    ok "npm ci (@redocly/cli $want)"
  else
    bad "npm ci failed: $(tail -5 "$TMP/npm.log")"; finish; exit 1
  fi
fi
(cd "$SRC" && "$TOOLS/node_modules/.bin/redocly" lint --config tools/openapi/redocly.yaml \
   --format=stylish openapi.yaml) > "$TMP/lint.log" 2>&1
rc=$?
sed 's/^/# /' "$TMP/lint.log"
if [ $rc -ne 0 ]; then
  bad "redocly lint: exit $rc"
elif grep -qE '^ +[0-9]+:[0-9]+ +(error|warning) ' "$TMP/lint.log"; then
  bad "redocly lint: warnings (the spec is kept free of them; fix or ignore one by one in tools/openapi/.redocly.lint-ignore.yaml)"
else
  ok "redocly lint: openapi.yaml is valid, no errors, no warnings"
fi
finish
