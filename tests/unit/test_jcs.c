/*
 * test_jcs.c - RFC 8785 output (jcs.c) and SHA-256 keys (hash.c): member
 * order by UTF-16 code units, escaping, the RFC's examples, the node
 * vectors in tests/vectors/jcs, cJSON trees with their JSON-path refusals,
 * and the hashes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "json.h"
#include "tickflow.h"

static int keycmp(const char *a, const char *b)
{
    return tf_jcs_keycmp(a, strlen(a), b, strlen(b));
}

static void jcs__keys_sort_by_utf16(void **state)
{
    (void)state;
    /* U+1F602 (surrogates D83D DE02) before U+FB33, though its UTF-8 is larger */
    assert_true(keycmp("\xF0\x9F\x98\x82", "\xEF\xAC\xB3") < 0);
    assert_true(keycmp("\xEF\xAC\xB3", "\xF0\x9F\x98\x82") > 0);
    assert_true(keycmp("\xEE\x80\x80", "\xF0\x90\x80\x80") > 0);      /* U+E000 > U+10000 */
    assert_true(keycmp("\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF") > 0);      /* U+FFFF > U+10FFFF */
    assert_true(keycmp("\xED\x9F\xBF", "\xF0\x90\x80\x80") < 0);      /* U+D7FF < U+10000 */
    assert_true(keycmp("\xEE\x80\x80", "\xEF\xBF\xBF") < 0);          /* within the BMP */
    assert_true(keycmp("\xF0\x90\x80\x80", "\xF0\x9F\x98\x82") < 0);  /* both astral */
    assert_true(keycmp("a\xF0\x9F\x98\x82", "a\xEF\xAC\xB3") < 0);    /* after a common prefix */
    assert_true(keycmp("", "a") < 0);
    assert_true(keycmp("a", "") > 0);
    assert_true(keycmp("ab", "abc") < 0);
    assert_true(keycmp("abcdefghij", "abcdefghik") < 0);              /* past the 8-byte step */
    assert_true(keycmp("B", "a") < 0);
    assert_true(keycmp("z", "\xC3\xA9") < 0);
    assert_int_equal(keycmp("\xF0\x9F\x98\x82", "\xF0\x9F\x98\x82"), 0);
    assert_int_equal(keycmp("", ""), 0);

    char *out;
    tf_error err;
    const char *t = "{\"\\ufb33\":1,\"\\ud83d\\ude02\":2,\"\\ue000\":3,\"z\":4,\"\\u00e9\":5}";
    assert_int_equal(tf_canon_text(t, strlen(t), &out, NULL, &err), TF_OK);
    assert_string_equal(out, "{\"z\":4,\"\xC3\xA9\":5,\"\xF0\x9F\x98\x82\":2,"
                             "\"\xEE\x80\x80\":3,\"\xEF\xAC\xB3\":1}");
    free(out);
}

static void jcs__string_escapes(void **state)
{
    (void)state;
    tf_buf b = TF_BUF_INIT;
    const char in[] = "\"\\/\b\t\n\f\r\x01\x1f\x7f \xE2\x82\xAC\xF0\x9F\x98\x82";
    assert_int_equal(tf_jcs_string(in, sizeof in - 1, &b), TF_OK);
    assert_string_equal(b.data, "\"\\\"\\\\/\\b\\t\\n\\f\\r\\u0001\\u001f\x7f "
                                "\xE2\x82\xAC\xF0\x9F\x98\x82\"");
    tf_buf_reset(&b);
    /* every control character, many escapes in a row (buffer growth) */
    char ctl[32 * 40];
    for (size_t i = 0; i < sizeof ctl; i++)
        ctl[i] = (char)(i % 32);
    assert_int_equal(tf_jcs_string(ctl, sizeof ctl, &b), TF_OK);
    assert_int_equal(b.len, 2 + 40 * (5 * 2 + 27 * 6));
    assert_memory_equal(b.data, "\"\\u0000\\u0001", 13);
    tf_buf_reset(&b);
    assert_int_equal(tf_jcs_string("", 0, &b), TF_OK);
    assert_string_equal(b.data, "\"\"");
    tf_buf_free(&b);
}

