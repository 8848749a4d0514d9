/*
 * pipeline.c - pipeline files: a JSON document naming command works, their
 * argument sets (with "{{...}}" templates, see template.h) and options.
 *
 * Loading validates everything before anything runs and reports the first
 * problem as "FILE:LINE:COL: reason", using the byte offsets the strict
 * parser (json.h) keeps on every node. Attaching registers one command work
 * per pipeline work and one flow that, each tick, evaluates the works in
 * dependency order (file order where dependencies allow): a work waits
 * while a work it references has no result in this tick, waits before its
 * not_before time of day, and otherwise calls tf_run once per foreach
 * element (or once). Results are kept for dependants until the flow ends.
 *
 * Reloading re-reads a changed file and redefines the works in place; a
 * file that does not validate leaves the running definition untouched.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "hook.h"
#include "json.h"
#include "template.h"

/* Every this many ticks, content keys of files not seen for as long are forgotten. */
#define TF_FILES_SWEEP 256

/* What a work reached in the current evaluation. */
enum { PL_UNSEEN, PL_OK, PL_PENDING, PL_FAILED, PL_WAITING };

/* An edge: this work uses the result of works[idx]. */
typedef struct pl_dep {
    size_t idx;             /* index of the work depended on */
    size_t offset;          /* byte offset of the template naming it (for messages) */
} pl_dep;

/* One work of the file. */
typedef struct pl_work {
    char *name;             /* unique name */
    size_t name_offset;     /* offset of the name value in the file */
    char **argv;            /* command template, NULL-terminated */
    char **env;             /* "NAME=value", NULL-terminated, or NULL */
    char *cwd;              /* working folder (resolved against the file's folder) */
    char *version;          /* version string ("" default) */
    char **ignore;          /* argument names outside the key, NULL-terminated, or NULL */
    tf_work_opts opts;      /* options; opts.version points at version */
    cJSON *args;            /* argument object as written (templates unexpanded) */
    tf_targs *targs;        /* args prepared for evaluation (templates parsed once) */
    int needed;             /* another work uses its result: keep the results */
    int has_foreach;        /* 1 if foreach was given */
    cJSON *foreach_list;    /* literal foreach array, or NULL */
    tf_template foreach_t;  /* foreach template (one part), when not a literal */
    int not_before;         /* minutes after local midnight, or -1 */
    pl_dep *deps;           /* works this one references, owned */
    size_t ndeps;           /* count */
    char **on_failure;      /* hook argv when a call fails for good, NULL-terminated, or NULL */
    char **on_success;      /* hook argv when an execution succeeds, or NULL */
    double hook_timeout;    /* seconds a hook may run; 0 = the pipeline's */
    tf_work *work;          /* the registered work once attached */
    int state;              /* PL_* in the current evaluation */
    cJSON *result;          /* PL_OK: result in this evaluation, owned */
} pl_work;

/* A parsed file. */
typedef struct pl_def {
    char *name;             /* pipeline name */
    char *db;               /* resolved database path, or NULL */
    double tick;            /* seconds, or 0 */
    char **on_failure;      /* top-level hooks: for works that name none, or NULL */
    char **on_success;      /* likewise */
    double hook_timeout;    /* seconds a hook may run; 0 = TF_HOOK_TIMEOUT */
    pl_work *works;         /* works in file order */
    size_t nworks;          /* count */
    size_t *order;          /* evaluation order: indices into works */
} pl_def;

struct tf_pipeline {
    char *path;             /* the file as given */
    char *dir;              /* its folder */
    pl_def *def;            /* current definition, owned */
    struct stat st;         /* the file's identity when last read */
    double now;             /* template clock; NAN = real time */
    tf_app *app;            /* where attached, or NULL */
    tf_filecache *files;    /* content keys of {{file:}}/{{files:}}, kept across reloads */
};

/* ---- small helpers ---------------------------------------------------------- */

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* dir + "/" + rel, or rel alone when absolute; NULL on ENOMEM. */
static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
        return strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, rel); /* sized exactly: cannot truncate */
    return p;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static void work_clear(pl_work *w)
{
    free(w->name);
    tf_strv_free(w->argv);
    tf_strv_free(w->env);
    free(w->cwd);
    free(w->version);
    tf_strv_free(w->ignore);
    cJSON_Delete(w->args);
    tf_targs_free(w->targs);
    cJSON_Delete(w->foreach_list);
    tf_template_free(&w->foreach_t);
    free(w->deps);
    cJSON_Delete(w->result);
    tf_strv_free(w->on_failure);
    tf_strv_free(w->on_success);
}

static void def_free(pl_def *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nworks; i++)
        work_clear(&d->works[i]);
    free(d->works);
    free(d->order);
    free(d->name);
    free(d->db);
    tf_strv_free(d->on_failure);
    tf_strv_free(d->on_success);
    free(d);
}

/* ---- loading ------------------------------------------------------------------ */

/* What the loader needs to report a position. */
typedef struct ld {
    const char *path;       /* file name for messages */
    const char *dir;        /* the file's folder */
    const char *text;       /* file contents */
    size_t len;             /* their length */
    tf_error *err;          /* where messages go (never NULL here) */
    pl_def *def;            /* being built */
} ld;

/* Record "FILE:LINE:COL: reason" for a byte offset; returns TF_EINPUT. */
__attribute__((format(printf, 3, 4)))
static int lerr(ld *c, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tf_json_verror(c->err, c->text, c->len, offset, c->path, fmt, ap);
    va_end(ap);
    return TF_EINPUT;
}

static int nomem(ld *c)
{
    snprintf(c->err->msg, sizeof c->err->msg, "%s: out of memory", c->path);
    return TF_ENOMEM;
}

/*
 * Offset in the file of byte idx of a string value's unescaped text: exact
 * while no escape precedes it, else the string's opening quote.
 */
static size_t str_offset(const ld *c, const tf_jnode *node, size_t idx)
{
    size_t start = node->offset + 1;
    if (start + idx > c->len || memchr(c->text + start, '\\', idx))
        return node->offset;
    return start + idx;
}

static const char *type_name(tf_jtype t)
{
    switch (t) {
    case TF_J_NULL: return "null";
    case TF_J_FALSE: case TF_J_TRUE: return "a boolean";
    case TF_J_NUMBER: return "a number";
    case TF_J_STRING: return "a string";
    case TF_J_ARRAY: return "an array";
    default: return "an object";
    }
}

static int want(ld *c, const tf_jnode *n, tf_jtype t, const char *what)
{
    int ok = n->type == t || (t == TF_J_TRUE && n->type == TF_J_FALSE);
    if (ok)
        return TF_OK;
    return lerr(c, n->offset, "'%s' must be %s, not %s", what,
                t == TF_J_TRUE ? "true or false" : type_name(t), type_name(n->type));
}

