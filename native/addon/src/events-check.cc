// Record checks in C++ for the hot path: every events block read from a
// session file is checked whole before anything reads a record of it, and
// in TypeScript that walk was a fifth of a report's time. This says only
// yes (the count) or no; on no, the caller runs the TypeScript checker,
// which names the fault. So the two must accept exactly the same bytes:
// each rule below is the one of the same name in records.ts, and
// events-check.test.ts compares them on generated and damaged payloads.
#include "events-check.h"

#include <cstring>

namespace hookscope {
namespace {

// docs/protocol.md, "Records" and "Values".
constexpr int64_t kRecordHeaderSize = 28;
constexpr int64_t kMaxRecordSize = 16 * 1024;
constexpr uint32_t kMaxStrBytes = 4096;
constexpr uint32_t kMaxBytesBytes = 256;
constexpr uint32_t kMaxContainerItems = 64;
constexpr int kMaxNesting = 3;
constexpr uint32_t kSafeHighWord = 0x1fffff;
constexpr int64_t kOpenCodeFixedSize = 72;
constexpr int64_t kDecisionSize = 24;
constexpr uint32_t kDecisionByDefaultIndex = 0xffffffff;
constexpr uint8_t kFlagStack = 2;
constexpr uint8_t kIntentCount = 6;
constexpr uint8_t kFirstNativeIntent = 4;

enum Kind : uint8_t { kAudit = 1, kOpenCode = 2, kDecision = 3 };
enum Tag : uint8_t {
  kNone = 0, kFalse = 1, kTrue = 2, kInt = 3, kIntApprox = 4, kFloat = 5, kStr = 6,
  kStrFs = 7, kBytes = 8, kBytearray = 9, kTuple = 10, kList = 11, kCode = 12, kOther = 13,
};

// Offsets are signed 64-bit: a failed check returns -1, and no sum of a
// few u32 lengths can wrap.
constexpr int64_t kBad = -1;

class Checker {
 public:
  Checker(const uint8_t* buf, int64_t size) : buf_(buf), size_(size) {}

  int64_t Count() const {
    if (size_ == 0) return kBad;
    int64_t p = 0;
    int64_t count = 0;
    while (p < size_) {
      p = Record(p);
      if (p < 0) return kBad;
      count++;
    }
    return count;
  }

 private:
  uint32_t U32(int64_t p) const {
    return uint32_t(buf_[p]) | uint32_t(buf_[p + 1]) << 8 | uint32_t(buf_[p + 2]) << 16 |
           uint32_t(buf_[p + 3]) << 24;
  }
  uint32_t U16(int64_t p) const { return uint32_t(buf_[p]) | uint32_t(buf_[p + 1]) << 8; }

  // needBytes: n bytes from p, within the record ending at `end`.
  static bool Has(int64_t p, int64_t n, int64_t end) { return end - p >= n; }

  int64_t Sized(int64_t q, int64_t end, uint32_t limit) const {
    if (!Has(q, 8, end)) return kBad;
    uint32_t full = U32(q);
    uint32_t n = U32(q + 4);
    if (n > full || n > limit || !Has(q + 8, n, end)) return kBad;
    return q + 8 + n;
  }

  int64_t Text(int64_t p, int64_t end) const {
    if (p < 0 || !Has(p, 1, end)) return kBad;
    if (buf_[p] != kStr && buf_[p] != kStrFs) return kBad;
    return Sized(p + 1, end, kMaxStrBytes);
  }

  int64_t Value(int64_t p, int64_t end, int depth) const {
    if (!Has(p, 1, end)) return kBad;
    int64_t q = p + 1;
    switch (buf_[p]) {
      case kNone:
      case kFalse:
      case kTrue:
        return q;
      case kInt:
      case kIntApprox:
      case kFloat:
        return Has(q, 8, end) ? q + 8 : kBad;
      case kStr:
      case kStrFs:
        return Sized(q, end, kMaxStrBytes);
      case kBytes:
      case kBytearray:
        return Sized(q, end, kMaxBytesBytes);
      case kTuple:
      case kList: {
        if (depth >= kMaxNesting || !Has(q, 8, end)) return kBad;
        uint32_t full = U32(q);
        uint32_t n = U32(q + 4);
        if (n > full || n > kMaxContainerItems) return kBad;
        int64_t r = q + 8;
        for (uint32_t i = 0; i < n && r >= 0; i++) r = Value(r, end, depth + 1);
        return r;
      }
      case kCode:
        if (!Has(q, 4, end)) return kBad;
        return Text(Text(q + 4, end), end);
      case kOther: {
        if (!Has(q, 10, end)) return kBad;
        uint32_t n = U16(q + 8);
        return Has(q + 10, n, end) ? q + 10 + n : kBad;
      }
      default:
        return kBad;
    }
  }

