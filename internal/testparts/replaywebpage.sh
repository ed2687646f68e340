#!/usr/bin/env bash
# replaywebpage.sh: put ReplayWeb.page's static player (the npm package
# replaywebpage at a pinned version and tarball SHA-256) into the cache
# folder the tests read it from, and print that folder. `make setup` and
# testparts.ReplayWebPage both run it; it does nothing when the folder is
# there already. Needs npm (it only runs `npm pack`, which installs nothing).
set -euo pipefail
version=2.5.3
sha256=b7d35c39c4da9b7121c5a393911d8675d4cc6f19513c380191e16b086bea812c
cache=${XDG_CACHE_HOME:-$HOME/.cache}/shopwatch
dest=$cache/replaywebpage-$version
if [ -f "$dest/index.html" ] && [ -f "$dest/ui.js" ] && [ -f "$dest/sw.js" ]; then
	echo "$dest"
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "replaywebpage.sh: npm not found (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.replaywebpage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --loglevel=error "replaywebpage@$version" >/dev/null) ||
	{ echo "replaywebpage.sh: npm pack replaywebpage@$version failed" >&2; exit 1; }
echo "$sha256  $tmp/replaywebpage-$version.tgz" | sha256sum -c --quiet - >&2 ||
	{ echo "replaywebpage.sh: replaywebpage-$version.tgz does not have the pinned SHA-256" >&2; exit 1; }
tar -xzf "$tmp/replaywebpage-$version.tgz" -C "$tmp"
# Another run may have put it in place meanwhile; either copy is the same.
mv -T "$tmp/package" "$dest" 2>/dev/null || [ -f "$dest/sw.js" ]
echo "$dest"
