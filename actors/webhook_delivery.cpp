// Subscriber webhook deliveries (actors/events.hpp, docs/events.md).
//
// Endpoints are sharded by hash over `delivery_workers` detached actors; each
// owns one Postgres connection and one outbound HTTP client, and holds its
// shard's session advisory lock, so exactly one engine node delivers a shard.
// Per endpoint, only the head pending delivery (lowest position) is ever
// attempted: an endpoint receives its events in order, and a delivery waiting
// for its retry holds the ones behind it back. One attempt per delivery per
// scan: the outbound client never retries on its own here; the schedule does.

#include <chrono>
#include <random>
#include <string>

#include <caf/all.hpp>

#include "actors/events.hpp"
#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "logging/log.hpp"
#include "outbound/http_client.hpp"
#include "persistence/events_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

constexpr int64_t due_scan_max = 16;  // head deliveries attempted per scan
constexpr std::size_t response_bytes_max = 64 * 1024;

struct delivery_settings {
  std::string events_url;
  int shard = 0;
  int shards = 1;
  retry_schedule schedule;
  std::chrono::milliseconds timeout{15'000};
  std::chrono::milliseconds poll{250};
  std::chrono::milliseconds disable_after{std::chrono::hours(120)};
  std::size_t excerpt_bytes = 1'024;
  std::shared_ptr<const outbound::target_policy> policy;
};

struct delivery_state {
  static inline const char* name = "webhook_delivery";
  delivery_settings settings;
  std::unique_ptr<persistence::pg_session> db;
  std::unique_ptr<outbound::http_client> client;
  events_stats_ptr stats;
  bool holds_shard = false;
  pqxx::connection* locked_on = nullptr;  // the connection that holds the shard lock
  std::minstd_rand random{std::random_device{}()};
};

using delivery_actor = caf::stateful_actor<delivery_state>;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A printable-ASCII excerpt: a subscriber's answer is stored as text and shown
// to admins, so control bytes and invalid UTF-8 never reach Postgres.
std::string excerpt_of(const std::string& body, std::size_t max) {
  std::string out;
  const std::size_t n = std::min(body.size(), max);
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    out += (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' ? static_cast<char>(c) : '?';
  }
  return out;
}

persistence::attempt_result attempt(delivery_state& st, const persistence::due_delivery& d) {
  const auto& s = st.settings;
  persistence::attempt_result result;
  result.delivery_id = d.delivery_id;
  result.endpoint_id = d.endpoint_id;
  result.attempt = d.attempts + 1;
  result.manual = d.manual;
  outbound::request request;
  request.method = "POST";
  request.url = d.url;
  const int64_t timestamp = now_s();
  request.headers = {
      {"Content-Type", "application/cloudevents+json; charset=utf-8"},
      {"webhook-id", d.message_id},
      {"webhook-timestamp", std::to_string(timestamp)},
      {"webhook-signature", sign_webhook(d.secret, d.message_id, timestamp, d.payload)}};
  request.body = d.payload;
  request.connect_timeout = std::min(s.timeout, std::chrono::milliseconds(3'000));
  request.timeout = s.timeout;
  outbound::retry_policy once;
  once.mode = outbound::retry_mode::never;
  once.attempts_max = 1;
  once.budget = s.timeout;
  once.honour_retry_after = false;
  const auto started = std::chrono::steady_clock::now();
  const outbound::outcome outcome = st.client->send(request, once);
  result.latency_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count());
  std::optional<std::chrono::seconds> retry_after;
  if (outcome.ok()) {
    result.status_code = outcome.response->status;
    result.response_excerpt = excerpt_of(outcome.response->body, s.excerpt_bytes);
    retry_after = parse_retry_after(outcome.response->header("retry-after"));
  } else {
    result.error = to_string(outcome.error);
  }
  switch (classify_attempt(result.status_code)) {
    case attempt_verdict::delivered:
      result.new_status = "succeeded";
      break;
    case attempt_verdict::gone:
      result.new_status = "failed";
      result.disable_endpoint = true;
      result.disabled_reason = "the endpoint answered 410 Gone";
      break;
    case attempt_verdict::retry: {
      result.endpoint_failing = true;
      // A replay is one manual attempt (as Svix): it is not retried.
      const auto delay =
          d.manual ? std::nullopt
                   : next_retry_delay(s.schedule, static_cast<uint32_t>(result.attempt),
                                      std::uniform_real_distribution<double>(0.0, 1.0)(st.random),
                                      retry_after);
      result.new_status = delay ? "pending" : "failed";
      result.retry_in_ms = delay ? delay->count() : 0;
      break;
    }
  }
  return result;
}

// Takes (or re-takes after a reconnect) the shard's lock. False: another node has it.
bool hold_shard(delivery_state& st, pqxx::connection& c) {
  if (st.holds_shard && st.locked_on == &c) {
    return true;
  }
  st.holds_shard = persistence::try_lock_shard(c, st.settings.shard);
  st.locked_on = st.holds_shard ? &c : nullptr;
  return st.holds_shard;
}

// One scan; returns how many deliveries were attempted.
std::size_t scan(delivery_state& st) {
  std::vector<persistence::due_delivery> due;
  const errc failure = st.db->run([&](pqxx::connection& c) {
    if (hold_shard(st, c)) {
      due = persistence::due_heads(c, st.settings.shard, st.settings.shards, due_scan_max);
    }
  });
  if (failure != errc{}) {
    st.holds_shard = false;
    return 0;
  }
  for (const auto& d : due) {
    const auto result = attempt(st, d);
    int64_t failing_ms = 0;
    const errc stored = st.db->run([&](pqxx::connection& c) {
      failing_ms = persistence::record_attempt(c, result);
      if (result.endpoint_failing && !result.disable_endpoint &&
          failing_ms >= st.settings.disable_after.count()) {
        persistence::disable_endpoint(c, d.endpoint_id, "failing for too long");
        ++st.stats->endpoints_disabled;
        log::warn("webhook_endpoint_disabled",
                  {{"endpoint_id", d.endpoint_id}, {"reason", "sustained failure"}});
      }
    });
    if (stored != errc{}) {
      // The attempt happened but is not recorded: it will be made again (at-least-once).
      log::warn("webhook_attempt_not_recorded",
                {{"delivery_id", d.delivery_id}, {"error", to_string(stored)}});
      st.holds_shard = false;
      return 0;
    }
    if (result.new_status == "succeeded") {
      ++st.stats->deliveries_succeeded;
    } else {
      ++st.stats->deliveries_failed_attempts;
      log::info("webhook_attempt_failed", {{"delivery_id", d.delivery_id},
                                           {"endpoint_id", d.endpoint_id},
                                           {"attempt", result.attempt},
                                           {"status_code", result.status_code},
                                           {"error", result.error},
                                           {"next", result.new_status}});
    }
    if (result.disable_endpoint) {
      ++st.stats->endpoints_disabled;
      log::warn("webhook_endpoint_disabled",
                {{"endpoint_id", d.endpoint_id}, {"reason", result.disabled_reason}});
    }
  }
  return due.size();
}

caf::behavior delivery_behavior(delivery_actor* self, delivery_settings settings,
                                events_stats_ptr stats) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.stats = std::move(stats);
  st.db =
      std::make_unique<persistence::pg_session>(st.settings.events_url, std::chrono::seconds(10));
  outbound::client_options options;
  options.policy = st.settings.policy;
  options.response_bytes_max = response_bytes_max;
  st.client = std::make_unique<outbound::http_client>(options);
  self->send(self, evdeliver_atom_v);
  return {
      [self](evdeliver_atom) {
        auto& s = self->state;
        const std::size_t attempted = scan(s);
        if (attempted >= static_cast<std::size_t>(due_scan_max)) {
          self->send(self, evdeliver_atom_v);
        } else {
          self->delayed_send(self, s.settings.poll, evdeliver_atom_v);
        }
      },
  };
}

}  // namespace