static void jcs__rfc8785_examples(void **state)
{
    (void)state;
    /* RFC 8785 section 3.2.2; expected bytes checked with node (scripts/gen-jcs-vectors.js) */
    const char *t =
        "{\n  \"numbers\": [333333333.33333329, 1E30, 4.50,\n"
        "              2e-3, 0.000000000000000000000000001],\n"
        "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
        "  \"literals\": [null, true, false]\n}";
    char *out;
    size_t n;
    tf_error err;
    assert_int_equal(tf_canon_text(t, strlen(t), &out, &n, &err), TF_OK);
    const char *want = "{\"literals\":[null,true,false],"
                       "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                       "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    free(out);

    /* RFC 8785 section 3.2.3 sorting example */
    t = "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
        "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
        "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
        "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}";
    assert_int_equal(tf_canon_text(t, strlen(t), &out, &n, &err), TF_OK);
    assert_string_equal(out, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xC2\x80\":\"Control\","
                             "\"\xC3\xB6\":\"Latin Small Letter O With Diaeresis\","
                             "\"\xE2\x82\xAC\":\"Euro Sign\","
                             "\"\xF0\x9F\x98\x80\":\"Emoji: Grinning Face\","
                             "\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}");
    free(out);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *s = malloc(cap);
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *t = realloc(s, cap * 2);
            if (!t)
                free(s);
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s)
        s[n] = '\0';
    *len = n;
    return s;
}

static void jcs__node_vectors(void **state)
{
    (void)state;
    const char *root = getenv("TF_ROOT");
    char dir[1024];
    int w = snprintf(dir, sizeof dir, "%s/tests/vectors/jcs", root ? root : ".");
    assert_true(w > 0 && (size_t)w < sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (run from the repository root or set TF_ROOT)", dir);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0)
            continue;
        char in_path[2048], out_path[2048];
        snprintf(in_path, sizeof in_path, "%s/%s", dir, e->d_name);
        snprintf(out_path, sizeof out_path, "%s/%.*s.out", dir, (int)(nl - 5), e->d_name);
        size_t in_len, want_len;
        char *in = slurp(in_path, &in_len), *want = slurp(out_path, &want_len);
        assert_non_null(in);
        assert_non_null(want);
        char *out;
        size_t n;
        tf_error err;
        if (tf_canon_text(in, in_len, &out, &n, &err) != TF_OK)
            fail_msg("%s refused: %s", e->d_name, err.msg);
        if (n != want_len || memcmp(out, want, n) != 0)
            fail_msg("%s: got %s\nwant %s", e->d_name, out, want);
        /* the cJSON path gives the same bytes, and canonical text is a fixed point */
        cJSON *c;
        assert_int_equal(tf_parse_text(in, in_len, &c, &err), TF_OK);
        char *tree_out, *again;
        assert_int_equal(tf_canon_tree(c, &tree_out, NULL, &err), TF_OK);
        assert_string_equal(tree_out, want);
        assert_int_equal(tf_canon_text(out, n, &again, NULL, &err), TF_OK);
        assert_string_equal(again, want);
        char h1[65], h2[65], h3[65];
        assert_int_equal(tf_hash_text(in, in_len, h1, &err), TF_OK);
        assert_int_equal(tf_hash_tree(c, h2, &err), TF_OK);
        assert_int_equal(tf_sha256_hex(want, want_len, h3), TF_OK);
        assert_string_equal(h1, h3);
        assert_string_equal(h2, h3);
        cJSON_Delete(c);
        free(again);
        free(tree_out);
        free(out);
        free(in);
        free(want);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 40);
}

