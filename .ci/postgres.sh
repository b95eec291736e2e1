#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the sweep tests (tests/sweeps/test_postgres.py).
# .ci/with-postgres.sh CMD starts it around CMD and stops it afterwards (make test uses it).
#
#   eval "$(.ci/postgres.sh)"     # install if needed (root + apt), initdb, start, create the database;
#                                 # prints: export TRAINLAB_TEST_PG=postgresql://postgres@127.0.0.1:PORT/trainlab_test
#                                 # (and export TRAINLAB_PG_STARTED=1 if it started the server)
#   .ci/postgres.sh stop          # stop it (the data directory is left in $DIR for inspection)
#
# The server runs from its own data directory (default /tmp/trainlab-pg), on its own port (54329),
# with trust authentication bound to 127.0.0.1 only, so it never touches a system cluster.
# Messages go to stderr; stdout is only the export line.
set -euo pipefail
PORT=${TRAINLAB_PG_PORT:-54329}
DIR=${TRAINLAB_PG_DIR:-/tmp/trainlab-pg}
DB=trainlab_test

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN=$(bindir)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "postgres.sh: installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null; }
    BIN=$(bindir)
  else
    echo "postgres.sh: PostgreSQL is not installed (as root on Debian: apt-get install postgresql)" >&2
    exit 1
  fi
fi

# initdb and the server refuse to run as root: use the postgres system user then
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

if [ "${1:-}" = stop ]; then
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
  exit 0
fi

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  as_pg "$BIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
fi
started=
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=100" start >&2
  started=1
fi
if ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
echo "postgres.sh: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, database $DB" >&2
echo "export TRAINLAB_TEST_PG=postgresql://postgres@127.0.0.1:$PORT/$DB"
# tells the caller this run started the server, so it stops it afterwards (.ci/with-postgres.sh);
# a server that was already running is left to whoever started it
[ -n "$started" ] && echo "export TRAINLAB_PG_STARTED=1"
exit 0
