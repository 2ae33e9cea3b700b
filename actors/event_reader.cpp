// The live stream's reader pool (actors/events.hpp, events_reader_actor): detached workers,
// each owning its connections to the ledger, payments, workflows and events databases
// (one connection per distinct URL), behind a bounded worker_pool. A stream asks it once
// when it opens (its head, or the first page after Last-Event-ID) and again for each further
// catch-up page; live events then come from the relays through the hub (http/event_hub.hpp).

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/events.hpp"
#include "actors/worker_pool.hpp"
#include "domain/assert.hpp"
#include "persistence/events_store.hpp"
#include "persistence/outbox.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

constexpr std::chrono::seconds statement_timeout{5};

struct reader_settings {
  std::string ledger_url;
  std::string payments_url;
  std::string workflows_url;
  std::string events_url;
  int64_t low_threshold = 0;  // the default balance.low threshold
};

struct reader_state {
  static inline const char* name = "events_reader";
  reader_settings settings;
  // By URL: contexts that share a database share a connection.
  std::map<std::string, std::unique_ptr<persistence::pg_session>> sessions;

  persistence::pg_session& session(const std::string& url) {
    auto& slot = sessions[url];
    if (!slot) {
      slot = std::make_unique<persistence::pg_session>(url, statement_timeout);
    }
    return *slot;
  }
};

using reader_worker = events_reader_actor::stateful_pointer<reader_state>;

// The user's balance.low threshold, as the ledger relay uses it (events_relay.cpp).
errc low_threshold_of(reader_state& st, const std::string& user_id, int64_t& threshold) {
  threshold = st.settings.low_threshold;
  return st.session(st.settings.events_url).run([&](pqxx::connection& c) {
    const auto found = persistence::low_thresholds(c, {user_id});
    const auto it = found.find(user_id);
    if (it != found.end()) {
      threshold = it->second;
    }
  });
}

errc read_head(reader_state& st, const std::string& user_id, stream_cursor& head) {
  const auto& s = st.settings;
  errc failure = st.session(s.ledger_url).run([&](pqxx::connection& c) {
    head.ledger = ledger_position_after_entry(persistence::user_stream_head(c, "ledger", user_id));
  });
  if (failure == errc{}) {
    failure = st.session(s.payments_url).run([&](pqxx::connection& c) {
      head.payments = persistence::user_stream_head(c, "payments", user_id);
    });
  }
  if (failure == errc{}) {
    failure = st.session(s.workflows_url).run([&](pqxx::connection& c) {
      head.workflows = persistence::user_stream_head(c, "workflows", user_id);
    });
  }
  return failure;
}

// The ledger's items after the cursor: whole entries from the one holding the cursor's last
// event, minus the events already sent.
errc read_ledger(reader_state& st, const stream_query& q, std::vector<stream_item>& items,
                 bool& is_full) {
  int64_t threshold = 0;
  errc failure = low_threshold_of(st, q.user_id, threshold);
  if (failure != errc{}) {
    return failure;
  }
  std::vector<ledger_event_row> rows;
  failure = st.session(st.settings.ledger_url).run([&](pqxx::connection& c) {
    rows = persistence::user_ledger_rows_after(c, q.user_id, ledger_seq_to_read_after(q.after),
                                               q.rows_max, threshold);
  });
  is_full = static_cast<int64_t>(rows.size()) >= q.rows_max;
  for (const auto& row : rows) {
    for (const auto& event : events_from_ledger_row(row)) {
      auto item = stream_item_of(event);
      TALLY_ASSERT(item.has_value());  // the ledger's own events always have a sequence
      if (!is_covered(q.after, *item)) {
        items.push_back(std::move(*item));
      }
    }
  }
  return failure;
}

errc read_context(reader_state& st, const stream_query& q, stream_source source,
                  std::vector<stream_item>& items, bool& is_full) {
  const bool is_payments = source == stream_source::payments;
  const std::string schema = is_payments ? "payments" : "workflows";
  const char* event_source = is_payments ? payments_event_source : workflows_event_source;
  std::vector<context_event_row> rows;
  const errc failure =
      st.session(is_payments ? st.settings.payments_url : st.settings.workflows_url)
          .run([&](pqxx::connection& c) {
            rows = persistence::user_context_rows_after(c, schema, q.user_id,
                                                        position_in(q.after, source), q.rows_max);
          });
  is_full = static_cast<int64_t>(rows.size()) >= q.rows_max;
  for (const auto& row : rows) {
    if (auto item = stream_item_of(event_from_context_row(event_source, row))) {
      items.push_back(std::move(*item));
    }
  }
  return failure;
}

caf::result<stream_page> read_page(reader_worker self, const stream_query& q) {
  TALLY_ASSERT(q.rows_max > 0);
  auto& st = self->state;
  stream_page page;
  if (q.from_head) {
    const errc failure = read_head(st, q.user_id, page.head);
    if (failure != errc{}) {
      return caf::make_error(failure);
    }
    return page;
  }
  std::vector<std::vector<stream_item>> lists(stream_source_count);
  bool is_full[stream_source_count] = {false, false, false};
  errc failure = read_ledger(st, q, lists[0], is_full[0]);
  if (failure == errc{}) {
    failure = read_context(st, q, stream_source::payments, lists[1], is_full[1]);
  }
  if (failure == errc{}) {
    failure = read_context(st, q, stream_source::workflows, lists[2], is_full[2]);
  }
  if (failure != errc{}) {
    return caf::make_error(failure);
  }
  page.has_more = is_full[0] || is_full[1] || is_full[2];
  page.items = interleave_by_time(std::move(lists));
  return page;
}

events_reader_actor::behavior_type reader_worker_behavior(reader_worker self,
                                                          reader_settings settings) {
  self->state.settings = std::move(settings);
  return {
      [=](sseread_atom, const stream_query& q) { return read_page(self, q); },
  };
}

using reader_pool = pool_interface<events_reader_actor>;
using reader_pool_state = worker_pool_state<events_reader_actor>;

reader_pool::behavior_type reader_pool_behavior(
    reader_pool::stateful_pointer<reader_pool_state> self, uint32_t workers, uint32_t depth_max,
    std::chrono::milliseconds timeout, reader_settings settings) {
  auto& sys = self->system();
  pool_start<events_reader_actor>(self, workers, depth_max, timeout, [&sys, settings] {
    return sys.spawn<caf::detached>(reader_worker_behavior, settings);
  });
  return {
      [=](sseread_atom a, const stream_query& q) { return pool_forward<stream_page>(self, a, q); },
      [=](restart_atom, uint64_t index) { pool_restart<events_reader_actor>(self, index); },
  };
}

}  // namespace

events_reader_actor spawn_stream_reader(caf::actor_system& sys, const config::config& cfg) {
  reader_settings settings;
  settings.ledger_url = cfg.databases.ledger;
  settings.payments_url = cfg.databases.payments;
  settings.workflows_url = cfg.databases.workflows;
  settings.events_url = cfg.databases.events;
  settings.low_threshold = cfg.events.low_balance_threshold;
  auto pool =
      sys.spawn(reader_pool_behavior, cfg.events.admin_workers, cfg.actors.db_queue_depth_max,
                std::chrono::milliseconds(cfg.actors.request_timeout_ms), std::move(settings));
  return caf::actor_cast<events_reader_actor>(pool);
}

}  // namespace tally
