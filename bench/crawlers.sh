#!/usr/bin/env bash
# Crawler comparison on the built-in test marketplace (make bench-crawlers).
#
# Serves one market from HOSTS marketsim processes on 127.0.0.2 … (one
# hostname each, so per-host limits mean the same thing to every crawler),
# spreads the shops over them, and crawls the same start URLs (storefronts
# one link level deep, livestream rooms) with:
#   colly     bare colly, fetching only            (bench/collycrawl)
#   scrapy    Debian's python3-scrapy, fetching only (bench/scrapy_spider.py)
#   shopwatch a full sweep: rules on every page, signed + timestamped
#             evidence for every page with findings, ledger, bbolt queue
# All three get 16 requests in flight in all and 4 per host. Prints a
# Markdown table with pages/s, the ratio to colly, and peak RSS.
#
#   SHOPS=2000 HOSTS=8 bench/crawlers.sh
set -euo pipefail

SHOPS=${SHOPS:-2000}
HOSTS=${HOSTS:-8}
SEED=${SEED:-1}
PORT=${PORT:-18431}
PARALLEL=16
PER_HOST=4
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/shopwatch-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
go build -o "$WORK/shopwatch" ./cmd/shopwatch
go build -o "$WORK/collycrawl" ./bench/collycrawl
PY=${PY:-/usr/bin/python3} # Debian's interpreter, where python3-scrapy installs
if ! "$PY" -c 'import scrapy' 2>/dev/null; then
	echo "python3-scrapy is missing: run make setup-bench" >&2
	exit 1
fi

for i in $(seq 1 "$HOSTS"); do
	"$WORK/shopwatch" marketsim --addr "127.0.0.$((i + 1)):$PORT" --shops "$SHOPS" --seed "$SEED" >/dev/null 2>&1 &
	PIDS+=($!)
done
for i in $(seq 1 "$HOSTS"); do
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "http://127.0.0.$((i + 1)):$PORT/" 2>/dev/null && break
		sleep 0.1
	done
done

# Targets of host 1, each shop moved to host (shop id mod HOSTS).
curl -fsS "http://127.0.0.2:$PORT/_targets.csv" >"$WORK/all.csv"
awk -F, -v hosts="$HOSTS" -v port="$PORT" 'NR == 1 { print; next } {
	match($1, /\/(shop|live)\/[0-9]+/); id = substr($1, RSTART, RLENGTH); sub(/.*\//, "", id)
	h = "127.0.0." (id % hosts + 2) ":" port
	sub(/127\.0\.0\.2:[0-9]+/, h, $1); print
}' OFS=, "$WORK/all.csv" >"$WORK/targets.csv"
tail -n +2 "$WORK/targets.csv" | cut -d, -f1 >"$WORK/starts.txt"
echo "market: $SHOPS shops on $HOSTS hosts, $(wc -l <"$WORK/starts.txt") start URLs" >&2

# run NAME CMD… : prints "NAME pages errors seconds rss_kib"
run() {
	local name=$1
	shift
	/usr/bin/time -f '%M' -o "$WORK/$name.rss" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
		echo "$name failed:" >&2
		tail -20 "$WORK/$name.err" >&2
		exit 1
	}
	python3 - "$name" "$WORK/$name.out" "$WORK/$name.rss" <<'PY'
import json, sys
name, out, rss = sys.argv[1:4]
text = open(out).read()
d = json.loads(text[text.index("{"):])
if "done" in d:  # a shopwatch sweep summary
    pages, errors, secs = d["done"] + d["failed"], d["failed"], d["elapsed"] / 1e9
else:
    pages, errors, secs = d["pages"], d["errors"], d["seconds"]
print(name, pages, errors, "%.3f" % secs, open(rss).read().split()[-1])
PY
}

{
	run colly "$WORK/collycrawl" -urls "$WORK/starts.txt" -parallel $PARALLEL -per-host $PER_HOST -depth 1
	run scrapy "$PY" bench/scrapy_spider.py "$WORK/starts.txt" $PARALLEL $PER_HOST 1
	DATA="$WORK/data"
	cat >"$WORK/shopwatch.yaml" <<YAML
sweep:
  workers: $PARALLEL
crawler:
  max_parallel: $PARALLEL
  per_host_parallel: $PER_HOST
  allow: ["127.0.0.0/8"]
YAML
	"$WORK/shopwatch" --data "$DATA" --config "$WORK/shopwatch.yaml" target import "$WORK/targets.csv" >/dev/null
	run shopwatch "$WORK/shopwatch" --data "$DATA" --config "$WORK/shopwatch.yaml" sweep --all --json
} >"$WORK/results.txt"

python3 - "$WORK/results.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
base = None
print("| crawler | pages | errors | seconds | pages/s | ratio to colly | peak RSS (MiB) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, pages, errors, secs, rss in rows:
    rate = int(pages) / float(secs)
    if name == "colly":
        base = rate
    print(f"| {name} | {pages} | {errors} | {float(secs):.1f} | {rate:,.0f} | {rate / base:.3f}× | {int(rss) / 1024:.0f} |")
PY
