#!/usr/bin/env bash
# render_check.sh HTML PNG — renders an HTML report with headless Chromium and
# checks that the screenshot shows something.
#
# The report (core/report.c) must look right in a real browser, which a text
# test cannot see. This renders the page at 1100x2200 with Debian's chromium,
# then decodes the PNG with the Python standard library (zlib + struct, no
# imaging package) and checks that it exists, is larger than PNG_MIN_BYTES and
# has more than MIN_COLOURS distinct colours (a blank or flat page fails).
# Look at the PNG yourself for the rest: axes, bars, legend, lines.
#
# Exit 0 ok, 1 on failure (with a message), 2 on usage error, 77 when no
# chromium is installed (the CTest skip code).
set -euo pipefail

PNG_MIN_BYTES=20000
MIN_COLOURS=10
WINDOW=1100,2200
TIMEOUT_S=120

if [ $# -ne 2 ]; then
  echo "usage: $0 REPORT.html OUT.png" >&2
  exit 2
fi
html=$1 png=$2
[ -f "$html" ] || { echo "render_check: $html: no such file" >&2; exit 1; }

browser=""
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -z "$browser" ]; then
  echo "render_check: no chromium or chromium-browser installed; skipping" >&2
  exit 77
fi

abs_html=$(realpath "$html")
abs_png=$(realpath -m "$png")
rm -f "$abs_png"
# A private profile directory: no state shared with (or left in) the user's own.
profile=$(mktemp -d "${TMPDIR:-/tmp}/render-check-XXXXXX")
trap 'rm -rf "$profile"' EXIT
log="$profile/chromium.log"
if ! timeout "$TIMEOUT_S" "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --user-data-dir="$profile" --window-size="$WINDOW" \
    --screenshot="$abs_png" "file://$abs_html" >"$log" 2>&1; then
  echo "render_check: $browser failed on $abs_html:" >&2
  tail -5 "$log" >&2
  exit 1
fi

python3 - "$abs_png" "$PNG_MIN_BYTES" "$MIN_COLOURS" <<'EOF'
import struct, sys, zlib

path, min_bytes, min_colours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def fail(msg):
    print(f"render_check: {path}: {msg}", file=sys.stderr)
    sys.exit(1)

try:
    data = open(path, "rb").read()
except OSError as e:
    fail(f"no screenshot ({e.strerror})")
if len(data) < min_bytes:
    fail(f"screenshot is only {len(data)} bytes (want at least {min_bytes})")
if data[:8] != b"\x89PNG\r\n\x1a\n":
    fail("not a PNG file")

# chunks -> IHDR fields and the concatenated IDAT stream
pos, idat, ihdr = 8, [], None
while pos + 8 <= len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
    elif kind == b"IEND":
        break
    pos += 12 + n
if not ihdr:
    fail("PNG without IHDR")
width, height, depth, ctype, _, _, interlace = ihdr
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
if depth != 8 or channels is None or interlace:
    fail(f"unexpected PNG layout (depth {depth}, colour type {ctype}, interlace {interlace})")
raw = zlib.decompress(b"".join(idat))
bpp, stride = channels, width * channels

def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c

# undo the per-row filters, collecting distinct pixel values
colours, prev = set(), bytearray(stride)
for y in range(height):
    f = raw[y * (stride + 1)]
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride): row[i] = (row[i] + row[i - bpp]) & 255
    elif f == 2:
        for i in range(stride): row[i] = (row[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride):
            row[i] = (row[i] + ((row[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            row[i] = (row[i] + paeth(row[i - bpp] if i >= bpp else 0, prev[i],
                                     prev[i - bpp] if i >= bpp else 0)) & 255
    elif f != 0:
        fail(f"bad PNG filter {f} in row {y}")
    colours.update(bytes(row[i:i + bpp]) for i in range(0, stride, bpp))
    prev = row
if len(colours) <= min_colours:
    fail(f"only {len(colours)} distinct colours: the page looks blank")
print(f"render_check: {path}: {width}x{height}, {len(data)} bytes, {len(colours)} colours: ok")
EOF