/* tf_canon_tree must refuse tree with a message starting with want. */
static void expect_tree_refused(const cJSON *tree, const char *want)
{
    char *out = (char *)1;
    tf_error err;
    int rc = tf_canon_tree(tree, &out, NULL, &err);
    if (rc != TF_EINPUT || strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("rc %d msg '%s', want '%s'", rc, err.msg, want);
    assert_null(out);
    assert_int_equal(err.line, 0);
    char hex[65];
    assert_int_equal(tf_hash_tree(tree, hex, NULL), TF_EINPUT);
    assert_string_equal(hex, "");
}

static void jcs__tree_refusals_name_the_path(void **state)
{
    (void)state;
    cJSON *root = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(root, "a");
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddItemToArray(a, obj);
    cJSON *b = cJSON_AddNumberToObject(obj, "b", 1);

    b->valuedouble = NAN;
    expect_tree_refused(root, "$.a[3].b: number is not finite");
    b->valuedouble = INFINITY;
    expect_tree_refused(root, "$.a[3].b: number is not finite");
    b->valuedouble = -INFINITY;
    expect_tree_refused(root, "$.a[3].b: number is not finite");
    b->valuedouble = 1.5;

    cJSON *s = cJSON_AddStringToObject(obj, "my key", "ok\xC0\x80");
    expect_tree_refused(root, "$.a[3][\"my key\"]: invalid utf-8 in string at byte 2");
    cJSON_SetValuestring(s, "ok\xED\xA0\x80");
    expect_tree_refused(root, "$.a[3][\"my key\"]: invalid utf-8 in string");
    cJSON_SetValuestring(s, "fine");

    char *saved = s->valuestring;
    s->valuestring = NULL;
    expect_tree_refused(root, "$.a[3][\"my key\"]: string value is NULL");
    s->valuestring = saved;

    cJSON_AddNumberToObject(obj, "b", 2);
    expect_tree_refused(root, "$.a[3]: duplicate member name \"b\"");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "b"); /* deletes the first */
    cJSON_AddItemToObject(obj, "k\xFF", cJSON_CreateTrue());
    expect_tree_refused(root, "$.a[3][\"k\xFF\"]: invalid utf-8 in member name at byte 1");
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "k\xFF");

    cJSON *raw = cJSON_CreateRaw("{\"x\":1}");
    cJSON_AddItemToArray(a, raw);
    expect_tree_refused(root, "$.a[4]: raw cJSON values are not allowed");
    raw->type = cJSON_Invalid;
    expect_tree_refused(root, "$.a[4]: invalid cJSON type 0x0");
    raw->type = cJSON_Number | cJSON_String;
    expect_tree_refused(root, "$.a[4]: invalid cJSON type");
    raw->type = cJSON_Raw;
    cJSON_DeleteItemFromArray(a, 4);

    /* a member without a name */
    cJSON *nameless = cJSON_CreateNull();
    cJSON_AddItemToArray(obj, nameless); /* array-style add leaves ->string NULL */
    expect_tree_refused(root, "$.a[3]: member 2 has no name");
    cJSON_DeleteItemFromArray(obj, 2);

    expect_tree_refused(NULL, "$: tree is NULL");

    char *out;
    size_t n;
    tf_error err;
    assert_int_equal(tf_canon_tree(root, &out, &n, &err), TF_OK);
    assert_string_equal(out, "{\"a\":[0,1,2,{\"b\":2,\"my key\":\"fine\"}]}");
    assert_int_equal(n, strlen(out));
    free(out);
    cJSON_Delete(root);
}

static void jcs__tree_output(void **state)
{
    (void)state;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "day", "2026-11-25");
    cJSON_AddNumberToObject(root, "n", 3);
    cJSON *tags = cJSON_AddArrayToObject(root, "tags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("a"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("b"));
    cJSON *opts = cJSON_AddObjectToObject(root, "opts");
    cJSON_AddNumberToObject(opts, "x", 1.5);
    cJSON_AddNumberToObject(opts, "neg0", -0.0);
    cJSON_AddNumberToObject(opts, "big", 1e21);
    cJSON_AddNumberToObject(opts, "i", -9007199254740991.0);
    cJSON_AddNumberToObject(opts, "tiny", 5e-324);
    cJSON_AddItemToObject(opts, "f", cJSON_CreateFalse());
    cJSON_AddItemToObject(opts, "\xF0\x9F\x98\x82", cJSON_CreateNull());
    cJSON_AddItemToObject(opts, "\xEF\xAC\xB3", cJSON_CreateTrue());
    cJSON_AddStringToObject(opts, "s", "tab\there/\xE2\x82\xAC");

    tf_buf b = TF_BUF_INIT;
    tf_error err;
    tf_buf_puts(&b, "prefix:");
    assert_int_equal(tf_jcs_tree(root, &b, &err), TF_OK);
    const char *want =
        "prefix:{\"day\":\"2026-11-25\",\"n\":3,\"opts\":{\"big\":1e+21,\"f\":false,"
        "\"i\":-9007199254740991,\"neg0\":0,\"s\":\"tab\\there/\xE2\x82\xAC\",\"tiny\":5e-324,"
        "\"x\":1.5,\"\xF0\x9F\x98\x82\":null,\"\xEF\xAC\xB3\":true},\"tags\":[\"a\",\"b\"]}";
    assert_string_equal(b.data, want);

    /* a refusal leaves out as it was */
    size_t before = b.len;
    cJSON_AddNumberToObject(opts, "bad", NAN);
    assert_int_equal(tf_jcs_tree(root, &b, &err), TF_EINPUT);
    assert_string_equal(err.msg, "$.opts.bad: number is not finite (NaN or Infinity)");
    assert_int_equal(b.len, before);
    assert_string_equal(b.data, want);
    tf_buf_free(&b);
    cJSON_Delete(root);

    /* scalars at the root */
    cJSON *str = cJSON_CreateString("x");
    char *out;
    assert_int_equal(tf_canon_tree(str, &out, NULL, &err), TF_OK);
    assert_string_equal(out, "\"x\"");
    free(out);
    cJSON_Delete(str);
}

