// The session reader's read ahead (session-file.ts, SessionReader.fill): a
// chunk of the file read on the libuv thread pool into a buffer whose
// pages are made present first, in one call; and the same for any new
// buffer about to be written whole (populatePages).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace hookscope {

// readChunk(fd, buf, offset, length, position) -> Promise<bytes read>:
// reads up to `length` bytes at file `position` into buf[offset…] (fewer
// only at the end of the file), after making all of buf's pages present
// (MADV_POPULATE_WRITE, where the kernel has it). Rejects with an Error
// whose `code` is the errno name when the read fails.
Napi::Value ReadChunk(const Napi::CallbackInfo& info);

// Makes the whole pages inside [data, data + size) present and writable in
// one call, without changing their contents. Best effort: a kernel without
// MADV_POPULATE_WRITE says EINVAL, and the pages then fault as written.
void PopulatePages(uint8_t* data, size_t size);

// populatePages(view): PopulatePages over the bytes of a typed array or
// DataView, for a buffer about to be written whole (report output buffers,
// the html timeline's counts).
Napi::Value PopulatePagesOf(const Napi::CallbackInfo& info);

}  // namespace hookscope
