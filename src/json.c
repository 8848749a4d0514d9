/*
 * json.c - strict JSON text parser into a read-only arena tree (json.h),
 * the tree's cJSON conversion, UTF-8 validation, line:column positions and
 * the "LINE:COL: reason" message formatting jcs.c and pipeline.c share.
 *
 * The parser is recursive descent over the byte buffer. Children of an
 * array or object are collected on a temporary stack and copied into the
 * document's arena when the container closes, so every kids array is
 * contiguous and nodes never move. The arena is a list of chunks (large
 * requests get a chunk of their own): memory stays proportional to the
 * input and documents of hundreds of MB work.
 *
 * Policies (what "strict" means here, beyond RFC 8259):
 *  - the text must be valid UTF-8 everywhere (no overlong forms, no encoded
 *    surrogates, nothing above U+10FFFF, no truncated sequences); a UTF-8
 *    byte order mark is refused;
 *  - escapes must be valid: \u needs 4 hex digits; a high surrogate escape
 *    must be followed by a low one and a low one must not stand alone;
 *  - \u0000 is refused in names and values: strings become C strings in
 *    cJSON and in work code, where a NUL would silently cut them;
 *  - raw control characters (< 0x20) inside strings are refused;
 *  - duplicate member names (compared after unescaping) are refused, and
 *    reported at the second occurrence (checked when the object closes, so
 *    an error later inside the same object may be reported first);
 *  - NaN, Infinity, -Infinity and non-JSON numbers (01, 1., .5, +1, 1e, -)
 *    are refused; a number that overflows a double (1e400) is refused; one
 *    that underflows becomes 0; fractions and exponents round to the
 *    nearest double as in every JSON.parse;
 *  - an integer literal (no fraction, no exponent) whose magnitude exceeds
 *    2^53 is accepted only if it is exactly the ECMAScript form of the
 *    double it parses to (e.g. 123456789012345680000 from JSON.stringify);
 *    otherwise the parser would silently change it, so it is refused with
 *    "quote it as a string";
 *  - nesting deeper than TF_JSON_MAX_DEPTH (512) arrays/objects is refused;
 *  - only space, tab, LF and CR count as whitespace; anything else after
 *    the value is refused; an empty or whitespace-only text is refused.
 * Errors are "LINE:COL: reason", LINE counted by LF, COL 1-based in bytes.
 */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

/* ---- arena --------------------------------------------------------------- */

#define CHUNK_FIRST ((size_t)16 * 1024)
#define CHUNK_MAX ((size_t)8 * 1024 * 1024)

typedef struct chunk chunk;
struct chunk {
    chunk *next;        /* older chunk */
    size_t cap;         /* usable bytes after the header */
    size_t used;        /* bytes handed out */
    size_t pad;         /* keeps the data 16-byte aligned */
};

struct tf_json {
    chunk *head;        /* chunk being filled (first), then older ones */
    size_t next_cap;    /* capacity of the next regular chunk */
    tf_jnode root;      /* the document's value */
};

static chunk *chunk_new(size_t cap)
{
    if (cap > (size_t)-1 - sizeof(chunk))
        return NULL;
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

/* n bytes aligned to align (a power of two <= 16) that live until tf_json_free. */
static void *arena_alloc(tf_json *d, size_t n, size_t align)
{
    chunk *c = d->head;
    if (c) {
        size_t at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->cap && n <= c->cap - at) {
            c->used = at + n;
            return (char *)(c + 1) + at;
        }
    }
    if (n > d->next_cap / 4) {
        /* a big block gets its own chunk, kept behind the current one */
        chunk *big = chunk_new(n);
        if (!big)
            return NULL;
        big->used = n;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            d->head = big;
        }
        return big + 1;
    }
    chunk *nc = chunk_new(d->next_cap);
    if (!nc)
        return NULL;
    if (d->next_cap < CHUNK_MAX)
        d->next_cap *= 2;
    nc->next = c;
    d->head = nc;
    nc->used = n;
    return nc + 1;
}

