/* Wire format shared with main/core/protocol (docs/protocol.md). */
#ifndef HOOKSCOPE_WIRE_H
#define HOOKSCOPE_WIRE_H

#include <stdint.h>
#include <string.h>

#define HS_FRAME_MAGIC 0x314B5348u /* "HSK1" little-endian */
#define HS_PROTOCOL_VERSION 1
#define HS_FRAME_HEADER_SIZE 12
#define HS_MAX_AGENT_PAYLOAD (1u << 20)
#define HS_MAX_MAIN_PAYLOAD (64u << 10)

enum hs_frame_type {
    HS_FRAME_HELLO = 1,
    HS_FRAME_WELCOME = 2,
    HS_FRAME_EVENTS = 3,
    HS_FRAME_DROPS = 4,
    HS_FRAME_BYE = 5,
    HS_FRAME_DETACH = 6, /* main -> agent: stop capturing, send BYE, close */
    HS_FRAME_ASK = 7,    /* agent -> main: an intent waits for an answer */
    HS_FRAME_ANSWER = 8, /* main -> agent: the answer to an ASK */
    HS_FRAME_POLICY = 9, /* main -> agent: the compiled policy; right after WELCOME in attach mode (empty: none),
                            and at any time later to replace the enforced one (answered by POLICY_ACK) */
    HS_FRAME_HOLD = 10,  /* main -> agent: someone is looking at this ask: push its deadline out */
    HS_FRAME_POLICY_ACK = 11, /* agent -> main: what became of a later POLICY frame (enum hs_policy_ack) */
};

/* POLICY_ACK status (docs/protocol.md, "Replacing the policy"). */
enum hs_policy_ack {
    HS_POLICY_APPLIED = 0,      /* enforced from now on */
    HS_POLICY_MALFORMED = 1,    /* refused: the old policy stays */
    HS_POLICY_NOT_ENFORCING = 2, /* refused: this process was started without a policy (capture only) */
    HS_POLICY_TOO_MANY = 3,     /* refused: the replacement limit is reached; the old policy stays */
};

enum hs_record_kind { HS_RECORD_AUDIT = 1, HS_RECORD_OPEN_CODE = 2, HS_RECORD_DECISION = 3 };
#define HS_RECORD_FLAG_TRUNCATED 1u
#define HS_RECORD_FLAG_STACK 2u /* decision records: a stack value follows the fixed fields */
#define HS_RECORD_HEADER_SIZE 28
#define HS_RECORD_MAX (16u << 10)

enum hs_hello_flag {
    HS_HELLO_PRE_INIT = 1u << 0,
    HS_HELLO_INITIALIZED_AT_START = 1u << 1,
    HS_HELLO_AUDIT_HOOK = 1u << 2,
    HS_HELLO_OPEN_CODE_HOOK = 1u << 3,
    HS_HELLO_ATTACHED = 1u << 4, /* attach mode: earlier events were not seen */
    HS_HELLO_POLICY = 1u << 5,   /* a policy is loaded and enforced */
};

enum hs_value_tag {
    HS_TAG_NONE = 0,
    HS_TAG_FALSE = 1,
    HS_TAG_TRUE = 2,
    HS_TAG_INT = 3,
    HS_TAG_BIGINT = 4,
    HS_TAG_FLOAT = 5,
    HS_TAG_STR = 6,
    HS_TAG_STR_FS = 7,
    HS_TAG_BYTES = 8,
    HS_TAG_BYTEARRAY = 9,
    HS_TAG_TUPLE = 10,
    HS_TAG_LIST = 11,
    HS_TAG_CODE = 12,
    HS_TAG_OTHER = 13,
};

enum hs_intent {
    HS_INTENT_UNKNOWN = 0,
    HS_INTENT_PYTHONCODE = 1,
    HS_INTENT_BYTECODE = 2,
    HS_INTENT_ZIPIMPORT = 3,
    HS_INTENT_NATIVECODE = 4, /* dlopen: an extension module or any native library */
    HS_INTENT_CTYPES = 5,     /* dlopen right after a ctypes.dlopen event */
};

#define HS_MAX_STR 4096u
#define HS_MAX_BYTES 256u
#define HS_MAX_ITEMS 64u
#define HS_MAX_DEPTH 3

/* x86-64 and aarch64 Linux are little-endian; the wire is too, so these
 * are plain stores. */
static inline void hs_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void hs_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void hs_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t hs_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static inline void hs_frame_header(uint8_t *p, uint8_t type, uint32_t payload_len) {
    hs_put_u32(p, HS_FRAME_MAGIC);
    p[4] = HS_PROTOCOL_VERSION;
    p[5] = type;
    hs_put_u16(p + 6, 0);
    hs_put_u32(p + 8, payload_len);
}

/* The pure part of reading frames from main (docs/protocol.md, "Frames"),
 * kept free of sockets so the fuzz targets (native/agent/fuzz/) call
 * exactly what the writer calls. */

/* Checks the header of a frame main sent after the handshake. Returns its
 * type (HS_FRAME_DETACH, HS_FRAME_POLICY, HS_FRAME_ANSWER, HS_FRAME_HOLD)
 * with its payload length in *len, or -1: a protocol error (bad magic,
 * version or flags, a type the agent does not take then, a length over the
 * limit for that type); the stream cannot be trusted after that. */
#define HS_CONTROL_BODY_MAX 64 /* ANSWER and HOLD bodies are 8 bytes; refuse anything much longer */
static inline int hs_control_header(const uint8_t *h, uint32_t *len) {
    if (hs_get_u32(h) != HS_FRAME_MAGIC || h[4] != HS_PROTOCOL_VERSION || h[6] != 0 || h[7] != 0)
        return -1;
    *len = hs_get_u32(h + 8);
    switch (h[5]) {
    case HS_FRAME_DETACH:
        return *len == 0 ? HS_FRAME_DETACH : -1;
    case HS_FRAME_POLICY:
        return *len <= HS_MAX_MAIN_PAYLOAD ? HS_FRAME_POLICY : -1;
    case HS_FRAME_ANSWER:
    case HS_FRAME_HOLD:
        return *len <= HS_CONTROL_BODY_MAX ? h[5] : -1;
    default:
        return -1;
    }
}

/* Checks a whole WELCOME frame (header and 8-byte payload): 1 when the
 * inspector accepted the HELLO (status 0), else 0. */
#define HS_WELCOME_FRAME_SIZE (HS_FRAME_HEADER_SIZE + 8)
static inline int hs_welcome_accepted(const uint8_t *f) {
    return hs_get_u32(f) == HS_FRAME_MAGIC && f[4] == HS_PROTOCOL_VERSION && f[5] == HS_FRAME_WELCOME &&
           f[6] == 0 && f[7] == 0 && hs_get_u32(f + 8) == 8 && hs_get_u32(f + HS_FRAME_HEADER_SIZE) == 0;
}

#endif
