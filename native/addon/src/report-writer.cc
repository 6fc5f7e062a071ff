#include "report-writer.h"

#include <stdint.h>
#include <string.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hookscope {
namespace {

// The wire format (docs/protocol.md; main/core/protocol/records.ts).
constexpr size_t kHeaderSize = 28;
constexpr size_t kOpenCodeFixedSize = 72;
// Containers nest at most this deep, the argument tuple being level 1:
// the validator rejects deeper ones, and so does this writer.
constexpr int kMaxNesting = 3;
// A high word at most this keeps a 64-bit integer within ±(2^53 − 1).
constexpr uint32_t kSafeHigh = 0x1fffff;
constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;
constexpr uint8_t kFlagArgsTruncated = 1;

enum Kind : uint8_t { kAudit = 1, kOpenCode = 2, kDecision = 3 };
enum Tag : uint8_t {
  kNone = 0,
  kFalse = 1,
  kTrue = 2,
  kInt = 3,
  kIntApprox = 4,
  kFloat = 5,
  kStr = 6,
  kStrFs = 7,
  kBytes = 8,
  kBytearray = 9,
  kTuple = 10,
  kList = 11,
  kCode = 12,
  kOther = 13,
};

const std::string_view kIntents[] = {"unknown", "pythoncode", "bytecode", "zipimport", "nativecode", "ctypes"};
constexpr size_t kIntentCount = sizeof kIntents / sizeof kIntents[0];

// Why writeRecords stopped, as native-report.ts reads it.
enum Reason { kDone = 0, kFallback = 1, kName = 2, kRoom = 3, kSlice = 4, kFlows = 5 };
enum Format { kJson = 0, kCsv = 1, kHtmlRows = 2 };
// An html event row's arguments: formatArgs with strings up to this long
// (html-report.ts's ROW_ARGS_FORMAT).
constexpr double kRowMaxString = 300;

// Output per record byte is at most about 8 (an empty list cut short in
// the json report: 9 bytes, some 70 written), so this bounds a record's
// output before it is written with room to spare; the writes are checked
// all the same.
constexpr size_t kBytesPerRecordByte = 32;
constexpr size_t kRecordOverhead = 512;

// The Perfetto instants' args (perfetto-report.ts's ARGS_FORMAT; bytes
// values, the only ones maxBytesLength cuts, are TypeScript's anyway).
constexpr double kInstantMaxString = 200;
// Below this many ns, micros are written digit by digit (PutMicros).
constexpr int64_t kMaxExactMicrosNs = 1000000000000000;

// Names are whatever the target chose to raise: the table is bounded in
// entries and bytes, and beyond that the TypeScript writer renders anew.
constexpr size_t kMaxNames = 4096;
constexpr size_t kMaxNameTableBytes = 4 << 20;

struct NameTable {
  struct Entry {
    std::string name;
    std::string rendered;
  };
  // Entries own the bytes the index's keys point to.
  std::vector<std::unique_ptr<Entry>> entries;
  std::unordered_map<std::string_view, const Entry*> index;
  size_t bytes = 0;
  // writeRecordsAsync jobs reading the table now (main thread only).
  int busy = 0;
};

const napi_type_tag kNameTableTag = {0x686b735f6e616d65, 0x735f7461626c6531};

// The Perfetto report's code-load slices (perfetto-report.ts's codeSliceOf),
// by what they depend on: the record's name length and its bytes after the
// header. `source` is the caller's index of the file whose exec the slice
// flows to, -1 for none. Bounded like the name table: the bytes are the
// target's.
constexpr size_t kMaxSlices = 65536;
constexpr size_t kMaxSliceTableBytes = 8 << 20;

struct SliceTable {
  struct Entry {
    std::string key;
    std::string head;
    std::string tail;
    int32_t source;
  };
  std::vector<std::unique_ptr<Entry>> entries;
  std::unordered_map<std::string_view, const Entry*> index;
  size_t bytes = 0;
  // Set once SetSlice refused a slice for room: from then on a code load
  // not in the table is left to TypeScript at once, not stopped at.
  bool full = false;
};

const napi_type_tag kSliceTableTag = {0x686b735f736c6963, 0x655f7461626c6531};

// A slice's key for the open-code record at `p` (length `length`) of `src`.
void SliceKey(const uint8_t* src, size_t p, size_t length, std::string& key) {
  key.assign(reinterpret_cast<const char*>(src + p + 6), 2);
  key.append(reinterpret_cast<const char*>(src + p + kHeaderSize), length - kHeaderSize);
}

const char* const kHexDigits = "0123456789abcdef";
const char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// What JsonText does with a byte: copies it, escapes it, or leaves the
// text to TypeScript (not ASCII).
enum JsonByte : uint8_t { kPlain = 0, kEscaped = 1, kNotAscii = 2 };
struct JsonByteTable {
  uint8_t of[256];
  constexpr JsonByteTable() : of() {
    for (int c = 0; c < 256; c++) {
      of[c] = c >= 0x80 ? kNotAscii : c < 0x20 || c == '"' || c == '\\' ? kEscaped : kPlain;
    }
  }
  constexpr uint8_t operator[](uint8_t c) const { return of[c]; }
};
constexpr JsonByteTable kJsonByte;

// What ReprWriter::PutPlain does with a byte: copies it, escapes it for
// JSON ('"'), or stops (not printable ASCII, or a quote or backslash that
// Python's repr would escape).
// Inside a <script> element (the html report's rows), '<' is escaped too.
enum ReprByte : uint8_t { kReprCopy = 0, kReprQuote = 1, kReprStop = 2, kReprLt = 3 };
struct ReprByteTable {
  uint8_t of[256];
  constexpr explicit ReprByteTable(bool script) : of() {
    for (int c = 0; c < 256; c++) {
      of[c] = (c < 0x20 || c > 0x7e || c == '\'' || c == '\\') ? kReprStop
              : c == '"'                                    ? kReprQuote
              : c == '<' && script                          ? kReprLt
                                                            : kReprCopy;
    }
  }
  constexpr uint8_t operator[](uint8_t c) const { return of[c]; }
};
constexpr ReprByteTable kReprByte(false);
constexpr ReprByteTable kReprByteScript(true);

// JSON.stringify's short escapes, by control character (0: none).
char ShortEscape(uint8_t c) {
  switch (c) {
    case 0x08: return 'b';
    case 0x09: return 't';
    case 0x0a: return 'n';
    case 0x0c: return 'f';
    case 0x0d: return 'r';
    default: return 0;
  }
}

// The output buffer. Every write checks the room left; one that does not
// fit is dropped and remembered, so nothing is ever written past the end.
class Out {
 public:
  Out(uint8_t* buf, size_t cap, size_t pos) : buf_(buf), cap_(cap), pos_(pos) {}

  size_t pos() const { return pos_; }
  size_t room() const { return cap_ - pos_; }
  bool overflowed() const { return overflow_; }
  uint8_t* data() { return buf_; }
  void Rewind(size_t pos) { pos_ = pos; }

  bool Reserve(size_t n) {
    if (cap_ - pos_ >= n) return true;
    overflow_ = true;
    return false;
  }
  void Byte(char c) {
    if (Reserve(1)) buf_[pos_++] = static_cast<uint8_t>(c);
  }
  void Put(const void* bytes, size_t n) {
    if (!Reserve(n)) return;
    memcpy(buf_ + pos_, bytes, n);
    pos_ += n;
  }
  void Put(std::string_view s) { Put(s.data(), s.size()); }
  // A byte where Reserve made room for it.
  void Raw(uint8_t c) { buf_[pos_++] = c; }
  // Direct writes where Reserve made room: from cursor(), up to Advance(end).
  uint8_t* cursor() { return buf_ + pos_; }
  void Advance(uint8_t* end) { pos_ = static_cast<size_t>(end - buf_); }
  // '"' once, or twice inside a quoted CSV cell.
  void Quote(int quotes) {
    Byte('"');
    if (quotes == 2) Byte('"');
  }

