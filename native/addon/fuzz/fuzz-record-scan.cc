// libFuzzer target: the record scan on any bytes, driven as record-scan.ts
// drives it (small batches, names added as they come, some refused, some
// quiet: counted, never given), must
// give records in order inside the payload with ids it handed out, or stop
// at a malformed record; never read outside the payload (ASan), overflow
// (UBSan) or loop without progress.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "record-scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte drives the scan: the batch size (1 to 8 records) and
  // which kinds get body ids; the rest is the payload.
  const size_t capacity = 1 + (data[0] & 7);
  const uint8_t body_kinds = data[0] >> 3;
  const size_t n = size - 1;
  // A copy of exactly the payload's size, so a read one past the end is caught.
  std::unique_ptr<uint8_t[]> payload(new uint8_t[n > 0 ? n : 1]);
  if (n > 0) memcpy(payload.get(), data + 1, n);
  hookscope::RecordScan scan;
  std::vector<int32_t> out(3 * capacity);
  size_t from = 0;
  size_t last = 0;
  bool any = false;
  size_t names_seen = 0;
  std::vector<bool> quiet_ids;
  for (size_t calls = 0; calls <= 2 * n + 2; calls++) {
    const auto result = scan.Scan(payload.get(), n, from, out.data(), capacity);
    if (result.written > capacity || result.next > n || result.next < from) __builtin_trap();
    for (size_t i = 0; i < result.written; i++) {
      const int32_t p = out[3 * i];
      if (p < 0 || static_cast<size_t>(p) >= n || (any && static_cast<size_t>(p) <= last)) __builtin_trap();
      if (out[3 * i + 1] < -1 || out[3 * i + 1] >= static_cast<int32_t>(scan.name_count())) __builtin_trap();
      if (out[3 * i + 2] < -1 || out[3 * i + 2] >= static_cast<int32_t>(scan.body_count())) __builtin_trap();
      if (out[3 * i + 2] >= 0 && out[3 * i + 1] < 0) __builtin_trap();
      // A quiet name's records are counted, never given.
      if (out[3 * i + 1] >= 0 && quiet_ids[static_cast<size_t>(out[3 * i + 1])]) __builtin_trap();
      last = static_cast<size_t>(p);
      any = true;
    }
    if (result.stop == hookscope::RecordScan::kBad) {
      if (result.error == nullptr) __builtin_trap();
      return 0;
    }
    if (result.stop == hookscope::RecordScan::kDone) {
      if (result.next < n) __builtin_trap();
      for (size_t id = 0; id < quiet_ids.size(); id++) {
        const double counted = scan.QuietCount(static_cast<int32_t>(id));
        if (counted < 0 || (!quiet_ids[id] && counted != 0)) __builtin_trap();
      }
      return 0;
    }
    from = result.next;
    if (result.stop == hookscope::RecordScan::kName) {
      if (result.written > 0) continue;
      // The record at `from` has a whole header and a name inside it (the
      // scan checked both before stopping there).
      const uint8_t* r = payload.get() + from;
      const uint8_t kind = r[4];
      const size_t name_length = r[6] | (size_t{r[7]} << 8);
      const std::string_view name(reinterpret_cast<const char*>(r + 28), name_length);
      // Every fourth new name refused, as the TypeScript side does when
      // the addon stops twice on one record.
      // And every fourth taken one quiet (only counted).
      const bool refuse = names_seen % 4 == 3;
      const bool quiet = names_seen++ % 4 == 1;
      const int32_t id = refuse ? -1 : scan.AddName(kind, name, (body_kinds >> kind) & 1, quiet);
      if (id >= 0) {
        if (static_cast<size_t>(id) != quiet_ids.size()) __builtin_trap();
        quiet_ids.push_back(quiet);
      }
      if (id < 0) {
        const size_t length = r[0] | (size_t{r[1]} << 8) | (size_t{r[2]} << 16) | (size_t{r[3]} << 24);
        from += length;
      }
    }
  }
  // Every call moves on or adds a name: this many calls means a loop.
  __builtin_trap();
}
