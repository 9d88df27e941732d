#!/usr/bin/env bash
# portal/up.sh [BASE] — bring up the project's local CKAN portal under BASE (default ./.ckan):
# a private PostgreSQL cluster, Redis and CKAN 2.12 (gunicorn) with DataStore, ckanext-scheming
# (the GD Catalog dataset schema of ckanext-thai_gdc 2.1.0 and its licence list), ckanext-dcat,
# ckanext-xloader with a `ckan jobs worker` (as on data.go.th) and the project's own extension
# (search without Solr, Thai tags, the GD Catalog validators CKAN 2.12 lacks). Idempotent: installs what is missing, initialises what is missing, starts
# what is stopped, and waits until status_show answers. Loopback (127.0.0.1) only.
#
# Environment (defaults):
#   CKAN_PORT 5000   CKAN_PG_PORT 55432   CKAN_REDIS_PORT 56379   CKAN_WORKERS 2
#   CKAN_PLAIN_PORT CKAN_PORT+50: the same portal (same databases and files) without xloader
#   CKAN_WAIT_S 180  CKAN_PYTHON python3
# Writes BASE/apitoken (sysadmin API token, mode 600; never printed) and BASE/env.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${1:-${CKAN_BASE:-./.ckan}}"
mkdir -p "$BASE"
BASE="$(cd "$BASE" && pwd)"

CKAN_VERSION=2.12.0 # pinned: the extension replaces private parts of ckan.lib.search
SCHEMING_VERSION=3.1.0
DCAT_VERSION=2.4.4
XLOADER_VERSION=2.6.0 # ckanext-xloader, as data.go.th loads its DataStore
PORT="${CKAN_PORT:-5000}"
PG_PORT="${CKAN_PG_PORT:-55432}"
REDIS_PORT="${CKAN_REDIS_PORT:-56379}"
WORKERS="${CKAN_WORKERS:-2}"
WAIT_S="${CKAN_WAIT_S:-180}"
PYTHON="${CKAN_PYTHON:-python3}"
ADMIN=admin
URL="http://127.0.0.1:$PORT"
VENV="$BASE/venv"
RUN="$BASE/run"
LOG="$BASE/log"
INI="$BASE/ckan.ini"
PLUGINS="opendata_local datastore xloader datatables_view activity scheming_datasets dcat"
mkdir -p "$RUN" "$LOG" "$BASE/storage"
START=$(date +%s)
say() { echo "[ckan-up $(($(date +%s) - START))s] $*"; }
trap 'echo "ckan-up: failed at line $LINENO: $BASH_COMMAND (logs in $LOG/)" >&2' ERR
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# stop what a pidfile names and wait until it is gone (a restart must not find it still alive)
stop_pid() {
  alive "$1" || return 0
  local pid; pid="$(cat "$1")"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$1"
}

# ------------------------------------------------------------------ Debian packages
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
missing=()
[ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v curl >/dev/null || missing+=(curl)
[ -e /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
command -v gcc >/dev/null || missing+=(build-essential)
ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || missing+=(libmagic1)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "ckan-up: need root to install: ${missing[*]}" >&2; exit 1; }
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOG/apt.log" 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1
fi
PG_BIN="$(pg_bin)"

# ------------------------------------------------------------------ PostgreSQL (private cluster)
# PostgreSQL refuses to run as root; as root it runs as user postgres, which must reach the data
# directory. When BASE is not reachable by it (e.g. under /root), the cluster lives in
# /var/tmp/ckan-pg-<hash> and BASE/pg links there.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/sh postgres
  as_pg() { su postgres -s /bin/sh -c "cd / && $*"; }
else
  as_pg() { sh -c "$*"; }
fi
if [ ! -e "$BASE/pg" ]; then
  mkdir -p "$BASE/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$BASE/pg"
  if ! as_pg "test -w '$BASE/pg'"; then
    alt="/var/tmp/ckan-pg-$(echo -n "$BASE" | md5sum | cut -c1-10)"
    rmdir "$BASE/pg"
    mkdir -p "$alt" && chown postgres: "$alt" && chmod 700 "$alt"
    ln -s "$alt" "$BASE/pg"
  fi
fi
PGDATA="$(readlink -f "$BASE/pg")/data"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  say "initdb"
  as_pg "'$PG_BIN/initdb' -D '$PGDATA' -U postgres -A trust -E UTF8 --locale=C.UTF-8" >"$LOG/initdb.log" 2>&1
fi
if ! as_pg "'$PG_BIN/pg_ctl' -D '$PGDATA' status" >/dev/null 2>&1; then
  say "start PostgreSQL on 127.0.0.1:$PG_PORT"
  # a throw-away cluster: durability traded for speed; no unix socket (path-length limits)
  as_pg "'$PG_BIN/pg_ctl' -D '$PGDATA' -l '$PGDATA/../postgres.log' -w -t 60 -o \"-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
fi
PSQL=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1)
if [ -z "$("${PSQL[@]}" -d postgres -tAc "select 1 from pg_roles where rolname='ckan_default'")" ]; then
  say "create CKAN and DataStore databases"
  "${PSQL[@]}" -d postgres >/dev/null <<'SQL'
