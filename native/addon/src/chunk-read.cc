// readChunk (chunk-read.h).
//
// A chunk read ahead goes into a new buffer, and a new buffer is mostly
// pages the process never touched: each one faults when pread (or the copy
// of the partial block in front of it) first writes it. On the virtual
// machines measured here a page fault costs about 11.5 µs, and making the
// same pages present with one madvise(MADV_POPULATE_WRITE) about 0.9 µs a
// page (docs/reports.md, "Cost"). The contents are not touched.
#include "chunk-read.h"

#include <uv.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace hookscope {
namespace {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

bool Whole(double x, double lo, double hi) {
  return x >= lo && x <= hi && x == static_cast<double>(static_cast<int64_t>(x));
}

// The buffer is held by a reference until the job ends; the reader leaves
// it alone until the promise settles, and closes the file only after
// (SessionReader.close waits for the chunk being read).
class ChunkWorker : public Napi::AsyncWorker {
 public:
  ChunkWorker(const Napi::CallbackInfo& info, int fd, uint8_t* buf, size_t buf_size, size_t offset, size_t length,
              int64_t position)
      : Napi::AsyncWorker(info.Env(), "hookscope.readChunk"),
        deferred_(info.Env()),
        held_(Napi::Persistent(info[1])),
        fd_(fd),
        buf_(buf),
        buf_size_(buf_size),
        offset_(offset),
        length_(length),
        position_(position) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    PopulatePages(buf_, buf_size_);
    uint8_t* dst = buf_ + offset_;
    while (got_ < length_) {
      const ssize_t n = pread(fd_, dst + got_, length_ - got_, position_ + static_cast<int64_t>(got_));
      if (n < 0) {
        if (errno == EINTR) continue;
        errno_ = errno;
        return;
      }
      if (n == 0) break;
      got_ += static_cast<size_t>(n);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (errno_ != 0) {
      // As Node words a failed read: "EIO: i/o error, read".
      const char* code = uv_err_name(-errno_);
      Napi::Error error = Napi::Error::New(env, std::string(code) + ": " + uv_strerror(-errno_) + ", read");
      error.Set("code", Napi::String::New(env, code));
      error.Set("errno", Napi::Number::New(env, -errno_));
      error.Set("syscall", Napi::String::New(env, "read"));
      deferred_.Reject(error.Value());
      return;
    }
    deferred_.Resolve(Napi::Number::New(env, static_cast<double>(got_)));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Value> held_;
  const int fd_;
  uint8_t* const buf_;
  const size_t buf_size_;
  const size_t offset_;
  const size_t length_;
  const int64_t position_;
  size_t got_ = 0;
  int errno_ = 0;
};

}  // namespace

void PopulatePages(uint8_t* data, size_t size) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + size) & ~(page - 1);
  if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE);
}

Napi::Value PopulatePagesOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !(info[0].IsTypedArray() || info[0].IsDataView())) {
    Napi::TypeError::New(env, "populatePages(view): view must be a typed array or a DataView")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buffer;
  size_t offset = 0;
  size_t length = 0;
  if (info[0].IsTypedArray()) {
    Napi::TypedArray view = info[0].As<Napi::TypedArray>();
    buffer = view.ArrayBuffer();
    offset = view.ByteOffset();
    length = view.ByteLength();
  } else {
    Napi::DataView view = info[0].As<Napi::DataView>();
    buffer = view.ArrayBuffer();
    offset = view.ByteOffset();
    length = view.ByteLength();
  }
  // A detached or empty buffer has no bytes to make present.
  if (length > 0 && buffer.Data() != nullptr) PopulatePages(static_cast<uint8_t*>(buffer.Data()) + offset, length);
  return env.Undefined();
}

Napi::Value ReadChunk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "readChunk(fd, buf, offset, length, position)";
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[2].IsNumber() ||
      !info[3].IsNumber() || !info[4].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  const double fd = info[0].As<Napi::Number>().DoubleValue();
  const double offset = info[2].As<Napi::Number>().DoubleValue();
  const double length = info[3].As<Napi::Number>().DoubleValue();
  const double position = info[4].As<Napi::Number>().DoubleValue();
  const double size = static_cast<double>(buf.ElementLength());
  if (!Whole(fd, 0, 2147483647) || !Whole(offset, 0, size) || !Whole(length, 0, size - offset) ||
      !Whole(position, 0, 9007199254740991.0)) {
    Napi::RangeError::New(env, std::string(usage) + ": an argument is out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new ChunkWorker(info, static_cast<int>(fd), buf.Data(), buf.ElementLength(),
                                 static_cast<size_t>(offset), static_cast<size_t>(length), static_cast<int64_t>(position));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace hookscope
