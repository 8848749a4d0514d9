/*
 * store/postgres.c - the server engine of the store: PostgreSQL through
 * libpq (engine seam store/engine.h), for several hosts sharing one cache.
 *
 * Owns: connecting to a libpq URI (postgresql:// or postgres://; libpq's
 * PG* environment variables fill what it leaves out), the redacted name
 * every message uses (no password ever leaves this file), the migrations
 * (schema/postgres/NNNN-name.sql embedded as tf_schema_postgres[], applied
 * in the connection's current schema under an advisory lock so
 * concurrent first runs migrate once; the version lives in the
 * table tickflow_schema; a newer schema is refused untouched), the SQL
 * text of every statement id, and the transaction rules of a server:
 *
 *   - every state change is a short READ COMMITTED transaction; the row a
 *     claim decides on is locked (SELECT ... FOR UPDATE), a new call is one
 *     INSERT ... ON CONFLICT DO NOTHING RETURNING id, finishes and renewals
 *     are single fenced UPDATEs;
 *   - leases are judged on the server's clock: now() of the transaction
 *     inside one, else the server's clock extrapolated from the last
 *     reading with CLOCK_MONOTONIC (re-read every few seconds), so neither
 *     a host whose wall clock is off nor one whose clock jumps matters;
 *   - a lost connection, a deadlock, a serialization failure or a lock
 *     timeout is marked transient: the protocol rolls back, this engine
 *     reconnects (recover) and the whole operation is retried within the
 *     handle's busy budget; then TF_EBUSY, never a call failure or success;
 *   - the change counter is LISTEN/NOTIFY: a statement trigger on calls
 *     notifies at commit, and tf_store_data_version counts the
 *     notifications of other sessions without a round trip.
 *
 * A tf_q here is a prepared statement (PQprepare, named tfN) with its text
 * parameters; its result is fetched whole on the first step.
 */
#include "store/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "schema.h"

/* Parameters a statement may take ($1..$PQ_MAXP). */
#define PQ_MAXP 16

/* A prepared statement of this connection and its bindings. */
struct tf_q {
    int id;                         /* statement id (ST_*) */
    int nparams;                    /* highest $N in its text */
    int prepared;                   /* PQprepare done on this connection */
    const char *val[PQ_MAXP];       /* parameter values (text), NULL = NULL */
    char num[PQ_MAXP][32];          /* storage of numeric parameters */
    PGresult *res;                  /* result of the execution, NULL before the first step */
    int row;                        /* current row, -1 before the first */
};

/* The connection of a PostgreSQL handle (tf_store.impl). */
typedef struct pg {
    PGconn *conn;                   /* the connection (may be CONNECTION_BAD until recovered) */
    struct tf_q q[ST_COUNT];        /* the statements */
    int in_txn;                     /* a write transaction is open */
    double txn_now;                 /* now() of the open transaction, epoch seconds */
    double clock_off;               /* server epoch seconds minus our CLOCK_MONOTONIC */
    double clock_at;                /* CLOCK_MONOTONIC of the last server clock reading */
    int64_t version;                /* notifications of other sessions seen (data_version) */
    char channel[160];              /* LISTEN channel, quoted: "tickflow.<schema>" */
} pg;

#define PG(s) ((pg *)(s)->impl)

/* Seconds between two readings of the server clock outside a transaction. */
#define CLOCK_RESYNC 5.0

/* The columns of a tf_call_row, in the order inspect.c reads them. */
#define CALL_COLS \
    "id, work, version, args_sha256, args_json, status, result_json, error," \
    " attempts, created_at, started_at, finished_at, duration, runner_pid," \
    " runner_host, (SELECT h.log_path FROM history AS h WHERE h.call_id = calls.id" \
    " ORDER BY h.attempt DESC, h.id DESC LIMIT 1), result_at, failures, next_retry_at, lease_until"

/* ISO-8601 text as epoch seconds (double precision), NULL stays NULL. */
#define EPOCH_OF(x) "extract(epoch FROM (" x ")::timestamptz)::float8"

/* 1 where the condition holds, else 0, summed (SQLite sums booleans itself). */
#define COUNT_IF(c) "coalesce(sum((" c ")::int), 0)"

/* A tf_filter as SQL: $1 work, $2 status, $3 key prefix, $4 key, $5 since, $6 before,
   $16 version (TF_FILTER_VERSION_P; the parameters a statement leaves unused are typed text). */
#define FILTER_SQL \
    "($1::text IS NULL OR work = $1::text) AND ($2::text IS NULL OR status = $2::text)" \
    " AND ($3::text IS NULL OR substr(args_sha256, 1, length($3::text)) = $3::text)" \
    " AND ($4::text IS NULL OR args_sha256 = $4::text)" \
    " AND ($5::text IS NULL OR created_at >= $5::text) AND ($6::text IS NULL OR created_at < $6::text)" \
    " AND ($16::text IS NULL OR version = $16::text)"

/* clear spares every running call unless $7 = 1 (the filter's status is 'running'; sqlite.c says why). */
#define CLEAR_GUARD " AND (status <> 'running' OR $7::integer = 1)"