  void Uint(uint64_t n) {
    // Two digits a step: the divisions are most of the cost.
    char digits[20];
    size_t k = sizeof digits;
    while (n >= 100) {
      const size_t pair = 2 * static_cast<size_t>(n % 100);
      n /= 100;
      digits[--k] = kDigitPairs[pair + 1];
      digits[--k] = kDigitPairs[pair];
    }
    if (n >= 10) {
      digits[--k] = kDigitPairs[2 * n + 1];
      digits[--k] = kDigitPairs[2 * n];
    } else {
      digits[--k] = static_cast<char>('0' + n);
    }
    Put(digits + k, sizeof digits - k);
  }
  void Int(int64_t n) {
    if (n < 0) {
      Byte('-');
      Uint(0 - static_cast<uint64_t>(n));
    } else {
      Uint(static_cast<uint64_t>(n));
    }
  }
  // bigint.toString(16): lowercase, no leading zeros.
  void HexU64(uint64_t n) {
    char digits[16];
    size_t k = sizeof digits;
    do {
      digits[--k] = kHexDigits[n & 15];
      n >>= 4;
    } while (n != 0);
    Put(digits + k, sizeof digits - k);
  }
  void Hex(const uint8_t* bytes, size_t n) {
    if (!Reserve(2 * n)) return;
    for (size_t i = 0; i < n; i++) {
      buf_[pos_++] = static_cast<uint8_t>(kHexDigits[bytes[i] >> 4]);
      buf_[pos_++] = static_cast<uint8_t>(kHexDigits[bytes[i] & 15]);
    }
  }

 private:
  uint8_t* buf_;
  size_t cap_;
  size_t pos_;
  bool overflow_ = false;
};

// How a record (or a value in it) went: written, left to the TypeScript
// writer, or malformed.
enum class Step { kOk, kFallback, kBad };

// The jsonValueText pieces holding '"', written once (json) or twice (csv).
struct Pieces {
  std::string_view str_open, len, bytes_open, bytearray_open, type_open, id, more;
};
const Pieces kPieces1 = {"{\"str\":", ",\"len\":", "{\"bytes\":\"", "{\"bytearray\":\"", "{\"type\":", ",\"id\":\"0x", "{\"more\":"};
const Pieces kPieces2 = {"{\"\"str\"\":", ",\"\"len\"\":", "{\"\"bytes\"\":\"\"", "{\"\"bytearray\"\":\"\"", "{\"\"type\"\":", ",\"\"id\"\":\"\"0x", "{\"\"more\"\":"};

// Writes the records of one payload. Every read is checked against the end
// of the record being written (which is checked against the payload).
class Writer {
 public:
  Writer(const uint8_t* src, Out& out) : src_(src), out_(out) {}

  const char* error() const { return error_; }
  void SetRecordEnd(size_t end) { end_ = end; }

  // plainRecordJson of the record at `p` (writePlainRecord); `name` is the
  // rendered event name.
  Step JsonRecord(size_t p, std::string_view name) {
    const uint8_t kind = src_[p + 4];
    const size_t q = p + kHeaderSize + U16(p + 6);
    out_.Put(kind == kAudit ? std::string_view("{\"kind\":\"audit\",\"seq\":") : std::string_view("{\"kind\":\"open-code\",\"seq\":"));
    out_.Uint(U64(p + 12));
    out_.Put(",\"timeNs\":{\"$bigint\":\"");
    out_.Uint(U64(p + 20));
    out_.Put("\"},\"tid\":");
    out_.Uint(U32(p + 8));
    out_.Put(",\"event\":");
    out_.Put(name);
    out_.Put((src_[p + 5] & kFlagArgsTruncated) != 0 ? std::string_view(",\"argsTruncated\":true") : std::string_view(",\"argsTruncated\":false"));
    size_t r = q;
    if (kind == kAudit) {
      out_.Put(",\"args\":");
      Step step = PlainValue(r, 0);
      if (step != Step::kOk) return step;
      out_.Byte('}');
      return Step::kOk;
    }
    // Open-code: the fixed fields (docs/protocol.md), the path, the real path.
    if (!Need(q, kOpenCodeFixedSize, "open-code fields")) return Step::kBad;
    if (src_[q] >= kIntentCount) return Bad("unknown open-code intent");
    out_.Put(",\"intent\":\"");
    out_.Put(kIntents[src_[q]]);
    const bool ok = src_[q + 1] == 0;
    if (ok) {
      out_.Put("\",\"status\":\"ok\",\"errno\":0,\"size\":");
    } else {
      out_.Put("\",\"status\":\"error\",\"errno\":");
      out_.Uint(U32(q + 4));
      out_.Put(",\"size\":");
    }
    if (U32(q + 12) > kSafeHigh) return Bad("file size exceeds 2^53");
    out_.Uint(U64(q + 8));
    out_.Put(",\"dev\":{\"$bigint\":\"");
    out_.Uint(U64(q + 16));
    out_.Put("\"},\"ino\":{\"$bigint\":\"");
    out_.Uint(U64(q + 24));
    out_.Put("\"},\"mtimeNs\":{\"$bigint\":\"");
    out_.Int(static_cast<int64_t>(U64(q + 32)));
    if (ok) {
      out_.Put("\"},\"sha256\":\"");
      out_.Hex(src_ + q + 40, 32);
      out_.Byte('"');
    } else {
      out_.Put("\"},\"sha256\":null");
    }
    out_.Put(",\"path\":");
    r = q + kOpenCodeFixedSize;
    Step step = PlainValue(r, 0);
    if (step != Step::kOk) return step;
    out_.Put(",\"realPath\":");
    if (!Need(r, 4, "real path length")) return Step::kBad;
    const size_t n = U32(r);
    if (!Need(r + 4, n, "real path")) return Step::kBad;
    if (!JsonText(r + 4, n, 1)) return Step::kFallback;
    out_.Byte('}');
    return Step::kOk;
  }

  // csvRow of the record at `p` (writeCsvRow), for an audit record or a
  // successful open of a str path (the caller sends the rest to TypeScript);
  // `name` is the rendered event and category cells.
  Step CsvRow(size_t p, std::string_view name, std::string_view owner) {
    const uint8_t kind = src_[p + 4];
    const size_t q = p + kHeaderSize + U16(p + 6);
    out_.Put(kind == kAudit ? std::string_view("audit") : std::string_view("open-code"));
    out_.Put(owner);
    out_.Uint(U32(p + 8));
    out_.Byte(',');
    out_.Uint(U64(p + 12));
    out_.Byte(',');
    out_.Uint(U64(p + 20));
    out_.Byte(',');
    out_.Put(name);
    out_.Byte(',');
    if (kind == kOpenCode) return CsvOpenCode(q);
    // The args cell starts with '[' (never a formula) and is quoted when it
    // holds a quote, a comma or a line break: a place is kept for the
    // opening quote, dropped when not needed.
    const size_t quote_at = out_.pos();
    out_.Byte('"');
    size_t r = q;
    Step step = JsonValue(r, 0, 2);
    if (step != Step::kOk) return step;
    if (out_.overflowed()) return Step::kOk;  // the caller reports it
    uint8_t* b = out_.data();
    bool quoted = false;
    for (size_t i = quote_at + 1; i < out_.pos(); i++) {
      const uint8_t c = b[i];
      if (c == '"' || c == ',' || c == '\r' || c == '\n') {
        quoted = true;
        break;
      }
    }
    if (quoted) {
      out_.Byte('"');
    } else {
      memmove(b + quote_at, b + quote_at + 1, out_.pos() - quote_at - 1);
      out_.Rewind(out_.pos() - 1);
    }
    out_.Put(",,,,,,,,,,,,,\r\n");
    return Step::kOk;
  }

 private:
  Step Bad(const char* why) {
    if (error_ == nullptr) error_ = why;
    return Step::kBad;
  }
  bool Need(size_t p, size_t n, const char* what) {
    if (p <= end_ && end_ - p >= n) return true;
    Bad(what);
    return false;
  }
  uint32_t U16(size_t p) const { return src_[p] | (uint32_t{src_[p + 1]} << 8); }
  uint32_t U32(size_t p) const {
    return src_[p] | (uint32_t{src_[p + 1]} << 8) | (uint32_t{src_[p + 2]} << 16) | (uint32_t{src_[p + 3]} << 24);
  }
  uint64_t U64(size_t p) const { return U32(p) | (uint64_t{U32(p + 4)} << 32); }

