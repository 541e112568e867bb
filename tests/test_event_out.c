/*
 * test_event_out.c - the line writer of sensor/output/event.c (--json, --facts):
 * only whole lines reach the file, a line longer than the buffer is kept
 * whole, a flush writes what is complete, and a reopen after a rename
 * writes to a new file while the renamed one keeps every earlier line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sensor/output/event.h"

struct dir {
    char path[64];
    char file[96];
};

static void dir_make(struct dir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/ksd-event-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->file, sizeof(d->file), "%s/out.json", d->path);
}

static void dir_remove(struct dir *d)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/out.json", d->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s/out.json.1", d->path);
    unlink(p);
    rmdir(d->path);
}

/* The file's bytes (NUL-terminated, caller frees) and their count. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    b[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static void test_whole_lines_only(void **state)
{
    (void)state;
    struct dir d;
    char err[256];
    size_t len;
    dir_make(&d);
    struct ksd_event_out *o = ksd_event_out_open(d.file, err, sizeof(err));
    assert_non_null(o);
    ksd_event_out_put(o, "{\"a\":", 5);
    assert_int_equal(ksd_event_out_flush(o), 0);
    free(slurp(d.file, &len));
    assert_int_equal(len, 0); /* half a line is never written */
    ksd_event_out_put(o, "1}", 2);
    ksd_event_out_end(o);
    ksd_event_out_put(o, "{\"b\"", 4);
    assert_int_equal(ksd_event_out_flush(o), 0);
    char *b = slurp(d.file, &len);
    assert_string_equal(b, "{\"a\":1}\n");
    free(b);
    ksd_event_out_end(o);
    assert_int_equal(ksd_event_out_lines(o), 1);
    ksd_event_out_close(o); /* writes the rest */
    b = slurp(d.file, &len);
    assert_string_equal(b, "{\"a\":1}\n{\"b\"\n");
    free(b);
    dir_remove(&d);
}

/* Many lines and one longer than the buffer: the file always ends on a line. */
static void test_full_buffer_and_long_line(void **state)
{
    (void)state;
    struct dir d;
    char err[256], line[100];
    size_t len;
    dir_make(&d);
    struct ksd_event_out *o = ksd_event_out_open(d.file, err, sizeof(err));
    assert_non_null(o);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(line, sizeof(line), "line %05d of a run of five thousand", i);
        ksd_event_out_put(o, line, (size_t)n);
        ksd_event_out_end(o);
        if (i % 997 == 0) {
            char *b = slurp(d.file, &len);
            assert_true(len == 0 || b[len - 1] == '\n');
            free(b);
        }
    }
    size_t big = 300000;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'x', big);
    ksd_event_out_put(o, huge, big / 2);
    ksd_event_out_put(o, huge, big - big / 2);
    ksd_event_out_end(o);
    ksd_event_out_close(o);
    char *b = slurp(d.file, &len);
    assert_int_equal(len, 5000 * 37 + big + 1);
    assert_memory_equal(b, "line 00000 of a run of five thousand\n", 37);
    assert_int_equal(b[len - 1], '\n');
    assert_int_equal(b[len - 2], 'x');
    free(b);
    free(huge);
    dir_remove(&d);
}

static void put_line(struct ksd_event_out *o, const char *s)
{
    ksd_event_out_put(o, s, strlen(s));
    ksd_event_out_end(o);
}

/* logrotate's rename, more lines, SIGHUP's reopen: nothing lost, new file. */
static void test_reopen_after_rename(void **state)
{
    (void)state;
    struct dir d;
    char err[256], moved[128];
    size_t len;
    dir_make(&d);
    snprintf(moved, sizeof(moved), "%s.1", d.file);
    struct ksd_event_out *o = ksd_event_out_open(d.file, err, sizeof(err));
    assert_non_null(o);
    put_line(o, "before");
    ksd_event_out_flush(o);
    assert_int_equal(rename(d.file, moved), 0);
    put_line(o, "between"); /* still buffered: goes where the descriptor points */
    assert_int_equal(ksd_event_out_reopen(o, err, sizeof(err)), 0);
    put_line(o, "after");
    ksd_event_out_flush(o);
    char *b = slurp(moved, &len);
    assert_string_equal(b, "before\nbetween\n");
    free(b);
    b = slurp(d.file, &len);
    assert_string_equal(b, "after\n");
    free(b);
    /* a reopen without a rename appends */
    assert_int_equal(ksd_event_out_reopen(o, err, sizeof(err)), 0);
    put_line(o, "again");
    ksd_event_out_close(o);
    b = slurp(d.file, &len);
    assert_string_equal(b, "after\nagain\n");
    free(b);
    dir_remove(&d);
}

static void test_open_error(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(ksd_event_out_open("/nonexistent-dir-ksd/x.json", err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_lines_only),
        cmocka_unit_test(test_full_buffer_and_long_line),
        cmocka_unit_test(test_reopen_after_rename),
        cmocka_unit_test(test_open_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
