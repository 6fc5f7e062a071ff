// The main process's native helper: only what Node cannot do itself.
#include <napi.h>

#include "peer-credentials.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCredentials", Napi::Function::New(env, hookscope::GetPeerCredentials, "getPeerCredentials"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hookscope_native, Init)
