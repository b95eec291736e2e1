#!/usr/bin/env bash
# Run a command (the test suite) with a throwaway PostgreSQL server for the sweep storage test, and
# stop that server when the command ends, however it ends (exit, failure, Ctrl-C, SIGTERM).
#
#   .ci/with-postgres.sh .venv/bin/python -m pytest
#
# The server is started only as root on Debian and only when TRAINLAB_TEST_PG does not already name
# one (see .ci/postgres.sh); a server this script did not start is never stopped. The command's exit
# status is this script's.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started=
stop() { if [ -n "$started" ]; then started=; "$here/postgres.sh" stop; fi; }
trap stop EXIT
# Ctrl-C reaches the whole process group: the command stops itself, then bash runs these traps
# (after the command has ended), exits with the shell's code for the signal, and EXIT stops the server.
# Set before the server starts: a Ctrl-C while it starts ends the script too (bash would otherwise go
# on when the interrupted child happened to exit 0)
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -z "${TRAINLAB_TEST_PG:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if exports="$("$here/postgres.sh")"; then
    eval "$exports"  # TRAINLAB_TEST_PG, and TRAINLAB_PG_STARTED=1 when postgres.sh started the server
    started="${TRAINLAB_PG_STARTED:-}"
  else
    echo "postgres: not started; the PostgreSQL sweep test will skip" >&2
  fi
fi
"$@"