static int check_keys(ld *c, const tf_jnode *obj, const char *const *allowed, const char *where)
{
    for (uint32_t i = 0; i < obj->count; i++) {
        const tf_jnode *k = &obj->kids[i];
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(k->key, *a);
        if (!known) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a; a++) {
                int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *a);
                if (n < 0 || (size_t)n >= sizeof list - used)
                    break; /* the list is cut, the message stays useful */
                used += (size_t)n;
            }
            return lerr(c, k->key_offset, "unknown key '%s' in %s (allowed: %s)", k->key, where, list);
        }
    }
    return TF_OK;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 128 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

static long find_work(const pl_def *d, const char *name, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (d->works[i].name && !strcmp(d->works[i].name, name))
            return (long)i;
    return -1;
}

static int add_dep(pl_work *w, size_t idx, size_t offset)
{
    for (size_t i = 0; i < w->ndeps; i++)
        if (w->deps[i].idx == idx)
            return TF_OK;
    pl_dep *p = realloc(w->deps, (w->ndeps + 1) * sizeof *p);
    if (!p)
        return TF_ENOMEM;
    w->deps = p;
    w->deps[w->ndeps++] = (pl_dep){idx, offset};
    return TF_OK;
}

/*
 * Check the templates of one string value of work wi: well formed, naming
 * known works (not itself), {{item}} only under foreach. Dependencies are
 * recorded. foreach_ctx: the string is the work's foreach.
 */
static int check_string(ld *c, size_t wi, const tf_jnode *node, int foreach_ctx)
{
    pl_work *w = &c->def->works[wi];
    if (!tf_template_has(node->str) && !foreach_ctx)
        return TF_OK;
    tf_template t;
    tf_error terr;
    int rc = tf_template_parse(node->str, node->len, &t, &terr);
    if (rc == TF_ENOMEM)
        return nomem(c);
    if (rc != TF_OK)
        return lerr(c, str_offset(c, node, terr.offset), "%s", terr.msg);
    if (foreach_ctx) {
        const tf_tpart *one = tf_template_single(&t);
        if (!one || (one->kind != TF_T_RESULT && one->kind != TF_T_GLOB && one->kind != TF_T_FILES)) {
            tf_template_free(&t);
            return lerr(c, node->offset,
                        "'foreach' must be an array or exactly one {{WORK.result}}, "
                        "{{glob:PATTERN}} or {{files:PATTERN}} template");
        }
    }
    for (size_t i = 0; rc == TF_OK && i < t.nparts; i++) {
        const tf_tpart *part = &t.parts[i];
        size_t off = str_offset(c, node, part->offset);
        if (part->kind == TF_T_ITEM && (!w->has_foreach || foreach_ctx)) {
            rc = lerr(c, off, "{{item}} used outside foreach (work '%s' has no 'foreach')", w->name);
        } else if (part->kind == TF_T_RESULT) {
            long dep = find_work(c->def, part->text, c->def->nworks);
            if (dep < 0)
                rc = lerr(c, off, "unknown work '%s' in {{%s.result}}", part->text, part->text);
            else if ((size_t)dep == wi)
                rc = lerr(c, off, "work '%s' depends on itself", w->name);
            else if (add_dep(w, (size_t)dep, off) != TF_OK)
                rc = nomem(c);
        }
    }
    if (rc == TF_OK && foreach_ctx) {
        w->foreach_t = t; /* the work owns it now */
        return TF_OK;
    }
    tf_template_free(&t);
    return rc;
}

/* Every string under an args value. */
static int check_tree(ld *c, size_t wi, const tf_jnode *node)
{
    if (node->type == TF_J_STRING)
        return check_string(c, wi, node, 0);
    if (node->type == TF_J_ARRAY || node->type == TF_J_OBJECT)
        for (uint32_t i = 0; i < node->count; i++) {
            int rc = check_tree(c, wi, &node->kids[i]);
            if (rc != TF_OK)
                return rc;
        }
    return TF_OK;
}

/* "HH:MM" -> minutes, or -1. */
static int parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

/*
 * In a command element, "{{item}}" and "{{item.FIELD...}}" (spaces inside
 * the braces allowed) become the placeholders "{item}" / "{item.FIELD...}";
 * every other "{{" stays literal text, as it always was (docker's
 * --format '{{.Names}}', awk). *out is the new text (malloc'd), *found the
 * number of references rewritten. -1 on ENOMEM, -2 on a field path the
 * placeholders cannot name (only A-Z a-z 0-9 _ parts).
 */