  // jsonString of the ASCII text src[start, start + n), each '"' written
  // `quotes` times; false (nothing to keep) when the text is not ASCII.
  bool JsonText(size_t start, size_t n, int quotes) {
    const uint8_t* s = src_ + start;
    if (!out_.Reserve(6 * n + 4)) return true;
    uint8_t* o = out_.cursor();
    *o++ = '"';
    if (quotes == 2) *o++ = '"';
    size_t i = 0;
    while (i < n) {
      // A run that is copied as it is, then the one byte that ends it.
      size_t run = i;
      while (run < n && kJsonByte[s[run]] == kPlain) run++;
      memcpy(o, s + i, run - i);
      o += run - i;
      if (run == n) break;
      const uint8_t c = s[run];
      i = run + 1;
      if (kJsonByte[c] == kNotAscii) return false;
      *o++ = '\\';
      if (c == '"') {
        *o++ = '"';
        if (quotes == 2) *o++ = '"';
      } else if (c == '\\') {
        *o++ = '\\';
      } else if (ShortEscape(c) != 0) {
        *o++ = static_cast<uint8_t>(ShortEscape(c));
      } else {
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = static_cast<uint8_t>(kHexDigits[c >> 4]);
        *o++ = static_cast<uint8_t>(kHexDigits[c & 15]);
      }
    }
    *o++ = '"';
    if (quotes == 2) *o++ = '"';
    out_.Advance(o);
    return true;
  }

  // csvText of the ASCII text src[start, start + n): a leading quote before
  // what a spreadsheet would run as a formula, RFC 4180 quoting when it
  // holds a quote, a comma or a line break; false when not ASCII.
  bool CsvText(size_t start, size_t n) {
    const uint8_t* s = src_ + start;
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
      const uint8_t c = s[i];
      if (c >= 0x80) return false;
      if (c == '"' || c == ',' || c == '\r' || c == '\n') quoted = true;
    }
    const int first = n > 0 ? s[0] : -1;
    const bool formula = first == '=' || first == '+' || first == '-' || first == '@' || first == '\t' || first == '\r';
    if (!out_.Reserve(2 * n + 3)) return true;
    if (quoted) out_.Raw('"');
    if (formula) out_.Raw('\'');
    for (size_t i = 0; i < n; i++) {
      out_.Raw(s[i]);
      if (s[i] == '"') out_.Raw('"');
    }
    if (quoted) out_.Raw('"');
    return true;
  }

  // plainValueJson of the value at `p` (writePlainValue); moves `p` past it.
  // Version 2 of the report: None, bools, ints within 2^53, whole strs and
  // whole tuples are bare JSON; the rest are tagged objects.
  Step PlainValue(size_t& p, int depth) {
    if (!Need(p, 1, "value tag")) return Step::kBad;
    const uint8_t tag = src_[p];
    const size_t q = p + 1;
    switch (tag) {
      case kNone:
        out_.Put("null");
        p = q;
        return Step::kOk;
      case kTrue:
        out_.Put("true");
        p = q;
        return Step::kOk;
      case kFalse:
        out_.Put("false");
        p = q;
        return Step::kOk;
      case kInt: {
        if (!Need(q, 8, "number value")) return Step::kBad;
        const int64_t v = static_cast<int64_t>(U64(q));
        const bool safe = v >= -kMaxSafe && v <= kMaxSafe;
        if (!safe) out_.Put("{\"type\":\"int\",\"value\":{\"$bigint\":\"");
        out_.Int(v);
        if (!safe) out_.Put("\"}}");
        p = q + 8;
        return Step::kOk;
      }
      case kStr: {
        if (!Need(q, 8, "str header")) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        if (!Need(q + 8, n, "str bytes")) return Step::kBad;
        // Non-ASCII text goes to TypeScript (JsonText), which decides
        // whether it decodes to exactly its bytes, as the bare form needs.
        if (n == full) {
          if (!JsonText(q + 8, n, 1)) return Step::kFallback;
          p = q + 8 + n;
          return Step::kOk;
        }
        out_.Put("{\"type\":\"str\",\"text\":");
        if (!JsonText(q + 8, n, 1)) return Step::kFallback;
        out_.Put(",\"fullLength\":");
        out_.Uint(full);
        out_.Put(",\"truncated\":true}");
        p = q + 8 + n;
        return Step::kOk;
      }
      case kTuple:
      case kList: {
        if (depth >= kMaxNesting) return Bad("containers nested deeper than 3 levels");
        if (!Need(q, 8, "container header")) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        const bool bare = tag == kTuple && n == full;
        if (bare) {
          out_.Byte('[');
        } else {
          out_.Put(tag == kTuple ? std::string_view("{\"type\":\"tuple\",\"items\":[") : std::string_view("{\"type\":\"list\",\"items\":["));
        }
        size_t r = q + 8;
        for (uint32_t i = 0; i < n; i++) {
          if (i > 0) out_.Byte(',');
          Step step = PlainValue(r, depth + 1);
          if (step != Step::kOk) return step;
        }
        if (bare) {
          out_.Byte(']');
        } else {
          out_.Put("],\"fullCount\":");
          out_.Uint(full);
          out_.Put(n < full ? std::string_view(",\"truncated\":true}") : std::string_view(",\"truncated\":false}"));
        }
        p = r;
        return Step::kOk;
      }
      case kOther: {
        if (!Need(q, 10, "object id and type name length")) return Step::kBad;
        const uint32_t n = U16(q + 8);
        if (!Need(q + 10, n, "type name")) return Step::kBad;
        out_.Put("{\"type\":\"other\",\"id\":{\"$bigint\":\"");
        out_.Uint(U64(q));
        out_.Put("\"},\"typeName\":");
        if (!JsonText(q + 10, n, 1)) return Step::kFallback;
        out_.Byte('}');
        p = q + 10 + n;
        return Step::kOk;
      }
      case kIntApprox:
      case kFloat:
      case kStrFs:
      case kBytes:
      case kBytearray:
      case kCode:
        // Floats, big ints, str_fs, bytes, code objects: the string writer.
        return Step::kFallback;
      default:
        return Bad("unknown value tag");
    }
  }

