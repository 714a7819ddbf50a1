# lib_srv.sh — helpers for the daemon tests (sourced by tests/srv_*.sh, not run).
# Starts the real facetwind on 127.0.0.1 with an ephemeral port and drives it with curl.
# Every response is captured (method, concrete path, status, headers, body) under
# $CAPTURE so that tools/validate_responses.py can check it against openapi.yaml.
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
FTD=${FT_DAEMON:?FT_DAEMON must point at the facetwind binary}
PY=/usr/bin/python3
FIXTURE=${FT_BUILD_DIR:?}/srv-fixture
CAPTURE=$TMP/capture
mkdir -p "$CAPTURE"
NCALL=0
PID=""; PORT=""; BASE=""

need_fixture() {
  if [ ! -f "$FIXTURE/a.ftw" ] || [ ! -f "$FIXTURE/b.ftw" ]; then
    echo "SKIP: no test models in $FIXTURE (the srv_fixture test trains them on ORL)"; exit 77
  fi
  command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
}

# start_daemon LOGFILE ARGS...: starts facetwind --listen 127.0.0.1:0 and waits for its port
start_daemon() {
  local log=$1; shift
  "$FTD" --listen 127.0.0.1:0 "$@" 2>"$log" &
  PID=$!
  local i
  for i in $(seq 1 600); do
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || { echo "facetwind exited: $(tail -3 "$log")"; PID=""; return 1; }
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "facetwind did not report its port"; return 1; }
  BASE=http://127.0.0.1:$PORT
}

stop_daemon() {  # SIGTERM and wait; returns the exit status
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2>/dev/null
  local rc=0
  wait "$PID" || rc=$?
  PID=""
  return $rc
}

kill9_daemon() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=""; }

# call METHOD PATH [curl args...]: sets STATUS, BODY (file), HDRS (file); captures the exchange
call() {
  local method=$1 path=$2; shift 2
  NCALL=$((NCALL+1))
  local id; id=$(printf '%04d' "$NCALL")
  BODY=$CAPTURE/$id.body; HDRS=$CAPTURE/$id.hdr
  STATUS=$(curl -s -S -X "$method" -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$BASE$path" 2>"$CAPTURE/$id.err")
  printf '%s\n%s\n%s\n' "$method" "${path%%\?*}" "$STATUS" > "$CAPTURE/$id.meta"
}

# expect NAME STATUS [CODE]: the last call answered STATUS (and error.code CODE)
expect() {
  local name=$1 want=$2 code=${3:-}
  if [ "$STATUS" != "$want" ]; then bad "$name: status $STATUS, wanted $want: $(head -c 300 "$BODY")"; return 1; fi
  if [ -n "$code" ] && ! grep -q "\"code\":\"$code\"" "$BODY"; then
    bad "$name: wanted error code $code: $(head -c 300 "$BODY")"; return 1
  fi
  ok "$name ($STATUS${code:+ $code})"
}

# jget PATH [FILE]: a value from a JSON body by a dotted path (a.b.0.c); empty if absent
jget() {
  $PY - "$1" "${2:-$BODY}" <<'PYEOF'
import json, sys
path, f = sys.argv[1], sys.argv[2]
try:
    v = json.load(open(f))
    for k in path.split('.'):
        v = v[int(k)] if isinstance(v, list) else v[k]
except Exception:
    sys.exit(0)
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
PYEOF
}

hdr() { grep -i "^$1:" "$HDRS" | head -1 | cut -d: -f2- | tr -d ' \r'; }

b64() { base64 -w0 "$1"; }

# validate_captures: every captured response against openapi.yaml's schemas
validate_captures() {
  local v=$FT_SOURCE_DIR/tools/validate_responses.py
  [ -f "$v" ] || { bad "tools/validate_responses.py missing"; return; }
  $PY - "$CAPTURE" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    if not f.endswith('.meta'): continue
    base = f[:-5]
    method, path, status = open(os.path.join(d, f)).read().split('\n')[:3]
    if status in ('000', ''): continue
    headers, ct = {}, ''
    for line in open(os.path.join(d, base + '.hdr'), errors='replace'):
        if ':' in line and not line.startswith('HTTP/'):
            k, v = line.split(':', 1)
            headers[k.strip().lower()] = v.strip()
    raw = open(os.path.join(d, base + '.body'), 'rb').read().decode('utf-8', 'replace')
    ct = headers.get('content-type', '')
    try: body = json.loads(raw) if 'json' in ct else raw
    except ValueError: body = raw
    json.dump({'method': method, 'path': path, 'status': int(status), 'content_type': ct,
               'headers': headers, 'body': body}, open(os.path.join(d, base + '.json'), 'w'))
PYEOF
  mkdir -p "$TMP/validated"
  mv "$CAPTURE"/*.json "$TMP/validated/" 2>/dev/null
  if $PY "$v" "$FT_SOURCE_DIR/openapi.yaml" "$TMP/validated" ${VALIDATE_ARGS:-} > "$TMP/validate.log" 2>&1; then
    ok "every captured response matches openapi.yaml ($(grep -o '[0-9]* responses validated' "$TMP/validate.log"))"
  else
    bad "responses vs openapi.yaml: $(grep -v '^ ' "$TMP/validate.log" | head -15)"
  fi
}

cleanup_daemon() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup_daemon EXIT
