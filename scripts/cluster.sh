#!/bin/sh
# make cluster: three sealroom nodes on loopback against the development Postgres. The keys
# every node of a deployment must share (token, Delivery Service, audit) are node-1's
# development keys; each node has a data folder of its own (an audit spool belongs to one
# process). Ctrl-C (or SIGTERM) drains and stops them all.
set -eu
BIN=${BIN:-bin/sealroom}
DATA=${SEALROOM_DATA:-.data}
export DATABASE_URL="${DATABASE_URL:-$("$BIN" devdb start --data "$DATA")}"
pids=""
trap 'kill -TERM $pids 2>/dev/null; wait' INT TERM
start() { # start N DATA-FOLDER
	SEALROOM_DATA="$2" "$BIN" serve --migrate --node-name "node-$1" --addr "127.0.0.1:808$1" \
		--media-addr "127.0.0.1:788$1" --trusted-proxy 127.0.0.1/32 &
	pids="$pids $!"
}
start 1 "$DATA"
for k in token-signing ds-signing audit-signing; do
	while [ ! -f "$DATA/keys/$k.pem" ]; do sleep 0.2; done
done
export SEALROOM_TOKEN_KEY_FILE="$DATA/keys/token-signing.pem"
export SEALROOM_DS_KEY_FILE="$DATA/keys/ds-signing.pem"
export SEALROOM_AUDIT_KEY_FILE="$DATA/keys/audit-signing.pem"
start 2 "$DATA/node-2"
start 3 "$DATA/node-3"
echo "three nodes: http://127.0.0.1:8081 http://127.0.0.1:8082 http://127.0.0.1:8083"
echo "status:      DATABASE_URL='$DATABASE_URL' $BIN cluster status"
wait
