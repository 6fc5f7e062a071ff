{
  "targets": [
    {
      "target_name": "hookscope_native",
      "sources": ["src/addon.cc", "src/peer-credentials.cc", "src/root-files.cc", "src/report-writer.cc", "src/events-check.cc", "src/record-scan.cc", "src/chunk-read.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