static int rewrite_item_refs(const char *in, char **out, int *found)
{
    tf_buf b = TF_BUF_INIT;
    *found = 0;
    *out = NULL;
    const char *p = in;
    while (*p) {
        const char *q = p;
        if (q[0] == '{' && q[1] == '{') {
            q += 2;
            while (*q == ' ' || *q == '\t')
                q++;
            if (!strncmp(q, "item", 4) && (q[4] == '}' || q[4] == '.' || q[4] == ' ' || q[4] == '\t')) {
                const char *path = q + 4, *e = path;
                while (*e == '.' || (*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
                       (*e >= '0' && *e <= '9') || *e == '_' || *e == '-')
                    e++;
                const char *close = e;
                while (*close == ' ' || *close == '\t')
                    close++;
                if (close[0] == '}' && close[1] == '}') {
                    for (const char *c = path; c < e; c++)
                        if (*c == '-' || (*c == '.' && (c + 1 == e || c[1] == '.')))
                            goto bad;
                    if (tf_buf_putc(&b, '{') || tf_buf_append(&b, "item", 4) ||
                        tf_buf_append(&b, path, (size_t)(e - path)) || tf_buf_putc(&b, '}'))
                        goto oom;
                    (*found)++;
                    p = close + 2;
                    continue;
                }
            }
        }
        if (tf_buf_putc(&b, *p))
            goto oom;
        p++;
    }
    if (tf_buf_puts(&b, ""))
        goto oom;
    *out = tf_buf_take(&b, NULL);
    return 0;
bad:
    tf_buf_free(&b);
    return -2;
oom:
    tf_buf_free(&b);
    return -1;
}

/*
 * Can the argument set provide the dotted path (len bytes)? A value that
 * holds a template ("{{...}}") is known only per call, so anything below
 * it may exist; a literal value is checked member by member.
 */
static int args_can_provide(const cJSON *args, const char *path, size_t len)
{
    const cJSON *node = args;
    while (len) {
        if (!node)
            return 0;
        if (cJSON_IsString(node) && strstr(node->valuestring, "{{"))
            return 1;
        if (!cJSON_IsObject(node))
            return 0;
        const char *dot = memchr(path, '.', len);
        size_t part = dot ? (size_t)(dot - path) : len;
        const cJSON *next = NULL;
        for (const cJSON *k = node->child; k && !next; k = k->next)
            if (strlen(k->string) == part && !memcmp(k->string, path, part))
                next = k;
        node = next;
        path += part + (dot ? 1 : 0);
        len -= part + (dot ? 1 : 0);
    }
    return node != NULL;
}

/*
 * Every "{name}" / "{name.field}" placeholder in the command (after the
 * {{item}} rewrite) names an argument the argument set can provide; else a
 * FILE:LINE:COL refusal at the placeholder (a call could only fail, and the
 * command is not in the key, so fixing the file later would not make it
 * run again by itself).
 */
static int check_placeholders(ld *c, const pl_work *w, const tf_jnode *cmd)
{
    for (uint32_t i = 0; w->argv[i]; i++) {
        const tf_jnode *a = &cmd->kids[i];
        int same = !strcmp(w->argv[i], a->str); /* positions hold only for the file's text */
        for (const char *p = w->argv[i]; (p = strchr(p, '{'));) {
            size_t n = tf_command_placeholder_len(p);
            if (!n) {
                p++;
                continue;
            }
            if (!args_can_provide(w->args, p + 1, n - 2)) {
                const char *dot = memchr(p + 1, '.', n - 2);
                size_t top = dot ? (size_t)(dot - p - 1) : n - 2;
                size_t at = same ? str_offset(c, a, (size_t)(p - w->argv[i])) : a->offset;
                if (args_can_provide(w->args, p + 1, top))
                    return lerr(c, at, "command placeholder %.*s: argument '%.*s' has no field '%.*s'",
                                (int)n, p, (int)top, p + 1, (int)(n - 3 - top), p + 2 + top);
                return lerr(c, at, "command placeholder %.*s: work '%s' has no argument '%.*s'",
                            (int)n, p, w->name, (int)top, p + 1);
            }
            p += n;
        }
    }
    return TF_OK;
}

/*
 * "{{item...}}" in the command of a foreach work: the element must be part
 * of the key, so args gets "item": "{{item}}" (or already has exactly
 * that), and the command reads it through the {item...} placeholders.
 */
static int command_items(ld *c, pl_work *w, const tf_jnode *cmd)
{
    int any = 0;
    for (uint32_t i = 0; w->argv[i]; i++) {
        if (!strstr(w->argv[i], "{{"))
            continue;
        char *text = NULL;
        int found = 0;
        int r = rewrite_item_refs(w->argv[i], &text, &found);
        if (r == -1)
            return nomem(c);
        if (r == -2)
            return lerr(c, cmd->kids[i].offset, "a {{item.FIELD}} in 'command' may only name fields "
                        "made of A-Z a-z 0-9 _");
        if (found && !w->has_foreach) {
            free(text);
            return lerr(c, cmd->kids[i].offset, "{{item}} used outside foreach (work '%s' has no "
                        "'foreach')", w->name);
        }
        free(w->argv[i]);
        w->argv[i] = text;
        any += found;
    }
    if (!any)
        return TF_OK;
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(w->args, "item");
    if (have && !(cJSON_IsString(have) && !strcmp(have->valuestring, "{{item}}")))
        return lerr(c, cmd->offset, "'command' uses {{item}} but 'args' has its own \"item\" "
                    "member: rename it, or set it to \"{{item}}\"");
    if (!have && !cJSON_AddStringToObject(w->args, "item", "{{item}}"))
        return nomem(c);
    return TF_OK;
}

static const char *const work_keys[] = {
    "name", "command", "args", "cache_calls", "parallel", "version", "retries", "retry_backoff",
    "timeout", "env", "cwd", "not_before", "foreach", "max_age", "keep_stale", "ignore",
    "on_failure", "on_success", "hook_timeout", NULL
};

/*
 * A hook (on_failure / on_success, key `what`): a non-empty array of
 * strings, the program first (not empty), run as it is, without a shell.
 * *out is the NULL-terminated copy (absent key: left NULL).
 */
static int load_hook(ld *c, const tf_jnode *parent, const char *what, char ***out)
{
    const tf_jnode *n = tf_jnode_get(parent, what);
    if (!n)
        return TF_OK;
    int rc = want(c, n, TF_J_ARRAY, what);
    if (rc != TF_OK)
        return rc;
    if (!n->count)
        return lerr(c, n->offset, "'%s' must not be empty: give the program and its arguments", what);
    if (!(*out = calloc(n->count + 1, sizeof **out)))
        return nomem(c);
    for (uint32_t i = 0; i < n->count; i++) {
        const tf_jnode *a = &n->kids[i];
        if (a->type != TF_J_STRING)
            return lerr(c, a->offset, "'%s' elements must be strings, not %s", what, type_name(a->type));
        if (i == 0 && !a->len)
            return lerr(c, a->offset, "the program name (%s[0]) must not be empty", what);
        if (strlen(a->str) != a->len)
            return lerr(c, a->offset, "'%s' arguments cannot hold NUL bytes", what);
        if (!((*out)[i] = strdup(a->str)))
            return nomem(c);
    }
    return TF_OK;
}

/* on_failure, on_success and hook_timeout of a work or of the pipeline. */
static int load_hooks(ld *c, const tf_jnode *parent, char ***on_failure, char ***on_success,
                      double *timeout)
{
    int rc = load_hook(c, parent, "on_failure", on_failure);
    if (rc == TF_OK)
        rc = load_hook(c, parent, "on_success", on_success);
    const tf_jnode *n = tf_jnode_get(parent, "hook_timeout");
    if (rc != TF_OK || !n)
        return rc;
    if ((rc = want(c, n, TF_J_NUMBER, "hook_timeout")) != TF_OK)
        return rc;
    if (!(n->num > 0 && n->num <= TF_HOOK_TIMEOUT_MAX))
        return lerr(c, n->offset, "'hook_timeout' must be a number of seconds > 0 and at most %g"
                    " (the scheduler waits for a hook)", TF_HOOK_TIMEOUT_MAX);
    *timeout = n->num;
    return TF_OK;
}

/* First pass over one work: everything but the templates. */
static int load_work(ld *c, size_t wi, const tf_jnode *node)
{
    pl_work *w = &c->def->works[wi];
    w->not_before = -1;
    tf_work_opts_init(&w->opts);
    if (node->type != TF_J_OBJECT)
        return lerr(c, node->offset, "a work must be an object, not %s", type_name(node->type));
    int rc = check_keys(c, node, work_keys, "a work");
    if (rc != TF_OK)
        return rc;
    const tf_jnode *name = tf_jnode_get(node, "name");
    if (!name)
        return lerr(c, node->offset, "work has no 'name'");
    if ((rc = want(c, name, TF_J_STRING, "name")) != TF_OK)
        return rc;
    if (!valid_name(name->str) || !strcmp(name->str, "item"))
        return lerr(c, name->offset,
                    "bad work name \"%s\": use 1-128 of A-Z a-z 0-9 _ - . (not starting with '.'; "
                    "'item' is reserved)", name->str);
    long dup = find_work(c->def, name->str, wi);
    if (dup >= 0) {
        int l, col;
        tf_json_position(c->text, c->len, c->def->works[dup].name_offset, &l, &col);
        return lerr(c, name->offset, "duplicate work name '%s' (first defined at %d:%d)", name->str, l, col);
    }
    if (!(w->name = strdup(name->str)))
        return nomem(c);
    w->name_offset = name->offset;

    const tf_jnode *cmd = tf_jnode_get(node, "command");
    if (!cmd)
        return lerr(c, node->offset, "work '%s' has no 'command'", w->name);
    if ((rc = want(c, cmd, TF_J_ARRAY, "command")) != TF_OK)
        return rc;
    if (!cmd->count)
        return lerr(c, cmd->offset, "'command' must not be empty");
    if (!(w->argv = calloc(cmd->count + 1, sizeof *w->argv)))
        return nomem(c);
    for (uint32_t i = 0; i < cmd->count; i++) {
        const tf_jnode *a = &cmd->kids[i];
        if (a->type != TF_J_STRING)
            return lerr(c, a->offset, "'command' elements must be strings, not %s", type_name(a->type));
        if (i == 0 && !a->len)
            return lerr(c, a->offset, "the program name (command[0]) must not be empty");
        if (strlen(a->str) != a->len)
            return lerr(c, a->offset, "command arguments cannot hold NUL bytes");
        if (!(w->argv[i] = strdup(a->str)))
            return nomem(c);
    }

    const tf_jnode *n;
    if ((n = tf_jnode_get(node, "args"))) {
        if ((rc = want(c, n, TF_J_OBJECT, "args")) != TF_OK)
            return rc;
        w->args = tf_jnode_to_cjson(n);
    } else {
        w->args = cJSON_CreateObject();
    }
    if (!w->args)
        return nomem(c);
    if ((n = tf_jnode_get(node, "cache_calls"))) {
        if ((rc = want(c, n, TF_J_TRUE, "cache_calls")) != TF_OK)
            return rc;
        w->opts.cache_calls = n->type == TF_J_TRUE;
    }
    if ((n = tf_jnode_get(node, "parallel"))) {
        if ((rc = want(c, n, TF_J_TRUE, "parallel")) != TF_OK)
            return rc;
        w->opts.parallel = n->type == TF_J_TRUE;
    }
    if ((n = tf_jnode_get(node, "version")) && (rc = want(c, n, TF_J_STRING, "version")) != TF_OK)
        return rc;
    if (!(w->version = strdup(n ? n->str : "")))
        return nomem(c);
    w->opts.version = w->version;
    if ((n = tf_jnode_get(node, "retries"))) {
        if ((rc = want(c, n, TF_J_NUMBER, "retries")) != TF_OK)
            return rc;
        if (!(n->num >= 0 && n->num <= 1000000 && n->num == (double)(long)n->num))
            return lerr(c, n->offset, "'retries' must be an integer >= 0");
        w->opts.retries = (int)n->num;
    }
    if ((n = tf_jnode_get(node, "retry_backoff"))) {
        if ((rc = want(c, n, TF_J_NUMBER, "retry_backoff")) != TF_OK)
            return rc;
        if (!(n->num >= 0 && n->num < 1e9))
            return lerr(c, n->offset, "'retry_backoff' must be a number of seconds >= 0");
        w->opts.retry_backoff = n->num;
    }
    if ((n = tf_jnode_get(node, "timeout"))) {
        if ((rc = want(c, n, TF_J_NUMBER, "timeout")) != TF_OK)
            return rc;
        if (!(n->num > 0 && n->num < 1e9))
            return lerr(c, n->offset, "'timeout' must be a number of seconds > 0");
        w->opts.timeout = n->num;
    }
    if ((n = tf_jnode_get(node, "max_age"))) {
        if ((rc = want(c, n, TF_J_STRING, "max_age")) != TF_OK)
            return rc;
        tf_error derr;
        if (tf_duration_parse(n->str, &w->opts.max_age, &derr) != TF_OK)
            return lerr(c, n->offset, "'max_age': %s", derr.msg);
    }
    if ((n = tf_jnode_get(node, "keep_stale"))) {
        if ((rc = want(c, n, TF_J_TRUE, "keep_stale")) != TF_OK)
            return rc;
        w->opts.keep_stale = n->type == TF_J_TRUE;
    }
    if ((n = tf_jnode_get(node, "ignore"))) {
        if ((rc = want(c, n, TF_J_ARRAY, "ignore")) != TF_OK)
            return rc;
        if (!(w->ignore = calloc(n->count + 1, sizeof *w->ignore)))
            return nomem(c);
        for (uint32_t i = 0; i < n->count; i++) {
            const tf_jnode *v = &n->kids[i];
            if (v->type != TF_J_STRING)
                return lerr(c, v->offset, "'ignore' elements must be strings (top-level argument "
                            "names), not %s", type_name(v->type));
            if (!v->len || strlen(v->str) != v->len)
                return lerr(c, v->offset, "'ignore': an argument name must be non-empty text");
            if (!(w->ignore[i] = strdup(v->str)))
                return nomem(c);
        }
        w->opts.ignore = (const char *const *)w->ignore;
    }
    if ((n = tf_jnode_get(node, "env"))) {
        if ((rc = want(c, n, TF_J_OBJECT, "env")) != TF_OK)
            return rc;
        if (!(w->env = calloc(n->count + 1, sizeof *w->env)))
            return nomem(c);
        for (uint32_t i = 0; i < n->count; i++) {
            const tf_jnode *v = &n->kids[i];
            if (!v->key_len || strchr(v->key, '=') || strlen(v->key) != v->key_len)
                return lerr(c, v->key_offset, "bad environment variable name \"%s\"", v->key);
            if (v->type != TF_J_STRING)
                return lerr(c, v->offset, "'env' values must be strings, not %s", type_name(v->type));
            if (strlen(v->str) != v->len)
                return lerr(c, v->offset, "environment values cannot hold NUL bytes");
            size_t len = v->key_len + v->len + 2;
            if (!(w->env[i] = malloc(len)))
                return nomem(c);
            snprintf(w->env[i], len, "%s=%s", v->key, v->str); /* sized exactly */
        }
    }
    if ((n = tf_jnode_get(node, "cwd"))) {
        if ((rc = want(c, n, TF_J_STRING, "cwd")) != TF_OK)
            return rc;
        if (!n->len)
            return lerr(c, n->offset, "'cwd' must not be empty");
    }
    if (!(w->cwd = n ? join_path(c->dir, n->str) : strdup(c->dir)))
        return nomem(c);
    if ((n = tf_jnode_get(node, "not_before"))) {
        if ((rc = want(c, n, TF_J_STRING, "not_before")) != TF_OK)
            return rc;
        if ((w->not_before = parse_hhmm(n->str)) < 0)
            return lerr(c, n->offset, "bad 'not_before' \"%s\": use HH:MM (00:00 to 23:59)", n->str);
    }
    if ((rc = load_hooks(c, node, &w->on_failure, &w->on_success, &w->hook_timeout)) != TF_OK)
        return rc;
    if ((n = tf_jnode_get(node, "foreach"))) {
        w->has_foreach = 1;
        if (n->type == TF_J_ARRAY) {
            if (!(w->foreach_list = tf_jnode_to_cjson(n)))
                return nomem(c);
        } else if (n->type != TF_J_STRING) {
            return lerr(c, n->offset,
                        "'foreach' must be an array or exactly one {{WORK.result}}, {{glob:PATTERN}} "
                        "or {{files:PATTERN}} template, not %s", type_name(n->type));
        }
    }
    if ((rc = command_items(c, w, cmd)) != TF_OK)
        return rc;
    return check_placeholders(c, w, cmd);
}

/* Colours for the cycle search. */
enum { WHITE, GREY, BLACK };

/* Depth-first search for a cycle through works[i]; path holds the grey chain. */
static int find_cycle(ld *c, size_t i, int *colour, size_t *path, size_t depth)
{
    pl_def *d = c->def;
    colour[i] = GREY;
    path[depth] = i;
    for (size_t k = 0; k < d->works[i].ndeps; k++) {
        size_t j = d->works[i].deps[k].idx;
        if (colour[j] == GREY) {
            char chain[300] = "";
            size_t used = 0;
            size_t from = 0;
            while (path[from] != j)
                from++;
            for (size_t m = from; m <= depth + 1; m++) {
                const char *nm = d->works[m <= depth ? path[m] : j].name;
                int n = snprintf(chain + used, sizeof chain - used, "%s%s", m > from ? " -> " : "", nm);
                if (n < 0 || (size_t)n >= sizeof chain - used)
                    break; /* a very long cycle is cut */
                used += (size_t)n;
            }
            return lerr(c, d->works[i].deps[k].offset, "dependency cycle: %s", chain);
        }
        if (colour[j] == WHITE) {
            int rc = find_cycle(c, j, colour, path, depth + 1);
            if (rc != TF_OK)
                return rc;
        }
    }
    colour[i] = BLACK;
    return TF_OK;
}

/* Cycle check, then the evaluation order (dependencies first, else file order). */
static int order_works(ld *c)
{
    pl_def *d = c->def;
    size_t n = d->nworks;
    int *colour = calloc(n, sizeof *colour);
    size_t *path = calloc(n + 1, sizeof *path);
    char *placed = calloc(n, 1);
    d->order = calloc(n, sizeof *d->order);
    int rc = colour && path && placed && d->order ? TF_OK : nomem(c);
    for (size_t i = 0; rc == TF_OK && i < n; i++)
        if (colour[i] == WHITE)
            rc = find_cycle(c, i, colour, path, 0);
    for (size_t k = 0; rc == TF_OK && k < n; k++) {
        for (size_t i = 0; i < n; i++) { /* the first unplaced work whose dependencies are placed */
            if (placed[i])
                continue;
            size_t m = 0;
            while (m < d->works[i].ndeps && placed[d->works[i].deps[m].idx])
                m++;
            if (m == d->works[i].ndeps) {
                placed[i] = 1;
                d->order[k] = i;
                break;
            }
        }
    }
    free(colour);
    free(path);
    free(placed);
    return rc;
}

static const char *const top_keys[] = {
    "name", "db", "tick", "works", "on_failure", "on_success", "hook_timeout", NULL
};

static int load_doc(ld *c, const tf_jnode *root)
{
    pl_def *d = c->def;
    if (root->type != TF_J_OBJECT)
        return lerr(c, root->offset, "a pipeline must be a JSON object, not %s", type_name(root->type));
    int rc = check_keys(c, root, top_keys, "the pipeline");
    if (rc != TF_OK)
        return rc;
    const tf_jnode *n = tf_jnode_get(root, "name");
    if (!n)
        return lerr(c, root->offset, "missing required key 'name'");
    if ((rc = want(c, n, TF_J_STRING, "name")) != TF_OK)
        return rc;
    if (!n->len)
        return lerr(c, n->offset, "'name' must not be empty");
    if (!(d->name = strdup(n->str)))
        return nomem(c);
    if ((n = tf_jnode_get(root, "db"))) {
        if ((rc = want(c, n, TF_J_STRING, "db")) != TF_OK)
            return rc;
        if (!n->len)
            return lerr(c, n->offset, "'db' must not be empty");
        /* a file is relative to the pipeline's folder; a server URI stays as it is */
        if (!(d->db = tf_db_is_server(n->str) ? strdup(n->str) : join_path(c->dir, n->str)))
            return nomem(c);
    }
    if ((n = tf_jnode_get(root, "tick"))) {
        if ((rc = want(c, n, TF_J_NUMBER, "tick")) != TF_OK)
            return rc;
        if (!(n->num > 0 && n->num < 1e9))
            return lerr(c, n->offset, "'tick' must be a number of seconds > 0");
        d->tick = n->num;
    }
    if ((rc = load_hooks(c, root, &d->on_failure, &d->on_success, &d->hook_timeout)) != TF_OK)
        return rc;
    const tf_jnode *works = tf_jnode_get(root, "works");
    if (!works)
        return lerr(c, root->offset, "missing required key 'works'");
    if ((rc = want(c, works, TF_J_ARRAY, "works")) != TF_OK)
        return rc;
    if (!works->count)
        return lerr(c, works->offset, "'works' must not be empty");
    if (!(d->works = calloc(works->count, sizeof *d->works)))
        return nomem(c);
    d->nworks = works->count;
    for (size_t i = 0; i < d->nworks; i++)
        if ((rc = load_work(c, i, &works->kids[i])) != TF_OK)
            return rc;
    /* Second pass: templates may name any work of the file. */
    for (size_t i = 0; i < d->nworks; i++) {
        const tf_jnode *args = tf_jnode_get(&works->kids[i], "args");
        if (args && (rc = check_tree(c, i, args)) != TF_OK)
            return rc;
        const tf_jnode *fe = tf_jnode_get(&works->kids[i], "foreach");
        if (fe && fe->type == TF_J_STRING && (rc = check_string(c, i, fe, 1)) != TF_OK)
            return rc;
        tf_error terr;
        rc = tf_targs_new(d->works[i].args, &d->works[i].targs, &terr);
        if (rc == TF_ENOMEM)
            return nomem(c);
        if (rc != TF_OK) /* checked above: cannot happen */
            return lerr(c, args ? args->offset : works->kids[i].offset, "%s", terr.msg);
    }
    for (size_t i = 0; i < d->nworks; i++)
        for (size_t k = 0; k < d->works[i].ndeps; k++)
            d->works[d->works[i].deps[k].idx].needed = 1;
    return order_works(c);
}

/* Read path fully; *st is the file's identity at that read. */
static int read_all(const char *path, char **text, size_t *len, struct stat *st, tf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), st) != 0) {
        int e = errno;
        snprintf(err->msg, sizeof err->msg, "cannot open '%s': %s", path, strerror(e));
        if (f)
            fclose(f);
        return TF_EIO;
    }
    tf_buf b = TF_BUF_INIT;
    char chunk[8192];
    size_t got;
    int rc = TF_OK;
    while (rc == TF_OK && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tf_buf_append(&b, chunk, got) != 0)
            rc = TF_ENOMEM;
    if (rc == TF_OK && ferror(f)) {
        snprintf(err->msg, sizeof err->msg, "cannot read '%s': %s", path, strerror(errno));
        rc = TF_EIO;
    }
    fclose(f);
    if (rc == TF_OK && tf_buf_puts(&b, "") != 0)
        rc = TF_ENOMEM;
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM)
            snprintf(err->msg, sizeof err->msg, "out of memory reading '%s'", path);
        tf_buf_free(&b);
        return rc;
    }
    *text = tf_buf_take(&b, len);
    return TF_OK;
}

