/*
 * claims.c - store helpers shared by the store tests (claims.h).
 */
#include "helpers/claims.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void key_of(char out[65], const char *prefix)
{
    size_t n = strlen(prefix);
    memset(out, '0', 64);
    memcpy(out, prefix, n < 64 ? n : 64);
    out[64] = '\0';
}

tf_claim claim_ok(tf_store *s, const tf_claim_req *r)
{
    tf_claim c;
    int rc = tf_store_claim(s, r, &c);
    if (rc != TF_OK)
        fail_msg("claim: %s", tf_store_errmsg(s));
    return c;
}

/* The work and version of the one row found (tf_store_find's callback). */
typedef struct found {
    int n;                  /* rows handed on */
    char work[32];          /* the last one's work */
    char version[32];       /* and version */
} found;

static int found_row(const tf_call_row *r, void *user)
{
    found *f = user;
    f->n++;
    snprintf(f->work, sizeof f->work, "%s", r->work);
    snprintf(f->version, sizeof f->version, "%s", r->version ? r->version : "");
    return 0;
}

/* tf_store_find(s, work, version, key) finds exactly the call of want_work and want_version. */
static void find_one(tf_store *s, const char *work, const char *version, const char *key,
                     const char *want_work, const char *want_version)
{
    found f = {0, "", ""};
    int rc = tf_store_find(s, work, version, key, found_row, &f);
    if (rc != TF_OK)
        fail_msg("find %s@%s/%s: %s", work ? work : "*", version ? version : "*", key,
                 tf_store_errmsg(s));
    assert_int_equal(f.n, 1);
    assert_string_equal(f.work, want_work);
    assert_string_equal(f.version, want_version);
}

static int64_t count_of(tf_store *s, const char *work, const char *version, const char *key)
{
    tf_filter f = {0};
    f.work = work;
    f.version = version;
    f.key_prefix = key;
    int64_t n = -1;
    assert_int_equal(tf_store_count(s, &f, 0, &n), TF_OK);
    return n;
}

void check_find_by_work_and_version(tf_store *s)
{
    char key[65];
    key_of(key, "abcdef0123456789");
    const char *works[] = {"a", "b", "a"}, *versions[] = {"", "", "2"};
    for (int i = 0; i < 3; i++) {
        tf_claim_req r = {
            .work = works[i], .version = versions[i], .args_sha256 = key, .args_json = "{}",
            .cache_calls = 1, .backoff = 10, .lease = 30,
        };
        tf_claim c = claim_ok(s, &r);
        assert_int_equal(c.decision, TF_CLAIM_RUN);
        tf_finish fin = {
            .call_id = c.call_id, .fence = c.fence, .history_id = c.history_id,
            .outcome = TF_OUT_SUCCEEDED, .result_json = "1", .duration = 0.1,
        };
        assert_int_equal(tf_store_finish(s, &fin), TF_OK);
        tf_claim_clear(&c);
    }
    /* the key alone, even in full, names three calls: refused, each listed in the printed form */
    assert_int_equal(tf_store_find(s, NULL, NULL, key, NULL, NULL), TF_EAMBIGUOUS);
    const char *m = tf_store_errmsg(s);
    assert_non_null(strstr(m, " a/abcdef012345"));
    assert_non_null(strstr(m, " b/abcdef012345"));
    assert_non_null(strstr(m, " a@2/abcdef012345"));
    assert_int_equal(tf_store_find(s, "a", NULL, "abcd", NULL, NULL), TF_EAMBIGUOUS);
    m = tf_store_errmsg(s);
    assert_null(strstr(m, "b/"));
    /* work AND version AND prefix */
    find_one(s, "a", "", "abcd", "a", "");
    find_one(s, "a", "2", key, "a", "2");
    find_one(s, NULL, "2", "abcdef", "a", "2");
    find_one(s, "b", NULL, "ABCDEF", "b", "");
    assert_int_equal(tf_store_find(s, "b", "2", "abcd", NULL, NULL), TF_ENOTFOUND);
    assert_non_null(strstr(tf_store_errmsg(s), "no call of work 'b' with version '2'"));
    assert_int_equal(tf_store_find(s, "c", NULL, "abcd", NULL, NULL), TF_ENOTFOUND);
    assert_int_equal(tf_store_find(s, "a", "", "abce", NULL, NULL), TF_ENOTFOUND);
    /* a filter's version: "" is no version, NULL any */
    assert_int_equal(count_of(s, NULL, NULL, key), 3);
    assert_int_equal(count_of(s, "a", NULL, key), 2);
    assert_int_equal(count_of(s, "a", "", key), 1);
    assert_int_equal(count_of(s, NULL, "", key), 2);
    assert_int_equal(count_of(s, NULL, "2", NULL), 1);
    /* clear (a, no version, key): the other two stay */
    tf_filter f = {0};
    f.work = "a";
    f.version = "";
    f.key_prefix = key;
    int64_t n = -1;
    assert_int_equal(tf_store_clear(s, &f, "tester", "--key a/abcdef012345", 0, NULL, NULL, &n),
                     TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(count_of(s, NULL, NULL, key), 2);
    find_one(s, "a", NULL, key, "a", "2");
    find_one(s, "b", "", key, "b", "");
    /* a version alone is a selection */
    tf_filter fv = {0};
    fv.version = "2";
    assert_int_equal(tf_store_clear(s, &fv, "tester", "--version 2", 0, NULL, NULL, &n), TF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(count_of(s, NULL, NULL, key), 1);
}