  // jsonValueText(value, quote) of the value at `p` (writeJsonValue), with
  // '"' written `quotes` times; moves `p` past it.
  Step JsonValue(size_t& p, int depth, int quotes) {
    if (!Need(p, 1, "value tag")) return Step::kBad;
    const Pieces& k = quotes == 1 ? kPieces1 : kPieces2;
    const uint8_t tag = src_[p];
    const size_t q = p + 1;
    switch (tag) {
      case kNone:
        out_.Put("null");
        p = q;
        return Step::kOk;
      case kTrue:
        out_.Put("true");
        p = q;
        return Step::kOk;
      case kFalse:
        out_.Put("false");
        p = q;
        return Step::kOk;
      case kInt: {
        if (!Need(q, 8, "number value")) return Step::kBad;
        // A number while exact; beyond, its decimal as a string (toJsonValue).
        const int64_t n = static_cast<int64_t>(U64(q));
        const bool exact = n >= -kMaxSafe && n <= kMaxSafe;
        if (!exact) out_.Quote(quotes);
        out_.Int(n);
        if (!exact) out_.Quote(quotes);
        p = q + 8;
        return Step::kOk;
      }
      case kStr: {
        if (!Need(q, 8, "str header")) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        if (!Need(q + 8, n, "str bytes")) return Step::kBad;
        if (n < full) out_.Put(k.str_open);
        if (!JsonText(q + 8, n, quotes)) return Step::kFallback;
        if (n < full) {
          out_.Put(k.len);
          out_.Uint(full);
          out_.Byte('}');
        }
        p = q + 8 + n;
        return Step::kOk;
      }
      case kBytes:
      case kBytearray: {
        if (!Need(q, 8, "bytes header")) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        if (!Need(q + 8, n, "bytes")) return Step::kBad;
        out_.Put(tag == kBytes ? k.bytes_open : k.bytearray_open);
        out_.Hex(src_ + q + 8, n);
        out_.Quote(quotes);
        out_.Put(k.len);
        out_.Uint(full);
        out_.Byte('}');
        p = q + 8 + n;
        return Step::kOk;
      }
      case kTuple:
      case kList: {
        if (depth >= kMaxNesting) return Bad("containers nested deeper than 3 levels");
        if (!Need(q, 8, "container header")) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        out_.Byte('[');
        size_t r = q + 8;
        for (uint32_t i = 0; i < n; i++) {
          if (i > 0) out_.Byte(',');
          Step step = JsonValue(r, depth + 1, quotes);
          if (step != Step::kOk) return step;
        }
        if (n < full) {
          if (n > 0) out_.Byte(',');
          out_.Put(k.more);
          out_.Uint(full - n);
          out_.Byte('}');
        }
        out_.Byte(']');
        p = r;
        return Step::kOk;
      }
      case kOther: {
        if (!Need(q, 10, "object id and type name length")) return Step::kBad;
        const uint32_t n = U16(q + 8);
        if (!Need(q + 10, n, "type name")) return Step::kBad;
        out_.Put(k.type_open);
        if (!JsonText(q + 10, n, quotes)) return Step::kFallback;
        out_.Put(k.id);
        out_.HexU64(U64(q));
        out_.Quote(quotes);
        out_.Byte('}');
        p = q + 10 + n;
        return Step::kOk;
      }
      case kIntApprox:
      case kFloat:
      case kStrFs:
      case kCode:
        // Floats, big ints, str_fs, code objects: the string writer.
        return Step::kFallback;
      default:
        return Bad("unknown value tag");
    }
  }

  // The cells of an open-code row from `path` on (`q`: the fixed fields),
  // for a file opened and hashed whose path is a str (writeCsvOpenCode).
  Step CsvOpenCode(size_t q) {
    if (!Need(q, kOpenCodeFixedSize + 9, "open-code fields")) return Step::kBad;
    // path: the path's JSON in brackets; it holds quotes, so it is always
    // quoted, its quotes doubled.
    out_.Byte('"');
    out_.Byte('[');
    size_t r = q + kOpenCodeFixedSize;
    Step step = JsonValue(r, 0, 2);
    if (step != Step::kOk) return step;
    out_.Byte(']');
    out_.Byte('"');
    out_.Byte(',');
    // JsonValue checked the path's bytes against the record.
    const size_t text_start = q + kOpenCodeFixedSize + 9;
    if (!CsvText(text_start, U32(q + kOpenCodeFixedSize + 5))) return Step::kFallback;
    out_.Byte(',');
    if (!Need(r, 4, "real path length")) return Step::kBad;
    const size_t n = U32(r);
    if (!Need(r + 4, n, "real path")) return Step::kBad;
    if (!CsvText(r + 4, n)) return Step::kFallback;
    out_.Byte(',');
    if (U32(q + 12) > kSafeHigh) return Bad("file size exceeds 2^53");
    out_.Uint(U64(q + 8));
    out_.Byte(',');
    out_.Hex(src_ + q + 40, 32);
    out_.Byte(',');
    if (src_[q] >= kIntentCount) return Bad("unknown open-code intent");
    out_.Put(kIntents[src_[q]]);
    out_.Byte(',');
    out_.Put(",,,,,,,\r\n");
    return Step::kOk;
  }

  const uint8_t* src_;
  Out& out_;
  size_t end_ = 0;
  const char* error_ = nullptr;
};

// formatArgs(value, options) of a value (report-text.ts), written as the
// inside of a JSON string: writeReprJson's bytes (report-bytes.ts). Reads
// are checked against the end of the record.
class ReprWriter {
 public:
  // `script`: the string sits inside a <script> element ('<' escaped).
  ReprWriter(const uint8_t* src, size_t end, Out& out, double max_string, bool script = false)
      : src_(src), end_(end), out_(out), max_string_(max_string), table_(script ? kReprByteScript : kReprByte) {}

  const char* error() const { return error_; }

  // Moves `p` past the value.
  Step Repr(size_t& p, int depth) {
    if (!Need(p, 1)) return Step::kBad;
    const uint8_t tag = src_[p];
    const size_t q = p + 1;
    switch (tag) {
      case kNone:
        out_.Put("None");
        p = q;
        return Step::kOk;
      case kTrue:
        out_.Put("True");
        p = q;
        return Step::kOk;
      case kFalse:
        out_.Put("False");
        p = q;
        return Step::kOk;
      case kInt:
        if (!Need(q, 8)) return Step::kBad;
        out_.Int(static_cast<int64_t>(U64(q)));
        p = q + 8;
        return Step::kOk;
      case kStr: {
        if (!Need(q, 8)) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        if (!Need(q + 8, n)) return Step::kBad;
        // Plain ASCII: one character a byte, so n is its length.
        if (n != full || static_cast<double>(n) > max_string_) return Step::kFallback;
        out_.Byte('\'');
        if (!PutPlain(q + 8, n)) return Step::kFallback;
        out_.Byte('\'');
        p = q + 8 + n;
        return Step::kOk;
      }
      case kOther: {
        if (!Need(q, 10)) return Step::kBad;
        const uint32_t n = U16(q + 8);
        if (!Need(q + 10, n)) return Step::kBad;
        if (&table_ == &kReprByteScript) {
          out_.Put("\\u003c");
        } else {
          out_.Byte('<');
        }
        if (!PutPlain(q + 10, n)) return Step::kFallback;
        out_.Put(" object at 0x");
        out_.HexU64(U64(q));
        out_.Byte('>');
        p = q + 10 + n;
        return Step::kOk;
      }
      case kTuple:
      case kList: {
        if (depth >= kMaxNesting) return Bad("containers nested deeper than 3 levels");
        if (!Need(q, 8)) return Step::kBad;
        const uint32_t full = U32(q);
        const uint32_t n = U32(q + 4);
        out_.Byte(tag == kList ? '[' : '(');
        size_t r = q + 8;
        for (uint32_t i = 0; i < n; i++) {
          if (i > 0) out_.Put(", ");
          Step step = Repr(r, depth + 1);
          if (step != Step::kOk) return step;
        }
        if (n < full) {
          if (n > 0) out_.Put(", ");
          out_.Put("\xe2\x80\xa6(");  // "…(" in UTF-8
          out_.Uint(full);
          out_.Put(" items)");
        } else if (n == 1 && tag == kTuple) {
          out_.Byte(',');
        }
        out_.Byte(tag == kList ? ']' : ')');
        p = r;
        return Step::kOk;
      }
      case kIntApprox:
      case kFloat:
      case kStrFs:
      case kBytes:
      case kBytearray:
      case kCode:
        return Step::kFallback;
      default:
        return Bad("unknown value tag");
    }
  }

 private:
  Step Bad(const char* why) {
    if (error_ == nullptr) error_ = why;
    return Step::kBad;
  }
  bool Need(size_t p, size_t n) {
    if (p <= end_ && end_ - p >= n) return true;
    Bad("value runs past the end of its record");
    return false;
  }
  uint32_t U16(size_t p) const { return src_[p] | (uint32_t{src_[p + 1]} << 8); }
  uint32_t U32(size_t p) const {
    return src_[p] | (uint32_t{src_[p + 1]} << 8) | (uint32_t{src_[p + 2]} << 16) | (uint32_t{src_[p + 3]} << 24);
  }
  uint64_t U64(size_t p) const { return U32(p) | (uint64_t{U32(p + 4)} << 32); }

