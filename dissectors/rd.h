/*
 * rd.h - the bounds-checked reader every dissector reads packet bytes through
 * (every field read through it; narrowed with rd_sub to a declared length).
 *
 * A reader is a window (base, len) with a cursor (off). Every getter checks
 * that the bytes it needs lie inside the window; a short read sets `err`,
 * which then stays set, returns 0 (or NULL) and leaves the cursor where it
 * was. Every later call on a reader in error is a no-op returning 0, so a
 * parser checks rd_err() at decision points rather than after each byte.
 * Length tests are written as `n <= len - off`, which cannot overflow.
 *
 * rd_sub() narrows: it returns a child reader over the next n bytes and
 * advances the parent past them, so a declared length (IP total length, TLS
 * record, extension) can never let trailing bytes bleed into the next field.
 */
#ifndef KSD_RD_H
#define KSD_RD_H

#include <stddef.h>
#include <stdint.h>

struct ksd_rd {
    const uint8_t *base; /* first readable byte (borrowed) */
    size_t len;          /* readable bytes from base */
    size_t off;          /* cursor, 0 <= off <= len */
    int err;             /* set on the first short read and never cleared */
};

static inline struct ksd_rd rd_make(const uint8_t *p, size_t len)
{
    struct ksd_rd r = {p, p ? len : 0, 0, 0};
    return r;
}

static inline void rd_init(struct ksd_rd *r, const uint8_t *p, size_t len)
{
    *r = rd_make(p, len);
}

static inline int rd_err(const struct ksd_rd *r)
{
    return r->err;
}

static inline size_t rd_left(const struct ksd_rd *r)
{
    return r->err ? 0 : r->len - r->off;
}

/* True when at least n bytes remain (and the reader is not in error). */
static inline int rd_has(const struct ksd_rd *r, size_t n)
{
    return !r->err && n <= r->len - r->off;
}

static inline size_t rd_off(const struct ksd_rd *r)
{
    return r->off;
}

/* Pointer to the cursor; valid as long as the underlying buffer is. */
static inline const uint8_t *rd_ptr(const struct ksd_rd *r)
{
    return r->base + r->off;
}

static inline int rd_fail(struct ksd_rd *r)
{
    r->err = 1;
    return 0;
}

static inline uint8_t rd_u8(struct ksd_rd *r)
{
    if (!rd_has(r, 1))
        return (uint8_t)rd_fail(r);
    return r->base[r->off++];
}

static inline uint16_t rd_be16(struct ksd_rd *r)
{
    if (!rd_has(r, 2))
        return (uint16_t)rd_fail(r);
    const uint8_t *p = r->base + r->off;
    r->off += 2;
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd_be24(struct ksd_rd *r)
{
    if (!rd_has(r, 3))
        return (uint32_t)rd_fail(r);
    const uint8_t *p = r->base + r->off;
    r->off += 3;
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static inline uint32_t rd_be32(struct ksd_rd *r)
{
    if (!rd_has(r, 4))
        return (uint32_t)rd_fail(r);
    const uint8_t *p = r->base + r->off;
    r->off += 4;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t rd_le16(struct ksd_rd *r)
{
    if (!rd_has(r, 2))
        return (uint16_t)rd_fail(r);
    const uint8_t *p = r->base + r->off;
    r->off += 2;
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t rd_le32(struct ksd_rd *r)
{
    if (!rd_has(r, 4))
        return (uint32_t)rd_fail(r);
    const uint8_t *p = r->base + r->off;
    r->off += 4;
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Returns a pointer to the next n bytes and advances, or NULL (error set). */
static inline const uint8_t *rd_bytes(struct ksd_rd *r, size_t n)
{
    if (!rd_has(r, n)) {
        rd_fail(r);
        return NULL;
    }
    const uint8_t *p = r->base + r->off;
    r->off += n;
    return p;
}

static inline void rd_skip(struct ksd_rd *r, size_t n)
{
    if (!rd_has(r, n)) {
        rd_fail(r);
        return;
    }
    r->off += n;
}

/* Byte at cursor + i without moving; 0 and error set when out of range. */
static inline uint8_t rd_peek(struct ksd_rd *r, size_t i)
{
    if (r->err || i >= r->len - r->off)
        return (uint8_t)rd_fail(r);
    return r->base[r->off + i];
}

/* Like rd_peek but never sets the error: for probes that may look past the end. */
static inline int rd_peek_ok(const struct ksd_rd *r, size_t i, uint8_t *out)
{
    if (r->err || i >= r->len - r->off)
        return 0;
    *out = r->base[r->off + i];
    return 1;
}

/* Child reader over the next n bytes; the parent advances past them. On a
 * short parent both the child and the parent are in error. */
static inline struct ksd_rd rd_sub(struct ksd_rd *r, size_t n)
{
    struct ksd_rd c = {NULL, 0, 0, 1};
    if (!rd_has(r, n)) {
        rd_fail(r);
        return c;
    }
    c.base = r->base + r->off;
    c.len = n;
    c.err = 0;
    r->off += n;
    return c;
}

/* Child reader over everything that is left; the parent is then exhausted. */
static inline struct ksd_rd rd_rest(struct ksd_rd *r)
{
    return rd_sub(r, rd_left(r));
}

#endif
