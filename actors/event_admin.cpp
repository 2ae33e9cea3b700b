// The events admin pool (webhook endpoints, delivery log, replay) and
// spawn_events, which starts everything in actors/events.hpp.

#include <chrono>
#include <string>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/events.hpp"
#include "actors/worker_pool.hpp"
#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "domain/cursor.hpp"
#include "persistence/events_store.hpp"
#include "persistence/pg.hpp"

namespace tally {

// In event_relay.cpp and webhook_delivery.cpp.
std::vector<caf::actor> spawn_relays(caf::actor_system& sys, const config::config& cfg,
                                     const events_stats_ptr& stats,
                                     const published_callback& on_published);
std::vector<caf::actor> spawn_deliverers(caf::actor_system& sys, const config::config& cfg,
                                         std::shared_ptr<const outbound::target_policy> policy,
                                         const events_stats_ptr& stats);
// In event_reader.cpp.
events_reader_actor spawn_stream_reader(caf::actor_system& sys, const config::config& cfg);

namespace {

struct admin_state {
  static inline const char* name = "events_admin";
  std::unique_ptr<persistence::pg_session> db;
  uint32_t endpoints_max = 0;
  int64_t low_threshold_default = 0;
};

using admin_worker = events_admin_actor::stateful_pointer<admin_state>;

nlohmann::json endpoint_json(const persistence::endpoint_row& e) {
  return {{"id", e.endpoint_id},
          {"url", e.url},
          {"event_types", e.event_types},
          {"status", e.status},
          {"disabled_reason",
           e.disabled_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.disabled_reason)},
          {"created_at", e.created_at}};
}

nlohmann::json delivery_json(const persistence::delivery_row& d) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : d.attempts) {
    attempts.push_back(
        {{"attempt", a.attempt},
         {"trigger", a.trigger},
         {"at", a.at},
         {"status_code", a.status_code ? nlohmann::json(a.status_code) : nlohmann::json(nullptr)},
         {"error", a.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.error)},
         {"response_excerpt", a.response_excerpt},
         {"latency_ms", a.latency_ms}});
  }
  return {{"id", d.delivery_id},
          {"webhook_id", d.message_id},
          {"event_type", d.event_type},
          {"status", d.status},
          {"attempt_count", d.attempt_count},
          {"next_attempt_at",
           d.status == "pending" ? nlohmann::json(d.next_attempt_at) : nlohmann::json(nullptr)},
          {"last_status_code",
           d.last_status_code ? nlohmann::json(d.last_status_code) : nlohmann::json(nullptr)},
          {"created_at", d.created_at},
          {"finished_at",
           d.finished_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.finished_at)},
          {"attempts", attempts}};
}

// Decodes a page cursor ("" = first page).
caf::expected<std::optional<cursor_position>> after_of(const std::string& cursor) {
  if (cursor.empty()) {
    return std::optional<cursor_position>{};
  }
  auto position = decode_cursor(cursor);
  if (!position) {
    return position.error();
  }
  return std::optional<cursor_position>{*position};
}

const std::string& id_of(const persistence::endpoint_row& row) {
  return row.endpoint_id;
}
const std::string& id_of(const persistence::delivery_row& row) {
  return row.delivery_id;
}

// {"items": [...], "next_cursor": ..., "has_more": ...} from limit + 1 rows.
template <class Row, class Render>
std::string page_json(std::vector<Row> rows, int limit, Render render) {
  const bool has_more = static_cast<int>(rows.size()) > limit;
  if (has_more) {
    rows.resize(static_cast<std::size_t>(limit));
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : rows) {
    items.push_back(render(row));
  }
  nlohmann::json next = nullptr;
  if (has_more) {
    const auto& last = rows.back();
    next = encode_cursor({last.created_at_us, id_of(last)});
  }
  return nlohmann::json{{"items", items}, {"next_cursor", next}, {"has_more", has_more}}.dump();
}

