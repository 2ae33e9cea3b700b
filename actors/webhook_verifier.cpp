// Webhooks in: the inbox pool, the verifier pool and their supervisor (see
// actors/webhooks.hpp). Inbox and verifier workers are detached actors, each
// owning its Postgres session (and, for verifiers, its gateway clients), so
// their blocking calls never hold a cooperative scheduler thread. The
// supervisor only keeps timers and counts.

#include <chrono>
#include <map>
#include <random>
#include <variant>

#include "actors/webhooks.hpp"
#include "actors/worker_pool.hpp"
#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "gateways/gateway.hpp"
#include "logging/log.hpp"
#include "persistence/audit_store.hpp"
#include "persistence/inbox_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

using namespace persistence;
using webhooks::attempt_result;
using webhooks::inbox_status;

// ---------------------------------------------------------------- settings

struct webhook_config {
  std::string database_url;
  webhooks::retry_settings retry;
  std::chrono::milliseconds lease{120'000};
  std::chrono::milliseconds settle_timeout{30'000};
  std::chrono::milliseconds request_timeout{5'000};  // inbox pool requests
  std::chrono::milliseconds poll{1'000};
  int32_t claim_batch_max = 16;
  uint32_t verifiers = 2;
  std::chrono::seconds sweep_period{60};
  int64_t sweep_age_s = 300;
  int32_t sweep_batch_max = 50;
};

errc code_of(const caf::error& err) {
  errc code = errc::internal;
  return as_errc(err, code) ? code : errc::internal;
}

// ---------------------------------------------------------------- inbox workers

struct inbox_worker_state {
  static inline const char* name = "inbox_worker";
  std::unique_ptr<pg_session> db;
  webhook_config settings;
};

using inbox_worker = inbox_actor::stateful_pointer<inbox_worker_state>;

caf::result<inbox_receipt> on_store(inbox_worker self, const inbox_insert& event) {
  inbox_receipt receipt;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    receipt = insert_inbox(tx, event);
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  return receipt;
}

caf::result<std::string> on_list(inbox_worker self, const inbox_query& query) {
  inbox_page page;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::read_transaction tx{connection};
    page = list_inbox(tx, query);
  });
  if (failure != errc{}) {
    return failure;
  }
  nlohmann::json out{{"items", std::move(page.items)},
                     {"has_more", page.has_more},
                     {"last_created_us", page.last_created_us},
                     {"last_id", page.last_id}};
  return out.dump();
}

caf::result<std::string> on_retry(inbox_worker self, const std::string& id) {
  std::optional<std::pair<nlohmann::json, bool>> row;
  const errc failure = self->state.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    row = retry_inbox(tx, id);
    if (row && row->second) {
      append_audit(tx,
                   {"admin",
                    "webhook.retried",
                    "webhook_inbox:" + id,
                    std::nullopt,
                    "",
                    "",
                    {{"gateway", row->first["gateway"]}, {"event_id", row->first["event_id"]}}});
    }
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!row) {
    return errc::not_found;
  }
  return nlohmann::json{{"retried", row->second}, {"event", std::move(row->first)}}.dump();
}

caf::result<std::vector<inbox_event>> on_claim(inbox_worker self, int32_t batch_max) {
  auto& st = self->state;
  std::vector<inbox_event> events;
  // One owner token per claim: a verifier that outlives its lease cannot
  // overwrite the outcome of whoever claimed the event next.
  const std::string owner = auth::new_uuid_v4();
  int parked = 0;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    parked = park_exhausted_leases(tx, static_cast<int32_t>(st.settings.retry.attempts_max));
    events = claim_inbox(tx, batch_max, st.settings.lease, owner);
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  if (parked > 0) {
    log::warn("webhook_leases_exhausted", {{"parked", parked}});
  }
  return events;
}

inbox_actor::behavior_type inbox_worker_behavior(inbox_worker self, webhook_config settings) {
  self->state.settings = std::move(settings);
  self->state.db =
      std::make_unique<pg_session>(self->state.settings.database_url, std::chrono::seconds(5));
  return {
      [=](wh_store_atom, const inbox_insert& e) { return on_store(self, e); },
      [=](wh_list_atom, const inbox_query& q) { return on_list(self, q); },
      [=](wh_retry_atom, const std::string& id) { return on_retry(self, id); },
      [=](wh_claim_atom, int32_t n) { return on_claim(self, n); },
  };
}

using inbox_pool = pool_interface<inbox_actor>;

inbox_pool::behavior_type inbox_pool_behavior(
    inbox_pool::stateful_pointer<worker_pool_state<inbox_actor>> self, uint32_t workers,
    uint32_t depth_max, webhook_config settings, pool_stats_ptr stats) {
  auto& sys = self->system();
  const auto timeout = settings.request_timeout;
  pool_start<inbox_actor>(
      self, workers, depth_max, timeout,
      [&sys, settings] { return sys.spawn<caf::detached>(inbox_worker_behavior, settings); },
      stats);
  return {
      [=](wh_store_atom a, const inbox_insert& e) {
        return pool_forward<inbox_receipt>(self, a, e);
      },
      [=](wh_list_atom a, const inbox_query& q) { return pool_forward<std::string>(self, a, q); },
      [=](wh_retry_atom a, const std::string& id) {
        return pool_forward<std::string>(self, a, id);
      },
      [=](wh_claim_atom a, int32_t n) {
        return pool_forward<std::vector<inbox_event>>(self, a, n);
      },
      [=](restart_atom, uint64_t index) { pool_restart<inbox_actor>(self, index); },
  };
}

// ---------------------------------------------------------------- verifier workers

struct verifier_state {
  static inline const char* name = "webhook_verifier";
  std::unique_ptr<pg_session> db;
  webhook_config settings;
  purchase_actor purchases;
  gateway_factory make_gateway;
  webhook_observer observer;
  // Clients made on first use, one per gateway; nullptr: not configured.
  std::map<std::string, std::unique_ptr<gateways::gateway>> clients;
  std::minstd_rand random{std::random_device{}()};
};

using verifier = verifier_actor::stateful_pointer<verifier_state>;

gateways::gateway* client_for(verifier self, const std::string& name) {
  auto& st = self->state;
  auto it = st.clients.find(name);
  if (it == st.clients.end()) {
    it = st.clients.emplace(name, st.make_gateway ? st.make_gateway(name) : nullptr).first;
  }
  return it->second.get();
}

// What one attempt learned, handed to `record`.
struct attempt {
  attempt_result result = attempt_result::unavailable;
  std::string reason;  // for last_error, the audit record and logs; never secrets
  std::string purchase_id;
  std::string charge_id;
};

// Writes the attempt's outcome (and, for a forged or mismatched event, the
// audit security record in the same transaction); answers the status reached.
std::variant<std::string, caf::error> record(verifier self, const inbox_event& event,
                                             const attempt& a,
                                             std::chrono::steady_clock::time_point started) {
  auto& st = self->state;
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(st.random);
  const auto decision =
      webhooks::decide(a.result, static_cast<uint32_t>(event.attempts),
                       std::chrono::milliseconds(event.age_ms), st.settings.retry, draw);
  inbox_outcome outcome;
  outcome.status = decision.status;
  outcome.retry_in = decision.retry_in;
  outcome.last_error =
      a.result == attempt_result::settled
          ? std::string()
          : std::string(to_string(a.result)) + (a.reason.empty() ? "" : ": ") + a.reason;
  outcome.purchase_id = a.purchase_id;
  outcome.charge_id = a.charge_id;
  bool owned = false;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    pqxx::work tx{connection};
    owned = finish_inbox(tx, event.id, event.lease_owner, outcome);
    if (owned && decision.security_event) {
      append_audit(tx, {"system",
                        "webhook.rejected",
                        "webhook:" + event.gateway + ":" + event.event_id,
                        std::nullopt,
                        event.request_id,
                        event.source_ip,
                        {{"gateway", event.gateway},
                         {"event_id", event.event_id},
                         {"inbox_id", event.id},
                         {"charge_id", a.charge_id},
                         {"reason", outcome.last_error},
                         {"security", true}}});
    }
    tx.commit();
  });
  const std::string status = webhooks::to_string(decision.status);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json fields{{"gateway", event.gateway},  {"event_id", event.event_id},
                        {"inbox_id", event.id},      {"status", status},
                        {"attempt", event.attempts}, {"result", to_string(a.result)},
                        {"reason", a.reason},        {"seconds", seconds}};
  if (failure != errc{}) {
    // The lease brings the event back: nothing is lost, the attempt repeats.
    fields["error"] = to_string(failure);
    log::warn("webhook_outcome_not_recorded", std::move(fields));
    return caf::make_error(failure);
  }
  if (!owned) {
    log::warn("webhook_lease_lost", std::move(fields));
    return caf::make_error(errc::sequence_conflict);
  }
  if (decision.security_event) {
    log::warn("webhook_rejected", std::move(fields));
  } else if (decision.status == inbox_status::parked) {
    log::warn("webhook_parked", std::move(fields));
  } else {
    log::info("webhook_checked", std::move(fields));
  }
  if (st.observer.verified) {
    st.observer.verified(event.gateway, status, seconds);
  }
  return status;
}

