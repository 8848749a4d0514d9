/*
 * test_pipeline.c - unit tests of template.c and pipeline.c: template
 * parsing and evaluation, pipeline validation (every malformed fixture with
 * its FILE:LINE:COL), and evaluation on a real database in a temporary
 * folder with real child processes (dependency order, not_before, reload,
 * name clashes between files).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tickflow.h"
#include "template.h"

/* ---- helpers ------------------------------------------------------------- */

static char tmpdir[256];

static int make_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tf-test-pipeline-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static int remove_tmp(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Evaluate template text s with env; returns canonical JSON of the value (static) or the error. */
static const char *eval_text(const char *s, const tf_tenv *env, int *rc_out)
{
    static char out[1024];
    tf_template t;
    tf_error err;
    int rc = tf_template_parse(s, strlen(s), &t, &err);
    if (rc != TF_OK) {
        *rc_out = rc;
        snprintf(out, sizeof out, "%s", err.msg);
        return out;
    }
    cJSON *v = NULL;
    rc = tf_template_eval(&t, env, &v, out, sizeof out);
    tf_template_free(&t);
    *rc_out = rc;
    if (rc == TF_OK) {
        char *c = NULL;
        size_t n = 0;
        assert_int_equal(tf_canon_tree(v, &c, &n, NULL), TF_OK);
        snprintf(out, sizeof out, "%s", c);
        free(c);
        cJSON_Delete(v);
    }
    return out;
}

/* 2026-11-24T07:30:00Z */
#define T0 1795505400.0

static const cJSON *fake_results(void *user, const char *work)
{
    const cJSON *r = user;
    return strcmp(work, "download") ? NULL : r;
}

/* ---- templates -------------------------------------------------------------- */

static void template__parses_every_form(void **state)
{
    (void)state;
    const char *s = "a{{today}}b{{ now:%H }}{{env:HOME}}{{glob:in/*.csv}}{{item.x.0}}{{dl.v2.result.path}}{{{{";
    tf_template t;
    tf_error err;
    assert_int_equal(tf_template_parse(s, strlen(s), &t, &err), TF_OK);
    assert_int_equal(t.nparts, 9);
    assert_int_equal(t.parts[0].kind, TF_T_TEXT);
    assert_int_equal(t.parts[1].kind, TF_T_TODAY);
    assert_int_equal(t.parts[1].offset, 1);
    assert_int_equal(t.parts[3].kind, TF_T_NOW);
    assert_string_equal(t.parts[3].text, "%H");
    assert_int_equal(t.parts[4].kind, TF_T_ENV);
    assert_int_equal(t.parts[5].kind, TF_T_GLOB);
    assert_string_equal(t.parts[5].text, "in/*.csv");
    assert_int_equal(t.parts[6].kind, TF_T_ITEM);
    assert_string_equal(t.parts[6].path, "x.0");
    assert_int_equal(t.parts[7].kind, TF_T_RESULT);
    assert_string_equal(t.parts[7].text, "dl.v2");
    assert_string_equal(t.parts[7].path, "path");
    assert_int_equal(t.parts[8].kind, TF_T_TEXT);
    assert_string_equal(t.parts[8].text, "{{");
    assert_null(tf_template_single(&t));
    tf_template_free(&t);
}

static void template__refuses_malformed_with_offset(void **state)
{
    (void)state;
    static const struct { const char *s; size_t off; const char *msg; } cases[] = {
        {"x-{{tody}}", 2, "unknown template {{tody}}"},
        {"ab{{today", 2, "unclosed template"},
        {"{{env:1X}}", 0, "bad variable name"},
        {"{{now:}}", 0, "empty strftime format"},
        {"{{glob:}}", 0, "empty pattern"},
        {"{{item..x}}", 0, "bad field path"},
        {"{{.result}}", 0, "unknown template"},
        {"{{}}", 0, "unknown template"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tf_template t;
        tf_error err;
        assert_int_equal(tf_template_parse(cases[i].s, strlen(cases[i].s), &t, &err), TF_EINPUT);
        assert_int_equal(err.offset, cases[i].off);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: got '%s'", cases[i].s, err.msg);
    }
}

static void template__single_keeps_json_type(void **state)
{
    (void)state;
    cJSON *res = cJSON_Parse("{\"rows\":3,\"path\":\"d/1.csv\",\"tags\":[\"a\",\"b\"]}");
    tf_tenv env = {.now = T0, .result = fake_results, .user = res};
    int rc;
    assert_string_equal(eval_text("{{download.result}}", &env, &rc), "{\"path\":\"d/1.csv\",\"rows\":3,\"tags\":[\"a\",\"b\"]}");
    assert_string_equal(eval_text("{{ download.result.rows }}", &env, &rc), "3");
    assert_string_equal(eval_text("{{download.result.tags.1}}", &env, &rc), "\"b\"");
    assert_string_equal(eval_text("n={{download.result.rows}} t={{download.result.tags}} p={{download.result.path}}", &env, &rc),
                        "\"n=3 t=[\\\"a\\\",\\\"b\\\"] p=d/1.csv\"");
    assert_string_equal(eval_text("{{{{today}}", &env, &rc), "\"{{today}}\"");
    eval_text("{{download.result.nope}}", &env, &rc);
    assert_int_equal(rc, TF_EINPUT);
    const char *why = eval_text("{{train.result}}", &env, &rc);
    assert_int_equal(rc, TF_ENOTFOUND);
    assert_string_equal(why, "needs train.result");
    cJSON_Delete(res);
}

static void template__clock_env_and_item(void **state)
{
    (void)state;
    cJSON *item = cJSON_Parse("{\"id\":7}");
    tf_tenv env = {.now = T0, .item = item};
    int rc;
    assert_string_equal(eval_text("{{today}}", &env, &rc), "\"2026-11-24\"");
    assert_string_equal(eval_text("{{now:%Y%m%dT%H%M}}", &env, &rc), "\"20261124T0730\"");
    assert_string_equal(eval_text("{{item.id}}", &env, &rc), "7");
    assert_string_equal(eval_text("id-{{item.id}}", &env, &rc), "\"id-7\"");
    setenv("TF_TEST_VAR", "v a l", 1);
    assert_string_equal(eval_text("<{{env:TF_TEST_VAR}}>", &env, &rc), "\"<v a l>\"");
    unsetenv("TF_TEST_UNSET_VAR");
    const char *why = eval_text("{{env:TF_TEST_UNSET_VAR}}", &env, &rc);
    assert_int_equal(rc, TF_EINPUT);
    assert_non_null(strstr(why, "TF_TEST_UNSET_VAR is not set"));
    env.item = NULL;
    eval_text("{{item}}", &env, &rc);
    assert_int_equal(rc, TF_EINPUT);
    cJSON_Delete(item);
}

static void template__glob_is_sorted_and_relative(void **state)
{
    (void)state;
    mkdir(tmp_path("in"), 0700);
    write_file(tmp_path("in/b.csv"), "b\n");
    write_file(tmp_path("in/a.csv"), "a\n");
    write_file(tmp_path("in/c.txt"), "c\n");
    tf_tenv env = {.now = T0, .base_dir = tmpdir};
    int rc;
    assert_string_equal(eval_text("{{glob:in/*.csv}}", &env, &rc), "[\"in/a.csv\",\"in/b.csv\"]");
    assert_string_equal(eval_text("{{glob:none/*.csv}}", &env, &rc), "[]");
}

static void template__expand_walks_nested_values(void **state)
{
    (void)state;
    cJSON *args = cJSON_Parse("{\"day\":\"{{today}}\",\"l\":[1,{\"x\":\"{{now:%H}}\"}],\"k\":\"{{{{\"}");
    tf_tenv env = {.now = T0};
    cJSON *out = NULL;
    char err[256];
    assert_int_equal(tf_template_expand(args, &env, &out, err, sizeof err), TF_OK);
    char *c = NULL;
    size_t n;
    assert_int_equal(tf_canon_tree(out, &c, &n, NULL), TF_OK);
    assert_string_equal(c, "{\"day\":\"2026-11-24\",\"k\":\"{{\",\"l\":[1,{\"x\":\"07\"}]}");
    free(c);
    cJSON_Delete(out);
    cJSON_Delete(args);
}

/* ---- loading ------------------------------------------------------------------- */

static const char *root_dir(void)
{
    const char *r = getenv("TF_ROOT");
    return r && *r ? r : ".";
}

static void pipeline__loads_good_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/pipelines/good/daily.json", root_dir());
    tf_pipeline *p = NULL;
    tf_error err;
    int rc = tf_pipeline_load(path, &p, &err);
    if (rc != TF_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(tf_pipeline_name(p), "daily");
    char db[600];
    snprintf(db, sizeof db, "%s/tests/fixtures/pipelines/good/state/daily.db", root_dir());
    assert_string_equal(tf_pipeline_db(p), db);
    assert_true(tf_pipeline_tick(p) == 30.0);
    tf_pipeline_free(p);
    tf_pipeline_free(NULL);
}

/* Every tests/fixtures/pipelines/bad/X.json refuses with the line:col and reason of EXPECTED. */
static void pipeline__malformed_fixtures_say_where(void **state)
{
    (void)state;
    char path[600], line[600];
    snprintf(path, sizeof path, "%s/tests/fixtures/pipelines/bad/EXPECTED", root_dir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, " "), *pos = strtok(NULL, " "), *reason = strtok(NULL, "");
        assert_non_null(reason);
        snprintf(path, sizeof path, "%s/tests/fixtures/pipelines/bad/%s", root_dir(), file);
        tf_pipeline *p = NULL;
        tf_error err;
        assert_int_equal(tf_pipeline_load(path, &p, &err), TF_EINPUT);
        assert_null(p);
        char want[700];
        snprintf(want, sizeof want, "%s:%s: %s", path, pos, reason);
        if (strncmp(err.msg, want, strlen(want)))
            fail_msg("%s\n  want %s\n  got  %s", file, want, err.msg);
        int l = 0, c = 0;
        assert_int_equal(sscanf(pos, "%d:%d", &l, &c), 2);
        assert_int_equal(err.line, l);
        assert_int_equal(err.column, c);
        cases++;
    }
    fclose(f);
    assert_true(cases >= 20);
}

static void pipeline__missing_file_is_io(void **state)
{
    (void)state;
    tf_pipeline *p = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(tmp_path("absent.json"), &p, &err), TF_EIO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

/* ---- evaluation ------------------------------------------------------------------ */

typedef struct seen {
    char lines[64][300];    /* "work what args-or-error" */
    int n;                  /* count */
} seen;

static void record(const tf_event *ev, void *user)
{
    seen *s = user;
    if (s->n < 64)
        snprintf(s->lines[s->n++], sizeof s->lines[0], "%s %s %s", ev->work, ev->what,
                 ev->error ? ev->error : ev->args_json ? ev->args_json : "");
}

static int has_line(const seen *s, const char *text)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->lines[i], text))
            return i + 1;
    return 0;
}