  // Printable ASCII without a quote or a backslash, whose repr is the
  // text between single quotes, written escaped for a JSON string ('"'
  // is allowed: it is escaped). False when the text is not that: the
  // caller leaves the record to TypeScript and takes back what was
  // written. Runs of plain bytes are copied whole.
  bool PutPlain(size_t start, size_t n) {
    // '<' takes six bytes in a script, '"' two.
    if (!out_.Reserve((&table_ == &kReprByteScript ? 6 : 2) * n)) return true;  // the caller sees the overflow
    const ReprByteTable& table = table_;
    const uint8_t* s = src_ + start;
    uint8_t* o = out_.cursor();
    size_t i = 0;
    while (i < n) {
      size_t run = i;
      while (run < n && table[s[run]] == kReprCopy) run++;
      memcpy(o, s + i, run - i);
      o += run - i;
      if (run == n) break;
      const uint8_t what = table[s[run]];
      if (what == kReprStop) return false;
      if (what == kReprQuote) {
        *o++ = '\\';
        *o++ = '"';
      } else {
        memcpy(o, "\\u003c", 6);
        o += 6;
      }
      i = run + 1;
    }
    out_.Advance(o);
    return true;
  }

  const uint8_t* src_;
  size_t end_;
  Out& out_;
  double max_string_;
  const ReprByteTable& table_;
  const char* error_ = nullptr;
};

// String(ns / 1000) for an integer ns in [0, 10^15) (ByteOut.micros in
// report-bytes.ts): the whole microseconds, then up to three decimals
// without trailing zeros. Up to 15 significant digits, the shortest
// round-trip form of the double is exactly this decimal.
void PutMicros(Out& out, uint64_t ns) {
  out.Uint(ns / 1000);
  uint32_t fraction = static_cast<uint32_t>(ns % 1000);
  if (fraction == 0) return;
  char digits[4] = {'.', static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                    static_cast<char>('0' + fraction % 10)};
  size_t n = 4;
  while (digits[n - 1] == '0') n--;
  out.Put(digits, n);
}

uint32_t ReadU16(const uint8_t* s) { return s[0] | (uint32_t{s[1]} << 8); }
uint32_t ReadU32(const uint8_t* s) {
  return s[0] | (uint32_t{s[1]} << 8) | (uint32_t{s[2]} << 16) | (uint32_t{s[3]} << 24);
}

// The time of the record at `p` since `origin`, in ns, when the native
// writer writes it: false for times TypeScript writes with String(ns / 1000)
// (before the origin, 10^15 ns after it) or in bigints (past 2^53).
bool InstantNs(const uint8_t* src, size_t p, int64_t origin, int64_t& ns) {
  const uint32_t high = ReadU32(src + p + 24);
  if (high > kSafeHigh) return false;
  ns = static_cast<int64_t>(ReadU32(src + p + 20) | (uint64_t{high} << 32)) - origin;
  return ns >= 0 && ns < kMaxExactMicrosNs;
}

// A typed-array argument read with one napi_get_typedarray_info call: the
// wrappers' IsTypedArray, TypedArrayType, As and Data make several each,
// most of the cost of a call, and a report calls the writers again after
// each record they leave to TypeScript.
struct ArrayArg {
  bool ok = false;
  size_t length = 0;
  uint8_t* data = nullptr;
};

ArrayArg ArrayArgOf(const Napi::Value& value, napi_typedarray_type want) {
  ArrayArg arg;
  napi_typedarray_type type;
  void* data = nullptr;
  napi_value buffer;
  size_t offset;
  // Not a typed array: napi_invalid_arg, and nothing thrown.
  if (napi_get_typedarray_info(value.Env(), value, &type, &arg.length, &data, &buffer, &offset) != napi_ok ||
      type != want) {
    return ArrayArg();
  }
  // A zero-length (or detached) array may have no data at all.
  static uint8_t empty;
  arg.data = data != nullptr ? static_cast<uint8_t*>(data) : &empty;
  if (data == nullptr) arg.length = 0;
  arg.ok = true;
  return arg;
}

bool IsBytes(const Napi::Value& value) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

// The table behind a newNameTable() value, or null (and a TypeError thrown).
NameTable* TableOf(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<NameTable>>().CheckTypeTag(&kNameTableTag)) {
    Napi::TypeError::New(value.Env(), "not a name table (newNameTable())").ThrowAsJavaScriptException();
    return nullptr;
  }
  return value.As<Napi::External<NameTable>>().Data();
}

// The table behind a newSliceTable() value, or null (and a TypeError thrown).
SliceTable* SliceTableOf(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<SliceTable>>().CheckTypeTag(&kSliceTableTag)) {
    Napi::TypeError::New(value.Env(), "not a slice table (newSliceTable())").ThrowAsJavaScriptException();
    return nullptr;
  }
  return value.As<Napi::External<SliceTable>>().Data();
}

std::string_view View(const Napi::Uint8Array& bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.Data()), bytes.ElementLength());
}

}  // namespace

Napi::Value NewNameTable(const Napi::CallbackInfo& info) {
  Napi::External<NameTable> table =
      Napi::External<NameTable>::New(info.Env(), new NameTable(), [](Napi::Env, NameTable* t) { delete t; });
  table.TypeTag(&kNameTableTag);
  return table;
}

Napi::Value NewSliceTable(const Napi::CallbackInfo& info) {
  Napi::External<SliceTable> table =
      Napi::External<SliceTable>::New(info.Env(), new SliceTable(), [](Napi::Env, SliceTable* t) { delete t; });
  table.TypeTag(&kSliceTableTag);
  return table;
}