/* Parse and validate the file into a new definition. */
static int load_def(const char *path, const char *dir, pl_def **out, struct stat *st, tf_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(path, &text, &len, st, err);
    if (rc != TF_OK)
        return rc;
    tf_json *doc = NULL;
    tf_error jerr;
    rc = tf_json_parse(text, len, &doc, &jerr);
    if (rc != TF_OK) {
        *err = jerr;
        int n = snprintf(err->msg, sizeof err->msg, "%s:%s", path, jerr.msg);
        if (n < 0 || (size_t)n >= sizeof err->msg)
            memcpy(err->msg + sizeof err->msg - 4, "...", 4);
        free(text);
        return rc;
    }
    pl_def *d = calloc(1, sizeof *d);
    ld c = {path, dir, text, len, err, d};
    rc = d ? load_doc(&c, tf_json_root(doc)) : TF_ENOMEM;
    tf_json_free(doc);
    free(text);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM && !d)
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
        def_free(d);
        return rc;
    }
    *out = d;
    return TF_OK;
}

int tf_pipeline_load(const char *path, tf_pipeline **out, tf_error *err)
{
    tf_error scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof *err);
    *out = NULL;
    tf_pipeline *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path)) || !(p->dir = dir_of(path)) ||
        !(p->files = tf_filecache_new())) {
        tf_pipeline_free(p);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return TF_ENOMEM;
    }
    p->now = NAN; /* the real time until tf_pipeline_set_now */
    int rc = load_def(path, p->dir, &p->def, &p->st, err);
    if (rc != TF_OK) {
        tf_pipeline_free(p);
        return rc;
    }
    *out = p;
    return TF_OK;
}

