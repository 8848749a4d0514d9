/*
 * claims.c - store helpers shared by the store tests (claims.h).
 */
#include "helpers/claims.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
