/*
 * test_config.c - ksd's configuration (sensor/config.c) through
 * ksd_config_parse: every setting of the configuration file (the long option
 * names, as docs/ksd.8 lists them) reaches its field, flags take yes/no,
 * numbers outside their range and unknown or forbidden settings are refused
 * as "FILE:LINE: reason" with exit status 2, the command line's strings win
 * over the file's, and the defaults hold when nothing is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/redis_helpers.h" /* rh_mktemp, rh_rmtree */
#include "sensor/config.h"

enum kind { K_STR, K_INT, K_LONG, K_INPUT };

struct key_case {
    const char *key, *val;
    enum kind kind;
    size_t off; /* field in struct ksd_config */
    long want;  /* K_INT, K_LONG */
};

#define OFF(f) offsetof(struct ksd_config, f)
#define S(k, v, f)                                                                                 \
    {                                                                                              \
        k, v, K_STR, OFF(f), 0                                                                     \
    }
#define I(k, v, f, w)                                                                              \
    {                                                                                              \
        k, v, K_INT, OFF(f), w                                                                     \
    }
#define L(k, v, f, w)                                                                              \
    {                                                                                              \
        k, v, K_LONG, OFF(f), w                                                                    \
    }

/* Every setting a configuration file may hold. */
static const struct key_case keys[] = {
    {"read", "a.pcap", K_INPUT, 0, 0},
    S("interface", "eth1", iface),
    S("filter", "tcp port 443", filter),
    S("signatures", "x.rules", sigfile),
    S("json", "ev.json", json),
    S("facts", "-", facts),
    S("redis", "127.0.0.1:6390", redis),
    S("redis-prefix", "k2:", redis_prefix),
    S("redis-auth-file", "/etc/ksd/redis.pass", redis_auth_file),
    L("redis-maxlen", "5000", stream_maxlen, 5000),
    I("redis-connect-timeout", "250", redis_connect_timeout_ms, 250),
    I("redis-timeout", "500", redis_timeout_ms, 500),
    L("redis-queue", "1000", redis_queue, 1000),
    L("spool-max", "8", spool_max_mb, 8),
    S("spool", "/var/lib/ksd/spool", spool),
    S("sensor-id", "berlin-1", sensor_id),
    I("stats", "yes", stats, 1),
    I("threads", "4", threads, 4),
    I("no-ndpi", "true", ndpi, 0),
    I("ndpi-full", "1", ndpi_full, 1),
    I("dedup-window", "0", dedup_window_s, 0),
    L("max-flows", "2000", max_flows, 2000),
    I("snaplen", "1500", snaplen, 1500),
    I("buffer-mb", "64", buffer_mb, 64),
    S("known-hosts", "known.txt", known_hosts),
    S("sites", "sites.txt", sites),
    I("progress", "yes", progress, 1),
    I("no-progress", "yes", progress, 0),
    S("user", "nobody", user),
    I("syslog", "yes", use_syslog, 1),
    I("hosts", "yes", hosts, 1),
    S("hosts-csv", "hosts.csv", hosts_csv),
    S("hosts-json", "-", hosts_json),
    I("name-age", "3600", name_age_s, 3600),
    L("reassembly-mb", "128", reassembly_mb, 128),
};

struct tdir {
    char dir[64];
    char conf[128];
    char err[128];
    char text[1024];       /* what ksd_config_parse printed to stderr */
    struct ksd_config cfg; /* the last parse, freed by the next and by teardown */
};