#define LOOKUP_SQL \
    "SELECT id, status, result_json, error, attempts, failures, fence," \
    " lease_until, next_retry_at, runner_host, runner_pid, runner_start, result_at, duration," \
    " runner_boot, runner_pidns, lease_boot_until, runner_timens, command_sha256" \
    " FROM calls WHERE work = $1::text AND version = $2::text AND args_sha256 = $3::text"

/* A list of call ids as inspect.c writes it, a JSON array "[7,5]", as bigint[] */
#define IDS_OF(p) "translate(" p "::text, '[]', '{}')::bigint[]"

/* LIMIT n with -1 meaning no limit */
#define LIMIT_OF(p) " LIMIT nullif(" p "::bigint, -1)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_LOOKUP] = LOOKUP_SQL,
    /* READ COMMITTED: lock the row the claim decides on until the commit */
    [ST_LOOKUP_LOCKED] = LOOKUP_SQL " FOR UPDATE",
    [ST_INSERT_CALL] =
        "INSERT INTO calls (work, version, args_sha256, args_json, status,"
        " attempts, failures, fence, lease_until, runner_host, runner_pid,"
        " runner_start, created_at, started_at, runner_boot, runner_pidns, lease_boot_until,"
        " runner_timens, command_sha256)"
        " VALUES ($1::text, $2::text, $3::text, $4::text, 'running', 1, 0, 1, $5::float8,"
        " $6::text, $7::bigint, $8::bigint, $9::text, $9::text, $10::text, $11::bigint,"
        " $12::float8, $13::bigint, $14::text)"
        " ON CONFLICT (work, version, args_sha256) DO NOTHING RETURNING id",
    [ST_RECLAIM] =
        "UPDATE calls SET status = 'running', attempts = attempts + 1,"
        " fence = fence + 1, lease_until = $2::float8, runner_host = $3::text,"
        " runner_pid = $4::bigint, runner_start = $5::bigint, started_at = $6::text,"
        " finished_at = NULL,"
        " result_json = CASE WHEN $7::integer <> 0 THEN result_json END,"
        " result_at = CASE WHEN $7::integer <> 0 THEN result_at END, runner_boot = $8::text,"
        " runner_pidns = $9::bigint, lease_boot_until = $10::float8, runner_timens = $11::bigint,"
        " failures = CASE WHEN $12::integer <> 0 THEN 0 ELSE failures END,"
        " next_retry_at = CASE WHEN $12::integer <> 0 THEN NULL ELSE next_retry_at END,"
        " command_sha256 = $13::text"
        " WHERE id = $1::bigint",
    [ST_SET_RETRY_AT] = "UPDATE calls SET next_retry_at = $2::float8 WHERE id = $1::bigint",
    [ST_HIST_INSERT] =
        "INSERT INTO history (call_id, attempt, fence, status, runner_host,"
        " runner_pid, started_at, runner_boot, runner_pidns, runner_start, command_sha256)"
        " VALUES ($1::bigint, $2::integer, $3::bigint, 'running',"
        " $4::text, $5::bigint, $6::text, $7::text, $8::bigint, $9::bigint, $10::text) RETURNING id",
    [ST_HIST_RUNNING] =
        "SELECT id, exec_pgid, exec_start, runner_boot, runner_pidns FROM history"
        " WHERE call_id = $1::bigint AND fence = $2::bigint AND status = 'running'",
    [ST_HIST_INTERRUPT] =
        "UPDATE history SET status = 'interrupted', finished_at = $2::text, error = $3::text"
        " WHERE id = $1::bigint",
    [ST_EXEC_STARTED] =
        "UPDATE history SET exec_pid = $2::bigint, exec_pgid = $3::bigint, log_path = $4::text,"
        " exec_start = $5::bigint WHERE id = $1::bigint",
    [ST_HIST_SIGNAL_NOTE] = "UPDATE history SET signal_note = $2::text WHERE id = $1::bigint",
    [ST_RENEW] =
        "UPDATE calls SET lease_until = $3::float8, lease_boot_until = $4::float8"
        " WHERE id = $1::bigint AND fence = $2::bigint AND status = 'running'",
    [ST_FENCE_CHECK] =
        "SELECT failures, next_retry_at FROM calls"
        " WHERE id = $1::bigint AND fence = $2::bigint AND status = 'running' FOR UPDATE",
    /* a failure: $10 = 1 keeps the last good result (stale-if-error) */
    [ST_FINISH_CALL] =
        "UPDATE calls SET status = $3::text, error = $5::text, failures = $6::integer,"
        " result_json = CASE WHEN $10::integer <> 0 THEN result_json ELSE $4::text END,"
        " result_at = CASE WHEN $10::integer <> 0 THEN result_at END,"
        " next_retry_at = $7::float8, lease_until = NULL, lease_boot_until = NULL,"
        " finished_at = $8::text, duration = $9::float8"
        " WHERE id = $1::bigint AND fence = $2::bigint",
    /* $9: a success's result_at; an interruption with $10 = 1 keeps the last good result */
    [ST_FINISH_SETTLE] =
        "UPDATE calls SET status = $3::text, error = $5::text,"
        " result_json = CASE WHEN $4::text IS NULL AND $10::integer <> 0 THEN result_json"
        " ELSE $4::text END,"
        " result_at = CASE WHEN $4::text IS NOT NULL THEN $9::float8"
        " WHEN $10::integer <> 0 THEN result_at END,"
        " failures = coalesce($6::integer, failures),"
        " next_retry_at = CASE WHEN $6::integer IS NULL THEN next_retry_at END,"
        " lease_until = NULL, lease_boot_until = NULL, finished_at = $7::text,"
        " duration = $8::float8"
        " WHERE id = $1::bigint AND fence = $2::bigint AND status = 'running'",
    [ST_FINISH_HIST] =
        "UPDATE history SET status = $3::text, finished_at = $4::text, duration = $5::float8,"
        " exit_code = $6::integer, signal = $7::integer, error = $8::text,"
        " output = $9::text, output_bytes = $10::bigint, output_truncated = $11::integer"
        " WHERE id = $1::bigint AND call_id = $2::bigint",
    [ST_HIST_ERROR] = "UPDATE history SET error = $2::text WHERE id = $1::bigint",
    [ST_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL
        " ORDER BY id DESC" LIMIT_OF("$7"),
    [ST_LIST_UNSETTLED] =
        "SELECT " CALL_COLS " FROM calls WHERE status = $2::text AND status <> 'succeeded' AND "
        FILTER_SQL " ORDER BY id DESC" LIMIT_OF("$7"),
    /* $1 key prefix, $2 version or NULL (any); ST_FIND_WORK: $3 work */
    [ST_FIND] =
        "SELECT " CALL_COLS " FROM calls"
        " WHERE substr(args_sha256, 1, length($1::text)) = $1::text"
        " AND ($2::text IS NULL OR version = $2::text) ORDER BY id DESC LIMIT 6",
    [ST_FIND_WORK] =
        "SELECT " CALL_COLS " FROM calls"
        " WHERE work = $3::text AND ($2::text IS NULL OR version = $2::text)"
        " AND substr(args_sha256, 1, length($1::text)) = $1::text ORDER BY id DESC LIMIT 6",
    [ST_HISTORY] =
        "SELECT id, attempt, status, started_at, finished_at, duration,"
        " runner_host, runner_pid, exec_pid, exit_code, signal, error, log_path,"
        " output, output_bytes, output_truncated, command_sha256"
        " FROM history WHERE call_id = $1::bigint ORDER BY attempt, id",
    /* one batch (inspect.c), newest first: ids below $8, at most $9 rows */
    /* READ COMMITTED: the rows listed stay locked (and so as listed) until the commit */
    [ST_CLEAR_LIST] =
        "SELECT " CALL_COLS " FROM calls WHERE " FILTER_SQL CLEAR_GUARD
        " AND id < $8::bigint ORDER BY id DESC LIMIT $9::bigint FOR UPDATE",
    /* a batch of the calls counted before asking: those of the ids $10 that still match */
    [ST_CLEAR_PICK] =
        "SELECT " CALL_COLS " FROM calls WHERE id = ANY(" IDS_OF("$10") ") AND " FILTER_SQL
        CLEAR_GUARD " AND id < $8::bigint ORDER BY id DESC LIMIT $9::bigint FOR UPDATE",
    /* exactly the batch just listed ($10: its ids), in the same transaction */
    [ST_CLEAR] = "DELETE FROM calls WHERE id = ANY(" IDS_OF("$10") ") AND " FILTER_SQL CLEAR_GUARD
                 " AND id < $8::bigint AND id >= $9::bigint",
    [ST_AUDIT] =
        "INSERT INTO clears (at, \"user\", selector, count)"
        " VALUES ($1::text, $2::text, $3::text, $4::bigint) RETURNING id",
    [ST_AUDIT_ADD] = "UPDATE clears SET count = count + $2::bigint WHERE id = $1::bigint",
    /* one batch of at most $7 failed calls not yet runnable again */
    [ST_RETRY] =
        "UPDATE calls SET failures = 0, next_retry_at = NULL WHERE id IN"
        " (SELECT id FROM calls WHERE status = 'failed' AND status <> 'succeeded'"
        " AND (failures <> 0 OR next_retry_at IS NOT NULL) AND " FILTER_SQL
        " LIMIT $7::bigint)",
    /* one batch of settled calls finished before $1, newest first: ids below $2, at most $3 */
    [ST_GC_LIST] =
        "SELECT id FROM calls WHERE status IN ('succeeded', 'failed', 'interrupted')"
        " AND finished_at < $1::text AND id < $2::bigint ORDER BY id DESC LIMIT $3::bigint",
    /* those of the ids $2 still settled and finished before $1 (rechecked under the row lock) */
    [ST_GC] =
        "DELETE FROM calls WHERE id = ANY(" IDS_OF("$2") ")"
        " AND status IN ('succeeded', 'failed', 'interrupted') AND finished_at < $1::text",
    [ST_PREV_ARGS] =
        "SELECT args_json FROM calls WHERE work = $1::text AND args_sha256 <> $2::text"
        " ORDER BY id DESC LIMIT 1",
    [ST_COUNT_ROWS] =
        "SELECT count(*) FROM (SELECT 1 FROM calls WHERE " FILTER_SQL LIMIT_OF("$7") ") AS m",
    [ST_COUNT_WORK] =
        "SELECT count(*) FROM (SELECT 1 FROM calls WHERE work = $1::text AND version = $2::text"
        " LIMIT $3::bigint) AS w",
    [ST_ROW_ESTIMATE] =
        "SELECT coalesce((SELECT max(id) FROM calls) - (SELECT min(id) FROM calls) + 1, 0)",
    [ST_EACH_SUCCEEDED] =
        "SELECT args_sha256, result_json, result_at, duration FROM calls"
        " WHERE work = $1::text AND version = $2::text AND status = 'succeeded'"
        LIMIT_OF("$3"),
    /* the planner chooses the scan itself */
    [ST_EACH_SUCCEEDED_SCAN] =
        "SELECT args_sha256, result_json, result_at, duration FROM calls"
        " WHERE work = $1::text AND version = $2::text AND status = 'succeeded'"
        LIMIT_OF("$3"),
    /* per work: calls by status, failed for good, running with an ended lease ($1 = now) */
    [ST_TOTALS_CALLS] =
        "SELECT work, " COUNT_IF("status = 'running'") ", " COUNT_IF("status = 'succeeded'") ","
        " " COUNT_IF("status = 'failed'") ", " COUNT_IF("status = 'interrupted'") ","
        " " COUNT_IF("status = 'failed' AND failures > 0 AND next_retry_at IS NULL") ","
        " " COUNT_IF("status = 'running' AND (lease_until IS NULL OR lease_until < $1::float8)") ","
        " max(result_at) FROM calls GROUP BY work",
    /* per work: executions by outcome, end of the latest success */
    [ST_TOTALS_RUNS] =
        "SELECT c.work, " COUNT_IF("h.status = 'running'") ", " COUNT_IF("h.status = 'succeeded'") ","
        " " COUNT_IF("h.status = 'failed'") ", " COUNT_IF("h.status = 'interrupted'") ","
        " " EPOCH_OF("max(CASE WHEN h.status = 'succeeded' THEN h.finished_at END)")
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id GROUP BY c.work",
    /* per work: the latest finished execution */
    [ST_TOTALS_LAST] =
        "SELECT DISTINCT ON (c.work) c.work, h.id, " EPOCH_OF("h.finished_at") ", h.duration, h.status"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE h.finished_at IS NOT NULL ORDER BY c.work, h.id DESC",
    /* executions started at or after $1 (ISO text), with their call, oldest first */
    [ST_EXECUTIONS] =
        "SELECT c.work, c.args_sha256, c.args_json, h.id, h.attempt, h.status, h.started_at,"
        " h.finished_at, h.duration, h.runner_host, h.runner_pid, h.exec_pid, h.exit_code,"
        " h.signal, h.error, h.log_path"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE h.started_at >= $1::text ORDER BY h.id",
    /* $1 work, $2 hour, $3 hits, $4 seconds saved */
    [ST_HITS_ADD] =
        "INSERT INTO hits (work, hour, hits, saved)"
        " VALUES ($1::text, $2::bigint, $3::bigint, $4::float8)"
        " ON CONFLICT (work, hour) DO UPDATE SET hits = hits.hits + excluded.hits,"
        " saved = hits.saved + excluded.saved",
    /* per work: hits and seconds saved, all time and from hour $1 on; $2 work or NULL */
    [ST_STATS_HITS] =
        "SELECT work, sum(hits), sum(saved),"
        " coalesce(sum(CASE WHEN hour >= $1::bigint THEN hits END), 0),"
        " coalesce(sum(CASE WHEN hour >= $1::bigint THEN saved END), 0)"
        " FROM hits WHERE ($2::text IS NULL OR work = $2::text) GROUP BY work ORDER BY work",
    /* per work: executions and their seconds, all time and started from $1 (ISO) on */
    [ST_STATS_EXECS] =
        "SELECT c.work, count(*), coalesce(sum(h.duration), 0),"
        " coalesce(sum(CASE WHEN h.started_at >= $1::text THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN h.started_at >= $1::text THEN h.duration END), 0)"
        " FROM history AS h JOIN calls AS c ON c.id = h.call_id"
        " WHERE ($2::text IS NULL OR c.work = $2::text) GROUP BY c.work ORDER BY c.work",
};

