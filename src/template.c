/*
 * template.c - "{{...}}" templates of pipeline files: parsing (with the
 * offset of each part, so the pipeline loader can say line:column) and
 * evaluation into JSON values. The pipeline module decides when a template
 * may be evaluated (dependencies, foreach); this module only computes.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template.h"
#include "buf.h"
#include "json.h"

int tf_template_has(const char *s)
{
    return s && strstr(s, "{{") != NULL;
}

void tf_template_free(tf_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].text);
        free(t->parts[i].path);
    }
    free(t->parts);
    t->parts = NULL;
    t->nparts = 0;
}

/* Messages are short: a quoted argument is cut to 80 bytes ("%.*s", CUT(n), s). */
#define CUT(n) ((int)((n) > 80 ? 80 : (n)))

__attribute__((format(printf, 3, 4)))
static int set_err(tf_error *err, size_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap); /* truncation is fine: bounded message */
        va_end(ap);
        err->offset = offset;
        err->line = err->column = 0;
    }
    return TF_EINPUT;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Append a part; text (n bytes) is copied. */
static int add_part(tf_template *t, size_t *cap, tf_tkind kind, const char *text, size_t n,
                    const char *path, size_t plen, size_t offset)
{
    if (t->nparts == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        tf_tpart *p = realloc(t->parts, c * sizeof *p);
        if (!p)
            return TF_ENOMEM;
        t->parts = p;
        *cap = c;
    }
    tf_tpart *part = &t->parts[t->nparts];
    memset(part, 0, sizeof *part);
    part->kind = kind;
    part->offset = offset;
    if (text && !(part->text = dup_n(text, n)))
        return TF_ENOMEM;
    part->len = text ? n : 0;
    if (path && !(part->path = dup_n(path, plen))) {
        free(part->text);
        return TF_ENOMEM;
    }
    t->nparts++;
    return TF_OK;
}

/* A field path: parts of [A-Za-z0-9_-] separated by single dots. */
static int valid_path(const char *s, size_t n)
{
    if (!n)
        return 0;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (!run)
                return 0;
            run = 0;
        } else if (isalnum((unsigned char)c) || c == '_' || c == '-') {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0;
}