CREATE ROLE ckan_default LOGIN PASSWORD 'ckan_default';
CREATE ROLE datastore_default LOGIN PASSWORD 'datastore_default';
CREATE DATABASE ckan_default OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE datastore_default OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0;
SQL
fi

# ------------------------------------------------------------------ Redis
if ! alive "$RUN/redis.pid"; then
  say "start Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$BASE/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$RUN/redis.pid" \
    --dir "$BASE/redis" --logfile "$LOG/redis.log" --save '' --appendonly no
  for _ in $(seq 50); do [ -s "$RUN/redis.pid" ] && break; sleep 0.1; done
fi

# ------------------------------------------------------------------ CKAN and extensions
EXT_SRC="$HERE/ckanext-opendata-local"
EXT_STAMP="$BASE/.extension-$(cat "$EXT_SRC"/pyproject.toml "$EXT_SRC"/ckanext_opendata_local/* | md5sum | cut -c1-12)"
if [ ! -x "$VENV/bin/ckan" ] || ! "$VENV/bin/python" -c "import ckan, ckanext.scheming, ckanext.dcat" 2>/dev/null; then
  say "install CKAN $CKAN_VERSION, ckanext-scheming, ckanext-dcat, gunicorn (a few minutes)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip >"$LOG/pip.log" 2>&1
  "$VENV/bin/pip" install -q "ckan[requirements]==$CKAN_VERSION" gunicorn \
    "ckanext-scheming==$SCHEMING_VERSION" "ckanext-dcat==$DCAT_VERSION" >>"$LOG/pip.log" 2>&1
fi
# ---- xloader (portal owner's block): installed on its own so an existing venv gains it
if ! "$VENV/bin/python" -c "import ckanext.xloader" 2>/dev/null; then
  say "install ckanext-xloader $XLOADER_VERSION"
  "$VENV/bin/pip" install -q "ckanext-xloader==$XLOADER_VERSION" >>"$LOG/pip.log" 2>&1
fi
# ---- end xloader
if [ ! -f "$EXT_STAMP" ]; then
  say "install the project's extension"
  rm -rf "$BASE/src" && mkdir -p "$BASE/src" && cp -r "$EXT_SRC" "$BASE/src/"
  "$VENV/bin/pip" install -q --force-reinstall --no-deps "$BASE/src/ckanext-opendata-local" >>"$LOG/pip.log" 2>&1
  rm -f "$BASE"/.extension-* && touch "$EXT_STAMP"
  stop_pid "$RUN/ckan.pid" # restart with the new code
  stop_pid "$RUN/worker.pid"
  stop_pid "$RUN/ckan-plain.pid"
fi
CKAN=("$VENV/bin/ckan" -c "$INI")