// Fetches the event, then its charge, from the gateway: everything after this
// acts only on what the gateway said. Sets `out` and returns false when the
// attempt already ended (not configured, unreachable, forged, not a charge).
bool fetch_charge(verifier self, const inbox_event& event, gateways::charge& charge, attempt& out) {
  auto* gateway = client_for(self, event.gateway);
  if (gateway == nullptr) {
    out = {attempt_result::not_configured, "no keys configured for " + event.gateway, "", ""};
    return false;
  }
  auto fetched = gateway->retrieve_event(event.event_id);
  if (!fetched) {
    const errc code = code_of(fetched.error());
    out = {webhooks::from_gateway_error(code), std::string("retrieve event: ") + to_string(code),
           "", ""};
    return false;
  }
  if (fetched->id != event.event_id) {
    out = {attempt_result::forged, "the gateway answered for another event", "", ""};
    return false;
  }
  if (!webhooks::is_settleable_object(event.gateway, fetched->object_type)) {
    out = {attempt_result::not_a_charge, "event about " + fetched->object_type, "", ""};
    return false;
  }
  if (!webhooks::is_safe_id(fetched->object_id)) {
    out = {attempt_result::forged, "the gateway's event names no usable object id", "", ""};
    return false;
  }
  // A body naming another charge than the real event is a forgery (or a
  // tampered copy) even when the event id itself exists.
  if (!event.object_id.empty() && event.object_id != fetched->object_id) {
    out = {attempt_result::forged,
           "body names " + event.object_id + ", the gateway's event " + fetched->object_id, "",
           fetched->object_id};
    return false;
  }
  auto retrieved = gateway->retrieve_charge(fetched->object_id);
  if (!retrieved) {
    const errc code = code_of(retrieved.error());
    out = {webhooks::from_gateway_error(code), std::string("retrieve charge: ") + to_string(code),
           "", fetched->object_id};
    return false;
  }
  if (retrieved->id != fetched->object_id) {
    out = {attempt_result::forged, "the gateway answered for another charge", "",
           fetched->object_id};
    return false;
  }
  charge = std::move(*retrieved);
  return true;
}

