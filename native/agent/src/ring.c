#include "ring.h"

#include <string.h>
#include <sys/mman.h>

/* Slot tag: the slot's absolute position in the byte stream, plus flags.
 * The consumer zeroes what it consumed, so a reserved but unpublished slot
 * reads as 0: record bytes from an earlier lap (chosen by the target) can
 * never pass for a tag. The position in the tag is a second guard. */
#define TAG_PUBLISHED (1ULL << 63)
#define TAG_PADDING (1ULL << 62)

int hs_ring_init(struct hs_ring *r, uint64_t capacity) {
    /* mmap: pages are only touched as the ring is used. */
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

/* Zeroes n bytes of the stream from position pos (n <= capacity). */
static void clear_range(struct hs_ring *r, uint64_t pos, uint64_t n) {
    uint64_t from = pos & (r->capacity - 1);
    if (from + n > r->capacity) {
        memset(r->buf + from, 0, r->capacity - from);
        memset(r->buf, 0, n - (r->capacity - from));
    } else {
        memset(r->buf + from, 0, n);
    }
}

int hs_ring_push(struct hs_ring *r, const void *rec, uint32_t len) {
    uint64_t need = (8 + (uint64_t)len + 7) & ~7ULL;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t pad;
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
        atomic_store_explicit(slot_at(r, head), head | TAG_PUBLISHED | TAG_PADDING, memory_order_release);
    uint64_t start = head + pad;
    memcpy(r->buf + ((start + 8) & (r->capacity - 1)), rec, len);
    /* Publish last; the record's first 4 bytes hold its exact length. */
    atomic_store_explicit(slot_at(r, start), start | TAG_PUBLISHED, memory_order_release);
    return 0;
}

size_t hs_ring_drain(struct hs_ring *r, uint8_t *out, size_t cap) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t start = tail;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t copied = 0;
    while (tail < head) {
        uint64_t tag = atomic_load_explicit(slot_at(r, tail), memory_order_acquire);
        if (tag == (tail | TAG_PUBLISHED | TAG_PADDING)) {
            tail += r->capacity - (tail & (r->capacity - 1));
            continue;
        }
        if (tag != (tail | TAG_PUBLISHED))
            break; /* reserved, not yet published */
        const uint8_t *rec = r->buf + ((tail + 8) & (r->capacity - 1));
        uint32_t len;
        memcpy(&len, rec, 4);
        /* A length no producer could have written means this was not a real
         * tag (record bytes from an earlier lap that happen to match): wait. */
        uint64_t size = (8 + (uint64_t)len + 7) & ~7ULL;
        if (len < 4 || tail + size > head || copied + len > cap)
            break;
        memcpy(out + copied, rec, len);
        copied += len;
        tail += size;
    }
    if (tail != start) {
        clear_range(r, start, tail - start);
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    return copied;
}

void hs_ring_reset(struct hs_ring *r) {
    /* After fork only this thread exists: forget what was pending, and
     * clear it so its slots read as unpublished again. */
    uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);
    clear_range(r, tail, head - tail < r->capacity ? head - tail : r->capacity);
    atomic_store(&r->tail, head);
}
