/*
 * test_json.c - the strict JSON parser (json.c): every refusal with its
 * line:column, the accepted edge cases, positions, the tree, the cJSON
 * conversion, nesting limits and a document larger than 64 MB.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "numfmt.h"
#include "tickflow.h"

/* One input that must be refused, and how the message must start. */
typedef struct bad_case {
    const char *text;   /* input (NUL-terminated unless len is set) */
    size_t len;         /* 0: strlen(text) */
    const char *prefix; /* expected start of err.msg, "LINE:COL: reason..." */
} bad_case;

static const bad_case bad[] = {
    /* empty, whitespace, BOM */
    {"", 0, "1:1: empty input"},
    {" \n\t\r ", 0, "1:1: empty input"},
    {"\xEF\xBB\xBF{}", 0, "1:1: utf-8 byte order mark is not allowed"},
    {"\f1", 0, "1:1: unexpected byte 0x0c"},
    {"\xC2\xA0" "1", 0, "1:1: unexpected byte 0xc2"},
    /* invalid UTF-8 in strings */
    {"[\"\xC0\x80\"]", 0, "1:3: invalid utf-8 (overlong encoding)"},
    {"[\"\xC1\xBF\"]", 0, "1:3: invalid utf-8 (overlong encoding)"},
    {"[\"\xE0\x80\xAF\"]", 0, "1:3: invalid utf-8 (overlong encoding)"},
    {"[\"\xF0\x80\x80\xAF\"]", 0, "1:3: invalid utf-8 (overlong encoding)"},
    {"[\"ab\xED\xA0\x80\"]", 0, "1:5: invalid utf-8 (encoded surrogate)"},
    {"[\"\xED\xBF\xBF\"]", 0, "1:3: invalid utf-8 (encoded surrogate)"},
    {"[\"\xF4\x90\x80\x80\"]", 0, "1:3: invalid utf-8 (code point above U+10FFFF)"},
    {"[\"\xF5\x80\x80\x80\"]", 0, "1:3: invalid utf-8 (code point above U+10FFFF)"},
    {"[\"\xFF\"]", 0, "1:3: invalid utf-8"},
    {"[\"\x80\"]", 0, "1:3: invalid utf-8 (unexpected continuation byte)"},
    {"[\"\xE2\x82\"]", 0, "1:3: invalid utf-8 (truncated sequence)"},
    {"\"\xE2\x82", 0, "1:2: invalid utf-8 (truncated sequence)"},
    {"{\"k\xF0\x9F\x98\":1}", 0, "1:4: invalid utf-8 (truncated sequence)"},
    {"[1,\xE2\x82\xAC]", 0, "1:4: unexpected byte 0xe2"},
    {"[1,\xE2\x82]", 0, "1:4: invalid utf-8 (truncated sequence)"},
    /* escapes */
    {"[\"\\ud800\"]", 0, "1:3: lone high surrogate \\ud800"},
    {"[\"\\ud800x\"]", 0, "1:3: lone high surrogate"},
    {"[\"\\ud800\\u0041\"]", 0, "1:3: lone high surrogate"},
    {"[\"\\ud800\\ud800\"]", 0, "1:3: lone high surrogate"},
    {"[\"ab\\udc00\"]", 0, "1:5: lone low surrogate \\udc00"},
    {"[\"\\uDFFF\"]", 0, "1:3: lone low surrogate \\udfff"},
    {"[\"\\u12\"]", 0, "1:3: invalid \\u escape: expected 4 hex digits"},
    {"[\"\\u12G4\"]", 0, "1:3: invalid \\u escape"},
    {"[\"\\x41\"]", 0, "1:3: invalid escape '\\x'"},
    {"[\"\\'\"]", 0, "1:3: invalid escape '\\''"},
    {"[\"\\\x01\"]", 0, "1:3: invalid escape (backslash followed by byte 0x01)"},
    {"[\"\\u0000\"]", 0, "1:3: \\u0000 is not allowed"},
    {"{\"a\\u0000b\":1}", 0, "1:4: \\u0000 is not allowed"},
    /* raw control characters in strings */
    {"[\"a\tb\"]", 0, "1:4: control character 0x09 in string must be escaped"},
    {"{\"x\":\n\"a\nb\"}", 0, "2:3: control character 0x0a"},
    {"[\"\x1f\"]", 0, "1:3: control character 0x1f"},
    {"[\"a\0b\"]", 6, "1:4: control character 0x00"},
    {"[\"abc", 0, "1:2: unterminated string"},
    {"[\"abc\\", 0, "1:2: unterminated string"},
    /* duplicates (after unescaping), reported at the second occurrence */
    {"{\"a\":1,\"a\":2}", 0, "1:8: duplicate member name \"a\""},
    {"{\"a\":1,\"\\u0061\":2}", 0, "1:8: duplicate member name \"a\""},
    {"{\n  \"b\": 1,\n  \"a\": 2,\n  \"b\": 3\n}", 0, "4:3: duplicate member name \"b\""},
    {"{\"x\":{\"q\":[],\"q\":1}}", 0, "1:14: duplicate member name \"q\""},
    {"{\"\xF0\x9F\x98\x82\":1,\"\\ud83d\\ude02\":2}", 0, "1:11: duplicate member name \"\xF0\x9F\x98\x82\""},
    {"{\"c\":1,\"b\":1,\"c\":1,\"b\":2}", 0, "1:14: duplicate member name \"c\""},
    /* numbers */
    {"NaN", 0, "1:1: NaN is not valid JSON"},
    {"[Infinity]", 0, "1:2: Infinity is not valid JSON"},
    {"[1, -Infinity]", 0, "1:5: -Infinity is not valid JSON"},
    {"[1e400]", 0, "1:2: number 1e400 is out of range"},
    {"-1e400", 0, "1:1: number -1e400 is out of range"},
    {"[01]", 0, "1:2: invalid number '01'"},
    {"[1.]", 0, "1:2: invalid number '1.'"},
    {"[.5]", 0, "1:2: invalid number '.5'"},
    {"[+1]", 0, "1:2: invalid number '+1'"},
    {"[-.5]", 0, "1:2: invalid number '-.5'"},
    {"[1e]", 0, "1:2: invalid number '1e'"},
    {"[1e+]", 0, "1:2: invalid number '1e+'"},
    {"[-]", 0, "1:2: invalid number '-'"},
    {"-", 0, "1:1: invalid number '-'"},
    {"[1.5.2]", 0, "1:2: invalid number '1.5.2'"},
    {"[-01]", 0, "1:2: invalid number '-01'"},
    {"[9007199254740993]", 0,
     "1:2: integer 9007199254740993 cannot be represented exactly; quote it as a string"},
    {"[-9007199254740993]", 0, "1:2: integer -9007199254740993 cannot be represented"},
    {"[123456789012345678901]", 0, "1:2: integer 123456789012345678901 cannot"},
    {"[123456789012345680001]", 0, "1:2: integer 123456789012345680001 cannot"},
    {"[1000000000000000000000]", 0, "1:2: integer 1000000000000000000000 cannot"},
    /* structure */
    {"[1,]", 0, "1:4: unexpected character ']'"},
    {"[1 2]", 0, "1:4: unexpected character '2', expected ',' or ']'"},
    {"{\"a\" 1}", 0, "1:6: unexpected character '1', expected ':'"},
    {"{\"a\":1,}", 0, "1:8: unexpected character '}', expected a member name string"},
    {"{a:1}", 0, "1:2: unexpected character 'a', expected a member name string"},
    {"{\"a\":1", 0, "1:7: unexpected end of input"},
    {"[", 0, "1:2: unexpected end of input"},
    {"tru", 0, "1:1: unexpected character 't'"},
    {"nul", 0, "1:1: unexpected character 'n'"},
    {"truex", 0, "1:5: unexpected character 'x', expected end of input"},
    {"{} {}", 0, "1:4: unexpected character '{', expected end of input"},
    {"1\n\n  x", 0, "3:3: unexpected character 'x'"},
    {"[1]\xC2\xA0", 0, "1:4: unexpected byte 0xc2"},
    {"1 \x00", 3, "1:3: unexpected byte 0x00"},
    {"'a'", 0, "1:1: unexpected character '''"},
    {"/* c */ 1", 0, "1:1: unexpected character '/'"},
};

