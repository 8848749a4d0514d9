/*
 * json.h - strict JSON parsing into a compact read-only tree (owned by
 * json.c) and RFC 8785 canonical output (jcs.c) for that tree and for cJSON.
 *
 * The tree keeps byte offsets so callers (the pipeline parser) can report
 * line:column for semantic errors too. One document is one arena: freeing
 * the document frees every node and string.
 */
#ifndef TF_JSON_H
#define TF_JSON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "tickflow.h"
#include "buf.h"

typedef enum tf_jtype {
    TF_J_NULL, TF_J_FALSE, TF_J_TRUE, TF_J_NUMBER, TF_J_STRING, TF_J_ARRAY, TF_J_OBJECT
} tf_jtype;

typedef struct tf_jnode tf_jnode;
struct tf_jnode {
    tf_jtype type;          /* kind of value */
    uint32_t count;         /* ARRAY/OBJECT: number of elements or members */
    size_t offset;          /* byte offset of the value's first byte in the text */
    const char *key;        /* as an object member: unescaped name, NUL-terminated; else NULL */
    size_t key_len;         /* byte length of key */
    size_t key_offset;      /* byte offset of the member name's opening quote */
    const char *str;        /* STRING: unescaped UTF-8, NUL-terminated; else NULL */
    size_t len;             /* STRING: byte length of str */
    double num;             /* NUMBER: nearest IEEE-754 double */
    tf_jnode *kids;         /* ARRAY/OBJECT: count children, in input order */
};

typedef struct tf_json tf_json; /* a parsed document: arena of nodes and strings */

/*
 * Parse len bytes of JSON text strictly (RFC 8259 plus the rules in
 * tickflow.h / README: UTF-8 validated, no duplicate names, no \u0000, no
 * overflow, depth <= TF_JSON_MAX_DEPTH, nothing after the value). On TF_OK
 * *out is a document the caller frees with tf_json_free(). On TF_EINPUT err
 * holds "LINE:COL: reason" and its offset/line/column fields.
 */
int tf_json_parse(const char *text, size_t len, tf_json **out, tf_error *err);
void tf_json_free(tf_json *doc);
const tf_jnode *tf_json_root(const tf_json *doc);

/* Member of an object by name, or NULL. */
const tf_jnode *tf_jnode_get(const tf_jnode *obj, const char *key);

/* 1-based line and column (in bytes) of a byte offset in text. */
void tf_json_position(const char *text, size_t len, size_t offset, int *line, int *column);

/* A new cJSON tree equal to node (caller frees with cJSON_Delete), or NULL on ENOMEM. */
cJSON *tf_jnode_to_cjson(const tf_jnode *node);

/* Append the canonical bytes of a parsed node to out. TF_OK or TF_ENOMEM. */
int tf_jcs_node(const tf_jnode *node, tf_buf *out);

/*
 * Append the canonical bytes of a cJSON tree to out (out is not reset).
 * TF_EINPUT with a JSON path in err for trees that are not valid JSON.
 * Allocation-free once out and the internal scratch are warm: this is the
 * cached-call hot path.
 */
int tf_jcs_tree(const cJSON *tree, tf_buf *out, tf_error *err);

/*
 * tf_jcs_tree leaving out the top-level members named in skip
 * (NULL-terminated; NULL or empty: none, same as tf_jcs_tree). With names
 * to skip, tree must be an object (else TF_EINPUT).
 */
int tf_jcs_tree_skip(const cJSON *tree, const char *const *skip, tf_buf *out, tf_error *err);

/* Append s (len bytes of valid UTF-8) as an RFC 8785 string literal. */
int tf_jcs_string(const char *s, size_t len, tf_buf *out);

/* ---- additions (json.c / jcs.c internals shared with other modules) ---- */

/*
 * Compare two member names (valid UTF-8, byte lengths given) in RFC 8785
 * order: by UTF-16 code units. <0, 0, >0 like memcmp.
 */
int tf_jcs_keycmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Check that s (len bytes) is valid UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). Returns 1 if valid; else 0 with *bad (may be
 * NULL) set to the offset of the first byte of the invalid sequence.
 */
int tf_utf8_valid(const char *s, size_t len, size_t *bad);

/*
 * What each byte means inside a JSON string literal (jcs.c): 0 plain
 * ASCII, copied as is; 1 a byte of a non-ASCII UTF-8 sequence; else the
 * letter of its escape ('u' for \u00xx). Nonzero ends a plain run, for
 * the parser (json.c) as for the writer.
 */
extern const unsigned char tf_json_esc[256];

/*
 * Format fmt with ap into reason (cap bytes, cap >= 4); a reason too long
 * for it ends in "...". The one formatter of the JSON, canonicalization
 * and pipeline error reports.
 */
void tf_json_vreason(char *reason, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * Fill err for a problem at byte offset of text (len bytes): offset, line,
 * column and msg "FILE:LINE:COL: reason", or "LINE:COL: reason" when file
 * is NULL (a long message is cut with "..."). Returns TF_EINPUT.
 */
int tf_json_verror(tf_error *err, const char *text, size_t len, size_t offset,
                   const char *file, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

#endif