void tf_pipeline_free(tf_pipeline *p)
{
    if (!p)
        return;
    def_free(p->def);
    tf_filecache_free(p->files);
    free(p->path);
    free(p->dir);
    free(p);
}

const char *tf_pipeline_name(const tf_pipeline *p)
{
    return p->def->name;
}

const char *tf_pipeline_db(const tf_pipeline *p)
{
    return p->def->db;
}

double tf_pipeline_tick(const tf_pipeline *p)
{
    return p->def->tick;
}

const char *tf_pipeline_work_name(const tf_pipeline *p, size_t i)
{
    return i < p->def->nworks ? p->def->works[i].name : NULL;
}

void tf_pipeline_set_now(tf_pipeline *p, double now)
{
    p->now = now;
}

/* ---- evaluation ------------------------------------------------------------- */

static const cJSON *result_of(void *user, const char *name)
{
    const pl_def *d = user;
    long i = find_work(d, name, d->nworks);
    if (i < 0 || d->works[i].state != PL_OK)
        return NULL;
    return d->works[i].result;
}

/* A decision without a key (the arguments could not be computed). */
static void emit_nokey(tf_app *app, const pl_work *w, const char *what, const char *why)
{
    tf_app_emit(app, w->work, "", NULL, what, why, 0, 0, NULL, NULL);
}

