// Redis workers and their pool (see cache.hpp).

#include <chrono>

#include "actors/cache.hpp"
#include "actors/worker_pool.hpp"
#include "domain/assert.hpp"
#include "persistence/redis_client.hpp"

namespace tally {
namespace {

using persistence::redis_client;
using persistence::redis_reply;

constexpr std::chrono::milliseconds redis_timeout{500};

struct cache_worker_state {
  static inline const char* name = "cache_worker";
  std::unique_ptr<redis_client> redis;
  // Keys are namespaced (TALLY_REDIS_KEY_PREFIX) so engines can share a Redis.
  std::string deny_prefix;
  std::string deny_channel;
  std::string rate_prefix;
};

using cache_worker = cache_actor::stateful_pointer<cache_worker_state>;

caf::result<bool> on_deny(cache_worker self, const std::string& jti, int64_t ttl_s) {
  const int64_t ttl = std::max<int64_t>(ttl_s, 1);
  const int64_t expires_at = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() +
                             ttl;
  // The key is the record; the message tells every node's revocation cache at once.
  auto replies = self->state.redis->pipeline(
      {{"SET", self->state.deny_prefix + jti, "1", "EX", std::to_string(ttl)},
       {"PUBLISH", self->state.deny_channel, std::to_string(expires_at) + " " + jti}});
  if (!replies || (*replies)[0].type == redis_reply::kind::error) {
    return errc::cache_unavailable;
  }
  return true;
}

caf::result<bool> on_denied(cache_worker self, const std::string& jti) {
  auto reply = self->state.redis->command({"EXISTS", self->state.deny_prefix + jti});
  if (!reply || reply->type != redis_reply::kind::integer) {
    return errc::cache_unavailable;
  }
  return reply->integer > 0;
}

caf::result<rate_count> on_rate(cache_worker self, const std::string& key, int64_t window_s) {
  TALLY_ASSERT(window_s > 0);
  const std::string full = self->state.rate_prefix + key;
  // INCR then EXPIRE NX-style: only the first hit of a window sets the expiry,
  // so a window cannot be stretched by steady traffic. TTL reports the reset.
  auto replies = self->state.redis->pipeline({{"INCR", full},
                                              {"EXPIRE", full, std::to_string(window_s), "NX"},
                                              {"TTL", full}});
  if (!replies || (*replies)[0].type != redis_reply::kind::integer ||
      (*replies)[2].type != redis_reply::kind::integer) {
    return errc::cache_unavailable;
  }
  return rate_count{(*replies)[0].integer, std::max<int64_t>((*replies)[2].integer, 0)};
}

caf::result<bool> on_ping(cache_worker self) {
  auto reply = self->state.redis->command({"PING"});
  if (!reply || reply->type == redis_reply::kind::error) {
    return errc::cache_unavailable;
  }
  return true;
}

cache_actor::behavior_type cache_worker_behavior(cache_worker self,
                                                 persistence::redis_endpoint endpoint,
                                                 std::string key_prefix) {
  self->state.redis = std::make_unique<redis_client>(endpoint, redis_timeout);
  self->state.deny_prefix = key_prefix + "deny:";
  self->state.deny_channel = key_prefix + "denied";
  self->state.rate_prefix = key_prefix + "rate:";
  return {
      [=](deny_atom, const std::string& jti, int64_t ttl_s) { return on_deny(self, jti, ttl_s); },
      [=](denied_atom, const std::string& jti) { return on_denied(self, jti); },
      [=](rate_atom, const std::string& key, int64_t window_s) {
        return on_rate(self, key, window_s);
      },
      [=](ping_atom) { return on_ping(self); },
  };
}

using cache_pool = pool_interface<cache_actor>;

cache_pool::behavior_type cache_pool_behavior(
    cache_pool::stateful_pointer<worker_pool_state<cache_actor>> self, uint32_t workers,
    uint32_t depth_max, std::chrono::milliseconds timeout, persistence::redis_endpoint endpoint,
    std::string key_prefix, pool_stats_ptr stats) {
  auto& sys = self->system();
  pool_start<cache_actor>(self, workers, depth_max, timeout, [&sys, endpoint, key_prefix] {
    return sys.spawn<caf::detached>(cache_worker_behavior, endpoint, key_prefix);
  }, stats);
  return {
      [=](deny_atom a, const std::string& jti, int64_t ttl_s) {
        return pool_forward<bool>(self, a, jti, ttl_s);
      },
      [=](denied_atom a, const std::string& jti) { return pool_forward<bool>(self, a, jti); },
      [=](rate_atom a, const std::string& key, int64_t window_s) {
        return pool_forward<rate_count>(self, a, key, window_s);
      },
      [=](ping_atom a) { return pool_forward<bool>(self, a); },
      [=](restart_atom, uint64_t index) { pool_restart<cache_actor>(self, index); },
  };
}

}  // namespace

cache_actor spawn_cache(caf::actor_system& sys, const config::config& cfg,
                        pool_stats_ptr stats) {
  persistence::redis_endpoint endpoint;
  const bool parsed = persistence::parse_redis_url(cfg.redis_url, endpoint);
  TALLY_ASSERT(parsed);  // config::load validated the URL's scheme; main checks the rest
  auto pool = sys.spawn(cache_pool_behavior, cfg.actors.redis_workers,
                        cfg.actors.db_queue_depth_max, std::chrono::milliseconds(1'000), endpoint,
                        cfg.redis_key_prefix, std::move(stats));
  return caf::actor_cast<cache_actor>(pool);
}

}  // namespace tally
