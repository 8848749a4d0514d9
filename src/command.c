/*
 * command.c - argv of command works: copying string vectors and filling
 * "{name}" / "{name.field}" placeholders from the call's arguments.
 *
 * A placeholder is '{' + a name of [A-Za-z0-9_] (then optional ".field"
 * parts) + '}'; anything else (such as awk's "{print $1}") is literal text.
 * A placeholder is replaced inside its own argv element only, so a value
 * can never add or split argv elements: no shell is involved. Strings are
 * inserted as they are, other values as canonical JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "json.h"

/* A NULL-terminated string vector as a JSON array in o under name (NULL: null). 0 or -1. */
static int add_strv(cJSON *o, const char *name, const char *const *v)
{
    if (!v)
        return cJSON_AddNullToObject(o, name) ? 0 : -1;
    cJSON *a = cJSON_AddArrayToObject(o, name);
    if (!a)
        return -1;
    for (; *v; v++) {
        cJSON *s = cJSON_CreateString(*v);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            return -1;
        }
    }
    return 0;
}

int tf_command_digest(const tf_command *cmd, char hex[65])
{
    hex[0] = '\0';
    if (!cmd || !cmd->argv)
        return TF_EINPUT;
    /* the folder as an absolute path: "p.json" and "/srv/p/p.json" name the same command */
    char *real = cmd->cwd ? realpath(cmd->cwd, NULL) : NULL;
    const char *cwd = real ? real : cmd->cwd;
    cJSON *o = cJSON_CreateObject();
    int bad = !o || add_strv(o, "argv", cmd->argv) != 0 || add_strv(o, "env", cmd->env) != 0 ||
              !(cwd ? cJSON_AddStringToObject(o, "cwd", cwd) : cJSON_AddNullToObject(o, "cwd"));
    free(real);
    tf_error err;
    /* strings that are not UTF-8 cannot be canonical: hash their bytes' JSON anyway */
    int rc = bad ? TF_ENOMEM : tf_hash_tree(o, hex, &err);
    if (rc == TF_EINPUT) {
        char *text = cJSON_PrintUnformatted(o);
        rc = text ? tf_sha256_hex(text, strlen(text), hex) : TF_ENOMEM;
        free(text);
    }
    cJSON_Delete(o);
    return rc;
}

void tf_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

char **tf_strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(copy[i] = strdup(v[i]))) {
            tf_strv_free(copy);
            return NULL;
        }
    }
    return copy;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of a placeholder starting at s ("{a.b}"), or 0 if s is literal. */
size_t tf_command_placeholder_len(const char *s)
{
    if (s[0] != '{' || !is_name_char(s[1]))
        return 0;
    size_t i = 1;
    for (;;) {
        while (is_name_char(s[i]))
            i++;
        if (s[i] == '}')
            return i + 1;
        if (s[i] != '.' || !is_name_char(s[i + 1]))
            return 0;
        i++;
    }
}

/* Look a dotted path (len bytes, without braces) up in args. */
static const cJSON *lookup(const cJSON *args, const char *path, size_t len)
{
    const cJSON *node = args;
    while (len && node) {
        const char *dot = memchr(path, '.', len);
        size_t part = dot ? (size_t)(dot - path) : len;
        char name[256];
        if (part >= sizeof name || !cJSON_IsObject(node))
            return NULL;
        memcpy(name, path, part);
        name[part] = '\0';
        node = cJSON_GetObjectItemCaseSensitive(node, name);
        path += part + (dot ? 1 : 0);
        len -= part + (dot ? 1 : 0);
    }
    return node;
}

static int append_value(const cJSON *v, tf_buf *out)
{
    if (cJSON_IsString(v))
        return tf_buf_puts(out, v->valuestring) == 0 ? TF_OK : TF_ENOMEM;
    return tf_jcs_tree(v, out, NULL);
}

/* Fill one element; TF_EINPUT names the missing placeholder in err. */
static int fill_one(const char *tmpl, const cJSON *args, tf_buf *out, char *err, size_t errlen)
{
    tf_buf_reset(out);
    for (const char *p = tmpl; *p;) {
        size_t n = tf_command_placeholder_len(p);
        if (!n) {
            const char *next = strchr(p + 1, '{');
            size_t lit = next ? (size_t)(next - p) : strlen(p);
            if (tf_buf_append(out, p, lit) != 0)
                return TF_ENOMEM;
            p += lit;
            continue;
        }
        const cJSON *v = lookup(args, p + 1, n - 2);
        if (!v) {
            snprintf(err, errlen, "command placeholder %.*s: no such argument", (int)n, p);
            return TF_EINPUT;
        }
        int rc = append_value(v, out);
        if (rc != TF_OK)
            return rc;
        p += n;
    }
    return TF_OK;
}

/*
 * Build the argv of one execution of a command work. On TF_OK *argv is a
 * NULL-terminated vector the caller frees with tf_strv_free().
 */
int tf_command_argv(const tf_work *w, const cJSON *args, char ***argv, char *err, size_t errlen)
{
    size_t n = 0;
    while (w->argv[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    tf_buf b = TF_BUF_INIT;
    int rc = v ? TF_OK : TF_ENOMEM;
    for (size_t i = 0; i < n && rc == TF_OK; i++) {
        rc = fill_one(w->argv[i], args, &b, err, errlen);
        if (rc == TF_OK && !(v[i] = strdup(b.data ? b.data : "")))
            rc = TF_ENOMEM;
    }
    tf_buf_free(&b);
    if (rc != TF_OK) {
        if (rc == TF_ENOMEM)
            snprintf(err, errlen, "out of memory");
        tf_strv_free(v);
        return rc;
    }
    *argv = v;
    return TF_OK;
}
