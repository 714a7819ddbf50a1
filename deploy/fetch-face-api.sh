#!/usr/bin/env bash
# Fetches the pretrained networks of @vladmandic/face-api (MIT) with `npm pack` — nothing is
# installed and nothing of the package is committed — and unpacks it into a cache directory:
#   $FT_FACEAPI_DIR/package/{model,src,dist}    (default FT_FACEAPI_DIR: ~/.cache/facetwin/face-api)
# The version is pinned and the tarball's SHA-512 checked, so every machine imports the same
# weights. Idempotent: a second run with the package in place only prints the model directory.
#   bash deploy/fetch-face-api.sh          -> prints <dir>/package/model
set -euo pipefail
VERSION=1.7.15
SHA512=WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==
dir=${FT_FACEAPI_DIR:-$HOME/.cache/facetwin/face-api}
tgz="vladmandic-face-api-$VERSION.tgz"
stamp="$dir/package/.facetwin-version"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$VERSION $SHA512" ]; then
  echo "$dir/package/model"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-face-api.sh: npm is required (deploy/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$dir"
if [ ! -f "$dir/$tgz" ]; then
  (cd "$dir" && npm pack --silent "@vladmandic/face-api@$VERSION" >/dev/null)
fi
got=$(openssl dgst -sha512 -binary "$dir/$tgz" | base64 -w0)
if [ "$got" != "$SHA512" ]; then
  rm -f "$dir/$tgz"
  echo "fetch-face-api.sh: $tgz: SHA-512 mismatch (got $got), removed; run again" >&2
  exit 1
fi
tmp=$(mktemp -d "$dir/.unpack.XXXXXX")
tar -xzf "$dir/$tgz" -C "$tmp"
echo "$VERSION $SHA512" > "$tmp/package/.facetwin-version"
rm -rf "$dir/package"
mv "$tmp/package" "$dir/package"
rmdir "$tmp"
echo "$dir/package/model"
