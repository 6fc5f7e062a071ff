// The session reader's read ahead (session-file.ts, SessionReader.fill): a
// chunk of the file read on the libuv thread pool into a buffer whose
// pages are made present first, in one call.
#pragma once

#include <napi.h>

namespace hookscope {

// readChunk(fd, buf, offset, length, position) -> Promise<bytes read>:
// reads up to `length` bytes at file `position` into buf[offset…] (fewer
// only at the end of the file), after making all of buf's pages present
// (MADV_POPULATE_WRITE, where the kernel has it). Rejects with an Error
// whose `code` is the errno name when the read fails.
Napi::Value ReadChunk(const Napi::CallbackInfo& info);

}  // namespace hookscope