  int64_t Decision(int64_t q, int64_t end) const {
    if (!Has(q, kDecisionSize, end)) return kBad;
    uint8_t outcome = buf_[q + 8], action = buf_[q + 9], by = buf_[q + 10];
    if (outcome >= 2 || action >= 3 || by >= 7 || buf_[q + 11] != 0) return kBad;
    bool by_default = U32(q + 12) == kDecisionByDefaultIndex;
    if (by == 0 && by_default) return kBad;
    if (by == 1 && !by_default) return kBad;
    return q + kDecisionSize;
  }

  int64_t Stack(int64_t q, int64_t end) const {
    if (!Has(q, 9, end) || buf_[q] != kTuple) return kBad;
    uint32_t full = U32(q + 1);
    uint32_t n = U32(q + 5);
    if (n > full || n > kMaxContainerItems) return kBad;
    int64_t p = q + 9;
    for (uint32_t i = 0; i < n; i++) {
      if (!Has(p, 9, end)) return kBad;
      if (buf_[p] != kTuple || U32(p + 1) != 4 || U32(p + 5) != 4) return kBad;
      p = Text(Text(p + 9, end), end);
      if (p < 0 || !Has(p, 9, end) || buf_[p] != kInt) return kBad;
      p += 9;
      if (!Has(p, 1, end)) return kBad;
      p = buf_[p] == kNone ? p + 1 : Text(p, end);
      if (p < 0) return kBad;
    }
    return p;
  }

  bool Named(int64_t start, uint32_t length, const char* name) const {
    size_t n = strlen(name);
    return length == n && memcmp(buf_ + start, name, n) == 0;
  }

  // skipRecord: the offset just after the record at p, or kBad.
  int64_t Record(int64_t p) const {
    if (size_ - p < 4) return kBad;
    int64_t length = U32(p);
    if (length < kRecordHeaderSize || length > kMaxRecordSize || length > size_ - p) return kBad;
    int64_t end = p + length;
    uint8_t kind = buf_[p + 4];
    uint32_t name_length = U16(p + 6);
    if (U32(p + 16) > kSafeHighWord) return kBad;
    int64_t name_start = p + kRecordHeaderSize;
    if (!Has(name_start, name_length, end)) return kBad;
    int64_t q = name_start + name_length;
    if (kind == kAudit) {
      if (!Has(q, 1, end) || buf_[q] != kTuple) return kBad;
      q = Value(q, end, 0);
    } else if (kind == kOpenCode) {
      bool native = Named(name_start, name_length, "dlopen");
      if (!native && !Named(name_start, name_length, "io.open_code")) return kBad;
      if (!Has(q, kOpenCodeFixedSize, end)) return kBad;
      uint8_t intent = buf_[q];
      if (intent >= kIntentCount || native != (intent >= kFirstNativeIntent)) return kBad;
      if (buf_[q + 1] > 1 || U32(q + 12) > kSafeHighWord) return kBad;
      q = Text(q + kOpenCodeFixedSize, end);
      if (q < 0 || !Has(q, 4, end)) return kBad;
      int64_t real_length = U32(q);
      if (!Has(q + 4, real_length, end)) return kBad;
      q += 4 + real_length;
    } else if (kind == kDecision) {
      q = Decision(q, end);
      if (q >= 0 && (buf_[p + 5] & kFlagStack) != 0) q = Stack(q, end);
    } else {
      return kBad;
    }
    return q == end ? end : kBad;
  }

  const uint8_t* buf_;
  int64_t size_;
};

}  // namespace

int64_t CountValidRecords(const uint8_t* buf, size_t size) {
  return Checker(buf, int64_t(size)).Count();
}

}  // namespace hookscope
