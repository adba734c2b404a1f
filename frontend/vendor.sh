#!/usr/bin/env bash
# Refresh the console's vendored libraries from npm: Preact (components and hooks) and htm
# (tagged-template markup, so that no build step turns JSX into JavaScript).
#
#   frontend/vendor.sh            # the pinned versions below
#
# The files land in frontend/app/vendor/ with their licences. The one change made to them:
# hooks import Preact by a relative path ("./preact.js") instead of the bare name "preact",
# which a browser resolves only through an import map (an inline script the console's CSP
# forbids).
set -euo pipefail
PREACT=11.2.0
HTM=3.1.1

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/app/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "preact@$PREACT" "htm@$HTM" >/dev/null
mkdir preact htm
tar xzf "preact-$PREACT.tgz" -C preact
tar xzf "htm-$HTM.tgz" -C htm

strip_map() { sed -e '/^\/\/# sourceMappingURL=/d'; }
mkdir -p "$out"
strip_map <preact/package/dist/preact.mjs >"$out/preact.js"
strip_map <preact/package/hooks/dist/hooks.mjs | sed -e 's|from"preact"|from"./preact.js"|g' >"$out/hooks.js"
strip_map <htm/package/dist/htm.module.js >"$out/htm.js"
cp preact/package/LICENSE "$out/LICENSE-preact.txt"
cp htm/package/LICENSE "$out/LICENSE-htm.txt"
if grep -q 'from"preact"' "$out/hooks.js"; then
  echo "vendor.sh: hooks.js still imports the bare name \"preact\"" >&2
  exit 1
fi
echo "vendored preact $PREACT and htm $HTM into $out"