[ -f "$INI" ] || { say "generate ckan.ini"; "$VENV/bin/ckan" generate config "$INI" >/dev/null; }
# applied on every run, so ports and plugins follow the environment
"$VENV/bin/ckan" config-tool "$INI" \
  "sqlalchemy.url=postgresql://ckan_default:ckan_default@127.0.0.1:$PG_PORT/ckan_default" \
  "ckan.datastore.write_url=postgresql://ckan_default:ckan_default@127.0.0.1:$PG_PORT/datastore_default" \
  "ckan.datastore.read_url=postgresql://datastore_default:datastore_default@127.0.0.1:$PG_PORT/datastore_default" \
  "ckan.datastore.sqlsearch.enabled=true" \
  "ckan.redis.url=redis://127.0.0.1:$REDIS_PORT/0" \
  "ckan.site_url=$URL" \
  "ckan.site_id=opendata-local" \
  "ckan.site_title=Open Data (local)" \
  "ckan.locale_default=th" \
  "ckan.storage_path=$BASE/storage" \
  "ckan.max_resource_size=1024" \
  "ckan.views.default_views=datatables_view" \
  "ckan.plugins=$PLUGINS" \
  "scheming.dataset_schemas=ckanext_opendata_local:gdcatalog_dataset.yaml" \
  "scheming.presets=ckanext_opendata_local:gdcatalog_presets.yaml" \
  "licenses_group_url=file://$BASE/src/ckanext-opendata-local/ckanext_opendata_local/gdcatalog_licenses.json" \
  "ckanext.xloader.jobs_db.uri=postgresql://ckan_default:ckan_default@127.0.0.1:$PG_PORT/ckan_default" \
  "ckanext.xloader.site_url=$URL" \
  "solr_url=http://127.0.0.1:1/solr/ckan" >/dev/null

# DCAT-AP: the project's profile, ckanext-dcat's DCAT-AP 3 completed (licence, language, frequency,
# places, period, media types, checksums, @th; ckanext_opendata_local/dcat_profile.py), and the
# catalog's description and publisher
"$VENV/bin/ckan" config-tool "$INI" \
  "ckanext.dcat.rdf.profiles=opendata_local_dcat_ap" \
  "ckan.site_description=ชุดข้อมูลเปิดภาครัฐที่ผ่านการตรวจสอบแล้ว เผยแพร่โดย opendata-pipeline (พอร์ทัลทดสอบในเครื่อง ตามแบบ data.go.th)" \
  "ckanext.opendata_local.dcat.publisher_name=สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)" \
  "ckanext.opendata_local.dcat.publisher_url=https://www.dga.or.th" \
  "ckanext.opendata_local.dcat.publisher_type=http://purl.org/adms/publishertype/NationalAuthority" \
  "ckanext.opendata_local.dcat.catalog_spatial=http://publications.europa.eu/resource/authority/country/THA" >/dev/null

if [ ! -f "$BASE/.initialised" ]; then
  say "initialise the databases"
  "${CKAN[@]}" db upgrade >"$LOG/db-init.log" 2>&1
  "${CKAN[@]}" db pending-migrations --apply >>"$LOG/db-init.log" 2>&1
  "${CKAN[@]}" datastore set-permissions 2>>"$LOG/db-init.log" | "${PSQL[@]}" -d datastore_default >>"$LOG/db-init.log" 2>&1
  touch "$BASE/.initialised"
