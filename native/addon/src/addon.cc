// The main process's native helper: only what Node cannot do itself.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cmath>
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

// A timeline row argument: undefined is -1 (none); else an integer from
// -1 to 65535. False (and a TypeError thrown) otherwise.
bool RowArg(const Napi::Value& value, int32_t* row) {
  if (value.IsUndefined()) {
    *row = -1;
    return true;
  }
  const double n = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -2;
  if (!(n >= -1 && n <= 65535 && n == static_cast<double>(static_cast<int32_t>(n)))) {
    Napi::TypeError::New(value.Env(), "a timeline row must be an integer from -1 to 65535")
        .ThrowAsJavaScriptException();
    return false;
  }
  *row = static_cast<int32_t>(n);
  return true;
}

// addScanName(scan, kind, nameBytes, bodies[, quiet[, row[, countBodies]]]):
// the name's id, -1 when not taken. A quiet name's records are counted
// (scanCounts), not listed; with a row, counted by time into scanRecords'
// timeline too. With countBodies, a record whose body's last record listed
// came in the scan's epoch (setScanEpoch) is counted by body
// (scanBodyCounts) instead.
Napi::Value AddScanName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool has_quiet = info.Length() >= 5 && !info[4].IsUndefined();
  const bool has_count_bodies = info.Length() >= 7 && !info[6].IsUndefined();
  if (info.Length() < 4 || !info[1].IsNumber() || !IsBytes(info[2]) || !info[3].IsBoolean() ||
      (has_quiet && !info[4].IsBoolean()) || (has_count_bodies && !info[6].IsBoolean())) {
    Napi::TypeError::New(env, "addScanName(scan, kind, nameBytes, bodies[, quiet[, row[, countBodies]]])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int32_t row = -1;
  if (info.Length() >= 6 && !RowArg(info[5], &row)) return env.Undefined();
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
                                   has_quiet && info[4].As<Napi::Boolean>().Value(), row,
                                   has_count_bodies && info[6].As<Napi::Boolean>().Value());
  return Napi::Number::New(env, id);
}

// setScanEpoch(scan, epoch): the epoch the records scanned from now on come
// in (an integer from 0 to 2^32 - 1: the summary's process session id).
Napi::Value SetScanEpoch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double epoch = info.Length() == 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(epoch >= 0 && epoch <= 4294967295.0 && epoch == std::floor(epoch))) {
    Napi::TypeError::New(env, "setScanEpoch(scan, epoch): epoch must be an integer from 0 to 2^32 - 1")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  scan->SetEpoch(static_cast<uint32_t>(epoch));
  return env.Undefined();
}

// scanBodyCounts(scan, out): out[id] = the records of body `id` counted by
// body so far, for the ids out has room for; returns how many bodies the
// scan has.
Napi::Value ScanBodyCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Napi::TypeError::New(env, "scanBodyCounts(scan, out): out must be a Float64Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  Napi::Float64Array out = info[1].As<Napi::Float64Array>();
  const size_t n = std::min(out.ElementLength(), scan->body_count());
  for (size_t id = 0; id < n; id++) out[id] = scan->BodyCount(static_cast<int32_t>(id));
  return Napi::Number::New(env, static_cast<double>(scan->body_count()));
}

// setScanQuiet(scan, id, quiet[, row]): from now on the records of name `id`
// are quiet (or not), counted by time at `row`; false for an id the scan
// did not give.
Napi::Value SetScanQuiet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "setScanQuiet(scan, id, quiet[, row])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int32_t row = -1;
  if (info.Length() >= 4 && !RowArg(info[3], &row)) return env.Undefined();
  hookscope::RecordScan* scan = ScanOf(info[0]);
  if (scan == nullptr) return env.Undefined();
  const double id = info[1].As<Napi::Number>().DoubleValue();
  const bool ok = id >= 0 && id < static_cast<double>(scan->name_count()) && id == std::floor(id) &&
                  scan->SetQuiet(static_cast<int32_t>(id), info[2].As<Napi::Boolean>().Value(), row);
  return Napi::Boolean::New(env, ok);
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

// scanRecords(scan, src, from, out, state[, counts, timeline]): the stop
// reason; state[0] = the next record's offset, state[1] = records written
// to out (three int32 each). With `counts` and `timeline` ([base, perStep,
// rows, steps, min, max]), the records of quiet names with a row are
// counted by time into counts (record-scan.h's Timeline), and timeline[4]
// and [5] take in the times counted. Throws on a malformed record.
Napi::Value ScanRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "scanRecords(scan, src, from, out, state[, counts, timeline])";
  // Both timeline arguments or neither.
  const bool timed = info.Length() >= 6 && !info[5].IsUndefined();
  if (!timed && info.Length() >= 7 && !info[6].IsUndefined()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 5 || !IsBytes(info[1]) || !info[2].IsNumber() || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[4].IsTypedArray() ||
      info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[4].As<Napi::Float64Array>().ElementLength() < 2 ||
      (timed && (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
                 info.Length() < 7 || !info[6].IsTypedArray() ||
                 info[6].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
                 info[6].As<Napi::Float64Array>().ElementLength() < 6))) {
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
  hookscope::RecordScan::Timeline timeline{};
  Napi::Float64Array timeline_state;
  if (timed) {
    Napi::Float64Array counts = info[5].As<Napi::Float64Array>();
    timeline_state = info[6].As<Napi::Float64Array>();
    const double base = timeline_state[0];
    const double per_step = timeline_state[1];
    const double rows = timeline_state[2];
    const double steps = timeline_state[3];
    // Whole numbers whose product fits the counts: no write past them.
    if (!std::isfinite(base) || !std::isfinite(per_step) || !(rows >= 0 && rows <= 65536) ||
        !(steps >= 0 && steps <= (1 << 24)) || rows != std::floor(rows) || steps != std::floor(steps) ||
        rows * steps > static_cast<double>(counts.ElementLength())) {
      Napi::RangeError::New(env, "scanRecords: the timeline does not fit its counts").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    timeline = {counts.Data(), static_cast<size_t>(rows), static_cast<size_t>(steps), base, per_step,
                timeline_state[4], timeline_state[5]};
  }
  Napi::Int32Array out = info[3].As<Napi::Int32Array>();
  Napi::Float64Array state = info[4].As<Napi::Float64Array>();
  const hookscope::RecordScan::Result result = scan->Scan(src.Data(), src.ElementLength(), static_cast<size_t>(from),
                                                          out.Data(), out.ElementLength() / 3,
                                                          timed ? &timeline : nullptr);
  state[0] = static_cast<double>(result.next);
  state[1] = static_cast<double>(result.written);
  if (timed) {
    timeline_state[4] = timeline.min;
    timeline_state[5] = timeline.max;
  }
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
  exports.Set("setScanQuiet", Napi::Function::New(env, SetScanQuiet, "setScanQuiet"));
  exports.Set("setScanEpoch", Napi::Function::New(env, SetScanEpoch, "setScanEpoch"));
  exports.Set("scanBodyCounts", Napi::Function::New(env, ScanBodyCounts, "scanBodyCounts"));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator, "tuneAllocator"));
  exports.Set("readChunk", Napi::Function::New(env, hookscope::ReadChunk, "readChunk"));
  exports.Set("populatePages", Napi::Function::New(env, hookscope::PopulatePagesOf, "populatePages"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hookscope_native, Init)