static void json__refusals_have_line_col(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const bad_case *c = &bad[i];
        size_t len = c->len ? c->len : strlen(c->text);
        tf_error err;
        char *out = (char *)1;
        size_t out_len = 7;
        int rc = tf_canon_text(c->text, len, &out, &out_len, &err);
        if (rc != TF_EINPUT || strncmp(err.msg, c->prefix, strlen(c->prefix)) != 0)
            fail_msg("case %zu: rc %d msg '%s', want prefix '%s'", i, rc, err.msg, c->prefix);
        assert_null(out);
        assert_int_equal(out_len, 0);
        /* the structured position agrees with the message */
        char pos[32];
        snprintf(pos, sizeof pos, "%d:%d: ", err.line, err.column);
        assert_true(strncmp(err.msg, pos, strlen(pos)) == 0);
        assert_null(strchr(err.msg, '\n'));
        /* the same refusal through the tree parser and the cJSON parser */
        tf_json *doc = (tf_json *)1;
        tf_error e2;
        assert_int_equal(tf_json_parse(c->text, len, &doc, &e2), TF_EINPUT);
        assert_null(doc);
        assert_string_equal(e2.msg, err.msg);
        cJSON *cj = (cJSON *)1;
        assert_int_equal(tf_parse_text(c->text, len, &cj, NULL), TF_EINPUT);
        assert_null(cj);
    }
}

