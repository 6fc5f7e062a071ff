// File operations confined to another process's root (its chroot, its own
// mount namespace), reached through /proc/PID/root: every path is resolved
// with openat2(RESOLVE_IN_ROOT), so a symlink the target planted can never
// lead the (privileged) inspector outside that root.
#pragma once

#include <napi.h>

namespace hookscope {

// openInRoot(root, path, flags, mode) -> fd
Napi::Value OpenInRoot(const Napi::CallbackInfo& info);
// mkdirInRoot(root, parent, name, mode)
Napi::Value MkdirInRoot(const Napi::CallbackInfo& info);
// removeInRoot(root, parent, name, isDirectory)
Napi::Value RemoveInRoot(const Napi::CallbackInfo& info);

}  // namespace hookscope
