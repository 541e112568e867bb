/*
 * ksd.h - definitions shared by every ksd module: return codes, assertions and
 * locale-free character tests for packet bytes.
 *
 * Return codes: 0 is success, negative values are
 * failures. KSD_ETRUNC means the captured bytes ran out, KSD_EINVAL means the
 * bytes are present but break the specification, KSD_EAGAIN (stream dissectors
 * only) means more bytes are needed.
 */
#ifndef KSD_KSD_H
#define KSD_KSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KSD_OK      0
#define KSD_ETRUNC  (-1) /* captured bytes ran out */
#define KSD_EINVAL  (-2) /* bytes present but malformed */
#define KSD_EAGAIN  (-3) /* stream dissector: need more bytes */
#define KSD_ENOMEM  (-4) /* allocation failed or a bound was reached */
#define KSD_ELIMIT  (-5) /* a named KSD_MAX_* cap was reached */
#define KSD_ENOTSUP (-6) /* valid but unsupported (version, type) */

#define KSD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifdef KSD_DEBUG
void ksd_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define KSD_ASSERT(e) ((e) ? (void)0 : ksd_assert_fail(#e, __FILE__, __LINE__))
#else
#define KSD_ASSERT(e) ((void)0)
#endif

/* ASCII-only lower-casing; bytes >= 0x80 are returned unchanged. */
static inline uint8_t ksd_ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

static inline bool ksd_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline bool ksd_is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool ksd_is_alnum(uint8_t c)
{
    return ksd_is_alpha(c) || ksd_is_digit(c);
}

/* Letter, digit or hyphen: the characters of a host-name label (RFC 952/1123). */
static inline bool ksd_is_ldh(uint8_t c)
{
    return ksd_is_alnum(c) || c == '-';
}

static inline bool ksd_is_print(uint8_t c)
{
    return c >= 0x20 && c < 0x7f;
}

/*
 * FNV-1a (Fowler/Noll/Vo), the one byte-string hash of every table in ksd:
 * start from KSD_FNV1A_BASIS, feed bytes one at a time (ksd_fnv1a_byte, for
 * keys read in an unusual order) or as a run (ksd_fnv1a). 32-bit, and the
 * 64-bit variant for tables that want more bits.
 */
#define KSD_FNV1A_BASIS   2166136261u
#define KSD_FNV1A_PRIME   16777619u
#define KSD_FNV1A64_BASIS 0xcbf29ce484222325ULL
#define KSD_FNV1A64_PRIME 0x100000001b3ULL

static inline uint32_t ksd_fnv1a_byte(uint32_t h, uint8_t c)
{
    return (h ^ c) * KSD_FNV1A_PRIME;
}

static inline uint32_t ksd_fnv1a(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = ksd_fnv1a_byte(h, b[i]);
    return h;
}

static inline uint64_t ksd_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * KSD_FNV1A64_PRIME;
    return h;
}

#endif