static void json__error_fields(void **state)
{
    (void)state;
    tf_error err;
    const char *t = "{\n  \"a\": 1,\n  \"a\": 2\n}";
    char *out;
    assert_int_equal(tf_canon_text(t, strlen(t), &out, NULL, &err), TF_EINPUT);
    assert_string_equal(err.msg, "3:3: duplicate member name \"a\"");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 3);
    assert_int_equal(err.offset, 14);
    assert_int_equal(t[err.offset], '"');
}

/* Canonical output of text (which must be accepted). */
static void expect_canon(const char *text, size_t len, const char *want)
{
    char *out = NULL;
    size_t n = 0;
    tf_error err;
    int rc = tf_canon_text(text, len ? len : strlen(text), &out, &n, &err);
    if (rc != TF_OK)
        fail_msg("'%s' refused: %s", text, err.msg);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    free(out);
}

static void json__accepts_edge_cases(void **state)
{
    (void)state;
    expect_canon("123456789012345680000", 0, "123456789012345680000");
    expect_canon("-123456789012345680000", 0, "-123456789012345680000");
    expect_canon("[9007199254740992,-9007199254740992]", 0, "[9007199254740992,-9007199254740992]");
    expect_canon("[9007199254740993.0]", 0, "[9007199254740992]");  /* fractions round */
    expect_canon("[9007199254740993e0]", 0, "[9007199254740992]");
    expect_canon("1e21", 0, "1e+21");
    expect_canon("[1e-400,-1e-400]", 0, "[0,0]");                   /* underflow to 0 */
    expect_canon("-0", 0, "0");
    expect_canon("0.0", 0, "0");
    expect_canon(" \t\r\n[ 1 , 2 ] \n", 0, "[1,2]");
    expect_canon("\"\\ud83d\\ude02\"", 0, "\"\xF0\x9F\x98\x82\"");
    expect_canon("\"\\uD83D\\uDE02\\u00E9\"", 0, "\"\xF0\x9F\x98\x82\xC3\xA9\"");
    expect_canon("\"\xF4\x8F\xBF\xBF\xEF\xBF\xBF\"", 0, "\"\xF4\x8F\xBF\xBF\xEF\xBF\xBF\"");
    expect_canon("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", 0, "\"/\\b\\f\\n\\r\\t\\\"\\\\\"");
    expect_canon("\"\x7f\"", 0, "\"\x7f\"");
    expect_canon("{}", 0, "{}");
    expect_canon("[]", 0, "[]");
    expect_canon("{\"\":0}", 0, "{\"\":0}");
    /* the value ends where the length says, even without a NUL */
    expect_canon("[1]garbage", 3, "[1]");
}