int tf_store_pg_missing_statement(void)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (!stmt_sql[i])
            return i;
    return -1;
}

/* ---- names and errors --------------------------------------------------- */

int tf_db_is_server(const char *name)
{
    return name && (strncmp(name, "postgresql://", 13) == 0 || strncmp(name, "postgres://", 11) == 0);
}

char *tf_db_redact(const char *uri)
{
    if (!uri)
        return NULL;
    size_t n = strlen(uri);
    char *out = malloc(n + 4);
    if (!out)
        return NULL;
    const char *p = uri;
    char *o = out;
    const char *scheme = strstr(uri, "://");
    if (scheme) {
        size_t k = (size_t)(scheme + 3 - uri);
        memcpy(o, uri, k);
        o += k;
        p = scheme + 3;
        /* userinfo ends at the last '@' before the path or query */
        const char *end = p + strcspn(p, "/?");
        const char *at = NULL;
        for (const char *c = p; c < end; c++)
            if (*c == '@')
                at = c;
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            const char *uend = colon ? colon : at;
            memcpy(o, p, (size_t)(uend - p));
            o += uend - p;
            p = at;
        }
    }
    /* copy the rest, dropping the values of password parameters */
    while (*p) {
        if ((p[0] == '?' || p[0] == '&') && strncmp(p + 1, "password=", 9) == 0) {
            memcpy(o, p, 10);
            o += 10;
            p += 10;
            while (*p && *p != '&')
                p++;
            memcpy(o, "***", 3);
            o += 3;
            continue;
        }
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* libpq's message without its trailing newline, first line only (the rest is context). */
static void first_line(const char *msg, char *out, size_t size)
{
    if (!msg || !*msg)
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

/* 1 if SQLSTATE says retrying the whole operation may succeed. */
static int transient_state(const char *state)
{
    if (!state)
        return 0;
    return strncmp(state, "08", 2) == 0       /* connection exception */
           || strcmp(state, "40001") == 0     /* serialization failure */
           || strcmp(state, "40P01") == 0     /* deadlock detected */
           || strcmp(state, "55P03") == 0     /* lock not available (lock_timeout) */
           || strcmp(state, "57P01") == 0     /* admin shutdown / terminated backend */
           || strcmp(state, "57P02") == 0     /* crash shutdown */
           || strcmp(state, "57P03") == 0;    /* cannot connect now */
}

/*
 * A failed command (res may be NULL) as a TF code and a message naming
 * the operation and the database; marks the handle transient when a retry
 * of the operation may succeed.
 */
static int pg_err(tf_store *s, const PGresult *res, const char *what)
{
    pg *e = PG(s);
    char line[512];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int lost = !e->conn || PQstatus(e->conn) == CONNECTION_BAD;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = e->conn ? PQerrorMessage(e->conn) : "no connection";
    first_line(msg, line, sizeof line);
    if (lost || transient_state(state)) {
        s->transient = 1;
        tf_store_set_err(s, "cannot %s: database '%s' %s for %.0f s: %s", what, s->path,
                         lost ? "stayed unreachable" : "stayed busy", s->busy_total, line);
        return TF_EBUSY;
    }
    if (state && strcmp(state, "53200") == 0) {
        tf_store_set_err(s, "cannot %s: database '%s' is out of memory: %s", what, s->path, line);
        return TF_ENOMEM;
    }
    tf_store_set_err(s, "cannot %s in database '%s': %s", what, s->path, line);
    return TF_EDB;
}

/* Run a text command with no parameters; TF_OK or the error. *out gets the result when asked. */
static int run_text(tf_store *s, const char *sql, const char *what, PGresult **out)
{
    PGresult *res = PQexec(PG(s)->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = TF_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_err(s, res, what);
    if (out && rc == TF_OK)
        *out = res;
    else
        PQclear(res);
    return rc;
}

/* ---- statements ---------------------------------------------------------- */

/*
 * The highest $N in sql; used[N - 1] = 1 for each $N it names (N <= PQ_MAXP).
 * FILTER_SQL's version is $16 whatever a statement's own parameters are, so
 * a statement may leave numbers unused (engine.h).
 */
static int count_params(const char *sql, char used[PQ_MAXP])
{
    int max = 0;
    memset(used, 0, PQ_MAXP);
    for (const char *p = sql; *p; p++)
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int n = (int)strtol(p + 1, NULL, 10);
            if (n > max)
                max = n;
            if (n >= 1 && n <= PQ_MAXP)
                used[n - 1] = 1;
        }
    return max;
}

static tf_q *pq_prepare(tf_store *s, int id, int *rc)
{
    pg *e = PG(s);
    tf_q *q = &e->q[id];
    if (q->prepared)
        return q;
    if (!stmt_sql[id]) {
        /* a statement added to the SQLite engine and not yet here */
        tf_store_set_err(s, "statement %d is not available on database '%s' (PostgreSQL)", id,
                         s->path);
        *rc = TF_EDB;
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "tf%d", id);
    q->id = id;
    char used[PQ_MAXP];
    q->nparams = count_params(stmt_sql[id], used);
    if (q->nparams > PQ_MAXP) {
        /* val[] could not hold them: a statement must never be sent with parameters unbound */
        tf_store_set_err(s, "statement %d takes %d parameters, more than %d (PQ_MAXP)", id,
                         q->nparams, PQ_MAXP);
        *rc = TF_EDB;
        return NULL;
    }
    q->row = -1;
    /* a number the text never names has no type to infer: say text (it is sent as NULL) */
    Oid types[PQ_MAXP] = {0};
    for (int i = 0; i < q->nparams && i < PQ_MAXP; i++)
        if (!used[i])
            types[i] = 25; /* TEXTOID */
    PGresult *res = PQprepare(e->conn, name, stmt_sql[id], q->nparams, types);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        *rc = pg_err(s, res, "prepare a statement");
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    q->prepared = 1;
    return q;
}

static void pq_bind_text(tf_q *q, int i, const char *v)
{
    if (i >= 1 && i <= PQ_MAXP)
        q->val[i - 1] = v;
}

static void pq_bind_int64(tf_q *q, int i, int64_t v)
{
    if (i < 1 || i > PQ_MAXP)
        return;
    snprintf(q->num[i - 1], sizeof q->num[i - 1], "%lld", (long long)v);
    q->val[i - 1] = q->num[i - 1];
}

static void pq_bind_double(tf_q *q, int i, double v)
{
    if (i < 1 || i > PQ_MAXP)
        return;
    snprintf(q->num[i - 1], sizeof q->num[i - 1], "%.17g", v);
    q->val[i - 1] = q->num[i - 1];
}

static void pq_bind_null(tf_q *q, int i)
{
    if (i >= 1 && i <= PQ_MAXP)
        q->val[i - 1] = NULL;
}

static int pq_step(tf_store *s, tf_q *q, const char *what)
{
    if (!q->res) {
        char name[16];
        snprintf(name, sizeof name, "tf%d", q->id);
        PGresult *res = PQexecPrepared(PG(s)->conn, name, q->nparams, q->val, NULL, NULL, 0);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            int rc = pg_err(s, res, what);
            PQclear(res);
            return rc;
        }
        q->res = res;
        q->row = -1;
    }
    q->row++;
    return q->row < PQntuples(q->res) ? Q_ROW : Q_DONE;
}

static const char *pq_col_text(tf_q *q, int i)
{
    if (!q->res || q->row < 0 || q->row >= PQntuples(q->res) || PQgetisnull(q->res, q->row, i))
        return NULL;
    return PQgetvalue(q->res, q->row, i);
}

static int64_t pq_col_int64(tf_q *q, int i)
{
    const char *t = pq_col_text(q, i);
    return t ? (int64_t)strtoll(t, NULL, 10) : 0;
}

static double pq_col_double(tf_q *q, int i)
{
    const char *t = pq_col_text(q, i);
    return t ? strtod(t, NULL) : 0.0;
}

static int pq_col_null(tf_q *q, int i)
{
    return pq_col_text(q, i) == NULL;
}

static int64_t pq_changes(tf_store *s, tf_q *q)
{
    (void)s;
    const char *t = q->res ? PQcmdTuples(q->res) : "";
    return *t ? (int64_t)strtoll(t, NULL, 10) : 0;
}

/* The id a RETURNING id statement answered. */
static int64_t pq_last_id(tf_store *s, tf_q *q)
{
    (void)s;
    if (!q->res || PQntuples(q->res) < 1 || PQgetisnull(q->res, 0, 0))
        return 0;
    return (int64_t)strtoll(PQgetvalue(q->res, 0, 0), NULL, 10);
}

static void pq_rewind(tf_q *q)
{
    q->row = -1;
}

static void pq_reset(tf_q *q)
{
    PQclear(q->res);
    q->res = NULL;
    q->row = -1;
    for (int i = 0; i < PQ_MAXP; i++)
        q->val[i] = NULL;
}

/* ---- clock, transactions, change counter -------------------------------- */

/* Read the server's clock now (outside or inside a transaction) and remember its offset. */
static int sync_clock(tf_store *s, const char *sql, const char *what, double *now)
{
    pg *e = PG(s);
    double t0 = tf_store_mono();
    PGresult *res = NULL;
    int rc = run_text(s, sql, what, &res);
    if (rc != TF_OK)
        return rc;
    double t1 = tf_store_mono();
    double server = PQntuples(res) == 1 ? strtod(PQgetvalue(res, 0, 0), NULL) : 0;
    PQclear(res);
    *now = server;
    /* the reading happened about half way through the round trip */
    e->clock_off = server - (t0 + t1) / 2.0;
    e->clock_at = t1;
    return TF_OK;
}

static int pq_now(tf_store *s, double *now)
{
    pg *e = PG(s);
    if (e->in_txn) {
        *now = e->txn_now;
        return TF_OK;
    }
    double m = tf_store_mono();
    if (e->clock_at > 0 && m - e->clock_at < CLOCK_RESYNC) {
        *now = m + e->clock_off;
        return TF_OK;
    }
    int rc = sync_clock(s, "SELECT extract(epoch FROM clock_timestamp())::float8",
                        "read the database clock", now);
    if (rc != TF_OK && e->clock_at > 0) {
        /* unreachable for now: the last reading, carried on by the monotonic clock */
        s->transient = 0;
        *now = m + e->clock_off;
        return TF_OK;
    }
    return rc;
}

static void pq_rollback(tf_store *s);

static int pq_begin(tf_store *s, const char *what)
{
    pg *e = PG(s);
    double now = 0;
    /* one round trip: the transaction and its now() */
    int rc = sync_clock(s, "BEGIN ISOLATION LEVEL READ COMMITTED;"
                        " SELECT extract(epoch FROM now())::float8", what, &now);
    if (rc != TF_OK) {
        e->in_txn = 1; /* whatever BEGIN left open is rolled back */
        pq_rollback(s);
        return rc;
    }
    e->in_txn = 1;
    e->txn_now = now;
    return TF_OK;
}

static void pq_rollback(tf_store *s)
{
    pg *e = PG(s);
    if (!e)
        return;
    e->in_txn = 0;
    if (PQstatus(e->conn) == CONNECTION_OK && PQtransactionStatus(e->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(e->conn, "ROLLBACK");
        PQclear(r);
    }
}

static int pq_commit(tf_store *s, const char *what)
{
    pg *e = PG(s);
    PGresult *res = PQexec(e->conn, "COMMIT");
    int rc = TF_OK;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_err(s, res, what);
    else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        /* COMMIT of an aborted transaction answers ROLLBACK */
        tf_store_set_err(s, "cannot %s in database '%s': the transaction was aborted", what,
                         s->path);
        rc = TF_EDB;
    }
    PQclear(res);
    e->in_txn = 0;
    if (rc != TF_OK)
        pq_rollback(s);
    return rc;
}

/* Count the notifications of other sessions that arrived (no round trip). */
static void drain_notifies(pg *e)
{
    PGnotify *n;
    int self = PQbackendPID(e->conn);
    while ((n = PQnotifies(e->conn))) {
        if (n->be_pid != self)
            e->version++;
        PQfreemem(n);
    }
}

static int pq_data_version(tf_store *s, int64_t *version)
{
    pg *e = PG(s);
    if (PQstatus(e->conn) != CONNECTION_OK || !PQconsumeInput(e->conn)) {
        /* cannot tell what changed while we were away: say something did */
        e->version++;
        *version = e->version;
        return TF_OK;
    }
    drain_notifies(e);
    *version = e->version;
    return TF_OK;
}

static void pq_set_busy(tf_store *s)
{
    pg *e = PG(s);
    if (PQstatus(e->conn) != CONNECTION_OK)
        return;
    char ms[32];
    snprintf(ms, sizeof ms, "%d", s->busy_total > 0 ? (int)(s->busy_total * 1000.0) + 1 : 1);
    const char *vals[1] = {ms};
    PGresult *r = PQexecParams(e->conn, "SELECT set_config('lock_timeout', $1::text, false)",
                               1, NULL, vals, NULL, NULL, 0);
    PQclear(r);
}

/* Library code never prints: libpq's notices are dropped. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Session settings and LISTEN after every (re)connection. */
static int session_setup(tf_store *s)
{
    pg *e = PG(s);
    PQsetNoticeProcessor(e->conn, quiet, NULL);
    for (int i = 0; i < ST_COUNT; i++) {
        PQclear(e->q[i].res);
        memset(&e->q[i], 0, sizeof e->q[i]);
        e->q[i].row = -1;
    }
    e->in_txn = 0;
    e->clock_at = 0;
    int rc = run_text(s, "SET client_min_messages = warning", "set up the session", NULL);
    if (rc != TF_OK)
        return rc;
    pq_set_busy(s);
    PGresult *res = NULL;
    rc = run_text(s, "SELECT current_schema()", "read the current schema", &res);
    if (rc != TF_OK)
        return rc;
    const char *schema = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "";
    char chan[128];
    snprintf(chan, sizeof chan, "tickflow.%s", schema);
    PQclear(res);
    char *quoted = PQescapeIdentifier(e->conn, chan, strlen(chan));
    if (!quoted || strlen(quoted) + 8 >= sizeof e->channel) {
        PQfreemem(quoted);
        tf_store_set_err(s, "cannot listen for changes in database '%s': schema name too long",
                         s->path);
        return TF_EDB;
    }
    snprintf(e->channel, sizeof e->channel, "%s", quoted);
    PQfreemem(quoted);
    char sql[200];
    snprintf(sql, sizeof sql, "LISTEN %s", e->channel);
    return run_text(s, sql, "listen for changes", NULL);
}

/*
 * After a transient failure: reconnect if the connection is gone (a new
 * session: statements prepared again, LISTEN again, and the change counter
 * moved since notifications may have been missed).
 */
static void pq_recover(tf_store *s)
{
    pg *e = PG(s);
    if (!e || PQstatus(e->conn) == CONNECTION_OK)
        return;
    PQreset(e->conn);
    if (PQstatus(e->conn) != CONNECTION_OK)
        return;
    e->version++;
    session_setup(s);
}

/* ---- open and migrate ------------------------------------------------- */

static int refuse_newer(tf_store *s, int v)
{
    tf_store_set_err(s, "database '%s' has schema version %d, newer than this tickflow (%d);"
                     " refusing to modify it", s->path, v, tf_schema_postgres_count);
    return TF_ESCHEMA;
}

/*
 * The schema state in the current schema: *version (-1: no tickflow_schema
 * table) and *foreign (a calls table without tickflow_schema).
 */
static int read_version(tf_store *s, int *version, int *foreign)
{
    PGresult *res = NULL;
    int rc = run_text(s, "SELECT to_regclass('tickflow_schema') IS NOT NULL,"
                      " to_regclass('calls') IS NOT NULL", "read the schema version", &res);
    if (rc != TF_OK)
        return rc;
    int has_meta = PQgetvalue(res, 0, 0)[0] == 't';
    *foreign = !has_meta && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    *version = -1;
    if (!has_meta)
        return TF_OK;
    rc = run_text(s, "SELECT coalesce(max(version), 0) FROM tickflow_schema",
                  "read the schema version", &res);
    if (rc != TF_OK)
        return rc;
    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return TF_OK;
}

/* Inside the migration transaction, under the advisory lock: bring the schema up to date. */
static int migrate_locked(tf_store *s)
{
    int v = 0, foreign = 0;
    int rc = read_version(s, &v, &foreign);
    if (rc != TF_OK)
        return rc;
    if (foreign) {
        tf_store_set_err(s, "database '%s' is not a tickflow database: its schema has a calls"
                         " table but no tickflow schema version", s->path);
        return TF_EDB;
    }
    if (v > tf_schema_postgres_count)
        return refuse_newer(s, v);
    if (v < 0) {
        rc = run_text(s, "CREATE TABLE tickflow_schema (version integer NOT NULL);"
                      " INSERT INTO tickflow_schema VALUES (0)", "create the schema version", NULL);
        if (rc != TF_OK)
            return rc;
        v = 0;
    }
    for (int i = v; i < tf_schema_postgres_count; i++) {
        PGresult *res = PQexec(PG(s)->conn, tf_schema_postgres[i]);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[64];
            snprintf(what, sizeof what, "apply schema migration %d", i + 1);
            rc = pg_err(s, res, what);
            PQclear(res);
            return rc;
        }
        PQclear(res);
        char num[16];
        snprintf(num, sizeof num, "%d", i + 1);
        const char *vals[1] = {num};
        res = PQexecParams(PG(s)->conn, "UPDATE tickflow_schema SET version = $1::integer",
                           1, NULL, vals, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = pg_err(s, res, "record the schema version");
            PQclear(res);
            return rc;
        }
        PQclear(res);
    }
    return TF_OK;
}

