#!/usr/bin/env bash
# System pieces the test suite needs, brought in the same way for a newcomer and CI:
#   - Debian's Chromium (the real-browser tests drive it with Playwright),
#   - a running PostgreSQL with the test role and database (tests/conftest.py).
# Idempotent and quiet when everything is already there. It never fails the build
# itself: a piece it cannot provide is reported here, and its tests skip locally with
# that reason or fail under CI=true (tests/conftest.py).
set -u

PG_ROLE=camstudy PG_PASSWORD=camstudy PG_DB=camstudy_test
say() { echo "system-deps: $*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
    command -v apt-get >/dev/null || { say "no apt-get here; install $* yourself"; return 1; }
    if [ -z "${APT_UPDATED:-}" ]; then
        as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

# --- Chromium ---------------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium (browser tests)"
    apt_install chromium || say "could not install chromium: browser tests will skip (fail under CI)"
fi

# --- PostgreSQL ---------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql || say "could not install postgresql: PostgreSQL tests will skip (fail under CI)"
fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
    if [ -n "$version" ]; then
        if ! pg_lsclusters -h 2>/dev/null | grep -q " online"; then
            as_root pg_ctlcluster "$version" main start || say "could not start PostgreSQL $version"
        fi
        psql_admin() { as_root su postgres -c "psql -v ON_ERROR_STOP=1 -qtA -c \"$1\"" 2>/dev/null; }
        if [ "$(psql_admin "select 1 from pg_roles where rolname='$PG_ROLE'")" != 1 ]; then
            psql_admin "create role $PG_ROLE login password '$PG_PASSWORD' createdb" >/dev/null \
                || say "could not create role $PG_ROLE"
        fi
        if [ "$(psql_admin "select 1 from pg_database where datname='$PG_DB'")" != 1 ]; then
            psql_admin "create database $PG_DB owner $PG_ROLE" >/dev/null || say "could not create database $PG_DB"
        fi
    fi
fi
exit 0