static int valid_work_ref(const char *s, size_t n)
{
    if (!n || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

/*
 * {{file:PATH}} / {{files:PATTERN}} (what: "file" or "files"; v: vn bytes
 * after the colon): the path must stay below the pipeline's folder.
 */
static int file_part(tf_template *t, size_t *cap, tf_tkind kind, const char *what, const char *v,
                     size_t vn, size_t offset, tf_error *err)
{
    char path[512];
    if (!vn)
        return set_err(err, offset, "empty path in {{%s:}}", what);
    if (vn >= sizeof path)
        return set_err(err, offset, "path too long in {{%s:%.20s...}}", what, v);
    memcpy(path, v, vn);
    path[vn] = '\0';
    if (!tf_filecache_path_ok(path))
        return set_err(err, offset, "{{%s:%.*s}}: the path must be relative to the pipeline's "
                       "folder, without '..' or empty parts", what, CUT(vn), v);
    return add_part(t, cap, kind, v, vn, NULL, 0, offset);
}

/* Classify the inside of one "{{...}}" (b: n bytes, spaces trimmed). */
static int parse_one(tf_template *t, size_t *cap, const char *b, size_t n, size_t offset, tf_error *err)
{
    if (n == 5 && !memcmp(b, "today", 5))
        return add_part(t, cap, TF_T_TODAY, NULL, 0, NULL, 0, offset);
    if (n >= 4 && !memcmp(b, "now:", 4)) {
        if (n == 4)
            return set_err(err, offset, "empty strftime format in {{now:}}");
        if (n - 4 > 200)
            return set_err(err, offset, "strftime format too long in {{now:%.20s...}}", b + 4);
        return add_part(t, cap, TF_T_NOW, b + 4, n - 4, NULL, 0, offset);
    }
    if (n >= 4 && !memcmp(b, "env:", 4)) {
        const char *v = b + 4;
        size_t vn = n - 4;
        int ok = vn > 0 && !isdigit((unsigned char)v[0]);
        for (size_t i = 0; ok && i < vn; i++)
            ok = isalnum((unsigned char)v[i]) || v[i] == '_';
        if (!ok)
            return set_err(err, offset, "bad variable name in {{env:%.*s}}", CUT(vn), v);
        return add_part(t, cap, TF_T_ENV, v, vn, NULL, 0, offset);
    }
    if (n >= 6 && !memcmp(b, "files:", 6))
        return file_part(t, cap, TF_T_FILES, "files", b + 6, n - 6, offset, err);
    if (n >= 5 && !memcmp(b, "file:", 5))
        return file_part(t, cap, TF_T_FILE, "file", b + 5, n - 5, offset, err);
    if (n >= 5 && !memcmp(b, "glob:", 5)) {
        if (n == 5)
            return set_err(err, offset, "empty pattern in {{glob:}}");
        return add_part(t, cap, TF_T_GLOB, b + 5, n - 5, NULL, 0, offset);
    }
    if (n >= 4 && !memcmp(b, "item", 4) && (n == 4 || b[4] == '.')) {
        if (n == 4)
            return add_part(t, cap, TF_T_ITEM, NULL, 0, NULL, 0, offset);
        if (!valid_path(b + 5, n - 5))
            return set_err(err, offset, "bad field path in {{%.*s}}", CUT(n), b);
        return add_part(t, cap, TF_T_ITEM, NULL, 0, b + 5, n - 5, offset);
    }
    /* WORK.result[.path]: the first ".result" that ends the name. */
    for (size_t i = 1; i + 7 <= n; i++) {
        if (memcmp(b + i, ".result", 7) || (i + 7 < n && b[i + 7] != '.'))
            continue;
        if (!valid_work_ref(b, i))
            break;
        if (i + 7 == n)
            return add_part(t, cap, TF_T_RESULT, b, i, NULL, 0, offset);
        if (!valid_path(b + i + 8, n - i - 8))
            return set_err(err, offset, "bad field path in {{%.*s}}", CUT(n), b);
        return add_part(t, cap, TF_T_RESULT, b, i, b + i + 8, n - i - 8, offset);
    }
    return set_err(err, offset,
                   "unknown template {{%.*s}} (known: today, now:FORMAT, env:NAME, glob:PATTERN, "
                   "file:PATH, files:PATTERN, item, WORK.result)", CUT(n), b);
}

int tf_template_parse(const char *s, size_t len, tf_template *t, tf_error *err)
{
    memset(t, 0, sizeof *t);
    size_t cap = 0;
    tf_buf lit = TF_BUF_INIT;
    size_t lit_off = 0;
    int rc = TF_OK;
    size_t i = 0;
    while (i < len && rc == TF_OK) {
        if (!(s[i] == '{' && i + 1 < len && s[i + 1] == '{')) {
            if (!lit.len)
                lit_off = i;
            rc = tf_buf_putc(&lit, s[i]) == 0 ? TF_OK : TF_ENOMEM;
            i++;
            continue;
        }
        if (i + 3 < len && s[i + 2] == '{' && s[i + 3] == '{') { /* "{{{{" -> "{{" */
            if (!lit.len)
                lit_off = i;
            rc = tf_buf_append(&lit, "{{", 2) == 0 ? TF_OK : TF_ENOMEM;
            i += 4;
            continue;
        }
        const char *close = NULL;
        for (size_t j = i + 2; j + 1 < len; j++) {
            if (s[j] == '}' && s[j + 1] == '}') {
                close = s + j;
                break;
            }
        }
        if (!close) {
            rc = set_err(err, i, "unclosed template: \"{{\" without \"}}\"");
            break;
        }
        if (lit.len) {
            rc = add_part(t, &cap, TF_T_TEXT, lit.data, lit.len, NULL, 0, lit_off);
            tf_buf_reset(&lit);
            if (rc != TF_OK)
                break;
        }
        const char *b = s + i + 2;
        size_t n = (size_t)(close - b);
        while (n && (*b == ' ' || *b == '\t')) {
            b++;
            n--;
        }
        while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        rc = parse_one(t, &cap, b, n, i, err);
        i = (size_t)(close - s) + 2;
    }
    if (rc == TF_OK && lit.len)
        rc = add_part(t, &cap, TF_T_TEXT, lit.data, lit.len, NULL, 0, lit_off);
    tf_buf_free(&lit);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM && err)
            snprintf(err->msg, sizeof err->msg, "out of memory");
        tf_template_free(t);
    }
    return rc;
}

