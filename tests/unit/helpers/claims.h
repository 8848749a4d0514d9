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

#endif
