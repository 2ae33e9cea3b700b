#pragma once
// The one retry/backoff rule: exponential growth from `delay_min` to
// `delay_max`, with "full jitter" on the upper half so that many retrying
// clients spread out. Pure: the caller passes the random draw.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace tally {

// Returns the delay before attempt number `attempt` (0-based).
// REQUIRES: delay_min <= delay_max, 0.0 <= unit_random < 1.0.
inline std::chrono::milliseconds backoff_delay(uint32_t attempt, std::chrono::milliseconds delay_min,
                                               std::chrono::milliseconds delay_max,
                                               double unit_random) {
  const uint32_t shift = std::min<uint32_t>(attempt, 30);
  const int64_t grown = std::min<int64_t>(delay_max.count(), delay_min.count() << shift);
  const int64_t half = grown / 2;
  const auto jitter = static_cast<int64_t>(static_cast<double>(grown - half) * unit_random);
  return std::chrono::milliseconds(std::max<int64_t>(delay_min.count(), half + jitter));
}

}  // namespace tally