void tf_json_free(tf_json *doc)
{
    if (!doc)
        return;
    chunk *c = doc->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const tf_jnode *tf_json_root(const tf_json *doc)
{
    return doc ? &doc->root : NULL;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/*
 * Length (1..4) of the valid UTF-8 sequence at s (avail bytes), or 0 when it
 * is invalid; *why (may be NULL) then names the problem.
 */
static size_t utf8_seq(const unsigned char *s, size_t avail, const char **why)
{
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    const char *w = NULL;
    if (c < 0x80)
        return 1;
    if (c < 0xC2) {
        w = c < 0xC0 ? "unexpected continuation byte" : "overlong encoding";
        goto bad;
    } else if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        w = "code point above U+10FFFF";
        goto bad;
    }
    if (avail < 2 || (s[1] & 0xC0) != 0x80) {
        w = "truncated sequence";
        goto bad;
    }
    if (s[1] < lo || s[1] > hi) {
        w = c == 0xED ? "encoded surrogate" : c == 0xF4 ? "code point above U+10FFFF"
                                                        : "overlong encoding";
        goto bad;
    }
    for (size_t i = 2; i < n; i++) {
        if (i >= avail || (s[i] & 0xC0) != 0x80) {
            w = "truncated sequence";
            goto bad;
        }
    }
    return n;
bad:
    if (why)
        *why = w;
    return 0;
}

int tf_utf8_valid(const char *str, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i, NULL);
        if (!n) {
            if (bad)
                *bad = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

/* ---- positions and errors ---------------------------------------------------- */

void tf_json_position(const char *text, size_t len, size_t offset, int *line, int *column)
{
    if (offset > len)
        offset = len;
    size_t ln = 1, bol = 0;
    const char *p = text, *end = text + offset;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        ln++;
        bol = (size_t)(nl - text) + 1;
        p = nl + 1;
    }
    size_t col = offset - bol + 1;
    if (line)
        *line = ln > (size_t)0x7fffffff ? 0x7fffffff : (int)ln;
    if (column)
        *column = col > (size_t)0x7fffffff ? 0x7fffffff : (int)col;
}

void tf_json_vreason(char *reason, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(reason, cap, fmt, ap);
    if (n < 0)
        reason[0] = '\0';
    else if ((size_t)n >= cap)
        memcpy(reason + cap - 4, "...", 4);
}

int tf_json_verror(tf_error *err, const char *text, size_t len, size_t offset,
                   const char *file, const char *fmt, va_list ap)
{
    char reason[400];
    tf_json_vreason(reason, sizeof reason, fmt, ap);
    tf_json_position(text, len, offset, &err->line, &err->column);
    err->offset = offset;
    int n = file ? snprintf(err->msg, sizeof err->msg, "%s:%d:%d: %s", file, err->line,
                            err->column, reason)
                 : snprintf(err->msg, sizeof err->msg, "%d:%d: %s", err->line, err->column,
                            reason);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    return TF_EINPUT;
}

typedef struct parser {
    const unsigned char *s;     /* the text */
    size_t len;                 /* its length */
    size_t pos;                 /* next byte to read */
    tf_json *doc;               /* document being built */
    tf_jnode *stack;            /* children of open containers */
    size_t sp;                  /* entries in stack */
    size_t scap;                /* capacity of stack */
    tf_buf scratch;             /* unescaped string being built */
    tf_error *err;              /* where to report, may be NULL */
    int depth;                  /* open containers */
} parser;

/* Record "LINE:COL: reason" for offset and return TF_EINPUT. */
__attribute__((format(printf, 3, 4)))
static int fail(parser *p, size_t offset, const char *fmt, ...)
{
    if (!p->err)
        return TF_EINPUT;
    va_list ap;
    va_start(ap, fmt);
    tf_json_verror(p->err, (const char *)p->s, p->len, offset, NULL, fmt, ap);
    va_end(ap);
    return TF_EINPUT;
}

static int nomem(parser *p)
{
    if (p->err) {
        snprintf(p->err->msg, sizeof p->err->msg, "out of memory parsing JSON");
        p->err->offset = p->pos;
        p->err->line = p->err->column = 0;
    }
    return TF_ENOMEM;
}

/* Quote up to max bytes of s for a message (one line, printable). */
static void show(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap)
            break;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        else
            dst[o++] = (char)c;
    }
    if (n > max && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* Report the unexpected byte at offset at (what, e.g. "expected ':'"). */
static int unexpected(parser *p, size_t at, const char *what)
{
    if (at >= p->len)
        return fail(p, at, "unexpected end of input%s%s", what ? ": " : "", what ? what : "");
    unsigned c = p->s[at];
    const char *why = NULL;
    if (c >= 0x80 && !utf8_seq(p->s + at, p->len - at, &why))
        return fail(p, at, "invalid utf-8 (%s)", why);
    if (c >= 0x20 && c < 0x7f)
        return fail(p, at, "unexpected character '%c'%s%s", (int)c, what ? ", " : "",
                    what ? what : "");
    return fail(p, at, "unexpected byte 0x%02x%s%s", c, what ? ", " : "", what ? what : "");
}

/* ---- the parser ---------------------------------------------------------------- */

static inline void skip_ws(parser *p)
{
    const unsigned char *s = p->s;
    size_t i = p->pos, n = p->len;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    p->pos = i;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return -1;
}

/* The 4 hex digits at s[at..at+3] as a code unit, or -1. */
static long hex4(const parser *p, size_t at)
{
    if (at + 4 > p->len)
        return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(p->s[at + i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static int put_utf8(tf_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return tf_buf_append(b, u, n);
}

/*
 * Parse the string whose opening quote is at p->pos; on TF_OK *out points
 * to the unescaped, NUL-terminated bytes in the arena and p->pos is past
 * the closing quote.
 */
static int parse_string(parser *p, const char **out, size_t *out_len)
{
    const unsigned char *s = p->s;
    size_t n = p->len, open = p->pos, i = open + 1;
    while (i < n && !tf_json_esc[s[i]])
        i++;
    if (i < n && s[i] == '"') {
        /* plain ASCII without escapes: copy straight from the text */
        size_t len = i - open - 1;
        char *d = arena_alloc(p->doc, len + 1, 1);
        if (!d)
            return nomem(p);
        memcpy(d, s + open + 1, len);
        d[len] = '\0';
        *out = d;
        *out_len = len;
        p->pos = i + 1;
        return TF_OK;
    }
    tf_buf *b = &p->scratch;
    tf_buf_reset(b);
    size_t run = open + 1;
    for (;;) {
        while (i < n && !tf_json_esc[s[i]])
            i++;
        if (i > run && tf_buf_append(b, s + run, i - run) != 0)
            return nomem(p);
        if (i >= n)
            return fail(p, open, "unterminated string");
        unsigned c = s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(p, i, "control character 0x%02x in string must be escaped", c);
        if (c >= 0x80) {
            const char *why = NULL;
            size_t k = utf8_seq(s + i, n - i, &why);
            if (!k)
                return fail(p, i, "invalid utf-8 (%s)", why);
            if (tf_buf_append(b, s + i, k) != 0)
                return nomem(p);
            i += k;
            run = i;
            continue;
        }
        /* backslash */
        if (i + 1 >= n)
            return fail(p, open, "unterminated string");
        unsigned e = s[i + 1];
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default:
            if (e >= 0x20 && e < 0x7f)
                return fail(p, i, "invalid escape '\\%c'", (int)e);
            return fail(p, i, "invalid escape (backslash followed by byte 0x%02x)", e);
        }
        if (simple) {
            if (tf_buf_putc(b, simple) != 0)
                return nomem(p);
            i += 2;
            run = i;
            continue;
        }
        long u = hex4(p, i + 2);
        if (u < 0)
            return fail(p, i, "invalid \\u escape: expected 4 hex digits");
        unsigned long cp = (unsigned long)u;
        size_t next = i + 6;
        if (cp == 0)
            return fail(p, i, "\\u0000 is not allowed in strings");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(p, i, "lone low surrogate \\u%04lx", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (next + 1 < n && s[next] == '\\' && s[next + 1] == 'u')
                lo = hex4(p, next + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(p, i, "lone high surrogate \\u%04lx (no low surrogate follows)", cp);
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
            next += 6;
        }
        if (put_utf8(b, cp) != 0)
            return nomem(p);
        i = next;
        run = i;
    }
    char *d = arena_alloc(p->doc, b->len + 1, 1);
    if (!d)
        return nomem(p);
    memcpy(d, b->data, b->len);
    d[b->len] = '\0';
    *out = d;
    *out_len = b->len;
    p->pos = i + 1;
    return TF_OK;
}

static int is_num_char(unsigned c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Length of the longest JSON number at s (n bytes), and whether it is a bare integer. */
static size_t scan_number(const unsigned char *s, size_t n, int *integer)
{
    size_t i = 0;
    *integer = 1;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        *integer = 0;
        i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *integer = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i;
}

/*
 * Clinger's fast path for a number literal already checked to be JSON: when
 * its significand has at most 15 digits (so it is an exact double) and the
 * decimal exponent is within +-22 (10^e exact too), one IEEE multiply or
 * divide gives the correctly rounded result, the same double tf_numparse
 * would return. Returns 1 with *out set, or 0 to leave it to tf_numparse.
 */
static int fast_number(const unsigned char *s, size_t n, double *out)
{
    static const double p10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                                   1e22};
    size_t i = 0;
    int neg = 0, sig = 0;
    long e10 = 0;
    uint64_t m = 0;
    if (s[0] == '-') {
        neg = 1;
        i++;
    }
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (m || s[i] != '0') {
            if (++sig > 15)
                return 0;
            m = m * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            e10--;
            if (m || s[i] != '0') {
                if (++sig > 15)
                    return 0;
                m = m * 10 + (uint64_t)(s[i] - '0');
            }
        }
    }
    if (i < n) { /* exponent */
        int eneg = 0;
        long ev = 0;
        i++;
        if (s[i] == '+' || s[i] == '-')
            eneg = s[i++] == '-';
        for (; i < n; i++) {
            if (ev > 100000)
                return 0;
            ev = ev * 10 + (s[i] - '0');
        }
        e10 += eneg ? -ev : ev;
    }
    double d = (double)m;
    if (m == 0)
        d = 0.0;
    else if (e10 >= 0 && e10 <= 22)
        d *= p10[e10];
    else if (e10 < 0 && e10 >= -22)
        d /= p10[-e10];
    else
        return 0;
    *out = neg ? -d : d;
    return 1;
}

static int parse_number(parser *p, tf_jnode *node)
{
    const unsigned char *s = p->s + p->pos;
    size_t avail = p->len - p->pos, start = p->pos;
    if (s[0] == '-' && avail >= 9 && !memcmp(s + 1, "Infinity", 8))
        return fail(p, start, "-Infinity is not valid JSON");
    int integer;
    size_t n = scan_number(s, avail, &integer);
    char shown[64];
    if (n == 0 || (n < avail && is_num_char(s[n]))) {
        /* show the whole number-like token: "01", "1.5.2", "1e+" */
        size_t tok = 0;
        while (tok < avail && is_num_char(s[tok]))
            tok++;
        show(shown, sizeof shown, (const char *)s, tok ? tok : 1, 40);
        return fail(p, start, "invalid number '%s'", shown);
    }
    double d;
    if (fast_number(s, n, &d)) {
        /* exact: at most 15 significant digits and a small power of ten */
    } else if (tf_numparse((const char *)s, n, &d) != 0) {
        show(shown, sizeof shown, (const char *)s, n, 40);
        return fail(p, start, "number %s is out of range", shown);
    }
    if (integer) {
        const unsigned char *dg = s + (s[0] == '-');
        size_t nd = n - (size_t)(s[0] == '-');
        if (nd > 16 || (nd == 16 && memcmp(dg, "9007199254740992", 16) > 0)) {
            char f[TF_NUMFMT_MAX];
            size_t fl = tf_numfmt(d, f);
            if (fl != n || memcmp(f, s, n) != 0) {
                show(shown, sizeof shown, (const char *)s, n, 40);
                return fail(p, start,
                             "integer %s cannot be represented exactly; quote it as a string",
                             shown);
            }
        }
    }
    node->type = TF_J_NUMBER;
    node->num = d;
    p->pos += n;
    return TF_OK;
}

static int parse_value(parser *p, tf_jnode *node);

/* Make room for one more pending child. */
static int push(parser *p, const tf_jnode *n)
{
    if (p->sp == p->scap) {
        size_t cap = p->scap ? p->scap * 2 : 64;
        if (cap > (size_t)-1 / sizeof(tf_jnode))
            return nomem(p);
        tf_jnode *ns = realloc(p->stack, cap * sizeof(tf_jnode));
        if (!ns)
            return nomem(p);
        p->stack = ns;
        p->scap = cap;
    }
    p->stack[p->sp++] = *n;
    return TF_OK;
}

/* Move the pending children from base up into the arena as node's kids. */
static int close_container(parser *p, tf_jnode *node, size_t base, size_t at)
{
    size_t count = p->sp - base;
    if (count > UINT32_MAX)
        return fail(p, at, "container has more than %lu elements", (unsigned long)UINT32_MAX);
    node->count = (uint32_t)count;
    node->kids = NULL;
    if (count) {
        tf_jnode *k = arena_alloc(p->doc, count * sizeof(tf_jnode), 16);
        if (!k)
            return nomem(p);
        memcpy(k, p->stack + base, count * sizeof(tf_jnode));
        node->kids = k;
    }
    p->sp = base;
    return TF_OK;
}

static int key_order(const void *a, const void *b)
{
    const tf_jnode *x = *(const tf_jnode *const *)a, *y = *(const tf_jnode *const *)b;
    int c = tf_jcs_keycmp(x->key, x->key_len, y->key, y->key_len);
    if (c)
        return c;
    return x->key_offset < y->key_offset ? -1 : x->key_offset > y->key_offset;
}

/* Refuse duplicate names among obj's members (report the earliest second occurrence). */
static int check_duplicates(parser *p, const tf_jnode *obj)
{
    size_t n = obj->count;
    const tf_jnode *k = obj->kids;
    if (n < 2)
        return TF_OK;
    size_t i;
    for (i = 1; i < n; i++)
        if (tf_jcs_keycmp(k[i - 1].key, k[i - 1].key_len, k[i].key, k[i].key_len) >= 0)
            break;
    if (i == n)
        return TF_OK; /* strictly increasing: no duplicates */
    const tf_jnode *small[32];
    const tf_jnode **idx = small;
    if (n > 32) {
        idx = malloc(n * sizeof *idx);
        if (!idx)
            return nomem(p);
    }
    for (i = 0; i < n; i++)
        idx[i] = &k[i];
    qsort(idx, n, sizeof *idx, key_order);
    const tf_jnode *dup = NULL;
    for (i = 1; i < n; i++) {
        if (idx[i - 1]->key_len == idx[i]->key_len
            && !memcmp(idx[i - 1]->key, idx[i]->key, idx[i]->key_len)
            && (!dup || idx[i]->key_offset < dup->key_offset))
            dup = idx[i];
    }
    if (idx != small)
        free(idx);
    if (!dup)
        return TF_OK;
    char shown[160];
    show(shown, sizeof shown, dup->key, dup->key_len, 100);
    return fail(p, dup->key_offset, "duplicate member name \"%s\"", shown);
}

/* Consume byte c at p->pos (then whitespace) if it is there; 1 if it was. */
static int eat(parser *p, unsigned char c)
{
    if (p->pos >= p->len || p->s[p->pos] != c)
        return 0;
    p->pos++;
    skip_ws(p);
    return 1;
}

/*
 * Enter the array or object (type) whose opening bracket is at p->pos:
 * check the depth, step over the bracket and whitespace. *empty is 1 when
 * the closing bracket follows at once (it is consumed).
 */
static int open_container(parser *p, tf_jnode *node, tf_jtype type, unsigned char close,
                          int *empty)
{
    if (++p->depth > TF_JSON_MAX_DEPTH)
        return fail(p, p->pos, "nesting deeper than %d levels", TF_JSON_MAX_DEPTH);
    node->type = type;
    p->pos++;
    skip_ws(p);
    *empty = p->pos < p->len && p->s[p->pos] == close;
    if (*empty)
        p->pos++;
    return TF_OK;
}

/*
 * After an element (whitespace skipped): a ',' means another follows
 * (*more = 1), the closing bracket ends the container (*more = 0);
 * anything else is reported with `expected`.
 */
static int after_element(parser *p, unsigned char close, const char *expected, int *more)
{
    *more = eat(p, ',');
    if (*more)
        return TF_OK;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return TF_OK;
    }
    return unexpected(p, p->pos, expected);
}

static int parse_array(parser *p, tf_jnode *node)
{
    size_t open = p->pos, base = p->sp;
    int rc, empty, more;
    if ((rc = open_container(p, node, TF_J_ARRAY, ']', &empty)) != TF_OK)
        return rc;
    for (more = !empty; more;) {
        tf_jnode kid;
        if ((rc = parse_value(p, &kid)) != TF_OK || (rc = push(p, &kid)) != TF_OK)
            return rc;
        skip_ws(p);
        if ((rc = after_element(p, ']', "expected ',' or ']'", &more)) != TF_OK)
            return rc;
    }
    p->depth--;
    return close_container(p, node, base, open);
}

/* Parse the member "name": value at p->pos into *kid (key fields set). */
static int parse_member(parser *p, tf_jnode *kid)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return unexpected(p, p->pos, "expected a member name string");
    const char *key;
    size_t key_len, key_offset = p->pos;
    int rc = parse_string(p, &key, &key_len);
    if (rc != TF_OK)
        return rc;
    skip_ws(p);
    if (!eat(p, ':'))
        return unexpected(p, p->pos, "expected ':' after member name");
    if ((rc = parse_value(p, kid)) != TF_OK)
        return rc;
    kid->key = key;
    kid->key_len = key_len;
    kid->key_offset = key_offset;
    return TF_OK;
}

static int parse_object(parser *p, tf_jnode *node)
{
    size_t open = p->pos, base = p->sp;
    int rc, empty, more;
    if ((rc = open_container(p, node, TF_J_OBJECT, '}', &empty)) != TF_OK)
        return rc;
    for (more = !empty; more;) {
        tf_jnode kid;
        if ((rc = parse_member(p, &kid)) != TF_OK || (rc = push(p, &kid)) != TF_OK)
            return rc;
        skip_ws(p);
        if ((rc = after_element(p, '}', "expected ',' or '}'", &more)) != TF_OK)
            return rc;
    }
    p->depth--;
    if ((rc = close_container(p, node, base, open)) != TF_OK)
        return rc;
    return check_duplicates(p, node);
}

static int literal(parser *p, tf_jnode *node, const char *word, size_t n, tf_jtype t)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return unexpected(p, p->pos, "expected a JSON value");
    node->type = t;
    p->pos += n;
    return TF_OK;
}