/*
 * One call of w with item (NULL outside foreach). Returns the call's state
 * (PL_OK with *result set to a new tree when another work needs the result,
 * else NULL; PL_PENDING; PL_FAILED), or -1 when
 * the loop was stopped.
 */
static int eval_call(tf_tick *tick, pl_def *d, pl_work *w, const tf_tenv *base, const cJSON *item,
                     cJSON **result)
{
    tf_app *app = tf_tick_app(tick);
    tf_tenv env = *base;
    env.item = item;
    char why[512];
    const cJSON *args = NULL;
    *result = NULL;
    int rc = tf_targs_fill(w->targs, &env, &args, why, sizeof why);
    if (rc == TF_ENOTFOUND) {
        /* a {{file:}} that does not exist (yet): wait for it, like a dependency */
        emit_nokey(app, w, "waiting", why);
        return PL_WAITING;
    }
    if (rc != TF_OK) {
        /* Dependencies were checked; anything left is this call's failure. */
        emit_nokey(app, w, "failed", why);
        app->failed++;
        return PL_FAILED;
    }
    tf_call call;
    rc = tf_run(tick, w->work, args, &call);
    tf_targs_reset(w->targs);
    if (rc == TF_ESTOPPED)
        return -1;
    if (rc != TF_OK) {
        emit_nokey(app, w, "failed", tf_errmsg(app));
        app->failed++;
        return PL_FAILED;
    }
    (void)d;
    switch (call.status) {
    case TF_CALL_SUCCEEDED:
        if (!w->needed)
            return PL_OK; /* nobody reads it: no copy */
        *result = call.result ? cJSON_Duplicate(call.result, 1) : cJSON_CreateNull();
        if (!*result) {
            emit_nokey(app, w, "failed", "out of memory");
            return PL_FAILED;
        }
        return PL_OK;
    case TF_CALL_FAILED:
        return PL_FAILED;
    default:
        return PL_PENDING;
    }
}

