/*
 * metrics.h - the dashboard's /metrics page: the sensor:<id> hashes in the
 * Prometheus text exposition format (version 0.0.4), one sample per sensor
 * and number, labelled sensor="<id>":
 *
 *   ksd_sensor_packets_total, ksd_sensor_bytes_total, ksd_sensor_drops_total,
 *   ksd_sensor_flows, ksd_sensor_events_total, ksd_sensor_backlog,
 *   ksd_sensor_events_dropped_total, ksd_sensor_events_spooled_total,
 *   ksd_sensor_events_sent_total, ksd_sensor_start_time_seconds,
 *   ksd_sensor_last_update_time_seconds
 *
 * plus ksd_sensors (hashes found). Collect with ksd_metrics_add (a
 * ksd_report_sensors callback), then write with ksd_metrics_format.
 */
#ifndef KSD_METRICS_H
#define KSD_METRICS_H

#include "sensor/analyst/report.h"

#define KSD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define KSD_METRICS_N            11  /* numbers per sensor (the table in metrics.c) */
#define KSD_METRICS_MAX_ID       128 /* sensor id kept (longer ones are cut) */

struct ksd_metrics_sensor {
    char id[KSD_METRICS_MAX_ID]; /* sensor id, NUL-terminated */
    long long v[KSD_METRICS_N];  /* values, in table order */
    unsigned have;               /* bit i set: v[i] was present and a number */
};

struct ksd_metrics {
    struct ksd_metrics_sensor s[KSD_REPORT_MAX_SENSORS]; /* collected sensors */
    size_t n;                                            /* used */
};

/* ksd_report_sensors callback (cls = struct ksd_metrics *): keep one sensor. */
void ksd_metrics_add(void *cls, const char *id, const struct ksd_report_field *f, size_t n);

/* Append the exposition text of m to b: per metric a # HELP and a # TYPE
 * line, then one sample per sensor that has the value. */
void ksd_metrics_format(const struct ksd_metrics *m, struct ksd_report_buf *b);

#endif