const tf_tpart *tf_template_single(const tf_template *t)
{
    if (t->nparts == 1 && t->parts[0].kind != TF_T_TEXT)
        return &t->parts[0];
    return NULL;
}

/* ---- evaluation ---------------------------------------------------------- */

/* Follow a dotted path in v; NULL if a part is missing. */
static const cJSON *follow(const cJSON *v, const char *path)
{
    const char *p = path;
    while (v && p && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char name[256];
        if (n >= sizeof name)
            return NULL;
        memcpy(name, p, n);
        name[n] = '\0';
        if (cJSON_IsObject(v)) {
            v = cJSON_GetObjectItemCaseSensitive(v, name);
        } else if (cJSON_IsArray(v) && strspn(name, "0123456789") == n && n < 10) {
            v = cJSON_GetArrayItem(v, atoi(name));
        } else {
            return NULL;
        }
        p = dot ? dot + 1 : NULL;
    }
    return v;
}

static int glob_value(const tf_tpart *part, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    tf_buf pat = TF_BUF_INIT;
    size_t strip = 0;
    int rc = TF_OK;
    if (part->text[0] != '/' && env->base_dir && *env->base_dir && strcmp(env->base_dir, ".")) {
        if (tf_buf_puts(&pat, env->base_dir) != 0 || tf_buf_putc(&pat, '/') != 0)
            rc = TF_ENOMEM;
        strip = pat.len;
    }
    if (rc == TF_OK && tf_buf_append(&pat, part->text, part->len) != 0)
        rc = TF_ENOMEM;
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = rc == TF_OK ? glob(pat.data, 0, NULL, &g) : 0;
    cJSON *arr = rc == TF_OK ? cJSON_CreateArray() : NULL;
    if (rc == TF_OK && !arr)
        rc = TF_ENOMEM;
    if (rc == TF_OK && grc != 0 && grc != GLOB_NOMATCH) {
        snprintf(err, errlen, "{{glob:%s}}: %s", part->text,
                 grc == GLOB_NOSPACE ? "out of memory" : "cannot read a folder");
        rc = grc == GLOB_NOSPACE ? TF_ENOMEM : TF_EINPUT;
    }
    for (size_t i = 0; rc == TF_OK && grc == 0 && i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        if (strip && !strncmp(path, pat.data, strip))
            path += strip; /* paths stay relative to the pipeline folder */
        cJSON *s = cJSON_CreateString(path);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = TF_ENOMEM;
        }
    }
    if (grc == 0)
        globfree(&g);
    tf_buf_free(&pat);
    if (rc != TF_OK) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return TF_OK;
}

/* {"path": rel, "sha256": ..., "size": N} of one file, or NULL on ENOMEM. */
static cJSON *file_object(const char *rel, const tf_fileinfo *info)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "path", rel) ||
        !cJSON_AddStringToObject(o, "sha256", info->sha256) ||
        !cJSON_AddNumberToObject(o, "size", (double)info->size)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The content key of one file through env's cache (or a cache of this call only). */
static int file_info(const tf_tenv *env, const char *rel, tf_fileinfo *info, char *err, size_t errlen)
{
    tf_filecache *fc = env->files ? env->files : tf_filecache_new();
    if (!fc) {
        snprintf(err, errlen, "out of memory");
        return TF_ENOMEM;
    }
    int rc = tf_filecache_get(fc, env->base_dir, rel, env->tick, info, err, errlen);
    if (fc != env->files)
        tf_filecache_free(fc);
    return rc;
}

