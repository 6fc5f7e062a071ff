// The main process's native helper: only what Node cannot do itself.
#include <napi.h>

#include "events-check.h"
#include "peer-credentials.h"
#include "report-writer.h"
#include "root-files.h"

namespace {

// checkEventsPayload(payload: Uint8Array): number — the record count, or
// -1 when the payload is malformed (events-check.h).
Napi::Value CheckEventsPayload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "checkEventsPayload(payload): payload must be a Uint8Array")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array payload = info[0].As<Napi::Uint8Array>();
  int64_t count = hookscope::CountValidRecords(payload.Data(), payload.ByteLength());
  return Napi::Number::New(env, double(count));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCredentials", Napi::Function::New(env, hookscope::GetPeerCredentials, "getPeerCredentials"));
  exports.Set("openInRoot", Napi::Function::New(env, hookscope::OpenInRoot, "openInRoot"));
  exports.Set("mkdirInRoot", Napi::Function::New(env, hookscope::MkdirInRoot, "mkdirInRoot"));
  exports.Set("removeInRoot", Napi::Function::New(env, hookscope::RemoveInRoot, "removeInRoot"));
  exports.Set("newNameTable", Napi::Function::New(env, hookscope::NewNameTable, "newNameTable"));
  exports.Set("setName", Napi::Function::New(env, hookscope::SetName, "setName"));
  exports.Set("writeRecords", Napi::Function::New(env, hookscope::WriteRecords, "writeRecords"));
  exports.Set("writeInstants", Napi::Function::New(env, hookscope::WriteInstants, "writeInstants"));
  exports.Set("checkEventsPayload", Napi::Function::New(env, CheckEventsPayload, "checkEventsPayload"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hookscope_native, Init)