template <class Body>
caf::result<std::string> with_db(admin_worker self, Body body) {
  std::string out;
  errc failure_code{};
  const errc failure =
      self->state.db->run([&](pqxx::connection& c) { failure_code = body(c, out); });
  if (failure != errc{}) {
    return caf::make_error(failure);
  }
  if (failure_code != errc{}) {
    return caf::make_error(failure_code);
  }
  return out;
}

std::string threshold_json(int64_t threshold, bool is_own) {
  return nlohmann::json{{"threshold", threshold}, {"source", is_own ? "user" : "default"}}.dump();
}

// The threshold in force for `user_id`: their own, else the default.
std::string effective_threshold_json(admin_worker self, pqxx::connection& c,
                                     const std::string& user_id) {
  const auto own = persistence::low_thresholds(c, {user_id});
  const auto it = own.find(user_id);
  return it == own.end() ? threshold_json(self->state.low_threshold_default, false)
                         : threshold_json(it->second, true);
}

events_admin_actor::behavior_type admin_worker_behavior(admin_worker self, std::string url,
                                                        uint32_t endpoints_max,
                                                        int64_t low_threshold_default) {
  self->state.db = std::make_unique<persistence::pg_session>(url, std::chrono::seconds(5));
  self->state.endpoints_max = endpoints_max;
  self->state.low_threshold_default = low_threshold_default;
  return {
      [=](lowget_atom, const std::string& user_id) -> caf::result<std::string> {
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          out = effective_threshold_json(self, c, user_id);
          return errc{};
        });
      },
      [=](lowset_atom, const std::string& user_id, int64_t threshold) -> caf::result<std::string> {
        TALLY_ASSERT(threshold >= 0);
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          persistence::set_low_threshold(c, user_id, threshold);
          out = threshold_json(threshold, true);
          return errc{};
        });
      },
      [=](lowclear_atom, const std::string& user_id) -> caf::result<std::string> {
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          persistence::clear_low_threshold(c, user_id);
          out = threshold_json(self->state.low_threshold_default, false);
          return errc{};
        });
      },
      [=](epcreate_atom, const std::string& endpoint_url,
          const std::string& types_json) -> caf::result<std::string> {
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          if (persistence::active_endpoints(c, self->state.endpoints_max).size() >=
              self->state.endpoints_max) {
            return errc::overloaded;
          }
          std::vector<std::string> types;
          for (const auto& t : nlohmann::json::parse(types_json)) {
            types.push_back(t.get<std::string>());
          }
          const std::string id = auth::new_uuid_v4();
          const std::string secret = format_whsec(auth::random_bytes(whsec_key_bytes));
          persistence::create_endpoint(c, id, endpoint_url, types, secret);
          auto row = persistence::find_endpoint(c, id);
          TALLY_ASSERT(row.has_value());
          auto body = endpoint_json(*row);
          body["secret"] = secret;  // returned once, here
          out = body.dump();
          return errc{};
        });
      },
      [=](eplist_atom, const std::string& cursor, int32_t limit) -> caf::result<std::string> {
        auto after = after_of(cursor);
        if (!after) {
          return after.error();
        }
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          out = page_json(persistence::endpoints_page(c, *after, limit), limit, endpoint_json);
          return errc{};
        });
      },
      [=](epget_atom, const std::string& id) -> caf::result<std::string> {
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          auto row = persistence::find_endpoint(c, id);
          if (!row) {
            return errc::not_found;
          }
          out = endpoint_json(*row).dump();
          return errc{};
        });
      },
      [=](epdelete_atom, const std::string& id) -> caf::result<bool> {
        bool deleted = false;
        const errc failure = self->state.db->run(
            [&](pqxx::connection& c) { deleted = persistence::delete_endpoint(c, id); });
        if (failure != errc{}) {
          return caf::make_error(failure);
        }
        if (!deleted) {
          return caf::make_error(errc::not_found);
        }
        return true;
      },
      [=](dlist_atom, const std::string& endpoint_id, const std::string& cursor,
          int32_t limit) -> caf::result<std::string> {
        auto after = after_of(cursor);
        if (!after) {
          return after.error();
        }
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          if (!persistence::find_endpoint(c, endpoint_id)) {
            return errc::not_found;
          }
          out = page_json(persistence::deliveries_page(c, endpoint_id, *after, limit), limit,
                          delivery_json);
          return errc{};
        });
      },
      [=](dreplay_atom, const std::string& endpoint_id,
          const std::string& delivery_id) -> caf::result<std::string> {
        return with_db(self, [&](pqxx::connection& c, std::string& out) {
          auto row = persistence::replay_delivery(c, endpoint_id, delivery_id);
          if (!row) {
            return errc::not_found;
          }
          out = delivery_json(*row).dump();
          return errc{};
        });
      },
  };
}

