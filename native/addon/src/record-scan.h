// Event names and repeating record bodies as small integer ids, for what
// counts and remembers by them over a whole session (the summary, policy
// learning, the html report: main/core/protocol/record-scan.ts). A large
// session raises a few hundred names and loads the same files over and
// over; looking each up here in one call per block costs far less than
// decoding or hashing every record in TypeScript.
// Plain C++, no Node: the addon calls it, and so does its fuzz target.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hookscope {

class RecordScan {
 public:
  // The bytes are whatever the target chose: every table is bounded in
  // entries, in bytes and in entries per hash bucket (records crafted to
  // share a hash cost a few comparisons each, not a walk of thousands).
  static constexpr size_t kMaxNames = 4096;
  static constexpr size_t kMaxNameBytes = 4 << 20;
  static constexpr size_t kMaxBodies = 65536;
  static constexpr size_t kMaxBodyBytes = 8 << 20;
  static constexpr size_t kMaxPerBucket = 8;

  // Why Scan returned (record-scan.ts reads the numbers).
  // kOutside: with a timeline, the last record written has its time
  // outside the steps; the caller makes room before the scan goes on, so
  // that nothing after it is counted in steps it is about to change.
  enum Stop { kDone = 0, kName = 2, kRoom = 3, kBad = 4, kOutside = 5 };

  struct Result {
    Stop stop;
    // The offset of the next record to scan (for kName: the record whose
    // name is new).
    size_t next;
    // Records written to `out`.
    size_t written;
    // For kBad: what is wrong with the record at `next`.
    const char* error;
  };

  // Where the records of a quiet name with a row are counted by time, as
  // the html report's FineTimeline (main/core/html-timeline.ts) counts
  // them: time t (the header's u64, as the nearest double) goes to step
  // x = (t - base) * per_step, truncated, when 0 <= x < steps, and adds 1
  // to counts[row * steps + x]. A record whose step is outside, or whose
  // row is not below `rows`, is written to Scan's output as if its name
  // were not quiet: the caller makes room for it. `min` and `max` take in
  // the times counted (the caller starts them at +inf and -inf).
  struct Timeline {
    double* counts;
    size_t rows;
    size_t steps;
    double base;
    double per_step;
    double min;
    double max;
  };

  // Gives the event name of records of `kind` the next id; with `bodies`,
  // those records get body ids. -1 when the table does not take it (full,
  // or its bucket is): its records are then the caller's to work out. The
  // records of a `quiet` name are only counted (QuietCount), not written
  // to Scan's output: for a caller that only counts them; with a `row`
  // (>= 0), they are also counted by time into Scan's timeline. With a
  // timeline, any record written whose time is outside the steps ends the
  // call (kOutside), so the caller sees the records in file order as far
  // as its steps go.
  //
  // With `count_bodies` (which implies `bodies`), a record of the name
  // whose body id's last record written came in the current epoch
  // (SetEpoch) is not written: it is counted by body id (BodyCount) and
  // for the name (QuietCount), as a quiet name's records are (by time too
  // when the name has a row; one outside the steps is written). For a caller whose
  // records count by their bytes and by who raised them: the summary's
  // subprocesses and sockets, where the bytes give the list entry and the
  // epoch is the process.
  int32_t AddName(uint8_t kind, std::string_view name, bool bodies, bool quiet = false, int32_t row = -1,
                  bool count_bodies = false);

  // From now on, the records of name `id` are quiet (or not), counted at
  // `row` when it is >= 0; false for an id the scan did not give.
  bool SetQuiet(int32_t id, bool quiet, int32_t row);

  // Records of the quiet name `id` scanned so far (and of a count_bodies
  // name, those counted by body).
  double QuietCount(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < quiet_counts_.size() ? quiet_counts_[id] : 0;
  }

  // The epoch the records scanned from now on come in (see AddName).
  void SetEpoch(uint32_t epoch) { epoch_ = epoch; }

  // Records of body `id` counted, not written (count_bodies names).
  double BodyCount(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < body_counts_.size() ? body_counts_[id] : 0;
  }

  // Scans the records of the events payload src[0, size) from byte offset
  // `from`: for the i-th, out[3i] = its offset, out[3i + 1] = its name's id
  // (-1 when the table would not take it), out[3i + 2] = the id of its bytes after
  // the name among records of that name (-1 when the name takes no body
  // ids or the bodies table is full). Stops after `capacity` records, at a
  // name the table may still take (kName), or at a malformed record.
  // The records of quiet names with a row are counted into `timeline`
  // (when it is null, they are written out as the records of other names).
  Result Scan(const uint8_t* src, size_t size, size_t from, int32_t* out, size_t capacity,
              Timeline* timeline = nullptr);

  size_t name_count() const { return name_count_; }
  size_t body_count() const { return body_keys_.size(); }

 private:
  struct Name {
    int32_t id;
    bool bodies;
    bool quiet;
    int32_t row;
    bool count_bodies;
  };
  // A body's epoch before any record of it is written: no epoch is this.
  static constexpr uint64_t kNoEpoch = UINT64_MAX;
  int32_t BodyId(int32_t name_id, const uint8_t* body, size_t n);

  // By record kind (1 audit, 2 open-code, 3 decision); the keys point into
  // name_keys_.
  std::array<std::unordered_map<std::string_view, Name>, 4> names_;
  std::vector<std::unique_ptr<std::string>> name_keys_;
  size_t name_count_ = 0;
  // By id: the entries of names_ (a node's address does not change).
  std::vector<Name*> by_id_;
  size_t name_bytes_ = 0;
  // By name id: records counted instead of written (quiet names; 0 for the rest).
  std::vector<double> quiet_counts_;
  // Key: the name's id (4 bytes), then the record's bytes after its name.
  std::unordered_map<std::string_view, int32_t> bodies_;
  std::vector<std::unique_ptr<std::string>> body_keys_;
  size_t body_bytes_ = 0;
  // By body id: the epoch its record was last written in, and its records
  // counted instead (count_bodies names).
  std::vector<uint64_t> body_epochs_;
  std::vector<double> body_counts_;
  uint64_t epoch_ = 0;
  std::string scratch_;
};

}  // namespace hookscope