static int setup(void **state)
{
    struct tdir *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    if (rh_mktemp(t->dir, sizeof(t->dir)) != 0) {
        free(t);
        return -1;
    }
    snprintf(t->conf, sizeof(t->conf), "%s/ksd.conf", t->dir);
    snprintf(t->err, sizeof(t->err), "%s/err", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tdir *t = *state;
    ksd_config_free(&t->cfg);
    rh_rmtree(t->dir);
    free(t);
    return 0;
}

static void write_conf(struct tdir *t, const char *text)
{
    FILE *f = fopen(t->conf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ksd_config_parse into t->cfg with NULL-terminated arguments; stderr into t->text. */
static int parse(struct tdir *t, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"ksd";
    va_start(ap, t);
    for (char *a; argc < 15 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(t->err, "w");
    assert_true(saved >= 0 && f != NULL);
    dup2(fileno(f), 2);
    fclose(f);
    ksd_config_free(&t->cfg);
    int rc = ksd_config_parse(&t->cfg, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fopen(t->err, "r");
    assert_non_null(f);
    size_t n = fread(t->text, 1, sizeof(t->text) - 1, f);
    t->text[n] = '\0';
    fclose(f);
    return rc;
}

static void test_defaults(void **state)
{
    struct tdir *t = *state;
    const struct ksd_config *c = &t->cfg;
    assert_int_equal(parse(t, "-r", "x.pcap", NULL), 0);
    assert_int_equal(c->n_inputs, 1);
    assert_string_equal(c->inputs[0], "x.pcap");
    assert_int_equal(c->ndpi, 1);
    assert_int_equal(c->dedup_window_s, 300);
    assert_int_equal(c->max_flows, 1000000);
    assert_int_equal(c->progress, -1);
    assert_int_equal(c->redis_connect_timeout_ms, 1000);
    assert_int_equal(c->redis_timeout_ms, 2000);
    assert_int_equal(c->redis_queue, 65536);
    assert_int_equal(c->spool_max_mb, 256);
    assert_string_equal(c->redis_prefix, "ksd:");
    assert_non_null(c->sigfile);
    assert_true(c->sensor_id && c->sensor_id[0]); /* the host name */
}

/* Each setting, alone in a file, reaches its field. */
static void test_every_key(void **state)
{
    struct tdir *t = *state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key_case *k = &keys[i];
        char text[256];
        const struct ksd_config *c = &t->cfg;
        snprintf(text, sizeof(text), "# %s\n[ksd]\n%s = %s\n", k->key, k->key, k->val);
        write_conf(t, text);
        if (parse(t, "-c", t->conf, "--print-config", NULL) != 0)
            fail_msg("%s: refused: %s", k->key, t->text);
        const char *base = (const char *)c;
        switch (k->kind) {
            case K_INPUT:
                assert_int_equal(c->n_inputs, 1);
                assert_string_equal(c->inputs[0], k->val);
                break;
            case K_STR: {
                const char *got;
                memcpy(&got, base + k->off, sizeof(got));
                if (!got || strcmp(got, k->val) != 0)
                    fail_msg("%s: got %s", k->key, got ? got : "(null)");
                break;
            }
            case K_INT: {
                int got;
                memcpy(&got, base + k->off, sizeof(got));
                if (got != k->want)
                    fail_msg("%s: got %d, want %ld", k->key, got, k->want);
                break;
            }
            case K_LONG: {
                long got;
                memcpy(&got, base + k->off, sizeof(got));
                if (got != k->want)
                    fail_msg("%s: got %ld, want %ld", k->key, got, k->want);
                break;
            }
        }
    }
}

/* A flag set to no, false or 0 leaves the default. */
static void test_flags_no(void **state)
{
    struct tdir *t = *state;
    const struct ksd_config *c = &t->cfg;
    write_conf(t, "stats = no\nno-ndpi = false\nhosts = 0\nsyslog = no\n");
    assert_int_equal(parse(t, "-c", t->conf, "--print-config", NULL), 0);
    assert_int_equal(c->stats, 0);
    assert_int_equal(c->ndpi, 1);
    assert_int_equal(c->hosts, 0);
    assert_int_equal(c->use_syslog, 0);
}

/* Bad lines: exit 2 and "FILE:LINE: reason" naming the first bad line. */
static void test_file_errors(void **state)
{
    struct tdir *t = *state;
    static const struct {
        const char *text;
        int line;
        const char *reason;
    } cases[] = {
        {"stats = yes\nfrobnicate = 1\n", 2, "unknown setting"},
        {"threads = 65\n", 1, "threads"},
        {"# c\nthreads = many\n", 2, "threads"},
        {"dedup-window = 604801\n", 1, "dedup window"},
        {"max-flows = 999\n", 1, "max flows"},
        {"snaplen = 63\n", 1, "snaplen"},
        {"name-age = 0\n", 1, "name age"},
        {"reassembly-mb = 65537\n", 1, "reassembly"},
        {"buffer-mb = 4097\n", 1, "buffer"},
        {"redis-maxlen = 999\n", 1, "maxlen"},
        {"redis-connect-timeout = 99\n", 1, "connect timeout"},
        {"redis-timeout = 600001\n", 1, "timeout"},
        {"redis-queue = 63\n", 1, "queue"},
        {"redis-timeout = 500\nspool-max = 0\n", 2, "spool max"},
        {"sensor-id =\n", 1, "sensor id"},
        {"user =\n", 1, "user"},
        {"stats = maybe\n", 1, "yes or no"},
        {"config = other.conf\n", 1, "not allowed"},
        {"print-config = yes\n", 1, "not allowed"},
        {"check-signatures = x.rules\n", 1, "not allowed"},
        {"help = yes\n", 1, "not allowed"},
        {"stats = yes\nthis is not a setting\n", 2, "syntax"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[192];
        write_conf(t, cases[i].text);
        int rc = parse(t, "-c", t->conf, "--print-config", NULL);
        snprintf(want, sizeof(want), "%s:%d: ", t->conf, cases[i].line);
        if (rc != KSD_EXIT_USAGE || strncmp(t->text, want, strlen(want)) != 0 ||
            !strstr(t->text, cases[i].reason))
            fail_msg("case %zu: exit %d, '%s' (want '%s...%s')", i, rc, t->text, want,
                     cases[i].reason);
    }
    assert_int_equal(parse(t, "-c", "/nonexistent/ksd.conf", NULL), KSD_EXIT_USAGE);
    assert_non_null(strstr(t->text, "/nonexistent/ksd.conf"));
}

/* Command-line errors: exit 2 and the option named. */
static void test_command_line_errors(void **state)
{
    struct tdir *t = *state;
    const struct ksd_config *c = &t->cfg;
    assert_int_equal(parse(t, "--frobnicate", NULL), KSD_EXIT_USAGE);
    assert_non_null(strstr(t->text, "unknown option"));
    assert_int_equal(parse(t, "-r", "x", "--threads", "many", NULL), KSD_EXIT_USAGE);
    assert_non_null(strstr(t->text, "--threads"));
    assert_int_equal(parse(t, "-r", "x", "--snaplen", NULL), KSD_EXIT_USAGE);
    assert_non_null(strstr(t->text, "needs a value"));
    /* positional arguments are captures, as with -r */
    assert_int_equal(parse(t, "-r", "x", "more.pcap", NULL), 0);
    assert_int_equal(c->n_inputs, 2);
    assert_string_equal(c->inputs[1], "more.pcap");
    assert_int_equal(parse(t, "-r", "x", "-i", "eth0", NULL), KSD_EXIT_USAGE);
    assert_int_equal(parse(t, NULL), KSD_EXIT_USAGE);
    assert_non_null(strstr(t->text, "nothing to read"));
    assert_int_equal(parse(t, "--check-signatures", "x.rules", NULL), 0);
    assert_string_equal(c->check_sigs, "x.rules");
}

/* The command line's strings win over the file's; -r adds to the file's. */
static void test_precedence(void **state)
{
    struct tdir *t = *state;
    const struct ksd_config *c = &t->cfg;
    write_conf(t, "sensor-id = from-file\nredis = 127.0.0.1:1\nread = b.pcap\njson = f.json\n");
    assert_int_equal(parse(t, "-c", t->conf, "--sensor-id", "from-cli", "-r", "a.pcap", NULL), 0);
    assert_string_equal(c->sensor_id, "from-cli");
    assert_string_equal(c->redis, "127.0.0.1:1");
    assert_string_equal(c->json, "f.json");
    assert_int_equal(c->n_inputs, 2);
    assert_string_equal(c->inputs[0], "a.pcap");
    assert_string_equal(c->inputs[1], "b.pcap");
    /* numbers and flags too: the command line wins, the file fills the rest */
    write_conf(t, "threads = 3\nmax-flows = 5000\ndedup-window = 60\nno-ndpi = yes\n");
    assert_int_equal(
        parse(t, "-c", t->conf, "--threads", "5", "--dedup-window", "0", "-r", "a", NULL), 0);
    assert_int_equal(c->threads, 5);
    assert_int_equal(c->dedup_window_s, 0);
    assert_int_equal(c->max_flows, 5000);
    assert_int_equal(c->ndpi, 0);
}

/* ksd_config_print shows what was set, one "key = value" line each. */
static void test_print(void **state)
{
    struct tdir *t = *state;
    const struct ksd_config *c = &t->cfg;
    write_conf(t, "redis-timeout = 500\nspool-max = 8\nthreads = 2\nsites = s.txt\n");
    assert_int_equal(parse(t, "-c", t->conf, "--print-config", NULL), 0);
    char out[4096];
    FILE *f = fmemopen(out, sizeof(out), "w");
    assert_non_null(f);
    ksd_config_print(c, f);
    fclose(f);
    static const char *const lines[] = {"redis-timeout = 500\n", "spool-max = 8\n", "threads = 2\n",
                                        "sites = s.txt\n", "stats = no\n"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (!strstr(out, lines[i]))
            fail_msg("no '%s' in:\n%s", lines[i], out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_no, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