/*
 * Check the schema without a lock; migrate only when behind, holding a
 * session advisory lock taken before the migration's transaction begins
 * (so that transaction sees, in its catalog too, everything the previous
 * holder committed), released right after.
 */
static int migrate(tf_store *s)
{
    int v = 0, foreign = 0;
    int rc = read_version(s, &v, &foreign);
    if (rc != TF_OK)
        return rc;
    if (v > tf_schema_postgres_count)
        return refuse_newer(s, v);
    if (v == tf_schema_postgres_count)
        return TF_OK;
    /* one migrator per database at a time */
    rc = run_text(s, "SELECT pg_advisory_lock(7316157210450944001)",
                  "lock the schema for migration", NULL);
    if (rc != TF_OK)
        return rc;
    rc = run_text(s, "BEGIN", "migrate the schema", NULL);
    if (rc == TF_OK) {
        rc = migrate_locked(s);
        if (rc != TF_OK)
            pq_rollback(s);
        else
            rc = pq_commit(s, "commit the schema migration");
    }
    PGresult *r = PQexec(PG(s)->conn, "SELECT pg_advisory_unlock(7316157210450944001)");
    PQclear(r);
    return rc;
}

/*
 * tf_store_open_readonly (a dry run): the session is made read-only on the
 * server (any write is refused there), and the schema must be current
 * already: nothing is created or migrated.
 */
