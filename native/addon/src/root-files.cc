#include "root-files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace hookscope {
namespace {

// Symlinks resolve inside the root; /proc magic links are refused.
constexpr unsigned long long kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, err == ENOENT ? "ENOENT" : err == EEXIST ? "EEXIST" : err == ELOOP ? "ELOOP" : err == EXDEV ? "EXDEV" : err == EACCES ? "EACCES" : "EIO"));
  e.ThrowAsJavaScriptException();
}

bool Strings(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  for (size_t i = 0; i < n; i++) {
    if (info.Length() <= i || !info[i].IsString()) {
      Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

// Opens `path` (absolute, as the target sees it) under `root`. -1 and errno on failure.
int OpenBeneath(const std::string& root, const std::string& path, int flags, mode_t mode) {
  int rootfd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return -1;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = kResolve;
  long fd;
  do {
    fd = syscall(SYS_openat2, rootfd, path.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  int err = errno;
  close(rootfd);
  errno = err;
  return static_cast<int>(fd);
}

bool PlainName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

Napi::Value OpenInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Strings(info, 2, "openInRoot(root, path, flags, mode)")) return env.Undefined();
  if (info.Length() < 4 || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "openInRoot(root, path, flags, mode)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string root = info[0].As<Napi::String>();
  std::string path = info[1].As<Napi::String>();
  int flags = info[2].As<Napi::Number>().Int32Value();
  mode_t mode = static_cast<mode_t>(info[3].As<Napi::Number>().Uint32Value());
  int fd = OpenBeneath(root, path, flags, mode);
  if (fd < 0) {
    ThrowErrno(env, "open " + path + " in " + root, errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value MkdirInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Strings(info, 3, "mkdirInRoot(root, parent, name, mode)")) return env.Undefined();
  std::string root = info[0].As<Napi::String>();
  std::string parent = info[1].As<Napi::String>();
  std::string name = info[2].As<Napi::String>();
  mode_t mode = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0700;
  if (!PlainName(name)) {
    Napi::RangeError::New(env, "mkdirInRoot: name must be one path component").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int dir = OpenBeneath(root, parent, O_PATH | O_DIRECTORY, 0);
  if (dir < 0) {
    ThrowErrno(env, "open " + parent + " in " + root, errno);
    return env.Undefined();
  }
  int r = mkdirat(dir, name.c_str(), mode);
  int err = errno;
  close(dir);
  if (r != 0) ThrowErrno(env, "mkdir " + parent + "/" + name + " in " + root, err);
  return env.Undefined();
}

Napi::Value RemoveInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Strings(info, 3, "removeInRoot(root, parent, name, isDirectory)")) return env.Undefined();
  std::string root = info[0].As<Napi::String>();
  std::string parent = info[1].As<Napi::String>();
  std::string name = info[2].As<Napi::String>();
  bool isDir = info.Length() > 3 && info[3].ToBoolean().Value();
  if (!PlainName(name)) {
    Napi::RangeError::New(env, "removeInRoot: name must be one path component").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int dir = OpenBeneath(root, parent, O_PATH | O_DIRECTORY, 0);
  if (dir < 0) {
    ThrowErrno(env, "open " + parent + " in " + root, errno);
    return env.Undefined();
  }
  // unlinkat never follows a symlink: a swapped-in link is removed itself.
  int r = unlinkat(dir, name.c_str(), isDir ? AT_REMOVEDIR : 0);
  int err = errno;
  close(dir);
  if (r != 0 && err != ENOENT) ThrowErrno(env, "remove " + parent + "/" + name + " in " + root, err);
  return env.Undefined();
}

}  // namespace hookscope
