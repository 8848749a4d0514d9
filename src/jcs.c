/*
 * jcs.c - RFC 8785 (JSON Canonicalization Scheme) output.
 *
 * Owns the canonical writer for parsed trees (tf_jcs_node) and for cJSON
 * trees (tf_jcs_tree, the per-call hot path), the member-name order
 * (tf_jcs_keycmp: UTF-16 code units), string escaping (tf_jcs_string and
 * its byte table tf_json_esc, which the parser in json.c reads too), and
 * the public entries tf_canon_text / tf_canon_tree / tf_parse_text /
 * tf_hash_text / tf_hash_tree.
 *
 * Output: no whitespace; members sorted by the UTF-16 code units of their
 * names; strings escape only '"', '\\' and controls (\b \t \n \f \r, others
 * as \u00xx), everything else raw UTF-8; numbers in ECMAScript form
 * (tf_numfmt); literals true/false/null.
 *
 * tf_jcs_tree validates what cJSON lets a program build but JSON cannot
 * hold (non-finite numbers, invalid UTF-8, duplicate names, raw values,
 * NULL strings, depth) and names the place with a JSON path ("$.a[3].b").
 * It does not allocate once out is warm, except to sort objects of more
 * than SMALL_OBJ members.
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "numfmt.h"

/* Objects up to this many members are sorted in a stack array. */
#define SMALL_OBJ 32

/* ---- member order --------------------------------------------------------- */

int tf_jcs_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t i = 0;
    /* first differing byte */
    while (i + 8 <= n) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        if (u != v)
            break;
        i += 8;
    }
    while (i < n && x[i] == y[i])
        i++;
    if (i == n)
        return alen < blen ? -1 : alen > blen;
    unsigned cx = x[i], cy = y[i];
    /*
     * UTF-8 byte order is code point order, and that is UTF-16 order except
     * between U+E000..U+FFFF (lead byte EE/EF) and U+10000.. (lead F0..F4,
     * a surrogate pair D800.. in UTF-16, which sorts first). Only when the
     * first difference is in the lead bytes can the classes differ.
     */
    if (cx >= 0xEE && cy >= 0xEE && (cx >= 0xF0) != (cy >= 0xF0)) {
        /* both are lead bytes of different classes (continuations are < 0xC0) */
        return cx >= 0xF0 ? -1 : 1;
    }
    return cx < cy ? -1 : 1;
}

/* ---- strings and numbers ---------------------------------------------------- */

/* Append one byte / n bytes. The NUL after the bytes is left to the entry points. */
static inline int put1(tf_buf *b, char c)
{
    if (b->cap - b->len < 2 && tf_buf_reserve(b, 1) != 0)
        return -1;
    b->data[b->len++] = c;
    return 0;
}

