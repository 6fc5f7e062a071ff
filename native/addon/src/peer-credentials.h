// Peer credentials of a connected Unix socket (SO_PEERCRED): the kernel's
// word on who is at the other end, which a client cannot forge.
#pragma once

#include <napi.h>

namespace hookscope {

// getPeerCredentials(fd: number): { pid, uid, gid }
Napi::Value GetPeerCredentials(const Napi::CallbackInfo& info);

}  // namespace hookscope
