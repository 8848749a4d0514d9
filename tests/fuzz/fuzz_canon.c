/*
 * fuzz_canon.c - libFuzzer target for the strict parser and the RFC 8785
 * writer. Any input: tf_canon_text must not crash; when it accepts, the
 * output must be a fixed point (canonicalizing it again gives the same
 * bytes), and the cJSON path (tf_parse_text + tf_canon_tree) must give the
 * same bytes. A violation aborts so the fuzzer records it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL, *again = NULL, *tree_out = NULL;
    size_t n = 0, n2 = 0, n3 = 0;
    tf_error err;
    int rc = tf_canon_text((const char *)data, size, &out, &n, &err);
    cJSON *tree = NULL;
    int prc = tf_parse_text((const char *)data, size, &tree, &err);
    if ((rc == TF_OK) != (prc == TF_OK)) {
        fprintf(stderr, "canon_text rc %d but parse_text rc %d\n", rc, prc);
        abort();
    }
    if (rc != TF_OK) {
        if (rc != TF_EINPUT || err.line < 1 || err.column < 1 || err.offset > size) {
            fprintf(stderr, "bad refusal: rc %d %s\n", rc, err.msg);
            abort();
        }
        return 0;
    }
    if (tf_canon_text(out, n, &again, &n2, &err) != TF_OK) {
        fprintf(stderr, "canonical output refused: %s\n", err.msg);
        abort();
    }
    if (n2 != n || memcmp(out, again, n) != 0) {
        fprintf(stderr, "not idempotent\n");
        abort();
    }
    if (tf_canon_tree(tree, &tree_out, &n3, &err) != TF_OK) {
        fprintf(stderr, "tree refused: %s\n", err.msg);
        abort();
    }
    if (n3 != n || memcmp(out, tree_out, n) != 0) {
        fprintf(stderr, "tree output differs\n");
        abort();
    }
    cJSON_Delete(tree);
    free(out);
    free(again);
    free(tree_out);
    return 0;
}