static int file_value(const tf_tpart *part, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    tf_fileinfo info;
    char why[400];
    int rc = file_info(env, part->text, &info, why, sizeof why);
    if (rc != TF_OK) {
        snprintf(err, errlen, "{{file:%.200s}}: %s", part->text, why);
        return rc;
    }
    if (!(*out = file_object(part->text, &info))) {
        snprintf(err, errlen, "out of memory");
        return TF_ENOMEM;
    }
    return TF_OK;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * {{files:PATTERN}}: the matching regular files, sorted by path (bytewise,
 * not by locale). Matches that are symbolic links, pass through one, or
 * are not regular files are left out; so is a file that vanished between
 * the folder read and its open.
 */
static int files_value(const tf_tpart *part, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    cJSON *paths = NULL;
    tf_tpart as_glob = *part;
    as_glob.kind = TF_T_GLOB;
    int rc = glob_value(&as_glob, env, &paths, err, errlen);
    if (rc != TF_OK)
        return rc;
    size_t n = (size_t)cJSON_GetArraySize(paths), k = 0;
    const char **v = calloc(n ? n : 1, sizeof *v);
    cJSON *arr = cJSON_CreateArray();
    rc = v && arr ? TF_OK : TF_ENOMEM;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
        if (rc == TF_OK)
            v[k++] = p->valuestring;
    if (rc == TF_OK)
        qsort(v, k, sizeof *v, by_path);
    for (size_t i = 0; rc == TF_OK && i < k; i++) {
        tf_fileinfo info;
        char why[400];
        int frc = file_info(env, v[i], &info, why, sizeof why);
        if (frc == TF_EINPUT || frc == TF_ENOTFOUND)
            continue; /* a link, a folder, a FIFO, or gone: not a file of the set */
        if (frc != TF_OK) {
            snprintf(err, errlen, "{{files:%.200s}}: %s", part->text, why);
            rc = frc;
            break;
        }
        cJSON *o = file_object(v[i], &info);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            rc = TF_ENOMEM;
        }
    }
    free(v);
    cJSON_Delete(paths);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM)
            snprintf(err, errlen, "out of memory");
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return TF_OK;
}

/* The value an ITEM or RESULT part names, borrowed from env (no copy). */
static int part_ref(const tf_tpart *part, const tf_tenv *env, const cJSON **out, char *err, size_t errlen)
{
    const cJSON *v;
    *out = NULL;
    if (part->kind == TF_T_ITEM) {
        if (!env->item) {
            snprintf(err, errlen, "{{item}} used outside foreach");
            return TF_EINPUT;
        }
        v = part->path ? follow(env->item, part->path) : env->item;
        if (!v) {
            snprintf(err, errlen, "{{item.%s}}: no such field in the element", part->path);
            return TF_EINPUT;
        }
    } else {
        const cJSON *r = env->result ? env->result(env->user, part->text) : NULL;
        if (!r) {
            snprintf(err, errlen, "needs %s.result", part->text);
            return TF_ENOTFOUND;
        }
        v = part->path ? follow(r, part->path) : r;
        if (!v) {
            snprintf(err, errlen, "{{%s.result.%s}}: no such field in the result of %s", part->text,
                     part->path, part->text);
            return TF_EINPUT;
        }
    }
    *out = v;
    return TF_OK;
}

/* The JSON value of one non-text part; *out is new. */
static int part_value(const tf_tpart *part, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    const cJSON *v = NULL;
    char buf[512];
    *out = NULL;
    switch (part->kind) {
    case TF_T_TEXT:
        *out = cJSON_CreateString(part->text);
        break;
    case TF_T_TODAY:
    case TF_T_NOW: {
        time_t secs = (time_t)env->now;
        struct tm tm;
        if (!localtime_r(&secs, &tm)) {
            snprintf(err, errlen, "cannot convert the template clock to local time");
            return TF_EINPUT;
        }
        const char *fmt = part->kind == TF_T_TODAY ? "%Y-%m-%d" : part->text;
        /* The format is the user's {{now:FORMAT}}: that is the point of it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t n = strftime(buf, sizeof buf, fmt, &tm);
#pragma GCC diagnostic pop
        buf[n < sizeof buf ? n : 0] = '\0'; /* 0: empty result or too long: both give "" */
        *out = cJSON_CreateString(buf);
        break;
    }
    case TF_T_ENV: {
        const char *val = getenv(part->text);
        if (!val) {
            snprintf(err, errlen, "{{env:%s}}: environment variable %s is not set", part->text,
                     part->text);
            return TF_EINPUT;
        }
        *out = cJSON_CreateString(val);
        break;
    }
    case TF_T_GLOB:
        return glob_value(part, env, out, err, errlen);
    case TF_T_FILE:
        return file_value(part, env, out, err, errlen);
    case TF_T_FILES:
        return files_value(part, env, out, err, errlen);
    case TF_T_ITEM:
    case TF_T_RESULT: {
        int rc = part_ref(part, env, &v, err, errlen);
        if (rc != TF_OK)
            return rc;
        *out = cJSON_Duplicate(v, 1);
        break;
    }
    }
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return TF_ENOMEM;
    }
    return TF_OK;
}