/* Parse the value at p->pos (whitespace already skipped) into *node. */
static int parse_value(parser *p, tf_jnode *node)
{
    memset(node, 0, sizeof *node);
    node->offset = p->pos;
    if (p->pos >= p->len)
        return fail(p, p->pos, "unexpected end of input: expected a JSON value");
    unsigned c = p->s[p->pos];
    switch (c) {
    case '{':
        return parse_object(p, node);
    case '[':
        return parse_array(p, node);
    case '"':
        node->type = TF_J_STRING;
        return parse_string(p, &node->str, &node->len);
    case 't':
        return literal(p, node, "true", 4, TF_J_TRUE);
    case 'f':
        return literal(p, node, "false", 5, TF_J_FALSE);
    case 'n':
        return literal(p, node, "null", 4, TF_J_NULL);
    case 'N':
        if (p->len - p->pos >= 3 && !memcmp(p->s + p->pos, "NaN", 3))
            return fail(p, p->pos, "NaN is not valid JSON");
        break;
    case 'I':
        if (p->len - p->pos >= 8 && !memcmp(p->s + p->pos, "Infinity", 8))
            return fail(p, p->pos, "Infinity is not valid JSON");
        break;
    default:
        if (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'))
            return parse_number(p, node);
        break;
    }
    return unexpected(p, p->pos, "expected a JSON value");
}

int tf_json_parse(const char *text, size_t len, tf_json **out, tf_error *err)
{
    parser p;
    int rc;
    *out = NULL;
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = len;
    p.err = err;
    if (err) {
        err->msg[0] = '\0';
        err->offset = 0;
        err->line = err->column = 0;
    }
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        return fail(&p, 0, "utf-8 byte order mark is not allowed");
    skip_ws(&p);
    if (p.pos == len)
        return fail(&p, 0, "empty input: expected a JSON value");
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc)
        return nomem(&p);
    p.doc->next_cap = CHUNK_FIRST;
    if (len / 4 > CHUNK_FIRST) /* big documents: start with bigger chunks */
        p.doc->next_cap = len / 4 < CHUNK_MAX ? len / 4 : CHUNK_MAX;
    rc = parse_value(&p, &p.doc->root);
    if (rc == TF_OK) {
        skip_ws(&p);
        if (p.pos < len)
            rc = unexpected(&p, p.pos, "expected end of input after the value");
    }
    free(p.stack);
    tf_buf_free(&p.scratch);
    if (rc != TF_OK) {
        tf_json_free(p.doc);
        return rc;
    }
    *out = p.doc;
    return TF_OK;
}