static int check_readonly(tf_store *s)
{
    int rc = run_text(s, "SET default_transaction_read_only = on", "make the session read-only",
                      NULL);
    int v = 0, foreign = 0;
    if (rc == TF_OK)
        rc = read_version(s, &v, &foreign);
    if (rc != TF_OK)
        return rc;
    if (v > tf_schema_postgres_count)
        return refuse_newer(s, v);
    if (v < tf_schema_postgres_count) {
        tf_store_set_err(s, "database '%s' has %s, which a read-only open (a dry run) does not"
                         " create: run once without --dry-run", s->path,
                         v < 0 ? "no tickflow schema yet" : "an older tickflow schema");
        return TF_ESCHEMA;
    }
    return TF_OK;
}

static int pq_open(tf_store *s)
{
    char *shown = tf_db_redact(s->target);
    if (!shown) {
        tf_store_set_err(s, "cannot open database: out of memory");
        return TF_ENOMEM;
    }
    free(s->path);
    s->path = shown;
    pg *e = calloc(1, sizeof *e);
    if (!e) {
        tf_store_set_err(s, "cannot open database '%s': out of memory", s->path);
        return TF_ENOMEM;
    }
    s->impl = e;
    /*
     * URI values override the defaults before it; PG* variables fill the
     * rest. TCP keepalives and a user timeout notice a server that went
     * silent (a partition) in about 30 s instead of the kernel's hours.
     */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "keepalives",
                          "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "dbname", NULL};
    const char *vals[] = {"10", "tickflow", "1", "10", "5", "3", "30000", s->target, NULL};
    e->conn = PQconnectdbParams(keys, vals, 1);
    if (!e->conn) {
        tf_store_set_err(s, "cannot open database '%s': out of memory", s->path);
        return TF_ENOMEM;
    }
    if (PQstatus(e->conn) != CONNECTION_OK) {
        char line[512];
        first_line(PQerrorMessage(e->conn), line, sizeof line);
        tf_store_set_err(s, "cannot open database '%s': %s", s->path, line);
        return TF_EDB;
    }
    int rc = session_setup(s);
    if (rc == TF_OK)
        rc = s->readonly ? check_readonly(s) : migrate(s);
    return rc;
}

static void pq_close(tf_store *s)
{
    pg *e = PG(s);
    if (!e)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        PQclear(e->q[i].res);
    PQfinish(e->conn);
    free(e);
    s->impl = NULL;
}

const tf_engine tf_engine_postgres = {
    .name = "postgresql",
    .open = pq_open,
    .close = pq_close,
    .set_busy = pq_set_busy,
    .recover = pq_recover,
    .prepare = pq_prepare,
    .bind_text = pq_bind_text,
    .bind_int64 = pq_bind_int64,
    .bind_double = pq_bind_double,
    .bind_null = pq_bind_null,
    .step = pq_step,
    .col_text = pq_col_text,
    .col_int64 = pq_col_int64,
    .col_double = pq_col_double,
    .col_null = pq_col_null,
    .changes = pq_changes,
    .last_id = pq_last_id,
    .rewind = pq_rewind,
    .reset = pq_reset,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .now = pq_now,
    .data_version = pq_data_version,
};
