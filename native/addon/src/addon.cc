// The main process's native helper: only what Node cannot do itself.
#include <napi.h>

#include "peer-credentials.h"
#include "root-files.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCredentials", Napi::Function::New(env, hookscope::GetPeerCredentials, "getPeerCredentials"));
  exports.Set("openInRoot", Napi::Function::New(env, hookscope::OpenInRoot, "openInRoot"));
  exports.Set("mkdirInRoot", Napi::Function::New(env, hookscope::MkdirInRoot, "mkdirInRoot"));
  exports.Set("removeInRoot", Napi::Function::New(env, hookscope::RemoveInRoot, "removeInRoot"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hookscope_native, Init)