const tf_jnode *tf_jnode_get(const tf_jnode *obj, const char *key)
{
    if (!obj || obj->type != TF_J_OBJECT || !key)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->count; i++) {
        const tf_jnode *k = &obj->kids[i];
        if (k->key_len == n && !memcmp(k->key, key, n))
            return k;
    }
    return NULL;
}

/* ---- cJSON conversion ---------------------------------------------------------- */

cJSON *tf_jnode_to_cjson(const tf_jnode *node)
{
    cJSON *c = NULL;
    switch (node->type) {
    case TF_J_NULL: return cJSON_CreateNull();
    case TF_J_FALSE: return cJSON_CreateFalse();
    case TF_J_TRUE: return cJSON_CreateTrue();
    case TF_J_NUMBER: return cJSON_CreateNumber(node->num);
    case TF_J_STRING: return cJSON_CreateString(node->str);
    case TF_J_ARRAY:
    case TF_J_OBJECT:
        c = node->type == TF_J_ARRAY ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!c)
            return NULL;
        /* link children directly: cJSON_AddItemTo* would rescan or re-copy */
        cJSON *last = NULL;
        for (uint32_t i = 0; i < node->count; i++) {
            const tf_jnode *k = &node->kids[i];
            cJSON *kc = tf_jnode_to_cjson(k);
            if (!kc) {
                cJSON_Delete(c);
                return NULL;
            }
            if (node->type == TF_J_OBJECT) {
                kc->string = cJSON_malloc(k->key_len + 1);
                if (!kc->string) {
                    cJSON_Delete(kc);
                    cJSON_Delete(c);
                    return NULL;
                }
                memcpy(kc->string, k->key, k->key_len + 1);
            }
            if (last) {
                last->next = kc;
                kc->prev = last;
            } else {
                c->child = kc;
            }
            last = kc;
        }
        if (c->child)
            c->child->prev = last; /* cJSON keeps the tail in child->prev */
        return c;
    }
    return NULL;
}
