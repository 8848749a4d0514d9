/*
 * fuzz_template.c - libFuzzer target for "{{...}}" templates: parsing any
 * bytes and evaluating what parses against a fixed clock, a foreach
 * element and one work result. Invariants: a refusal gives an offset inside
 * the input; parts have offsets inside the input, in increasing order;
 * evaluation never crashes and returns a known code (glob parts are not
 * evaluated: a pattern such as "/ * / * / *" would walk the whole disk).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cJSON *results(void *user, const char *work)
{
    return strcmp(work, "a") ? NULL : user;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tf_template t;
    tf_error err;
    int rc = tf_template_parse((const char *)data, size, &t, &err);
    if (rc == TF_EINPUT) {
        if (err.offset >= size) {
            fprintf(stderr, "refusal offset %zu outside %zu bytes\n", err.offset, size);
            abort();
        }
        return 0;
    }
    if (rc != TF_OK)
        return 0;
    int has_glob = 0;
    for (size_t i = 0; i < t.nparts; i++) {
        if (t.parts[i].offset >= size || (i && t.parts[i].offset <= t.parts[i - 1].offset)) {
            fprintf(stderr, "part %zu offset %zu out of order or range\n", i, t.parts[i].offset);
            abort();
        }
        has_glob |= t.parts[i].kind == TF_T_GLOB;
    }
    if (!has_glob) {
        cJSON *item = cJSON_Parse("{\"x\":[1,{\"y\":\"z\"}],\"n\":2.5}");
        cJSON *res = cJSON_Parse("{\"path\":\"p\",\"rows\":[3,4]}");
        tf_tenv env = {.now = 1795505400.0, .base_dir = "/nonexistent", .item = item,
                       .result = results, .user = res};
        cJSON *v = NULL;
        char why[256];
        rc = tf_template_eval(&t, &env, &v, why, sizeof why);
        if (rc != TF_OK && rc != TF_EINPUT && rc != TF_ENOTFOUND && rc != TF_ENOMEM) {
            fprintf(stderr, "unexpected code %d\n", rc);
            abort();
        }
        if (rc == TF_OK && !v) {
            fprintf(stderr, "TF_OK without a value\n");
            abort();
        }
        cJSON_Delete(v);
        cJSON_Delete(item);
        cJSON_Delete(res);
    }
    tf_template_free(&t);
    return 0;
}