int tf_template_eval(const tf_template *t, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    if (tf_template_single(t))
        return part_value(&t->parts[0], env, out, err, errlen);
    tf_buf b = TF_BUF_INIT;
    int rc = tf_buf_puts(&b, "") == 0 ? TF_OK : TF_ENOMEM;
    for (size_t i = 0; rc == TF_OK && i < t->nparts; i++) {
        const tf_tpart *part = &t->parts[i];
        if (part->kind == TF_T_TEXT) {
            rc = tf_buf_append(&b, part->text, part->len) == 0 ? TF_OK : TF_ENOMEM;
            continue;
        }
        cJSON *v = NULL;
        rc = part_value(part, env, &v, err, errlen);
        if (rc == TF_OK) {
            if (cJSON_IsString(v)) {
                rc = tf_buf_puts(&b, v->valuestring) == 0 ? TF_OK : TF_ENOMEM;
            } else {
                tf_error jerr;
                rc = tf_jcs_tree(v, &b, &jerr);
                if (rc == TF_EINPUT)
                    snprintf(err, errlen, "template value is not JSON: %s", jerr.msg);
            }
        }
        cJSON_Delete(v);
    }
    if (rc == TF_OK && !(*out = cJSON_CreateString(b.data)))
        rc = TF_ENOMEM;
    if (rc == TF_ENOMEM)
        snprintf(err, errlen, "out of memory");
    tf_buf_free(&b);
    return rc;
}

/* Replace template strings under node (a copy the caller owns) in place. */
static int expand_in(cJSON *node, const tf_tenv *env, char *err, size_t errlen)
{
    cJSON *kid = node->child;
    while (kid) {
        cJSON *next = kid->next;
        if (cJSON_IsString(kid) && tf_template_has(kid->valuestring)) {
            tf_template t;
            tf_error perr;
            int rc = tf_template_parse(kid->valuestring, strlen(kid->valuestring), &t, &perr);
            if (rc != TF_OK) {
                snprintf(err, errlen, "%s", perr.msg);
                return rc;
            }
            cJSON *v = NULL;
            rc = tf_template_eval(&t, env, &v, err, errlen);
            tf_template_free(&t);
            if (rc != TF_OK)
                return rc;
            /* In an object the replacement must take the member name too. */
            cJSON_bool ok = cJSON_IsObject(node)
                            ? cJSON_ReplaceItemInObjectCaseSensitive(node, kid->string, v)
                            : cJSON_ReplaceItemViaPointer(node, kid, v);
            if (!ok) {
                cJSON_Delete(v);
                snprintf(err, errlen, "out of memory");
                return TF_ENOMEM;
            }
        } else if (cJSON_IsArray(kid) || cJSON_IsObject(kid)) {
            int rc = expand_in(kid, env, err, errlen);
            if (rc != TF_OK)
                return rc;
        }
        kid = next;
    }
    return TF_OK;
}

int tf_template_expand(const cJSON *tree, const tf_tenv *env, cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *copy = cJSON_Duplicate(tree, 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return TF_ENOMEM;
    }
    int rc = TF_OK;
    if (cJSON_IsString(copy) && tf_template_has(copy->valuestring)) {
        tf_template t;
        tf_error perr;
        rc = tf_template_parse(copy->valuestring, strlen(copy->valuestring), &t, &perr);
        if (rc != TF_OK) {
            snprintf(err, errlen, "%s", perr.msg);
        } else {
            cJSON *v = NULL;
            rc = tf_template_eval(&t, env, &v, err, errlen);
            tf_template_free(&t);
            cJSON_Delete(copy);
            copy = v;
        }
    } else if (cJSON_IsArray(copy) || cJSON_IsObject(copy)) {
        rc = expand_in(copy, env, err, errlen);
    }
    if (rc != TF_OK) {
        cJSON_Delete(copy);
        return rc;
    }
    *out = copy;
    return TF_OK;
}

/* ---- prepared argument trees ------------------------------------------------ */

/* One templated string value of a prepared tree. */
typedef struct targ_slot {
    cJSON *node;            /* its node in the working copy (a reference while filled) */
    tf_template t;          /* the parsed template */
    const tf_tpart *ref;    /* the single ITEM/RESULT part (value borrowed, not copied), or NULL */
    cJSON *owned;           /* value computed for the current call, owned, or NULL */
} targ_slot;

