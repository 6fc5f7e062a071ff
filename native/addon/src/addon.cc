// The main process's native helper: only what Node cannot do itself.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <string>
#include <string_view>

#include "chunk-read.h"
#include "events-check.h"
#include "peer-credentials.h"
#include "record-scan.h"
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

const napi_type_tag kRecordScanTag = {0x686b735f72656373, 0x63616e5f74616231};

bool IsBytes(const Napi::Value& value) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

// The scan behind a newRecordScan() value, or null (and a TypeError thrown).
hookscope::RecordScan* ScanOf(const Napi::Value& value) {
  if (!value.IsExternal() ||
      !value.As<Napi::External<hookscope::RecordScan>>().CheckTypeTag(&kRecordScanTag)) {
    Napi::TypeError::New(value.Env(), "not a record scan (newRecordScan())").ThrowAsJavaScriptException();
    return nullptr;
  }
  return value.As<Napi::External<hookscope::RecordScan>>().Data();
}

// newRecordScan(): the name and body tables of one record scan (record-scan.h).
Napi::Value NewRecordScan(const Napi::CallbackInfo& info) {
  auto scan = Napi::External<hookscope::RecordScan>::New(
      info.Env(), new hookscope::RecordScan(), [](Napi::Env, hookscope::RecordScan* s) { delete s; });
  scan.TypeTag(&kRecordScanTag);
  return scan;
}

// addScanName(scan, kind, nameBytes, bodies[, quiet]): the name's id, -1 when
// not taken. A quiet name's records are counted (scanCounts), not listed.
Napi::Value AddScanName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool has_quiet = info.Length() >= 5 && !info[4].IsUndefined();
  if (info.Length() < 4 || !info[1].IsNumber() || !IsBytes(info[2]) || !info[3].IsBoolean() ||
      (has_quiet && !info[4].IsBoolean())) {
    Napi::TypeError::New(env, "addScanName(scan, kind, nameBytes, bodies[, quiet])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  const double kind = info[1].As<Napi::Number>().DoubleValue();
  if (!(kind >= 1 && kind <= 3)) {
    Napi::RangeError::New(env, "addScanName: kind must be 1, 2 or 3").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array name = info[2].As<Napi::Uint8Array>();
  const int32_t id = scan->AddName(static_cast<uint8_t>(kind),
                                   std::string_view(reinterpret_cast<const char*>(name.Data()), name.ElementLength()),
                                   info[3].As<Napi::Boolean>().Value(),
                                   has_quiet && info[4].As<Napi::Boolean>().Value());
  return Napi::Number::New(env, id);
}

// scanCounts(scan, out): out[id] = the records of quiet name `id` scanned so
// far, for the ids out has room for; returns how many names the scan has.
Napi::Value ScanCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Napi::TypeError::New(env, "scanCounts(scan, out)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  Napi::Float64Array out = info[1].As<Napi::Float64Array>();
  const size_t n = std::min(out.ElementLength(), scan->name_count());
  for (size_t id = 0; id < n; id++) out[id] = scan->QuietCount(static_cast<int32_t>(id));
  return Napi::Number::New(env, static_cast<double>(scan->name_count()));
}

// scanRecords(scan, src, from, out, state): the stop reason; state[0] = the
// next record's offset, state[1] = records written to out (three int32 each).
// Throws on a malformed record.
Napi::Value ScanRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "scanRecords(scan, src, from, out, state)";
  if (info.Length() < 5 || !IsBytes(info[1]) || !info[2].IsNumber() || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[4].IsTypedArray() ||
      info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[4].As<Napi::Float64Array>().ElementLength() < 2) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  Napi::Uint8Array src = info[1].As<Napi::Uint8Array>();
  const double from = info[2].As<Napi::Number>().DoubleValue();
  if (!(from >= 0 && from <= static_cast<double>(src.ElementLength()))) {
    Napi::RangeError::New(env, "scanRecords: offset out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array out = info[3].As<Napi::Int32Array>();
  Napi::Float64Array state = info[4].As<Napi::Float64Array>();
  const hookscope::RecordScan::Result result =
      scan->Scan(src.Data(), src.ElementLength(), static_cast<size_t>(from), out.Data(), out.ElementLength() / 3);
  state[0] = static_cast<double>(result.next);
  state[1] = static_cast<double>(result.written);
  if (result.stop == hookscope::RecordScan::kBad) {
    Napi::Error::New(env, std::string("malformed record data: ") + result.error + " (record at offset " +
                              std::to_string(result.next) + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, result.stop);
}

// tuneAllocator(): whether glibc's malloc now keeps freed blocks for reuse.
//
// A report or a recording moves hundreds of MB through buffers of 0.1–4 MB
// (chunks read, blocks formatted, output written), each freed when the
// collector finds it. With glibc's defaults the larger ones are mapped and
// unmapped each time, and freed heap top is given back to the kernel, so
// nearly every buffer starts on fresh pages: one page fault per 4 KiB, which
// on the virtual machines measured here cost a third of a json report's CPU
// time (docs/reports.md). Served from the heap and kept there, the same
// pages are used again. A buffer of 8 MiB or more is still mapped of its
// own; at most 64 MiB of free heap top is kept.
Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  const bool mapped = mallopt(M_MMAP_THRESHOLD, 8 << 20) == 1;
  const bool trim = mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
  return Napi::Boolean::New(info.Env(), mapped && trim);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getPeerCredentials", Napi::Function::New(env, hookscope::GetPeerCredentials, "getPeerCredentials"));
  exports.Set("openInRoot", Napi::Function::New(env, hookscope::OpenInRoot, "openInRoot"));
  exports.Set("mkdirInRoot", Napi::Function::New(env, hookscope::MkdirInRoot, "mkdirInRoot"));
  exports.Set("removeInRoot", Napi::Function::New(env, hookscope::RemoveInRoot, "removeInRoot"));
  exports.Set("newNameTable", Napi::Function::New(env, hookscope::NewNameTable, "newNameTable"));
  exports.Set("setName", Napi::Function::New(env, hookscope::SetName, "setName"));
  exports.Set("writeRecords", Napi::Function::New(env, hookscope::WriteRecords, "writeRecords"));
  exports.Set("writeRecordsAsync", Napi::Function::New(env, hookscope::WriteRecordsAsync, "writeRecordsAsync"));
  exports.Set("writeInstants", Napi::Function::New(env, hookscope::WriteInstants, "writeInstants"));
  exports.Set("newSliceTable", Napi::Function::New(env, hookscope::NewSliceTable, "newSliceTable"));
  exports.Set("setSlice", Napi::Function::New(env, hookscope::SetSlice, "setSlice"));
  exports.Set("checkEventsPayload", Napi::Function::New(env, CheckEventsPayload, "checkEventsPayload"));
  exports.Set("newRecordScan", Napi::Function::New(env, NewRecordScan, "newRecordScan"));
  exports.Set("addScanName", Napi::Function::New(env, AddScanName, "addScanName"));
  exports.Set("scanRecords", Napi::Function::New(env, ScanRecords, "scanRecords"));
  exports.Set("scanCounts", Napi::Function::New(env, ScanCounts, "scanCounts"));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator, "tuneAllocator"));
  exports.Set("readChunk", Napi::Function::New(env, hookscope::ReadChunk, "readChunk"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hookscope_native, Init)
