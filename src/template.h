/*
 * template.h - "{{...}}" templates in the argument strings of pipeline
 * files (owned by template.c): parsing with byte offsets for messages, and
 * evaluation against a template clock, the environment, the current
 * foreach element and the results of other works in this tick.
 *
 * Forms: {{today}}, {{now:FORMAT}}, {{env:NAME}}, {{glob:PATTERN}},
 * {{file:PATH}}, {{files:PATTERN}}, {{item}} / {{item.field}},
 * {{WORK.result}} / {{WORK.result.field}}.
 * "{{{{" is a literal "{{"; a lone "}}" is literal text. Spaces just inside
 * the braces are ignored. Field paths are dot-separated member names; a
 * part made of digits also indexes an array.
 */
#ifndef TF_TEMPLATE_H
#define TF_TEMPLATE_H

#include <stddef.h>

#include "tickflow.h"
#include "filehash.h"

typedef enum tf_tkind {
    TF_T_TEXT,      /* literal bytes */
    TF_T_TODAY,     /* {{today}} */
    TF_T_NOW,       /* {{now:FORMAT}} */
    TF_T_ENV,       /* {{env:NAME}} */
    TF_T_GLOB,      /* {{glob:PATTERN}} */
    TF_T_FILE,      /* {{file:PATH}}: {"path", "sha256", "size"} of one file */
    TF_T_FILES,     /* {{files:PATTERN}}: an array of those, sorted by path */
    TF_T_ITEM,      /* {{item}} / {{item.path}} */
    TF_T_RESULT     /* {{WORK.result}} / {{WORK.result.path}} */
} tf_tkind;

/* One part of a template string. */
typedef struct tf_tpart {
    tf_tkind kind;  /* what the part is */
    char *text;     /* TEXT: literal; NOW: format; ENV: name; GLOB/FILES: pattern; FILE: path;
                       RESULT: work name; else NULL */
    size_t len;     /* byte length of text */
    char *path;     /* ITEM/RESULT: field path after "item."/"result.", or NULL for the whole value */
    size_t offset;  /* byte offset of the part in the parsed string */
} tf_tpart;

/* A parsed template string: parts in order. */
typedef struct tf_template {
    tf_tpart *parts;    /* owned array */
    size_t nparts;      /* count */
} tf_template;

/* 1 if s (NUL-terminated) contains "{{", i.e. may need parsing. */
int tf_template_has(const char *s);

/*
 * Parse len bytes of s. On TF_OK *t holds the parts (free with
 * tf_template_free). On TF_EINPUT err->msg is the reason (no position) and
 * err->offset the byte offset in s of the bad template. TF_ENOMEM too.
 */
int tf_template_parse(const char *s, size_t len, tf_template *t, tf_error *err);
void tf_template_free(tf_template *t);

/* The template part if t is exactly one template and no text, else NULL. */
const tf_tpart *tf_template_single(const tf_template *t);

/*
 * Where a work's result comes from during evaluation: returns the result
 * tree (borrowed) or NULL when the work has no result in this tick yet.
 */
typedef const cJSON *(*tf_tresult_fn)(void *user, const char *work);

/* What templates see. */
typedef struct tf_tenv {
    double now;             /* template clock, epoch seconds (local time via localtime_r) */
    const char *base_dir;   /* relative glob patterns start here; NULL = current folder */
    const cJSON *item;      /* current foreach element, or NULL outside foreach */
    tf_tresult_fn result;   /* results of other works, or NULL (none available) */
    void *user;             /* result's user pointer */
    tf_filecache *files;    /* content keys of {{file:}}/{{files:}}, or NULL (hash every time) */
    uint64_t tick;          /* tick number: a file is looked at once per tick (0: every time) */
} tf_tenv;

/*
 * Evaluate t. A string that is exactly one template takes the template's
 * JSON value; otherwise the parts are joined as text (strings as they are,
 * other values as canonical JSON). On TF_OK *out is a new tree the caller
 * frees with cJSON_Delete. TF_ENOTFOUND: a work has no result yet (err:
 * "needs WORK.result") or a {{file:}} does not exist (err names it): the
 * call waits; TF_EINPUT: a value cannot be produced (unset
 * variable, missing field, bad glob), err says why; TF_ENOMEM.
 */
int tf_template_eval(const tf_template *t, const tf_tenv *env, cJSON **out, char *err, size_t errlen);

/*
 * Copy tree, replacing every string value that holds templates (at any
 * depth; member names are never templates) by its evaluation. Same codes
 * as tf_template_eval; *out is freed by the caller with cJSON_Delete.
 */
int tf_template_expand(const cJSON *tree, const tf_tenv *env, cJSON **out, char *err, size_t errlen);

/*
 * A prepared argument tree: the templates of a tree parsed once, and one
 * working copy whose templated values are set at each call instead of
 * copying the whole tree. Not thread-safe; one use at a time.
 */
typedef struct tf_targs tf_targs;

/*
 * Prepare tree (an object or an array; copied, the caller keeps it). On
 * TF_OK *out is freed with tf_targs_free. TF_EINPUT: a template does not
 * parse (err->msg, err->offset within that string); TF_ENOMEM.
 */
int tf_targs_new(const cJSON *tree, tf_targs **out, tf_error *err);

/*
 * Evaluate every template of a against env into the working copy: *out is
 * then equal to what tf_template_expand would build. *out is borrowed from
 * a, and a value that is exactly {{item...}} or {{WORK.result...}} is not
 * copied but referenced, so *out is valid only while env's item and
 * results live and until tf_targs_reset, the next fill or tf_targs_free.
 * Same codes and messages as tf_template_expand.
 */
int tf_targs_fill(tf_targs *a, const tf_tenv *env, const cJSON **out, char *err, size_t errlen);

/* Drop the values of the last fill (references and computed values). */
void tf_targs_reset(tf_targs *a);
void tf_targs_free(tf_targs *a);

#endif