using admin_pool = pool_interface<events_admin_actor>;
using admin_pool_state = worker_pool_state<events_admin_actor>;

admin_pool::behavior_type admin_pool_behavior(admin_pool::stateful_pointer<admin_pool_state> self,
                                              uint32_t workers, uint32_t depth_max,
                                              std::chrono::milliseconds timeout, std::string url,
                                              uint32_t endpoints_max, int64_t low_threshold_default,
                                              pool_stats_ptr stats) {
  auto& sys = self->system();
  pool_start<events_admin_actor>(
      self, workers, depth_max, timeout,
      [&sys, url, endpoints_max, low_threshold_default] {
        return sys.spawn<caf::detached>(admin_worker_behavior, url, endpoints_max,
                                        low_threshold_default);
      },
      stats);
  return {
      [=](epcreate_atom a, const std::string& u, const std::string& t) {
        return pool_forward<std::string>(self, a, u, t);
      },
      [=](eplist_atom a, const std::string& c, int32_t l) {
        return pool_forward<std::string>(self, a, c, l);
      },
      [=](epget_atom a, const std::string& id) { return pool_forward<std::string>(self, a, id); },
      [=](epdelete_atom a, const std::string& id) { return pool_forward<bool>(self, a, id); },
      [=](dlist_atom a, const std::string& e, const std::string& c, int32_t l) {
        return pool_forward<std::string>(self, a, e, c, l);
      },
      [=](dreplay_atom a, const std::string& e, const std::string& d) {
        return pool_forward<std::string>(self, a, e, d);
      },
      [=](lowget_atom a, const std::string& u) { return pool_forward<std::string>(self, a, u); },
      [=](lowset_atom a, const std::string& u, int64_t t) {
        return pool_forward<std::string>(self, a, u, t);
      },
      [=](lowclear_atom a, const std::string& u) { return pool_forward<std::string>(self, a, u); },
      [=](restart_atom, uint64_t index) { pool_restart<events_admin_actor>(self, index); },
  };
}

}  // namespace

events_handles spawn_events(caf::actor_system& sys, const config::config& cfg,
                            std::shared_ptr<const outbound::target_policy> policy,
                            events_stats_ptr stats, published_callback on_published,
                            pool_stats_ptr admin_stats) {
  TALLY_ASSERT(stats != nullptr);
  events_handles handles;
  auto pool =
      sys.spawn(admin_pool_behavior, cfg.events.admin_workers, cfg.actors.db_queue_depth_max,
                std::chrono::milliseconds(cfg.actors.request_timeout_ms), cfg.databases.events,
                cfg.events.endpoints_max, static_cast<int64_t>(cfg.events.low_balance_threshold),
                std::move(admin_stats));
  handles.admin = caf::actor_cast<events_admin_actor>(pool);
  handles.reader = spawn_stream_reader(sys, cfg);
  handles.relays = spawn_relays(sys, cfg, stats, on_published);
  handles.deliverers = spawn_deliverers(sys, cfg, std::move(policy), stats);
  return handles;
}

}  // namespace tally