/* Evaluate work w: waits, foreach, calls. Returns 0, or -1 when stopped. */
static int eval_work(tf_tick *tick, pl_def *d, pl_work *w, const tf_tenv *env, int minute_of_day)
{
    tf_app *app = tf_tick_app(tick);
    char why[512];
    if (w->not_before >= 0 && minute_of_day < w->not_before) {
        snprintf(why, sizeof why, "not before %02d:%02d", w->not_before / 60, w->not_before % 60);
        emit_nokey(app, w, "waiting", why);
        w->state = PL_WAITING; /* on purpose not tick_busy: --once must not wait for the clock */
        return 0;
    }
    for (size_t i = 0; i < w->ndeps; i++) {
        const pl_work *dep = &d->works[w->deps[i].idx];
        if (dep->state != PL_OK) {
            snprintf(why, sizeof why, "needs %s.result", dep->name);
            emit_nokey(app, w, "waiting", why);
            w->state = dep->state == PL_PENDING ? PL_PENDING : PL_WAITING;
            return 0;
        }
    }
    if (!w->has_foreach) {
        int st = eval_call(tick, d, w, env, NULL, &w->result);
        if (st < 0)
            return -1;
        w->state = st;
        return 0;
    }
    cJSON *list = NULL;
    if (w->foreach_list) {
        list = w->foreach_list;
    } else {
        int rc = tf_template_eval(&w->foreach_t, env, &list, why, sizeof why);
        if (rc == TF_OK && !cJSON_IsArray(list)) {
            snprintf(why, sizeof why, "foreach: the value of the template is not an array");
            rc = TF_EINPUT;
        }
        if (rc != TF_OK) {
            cJSON_Delete(list);
            emit_nokey(app, w, "failed", why);
            app->failed++;
            w->state = PL_FAILED;
            return 0;
        }
    }
    cJSON *results = w->needed ? cJSON_CreateArray() : NULL;
    int state = results || !w->needed ? PL_OK : PL_FAILED;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        cJSON *r = NULL;
        int st = eval_call(tick, d, w, env, item, &r);
        if (st < 0) {
            cJSON_Delete(results);
            if (list != w->foreach_list)
                cJSON_Delete(list);
            return -1;
        }
        if (st == PL_OK && results && !cJSON_AddItemToArray(results, r))
            cJSON_Delete(r);
        else if (st != PL_OK)
            cJSON_Delete(r);
        if (st == PL_FAILED)
            state = PL_FAILED;
        else if (st == PL_PENDING && state == PL_OK)
            state = PL_PENDING;
        else if (st == PL_WAITING && state == PL_OK)
            state = PL_WAITING;
    }
    if (list != w->foreach_list)
        cJSON_Delete(list);
    w->state = state;
    if (state == PL_OK)
        w->result = results;
    else
        cJSON_Delete(results);
    return 0;
}

/* The flow of one pipeline: every work once, in order. */
static void pipeline_flow(tf_tick *tick, void *user)
{
    tf_pipeline *p = user;
    pl_def *d = p->def;
    tf_tenv env = {
        .now = isnan(p->now) ? real_now() : p->now, .base_dir = p->dir,
        .result = result_of, .user = d, .files = p->files, .tick = tf_tick_number(tick),
    };
    if (env.tick % TF_FILES_SWEEP == 0 && env.tick > TF_FILES_SWEEP)
        tf_filecache_sweep(p->files, env.tick - TF_FILES_SWEEP); /* files gone for a while */
    time_t secs = (time_t)env.now;
    struct tm tm;
    int minute = localtime_r(&secs, &tm) ? tm.tm_hour * 60 + tm.tm_min : 0;
    for (size_t i = 0; i < d->nworks; i++) {
        d->works[i].state = PL_UNSEEN;
        cJSON_Delete(d->works[i].result);
        d->works[i].result = NULL;
    }
    for (size_t k = 0; k < d->nworks; k++)
        if (eval_work(tick, d, &d->works[d->order[k]], &env, minute) < 0)
            break;
    for (size_t i = 0; i < d->nworks; i++) {
        cJSON_Delete(d->works[i].result);
        d->works[i].result = NULL;
    }
}

/* ---- notification hooks -------------------------------------------------------- */

/* Append "NAME=value" (a copy) to the NULL-terminated v of *n entries. -1 on ENOMEM. */
static int env_add(char **v, size_t *n, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value ? value : "") + 2;
    char *e = malloc(len);
    if (!e)
        return -1;
    snprintf(e, len, "%s=%s", name, value ? value : ""); /* sized exactly */
    v[(*n)++] = e;
    return 0;
}

/*
 * The stored output of ev's execution in a new file (0600, O_EXCL) under
 * $TMPDIR or /tmp, for the hook's TICKFLOW_LOG: its path into path (the
 * caller removes it), or "" when the execution left no output.
 */
