/*
 * select.c - which calls a command means: call statuses, keys (one
 * operand, or --key narrowed to exactly one call, never a guess; a bare
 * prefix or the printed form WORK[@VERSION]/PREFIX of tf_call_ref, with
 * --work and --version) and the selector text that clear records in its
 * audit row.
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

/* 1 when s is a work name as works are registered (app.c): 1-128 of A-Z a-z 0-9 _ - . */
static int valid_work(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 128 || s[0] == '.')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") == n;
}

int tf_cli_parse_key(const char *cmd, const char *what, const char *text, const char *work,
                     const char *version, void (*usage)(FILE *), tf_cli_key *k)
{
    size_t n = strlen(text);
    if (n >= sizeof k->text)
        return tf_cli_misuse(usage, "%s: %s: '%.40s...' is too long", cmd, what, text);
    memcpy(k->text, text, n + 1);
    k->work = work;
    k->version = version;
    char *slash = strrchr(k->text, '/');
    k->prefix = slash ? slash + 1 : k->text;
    if (!tf_cli_valid_prefix(k->prefix))
        return tf_cli_misuse(usage, "%s: %s '%s': the key prefix '%s' must be 4 to 64"
                             " hexadecimal digits", cmd, what, text, k->prefix);
    if (!slash)
        return 0;
    /* WORK/PREFIX (no version) or WORK@VERSION/PREFIX: the work ends at the first '@' */
    *slash = '\0';
    char *at = strchr(k->text, '@');
    const char *fw = k->text, *fv = at ? at + 1 : "";
    if (at)
        *at = '\0';
    if (!valid_work(fw))
        return tf_cli_misuse(usage, "%s: %s '%s': '%s' is not a work name (the form is"
                             " WORK/KEY or WORK@VERSION/KEY)", cmd, what, text, fw);
    if (work && strcmp(work, fw))
        return tf_cli_misuse(usage, "%s: --work %s contradicts %s '%s' (work %s)", cmd, work,
                             what, text, fw);
    if (version && strcmp(version, fv))
        return tf_cli_misuse(usage, "%s: --version '%s' contradicts %s '%s' (%s%s%s)", cmd,
                             version, what, text, *fv ? "version '" : "no version",
                             fv, *fv ? "'" : "");
    k->work = fw;
    k->version = fv;
    return 0;
}

int tf_cli_key_operand(const char *cmd, int argc, char **argv, const char *work,
                       const char *version, void (*usage)(FILE *), tf_cli_key *k)
{
    if (argc - optind != 1)
        return tf_cli_misuse(usage, "%s: %s", cmd,
                             optind < argc ? "too many arguments" : "no key given");
    return tf_cli_parse_key(cmd, "key", argv[optind], work, version, usage, k);
}

const char *tf_cli_ref(const tf_call_row *r, char out[TF_REF_MAX])
{
    tf_call_ref(r->work ? r->work : "", r->version, r->args_sha256 ? r->args_sha256 : "", out,
                TF_REF_MAX); /* cut with "..." past TF_REF_MAX */
    return out;
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

int tf_cli_find_call(const char *cmd, tf_app *app, const tf_cli_key *k, tf_cli_rows *rs)
{
    int rc = tf_calls_find_in(app, k->work, k->version, k->prefix, tf_cli_rows_add, rs);
    if (rc == TF_OK && (rs->oom || rs->n != 1))
        rc = rs->oom ? TF_ENOMEM : TF_ENOTFOUND;
    if (rc == TF_OK)
        return 0;
    tf_cli_err("%s: %s", cmd, rs->oom ? "out of memory" : tf_errmsg(app));
    if (rc == TF_ENOTFOUND || rc == TF_EAMBIGUOUS)
        return TF_EXIT_FAILED;
    return tf_cli_exit_for(rc);
}

int tf_cli_find_with_history(const char *cmd, tf_app *app, const tf_cli_key *k,
                             tf_cli_rows *rs, tf_cli_hist *h)
{
    int ex = tf_cli_find_call(cmd, app, k, rs);
    if (ex)
        return ex;
    return tf_cli_listed(cmd, app, tf_calls_history(app, rs->v[0].id, tf_cli_hist_add, h),
                         h->oom);
}

int tf_cli_narrow_to_key(const char *cmd, tf_app *app, const tf_cli_key *k, tf_cli_rows *found,
                         tf_filter *f)
{
    int ex = tf_cli_find_call(cmd, app, k, found);
    if (!ex) {
        /* the call is (work, version, key): all three, or another work's call of the same
           arguments would go with it */
        f->key_prefix = found->v[0].args_sha256;
        f->work = found->v[0].work;
        f->version = found->v[0].version ? found->v[0].version : "";
    }
    return ex;
}