static void dump(const seen *s)
{
    for (int i = 0; i < s->n; i++)
        fprintf(stderr, "  event: %s\n", s->lines[i]);
}

static const char order_text[] =
    "{\"name\": \"t\", \"works\": [\n"
    " {\"name\": \"train\", \"command\": [\"sh\", \"-c\", \"echo '{\\\"model\\\":1}'\"],\n"
    "  \"args\": {\"rows\": \"{{download.result.rows}}\", \"label\": \"n={{download.result.rows}} {{today}}\"}},\n"
    " {\"name\": \"download\", \"command\": [\"sh\", \"-c\", \"echo '{\\\"rows\\\":3}'\"],\n"
    "  \"args\": {\"day\": \"{{today}}\"}, \"not_before\": \"06:00\"},\n"
    " {\"name\": \"each\", \"command\": [\"sh\", \"-c\", \"echo {x}\"], \"args\": {\"x\": \"{{item}}\"},\n"
    "  \"foreach\": [1, 2]}\n"
    "]}\n";

static void pipeline__dependencies_run_first_in_one_tick(void **state)
{
    (void)state;
    write_file(tmp_path("order.json"), order_text);
    tf_pipeline *p = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(tmp_path("order.json"), &p, &err), TF_OK);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(tmp_path("order.db"), &app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p, app), TF_OK);
    tf_pipeline_set_now(p, T0);
    seen s = {.n = 0};
    tf_app_on_event(app, record, &s);
    tf_loop_opts o;
    tf_loop_opts_init(&o);
    o.until_idle = 1;
    o.interval = 0.05;
    uint64_t failed = 9;
    assert_int_equal(tf_loop_run(app, &o, &failed), TF_OK);
    assert_int_equal(failed, 0);
    int dl = has_line(&s, "download ran {\"day\":\"2026-11-24\"}");
    int tr = has_line(&s, "train ran {\"label\":\"n=3 2026-11-24\",\"rows\":3}");
    if (!dl || !tr || dl > tr || !has_line(&s, "train started {\"label\":\"n=3 2026-11-24\",\"rows\":3}") ||
        !has_line(&s, "each started {\"x\":1}") || !has_line(&s, "each started {\"x\":2}")) {
        dump(&s);
        fail();
    }
    /* The same moment again: everything is cached. */
    s.n = 0;
    assert_int_equal(tf_loop_run(app, &o, &failed), TF_OK);
    for (int i = 0; i < s.n; i++)
        if (!strstr(s.lines[i], " cached ")) {
            dump(&s);
            fail();
        }
    assert_int_equal(s.n, 4);
    tf_app_close(app);
    tf_pipeline_free(p);
}

