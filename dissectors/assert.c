/*
 * assert.c - the failure path of KSD_ASSERT (debug, sanitizer and fuzz
 * builds only). Assertions guard programmer errors, never packet content,
 * so reaching this is a bug: report file and line, then abort.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dissectors/ksd.h"

#ifdef KSD_DEBUG
void ksd_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
#else
/* Keeps the translation unit non-empty (ISO C) in release builds. */
typedef int ksd_assert_unused;
#endif
