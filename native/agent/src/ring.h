/* A bounded multi-producer, single-consumer byte ring.
 *
 * Producers are the hooked Python threads; the consumer is the agent's
 * writer thread. A producer never waits: when the ring is full the record is
 * dropped and counted. Each record sits behind an 8-byte slot tag that
 * the producer publishes last (release); the consumer zeroes what it has
 * consumed, so an unpublished slot always reads as 0. */
#ifndef HOOKSCOPE_RING_H
#define HOOKSCOPE_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct hs_ring {
    _Atomic uint64_t head; /* bytes reserved by producers */
    char pad1[56];
    _Atomic uint64_t tail; /* bytes released by the consumer */
    char pad2[56];
    uint8_t *buf;
    uint64_t capacity; /* power of two */
};

int hs_ring_init(struct hs_ring *r, uint64_t capacity);

/* Copies len bytes into the ring as one record. Returns 0, or -1 when full. */
int hs_ring_push(struct hs_ring *r, const void *rec, uint32_t len);

/* Consumer: copies whole published records into out (at most cap bytes),
 * releases their space and returns the number of bytes copied. */
size_t hs_ring_drain(struct hs_ring *r, uint8_t *out, size_t cap);

/* After fork in the child (one thread left): forget what was pending. */
void hs_ring_reset(struct hs_ring *r);

#endif