static void pipeline__not_before_waits_without_keeping_once_busy(void **state)
{
    (void)state;
    write_file(tmp_path("early.json"), order_text);
    tf_pipeline *p = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(tmp_path("early.json"), &p, &err), TF_OK);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(tmp_path("early.db"), &app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p, app), TF_OK);
    tf_pipeline_set_now(p, T0 - 2 * 3600); /* 05:30 */
    seen s = {.n = 0};
    tf_app_on_event(app, record, &s);
    tf_loop_opts o;
    tf_loop_opts_init(&o);
    o.until_idle = 1;
    o.interval = 0.05;
    o.max_ticks = 20;
    assert_int_equal(tf_loop_run(app, &o, NULL), TF_OK);
    /* each ran in tick 1, tick 2 found everything cached or waiting: two ticks, not twenty. */
    if (!has_line(&s, "download waiting not before 06:00") ||
        !has_line(&s, "train waiting needs download.result") || has_line(&s, "download ran {\"day\":\"2026-11-24\"}") ||
        s.n != 2 + 4 + 2 + 2) {
        dump(&s);
        fail();
    }
    tf_app_close(app);
    tf_pipeline_free(p);
}

static void pipeline__unset_env_fails_the_call(void **state)
{
    (void)state;
    unsetenv("TF_TEST_NOT_SET");
    write_file(tmp_path("env.json"),
               "{\"name\":\"e\",\"works\":[{\"name\":\"w\",\"command\":[\"true\"],"
               "\"args\":{\"k\":\"{{env:TF_TEST_NOT_SET}}\"}}]}");
    tf_pipeline *p = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(tmp_path("env.json"), &p, &err), TF_OK);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(tmp_path("env.db"), &app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p, app), TF_OK);
    seen s = {.n = 0};
    tf_app_on_event(app, record, &s);
    tf_loop_opts o;
    tf_loop_opts_init(&o);
    o.until_idle = 1;
    uint64_t failed = 0;
    assert_int_equal(tf_loop_run(app, &o, &failed), TF_OK);
    assert_int_equal(failed, 1);
    if (!has_line(&s, "w failed {{env:TF_TEST_NOT_SET}}: environment variable TF_TEST_NOT_SET is not set")) {
        dump(&s);
        fail();
    }
    tf_app_close(app);
    tf_pipeline_free(p);
}