static inline int putn(tf_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len <= n && tf_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* Each byte's meaning inside a string literal: see json.h. */
const unsigned char tf_json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * Append s (len bytes) as a string literal. bad == NULL: s is known to be
 * valid UTF-8. Otherwise non-ASCII runs are validated on the way, and
 * invalid input returns TF_EINPUT with *bad = offset of the bad sequence
 * (out then holds a partial literal: the callers roll back).
 */
static int put_str(const char *str, size_t len, tf_buf *out, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    if (out->cap - out->len <= len + 2 && tf_buf_reserve(out, len + 2) != 0)
        return TF_ENOMEM;
    char *d = out->data + out->len;
    *d++ = '"';
    size_t i = 0, run = 0;
    for (;;) {
        while (i < len && tf_json_esc[s[i]] <= 1) {
            if (tf_json_esc[s[i]] == 1 && bad) {
                size_t start = i;
                while (i < len && s[i] >= 0x80)
                    i++;
                size_t at;
                if (!tf_utf8_valid(str + start, i - start, &at)) {
                    *bad = start + at;
                    out->len = (size_t)(d - out->data);
                    return TF_EINPUT;
                }
                continue;
            }
            i++;
        }
        if (i > run) {
            memcpy(d, s + run, i - run);
            d += i - run;
        }
        if (i >= len)
            break;
        /* one escape: up to 6 bytes instead of 1 */
        out->len = (size_t)(d - out->data);
        if (tf_buf_reserve(out, (len - i) + 6 + 1) != 0)
            return TF_ENOMEM;
        d = out->data + out->len;
        unsigned char c = s[i], e = tf_json_esc[c];
        *d++ = '\\';
        if (e == 'u') {
            static const char hx[] = "0123456789abcdef";
            memcpy(d, "u00", 3);
            d[3] = hx[c >> 4];
            d[4] = hx[c & 15];
            d += 5;
        } else {
            *d++ = (char)e;
        }
        run = ++i;
    }
    *d++ = '"';
    out->len = (size_t)(d - out->data);
    return TF_OK;
}

int tf_jcs_string(const char *s, size_t len, tf_buf *out)
{
    int rc = put_str(s, len, out, NULL);
    if (rc == TF_OK)
        out->data[out->len] = '\0';
    return rc;
}

/* Append the ECMAScript form of the finite double x. */
static int put_number(double x, tf_buf *out)
{
    if (out->cap - out->len <= TF_NUMFMT_MAX && tf_buf_reserve(out, TF_NUMFMT_MAX) != 0)
        return TF_ENOMEM;
    char *d = out->data + out->len;
    /* integers below 2^53 print as their digits: skip the shortest-digit search */
    if (x > -9007199254740992.0 && x < 9007199254740992.0 && x == (double)(int64_t)x) {
        int64_t v = (int64_t)x;
        char tmp[24];
        size_t n = 0;
        uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *d++ = '-';
        while (n)
            *d++ = tmp[--n];
        out->len = (size_t)(d - out->data);
        *d = '\0';
        return TF_OK;
    }
    out->len += tf_numfmt(x, d);
    return TF_OK;
}

/* ---- parsed trees ------------------------------------------------------------- */

static int node_order(const void *a, const void *b)
{
    const tf_jnode *x = *(const tf_jnode *const *)a, *y = *(const tf_jnode *const *)b;
    return tf_jcs_keycmp(x->key, x->key_len, y->key, y->key_len);
}

static int write_node(const tf_jnode *n, tf_buf *out)
{
    int rc;
    switch (n->type) {
    case TF_J_NULL: return putn(out, "null", 4) ? TF_ENOMEM : TF_OK;
    case TF_J_FALSE: return putn(out, "false", 5) ? TF_ENOMEM : TF_OK;
    case TF_J_TRUE: return putn(out, "true", 4) ? TF_ENOMEM : TF_OK;
    case TF_J_NUMBER: return put_number(n->num, out);
    case TF_J_STRING: return put_str(n->str, n->len, out, NULL);
    case TF_J_ARRAY:
        if (put1(out, '[') != 0)
            return TF_ENOMEM;
        for (uint32_t i = 0; i < n->count; i++) {
            if (i && put1(out, ',') != 0)
                return TF_ENOMEM;
            if ((rc = write_node(&n->kids[i], out)) != TF_OK)
                return rc;
        }
        return put1(out, ']') ? TF_ENOMEM : TF_OK;
    case TF_J_OBJECT: {
        size_t cnt = n->count;
        const tf_jnode *small[SMALL_OBJ];
        const tf_jnode **idx = small;
        if (cnt > SMALL_OBJ && !(idx = malloc(cnt * sizeof *idx)))
            return TF_ENOMEM;
        int sorted = 1;
        for (size_t i = 0; i < cnt; i++) {
            idx[i] = &n->kids[i];
            if (i && sorted
                && tf_jcs_keycmp(idx[i - 1]->key, idx[i - 1]->key_len, idx[i]->key,
                                 idx[i]->key_len) > 0)
                sorted = 0;
        }
        if (!sorted)
            qsort(idx, cnt, sizeof *idx, node_order);
        rc = put1(out, '{') ? TF_ENOMEM : TF_OK;
        for (size_t i = 0; i < cnt && rc == TF_OK; i++) {
            if (i && put1(out, ',') != 0)
                rc = TF_ENOMEM;
            else if ((rc = put_str(idx[i]->key, idx[i]->key_len, out, NULL)) != TF_OK)
                ;
            else if (put1(out, ':') != 0)
                rc = TF_ENOMEM;
            else
                rc = write_node(idx[i], out);
        }
        if (idx != small)
            free(idx);
        if (rc == TF_OK && put1(out, '}') != 0)
            rc = TF_ENOMEM;
        return rc;
    }
    }
    return TF_EINPUT;
}

int tf_jcs_node(const tf_jnode *node, tf_buf *out)
{
    int rc = write_node(node, out);
    if (out->cap)
        out->data[out->len] = '\0';
    return rc;
}

/* ---- cJSON trees --------------------------------------------------------------- */

/* One step of the path from the root to the value being written. */
typedef struct jpath jpath;
struct jpath {
    const jpath *up;    /* parent step, NULL at the root */
    const char *key;    /* member name, or NULL for an array index */
    size_t index;       /* array index when key is NULL */
};

/* A member of a cJSON object being sorted. */
typedef struct member {
    const cJSON *item;  /* the member (its ->string is the name) */
    size_t klen;        /* strlen of the name */
} member;

static int is_ident(const char *k)
{
    if (!*k || (*k >= '0' && *k <= '9'))
        return 0;
    for (; *k; k++) {
        char c = *k;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '$'))
            return 0;
    }
    return 1;
}