/* The parser's exact shortcut for short numbers agrees with tf_numparse bit for bit. */
static void json__numbers_match_numparse(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char lit[64];
        int digits = 1 + (int)(x % 17), point = (int)((x >> 8) % 20), exp = (int)((x >> 16) % 61) - 30;
        size_t n = 0;
        if (x & (1ull << 40))
            lit[n++] = '-';
        uint64_t v = x >> 20;
        lit[n++] = (char)('1' + v % 9);
        for (int k = 1; k < digits; k++) {
            if (k == point)
                lit[n++] = '.';
            v = v / 10 + (x >> 3);
            lit[n++] = (char)('0' + v % 10);
        }
        if (x & (1ull << 41))
            n += (size_t)snprintf(lit + n, sizeof lit - n, "e%d", exp);
        lit[n] = '\0';
        double want;
        if (tf_numparse(lit, n, &want) != 0)
            continue;
        tf_json *doc;
        tf_error err;
        int rc = tf_json_parse(lit, n, &doc, &err);
        if (rc == TF_EINPUT && strstr(err.msg, "cannot be represented exactly"))
            continue;
        if (rc != TF_OK)
            fail_msg("%s refused: %s", lit, err.msg);
        double got = tf_json_root(doc)->num;
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s: parser %.17g, tf_numparse %.17g", lit, got, want);
        tf_json_free(doc);
    }
}