caf::result<std::string> on_check(verifier self, const inbox_event& event) {
  const auto started = std::chrono::steady_clock::now();
  gateways::charge charge;
  attempt early;
  if (!fetch_charge(self, event, charge, early)) {
    auto recorded = record(self, event, early, started);
    if (auto* err = std::get_if<caf::error>(&recorded)) {
      return std::move(*err);
    }
    return std::get<std::string>(recorded);
  }
  settle_request request;
  request.gateway = event.gateway;
  request.charge_id = charge.id;
  request.metadata_purchase_id = charge.purchase_id;
  request.charge_status = gateways::to_string(charge.status);
  request.paid = charge.paid;
  request.amount = charge.amount;
  request.currency = charge.currency;
  request.failure_code = charge.failure_code;
  request.failure_message = charge.failure_message;
  request.cause = "webhook:" + event.event_id;
  request.request_id = event.request_id;
  auto promise = self->make_response_promise<std::string>();
  const std::string charge_id = charge.id;
  self->request(self->state.purchases, self->state.settings.settle_timeout, settle_atom_v,
                std::move(request))
      .then(
          [=](purchase_view& view) mutable {
            auto recorded =
                record(self, event, {attempt_result::settled, "", view.id, charge_id}, started);
            if (auto* err = std::get_if<caf::error>(&recorded)) {
              promise.deliver(std::move(*err));
              return;
            }
            promise.deliver(std::get<std::string>(recorded));
          },
          [=](caf::error& err) mutable {
            const errc code = code_of(err);
            attempt a{webhooks::from_settle_error(code), std::string("settle: ") + to_string(code),
                      "", charge_id};
            auto recorded = record(self, event, a, started);
            if (auto* e = std::get_if<caf::error>(&recorded)) {
              promise.deliver(std::move(*e));
              return;
            }
            promise.deliver(std::get<std::string>(recorded));
          });
  return promise;
}

verifier_actor::behavior_type verifier_behavior(verifier self, webhook_config settings,
                                                purchase_actor purchases,
                                                gateway_factory make_gateway,
                                                webhook_observer observer) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.db = std::make_unique<pg_session>(st.settings.database_url, std::chrono::seconds(5));
  st.purchases = std::move(purchases);
  st.make_gateway = std::move(make_gateway);
  st.observer = std::move(observer);
  return {
      [=](wh_check_atom, const inbox_event& event) { return on_check(self, event); },
  };
}

