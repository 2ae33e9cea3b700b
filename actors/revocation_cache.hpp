#pragma once
// This node's copy of the access-token deny list, so that checking a token on
// every request costs a hash lookup instead of a Redis round trip.
//
// Filled three ways: logouts on this node add their jti at once; the
// revocation sync actor (below) subscribes to the deny list's Redis channel,
// where every node publishes its logouts, and loads every denied jti from
// Redis whenever it (re)subscribes. Only while that subscription is live is
// the copy trusted ("synced"); otherwise `check` answers `unknown` and the
// caller asks Postgres, the durable record.
//
// Thread safety: shared by the io threads (check) and the sync actor and
// logout handlers (add, set_synced); all members are internally synchronized.

#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include <caf/fwd.hpp>

#include "config/config.hpp"

namespace tally {

class revocation_cache {
 public:
  enum class verdict { revoked, not_revoked, unknown };

  // Entries past this bound make the copy untrusted (Postgres decides) rather
  // than grow without limit.
  static constexpr std::size_t entries_max = 1'000'000;

  // Revoked when the jti itself or its session (the jti's prefix) is denied.
  verdict check(const std::string& jti, int64_t now_s) const;
  // The deny-list id that revokes a whole session's access tokens.
  static std::string session_key(const std::string& session_id);
  void add(const std::string& jti, int64_t expires_at_s);
  void set_synced(bool synced);
  bool synced() const { return synced_.load(); }
  // Drops entries whose tokens have expired anyway. Returns how many remain.
  std::size_t prune(int64_t now_s);

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, int64_t> expiry_by_jti_;  // guarded by mutex_
  std::atomic<bool> synced_{false};
  std::atomic<bool> overflowed_{false};
};

// Spawns the detached actor that keeps `cache` in step with Redis. `cache`
// must outlive the actor system; send the returned actor an exit at shutdown.
caf::actor spawn_revocation_sync(caf::actor_system& sys, const config::config& cfg,
                                 revocation_cache& cache);

}  // namespace tally