static void json__position(void **state)
{
    (void)state;
    const char *t = "ab\ncd\n\nx";
    int line, col;
    tf_json_position(t, strlen(t), 0, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    tf_json_position(t, strlen(t), 2, &line, &col); /* the LF itself */
    assert_int_equal(line, 1);
    assert_int_equal(col, 3);
    tf_json_position(t, strlen(t), 4, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 2);
    tf_json_position(t, strlen(t), 7, &line, &col);
    assert_int_equal(line, 4);
    assert_int_equal(col, 1);
    tf_json_position(t, strlen(t), 100, &line, &col); /* clamped to the end */
    assert_int_equal(line, 4);
    assert_int_equal(col, 2);
}

static void json__tree(void **state)
{
    (void)state;
    const char *t = "{\"b\": [true, false, null, 2.5, \"s\\n\"],\n \"a\": {\"x\": -1}}";
    tf_json *doc;
    tf_error err;
    assert_int_equal(tf_json_parse(t, strlen(t), &doc, &err), TF_OK);
    const tf_jnode *root = tf_json_root(doc);
    assert_int_equal(root->type, TF_J_OBJECT);
    assert_int_equal(root->count, 2);
    assert_int_equal(root->offset, 0);
    /* kids stay in input order */
    assert_string_equal(root->kids[0].key, "b");
    assert_int_equal(root->kids[0].key_offset, 1);
    assert_int_equal(root->kids[0].offset, 6);
    const tf_jnode *b = tf_jnode_get(root, "b");
    assert_ptr_equal(b, &root->kids[0]);
    assert_int_equal(b->type, TF_J_ARRAY);
    assert_int_equal(b->count, 5);
    assert_int_equal(b->kids[0].type, TF_J_TRUE);
    assert_int_equal(b->kids[1].type, TF_J_FALSE);
    assert_int_equal(b->kids[2].type, TF_J_NULL);
    assert_int_equal(b->kids[3].type, TF_J_NUMBER);
    assert_true(b->kids[3].num == 2.5);
    assert_int_equal(b->kids[4].type, TF_J_STRING);
    assert_string_equal(b->kids[4].str, "s\n");
    assert_int_equal(b->kids[4].len, 2);
    assert_null(b->kids[4].key);
    const tf_jnode *a = tf_jnode_get(root, "a");
    assert_non_null(a);
    int line, col;
    tf_json_position(t, strlen(t), a->key_offset, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 2);
    assert_true(tf_jnode_get(a, "x")->num == -1.0);
    assert_null(tf_jnode_get(root, "zz"));
    assert_null(tf_jnode_get(b, "b"));
    tf_buf out = TF_BUF_INIT;
    assert_int_equal(tf_jcs_node(root, &out), TF_OK);
    assert_string_equal(out.data, "{\"a\":{\"x\":-1},\"b\":[true,false,null,2.5,\"s\\n\"]}");
    tf_buf_free(&out);
    tf_json_free(doc);
    tf_json_free(NULL);
    assert_null(tf_json_root(NULL));
}

static void json__cjson_round_trip(void **state)
{
    (void)state;
    const char *t = "{\"z\":[1,2.5,-0.001,1e300,\"\xE2\x82\xAC\\t\",true,false,null,{}],"
                    "\"\xF0\x9F\x98\x82\":{\"k\":[[]]},\"a\":\"\"}";
    cJSON *c;
    tf_error err;
    assert_int_equal(tf_parse_text(t, strlen(t), &c, &err), TF_OK);
    assert_true(cJSON_IsObject(c));
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(c, "z");
    assert_int_equal(cJSON_GetArraySize(z), 9);
    assert_true(cJSON_GetArrayItem(z, 1)->valuedouble == 2.5);
    assert_true(cJSON_GetArrayItem(z, 3)->valuedouble == 1e300);
    assert_string_equal(cJSON_GetArrayItem(z, 4)->valuestring, "\xE2\x82\xAC\t");
    assert_true(cJSON_IsTrue(cJSON_GetArrayItem(z, 5)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(z, 7)));
    /* cJSON's own helpers work on the tree (tail pointer kept) */
    cJSON_AddItemToArray((cJSON *)z, cJSON_CreateNumber(7));
    assert_int_equal(cJSON_GetArraySize(z), 10);
    assert_true(cJSON_GetArrayItem(z, 9)->valuedouble == 7);
    cJSON_DeleteItemFromArray((cJSON *)z, 9);
    char *from_tree, *from_text;
    assert_int_equal(tf_canon_tree(c, &from_tree, NULL, &err), TF_OK);
    assert_int_equal(tf_canon_text(t, strlen(t), &from_text, NULL, &err), TF_OK);
    assert_string_equal(from_tree, from_text);
    /* and cJSON's printer re-parses to the same canonical form */
    char *printed = cJSON_PrintUnformatted(c);
    char *again;
    assert_int_equal(tf_canon_text(printed, strlen(printed), &again, NULL, &err), TF_OK);
    assert_string_equal(again, from_text);
    free(printed);
    free(again);
    free(from_tree);
    free(from_text);
    cJSON_Delete(c);
}

/* depth nested arrays ("[[...]]") or objects ({"a":{"a":...1}}). */
static char *nested(int depth, int objects, size_t *len)
{
    size_t cap = (size_t)depth * 6 + 8, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (int i = 0; i < depth; i++) {
        if (objects) {
            memcpy(s + n, "{\"a\":", 5);
            n += 5;
        } else {
            s[n++] = '[';
        }
    }
    s[n++] = '1';
    for (int i = 0; i < depth; i++)
        s[n++] = objects ? '}' : ']';
    s[n] = '\0';
    *len = n;
    return s;
}

static void json__depth_limit(void **state)
{
    (void)state;
    for (int objects = 0; objects < 2; objects++) {
        size_t len;
        char *s = nested(TF_JSON_MAX_DEPTH, objects, &len);
        char *out;
        size_t n;
        tf_error err;
        assert_int_equal(tf_canon_text(s, len, &out, &n, &err), TF_OK);
        assert_memory_equal(out, s, len);
        cJSON *c;
        assert_int_equal(tf_parse_text(s, len, &c, &err), TF_OK);
        char *t;
        assert_int_equal(tf_canon_tree(c, &t, NULL, &err), TF_OK);
        assert_string_equal(t, out);
        free(t);
        free(out);
        free(s);

        s = nested(TF_JSON_MAX_DEPTH + 1, objects, &len);
        assert_int_equal(tf_canon_text(s, len, &out, &n, &err), TF_EINPUT);
        char want[64];
        snprintf(want, sizeof want, "1:%d: nesting deeper than 512 levels",
                 objects ? 5 * TF_JSON_MAX_DEPTH + 1 : TF_JSON_MAX_DEPTH + 1);
        assert_string_equal(err.msg, want);
        /* the cJSON writer refuses the same depth */
        cJSON *deeper = objects ? cJSON_CreateObject() : cJSON_CreateArray();
        if (objects)
            cJSON_AddItemToObject(deeper, "a", cJSON_CreateNumber(1));
        else
            cJSON_AddItemToArray(deeper, cJSON_CreateNumber(1));
        /* replace the innermost 1 with a container holding 1 */
        cJSON *parent = c;
        while (parent->child && parent->child->child)
            parent = parent->child;
        if (objects)
            cJSON_ReplaceItemInObjectCaseSensitive(parent, "a", deeper);
        else
            cJSON_ReplaceItemViaPointer(parent, parent->child, deeper);
        assert_int_equal(tf_canon_tree(c, &t, NULL, &err), TF_EINPUT);
        if (!strstr(err.msg, "nesting deeper than 512 levels"))
            fail_msg("%s", err.msg);
        assert_true(strncmp(err.msg, objects ? "$.a.a.a" : "$[0][0][0]", 7) == 0);
        cJSON_Delete(c);
        free(s);
    }
}

static void json__large_document(void **state)
{
    (void)state;
    /* about 70 MB: 1,000,000 strings of 72 bytes plus a few numbers and names */
    const size_t count = 1000000;
    size_t cap = count * 80 + 64, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[n++] = '[';
    for (size_t i = 0; i < count; i++) {
        if (i)
            s[n++] = ',';
        if (i % 1000 == 0) {
            n += (size_t)snprintf(s + n, cap - n, "{\"n\":%zu,\"x\":%zu.5}", i, i);
        } else {
            s[n++] = '"';
            memset(s + n, 'a' + (int)(i % 26), 72);
            n += 72;
            s[n++] = '"';
        }
    }
    s[n++] = ']';
    assert_true(n > (size_t)64 * 1024 * 1024);
    char *out;
    size_t out_len;
    tf_error err;
    assert_int_equal(tf_canon_text(s, n, &out, &out_len, &err), TF_OK);
    assert_int_equal(out_len, n); /* already canonical: identical bytes */
    assert_memory_equal(out, s, n);
    free(out);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json__refusals_have_line_col),
        cmocka_unit_test(json__error_fields),
        cmocka_unit_test(json__accepts_edge_cases),
        cmocka_unit_test(json__numbers_match_numparse),
        cmocka_unit_test(json__position),
        cmocka_unit_test(json__tree),
        cmocka_unit_test(json__cjson_round_trip),
        cmocka_unit_test(json__depth_limit),
        cmocka_unit_test(json__large_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
