/*
 * metrics.c - the sensor:<id> hashes as Prometheus text (the exposition
 * format 0.0.4 of the Prometheus documentation, "Exposition formats": a
 * # HELP and a # TYPE line per metric family, then `name{label="value"} N`
 * lines, families not interleaved).
 *
 * It only formats: reading Redis is report.c's (ksd_report_sensors). A field
 * that is missing or not a whole decimal number gives no sample (a sensor of
 * an older version simply lacks the newer metrics). Label values are the
 * sensor ids, escaped as the format requires (backslash, double quote,
 * newline); any other byte outside printable ASCII becomes '_', so the page
 * is always valid UTF-8. Counters keep the sensor's own totals, which start
 * at zero when the sensor restarts, as Prometheus expects of counters.
 */
#include "sensor/analyst/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    const char *field; /* in the sensor:<id> hash */
    const char *name;  /* Prometheus metric name */
    const char *type;  /* counter or gauge */
    const char *help;  /* # HELP text */
};

static const struct metric metrics[KSD_METRICS_N] = {
    {"packets", "ksd_sensor_packets_total", "counter", "Packets captured by the sensor."},
    {"bytes", "ksd_sensor_bytes_total", "counter", "Bytes captured by the sensor."},
    {"drops", "ksd_sensor_drops_total", "counter",
     "Packets the kernel or the interface dropped before capture."},
    {"flows", "ksd_sensor_flows", "gauge", "Flows the sensor tracks now."},
    {"events", "ksd_sensor_events_total", "counter", "Detection events produced."},
    {"backlog", "ksd_sensor_backlog", "gauge",
     "Events waiting for Redis (in memory and in the spool)."},
    {"dropped", "ksd_sensor_events_dropped_total", "counter",
     "Events lost (queue full without a spool, or spool full)."},
    {"spooled", "ksd_sensor_events_spooled_total", "counter",
     "Events written to the spool file while Redis was away."},
    {"sent", "ksd_sensor_events_sent_total", "counter", "Events stored in Redis."},
    {"started", "ksd_sensor_start_time_seconds", "gauge", "Unix time the sensor started."},
    {"updated", "ksd_sensor_last_update_time_seconds", "gauge",
     "Unix time the sensor last refreshed its sensor hash."},
};

/* A whole decimal number (optional minus sign) in v[0..n); 0 when it is one. */
static int parse_number(const char *v, size_t n, long long *out)
{
    char tmp[24];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    if (errno || *end || !((tmp[0] >= '0' && tmp[0] <= '9') || tmp[0] == '-'))
        return -1;
    *out = x;
    return 0;
}

void ksd_metrics_add(void *cls, const char *id, const struct ksd_report_field *f, size_t n)
{
    struct ksd_metrics *m = cls;
    if (m->n >= KSD_REPORT_MAX_SENSORS)
        return;
    struct ksd_metrics_sensor *s = &m->s[m->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    for (size_t j = 0; j < n; j++)
        for (int i = 0; i < KSD_METRICS_N; i++)
            if (f[j].klen == strlen(metrics[i].field) &&
                memcmp(f[j].k, metrics[i].field, f[j].klen) == 0 &&
                parse_number(f[j].v, f[j].vlen, &s->v[i]) == 0)
                s->have |= 1u << i;
}

/* The label value of id: escaped, printable ASCII only. */
static void add_label(struct ksd_report_buf *b, const char *id)
{
    for (const char *p = id; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\\' || ch == '"')
            ksd_report_buf_add(b, "\\", 1);
        if (ch == '\n')
            ksd_report_buf_str(b, "\\n");
        else if (ch < 0x20 || ch > 0x7e)
            ksd_report_buf_add(b, "_", 1);
        else
            ksd_report_buf_add(b, p, 1);
    }
}

void ksd_metrics_format(const struct ksd_metrics *m, struct ksd_report_buf *b)
{
    char line[256];
    snprintf(line, sizeof(line),
             "# HELP ksd_sensors Sensor hashes found in Redis.\n# TYPE ksd_sensors gauge\n"
             "ksd_sensors %zu\n",
             m->n);
    ksd_report_buf_str(b, line);
    for (int i = 0; i < KSD_METRICS_N; i++) {
        const struct metric *x = &metrics[i];
        snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
                 x->type);
        ksd_report_buf_str(b, line);
        for (size_t k = 0; k < m->n; k++) {
            if (!(m->s[k].have & (1u << i)))
                continue;
            ksd_report_buf_str(b, x->name);
            ksd_report_buf_str(b, "{sensor=\"");
            add_label(b, m->s[k].id);
            snprintf(line, sizeof(line), "\"} %lld\n", m->s[k].v[i]);
            ksd_report_buf_str(b, line);
        }
    }
}
