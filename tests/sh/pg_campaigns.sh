#!/bin/sh
# pg_campaigns: the crash and race campaigns (scripts/campaign-crash,
# scripts/campaign-race) at quick size on PostgreSQL (CAMPAIGN_DB): 25
# SIGKILLs of a scheduler mid-run with restarts (no success lost or
# repeated, every killed attempt interrupted, no stray process), and 6
# trials of 8 schedulers released together (odd trials race to migrate a
# new schema): no duplicate execution, every exit 0, no busy error.
# timeout: 400
set -u
. "$TF_ROOT/tests/sh/lib/pg.sh"
pg_need "PostgreSQL campaigns"
R=$TF_ROOT
export TF_BIN=${TF_BIN:?TF_BIN not set}
D1=tf_crash_$$ D2=tf_race_$$
trap 'pg_dropdb "$D1"; pg_dropdb "$D2"' EXIT
U1=$(pg_newdb "$D1") || { echo "FAIL: cannot create a database"; exit 1; }
U2=$(pg_newdb "$D2") || { echo "FAIL: cannot create a database"; exit 1; }
CAMPAIGN_DB=$U1 sh "$R/scripts/campaign-crash" 25 7 || { echo "FAIL: crash campaign on PostgreSQL" >&2; exit 1; }
CAMPAIGN_DB=$U2 sh "$R/scripts/campaign-race" 6 8 || { echo "FAIL: race campaign on PostgreSQL" >&2; exit 1; }
