/*
 * sigbench.c - domain-matcher benchmark for signatures/: generates N random
 * domain rules in memory (two thirds exact, one third suffix, a few
 * wildcards), loads them with ksd_sig_load_buf, then times lookups of random
 * names, half of them hits (a rule's name or a name below a suffix rule) and
 * half misses, and prints load time, memory per rule and lookups per second.
 *
 * Usage: sigbench [N ...]   (default: 100 100000)
 * Deterministic: a fixed-seed xorshift generator, no I/O besides stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "signatures/sig.h"

#define LOOKUPS 2000000

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: robust on a busy box */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const tlds[] = {"com", "net", "org", "io", "de", "co.uk", "ru", "info"};

/* A random name of 2-3 labels: "<label>.<label>.<tld>" or "<label>.<tld>". */
static size_t rand_name(char *out, size_t cap)
{
    size_t o = 0;
    int labels = 1 + (int)(rnd() % 2);
    for (int l = 0; l < labels; l++) {
        size_t n = 3 + rnd() % 8;
        for (size_t i = 0; i < n && o + 1 < cap; i++)
            out[o++] = (char)('a' + rnd() % 26);
        out[o++] = '.';
    }
    o += (size_t)snprintf(out + o, cap - o, "%s", tlds[rnd() % 8]);
    return o;
}

static int bench(size_t n)
{
    size_t cap = n * 128 + 64;
    char *text = malloc(cap);
    char(*names)[80] = malloc(n * sizeof(*names));
    if (text == NULL || names == NULL)
        return 1;
    size_t o = (size_t)snprintf(text, cap, "version bench-%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char base[48];
        rand_name(base, sizeof(base));
        /* random names may repeat: a numbered first label keeps them unique */
        snprintf(names[i], sizeof(names[i]), "n%zu.%s", i, base);
        o += (size_t)snprintf(text + o, cap - o,
                              "b%zu domain %s:%s category=update confidence=50 source=bench\n", i,
                              i % 3 == 1 ? "suffix" : "exact", names[i]);
    }
    /* a handful of wildcards so the wildcard path is exercised */
    for (size_t i = 0; i < 16 && i < n; i++)
        o += (size_t)snprintf(text + o, cap - o,
                              "w%zu domain wild:s*.w%zu.example.com category=update confidence=50 "
                              "source=bench\n",
                              i, i);

    struct ksd_sigset *s = NULL;
    struct ksd_sig_error e;
    double t0 = now();
    int rc = ksd_sig_load_buf("bench", text, o, &s, &e);
    double t_load = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "sigbench: %s:%d: %s\n", e.file, e.line, e.reason);
        return 1;
    }

    /* Queries: prepared up front so only matching is timed. */
    enum { NQ = 4096 };
    static char q[NQ][112];
    static size_t ql[NQ];
    for (size_t i = 0; i < NQ; i++) {
        size_t r = rnd() % n;
        switch (i % 4) {
            case 0: /* exact or suffix name itself: hit */
                ql[i] = (size_t)snprintf(q[i], sizeof(q[i]), "%s", names[r]);
                break;
            case 1: /* below the name: hit for suffix rules only */
                ql[i] = (size_t)snprintf(q[i], sizeof(q[i]), "www.%s", names[r]);
                break;
            default: /* random name: miss */
                ql[i] = rand_name(q[i], sizeof(q[i]));
                break;
        }
    }
    size_t hits = 0;
    t0 = now();
    for (size_t i = 0; i < LOOKUPS; i++) {
        size_t k = i & (NQ - 1);
        hits += ksd_sig_match_domain(s, q[k], ql[k]) != NULL;
    }
    double t_look = now() - t0;
    size_t mem = ksd_sig_memory(s);
    printf("%9zu %10.1f %12zu %10.1f %14.0f %8.1f%%\n", n, t_load * 1e3, mem,
           (double)mem / (double)ksd_sig_count(s, -1), (double)LOOKUPS / t_look,
           100.0 * (double)hits / LOOKUPS);
    ksd_sig_free(s);
    free(text);
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    size_t def[] = {100, 100000};
    printf("(process CPU time; queries: 1/4 rule names, 1/4 www.<rule name>, 1/2 random)\n");
    printf("%9s %10s %12s %10s %14s %9s\n", "rules", "load ms", "bytes", "bytes/rule", "lookups/s",
           "hits");
    if (argc < 2) {
        for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++) {
            if (bench(def[i]) != 0)
                return 1;
        }
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        long n = strtol(argv[i], NULL, 10);
        if (n <= 0 || bench((size_t)n) != 0)
            return 1;
    }
    return 0;
}