static void output_file(tf_app *app, const tf_event *ev, char path[4096])
{
    path[0] = '\0';
    char *output = NULL;
    if (tf_calls_output(app, ev->work, ev->key, ev->attempt, &output) != TF_OK || !output)
        return;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int n = snprintf(path, 4096, "%s/tickflow-output-XXXXXX", dir);
    int fd = n > 0 && n < 4096 ? mkstemp(path) : -1;
    size_t len = strlen(output), off = 0;
    while (fd >= 0 && off < len) {
        ssize_t w = write(fd, output + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (fd >= 0 && (close(fd) != 0 || off < len)) {
        unlink(path);
        fd = -1;
    }
    if (fd < 0)
        path[0] = '\0'; /* no file: the hook still runs, TICKFLOW_LOG empty */
    free(output);
}

/*
 * The tap of an attached pipeline: after an execution of one of its works
 * succeeded ("ran") or a call failed for good ("failed" with final set),
 * run the work's hook (else the pipeline's) to its end. The deferred
 * writes are committed first, so the hook sees the call's end in the
 * database. A hook that cannot run, fails or outlives its timeout is
 * reported to the program as a "hook-failed" event; it never changes the
 * call or the loop's outcome.
 */
static void pipeline_tap(const tf_event *ev, void *user)
{
    tf_pipeline *p = user;
    int ok = !strcmp(ev->what, "ran");
    if (!ok && !(ev->final && !strcmp(ev->what, "failed")))
        return;
    const pl_def *d = p->def;
    long wi = find_work(d, ev->work, d->nworks);
    if (wi < 0)
        return;
    const pl_work *w = &d->works[wi];
    char *const *argv = ok ? (w->on_success ? w->on_success : d->on_success)
                           : (w->on_failure ? w->on_failure : d->on_failure);
    if (!argv)
        return;
    (void)tf_app_flush(p->app); /* a failure here is the loop's to report; the hook still runs */
    char log[4096];
    output_file(p->app, ev, log);
    size_t nenv = 0, n = 0;
    for (char *const *e = w->env; e && *e; e++)
        nenv++;
    char **env = calloc(nenv + 9, sizeof *env);
    char attempt[32];
    snprintf(attempt, sizeof attempt, "%d", ev->attempt);
    int oom = !env;
    for (size_t i = 0; !oom && i < nenv; i++)
        oom = !(env[n++] = strdup(w->env[i]));
    oom = oom || env_add(env, &n, "TICKFLOW_PIPELINE", d->name) ||
          env_add(env, &n, "TICKFLOW_WORK", ev->work) || env_add(env, &n, "TICKFLOW_KEY", ev->key) ||
          env_add(env, &n, "TICKFLOW_STATUS", ok ? "succeeded" : "failed") ||
          env_add(env, &n, "TICKFLOW_ERROR", ok ? "" : ev->error) ||
          env_add(env, &n, "TICKFLOW_LOG", log) ||
          env_add(env, &n, "TICKFLOW_ARGS", ev->args_json) ||
          env_add(env, &n, "TICKFLOW_ATTEMPT", attempt);
    char why[600];
    int rc = -1;
    double timeout = w->hook_timeout > 0 ? w->hook_timeout
                     : d->hook_timeout > 0 ? d->hook_timeout : TF_HOOK_TIMEOUT;
    if (oom)
        snprintf(why, sizeof why, "out of memory");
    else
        rc = tf_hook_run((const char *const *)argv, env, timeout, why, sizeof why);
    tf_strv_free(env);
    if (log[0])
        unlink(log);
    if (rc == 0)
        return;
    char msg[800];
    snprintf(msg, sizeof msg, "%s hook '%s': %s", ok ? "on_success" : "on_failure", argv[0], why);
    tf_event report = {
        .work = ev->work, .key = ev->key, .args_json = ev->args_json, .what = "hook-failed",
        .error = msg, .attempt = ev->attempt, .log_path = ev->log_path, .version = ev->version,
    };
    tf_app_report(p->app, &report);
}

/* ---- attaching and reloading -------------------------------------------------- */

/* The attached pipeline (other than self) that defines work `name`, or NULL. */
static const tf_pipeline *owner_of(tf_app *app, const tf_pipeline *self, const char *name, size_t *offset)
{
    for (size_t i = 0; i < app->nflows; i++) {
        if (app->flows[i].fn != pipeline_flow || app->flows[i].user == self)
            continue;
        const tf_pipeline *o = app->flows[i].user;
        long k = find_work(o->def, name, o->def->nworks);
        if (k >= 0) {
            *offset = o->def->works[k].name_offset;
            return o;
        }
    }
    return NULL;
}

/* "FILE:LINE:COL: " of a work name of the current file, for attach messages. */
static int position_msg(const tf_pipeline *p, size_t offset, char *out, size_t outlen)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    tf_error e;
    int line = 0, col = 0;
    if (read_all(p->path, &text, &len, &st, &e) == TF_OK) {
        tf_json_position(text, len, offset, &line, &col);
        free(text);
    }
    int n = snprintf(out, outlen, "%s:%d:%d", p->path, line, col);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Refuse names already registered by another pipeline or by the program. */
static int check_clashes(tf_pipeline *p, tf_app *app, const pl_def *d, const pl_def *old, tf_error *err)
{
    for (size_t i = 0; i < d->nworks; i++) {
        const char *name = d->works[i].name;
        if (old && find_work(old, name, old->nworks) >= 0)
            continue;
        if (!tf_work_find(app, name))
            continue;
        size_t ooff = 0;
        const tf_pipeline *o = owner_of(app, p, name, &ooff);
        char here[300], there[300];
        if (position_msg(p, d->works[i].name_offset, here, sizeof here) != 0)
            snprintf(here, sizeof here, "%s", p->path);
        if (o && position_msg(o, ooff, there, sizeof there) != 0)
            snprintf(there, sizeof there, "%s", o->path);
        int n = snprintf(err->msg, sizeof err->msg, "%s: work '%s' is also defined in %s", here, name,
                         o ? there : "the program");
        if (n < 0 || (size_t)n >= sizeof err->msg)
            memcpy(err->msg + sizeof err->msg - 4, "...", 4);
        tf_app_fail(app, TF_EINPUT, "%s", err->msg);
        return TF_EINPUT;
    }
    return TF_OK;
}

static tf_command command_of(const pl_work *w)
{
    tf_command cmd = {
        .argv = (const char *const *)w->argv, .env = (const char *const *)w->env, .cwd = w->cwd,
    };
    return cmd;
}

int tf_pipeline_attach(tf_pipeline *p, tf_app *app)
{
    if (p->app)
        return tf_app_fail(app, TF_ESTATE, "pipeline '%s' is already attached", p->path);
    tf_error err;
    int rc = check_clashes(p, app, p->def, NULL, &err);
    if (rc != TF_OK)
        return rc;
    for (size_t i = 0; i < p->def->nworks; i++) {
        pl_work *w = &p->def->works[i];
        tf_command cmd = command_of(w);
        rc = tf_work_new_command(app, w->name, &cmd, &w->opts, &w->work);
        if (rc != TF_OK)
            return rc;
    }
    rc = tf_flow_add(app, p->def->name, pipeline_flow, p);
    if (rc == TF_OK)
        rc = tf_app_add_tap(app, pipeline_tap, p);
    /* an on_success hook runs on "ran": have it run at the execution's end, before
       the next claim, not while a later call is claimed and its lease ages */
    int hooks = p->def->on_success != NULL;
    for (size_t i = 0; i < p->def->nworks; i++)
        hooks |= p->def->works[i].on_success != NULL;
    if (rc == TF_OK && hooks)
        tf_app_commit_successes(app);
    if (rc == TF_OK)
        p->app = app;
    return rc;
}

int tf_pipeline_reload(tf_pipeline *p, int *reloaded, tf_error *err)
{
    tf_error scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof *err);
    *reloaded = 0;
    struct stat st;
    if (stat(p->path, &st) != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot read '%s': %s", p->path, strerror(errno));
        return TF_EIO;
    }
    if (st.st_ino == p->st.st_ino && st.st_dev == p->st.st_dev && st.st_size == p->st.st_size &&
        st.st_mtim.tv_sec == p->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == p->st.st_mtim.tv_nsec)
        return TF_OK;
    pl_def *nd = NULL;
    int rc = load_def(p->path, p->dir, &nd, &p->st, err);
    /* p->st now names the version read: a refused file is reported once, not every tick. */
    if (rc != TF_OK)
        return rc;
    if (p->app) {
        rc = check_clashes(p, p->app, nd, p->def, err);
        for (size_t i = 0; rc == TF_OK && i < nd->nworks; i++) {
            pl_work *w = &nd->works[i];
            tf_command cmd = command_of(w);
            tf_work *existing = find_work(p->def, w->name, p->def->nworks) >= 0
                                ? tf_work_find(p->app, w->name) : NULL;
            rc = existing ? tf_work_set_command(existing, &cmd, &w->opts)
                          : tf_work_new_command(p->app, w->name, &cmd, &w->opts, &existing);
            w->work = existing;
            if (rc != TF_OK)
                snprintf(err->msg, sizeof err->msg, "%s: %s", p->path, tf_errmsg(p->app));
        }
        if (rc != TF_OK) {
            def_free(nd);
            return rc;
        }
    }
    def_free(p->def);
    p->def = nd;
    *reloaded = 1;
    return TF_OK;
}
