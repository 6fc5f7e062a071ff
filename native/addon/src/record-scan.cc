#include "record-scan.h"

#include <cstring>

namespace hookscope {
namespace {

// The record header (docs/protocol.md): u32 length, u8 kind, u8 flags,
// u16 name length, u32 thread, u64 seq, u64 time; the name follows.
constexpr size_t kHeaderSize = 28;

uint32_t ReadU16(const uint8_t* s) { return s[0] | (uint32_t{s[1]} << 8); }
uint32_t ReadU32(const uint8_t* s) {
  return s[0] | (uint32_t{s[1]} << 8) | (uint32_t{s[2]} << 16) | (uint32_t{s[3]} << 24);
}

template <typename Map>
bool BucketFull(const Map& map, std::string_view key) {
  return map.bucket_count() > 0 && map.bucket_size(map.bucket(key)) >= RecordScan::kMaxPerBucket;
}

// The record's time as TypeScript reads it: high word times 2^32 plus low
// word, in doubles.
double TimeOf(const uint8_t* r) {
  return static_cast<double>(ReadU32(r + 24)) * 4294967296.0 + static_cast<double>(ReadU32(r + 20));
}

// The step of time `t` in the timeline's steps: x = (t - base) * per_step;
// whether 0 <= x < steps.
bool InSteps(double t, const RecordScan::Timeline& timeline, double* x) {
  *x = (t - timeline.base) * timeline.per_step;
  return *x >= 0 && *x < static_cast<double>(timeline.steps);
}

// Whether a quiet name's record at `r` is counted: always without a row;
// with one, when its time falls in the timeline's steps (it is counted there).
bool Counted(int32_t row, const uint8_t* r, RecordScan::Timeline* timeline) {
  if (row < 0) return true;
  if (timeline == nullptr || static_cast<size_t>(row) >= timeline->rows) return false;
  const double t = TimeOf(r);
  double x;
  if (!InSteps(t, *timeline, &x)) return false;
  timeline->counts[static_cast<size_t>(row) * timeline->steps + static_cast<size_t>(x)] += 1;
  if (t < timeline->min) timeline->min = t;
  if (t > timeline->max) timeline->max = t;
  return true;
}

}  // namespace

int32_t RecordScan::AddName(uint8_t kind, std::string_view name, bool bodies, bool quiet, int32_t row,
                            bool count_bodies) {
  if (kind == 0 || kind >= names_.size()) return -1;
  auto& names = names_[kind];
  auto found = names.find(name);
  if (found != names.end()) return found->second.id;
  if (name_count_ >= kMaxNames || name.size() > kMaxNameBytes - name_bytes_ || BucketFull(names, name)) {
    return -1;
  }
  name_keys_.push_back(std::make_unique<std::string>(name));
  const int32_t id = static_cast<int32_t>(name_count_++);
  auto added = names.emplace(std::string_view(*name_keys_.back()),
                             Name{id, bodies || count_bodies, quiet, row < 0 ? -1 : row, count_bodies});
  by_id_.push_back(&added.first->second);
  quiet_counts_.push_back(0);
  name_bytes_ += name.size();
  return id;
}

bool RecordScan::SetQuiet(int32_t id, bool quiet, int32_t row) {
  if (id < 0 || static_cast<size_t>(id) >= by_id_.size()) return false;
  by_id_[id]->quiet = quiet;
  by_id_[id]->row = row < 0 ? -1 : row;
  return true;
}

int32_t RecordScan::BodyId(int32_t name_id, const uint8_t* body, size_t n) {
  scratch_.resize(4 + n);
  memcpy(&scratch_[0], &name_id, 4);
  if (n > 0) memcpy(&scratch_[4], body, n);
  const std::string_view key(scratch_);
  auto found = bodies_.find(key);
  if (found != bodies_.end()) return found->second;
  if (body_keys_.size() >= kMaxBodies || key.size() > kMaxBodyBytes - body_bytes_ || BucketFull(bodies_, key)) {
    return -1;
  }
  body_keys_.push_back(std::make_unique<std::string>(key));
  const int32_t id = static_cast<int32_t>(body_keys_.size() - 1);
  bodies_.emplace(std::string_view(*body_keys_.back()), id);
  body_bytes_ += key.size();
  body_epochs_.push_back(kNoEpoch);
  body_counts_.push_back(0);
  return id;
}

RecordScan::Result RecordScan::Scan(const uint8_t* src, size_t size, size_t from, int32_t* out, size_t capacity,
                                    Timeline* timeline) {
  size_t p = from;
  size_t written = 0;
  const bool names_full = name_count_ >= kMaxNames;
  while (p < size) {
    if (written == capacity) return {kRoom, p, written, nullptr};
    if (size - p < kHeaderSize) return {kBad, p, written, "record header runs past the end of the payload"};
    const uint8_t* r = src + p;
    const size_t length = ReadU32(r);
    const size_t name_length = ReadU16(r + 6);
    const uint8_t kind = r[4];
    if (length < kHeaderSize || length > size - p) {
      return {kBad, p, written, "record length runs past the end of the payload"};
    }
    if (name_length > length - kHeaderSize) return {kBad, p, written, "event name runs past the end of the record"};
    if (kind == 0 || kind >= names_.size()) return {kBad, p, written, "unknown record kind"};
    // Offsets are stored as int32: a payload is at most a few MiB, but a
    // caller's buffer is not ours to trust.
    if (p > 0x7fffffff) return {kBad, p, written, "record offset past 2^31"};
    const std::string_view name(reinterpret_cast<const char*>(r + kHeaderSize), name_length);
    const auto& names = names_[kind];
    auto found = names.find(name);
    int32_t name_id = -1;
    int32_t body_id = -1;
    if (found != names.end()) {
      name_id = found->second.id;
      if (found->second.quiet && Counted(found->second.row, r, timeline)) {
        quiet_counts_[name_id]++;
        p += length;
        continue;
      }
      if (found->second.bodies) {
        const size_t body = kHeaderSize + name_length;
        body_id = BodyId(name_id, r + body, length - body);
      }
      if (found->second.count_bodies && body_id >= 0) {
        if (body_epochs_[body_id] == epoch_ && Counted(found->second.row, r, timeline)) {
          body_counts_[body_id]++;
          quiet_counts_[name_id]++;
          p += length;
          continue;
        }
        body_epochs_[body_id] = epoch_;
      }
    } else if (!names_full && name.size() <= kMaxNameBytes - name_bytes_ && !BucketFull(names, name)) {
      // A name AddName would take: the caller names it and calls again.
      // One it would refuse gets -1 here, so a target cannot make every
      // record of a refused name cost a round trip.
      return {kName, p, written, nullptr};
    }
    out[3 * written] = static_cast<int32_t>(p);
    out[3 * written + 1] = name_id;
    out[3 * written + 2] = body_id;
    written++;
    p += length;
    // A record the caller may count outside the steps: it changes them
    // first (records after it are counted in the steps it makes).
    double x;
    if (timeline != nullptr && !InSteps(TimeOf(r), *timeline, &x)) return {kOutside, p, written, nullptr};
  }
  return {kDone, p, written, nullptr};
}

}  // namespace hookscope
