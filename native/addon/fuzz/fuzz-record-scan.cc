// libFuzzer target: the record scan on any bytes, driven as record-scan.ts
// drives it (small batches, names added as they come, some refused, some
// quiet: counted, never given; some counted by time into a timeline of
// steps that moves from call to call, some made quiet or not later, some
// counted by body in epochs that change from call to call), must
// give records in order inside the payload with ids it handed out, or stop
// at a malformed record; never read outside the payload (ASan), overflow
// (UBSan) or loop without progress.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <string_view>
#include <vector>

#include "record-scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte drives the scan: the batch size (1 to 8 records) and
  // which kinds get body ids; the rest is the payload.
  const size_t capacity = 1 + (data[0] & 7);
  const uint8_t body_kinds = data[0] >> 3;
  const size_t n = size - 1;
  // A copy of exactly the payload's size, so a read one past the end is caught.
  std::unique_ptr<uint8_t[]> payload(new uint8_t[n > 0 ? n : 1]);
  if (n > 0) memcpy(payload.get(), data + 1, n);
  hookscope::RecordScan scan;
  std::vector<int32_t> out(3 * capacity);
  size_t from = 0;
  size_t last = 0;
  bool any = false;
  size_t names_seen = 0;
  std::vector<bool> quiet_ids;
  // By id: the row a quiet name is counted at (-1: only counted); whether
  // it was ever quiet.
  std::vector<int32_t> rows;
  std::vector<bool> ever_quiet;
  // By name id: whether its records are counted by body; by body id: its
  // name, and the epoch its last record given came in (-1: none yet).
  std::vector<bool> count_bodies_ids;
  std::vector<int32_t> body_names;
  std::vector<int64_t> body_epochs;
  // Three rows of 64 steps. Every time maps into them with base 0; with
  // base 2^62 the smaller ones fall outside and are given instead.
  constexpr size_t kRows = 3;
  constexpr size_t kSteps = 64;
  std::vector<double> counts(kRows * kSteps, 0);
  const double per_step = 1.0 / static_cast<double>(uint64_t{1} << 58);
  for (size_t calls = 0; calls <= 2 * n + 2; calls++) {
    hookscope::RecordScan::Timeline timeline{counts.data(), kRows, kSteps,
                                             calls % 2 == 0 ? 0.0 : static_cast<double>(uint64_t{1} << 62), per_step,
                                             INFINITY, -INFINITY};
    // Now and then, a name taken earlier made quiet (with a row) or loud.
    if (calls % 7 == 3 && !quiet_ids.empty()) {
      const size_t id = calls % quiet_ids.size();
      const bool quiet = calls % 3 != 0;
      const int32_t row = static_cast<int32_t>(calls % 5) - 1;
      if (!scan.SetQuiet(static_cast<int32_t>(id), quiet, row)) __builtin_trap();
      quiet_ids[id] = quiet;
      rows[id] = row;
      if (quiet) ever_quiet[id] = true;
    }
    if (scan.SetQuiet(static_cast<int32_t>(quiet_ids.size()), true, 0) || scan.SetQuiet(-1, true, 0)) __builtin_trap();
    // The epoch changes every third call, back and forth.
    const uint32_t epoch = static_cast<uint32_t>((calls / 3) % 2);
    scan.SetEpoch(epoch);
    const double before = std::accumulate(counts.begin(), counts.end(), 0.0);
    const auto result = scan.Scan(payload.get(), n, from, out.data(), capacity, calls % 5 == 4 ? nullptr : &timeline);
    const double added = std::accumulate(counts.begin(), counts.end(), 0.0) - before;
    // What was counted by time lies between the times it took in.
    if (added < 0 || (added > 0 && !(timeline.min <= timeline.max))) __builtin_trap();
    if (result.written > capacity || result.next > n || result.next < from) __builtin_trap();
    for (size_t i = 0; i < result.written; i++) {
      const int32_t p = out[3 * i];
      if (p < 0 || static_cast<size_t>(p) >= n || (any && static_cast<size_t>(p) <= last)) __builtin_trap();
      if (out[3 * i + 1] < -1 || out[3 * i + 1] >= static_cast<int32_t>(scan.name_count())) __builtin_trap();
      if (out[3 * i + 2] < -1 || out[3 * i + 2] >= static_cast<int32_t>(scan.body_count())) __builtin_trap();
      if (out[3 * i + 2] >= 0 && out[3 * i + 1] < 0) __builtin_trap();
      // The record's step in this call's timeline, as the scan works it out.
      const uint8_t* r = payload.get() + p;
      const double t = static_cast<double>(r[24] | (uint32_t{r[25]} << 8) | (uint32_t{r[26]} << 16) |
                                           (uint32_t{r[27]} << 24)) *
                           4294967296.0 +
                       static_cast<double>(r[20] | (uint32_t{r[21]} << 8) | (uint32_t{r[22]} << 16) |
                                           (uint32_t{r[23]} << 24));
      const double x = (t - timeline.base) * per_step;
      const bool timed = calls % 5 != 4;
      const bool outside_steps = !(x >= 0 && x < kSteps);
      // A body is one name's. A record counted by body is given only when
      // the last one of its body given came in another epoch, or when its
      // name has a row and the record is not counted by time.
      if (out[3 * i + 2] >= 0) {
        const size_t body = static_cast<size_t>(out[3 * i + 2]);
        if (body >= body_names.size()) {
          body_names.resize(body + 1, -1);
          body_epochs.resize(body + 1, -1);
        }
        if (body_names[body] >= 0 && body_names[body] != out[3 * i + 1]) __builtin_trap();
        body_names[body] = out[3 * i + 1];
        const size_t name_id = static_cast<size_t>(out[3 * i + 1]);
        if (count_bodies_ids[name_id]) {
          const int32_t row = rows[name_id];
          const bool not_timed = row >= 0 && (!timed || static_cast<size_t>(row) >= kRows || outside_steps);
          if (!quiet_ids[name_id] && !not_timed && body_epochs[body] == static_cast<int64_t>(epoch)) {
            __builtin_trap();
          }
          body_epochs[body] = epoch;
        }
      }
      // A quiet name's records are counted, never given: but for one with
      // a row, when there is no timeline this call, the row is not in it,
      // or the record's time falls outside its steps.
      if (out[3 * i + 1] >= 0 && quiet_ids[static_cast<size_t>(out[3 * i + 1])]) {
        const int32_t row = rows[static_cast<size_t>(out[3 * i + 1])];
        if (row < 0 || !(!timed || static_cast<size_t>(row) >= kRows || outside_steps)) __builtin_trap();
      }
      // With a timeline, a record given whose time is outside its steps
      // ends the call (kOutside), and only such a record does.
      const bool ends_call = i + 1 == result.written && result.stop == hookscope::RecordScan::kOutside;
      if (timed && outside_steps != ends_call) __builtin_trap();
      last = static_cast<size_t>(p);
      any = true;
    }
    if (result.stop == hookscope::RecordScan::kBad) {
      if (result.error == nullptr) __builtin_trap();
      return 0;
    }
    if (result.stop == hookscope::RecordScan::kDone) {
      if (result.next < n) __builtin_trap();
      double quiet_total = 0;
      for (size_t id = 0; id < quiet_ids.size(); id++) {
        const double counted = scan.QuietCount(static_cast<int32_t>(id));
        if (counted < 0 || (!ever_quiet[id] && !count_bodies_ids[id] && counted != 0)) __builtin_trap();
        quiet_total += counted;
      }
      // Every record counted by time was counted for its name too, and so
      // was every record counted by body: only a counted-by-body name's.
      if (std::accumulate(counts.begin(), counts.end(), 0.0) > quiet_total) __builtin_trap();
      double body_total = 0;
      for (size_t body = 0; body < scan.body_count(); body++) {
        const double counted = scan.BodyCount(static_cast<int32_t>(body));
        if (counted < 0) __builtin_trap();
        if (counted > 0 && (body >= body_names.size() || body_names[body] < 0 ||
                            !count_bodies_ids[static_cast<size_t>(body_names[body])])) {
          __builtin_trap();
        }
        body_total += counted;
      }
      if (body_total > quiet_total) __builtin_trap();
      return 0;
    }
    from = result.next;
    if (result.stop == hookscope::RecordScan::kName) {
      if (result.written > 0) continue;
      // The record at `from` has a whole header and a name inside it (the
      // scan checked both before stopping there).
      const uint8_t* r = payload.get() + from;
      const uint8_t kind = r[4];
      const size_t name_length = r[6] | (size_t{r[7]} << 8);
      const std::string_view name(reinterpret_cast<const char*>(r + 28), name_length);
      // Every fourth new name refused, as the TypeScript side does when
      // the addon stops twice on one record.
      // And every fourth taken one quiet (only counted).
      // Every fourth after that quiet with a row (-1 to 3: 3 is past the
      // timeline's rows).
      // And every eighth counted by body.
      const bool refuse = names_seen % 4 == 3;
      const bool quiet = names_seen % 4 == 1 || names_seen % 4 == 2;
      const int32_t row = names_seen % 4 == 2 ? static_cast<int32_t>((names_seen / 4) % 5) - 1 : -1;
      const bool count_bodies = names_seen % 8 == 0;
      names_seen++;
      const int32_t id =
          refuse ? -1 : scan.AddName(kind, name, (body_kinds >> kind) & 1, quiet, row, count_bodies);
      if (id >= 0) {
        if (static_cast<size_t>(id) != quiet_ids.size()) __builtin_trap();
        quiet_ids.push_back(quiet);
        rows.push_back(row);
        ever_quiet.push_back(quiet);
        count_bodies_ids.push_back(count_bodies);
      }
      if (id < 0) {
        const size_t length = r[0] | (size_t{r[1]} << 8) | (size_t{r[2]} << 16) | (size_t{r[3]} << 24);
        from += length;
      }
    }
  }
  // Every call moves on or adds a name: this many calls means a loop.
  __builtin_trap();
}
