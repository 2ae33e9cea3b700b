#pragma once
// Counters a worker pool keeps for /metrics. Written by the pool actor, read by
// the metrics endpoint on an io thread: atomics only, no other sharing.

#include <atomic>
#include <cstdint>
#include <memory>

namespace tally {

struct pool_stats {
  std::atomic<int64_t> in_flight{0};      // requests forwarded, not yet answered
  std::atomic<int64_t> workers_alive{0};  // workers running (the rest are restarting)
  std::atomic<int64_t> restarts{0};       // workers respawned after dying
  std::atomic<int64_t> rejected{0};       // requests refused: pool full or no worker alive
};

using pool_stats_ptr = std::shared_ptr<pool_stats>;

}  // namespace tally