/* Append text to dst (cap bytes, NUL kept); returns 0 or -1 when full. */
static int pcat(char *dst, size_t cap, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pcat(char *dst, size_t cap, size_t *o, const char *fmt, ...)
{
    if (*o >= cap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst + *o, cap - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *o) {
        *o = cap;
        return -1;
    }
    *o += (size_t)n;
    return 0;
}

/* "$.a[3][\"x y\"]" for path into dst. */
static void path_text(const jpath *path, char *dst, size_t cap)
{
    const jpath *steps[TF_JSON_MAX_DEPTH + 4];
    size_t n = 0, o = 0;
    for (const jpath *s = path; s && n < sizeof steps / sizeof steps[0]; s = s->up)
        steps[n++] = s;
    dst[0] = '\0';
    if (pcat(dst, cap, &o, "$") != 0)
        return;
    while (n--) {
        const jpath *s = steps[n];
        int r;
        if (!s->key) {
            r = pcat(dst, cap, &o, "[%zu]", s->index);
        } else if (is_ident(s->key)) {
            r = pcat(dst, cap, &o, ".%s", s->key);
        } else {
            r = pcat(dst, cap, &o, "[\"");
            for (const unsigned char *k = (const unsigned char *)s->key; *k && !r; k++) {
                if (*k < 0x20 || *k == '"' || *k == '\\' || *k == 0x7f)
                    r = pcat(dst, cap, &o, "\\x%02x", *k);
                else
                    r = pcat(dst, cap, &o, "%c", *k);
            }
            if (!r)
                r = pcat(dst, cap, &o, "\"]");
        }
        if (r)
            return;
    }
}

__attribute__((format(printf, 3, 4)))
static int tree_fail(tf_error *err, const jpath *path, const char *fmt, ...)
{
    if (!err)
        return TF_EINPUT;
    char where[300], reason[200];
    path_text(path, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    tf_json_vreason(reason, sizeof reason, fmt, ap);
    va_end(ap);
    int n = snprintf(err->msg, sizeof err->msg, "%s: %s", where, reason);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    err->offset = 0;
    err->line = err->column = 0;
    return TF_EINPUT;
}

static int member_order(const void *a, const void *b)
{
    const member *x = a, *y = b;
    return tf_jcs_keycmp(x->item->string, x->klen, y->item->string, y->klen);
}

static int write_tree(const cJSON *it, tf_buf *out, tf_error *err, const jpath *path, int depth);

/* Whether name is one of skip (NULL-terminated, or NULL: none). */
static int skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (!strcmp(*skip, name))
            return 1;
    return 0;
}

/* An object; members named in skip (top level of tf_jcs_tree_skip only) are left out. */
static int write_tree_object(const cJSON *it, tf_buf *out, tf_error *err, const jpath *path,
                             int depth, const char *const *skip)
{
    size_t cnt = 0;
    for (const cJSON *c = it->child; c; c = c->next)
        cnt++;
    member small[SMALL_OBJ];
    member *m = small;
    if (cnt > SMALL_OBJ && !(m = malloc(cnt * sizeof *m)))
        return TF_ENOMEM;
    int rc = TF_OK, sorted = 1;
    size_t i = 0, bad;
    size_t seen = 0;
    for (const cJSON *c = it->child; c; c = c->next, seen++) {
        if (!c->string) {
            rc = tree_fail(err, path, "member %zu has no name", seen);
            goto done;
        }
        if (skip && skipped(c->string, skip))
            continue;
        m[i].item = c;
        m[i].klen = strlen(c->string);
        if (i && sorted && tf_jcs_keycmp(m[i - 1].item->string, m[i - 1].klen, c->string,
                                         m[i].klen) >= 0)
            sorted = 0;
        i++;
    }
    cnt = i;
    if (!sorted) {
        if (cnt <= SMALL_OBJ) {
            for (i = 1; i < cnt; i++) { /* insertion sort: few members */
                member t = m[i];
                size_t j = i;
                while (j && member_order(&m[j - 1], &t) > 0) {
                    m[j] = m[j - 1];
                    j--;
                }
                m[j] = t;
            }
        } else {
            qsort(m, cnt, sizeof *m, member_order);
        }
        for (i = 1; i < cnt; i++) {
            if (m[i].klen == m[i - 1].klen
                && !memcmp(m[i].item->string, m[i - 1].item->string, m[i].klen)) {
                char shown[120];
                size_t o = 0;
                for (const unsigned char *k = (const unsigned char *)m[i].item->string;
                     *k && o + 8 < sizeof shown; k++) {
                    if (*k < 0x20 || *k == '"' || *k == '\\')
                        o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", *k);
                    else
                        shown[o++] = (char)*k;
                }
                shown[o] = '\0';
                rc = tree_fail(err, path, "duplicate member name \"%s\"", shown);
                goto done;
            }
        }
    }
    if (put1(out, '{') != 0) {
        rc = TF_ENOMEM;
        goto done;
    }
    for (i = 0; i < cnt; i++) {
        if (i && put1(out, ',') != 0) {
            rc = TF_ENOMEM;
            goto done;
        }
        jpath here = {path, m[i].item->string, 0};
        if ((rc = put_str(m[i].item->string, m[i].klen, out, &bad)) != TF_OK) {
            if (rc == TF_EINPUT)
                rc = tree_fail(err, &here, "invalid utf-8 in member name at byte %zu", bad);
            goto done;
        }
        if (put1(out, ':') != 0) {
            rc = TF_ENOMEM;
            goto done;
        }
        if ((rc = write_tree(m[i].item, out, err, &here, depth)) != TF_OK)
            goto done;
    }
    if (put1(out, '}') != 0)
        rc = TF_ENOMEM;
done:
    if (m != small)
        free(m);
    return rc;
}

static int write_tree(const cJSON *it, tf_buf *out, tf_error *err, const jpath *path, int depth)
{
    int rc;
    size_t bad;
    switch (it->type & 0xFF) {
    case cJSON_NULL: return putn(out, "null", 4) ? TF_ENOMEM : TF_OK;
    case cJSON_False: return putn(out, "false", 5) ? TF_ENOMEM : TF_OK;
    case cJSON_True: return putn(out, "true", 4) ? TF_ENOMEM : TF_OK;
    case cJSON_Number:
        if (!isfinite(it->valuedouble))
            return tree_fail(err, path, "number is not finite (NaN or Infinity)");
        return put_number(it->valuedouble, out);
    case cJSON_String: {
        if (!it->valuestring)
            return tree_fail(err, path, "string value is NULL");
        size_t len = strlen(it->valuestring);
        rc = put_str(it->valuestring, len, out, &bad);
        if (rc == TF_EINPUT)
            return tree_fail(err, path, "invalid utf-8 in string at byte %zu", bad);
        return rc;
    }
    case cJSON_Array: {
        if (depth >= TF_JSON_MAX_DEPTH)
            return tree_fail(err, path, "nesting deeper than %d levels", TF_JSON_MAX_DEPTH);
        if (put1(out, '[') != 0)
            return TF_ENOMEM;
        size_t i = 0;
        for (const cJSON *c = it->child; c; c = c->next, i++) {
            if (i && put1(out, ',') != 0)
                return TF_ENOMEM;
            jpath here = {path, NULL, i};
            if ((rc = write_tree(c, out, err, &here, depth + 1)) != TF_OK)
                return rc;
        }
        return put1(out, ']') ? TF_ENOMEM : TF_OK;
    }
    case cJSON_Object:
        if (depth >= TF_JSON_MAX_DEPTH)
            return tree_fail(err, path, "nesting deeper than %d levels", TF_JSON_MAX_DEPTH);
        return write_tree_object(it, out, err, path, depth + 1, NULL);
    case cJSON_Raw:
        return tree_fail(err, path, "raw cJSON values are not allowed");
    default:
        return tree_fail(err, path, "invalid cJSON type 0x%x", (unsigned)it->type);
    }
}

int tf_jcs_tree(const cJSON *tree, tf_buf *out, tf_error *err)
{
    return tf_jcs_tree_skip(tree, NULL, out, err);
}

int tf_jcs_tree_skip(const cJSON *tree, const char *const *skip, tf_buf *out, tf_error *err)
{
    if (!tree)
        return tree_fail(err, NULL, "tree is NULL");
    if (skip && *skip && !cJSON_IsObject(tree))
        return tree_fail(err, NULL, "arguments must be an object when members are ignored");
    size_t mark = out->len;
    int rc = skip && *skip ? write_tree_object(tree, out, err, NULL, 1, skip)
                           : write_tree(tree, out, err, NULL, 0);
    if (rc == TF_OK) {
        out->data[out->len] = '\0'; /* every value wrote a byte: cap > len */
    } else {
        out->len = mark; /* nothing half-written stays behind */
        if (out->cap)
            out->data[mark] = '\0';
        if (rc == TF_ENOMEM && err) {
            snprintf(err->msg, sizeof err->msg, "out of memory canonicalizing JSON");
            err->offset = 0;
            err->line = err->column = 0;
        }
    }
    return rc;
}

/* ---- public entries ---------------------------------------------------------- */

static void clear_err(tf_error *err)
{
    if (err) {
        err->msg[0] = '\0';
        err->offset = 0;
        err->line = err->column = 0;
    }
}

static int oom(tf_error *err)
{
    if (err) {
        snprintf(err->msg, sizeof err->msg, "out of memory canonicalizing JSON");
        err->offset = 0;
        err->line = err->column = 0;
    }
    return TF_ENOMEM;
}

int tf_canon_text(const char *text, size_t len, char **out, size_t *out_len, tf_error *err)
{
    tf_json *doc;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    clear_err(err);
    int rc = tf_json_parse(text, len, &doc, err);
    if (rc != TF_OK)
        return rc;
    tf_buf b = TF_BUF_INIT;
    if (tf_buf_reserve(&b, len < 64 ? 64 : len) != 0
        || tf_jcs_node(tf_json_root(doc), &b) != TF_OK) {
        tf_json_free(doc);
        tf_buf_free(&b);
        return oom(err);
    }
    tf_json_free(doc);
    *out = tf_buf_take(&b, out_len);
    return TF_OK;
}

int tf_canon_tree(const cJSON *tree, char **out, size_t *out_len, tf_error *err)
{
    return tf_canon_tree_ignoring(tree, NULL, out, out_len, err);
}

int tf_canon_tree_ignoring(const cJSON *tree, const char *const *ignore, char **out,
                           size_t *out_len, tf_error *err)
{
    tf_buf b = TF_BUF_INIT;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    clear_err(err);
    int rc = tf_jcs_tree_skip(tree, ignore, &b, err);
    if (rc == TF_OK && !b.data && tf_buf_reserve(&b, 0) != 0)
        rc = oom(err);
    if (rc != TF_OK) {
        tf_buf_free(&b);
        return rc;
    }
    *out = tf_buf_take(&b, out_len);
    return TF_OK;
}

int tf_parse_text(const char *text, size_t len, cJSON **out, tf_error *err)
{
    tf_json *doc;
    *out = NULL;
    clear_err(err);
    int rc = tf_json_parse(text, len, &doc, err);
    if (rc != TF_OK)
        return rc;
    cJSON *c = tf_jnode_to_cjson(tf_json_root(doc));
    tf_json_free(doc);
    if (!c)
        return oom(err);
    *out = c;
    return TF_OK;
}

int tf_hash_text(const char *text, size_t len, char hex[65], tf_error *err)
{
    char *canon;
    size_t n;
    hex[0] = '\0';
    int rc = tf_canon_text(text, len, &canon, &n, err);
    if (rc != TF_OK)
        return rc;
    rc = tf_sha256_hex(canon, n, hex);
    free(canon);
    return rc;
}

int tf_hash_tree_ignoring(const cJSON *tree, const char *const *ignore, char hex[65],
                          tf_error *err)
{
    tf_buf b = TF_BUF_INIT;
    hex[0] = '\0';
    clear_err(err);
    int rc = tf_jcs_tree_skip(tree, ignore, &b, err);
    if (rc == TF_OK)
        rc = tf_sha256_hex(b.data ? b.data : "", b.len, hex);
    tf_buf_free(&b);
    return rc;
}

int tf_hash_tree(const cJSON *tree, char hex[65], tf_error *err)
{
    tf_buf b = TF_BUF_INIT;
    hex[0] = '\0';
    clear_err(err);
    int rc = tf_jcs_tree(tree, &b, err);
    if (rc == TF_OK)
        rc = tf_sha256_hex(b.data ? b.data : "", b.len, hex);
    tf_buf_free(&b);
    return rc;
}
