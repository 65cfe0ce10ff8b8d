#!/bin/bash
# The etherpad image, run for real against a real MariaDB (Debian's
# mariadb-server in a throwaway container of our trixie base image):
#
#   - without its mounted files, etherpad-start refuses to start, naming
#     the missing file;
#   - with a wrong database password, and with no database listening,
#     Etherpad logs "Fatal MySQL error:" and the container exits 1, once;
#   - with the right files the container becomes healthy, the HTTP API
#     answers (/api's version, createPad then getText returns the text,
#     a wrong API key is refused), routes match case-insensitively, there
#     is no admin (no "users"), and health checks do not add a session row
#     each;
#   - MariaDB shut down under a running Etherpad: at its next query
#     Etherpad logs "Fatal MySQL error:" and exits 1 (the image does not
#     restart it); MariaDB back and the container started again: healthy;
#   - docker stop: Etherpad gets SIGTERM and exits 0.
#
# Usage: images/etherpad/verify.sh [IMAGE]
#   IMAGE defaults to this checkout's etherpad image (`python -m
#   sctools.images list`); build it first with
#   `.venv/bin/python -m sctools.images build --image etherpad`.
#   VERIFY_PREFIX names the containers (default etherpad-verify): they are
#   <prefix>-db, -pad, -badpw, -nodb, -nofiles, -nokey, removed by exact
#   name at the start and on exit.
# Needs: docker, and the Debian mirror (apt-get install mariadb-server in
# the database container). Takes about 3-4 minutes, most of it waiting for
# health checks (interval 15 s) and the apt-get install.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${VERIFY_PREFIX:-etherpad-verify}
base=$(sed -n 's/^ARG BASE_IMAGE=//p' "$here/Dockerfile")

