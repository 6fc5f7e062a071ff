#include "ring.h"

#include <string.h>
#include <sys/mman.h>

#define SLOT_PUBLISHED (1ULL << 63)
#define SLOT_PADDING (1ULL << 62)
#define SLOT_LEN_MASK 0xffffffffULL

int hs_ring_init(struct hs_ring *r, uint64_t capacity) {
    /* mmap: zero-filled, and pages are only touched as the ring is used. */
    void *mem = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -1;
    r->buf = mem;
    r->capacity = capacity;
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    return 0;
}

static inline _Atomic uint64_t *slot_at(struct hs_ring *r, uint64_t pos) {
    return (_Atomic uint64_t *)(r->buf + (pos & (r->capacity - 1)));
}

int hs_ring_push(struct hs_ring *r, const void *rec, uint32_t len) {
    uint64_t need = (8 + (uint64_t)len + 7) & ~7ULL;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t pad, start;
    for (;;) {
        uint64_t off = head & (r->capacity - 1);
        /* A record never wraps: pad to the end of the buffer instead. */
        pad = off + need > r->capacity ? r->capacity - off : 0;
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + pad + need - tail > r->capacity)
            return -1;
        if (atomic_compare_exchange_weak_explicit(&r->head, &head, head + pad + need,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    if (pad)
        atomic_store_explicit(slot_at(r, head), SLOT_PUBLISHED | SLOT_PADDING | pad, memory_order_release);
    start = head + pad;
    memcpy(r->buf + ((start + 8) & (r->capacity - 1)), rec, len);
    /* The slot keeps the 8-aligned size; the record's own first 4 bytes
     * hold its exact length. */
    atomic_store_explicit(slot_at(r, start), SLOT_PUBLISHED | need, memory_order_release);
    return 0;
}

size_t hs_ring_drain(struct hs_ring *r, uint8_t *out, size_t cap) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t start = tail;
    /* Never look past what producers have reserved: beyond head lie slots
     * consumed earlier in this same call and not yet zeroed. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t copied = 0;
    while (tail < head) {
        uint64_t slot = atomic_load_explicit(slot_at(r, tail), memory_order_acquire);
        if (!(slot & SLOT_PUBLISHED))
            break;
        uint64_t size = slot & SLOT_LEN_MASK;
        if (!(slot & SLOT_PADDING)) {
            const uint8_t *rec = r->buf + ((tail + 8) & (r->capacity - 1));
            uint32_t len;
            memcpy(&len, rec, 4);
            if (copied + len > cap)
                break;
            memcpy(out + copied, rec, len);
            copied += len;
        }
        tail += size;
    }
    if (tail != start) {
        /* Zero what was consumed so the next lap's slot headers read as
         * unpublished until their producer publishes them. */
        uint64_t from = start & (r->capacity - 1);
        uint64_t n = tail - start;
        if (from + n > r->capacity) {
            memset(r->buf + from, 0, r->capacity - from);
            memset(r->buf, 0, n - (r->capacity - from));
        } else {
            memset(r->buf + from, 0, n);
        }
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    return copied;
}

void hs_ring_reset(struct hs_ring *r) {
    uint64_t tail = atomic_load(&r->tail);
    uint64_t head = atomic_load(&r->head);
    uint64_t from = tail & (r->capacity - 1);
    uint64_t n = head - tail;
    if (n > r->capacity)
        n = r->capacity;
    if (from + n > r->capacity) {
        memset(r->buf + from, 0, r->capacity - from);
        memset(r->buf, 0, n - (r->capacity - from));
    } else {
        memset(r->buf + from, 0, n);
    }
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
}