Napi::Value SetSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "setSlice(table, src, offset, head, tail, source)";
  const ArrayArg src = info.Length() >= 6 ? ArrayArgOf(info[1], napi_uint8_array) : ArrayArg();
  const ArrayArg head = info.Length() >= 6 ? ArrayArgOf(info[3], napi_uint8_array) : ArrayArg();
  const ArrayArg tail = info.Length() >= 6 ? ArrayArgOf(info[4], napi_uint8_array) : ArrayArg();
  if (!src.ok || !info[2].IsNumber() || !head.ok || !tail.ok || !info[5].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  SliceTable* table = SliceTableOf(info[0]);
  if (table == nullptr) return env.Undefined();
  const double offset = info[2].As<Napi::Number>().DoubleValue();
  const double source = info[5].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0 && offset <= static_cast<double>(src.length) && offset == static_cast<double>(static_cast<size_t>(offset))) ||
      !(source >= -1 && source < 2147483647 && source == static_cast<double>(static_cast<int32_t>(source)))) {
    Napi::RangeError::New(env, "setSlice: offset or source out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t p = static_cast<size_t>(offset);
  if (src.length - p < kHeaderSize || ReadU32(src.data + p) < kHeaderSize || ReadU32(src.data + p) > src.length - p ||
      src.data[p + 4] != kOpenCode) {
    Napi::RangeError::New(env, "setSlice: no open-code record at that offset").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string key;
  SliceKey(src.data, p, ReadU32(src.data + p), key);
  if (table->index.count(key) != 0) return Napi::Boolean::New(env, true);
  const size_t bytes = key.size() + head.length + tail.length;
  if (table->entries.size() >= kMaxSlices || bytes > kMaxSliceTableBytes - table->bytes) {
    table->full = true;
    return Napi::Boolean::New(env, false);
  }
  if (table->index.bucket_count() > 0 && table->index.bucket_size(table->index.bucket(key)) >= 8) {
    return Napi::Boolean::New(env, false);
  }
  auto entry = std::make_unique<SliceTable::Entry>();
  entry->key = std::move(key);
  entry->head.assign(reinterpret_cast<const char*>(head.data), head.length);
  entry->tail.assign(reinterpret_cast<const char*>(tail.data), tail.length);
  entry->source = static_cast<int32_t>(source);
  table->index.emplace(std::string_view(entry->key), entry.get());
  table->entries.push_back(std::move(entry));
  table->bytes += bytes;
  return Napi::Boolean::New(env, true);
}

Napi::Value SetName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !IsBytes(info[1]) || !IsBytes(info[2])) {
    Napi::TypeError::New(env, "setName(table, nameBytes, rendered)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NameTable* table = TableOf(info[0]);
  if (table == nullptr) return env.Undefined();
  if (table->busy > 0) {
    Napi::Error::New(env, "setName: a writeRecordsAsync job is reading this table").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string_view name = View(info[1].As<Napi::Uint8Array>());
  std::string_view rendered = View(info[2].As<Napi::Uint8Array>());
  if (table->index.count(name) != 0) return Napi::Boolean::New(env, true);
  const size_t bytes = name.size() + rendered.size();
  if (table->entries.size() >= kMaxNames || bytes > kMaxNameTableBytes - table->bytes) {
    return Napi::Boolean::New(env, false);
  }
  // A few names per bucket at most: names crafted to share a hash must not
  // make every record's lookup walk a long chain.
  if (table->index.bucket_count() > 0 && table->index.bucket_size(table->index.bucket(name)) >= 8) {
    return Napi::Boolean::New(env, false);
  }
  auto entry = std::make_unique<NameTable::Entry>();
  entry->name.assign(name);
  entry->rendered.assign(rendered);
  table->index.emplace(std::string_view(entry->name), entry.get());
  table->entries.push_back(std::move(entry));
  table->bytes += bytes;
  return Napi::Boolean::New(env, true);
}

namespace {

// What one writeRecords call works on, read from its arguments on the main
// thread; the async form keeps references to the arrays so they outlive the
// job.
struct RecordsJob {
  int32_t format = kJson;
  const uint8_t* src = nullptr;
  size_t src_length = 0;
  const int32_t* offsets = nullptr;
  size_t count = 0;
  size_t from = 0;
  uint8_t* out = nullptr;
  size_t out_length = 0;
  size_t out_pos = 0;
  NameTable* table = nullptr;
  std::string_view owner;
  double* state = nullptr;
  // Html rows: the process's start (state[3]).
  int64_t row_start = -1;
  // Html rows, optional: the arguments of code-load rows, made by
  // TypeScript as whole JSON strings, row i's at texts[text_at[2i],
  // text_at[2i + 1]) (-1: none; the row is then TypeScript's).
  const uint8_t* texts = nullptr;
  size_t texts_length = 0;
  const int32_t* text_at = nullptr;
};

// html-report.ts's writeEventRow of the audit record at `p`, the time
// since the process's start (`start`, -1: none) as milliseconds: `name` is
// the event's rendered name, `pid` the process's pid as JSON. Left to
// TypeScript: times it writes with bigints (past 2^53, before the start,
// a start past 2^53) or past 10^15 µs, and values the repr leaves.
//
// With `args` (a code load's row), the arguments are those bytes, a JSON
// string TypeScript made, instead of the record's values.
Step HtmlRow(const uint8_t* src, size_t p, size_t end, std::string_view name, std::string_view pid, int64_t start,
             const std::string_view* args, Out& out, const char*& error) {
  out.Byte('[');
  out.Put(pid);
  out.Byte(',');
  out.Uint(ReadU32(src + p + 8));
  out.Byte(',');
  if (start == -1) {
    out.Put("null");
  } else {
    const uint32_t high = ReadU32(src + p + 24);
    if (start < 0 || high > kSafeHigh) return Step::kFallback;
    const int64_t t = static_cast<int64_t>(ReadU32(src + p + 20) | (uint64_t{high} << 32));
    if (t < start) return Step::kFallback;
    // Whole microseconds, then as milliseconds: String(µs / 1000).
    const uint64_t micros = static_cast<uint64_t>(t - start) / 1000;
    if (micros >= static_cast<uint64_t>(kMaxExactMicrosNs)) return Step::kFallback;
    PutMicros(out, micros);
  }
  out.Byte(',');
  out.Put(name);
  if (args != nullptr) {
    out.Byte(',');
    out.Put(*args);
    out.Byte(']');
    return Step::kOk;
  }
  out.Put(",\"");
  ReprWriter writer(src, end, out, kRowMaxString, true);
  size_t r = p + kHeaderSize + ReadU16(src + p + 6);
  const Step step = writer.Repr(r, 0);
  if (step == Step::kBad) error = writer.error();
  if (step != Step::kOk) return step;
  out.Put("\"]");
  return Step::kOk;
}

// Reads writeRecords' arguments into `job`; false with a JavaScript
// exception pending when they are wrong.
bool RecordsJobOf(const Napi::CallbackInfo& info, const char* name, RecordsJob& job) {
  Napi::Env env = info.Env();
  const std::string usage = std::string(name) + "(format, src, offsets, from, out, outPos, table, owner, state)";
  if (info.Length() < 9) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  const ArrayArg src_array = ArrayArgOf(info[1], napi_uint8_array);
  const ArrayArg offsets_array = ArrayArgOf(info[2], napi_int32_array);
  const ArrayArg out_array = ArrayArgOf(info[4], napi_uint8_array);
  const ArrayArg owner_array = ArrayArgOf(info[7], napi_uint8_array);
  const ArrayArg state_array = ArrayArgOf(info[8], napi_float64_array);
  if (!info[0].IsNumber() || !src_array.ok || !offsets_array.ok || !info[3].IsNumber() || !out_array.ok ||
      !info[5].IsNumber() || !owner_array.ok || !state_array.ok || state_array.length < 3) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  job.format = info[0].As<Napi::Number>().Int32Value();
  if ((job.format != kJson && job.format != kCsv && job.format != kHtmlRows) ||
      (job.format == kHtmlRows && state_array.length < 4)) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  job.table = TableOf(info[6]);
  if (job.table == nullptr) return false;
  const double from = info[3].As<Napi::Number>().DoubleValue();
  const double out_pos = info[5].As<Napi::Number>().DoubleValue();
  job.count = offsets_array.length;
  if (!(from >= 0 && from <= static_cast<double>(job.count)) ||
      !(out_pos >= 0 && out_pos <= static_cast<double>(out_array.length))) {
    Napi::RangeError::New(env, std::string(name) + ": record index or output position out of range")
        .ThrowAsJavaScriptException();
    return false;
  }
  job.src = src_array.data;
  job.src_length = src_array.length;
  job.offsets = reinterpret_cast<const int32_t*>(offsets_array.data);
  job.from = static_cast<size_t>(from);
  job.out = out_array.data;
  job.out_length = out_array.length;
  job.out_pos = static_cast<size_t>(out_pos);
  job.owner = std::string_view(reinterpret_cast<const char*>(owner_array.data), owner_array.length);
  job.state = reinterpret_cast<double*>(state_array.data);
  if (job.format == kHtmlRows) {
    // state[3]: the process's start in ns (an integer below 2^53), -1 for
    // no process (the row's time is null), -2 for a start past 2^53.
    const double start = job.state[3];
    if (!(start >= -2 && start <= static_cast<double>(kMaxSafe) && start == static_cast<double>(static_cast<int64_t>(start)))) {
      Napi::RangeError::New(env, std::string(name) + ": state[3] is not a process start").ThrowAsJavaScriptException();
      return false;
    }
    job.row_start = static_cast<int64_t>(start);
    // texts and textAt: code-load rows' arguments (RecordsJob).
    if (info.Length() >= 10 && !info[9].IsUndefined()) {
      const ArrayArg texts = ArrayArgOf(info[9], napi_uint8_array);
      const ArrayArg text_at =
          info.Length() >= 11 ? ArrayArgOf(info[10], napi_int32_array) : ArrayArg{};
      if (!texts.ok || !text_at.ok || text_at.length < 2 * job.count) {
        Napi::TypeError::New(env, std::string(name) + ": texts must be bytes and textAt two int32 a record")
            .ThrowAsJavaScriptException();
        return false;
      }
      job.texts = texts.data;
      job.texts_length = texts.length;
      job.text_at = reinterpret_cast<const int32_t*>(text_at.data);
    }
  }
  return true;
}

// How a writeRecords job ended: a stop reason (state filled in), or an
// error to throw, and whether that error is a RangeError.
struct RecordsOutcome {
  Reason reason = kDone;
  std::string error;
  bool range_error = false;
};

// The records of a job into its output. Touches no JavaScript value: the
// async form runs it on a worker thread.
RecordsOutcome RunRecordsJob(const RecordsJob& job) {
  RecordsOutcome outcome;
  const uint8_t* src = job.src;
  const size_t src_length = job.src_length;
  const NameTable* table = job.table;
  Out out(job.out, job.out_length, job.out_pos);
  Writer writer(src, out);
  size_t need = 0;
  size_t i = job.from;
  for (; i < job.count; i++) {
    const int32_t offset = job.offsets[i];
    if (offset < 0 || static_cast<size_t>(offset) > src_length || src_length - offset < kHeaderSize) {
      outcome.error = "writeRecords: record offset " + std::to_string(offset) + " out of range";
      outcome.range_error = true;
      return outcome;
    }
    const size_t p = static_cast<size_t>(offset);
    const size_t length = ReadU32(src + p);
    const size_t name_length = ReadU16(src + p + 6);
    const uint8_t kind = src[p + 4];
    const char* malformed = nullptr;
    if (length < kHeaderSize || length > src_length - p) {
      malformed = "record length runs past the end of the payload";
    } else if (name_length > length - kHeaderSize) {
      malformed = "event name runs past the end of the record";
    } else if (kind != kAudit && kind != kOpenCode && kind != kDecision) {
      malformed = "unknown record kind";
    } else if (ReadU32(src + p + 16) > kSafeHigh) {
      malformed = "sequence number exceeds 2^53";
    }
    if (malformed != nullptr) {
      outcome.error = std::string("malformed record data: ") + malformed + " (record at offset " + std::to_string(p) + ")";
      return outcome;
    }
    // Decisions, and csv rows of failed opens or paths not in UTF-8: the
    // TypeScript writer, without a look at the name.
    if (kind == kDecision) {
      outcome.reason = kFallback;
      break;
    }
    // An html row of a code load: its arguments are text TypeScript made
    // from the record's fields, given in texts, or the row is TypeScript's.
    std::string_view code_args;
    if (job.format == kHtmlRows && kind != kAudit) {
      const int32_t from = job.text_at != nullptr ? job.text_at[2 * i] : -1;
      const int32_t to = job.text_at != nullptr ? job.text_at[2 * i + 1] : -1;
      if (from < 0) {
        outcome.reason = kFallback;
        break;
      }
      if (to < from || static_cast<size_t>(to) > job.texts_length) {
        outcome.error = "writeRecords: textAt of row " + std::to_string(i) + " is out of range";
        outcome.range_error = true;
        return outcome;
      }
      code_args = std::string_view(reinterpret_cast<const char*>(job.texts + from), static_cast<size_t>(to - from));
    }
    if (job.format == kCsv && kind == kOpenCode) {
      const size_t q = p + kHeaderSize + name_length;
      if (length - kHeaderSize - name_length > kOpenCodeFixedSize && (src[q + 1] != 0 || src[q + kOpenCodeFixedSize] != kStr)) {
        outcome.reason = kFallback;
        break;
      }
    }
    auto found = table->index.find(std::string_view(reinterpret_cast<const char*>(src + p + kHeaderSize), name_length));
    if (found == table->index.end()) {
      outcome.reason = kName;
      break;
    }
    const std::string& name = found->second->rendered;
    // Checked before the record is written: records go whole or not at all.
    need = kBytesPerRecordByte * length + name.size() + job.owner.size() + code_args.size() + kRecordOverhead;
    if (out.room() < need) {
      outcome.reason = kRoom;
      break;
    }
    need = 0;
    const size_t start = out.pos();
    // The json report's separator goes with the record after it, and so
    // does the html rows'.
    if (job.format != kCsv && i > 0) out.Byte(',');
    writer.SetRecordEnd(p + length);
    const char* row_error = nullptr;
    const Step step = job.format == kJson  ? writer.JsonRecord(p, name)
                      : job.format == kCsv ? writer.CsvRow(p, name, job.owner)
                                           : HtmlRow(src, p, p + length, name, job.owner, job.row_start,
                                                     kind == kAudit ? nullptr : &code_args, out, row_error);
    if (step == Step::kBad) {
      const char* why = job.format == kHtmlRows ? row_error : writer.error();
      outcome.error = std::string("malformed record data: ") + why + " (record at offset " + std::to_string(p) + ")";
      return outcome;
    }
    if (out.overflowed()) {
      // The bound above is wrong: a bug here, not in the data.
      outcome.error = "writeRecords: a record outgrew its output bound";
      return outcome;
    }
    if (step == Step::kFallback) {
      out.Rewind(start);
      outcome.reason = kFallback;
      break;
    }
  }
  job.state[0] = static_cast<double>(i);
  job.state[1] = static_cast<double>(out.pos());
  job.state[2] = static_cast<double>(need);
  return outcome;
}

Napi::Error ErrorOf(Napi::Env env, const RecordsOutcome& outcome) {
  return outcome.range_error ? Napi::RangeError::New(env, outcome.error) : Napi::Error::New(env, outcome.error);
}

// writeRecordsAsync: the same job on the libuv thread pool, so the main
// thread reads and checks the next block meanwhile. The arrays are held by
// references until the job ends; the caller leaves them alone until the
// promise settles (neither detaches nor transfers them: the references keep
// the objects, not their memory), and the table takes no new name meanwhile
// (SetName refuses while a job reads it). If the environment shuts down
// with a job in flight, the promise cannot settle: binding.gyp's
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS makes that a no-op, not an abort.
class RecordsWorker : public Napi::AsyncWorker {
 public:
  RecordsWorker(const Napi::CallbackInfo& info, const RecordsJob& job)
      : Napi::AsyncWorker(info.Env(), "hookscope.writeRecordsAsync"), deferred_(info.Env()), job_(job) {
    for (size_t k : {1, 2, 4, 6, 7, 8}) held_.push_back(Napi::Persistent(info[k]));
    if (job.texts != nullptr) {
      for (size_t k : {9, 10}) held_.push_back(Napi::Persistent(info[k]));
    }
    job_.table->busy++;
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { outcome_ = RunRecordsJob(job_); }
  void OnOK() override {
    job_.table->busy--;
    if (!outcome_.error.empty()) {
      deferred_.Reject(ErrorOf(Env(), outcome_).Value());
    } else {
      deferred_.Resolve(Napi::Number::New(Env(), outcome_.reason));
    }
  }
  void OnError(const Napi::Error& error) override {
    job_.table->busy--;
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  RecordsJob job_;
  RecordsOutcome outcome_;
  // The arrays and the table (an External), alive until the job ends.
  std::vector<Napi::Reference<Napi::Value>> held_;
};

}  // namespace

Napi::Value WriteRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RecordsJob job;
  if (!RecordsJobOf(info, "writeRecords", job)) return env.Undefined();
  const RecordsOutcome outcome = RunRecordsJob(job);
  if (!outcome.error.empty()) {
    ErrorOf(env, outcome).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, outcome.reason);
}

Napi::Value WriteRecordsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RecordsJob job;
  if (!RecordsJobOf(info, "writeRecordsAsync", job)) return env.Undefined();
  auto* worker = new RecordsWorker(info, job);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value WriteInstants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "writeInstants(src, from, out, outPos, table, pidText, originNs, first, state)";
  if (info.Length() < 9) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const ArrayArg src_array = ArrayArgOf(info[0], napi_uint8_array);
  const ArrayArg out_array = ArrayArgOf(info[2], napi_uint8_array);
  const ArrayArg pid_array = ArrayArgOf(info[5], napi_uint8_array);
  const ArrayArg state_array = ArrayArgOf(info[8], napi_float64_array);
  if (!src_array.ok || !info[1].IsNumber() || !out_array.ok || !info[3].IsNumber() || !pid_array.ok ||
      !info[6].IsNumber() || !info[7].IsBoolean() || !state_array.ok || state_array.length < 3) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double from = info[1].As<Napi::Number>().DoubleValue();
  const double out_pos = info[3].As<Napi::Number>().DoubleValue();
  NameTable* table = TableOf(info[4]);
  if (table == nullptr) return env.Undefined();
  std::string_view pid_text(reinterpret_cast<const char*>(pid_array.data), pid_array.length);
  const double origin_number = info[6].As<Napi::Number>().DoubleValue();
  bool first = info[7].As<Napi::Boolean>().Value();
  double* state = reinterpret_cast<double*>(state_array.data);
  // With a slice table and a flows array, code loads are written here too
  // (state[3]: the next flow id, in and out; state[4]: flow pairs written
  // to `flows`, each the slice's source index and the flow's id).
  SliceTable* slices = nullptr;
  ArrayArg flows;
  double next_flow = 0;
  if (info.Length() >= 11 && !info[9].IsUndefined()) {
    slices = SliceTableOf(info[9]);
    if (slices == nullptr) return env.Undefined();
    flows = ArrayArgOf(info[10], napi_int32_array);
    // state[3] the next flow id (an integer; ids past 2^31 - 1 are
    // TypeScript's), state[4] the pairs written; flows has room for a pair.
    next_flow = state_array.length >= 5 ? state[3] : -1;
    if (!flows.ok || flows.length < 2 || state_array.length < 5 ||
        !(next_flow >= 0 && next_flow <= static_cast<double>(kMaxSafe) &&
          next_flow == static_cast<double>(static_cast<int64_t>(next_flow)))) {
      Napi::TypeError::New(env, std::string(usage) + ", slices, flows: state[3] holds the next flow id")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  int32_t* flow_pairs = reinterpret_cast<int32_t*>(flows.data);
  const size_t flow_capacity = flows.length / 2;
  size_t flows_written = 0;
  std::string slice_key;
  const uint8_t* src = src_array.data;
  const size_t src_length = src_array.length;
  // The origin is TypeScript's exact number: an integer below 2^53.
  if (!(from >= 0 && from <= static_cast<double>(src_length) && from == static_cast<double>(static_cast<size_t>(from))) ||
      !(out_pos >= 0 && out_pos <= static_cast<double>(out_array.length) &&
        out_pos == static_cast<double>(static_cast<size_t>(out_pos))) ||
      !(origin_number >= 0 && origin_number <= static_cast<double>(kMaxSafe) &&
        origin_number == static_cast<double>(static_cast<int64_t>(origin_number)))) {
    Napi::RangeError::New(env, "writeInstants: record offset, output position or origin out of range")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t origin = static_cast<int64_t>(origin_number);
  Out out(out_array.data, out_array.length, static_cast<size_t>(out_pos));
  Reason reason = kDone;
  size_t need = 0;
  size_t p = static_cast<size_t>(from);
  while (p < src_length) {
    const char* malformed = nullptr;
    size_t length = 0;
    size_t name_length = 0;
    if (src_length - p < kHeaderSize) {
      malformed = "record header runs past the end of the payload";
    } else {
      length = ReadU32(src + p);
      name_length = ReadU16(src + p + 6);
      if (length < kHeaderSize || length > src_length - p) {
        malformed = "record length runs past the end of the payload";
      } else if (name_length > length - kHeaderSize) {
        malformed = "event name runs past the end of the record";
      } else if (src[p + 4] != kAudit && src[p + 4] != kOpenCode && src[p + 4] != kDecision) {
        malformed = "unknown record kind";
      }
    }
    if (malformed != nullptr) {
      Napi::Error::New(env, std::string("malformed record data: ") + malformed + " (record at offset " +
                                std::to_string(p) + ")")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const size_t args = p + kHeaderSize + name_length;
    const size_t end = p + length;
    if (src[p + 4] == kOpenCode && slices != nullptr) {
      // A code load: its slice (and the start of its flow) as
      // perfetto-report.ts's codeSliceBytes writes it, when its time is one
      // the instants below would write too.
      int64_t ns = 0;
      if (!InstantNs(src, p, origin, ns)) {
        reason = kFallback;
        break;
      }
      SliceKey(src, p, length, slice_key);
      auto found = slices->index.find(slice_key);
      if (found == slices->index.end()) {
        // A full table takes nothing more: TypeScript writes this one.
        reason = slices->full ? kFallback : kSlice;
        break;
      }
      const SliceTable::Entry& slice = *found->second;
      if (slice.source >= 0 && flows_written == flow_capacity) {
        reason = kFlows;
        break;
      }
      // Flow ids past 2^31 - 1 (they do not fit the pairs): TypeScript's.
      if (slice.source >= 0 && next_flow > 2147483647) {
        reason = kFallback;
        break;
      }
      const size_t bound = slice.head.size() + slice.tail.size() + 2 * pid_text.size() + kRecordOverhead;
      if (out.room() < bound) {
        reason = kRoom;
        need = bound;
        break;
      }
      const uint32_t tid = ReadU32(src + p + 8);
      if (!first) out.Put(",\n");
      out.Put(slice.head);
      out.Put(pid_text);
      out.Uint(tid);
      out.Put(",\"ts\":");
      PutMicros(out, static_cast<uint64_t>(ns));
      out.Put(slice.tail);
      if (slice.source >= 0) {
        const int32_t id = static_cast<int32_t>(next_flow);
        next_flow++;
        out.Put(",\n{\"name\":\"load \xe2\x86\x92 exec\",\"cat\":\"flow\",\"ph\":\"s\",\"id\":");
        out.Uint(static_cast<uint64_t>(id));
        out.Byte(',');
        out.Put(pid_text);
        out.Uint(tid);
        out.Put(",\"ts\":");
        PutMicros(out, static_cast<uint64_t>(ns));
        out.Byte('}');
        flow_pairs[2 * flows_written] = slice.source;
        flow_pairs[2 * flows_written + 1] = id;
        flows_written++;
      }
      if (out.overflowed()) {
        // The bound above is wrong: a bug here, not in the data.
        Napi::Error::New(env, "writeInstants: a code load outgrew its output bound").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      first = false;
      p = end;
      continue;
    }
    // Everything else but a plain audit instant is TypeScript's: code
    // loads without a slice table, decisions, and the exec of a code object
    // (perfetto-report.ts's execOfCode: it may end a flow), said here though
    // its code value would stop the repr too; an exec too short to tell is
    // left as well.
    if (src[p + 4] != kAudit) {
      reason = kFallback;
      break;
    }
    if (name_length == 4 && memcmp(src + p + kHeaderSize, "exec", 4) == 0 &&
        (end - args < 10 || (ReadU32(src + args + 5) > 0 && src[args + 9] == kCode))) {
      reason = kFallback;
      break;
    }
    int64_t ns = 0;
    if (!InstantNs(src, p, origin, ns)) {
      reason = kFallback;
      break;
    }
    auto found = table->index.find(std::string_view(reinterpret_cast<const char*>(src + p + kHeaderSize), name_length));
    if (found == table->index.end()) {
      reason = kName;
      break;
    }
    const std::string& head = found->second->rendered;
    // Written in place, and taken back if the value is TypeScript's or the
    // record does not fit: records go whole or not at all.
    const size_t start = out.pos();
    if (!first) out.Put(",\n");
    out.Put(head);
    out.Put(pid_text);
    out.Uint(ReadU32(src + p + 8));
    out.Put(",\"ts\":");
    PutMicros(out, static_cast<uint64_t>(ns));
    out.Put(",\"args\":{\"args\":\"");
    ReprWriter writer(src, end, out, kInstantMaxString);
    size_t r = args;
    const Step step = writer.Repr(r, 0);
    if (step == Step::kBad) {
      Napi::Error::New(env, std::string("malformed record data: ") + writer.error() + " (record at offset " +
                                std::to_string(p) + ")")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (step == Step::kFallback) {
      out.Rewind(start);
      reason = kFallback;
      break;
    }
    out.Put("\"}}");
    if (out.overflowed()) {
      out.Rewind(start);
      reason = kRoom;
      need = kBytesPerRecordByte * length + head.size() + pid_text.size() + kRecordOverhead;
      break;
    }
    first = false;
    p = end;
  }
  state[0] = static_cast<double>(p);
  state[1] = static_cast<double>(out.pos());
  state[2] = static_cast<double>(need);
  if (slices != nullptr) {
    state[3] = next_flow;
    state[4] = static_cast<double>(flows_written);
  }
  return Napi::Number::New(env, reason);
}

}  // namespace hookscope
