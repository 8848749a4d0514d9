/*
 * select.c - which calls a command means: call statuses, key prefixes
 * (one operand, or --key narrowed to exactly one call, never a guess) and
 * the selector text that clear records in its audit row.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tickflow.h"
#include "cli.h"

static const char *const statuses[] = {"running", "succeeded", "failed", "interrupted"};

int tf_cli_valid_status(const char *s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (!strcmp(s, statuses[i]))
            return 1;
    return 0;
}

int tf_cli_valid_prefix(const char *p)
{
    size_t n = strlen(p);
    if (n < 4 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
              (p[i] >= 'A' && p[i] <= 'F')))
            return 0;
    return 1;
}

int tf_cli_prefix_operand(const char *cmd, int argc, char **argv, void (*usage)(FILE *),
                          const char **prefix)
{
    if (argc - optind != 1)
        return tf_cli_misuse(usage, "%s: %s", cmd,
                             optind < argc ? "too many arguments" : "no key prefix given");
    *prefix = argv[optind];
    if (!tf_cli_valid_prefix(*prefix))
        return tf_cli_misuse(usage, "%s: key prefix '%s' must be 4 to 64 hexadecimal digits",
                             cmd, *prefix);
    return 0;
}

void tf_cli_sel_add(tf_cli_sel *s, const char *opt, const char *val)
{
    int quote = val && (!*val || strpbrk(val, " \t\n'\"\\") != NULL);
    int n = snprintf(s->text + s->len, sizeof s->text - s->len, "%s%s%s%s%s%s", s->len ? " " : "",
                     opt, val ? " " : "", quote ? "'" : "", val ? val : "", quote ? "'" : "");
    if (n < 0 || (size_t)n >= sizeof s->text - s->len) {
        s->cut = 1;
        s->len = strlen(s->text);
        if (s->len >= 4)
            memcpy(s->text + s->len - 3, "...", 4);
    } else {
        s->len += (size_t)n;
    }
}

int tf_cli_find_call(const char *cmd, tf_app *app, const char *prefix, tf_cli_rows *rs)
{
    int rc = tf_calls_find(app, prefix, tf_cli_rows_add, rs);
    if (rc == TF_OK && (rs->oom || rs->n != 1))
        rc = rs->oom ? TF_ENOMEM : TF_ENOTFOUND;
    if (rc == TF_OK)
        return 0;
    tf_cli_err("%s: %s", cmd, rs->oom ? "out of memory" : tf_errmsg(app));
    if (rc == TF_ENOTFOUND || rc == TF_EAMBIGUOUS)
        return TF_EXIT_FAILED;
    return tf_cli_exit_for(rc);
}

int tf_cli_find_with_history(const char *cmd, tf_app *app, const char *prefix,
                             tf_cli_rows *rs, tf_cli_hist *h)
{
    int ex = tf_cli_find_call(cmd, app, prefix, rs);
    if (ex)
        return ex;
    return tf_cli_listed(cmd, app, tf_calls_history(app, rs->v[0].id, tf_cli_hist_add, h),
                         h->oom);
}

int tf_cli_narrow_to_key(const char *cmd, tf_app *app, const char *prefix, tf_cli_rows *found,
                         tf_filter *f)
{
    int ex = tf_cli_find_call(cmd, app, prefix, found);
    if (!ex)
        f->key_prefix = found->v[0].args_sha256;
    return ex;
}