static void pipeline__reload_redefines_or_keeps(void **state)
{
    (void)state;
    const char *path = tmp_path("reload.json");
    write_file(path, "{\"name\":\"r\",\"works\":[{\"name\":\"a\",\"command\":[\"true\"]}]}");
    tf_pipeline *p = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(path, &p, &err), TF_OK);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(tmp_path("reload.db"), &app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p, app), TF_OK);
    int reloaded = 7;
    assert_int_equal(tf_pipeline_reload(p, &reloaded, &err), TF_OK);
    assert_int_equal(reloaded, 0);
    write_file(path, "{\"name\":\"r\",\"tick\":5,\"works\":[{\"name\":\"a\",\"command\":[\"false\"]},"
                     "{\"name\":\"b\",\"command\":[\"true\"]}]}");
    assert_int_equal(tf_pipeline_reload(p, &reloaded, &err), TF_OK);
    assert_int_equal(reloaded, 1);
    assert_non_null(tf_work_find(app, "b"));
    assert_true(tf_pipeline_tick(p) == 5.0);
    write_file(path, "{\"name\":\"r\",\"works\":[{\"name\":\"a\",\"command\":[\"true\"],\"oops\":1}]}");
    assert_int_equal(tf_pipeline_reload(p, &reloaded, &err), TF_EINPUT);
    assert_int_equal(reloaded, 0);
    assert_non_null(strstr(err.msg, "reload.json:1:53: unknown key 'oops'"));
    assert_true(tf_pipeline_tick(p) == 5.0); /* the running definition stays */
    /* The refused file is reported once, not at every tick. */
    assert_int_equal(tf_pipeline_reload(p, &reloaded, &err), TF_OK);
    assert_int_equal(reloaded, 0);
    tf_app_close(app);
    tf_pipeline_free(p);
}