image=${1:-}
if [ -z "$image" ]; then
    python=$repo/.venv/bin/python
    [ -x "$python" ] || python=python3
    image=$(cd "$repo" && PYTHONPATH=$repo/tools "$python" -m sctools.images list --json \
        | python3 -c 'import json, sys
print(next(r["image"] for r in json.load(sys.stdin)["images"] if r["name"] == "etherpad"))')
fi
if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "verify.sh: image $image not found; build it: .venv/bin/python -m sctools.images build --image etherpad" >&2
    exit 2
fi

db=$prefix-db
pad=$prefix-pad
containers=("$db" "$pad" "$prefix-badpw" "$prefix-nodb" "$prefix-nofiles" "$prefix-nokey")
conf=$(mktemp -d /tmp/etherpad-verify.XXXXXX)
started=$SECONDS
checks=0

remove_containers() {
    local name
    for name in "${containers[@]}"; do
        docker rm --force "$name" >/dev/null 2>&1 || true
    done
}
cleanup() {
    remove_containers
    rm -rf "$conf"
}
trap cleanup EXIT
remove_containers

say() { printf '[verify %4ds] %s\n' $((SECONDS - started)) "$*"; }
ok() { checks=$((checks + 1)); say "ok: $*"; }
fail() {
    say "FAILED: $*" >&2
    local name
    for name in "${containers[@]}"; do
        if docker container inspect "$name" >/dev/null 2>&1; then
            echo "--- last lines of docker logs $name:" >&2
            docker logs --tail 30 "$name" 2>&1 | sed 's/^/  /' >&2
        fi
    done
    [ -z "${VERIFY_KEEP_ON_FAILURE:-}" ] || trap - EXIT
    exit 1
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND each second.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "$what: not within $timeout s"
        sleep 1
    done
}

state() { docker inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
health() { docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1"; }
is_health() {
    local now
    now=$(health "$1")
    [ "$(state "$1")" = running ] || fail "$1 stopped while waiting to be $2 (exit code $(docker inspect --format '{{.State.ExitCode}}' "$1"))"
    [ "$now" = "$2" ]
}
last_check() {
    docker inspect --format '{{json .State.Health.Log}}' "$1" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["Output"].strip())'
}
exited() { [ "$(state "$1")" = exited ]; }
exit_code() { docker inspect --format '{{.State.ExitCode}}' "$1"; }
random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# -- configuration, as the role will write it --------------------------------

db_password=$(random 12)
api_key=$(random 32)
settings() {  # settings PASSWORD PORT
    cat <<JSON
{
  "title": "Etherpad",
  "ip": "127.0.0.1",
  "port": 9001,
  "trustProxy": true,
  "requireSession": false,
  "loglevel": "INFO",
  "dbType": "mysql",
  "dbSettings": {
    "host": "127.0.0.1",
    "port": $2,
    "user": "etherpad",
    "password": "$1",
    "database": "etherpad",
    "charset": "utf8mb4"
  }
}
JSON
}
for case in ok badpw nodb nokey; do
    mkdir -p "$conf/$case"
    printf '%s' "$api_key" >"$conf/$case/APIKEY.txt"
    random 32 >"$conf/$case/SESSIONKEY.txt"
done
settings "$db_password" 3306 >"$conf/ok/settings.json"
settings "wrong-$db_password" 3306 >"$conf/badpw/settings.json"
settings "$db_password" 3399 >"$conf/nodb/settings.json"  # nothing listens there
settings "$db_password" 3306 >"$conf/nokey/settings.json"
rm "$conf/nokey/APIKEY.txt"
chmod -R a+rX "$conf"

run_pad() {  # run_pad NAME CASE: detached, in the database container's network namespace
    docker run --detach --name "$1" --network "container:$db" \
        --volume "$conf/$2:/etc/etherpad:ro" "$image" >/dev/null
}

say "image $image, containers $prefix-*"

# -- no configuration: refused ------------------------------------------------

set +e
out=$(docker run --name "$prefix-nofiles" "$image" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "started without /etc/etherpad"
grep -q "/etc/etherpad/settings.json is missing" <<<"$out" || fail "no message naming settings.json: $out"
ok "no /etc/etherpad: exit $rc, \"$(head -1 <<<"$out")\""

set +e
out=$(docker run --name "$prefix-nokey" --volume "$conf/nokey:/etc/etherpad:ro" "$image" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "started without APIKEY.txt"
grep -q "/etc/etherpad/APIKEY.txt is missing" <<<"$out" || fail "no message naming APIKEY.txt: $out"
grep -q "settings.json is missing" <<<"$out" && fail "settings.json reported missing: $out"
ok "no APIKEY.txt: exit $rc, \"$out\""

# -- MariaDB ------------------------------------------------------------------

# mariadbd runs in the foreground under a shell that outlives it, so that
# the container (and the network namespace Etherpad shares) stays when
# mariadbd is shut down below.
say "starting MariaDB in $db (apt-get install mariadb-server)"
docker run --detach --name "$db" --entrypoint sh "$base" -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null
    install -d -o mysql -g mysql /run/mysqld
    touch /run/mysqld/installed
    mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 || true
    exec sleep infinity' >/dev/null
db_up() {
    [ "$(state "$db")" = running ] || fail "$db stopped"
    docker exec "$db" sh -c 'test -e /run/mysqld/installed && mariadb-admin ping' >/dev/null 2>&1
}
wait_until 600 "MariaDB answers" db_up
docker exec -i "$db" mariadb <<SQL
CREATE DATABASE etherpad CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER 'etherpad'@'127.0.0.1' IDENTIFIED BY '$db_password';
CREATE USER 'etherpad'@'localhost' IDENTIFIED BY '$db_password';
GRANT ALL ON etherpad.* TO 'etherpad'@'127.0.0.1', 'etherpad'@'localhost';
SQL
ok "MariaDB $(docker exec "$db" mariadb -N -e 'SELECT VERSION()') answers, database etherpad made"

# -- database failures: exit 1, no restart ------------------------------------

for case in badpw nodb; do
    name=$prefix-$case
    run_pad "$name" "$case"
    wait_until 180 "$name exits" exited "$name"
    rc=$(exit_code "$name")
    [ "$rc" = 1 ] || fail "$name: exit code $rc, expected 1"
    logs=$(docker logs "$name" 2>&1)
    line=$(grep -m1 "Fatal MySQL error:" <<<"$logs") || fail "$name: no 'Fatal MySQL error:' logged"
    restarts=$(docker inspect --format '{{.RestartCount}}' "$name")
    [ "$restarts" = 0 ] || fail "$name restarted $restarts times"
    ok "$case: exit 1, restarted 0 times, logged: $(sed 's/\x1b\[[0-9;]*m//g' <<<"$line" | cut -c1-120)"
done

# -- the real thing -----------------------------------------------------------

run_pad "$pad" ok
pad_started=$SECONDS
wait_until 300 "$pad healthy" is_health "$pad" healthy
ok "$pad healthy $((SECONDS - pad_started)) s after its start"

# The API, from the shared network namespace (Etherpad listens on
# 127.0.0.1 only): the database container's python3.
# api_check [PAD]: makes a new pad; with PAD, checks that PAD kept its text.
api_check() {
    docker exec -i -e API_KEY="$api_key" -e PAD_ID="verify-$(random 6)" -e OLD_PAD="${1:-}" \
        "$db" python3 - <<'PY'
import json, os, sys, urllib.error, urllib.parse, urllib.request

BASE = "http://127.0.0.1:9001"


def get(path, **query):
    url = BASE + path + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=20) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def check(what, cond, detail):
    if not cond:
        sys.exit(f"{what}: {detail}")
    print(f"ok: {what}")


key, pad = os.environ["API_KEY"], os.environ["PAD_ID"]
text = "Hello from verify.sh, äöü ☃\n"
status, body = get("/api")
check("/api answers its version", status == 200 and "currentVersion" in json.loads(body), body)
version = json.loads(body)["currentVersion"]
status, body = get(f"/api/{version}/createPad", apikey=key, padID=pad, text=text)
check(f"createPad {pad} (API {version})", status == 200 and json.loads(body)["code"] == 0, body)
status, body = get(f"/api/{version}/getText", apikey=key, padID=pad)
got = json.loads(body)["data"]["text"] if status == 200 else None
check("getText returns the text", got is not None and got.startswith(text), body)
status, body = get(f"/api/{version}/getText", apikey="wrong-" + key, padID=pad)
check("a wrong API key is refused (401)", status == 401, f"{status} {body}")
if os.environ["OLD_PAD"]:
    old = os.environ["OLD_PAD"]
    status, body = get(f"/api/{version}/getText", apikey=key, padID=old)
    got = json.loads(body)["data"]["text"] if status == 200 else None
    check(f"{old} kept its text", got is not None and got.startswith(text), body)
status, _ = get(f"/P/{pad}")
check("routes are case-insensitive (/P/<pad> answers 200)", status == 200, status)
statuses = [get(path)[0] for path in ("/admin", "/ADMIN", "/admin/settings")]
check("no admin: /admin, /ADMIN, /admin/settings answer 401", statuses == [401] * 3, statuses)
PY
}
out=$(api_check) || { echo "$out"; fail "API checks"; }
while read -r line; do ok "${line#ok: }"; done <<<"$out"
first_pad=$(sed -n 's/^ok: createPad \([^ ]*\) .*/\1/p' <<<"$out")

# Each check reuses the session cookie it was given: no new session rows.
sessions() {
    docker exec "$db" mariadb -N etherpad \
        -e "SELECT COUNT(*) FROM store WHERE \`key\` LIKE 'sessionstorage:%'"
}
docker exec "$pad" node /usr/local/lib/etherpad/healthcheck.js >/dev/null
before=$(sessions)
for _ in 1 2 3; do
    docker exec "$pad" node /usr/local/lib/etherpad/healthcheck.js >/dev/null \
        || fail "healthcheck.js failed"
done
after=$(sessions)
[ "$after" = "$before" ] || fail "3 health checks added $((after - before)) session rows"
ok "3 more health checks: $after session rows before and after"

# -- MariaDB goes away under a running Etherpad, then comes back ------------

# The next query (a health check's, at the latest) fails: Etherpad logs
# "Fatal MySQL error:" and exits 1. Bringing it back is the job of the
# container's restart policy (the role's), not of the image: here a plain
# `docker start` after MariaDB is back.
docker exec "$db" mariadb-admin shutdown
say "MariaDB shut down; waiting for $pad to exit"
wait_until 120 "$pad exits after MariaDB went away" exited "$pad"
rc=$(exit_code "$pad")
[ "$rc" = 1 ] || fail "$pad: exit code $rc after MariaDB went away, expected 1"
since_down=$(docker logs "$pad" 2>&1 | sed -n '/Etherpad is running/,$p')
line=$(grep -m1 "Fatal MySQL error:" <<<"$since_down") || fail "$pad: no 'Fatal MySQL error:' after MariaDB went away"
ok "MariaDB down under a running Etherpad: exit 1, logged: $(sed 's/\x1b\[[0-9;]*m//g' <<<"$line" | cut -c1-100)"
docker exec --detach "$db" mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306
wait_until 120 "MariaDB answers again" db_up
docker start "$pad" >/dev/null
wait_until 300 "$pad healthy again" is_health "$pad" healthy
out=$(api_check "$first_pad") || { echo "$out"; fail "API checks after the restart"; }
grep -q "^ok: $first_pad kept its text" <<<"$out" || fail "$first_pad not read back: $out"
ok "MariaDB back, $pad started again: healthy, API answers, $first_pad kept its text"

# -- docker stop: SIGTERM, a clean exit ---------------------------------------

stop_started=$SECONDS
docker stop --time 30 "$pad" >/dev/null
rc=$(exit_code "$pad")
[ "$rc" = 0 ] || fail "$pad: exit code $rc after docker stop, expected 0"
docker logs "$pad" 2>&1 | grep -q "Received SIGTERM signal" || fail "$pad: SIGTERM not logged"
ok "docker stop: SIGTERM logged, exit 0 after $((SECONDS - stop_started)) s"

say "all $checks checks passed in $((SECONDS - started)) s"
