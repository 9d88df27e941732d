#!/usr/bin/env bash
# portal/down.sh [BASE] [--purge] — stop what portal/up.sh started, by pidfile only.
#   --purge also deletes BASE (and the PostgreSQL cluster it links to).
set -uo pipefail
BASE="${CKAN_BASE:-./.ckan}"
PURGE=""
for arg in "$@"; do case "$arg" in --purge) PURGE=1 ;; *) BASE="$arg" ;; esac; done
[ -d "$BASE" ] || { echo "ckan-down: nothing at $BASE"; exit 0; }
BASE="$(cd "$BASE" && pwd)"

stop() { # name pidfile
  local pid
  [ -f "$2" ] || return 0
  pid="$(cat "$2")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "ckan-down: $1 stopped"
  fi
  rm -f "$2"
}
stop ckan "$BASE/run/ckan.pid"
stop "jobs worker" "$BASE/run/worker.pid"
stop "ckan without xloader" "$BASE/run/ckan-plain.pid"
stop redis "$BASE/run/redis.pid"
PGDATA="$(readlink -f "$BASE/pg" 2>/dev/null)/data"
if [ -f "$PGDATA/postmaster.pid" ]; then
  PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "cd / && '$PG_BIN/pg_ctl' -D '$PGDATA' -m fast -w stop" >/dev/null
  else
    "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "ckan-down: postgres stopped"
fi
if [ -n "$PURGE" ]; then
  [ -L "$BASE/pg" ] && rm -rf "$(readlink -f "$BASE/pg")"
  rm -rf "$BASE"
  echo "ckan-down: purged $BASE"
fi