using verifier_pool = pool_interface<verifier_actor>;

verifier_pool::behavior_type verifier_pool_behavior(
    verifier_pool::stateful_pointer<worker_pool_state<verifier_actor>> self,
    webhook_config settings, purchase_actor purchases, gateway_factory make_gateway,
    webhook_observer observer, pool_stats_ptr stats) {
  auto& sys = self->system();
  // A check may take two gateway calls (each with its own retries) and a
  // settle: it ends within its lease, which bounds the pool's wait.
  pool_start<verifier_actor>(
      self, settings.verifiers, settings.verifiers * 2, settings.lease,
      [&sys, settings, purchases, make_gateway, observer] {
        return sys.spawn<caf::detached>(verifier_behavior, settings, purchases, make_gateway,
                                        observer);
      },
      stats);
  return {
      [=](wh_check_atom a, const inbox_event& e) { return pool_forward<std::string>(self, a, e); },
      [=](restart_atom, uint64_t index) { pool_restart<verifier_actor>(self, index); },
  };
}

// ---------------------------------------------------------------- supervisor

struct supervisor_state {
  static inline const char* name = "webhook_supervisor";
  webhook_config settings;
  inbox_actor inbox;
  verifier_actor verifiers;
  purchase_actor purchases;
  uint32_t in_flight = 0;   // checks sent to the verifier pool, not answered yet
  bool claiming = false;    // a claim request is outstanding
  bool poll_again = false;  // more may be due once a claim or a check ends
  bool sweeping = false;
};

using supervisor_actor =
    caf::typed_actor<caf::reacts_to<wh_poll_atom>, caf::reacts_to<tick_atom, uint64_t>,
                     caf::reacts_to<wh_sweep_atom>>;
using supervisor = supervisor_actor::stateful_pointer<supervisor_state>;

void poll(supervisor self);

void dispatch(supervisor self, inbox_event event) {
  auto& st = self->state;
  ++st.in_flight;
  self->request(st.verifiers, st.settings.lease, wh_check_atom_v, std::move(event))
      .then(
          [=](std::string&) {
            --self->state.in_flight;
            if (self->state.poll_again) {
              poll(self);
            }
          },
          [=](caf::error& err) {
            // The event stays processing until its lease runs out, then is claimed again.
            --self->state.in_flight;
            log::warn("webhook_check_failed", {{"error", caf::to_string(err)}});
          });
}

// Claims as many due events as there are idle verifiers (bounded by the batch
// size) and hands them out. Re-entrant calls while a claim is outstanding or
// every verifier is busy only note that another poll is wanted.
void poll(supervisor self) {
  auto& st = self->state;
  const uint32_t idle =
      st.settings.verifiers > st.in_flight ? st.settings.verifiers - st.in_flight : 0;
  if (st.claiming || idle == 0) {
    st.poll_again = true;
    return;
  }
  st.poll_again = false;
  st.claiming = true;
  const auto batch = static_cast<int32_t>(std::min<uint32_t>(idle, st.settings.claim_batch_max));
  self->request(st.inbox, st.settings.request_timeout, wh_claim_atom_v, batch)
      .then(
          [=](std::vector<inbox_event>& events) {
            self->state.claiming = false;
            // A full batch means more may be due right now.
            const bool full = events.size() == static_cast<std::size_t>(batch);
            for (auto& event : events) {
              dispatch(self, std::move(event));
            }
            if (full || self->state.poll_again) {
              poll(self);
            }
          },
          [=](caf::error& err) {
            self->state.claiming = false;
            log::warn("webhook_claim_failed", {{"error", caf::to_string(err)}});
          });
}

void sweep_next(supervisor self, std::shared_ptr<std::vector<std::string>> ids, std::size_t next,
                uint32_t settled) {
  auto& st = self->state;
  if (next >= ids->size()) {
    st.sweeping = false;
    if (!ids->empty()) {
      log::info("sweep_done", {{"pending_checked", ids->size()}, {"answered", settled}});
    }
    return;
  }
  // One purchase at a time: the sweep must not compete with live traffic for
  // the gateway's rate limit.
  self->request(st.purchases, st.settings.settle_timeout, verify_atom_v, (*ids)[next])
      .then([=](purchase_view&) { sweep_next(self, ids, next + 1, settled + 1); },
            [=](caf::error& err) {
              const errc code = code_of(err);
              if (code == errc::gateway_unavailable || code == errc::rate_limited ||
                  code == errc::overloaded || code == errc::storage_unavailable) {
                // The gateway (or we) are saturated: stop this round, the next period resumes.
                self->state.sweeping = false;
                log::warn("sweep_paused",
                          {{"error", to_string(code)}, {"pending_left", ids->size() - next}});
                return;
              }
              log::warn("sweep_verify_failed",
                        {{"purchase_id", (*ids)[next]}, {"error", to_string(code)}});
              sweep_next(self, ids, next + 1, settled);
            });
}

