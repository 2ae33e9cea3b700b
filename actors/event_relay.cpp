// The outbox relay: one detached actor per context (ledger, payments,
// workflows) tails <context>.outbox and publishes (actors/events.hpp).
//
// One round, inside one transaction on the context's database:
//   1. take the context's relay lease (pg_try_advisory_xact_lock): one node
//      relays a context at a time, so per-account order holds across nodes;
//   2. read the oldest unpublished rows in outbox order (bounded batch);
//   3. insert the subscriber deliveries (events database, its own commit;
//      (endpoint, message) is unique, so a repeat inserts nothing);
//   4. XADD every event to the Redis stream (MAXLEN ~ bound);
//   5. mark the rows published and commit.
// A crash or failure anywhere before 5 leaves the rows unpublished: the next
// round (here or on another node) publishes them again with the same ids.
// A full batch is followed at once by the next round; otherwise the relay
// sleeps for the period.

#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/events.hpp"
#include "logging/log.hpp"
#include "persistence/events_store.hpp"
#include "persistence/outbox.hpp"
#include "persistence/pg.hpp"
#include "persistence/redis_client.hpp"

namespace tally {
namespace {

constexpr std::chrono::milliseconds backlog_every{1'000};
constexpr std::chrono::seconds prune_every{60};
constexpr int64_t prune_batch_max = 10'000;
constexpr int64_t backlog_count_cap = 1'000'000;
constexpr std::chrono::milliseconds failure_pause{1'000};

struct relay_settings {
  std::string schema;
  const char* source = ledger_event_source;
  std::string context_url;
  std::string events_url;
  persistence::redis_endpoint redis;
  std::string stream;
  uint32_t stream_maxlen = 0;
  uint32_t batch_max = 0;
  std::chrono::milliseconds period{200};
  uint32_t retention_s = 0;
  int64_t low_threshold = 0;
  uint32_t endpoints_max = 0;
};

struct relay_state {
  static inline const char* name = "event_relay";
  relay_settings settings;
  std::unique_ptr<persistence::pg_session> context_db;
  std::unique_ptr<persistence::pg_session> events_db;
  std::unique_ptr<persistence::redis_client> redis;
  events_stats_ptr stats_owner;  // keeps `stats` alive as long as the relay
  relay_stats* stats = nullptr;
  published_callback on_published;
  std::chrono::steady_clock::time_point last_backlog{};
  std::chrono::steady_clock::time_point last_prune{};
};

using relay_actor = caf::stateful_actor<relay_state>;

std::vector<cloud_event> build_events(relay_state& st, pqxx::transaction_base& tx) {
  const auto& s = st.settings;
  std::vector<cloud_event> events;
  if (s.schema == "ledger") {
    auto rows = persistence::unpublished_ledger_rows(tx, s.batch_max);
    std::set<std::string> users;
    for (const auto& row : rows) {
      users.insert(row.account_id);
    }
    std::map<std::string, int64_t> thresholds;
    const errc failure = st.events_db->run([&](pqxx::connection& c) {
      thresholds = persistence::low_thresholds(c, {users.begin(), users.end()});
    });
    if (failure != errc{}) {
      throw std::runtime_error(std::string("events database: ") + to_string(failure));
    }
    for (auto& row : rows) {
      auto it = thresholds.find(row.account_id);
      row.low_threshold = it == thresholds.end() ? s.low_threshold : it->second;
      for (auto& e : events_from_ledger_row(row)) {
        events.push_back(std::move(e));
      }
    }
  } else {
    for (const auto& row : persistence::unpublished_context_rows(tx, s.schema, s.batch_max)) {
      events.push_back(event_from_context_row(s.source, row));
    }
  }
  return events;
}

void fan_out_to_endpoints(relay_state& st, const std::vector<cloud_event>& events,
                          const std::vector<std::string>& bodies) {
  std::vector<persistence::new_delivery> deliveries;
  const errc failure = st.events_db->run([&](pqxx::connection& c) {
    const auto endpoints = persistence::active_endpoints(c, st.settings.endpoints_max);
    for (std::size_t i = 0; i < events.size(); ++i) {
      for (const auto& endpoint : endpoints) {
        if (event_type_matches(endpoint.event_types, events[i].type)) {
          deliveries.push_back({endpoint.endpoint_id, events[i].id, events[i].type, bodies[i]});
        }
      }
    }
    persistence::insert_deliveries(c, deliveries);
  });
  if (failure != errc{}) {
    throw std::runtime_error(std::string("events database: ") + to_string(failure));
  }
}

void publish_to_stream(relay_state& st, const std::vector<cloud_event>& events,
                       const std::vector<std::string>& bodies) {
  const auto& s = st.settings;
  std::vector<std::vector<std::string>> commands;
  commands.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    commands.push_back(
        {"XADD",    s.stream,   "MAXLEN",   "~",       std::to_string(s.stream_maxlen),
         "*",       "id",       e.id,       "type",    e.type,
         "source",  e.source,   "subject",  e.subject, "user_id",
         e.user_id, "sequence", e.sequence, "event",   bodies[i]});
  }
  auto replies = st.redis->pipeline(commands);
  if (!replies) {
    throw std::runtime_error("redis unreachable");
  }
  for (const auto& reply : *replies) {
    if (reply.type == persistence::redis_reply::kind::error) {
      // Redis's own words (e.g. "OOM command not allowed when used memory >
      // 'maxmemory'"): the one clue an operator needs. No event data in it.
      throw std::runtime_error("redis refused XADD: " + reply.text.substr(0, 200));
    }
  }
}

// One round; returns the number of outbox rows published.
std::size_t relay_round(relay_state& st) {
  std::size_t rows = 0;
  std::vector<cloud_event> published;
  const errc failure = st.context_db->run([&](pqxx::connection& c) {
    pqxx::work tx{c};
    if (!persistence::try_relay_lease(tx, st.settings.schema)) {
      return;  // another node relays this context
    }
    auto events = build_events(st, tx);
    if (events.empty()) {
      return;
    }
    std::vector<std::string> bodies;
    std::vector<int64_t> ids;
    bodies.reserve(events.size());
    for (const auto& e : events) {
      bodies.push_back(to_structured_json(e));
      if (ids.empty() || ids.back() != e.outbox_id) {
        ids.push_back(e.outbox_id);
      }
    }
    fan_out_to_endpoints(st, events, bodies);
    publish_to_stream(st, events, bodies);
    persistence::mark_published(tx, st.settings.schema, ids);
    tx.commit();
    rows = ids.size();
    published = std::move(events);
  });
  if (failure != errc{}) {
    ++st.stats->failures;
    log::warn("event_relay_failed",
              {{"context", st.settings.schema}, {"error", to_string(failure)}});
    return 0;
  }
  if (!published.empty()) {
    st.stats->published += static_cast<int64_t>(published.size());
    if (st.on_published) {
      st.on_published(published);
    }
  }
  return rows;
}

void housekeeping(relay_state& st) {
  const auto now = std::chrono::steady_clock::now();
  if (now - st.last_backlog >= backlog_every) {
    st.last_backlog = now;
    st.context_db->run([&](pqxx::connection& c) {
      const auto [count, age_ms] =
          persistence::outbox_backlog(c, st.settings.schema, backlog_count_cap);
      st.stats->backlog = count;
      st.stats->lag_ms = age_ms;
    });
  }
  if (now - st.last_prune >= prune_every) {
    st.last_prune = now;
    st.context_db->run([&](pqxx::connection& c) {
      const int64_t pruned = persistence::prune_outbox(c, st.settings.schema,
                                                       st.settings.retention_s, prune_batch_max);
      if (pruned > 0) {
        log::debug("outbox_pruned", {{"context", st.settings.schema}, {"rows", pruned}});
      }
    });
  }
}

caf::behavior relay_behavior(relay_actor* self, relay_settings settings,
                             events_stats_ptr stats_owner, relay_stats* stats,
                             published_callback on_published) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.stats_owner = std::move(stats_owner);
  st.stats = stats;
  st.on_published = std::move(on_published);
  st.context_db =
      std::make_unique<persistence::pg_session>(st.settings.context_url, std::chrono::seconds(10));
  st.events_db =
      std::make_unique<persistence::pg_session>(st.settings.events_url, std::chrono::seconds(10));
  st.redis = std::make_unique<persistence::redis_client>(st.settings.redis,
                                                         std::chrono::milliseconds(2'000));
  st.last_prune = std::chrono::steady_clock::now();
  self->send(self, evrelay_atom_v);
  return {
      [self](evrelay_atom) {
        auto& s = self->state;
        const uint64_t failures_before = static_cast<uint64_t>(s.stats->failures.load());
        const std::size_t rows = relay_round(s);
        housekeeping(s);
        if (static_cast<uint64_t>(s.stats->failures.load()) != failures_before) {
          self->delayed_send(self, failure_pause, evrelay_atom_v);
        } else if (rows >= s.settings.batch_max) {
          self->send(self, evrelay_atom_v);  // more waiting: no pause
        } else {
          self->delayed_send(self, s.settings.period, evrelay_atom_v);
        }
      },
  };
}

}  // namespace

// Spawns one relay per context that has an outbox (detached: blocking I/O).
std::vector<caf::actor> spawn_relays(caf::actor_system& sys, const config::config& cfg,
                                     const events_stats_ptr& stats,
                                     const published_callback& on_published) {
  relay_settings base;
  base.events_url = cfg.databases.events;
  persistence::parse_redis_url(cfg.redis_url, base.redis);
  base.stream = cfg.events.stream.empty() ? cfg.redis_key_prefix + "events" : cfg.events.stream;
  base.stream_maxlen = cfg.events.stream_maxlen;
  base.batch_max = cfg.events.relay_batch_max;
  base.period = std::chrono::milliseconds(cfg.events.relay_period_ms);
  base.retention_s = cfg.events.retention_s;
  base.low_threshold = cfg.events.low_balance_threshold;
  base.endpoints_max = cfg.events.endpoints_max;
  struct context {
    const char* schema;
    const char* source;
    const std::string* url;
    relay_stats* stats;
  };
  const context contexts[] = {
      {"ledger", ledger_event_source, &cfg.databases.ledger, &stats->ledger},
      {"payments", payments_event_source, &cfg.databases.payments, &stats->payments},
      {"workflows", workflows_event_source, &cfg.databases.workflows, &stats->workflows}};
  std::vector<caf::actor> relays;
  for (const auto& c : contexts) {
    relay_settings s = base;
    s.schema = c.schema;
    s.source = c.source;
    s.context_url = *c.url;
    relays.push_back(sys.spawn<caf::detached>(relay_behavior, s, stats, c.stats, on_published));
  }
  return relays;
}

}  // namespace tally
