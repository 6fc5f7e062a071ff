// libFuzzer target: the native events checker on any bytes must return a
// count or -1, never read outside the payload (ASan) or overflow (UBSan).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "events-check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so a read one past the end is caught.
  std::unique_ptr<uint8_t[]> payload(new uint8_t[size]);
  if (size > 0) memcpy(payload.get(), data, size);
  int64_t count = hookscope::CountValidRecords(payload.get(), size);
  if (count < -1 || count > int64_t(size)) __builtin_trap();
  return 0;
}