static void pipeline__same_work_in_two_files_is_refused(void **state)
{
    (void)state;
    write_file(tmp_path("one.json"), "{\"name\":\"one\",\"works\":[{\"name\":\"a\",\"command\":[\"true\"]}]}");
    write_file(tmp_path("two.json"), "{\"name\":\"two\",\"works\":[\n{\"name\":\"a\",\"command\":[\"true\"]}]}");
    tf_pipeline *p1 = NULL, *p2 = NULL;
    tf_error err;
    assert_int_equal(tf_pipeline_load(tmp_path("one.json"), &p1, &err), TF_OK);
    assert_int_equal(tf_pipeline_load(tmp_path("two.json"), &p2, &err), TF_OK);
    tf_app *app = NULL;
    assert_int_equal(tf_app_open(tmp_path("two.db"), &app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p1, app), TF_OK);
    assert_int_equal(tf_pipeline_attach(p2, app), TF_EINPUT);
    char want[600];
    snprintf(want, sizeof want, "%s:2:9: work 'a' is also defined in %s:1:32", tmp_path("two.json"),
             tmp_path("one.json"));
    assert_string_equal(tf_errmsg(app), want);
    tf_app_close(app);
    tf_pipeline_free(p1);
    tf_pipeline_free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(template__parses_every_form),
        cmocka_unit_test(template__refuses_malformed_with_offset),
        cmocka_unit_test(template__single_keeps_json_type),
        cmocka_unit_test(template__clock_env_and_item),
        cmocka_unit_test(template__glob_is_sorted_and_relative),
        cmocka_unit_test(template__expand_walks_nested_values),
        cmocka_unit_test(pipeline__loads_good_file),
        cmocka_unit_test(pipeline__malformed_fixtures_say_where),
        cmocka_unit_test(pipeline__missing_file_is_io),
        cmocka_unit_test(pipeline__dependencies_run_first_in_one_tick),
        cmocka_unit_test(pipeline__not_before_waits_without_keeping_once_busy),
        cmocka_unit_test(pipeline__unset_env_fails_the_call),
        cmocka_unit_test(pipeline__reload_redefines_or_keeps),
        cmocka_unit_test(pipeline__same_work_in_two_files_is_refused),
    };
    return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