fi
if [ ! -f "$BASE/.admin" ]; then
  say "create sysadmin $ADMIN"
  (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$BASE/admin_password")
  "${CKAN[@]}" user add "$ADMIN" email="$ADMIN@localhost.invalid" password="$(cat "$BASE/admin_password")" >>"$LOG/db-init.log" 2>&1
  "${CKAN[@]}" sysadmin add "$ADMIN" >>"$LOG/db-init.log" 2>&1
  touch "$BASE/.admin"
fi

# ---- xloader (portal owner's block): its jobs call the API with a token of their own, read from
# ckan.ini by the web app and the worker, so it is made (once) before either starts
if [ ! -s "$BASE/xloader_token" ]; then
  say "create the API token xloader uses"
  (umask 077 && "${CKAN[@]}" user token add "$ADMIN" "xloader-$(date +%s)" 2>>"$LOG/db-init.log" |
    tail -n 1 | tr -d ' \t\r\n' >"$BASE/xloader_token")
  stop_pid "$RUN/ckan.pid"
  stop_pid "$RUN/worker.pid"
  stop_pid "$RUN/ckan-plain.pid"
fi
chmod 600 "$INI"
"$VENV/bin/ckan" config-tool "$INI" "ckanext.xloader.api_token=$(cat "$BASE/xloader_token")" >/dev/null
if ! alive "$RUN/worker.pid"; then
  say "start the background job worker (xloader)"
  CKAN_INI="$INI" nohup "$VENV/bin/ckan" -c "$INI" jobs worker </dev/null >"$LOG/worker.log" 2>&1 &
  echo $! >"$RUN/worker.pid"
fi
# ---- end xloader

# ------------------------------------------------------------------ gunicorn
if ! alive "$RUN/ckan.pid"; then
  say "start CKAN (gunicorn, $WORKERS workers) on $URL"
  cat >"$BASE/wsgi.py" <<EOF
from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app
from logging.config import fileConfig

fileConfig("$INI")
application = make_app(CKANConfigLoader("$INI").get_config())
EOF
  # started directly with its own stdin/stdout, so a caller's pipe (`make ckan-up | tee`) closes
  CKAN_INI="$INI" nohup "$VENV/bin/gunicorn" --chdir "$BASE" --bind "127.0.0.1:$PORT" --workers "$WORKERS" \
    --timeout 300 --pid "$RUN/ckan.pid" wsgi:application </dev/null >"$LOG/ckan.log" 2>&1 &
  echo $! >"$RUN/ckan.pid"
fi
healthy=""
for _ in $(seq $((WAIT_S * 5))); do
  if curl -sf -o /dev/null "$URL/api/3/action/status_show"; then healthy=1; break; fi
  alive "$RUN/ckan.pid" || break
  sleep 0.2
done
if [ -z "$healthy" ]; then
  echo "ckan-up: CKAN did not answer at $URL; last lines of $LOG/ckan.log:" >&2
  tail -n 30 "$LOG/ckan.log" >&2
  exit 1
fi

# ---- xloader (portal owner's block): the same portal without xloader, for the push's tests of a
# portal that does not run it (one gunicorn worker on its own ini: same databases, files, plugins
# but xloader; it queues no job)
PLAIN_PORT="${CKAN_PLAIN_PORT:-$((PORT + 50))}"
PLAIN_URL="http://127.0.0.1:$PLAIN_PORT"
cp "$INI" "$BASE/ckan-plain.ini.new"
"$VENV/bin/ckan" config-tool "$BASE/ckan-plain.ini.new" "ckan.plugins=${PLUGINS/ xloader/}" "ckan.site_url=$PLAIN_URL" >/dev/null
if ! cmp -s "$BASE/ckan-plain.ini.new" "$BASE/ckan-plain.ini"; then
  mv "$BASE/ckan-plain.ini.new" "$BASE/ckan-plain.ini" && stop_pid "$RUN/ckan-plain.pid"
else
  rm -f "$BASE/ckan-plain.ini.new"
fi
if ! alive "$RUN/ckan-plain.pid"; then
  say "start the same CKAN without xloader on $PLAIN_URL"
  sed "s#$INI#$BASE/ckan-plain.ini#g" "$BASE/wsgi.py" >"$BASE/wsgi_plain.py"
  CKAN_INI="$BASE/ckan-plain.ini" nohup "$VENV/bin/gunicorn" --chdir "$BASE" --bind "127.0.0.1:$PLAIN_PORT" \
    --workers 1 --timeout 300 --pid "$RUN/ckan-plain.pid" wsgi_plain:application </dev/null >"$LOG/ckan-plain.log" 2>&1 &
  echo $! >"$RUN/ckan-plain.pid"
fi
for _ in $(seq $((WAIT_S * 5))); do
  curl -sf -o /dev/null "$PLAIN_URL/api/3/action/status_show" && break
  alive "$RUN/ckan-plain.pid" || { tail -n 30 "$LOG/ckan-plain.log" >&2; exit 1; }
  sleep 0.2
done
# ---- end xloader

# ------------------------------------------------------------------ API token
token_works() {
  [ -s "$BASE/apitoken" ] && curl -sf -o /dev/null -H "Authorization: $(cat "$BASE/apitoken")" \
    "$URL/api/3/action/organization_list_for_user?permission=sysadmin"
}
if ! token_works; then
  say "create an API token for $ADMIN"
  (umask 077 && "${CKAN[@]}" user token add "$ADMIN" "opendata-pipeline-$(date +%s)" 2>>"$LOG/db-init.log" |
    tail -n 1 | tr -d ' \t\r\n' >"$BASE/apitoken")
  token_works || { echo "ckan-up: the new API token does not work" >&2; exit 1; }
fi
cat >"$BASE/env.sh" <<EOF
export CKAN_URL=$URL
export CKAN_PLAIN_URL=$PLAIN_URL
export CKAN_API_TOKEN_FILE=$BASE/apitoken
EOF
say "ready: $URL (token in $BASE/apitoken)"