std::string sign_webhook(const std::string& whsec_secret, const std::string& message_id,
                         int64_t timestamp_s, const std::string& body) {
  const auto key = parse_whsec(whsec_secret);
  if (!key) {
    return {};
  }
  return webhook_signature_header(
      auth::hmac_sha256(*key, webhook_signed_content(message_id, timestamp_s, body)));
}

std::vector<caf::actor> spawn_deliverers(caf::actor_system& sys, const config::config& cfg,
                                         std::shared_ptr<const outbound::target_policy> policy,
                                         const events_stats_ptr& stats) {
  delivery_settings base;
  base.events_url = cfg.databases.events;
  base.shards = static_cast<int>(cfg.events.delivery_workers);
  auto schedule = parse_retry_schedule(cfg.events.retry_schedule);
  TALLY_ASSERT(schedule.has_value());  // config::load validated it
  base.schedule = *schedule;
  base.timeout = std::chrono::milliseconds(cfg.events.delivery_timeout_ms);
  base.poll = std::chrono::milliseconds(cfg.events.delivery_poll_ms);
  base.disable_after = std::chrono::seconds(cfg.events.disable_after_s);
  base.excerpt_bytes = cfg.events.response_excerpt_bytes;
  base.policy = std::move(policy);
  std::vector<caf::actor> out;
  for (int shard = 0; shard < base.shards; ++shard) {
    delivery_settings s = base;
    s.shard = shard;
    out.push_back(sys.spawn<caf::detached>(delivery_behavior, s, stats));
  }
  return out;
}

}  // namespace tally