/* An object of n members added in a scrambled order, text and tree forms agree. */
static void jcs__tree_large_objects_sorted(void **state)
{
    (void)state;
    for (int n = 1; n <= 300; n = n * 3 + 1) {
        cJSON *o = cJSON_CreateObject();
        tf_buf text = TF_BUF_INIT;
        tf_buf_putc(&text, '{');
        for (int i = 0; i < n; i++) {
            char key[32];
            int k = (i * 7919) % n;
            snprintf(key, sizeof key, "%s%d", (k % 3) ? "k" : "\xF0\x9F\x98\x82", k);
            cJSON_AddNumberToObject(o, key, k);
            char member[64];
            snprintf(member, sizeof member, "%s\"%s\":%d", i ? "," : "", key, k);
            tf_buf_puts(&text, member);
        }
        tf_buf_putc(&text, '}');
        char *a, *b;
        tf_error err;
        assert_int_equal(tf_canon_tree(o, &a, NULL, &err), TF_OK);
        assert_int_equal(tf_canon_text(text.data, text.len, &b, NULL, &err), TF_OK);
        assert_string_equal(a, b);
        /* the output's member names are strictly increasing */
        cJSON *back;
        assert_int_equal(tf_parse_text(a, strlen(a), &back, &err), TF_OK);
        const cJSON *prev = NULL;
        for (const cJSON *c = back->child; c; prev = c, c = c->next)
            if (prev)
                assert_true(keycmp(prev->string, c->string) < 0);
        /* a duplicate among many members is found */
        if (n > 1) {
            char *dup = (char *)1;
            cJSON_AddNumberToObject(o, "k1", 0);
            assert_int_equal(tf_canon_tree(o, &dup, NULL, &err), TF_EINPUT);
            assert_null(dup);
            assert_string_equal(err.msg, "$: duplicate member name \"k1\"");
        }
        cJSON_Delete(back);
        free(a);
        free(b);
        tf_buf_free(&text);
        cJSON_Delete(o);
    }
}

static void jcs__sha256(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(tf_sha256_hex("abc", 3, hex), TF_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(tf_sha256_hex("", 0, hex), TF_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    tf_hasher h;
    assert_int_equal(tf_hasher_init(&h), TF_OK);
    for (int i = 0; i < 3; i++) { /* the context is reusable */
        assert_int_equal(tf_hasher_hex(&h, "abc", 3, hex), TF_OK);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    tf_hasher_free(&h);
    tf_hasher_free(&h);
    tf_hasher_free(NULL);

    /* the key of a document is the hash of its canonical bytes */
    const char *t = "{ \"b\": 1, \"a\": [true] }";
    tf_error err;
    assert_int_equal(tf_hash_text(t, strlen(t), hex, &err), TF_OK);
    char want[65];
    tf_sha256_hex("{\"a\":[true],\"b\":1}", 18, want);
    assert_string_equal(hex, want);
    assert_int_equal(tf_hash_text("{\"a\":1,\"a\":1}", 13, hex, &err), TF_EINPUT);
    assert_string_equal(hex, "");
    assert_string_equal(err.msg, "1:8: duplicate member name \"a\"");
}

static void jcs__strerror(void **state)
{
    (void)state;
    int codes[] = {TF_OK, TF_EINPUT, TF_EDB, TF_EBUSY, TF_ENOMEM, TF_EIO, TF_ESCHEMA,
                   TF_ENOTFOUND, TF_EAMBIGUOUS, TF_ESTATE, TF_ESTOPPED};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = tf_strerror(codes[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        assert_string_not_equal(s, tf_strerror(9999));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, tf_strerror(codes[j]));
    }
    assert_string_equal(tf_strerror(TF_EINPUT), "bad input");
    assert_string_equal(tf_strerror(-1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jcs__keys_sort_by_utf16),
        cmocka_unit_test(jcs__string_escapes),
        cmocka_unit_test(jcs__rfc8785_examples),
        cmocka_unit_test(jcs__node_vectors),
        cmocka_unit_test(jcs__tree_refusals_name_the_path),
        cmocka_unit_test(jcs__tree_output),
        cmocka_unit_test(jcs__tree_large_objects_sorted),
        cmocka_unit_test(jcs__sha256),
        cmocka_unit_test(jcs__strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
