// The revocation cache and the detached actor that keeps it in step with
// Redis (see revocation_cache.hpp).

#include "actors/revocation_cache.hpp"

#include <chrono>
#include <mutex>

#include <caf/all.hpp>

#include "actors/type_ids.hpp"
#include "domain/assert.hpp"
#include "logging/log.hpp"
#include "persistence/redis_client.hpp"
#include "persistence/redis_subscriber.hpp"

namespace tally {

revocation_cache::verdict revocation_cache::check(const std::string& jti, int64_t now_s) const {
  if (!synced_.load() || overflowed_.load()) {
    return verdict::unknown;
  }
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto denied = [&](const std::string& id) {
    auto it = expiry_by_jti_.find(id);
    return it != expiry_by_jti_.end() && it->second >= now_s;
  };
  // An access token's jti starts with its session id: a revoked session
  // (refresh-token reuse) denies every access token it issued.
  const std::string session = session_key(jti.substr(0, jti.find('.')));
  return denied(jti) || denied(session) ? verdict::revoked : verdict::not_revoked;
}

std::string revocation_cache::session_key(const std::string& session_id) {
  return "session:" + session_id;
}

void revocation_cache::add(const std::string& jti, int64_t expires_at_s) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (expiry_by_jti_.size() >= entries_max) {
    overflowed_.store(true);
    return;
  }
  auto& expiry = expiry_by_jti_[jti];
  expiry = std::max(expiry, expires_at_s);
}

void revocation_cache::set_synced(bool synced) {
  synced_.store(synced);
}

std::size_t revocation_cache::prune(int64_t now_s) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (auto it = expiry_by_jti_.begin(); it != expiry_by_jti_.end();) {
    it = it->second < now_s ? expiry_by_jti_.erase(it) : std::next(it);
  }
  if (expiry_by_jti_.size() < entries_max) {
    overflowed_.store(false);
  }
  return expiry_by_jti_.size();
}

namespace {

using sync_actor = caf::typed_actor<caf::reacts_to<tick_atom, uint64_t>>;

constexpr std::chrono::milliseconds poll_wait{100};
constexpr std::chrono::milliseconds reconnect_delay{500};
constexpr std::chrono::milliseconds redis_timeout{500};
constexpr int64_t prune_every_ticks = 600;  // about a minute of polling

struct sync_state {
  static inline const char* name = "revocation_sync";
  revocation_cache* cache = nullptr;
  std::unique_ptr<persistence::redis_subscriber> subscriber;
  std::unique_ptr<persistence::redis_client> client;
  std::string key_prefix;  // "<prefix>deny:"
  uint64_t ticks = 0;
};

using sync_self = sync_actor::stateful_pointer<sync_state>;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Loads every denied jti from Redis (after subscribing, so nothing published
// in between is missed). Returns false when Redis failed midway.
bool load_all(sync_state& st) {
  std::string cursor = "0";
  do {
    auto page = st.client->command({"SCAN", cursor, "MATCH", st.key_prefix + "*", "COUNT", "1000"});
    if (!page || page->type != persistence::redis_reply::kind::array ||
        page->elements.size() != 2) {
      return false;
    }
    cursor = page->elements[0].text;
    std::vector<std::vector<std::string>> ttl_commands;
    std::vector<std::string> jtis;
    for (const auto& key : page->elements[1].elements) {
      jtis.push_back(key.text.substr(st.key_prefix.size()));
      ttl_commands.push_back({"TTL", key.text});
    }
    if (ttl_commands.empty()) {
      continue;
    }
    auto ttls = st.client->pipeline(ttl_commands);
    if (!ttls) {
      return false;
    }
    const int64_t now = now_s();
    for (std::size_t i = 0; i < jtis.size(); ++i) {
      const int64_t ttl = (*ttls)[i].integer;
      if (ttl > 0) {
        st.cache->add(jtis[i], now + ttl);
      }
    }
  } while (cursor != "0");
  return true;
}

void reconnect(sync_self self) {
  auto& st = self->state;
  st.cache->set_synced(false);
  if (!st.subscriber->connect(redis_timeout) || !load_all(st)) {
    st.subscriber->disconnect();
    self->delayed_send(self, reconnect_delay, tick_atom_v, uint64_t{0});
    return;
  }
  st.cache->set_synced(true);
  log::info("revocation_sync_live");
  self->send(self, tick_atom_v, uint64_t{0});
}

sync_actor::behavior_type sync_behavior(sync_self self, revocation_cache* cache,
                                        persistence::redis_endpoint endpoint,
                                        std::string key_prefix) {
  auto& st = self->state;
  st.cache = cache;
  st.key_prefix = key_prefix + "deny:";
  st.subscriber = std::make_unique<persistence::redis_subscriber>(endpoint, key_prefix + "denied");
  st.client = std::make_unique<persistence::redis_client>(endpoint, redis_timeout);
  self->send(self, tick_atom_v, uint64_t{0});
  return {
      [=](tick_atom, uint64_t) {
        auto& s = self->state;
        if (!s.subscriber->connected()) {
          return reconnect(self);
        }
        auto messages = s.subscriber->poll(poll_wait);
        if (!messages) {
          log::warn("revocation_sync_lost");
          return reconnect(self);
        }
        for (const auto& message : *messages) {
          // Payload: "<expires_at_s> <jti>".
          auto space = message.find(' ');
          if (space != std::string::npos && space > 0) {
            const int64_t expires_at = std::strtoll(message.c_str(), nullptr, 10);
            s.cache->add(message.substr(space + 1), expires_at);
          }
        }
        if (++s.ticks % prune_every_ticks == 0) {
          s.cache->prune(now_s());
        }
        self->send(self, tick_atom_v, uint64_t{0});
      },
  };
}

}  // namespace

caf::actor spawn_revocation_sync(caf::actor_system& sys, const config::config& cfg,
                                 revocation_cache& cache) {
  persistence::redis_endpoint endpoint;
  const bool parsed = persistence::parse_redis_url(cfg.redis_url, endpoint);
  TALLY_ASSERT(parsed);
  return caf::actor_cast<caf::actor>(
      sys.spawn<caf::detached>(sync_behavior, &cache, endpoint, cfg.redis_key_prefix));
}

}  // namespace tally
