#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the test run; prints the URL to use.
# Installs Debian's postgresql package when it is missing (CI runs as root).
set -euo pipefail
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=$(mktemp -d /tmp/hashsearch-pg.XXXXXX)
port=${HASHSEARCH_PG_PORT:-54329}
chown postgres "$data"
su postgres -c "$bin/initdb -D $data -A trust -U postgres" >/dev/null
su postgres -c "$bin/pg_ctl -D $data -l $data/server.log -w -o '-c listen_addresses=127.0.0.1 -p $port -k $data' start" >&2
echo "postgresql://postgres@127.0.0.1:$port/postgres"
