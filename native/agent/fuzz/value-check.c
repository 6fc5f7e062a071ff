#include "value-check.h"

#include "wire.h"

#include <stdio.h>
#include <stdlib.h>

static void broken(const char *why) {
    fprintf(stderr, "encoded value broken: %s\n", why);
    abort();
}

static uint32_t u32(const uint8_t *p) { return hs_get_u32(p); }

/* Strict UTF-8, as a reader that expects text relies on. */
static int valid_utf8(const uint8_t *s, uint32_t n) {
    for (uint32_t i = 0; i < n;) {
        unsigned c = s[i];
        uint32_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || i + k >= n + (k == 0))
            return 0;
        for (uint32_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

const uint8_t *check_value(const uint8_t *p, const uint8_t *end, int depth) {
    if (p >= end)
        broken("missing value");
    uint8_t tag = *p++;
    size_t left = (size_t)(end - p);
    switch (tag) {
    case HS_TAG_NONE:
    case HS_TAG_FALSE:
    case HS_TAG_TRUE:
        return p;
    case HS_TAG_INT:
    case HS_TAG_BIGINT:
    case HS_TAG_FLOAT:
        if (left < 8)
            broken("short number");
        return p + 8;
    case HS_TAG_STR:
    case HS_TAG_STR_FS:
    case HS_TAG_BYTES:
    case HS_TAG_BYTEARRAY: {
        if (left < 8)
            broken("short sized header");
        uint32_t full = u32(p), n = u32(p + 4);
        if (n > left - 8)
            broken("sized body past the end");
        uint32_t limit = tag == HS_TAG_BYTES || tag == HS_TAG_BYTEARRAY ? HS_MAX_BYTES : HS_MAX_STR;
        if (n > limit)
            broken("sized body over its limit");
        if (n > full)
            broken("more bytes than full_length");
        if (tag == HS_TAG_STR && !valid_utf8(p + 8, n))
            broken("str not cut at a character boundary");
        return p + 8 + n;
    }
    case HS_TAG_TUPLE:
    case HS_TAG_LIST: {
        if (left < 8)
            broken("short container header");
        if (depth >= HS_MAX_DEPTH)
            broken("containers nested deeper than HS_MAX_DEPTH");
        uint32_t full = u32(p), n = u32(p + 4);
        if (n > full || n > HS_MAX_ITEMS)
            broken("container count");
        p += 8;
        for (uint32_t i = 0; i < n; i++)
            p = check_value(p, end, depth + 1);
        return p;
    }
    case HS_TAG_CODE:
        if (left < 4)
            broken("short code");
        p = check_value(p + 4, end, depth + 1);
        return check_value(p, end, depth + 1);
    case HS_TAG_OTHER: {
        if (left < 10)
            broken("short other");
        uint16_t n;
        memcpy(&n, p + 8, 2);
        if (n > left - 10)
            broken("type name past the end");
        return p + 10 + n;
    }
    default:
        broken("unknown tag");
    }
    return NULL;
}