void sweep(supervisor self) {
  auto& st = self->state;
  if (st.sweeping) {
    return;
  }
  st.sweeping = true;
  self->request(st.purchases, st.settings.settle_timeout, stale_atom_v, st.settings.sweep_age_s,
                st.settings.sweep_batch_max)
      .then(
          [=](std::vector<std::string>& ids) {
            sweep_next(self, std::make_shared<std::vector<std::string>>(std::move(ids)), 0, 0);
          },
          [=](caf::error& err) {
            self->state.sweeping = false;
            log::warn("sweep_failed", {{"error", caf::to_string(err)}});
          });
}

supervisor_actor::behavior_type supervisor_behavior(supervisor self, webhook_config settings,
                                                    inbox_actor inbox, verifier_actor verifiers,
                                                    purchase_actor purchases) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.inbox = std::move(inbox);
  st.verifiers = std::move(verifiers);
  st.purchases = std::move(purchases);
  self->send(self, tick_atom_v, uint64_t{0});
  if (st.settings.sweep_period.count() > 0) {
    self->delayed_send(self, st.settings.sweep_period, wh_sweep_atom_v);
  }
  return {
      [=](wh_poll_atom) { poll(self); },
      [=](tick_atom, uint64_t) {
        self->delayed_send(self, self->state.settings.poll, tick_atom_v, uint64_t{0});
        poll(self);
      },
      [=](wh_sweep_atom) {
        self->delayed_send(self, self->state.settings.sweep_period, wh_sweep_atom_v);
        sweep(self);
      },
  };
}

}  // namespace

webhook_actors spawn_webhooks(caf::actor_system& sys, const config::config& cfg,
                              purchase_actor purchases, gateway_factory make_gateway,
                              webhook_observer observer, pool_stats_ptr inbox_stats,
                              pool_stats_ptr verifier_stats) {
  const auto& w = cfg.webhooks;
  webhook_config settings;
  settings.database_url = cfg.databases.payments;
  settings.retry.attempts_max = w.attempts_max;
  settings.retry.delay_min = std::chrono::milliseconds(w.retry_delay_min_ms);
  settings.retry.delay_max = std::chrono::milliseconds(w.retry_delay_max_ms);
  settings.retry.unknown_charge_window = std::chrono::seconds(w.unknown_charge_window_s);
  settings.lease = std::chrono::seconds(w.lease_s);
  settings.settle_timeout = std::chrono::milliseconds(w.settle_timeout_ms);
  settings.request_timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);
  settings.poll = std::chrono::milliseconds(w.poll_ms);
  settings.claim_batch_max = static_cast<int32_t>(w.claim_batch_max);
  settings.verifiers = w.verifiers;
  settings.sweep_period = std::chrono::seconds(w.sweep_period_s);
  settings.sweep_age_s = w.sweep_age_s;
  settings.sweep_batch_max = static_cast<int32_t>(w.sweep_batch_max);
  TALLY_ASSERT(settings.retry.delay_min <= settings.retry.delay_max);
  TALLY_ASSERT(settings.settle_timeout < settings.lease);

  auto inbox = caf::actor_cast<inbox_actor>(sys.spawn(inbox_pool_behavior, w.inbox_workers,
                                                      cfg.actors.db_queue_depth_max, settings,
                                                      std::move(inbox_stats)));
  auto verifiers = caf::actor_cast<verifier_actor>(
      sys.spawn(verifier_pool_behavior, settings, purchases, std::move(make_gateway),
                std::move(observer), std::move(verifier_stats)));
  auto boss = sys.spawn(supervisor_behavior, settings, inbox, verifiers, purchases);
  // The supervisor outlives neither pool: shutting it down ends them too.
  boss->attach_functor(
      [inbox_address = inbox.address(), verifier_address = verifiers.address()](const caf::error&) {
        caf::anon_send_exit(inbox_address, caf::exit_reason::user_shutdown);
        caf::anon_send_exit(verifier_address, caf::exit_reason::user_shutdown);
      });
  return {inbox, caf::actor_cast<caf::actor>(boss)};
}

}  // namespace tally
