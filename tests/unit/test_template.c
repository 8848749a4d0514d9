/*
 * test_template.c - unit tests of template.c's prepared argument trees
 * (tf_targs): the same values, codes and messages as tf_template_expand,
 * call after call on one working copy, and no reference left to a foreach
 * element or a result after tf_targs_reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tickflow.h"
#include "template.h"

#define T0 1795590000.0 /* 2026-11-24T07:00:00Z */

/* Canonical text of v (caller frees). */
static char *canon(const cJSON *v)
{
    char *c = NULL;
    size_t n = 0;
    assert_int_equal(tf_canon_tree(v, &c, &n, NULL), TF_OK);
    return c;
}

/* The result of every work is {"n": 7, "l": ["x", "y"]}. */
static const cJSON *result_fn(void *user, const char *work)
{
    return strcmp(work, "up") ? NULL : user;
}

static void template__prepared_args_equal_expand(void **state)
{
    (void)state;
    setenv("TF_TEST_TEMPLATE", "v", 1);
    cJSON *args = cJSON_Parse("{\"i\":\"{{item}}\",\"f\":\"{{item.a}}\",\"t\":\"n{{item.a}}-{{env:TF_TEST_TEMPLATE}}\","
                              "\"l\":[1,{\"x\":\"{{item}}\",\"r\":\"{{up.result.l.1}}\"}],\"k\":\"{{{{\","
                              "\"r\":\"{{up.result}}\",\"d\":\"{{today}}\",\"plain\":\"p\"}");
    cJSON *result = cJSON_Parse("{\"n\":7,\"l\":[\"x\",\"y\"]}");
    cJSON *items = cJSON_Parse("[{\"a\":1},{\"a\":\"s\"},{\"a\":[true,null]},{\"a\":{\"z\":2.5}}]");
    assert_non_null(args);
    tf_targs *a = NULL;
    tf_error perr;
    assert_int_equal(tf_targs_new(args, &a, &perr), TF_OK);
    char err[256];
    for (int round = 0; round < 2; round++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, items) {
            tf_tenv env = {.now = T0, .item = item, .result = result_fn, .user = result};
            cJSON *want = NULL;
            const cJSON *got = NULL;
            assert_int_equal(tf_template_expand(args, &env, &want, err, sizeof err), TF_OK);
            assert_int_equal(tf_targs_fill(a, &env, &got, err, sizeof err), TF_OK);
            char *w = canon(want), *g = canon(got);
            assert_string_equal(g, w);
            free(w);
            free(g);
            cJSON_Delete(want);
            tf_targs_reset(a);
        }
    }
    /* The tree given is left as written. */
    char *orig = canon(args);
    assert_non_null(strstr(orig, "\"{{item}}\""));
    free(orig);
    tf_targs_free(a);
    cJSON_Delete(args);
    cJSON_Delete(result);
    cJSON_Delete(items);
}

static void template__prepared_args_fail_like_expand(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("{\"a\":\"{{item.missing}}\"}");
    cJSON *args2 = cJSON_Parse("{\"a\":[\"{{other.result}}\"]}");
    cJSON *item = cJSON_Parse("{\"b\":1}");
    tf_targs *a = NULL, *a2 = NULL;
    tf_error perr;
    assert_int_equal(tf_targs_new(args, &a, &perr), TF_OK);
    assert_int_equal(tf_targs_new(args2, &a2, &perr), TF_OK);
    tf_tenv env = {.now = T0, .item = item, .result = result_fn, .user = NULL};
    char e1[256] = "", e2[256] = "";
    cJSON *want = NULL;
    const cJSON *got = (const cJSON *)1;
    assert_int_equal(tf_template_expand(args, &env, &want, e1, sizeof e1), TF_EINPUT);
    assert_int_equal(tf_targs_fill(a, &env, &got, e2, sizeof e2), TF_EINPUT);
    assert_null(got);
    assert_string_equal(e2, e1);
    assert_int_equal(tf_template_expand(args2, &env, &want, e1, sizeof e1), TF_ENOTFOUND);
    assert_int_equal(tf_targs_fill(a2, &env, &got, e2, sizeof e2), TF_ENOTFOUND);
    assert_string_equal(e2, e1);
    assert_string_equal(e2, "needs other.result");
    /* A bad template is refused when prepared. */
    cJSON *bad = cJSON_Parse("{\"a\":\"{{nope}}\"}");
    tf_targs *ab = NULL;
    assert_int_equal(tf_targs_new(bad, &ab, &perr), TF_EINPUT);
    assert_null(ab);
    assert_non_null(strstr(perr.msg, "unknown template"));
    cJSON_Delete(bad);
    tf_targs_free(a);
    tf_targs_free(a2);
    cJSON_Delete(args);
    cJSON_Delete(args2);
    cJSON_Delete(item);
}

static void template__prepared_args_keep_no_reference_after_reset(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("{\"i\":\"{{item}}\"}");
    tf_targs *a = NULL;
    tf_error perr;
    assert_int_equal(tf_targs_new(args, &a, &perr), TF_OK);
    char err[256];
    const cJSON *got = NULL;
    cJSON *item = cJSON_Parse("{\"deep\":[\"text\"]}");
    tf_tenv env = {.now = T0, .item = item};
    assert_int_equal(tf_targs_fill(a, &env, &got, err, sizeof err), TF_OK);
    char *c = canon(got);
    assert_string_equal(c, "{\"i\":{\"deep\":[\"text\"]}}");
    free(c);
    tf_targs_reset(a);
    cJSON_Delete(item); /* the working copy must not point into it any more */
    c = canon(got);
    assert_string_equal(c, "{\"i\":null}");
    free(c);
    cJSON *item2 = cJSON_CreateString("next");
    env.item = item2;
    assert_int_equal(tf_targs_fill(a, &env, &got, err, sizeof err), TF_OK);
    c = canon(got);
    assert_string_equal(c, "{\"i\":\"next\"}");
    free(c);
    tf_targs_free(a); /* frees the copy, never the borrowed element */
    assert_string_equal(item2->valuestring, "next");
    cJSON_Delete(item2);
    cJSON_Delete(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(template__prepared_args_equal_expand),
        cmocka_unit_test(template__prepared_args_fail_like_expand),
        cmocka_unit_test(template__prepared_args_keep_no_reference_after_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
