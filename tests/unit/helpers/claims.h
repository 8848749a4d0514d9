/*
 * claims.h - store helpers the store tests share (tests/unit/helpers/,
 * linked into every test binary): test_store.c (SQLite) and
 * test_store_pg.c (PostgreSQL) drive the same protocol.
 */
#ifndef TF_TEST_CLAIMS_H
#define TF_TEST_CLAIMS_H

#include "store.h"

/* A 64-hex key: the given hex prefix padded with '0'. */
void key_of(char out[65], const char *prefix);

/* tf_store_claim that fails the test (with the store's message) unless it returns TF_OK. */
tf_claim claim_ok(tf_store *s, const tf_claim_req *r);

/*
 * On an empty store s: three settled calls share one key, of work a (no
 * version), work b (no version) and a@2; finding by key alone is
 * ambiguous (the candidates listed as a/..., b/..., a@2/...), by work and
 * version it finds each one, a filter's version narrows list and clear,
 * and a clear of (a, no version, key) leaves the other two.
 */
void check_find_by_work_and_version(tf_store *s);

#endif