struct tf_targs {
    cJSON *tree;            /* working copy of the argument tree, owned */
    targ_slot *slots;       /* templated values in tree order, owned */
    size_t nslots;          /* count */
    size_t capslots;        /* allocated */
};

/* The node holds no value of its own: a null that frees nothing. */
static void slot_clear(targ_slot *sl)
{
    cJSON *n = sl->node;
    n->type = cJSON_NULL | (n->type & cJSON_StringIsConst);
    n->valuestring = NULL;
    n->child = NULL;
    n->valueint = 0;
    n->valuedouble = 0;
    cJSON_Delete(sl->owned);
    sl->owned = NULL;
}

/* Make the slot's node stand for v without copying it (cJSON_IsReference: never freed through it). */
static void slot_point(targ_slot *sl, const cJSON *v)
{
    cJSON *n = sl->node;
    n->type = (v->type & 0xFF) | cJSON_IsReference | (n->type & cJSON_StringIsConst);
    n->valuestring = v->valuestring;
    n->child = v->child;
    n->valueint = v->valueint;
    n->valuedouble = v->valuedouble;
}

/* Record every templated string under node (depth first, in member order). */
static int collect(tf_targs *a, cJSON *node, tf_error *err)
{
    for (cJSON *kid = node->child; kid; kid = kid->next) {
        if (cJSON_IsArray(kid) || cJSON_IsObject(kid)) {
            int rc = collect(a, kid, err);
            if (rc != TF_OK)
                return rc;
            continue;
        }
        if (!cJSON_IsString(kid) || !tf_template_has(kid->valuestring))
            continue;
        if (a->nslots == a->capslots) {
            size_t c = a->capslots ? a->capslots * 2 : 4;
            targ_slot *p = realloc(a->slots, c * sizeof *p);
            if (!p)
                return TF_ENOMEM;
            a->slots = p;
            a->capslots = c;
        }
        targ_slot *sl = &a->slots[a->nslots];
        memset(sl, 0, sizeof *sl);
        int rc = tf_template_parse(kid->valuestring, strlen(kid->valuestring), &sl->t, err);
        if (rc != TF_OK)
            return rc;
        const tf_tpart *one = tf_template_single(&sl->t);
        sl->ref = one && (one->kind == TF_T_ITEM || one->kind == TF_T_RESULT) ? one : NULL;
        sl->node = kid;
        free(kid->valuestring);
        kid->valuestring = NULL;
        slot_clear(sl);
        a->nslots++;
    }
    return TF_OK;
}

int tf_targs_new(const cJSON *tree, tf_targs **out, tf_error *err)
{
    *out = NULL;
    if (!cJSON_IsObject(tree) && !cJSON_IsArray(tree)) {
        set_err(err, 0, "arguments must be an object or an array");
        return TF_EINPUT;
    }
    tf_targs *a = calloc(1, sizeof *a);
    if (!a || !(a->tree = cJSON_Duplicate(tree, 1))) {
        free(a);
        if (err)
            snprintf(err->msg, sizeof err->msg, "out of memory");
        return TF_ENOMEM;
    }
    int rc = collect(a, a->tree, err);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM && err)
            snprintf(err->msg, sizeof err->msg, "out of memory");
        tf_targs_free(a);
        return rc;
    }
    *out = a;
    return TF_OK;
}

void tf_targs_reset(tf_targs *a)
{
    for (size_t i = 0; i < a->nslots; i++)
        slot_clear(&a->slots[i]);
}

int tf_targs_fill(tf_targs *a, const tf_tenv *env, const cJSON **out, char *err, size_t errlen)
{
    *out = NULL;
    for (size_t i = 0; i < a->nslots; i++) {
        targ_slot *sl = &a->slots[i];
        slot_clear(sl);
        const cJSON *v = NULL;
        int rc = sl->ref ? part_ref(sl->ref, env, &v, err, errlen)
                         : tf_template_eval(&sl->t, env, &sl->owned, err, errlen);
        if (rc != TF_OK) {
            tf_targs_reset(a);
            return rc;
        }
        slot_point(sl, v ? v : sl->owned);
    }
    *out = a->tree;
    return TF_OK;
}

void tf_targs_free(tf_targs *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nslots; i++) {
        slot_clear(&a->slots[i]);
        tf_template_free(&a->slots[i].t);
    }
    free(a->slots);
    cJSON_Delete(a->tree);
    free(a);
}
