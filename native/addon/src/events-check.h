// A native twin of validateEventsPayload (main/core/protocol/records.ts).
// Plain C++, no Node: the addon calls it, and so does its fuzz target.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hookscope {

// The number of records in an EVENTS payload, or -1 when anything in it
// is malformed: exactly the payloads validateEventsPayload accepts.
int64_t CountValidRecords(const uint8_t* buf, size_t size);

}  // namespace hookscope
