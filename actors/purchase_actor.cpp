// The purchase actor (actors/payments.hpp, actors/purchases.hpp): a router
// that orchestrates, plus detached worker pools for Postgres and gateway I/O.
//
// POST /v1/purchases, in order (invariant 5, research gateways.md §1.6):
//   pbegin    record the purchase `pending` and claim its Idempotency-Key
//   pcharge   create the charge (the purchase id in metadata); an ambiguous
//             timeout is reconciled by purchase id before any retry
//   poutcome  bind the charge (or record the refusal), keep the answer for replay
// Credits never move here: only settle grants, after the gateway confirmed.
//
// settle (one charge at a time on this node):
//   pbycharge → decide_settle → [mutate grant "<gateway>:<charge id>" → pcomplete]
//                             | pend (failed/expired) | paudit (mismatch)

#include <chrono>
#include <deque>
#include <random>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "actors/purchases.hpp"
#include "actors/worker_pool.hpp"
#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "domain/backoff.hpp"
#include "domain/ledger.hpp"
#include "gateways/gateway.hpp"
#include "logging/log.hpp"
#include "persistence/audit_store.hpp"
#include "persistence/payments_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

using namespace persistence;

// Settles queued behind one in progress for the same charge; more is a flood.
constexpr std::size_t settles_queued_per_charge_max = 16;
// Purchases remembered for the GET poll throttle.
constexpr std::size_t poll_throttle_entries_max = 10'000;
// A purchase with no charge this long after creation was never charged: expire it.
constexpr int64_t uncharged_expiry_s = 3'600;
// Reconciliation lookups after an ambiguous create, before giving up (502).
constexpr uint32_t reconcile_attempts_max = 3;
constexpr uint32_t create_attempts_max = 3;
// Idempotency-Key records are kept at least 24 h (API.md), pruned in batches.
constexpr int64_t idempotency_keep_s = 25 * 3600;
constexpr int64_t prune_batch_max = 1'000;
constexpr std::chrono::minutes prune_period{10};

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------- DB workers

using payments_db_actor = payments_query_actor::extend<
    caf::replies_to<pbegin_atom, purchase_request, std::string, std::string>::with<purchase_begun>,
    caf::replies_to<poutcome_atom, purchase_outcome>::with<purchase_begun>,
    caf::replies_to<prelease_atom, std::string, std::string>::with<bool>,
    caf::replies_to<pbycharge_atom, std::string, std::string>::with<purchase_view>,
    caf::replies_to<pbind_atom, std::string, std::string>::with<purchase_view>,
    // (purchase id, ledger entry id, cause, request id)
    caf::replies_to<pcomplete_atom, std::string, std::string, std::string,
                    std::string>::with<purchase_view>,
    // (purchase id, status, failure code, failure message, cause, request id)
    caf::replies_to<pend_atom, std::string, std::string, std::string, std::string, std::string,
                    std::string>::with<purchase_view>,
    // (subject, detail JSON) a security event
    caf::replies_to<paudit_atom, std::string, std::string>::with<bool>,
    caf::replies_to<stale_atom, int64_t, int32_t>::with<std::vector<std::string>>,
    caf::replies_to<pprune_atom>::with<int64_t>>;

struct db_worker_state {
  static inline const char* name = "payments_db_worker";
  std::unique_ptr<pg_session> db;
};
using db_worker = payments_db_actor::stateful_pointer<db_worker_state>;

// Runs `body` on the worker's connection; errc on failure.
template <class Body>
errc with_db(db_worker self, Body body) {
  return self->state.db->run(body);
}

nlohmann::json packages_json(const std::vector<package_record>& packages) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : packages) {
    out.push_back({{"id", p.id},
                   {"name", p.name},
                   {"credits", p.credits},
                   {"price", {{"amount", p.amount}, {"currency", p.currency}}},
                   {"active", p.active}});
  }
  return out;
}

caf::result<std::string> on_package_list(db_worker self, bool active_only) {
  std::string out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    out = packages_json(list_packages(tx, active_only)).dump();
  });
  if (failure != errc{}) {
    return failure;
  }
  return out;
}

caf::result<package_record> on_package_put(db_worker self, const package_change& change) {
  std::optional<package_record> out;
  bool taken = false;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    if (change.is_create) {
      taken = !insert_package(tx, change);
      if (!taken) {
        out = find_package(tx, change.id);
      }
    } else {
      out = update_package(tx, change);
    }
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  if (taken) {
    return caf::make_error(errc::validation_failed, std::string("id"));
  }
  if (!out) {
    return errc::package_not_found;
  }
  return *out;
}

caf::result<purchase_view> on_find(db_worker self, const std::string& user_id,
                                   const std::string& purchase_id) {
  std::optional<purchase_view> out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    out = find_purchase(tx, user_id, purchase_id);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!out) {
    return errc::purchase_not_found;
  }
  return *out;
}

caf::result<std::string> on_page(db_worker self, const purchase_query& query) {
  std::string out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    out = purchases_page_json(tx, query);
  });
  if (failure != errc{}) {
    return failure;
  }
  return out;
}

caf::result<purchase_begun> on_begin(db_worker self, const purchase_request& request,
                                     const std::string& gateway, const std::string& purchase_id) {
  begin_result result;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    result = begin_purchase(c, request, gateway, purchase_id);
  });
  if (failure != errc{}) {
    return failure;
  }
  switch (result.status) {
    case begin_status::key_reused:
      return errc::idempotency_key_reused;
    case begin_status::key_in_flight:
      return errc::idempotency_key_in_flight;
    case begin_status::package_not_found:
      return errc::package_not_found;
    case begin_status::begun:
    case begin_status::resumed:
    case begin_status::replayed:
      break;
  }
  return std::move(result.begun);
}

caf::result<purchase_begun> on_outcome(db_worker self, const purchase_outcome& outcome) {
  purchase_begun out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    bool failed = false;
    out.view = record_outcome(c, outcome, failed);
    out.error_code = failed ? "payment_failed" : "";
  });
  if (failure != errc{}) {
    return failure;
  }
  return out;
}

caf::result<bool> on_release(db_worker self, const std::string& user_id, const std::string& key) {
  const errc failure = with_db(self, [&](pqxx::connection& c) { release_claim(c, user_id, key); });
  if (failure != errc{}) {
    return failure;
  }
  return true;
}

caf::result<purchase_view> on_by_charge(db_worker self, const std::string& gateway,
                                        const std::string& charge_id) {
  std::optional<purchase_view> out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    out = find_purchase_by_charge(tx, gateway, charge_id);
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!out) {
    return errc::not_found;  // the charge is not bound yet: the caller retries later
  }
  return *out;
}

caf::result<purchase_view> on_bind(db_worker self, const std::string& purchase_id,
                                   const std::string& charge_id) {
  std::optional<purchase_view> out;
  bool bound = false;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    bound = bind_charge(tx, purchase_id, charge_id);
    out = find_purchase(tx, "", purchase_id);
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  if (!out) {
    return errc::purchase_not_found;
  }
  if (!bound) {
    return errc::validation_failed;  // another charge is bound: this one is not ours
  }
  return *out;
}

caf::result<purchase_view> on_complete(db_worker self, const std::string& purchase_id,
                                       const std::string& entry_id, const std::string& cause,
                                       const std::string& request_id) {
  std::optional<purchase_view> out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    const bool changed = complete_purchase(tx, purchase_id, entry_id);
    out = find_purchase(tx, "", purchase_id);
    TALLY_ASSERT(out.has_value());
    if (changed) {
      append_audit(tx, {"system",
                        "purchase.completed",
                        "purchase:" + purchase_id,
                        out->credits,
                        request_id,
                        "",
                        {{"cause", cause},
                         {"entry_id", entry_id},
                         {"gateway", out->gateway},
                         {"charge_id", out->charge_id},
                         {"amount", out->amount},
                         {"currency", out->currency}}});
    }
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  TALLY_ASSERT(out->status == "completed");
  return *out;
}

caf::result<purchase_view> on_end(db_worker self, const std::string& purchase_id,
                                  const std::string& status, const std::string& code,
                                  const std::string& message, const std::string& cause,
                                  const std::string& request_id) {
  const auto parsed = parse_purchase_status(status);
  TALLY_ASSERT(parsed == purchase_status::failed || parsed == purchase_status::expired);
  std::optional<purchase_view> out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    const bool changed = end_purchase(tx, purchase_id, *parsed, code, message);
    out = find_purchase(tx, "", purchase_id);
    TALLY_ASSERT(out.has_value());
    if (changed) {
      append_audit(tx, {"system",
                        "purchase." + status,
                        "purchase:" + purchase_id,
                        std::nullopt,
                        request_id,
                        "",
                        {{"cause", cause},
                         {"failure_code", code},
                         {"gateway", out->gateway},
                         {"charge_id", out->charge_id}}});
    }
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  return *out;
}

caf::result<bool> on_audit(db_worker self, const std::string& subject,
                           const std::string& detail_json) {
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    append_audit(tx, {"system", "security.purchase_mismatch", subject, std::nullopt, "", "",
                      nlohmann::json::parse(detail_json)});
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  return true;
}

caf::result<std::vector<std::string>> on_stale(db_worker self, int64_t older_than_s,
                                               int32_t limit) {
  std::vector<std::string> out;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    out = stale_purchases(tx, older_than_s, limit);
  });
  if (failure != errc{}) {
    return failure;
  }
  return out;
}

caf::result<int64_t> on_prune(db_worker self) {
  int64_t pruned = 0;
  const errc failure = with_db(self, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    pruned = prune_idempotency_keys(tx, idempotency_keep_s, prune_batch_max);
    tx.commit();
  });
  if (failure != errc{}) {
    return failure;
  }
  return pruned;
}

payments_db_actor::behavior_type db_worker_behavior(db_worker self, std::string url) {
  self->state.db = std::make_unique<pg_session>(std::move(url), std::chrono::seconds(5));
  return {
      [=](pkglist_atom, bool active_only) { return on_package_list(self, active_only); },
      [=](pkgput_atom, const package_change& c) { return on_package_put(self, c); },
      [=](pfind_atom, const std::string& user, const std::string& id) {
        return on_find(self, user, id);
      },
      [=](ppage_atom, const purchase_query& q) { return on_page(self, q); },
      [=](pbegin_atom, const purchase_request& r, const std::string& gateway,
          const std::string& id) { return on_begin(self, r, gateway, id); },
      [=](poutcome_atom, const purchase_outcome& o) { return on_outcome(self, o); },
      [=](prelease_atom, const std::string& user, const std::string& key) {
        return on_release(self, user, key);
      },
      [=](pbycharge_atom, const std::string& gateway, const std::string& charge) {
        return on_by_charge(self, gateway, charge);
      },
      [=](pbind_atom, const std::string& id, const std::string& charge) {
        return on_bind(self, id, charge);
      },
      [=](pcomplete_atom, const std::string& id, const std::string& entry, const std::string& cause,
          const std::string& request_id) {
        return on_complete(self, id, entry, cause, request_id);
      },
      [=](pend_atom, const std::string& id, const std::string& status, const std::string& code,
          const std::string& message, const std::string& cause, const std::string& request_id) {
        return on_end(self, id, status, code, message, cause, request_id);
      },
      [=](paudit_atom, const std::string& subject, const std::string& detail) {
        return on_audit(self, subject, detail);
      },
      [=](stale_atom, int64_t older_than_s, int32_t limit) {
        return on_stale(self, older_than_s, limit);
      },
      [=](pprune_atom) { return on_prune(self); },
  };
}

using db_pool = pool_interface<payments_db_actor>;
using db_pool_state = worker_pool_state<payments_db_actor>;

db_pool::behavior_type db_pool_behavior(db_pool::stateful_pointer<db_pool_state> self,
                                        const config::config& cfg, pool_stats_ptr stats) {
  auto& sys = self->system();
  const std::string url = cfg.databases.payments;
  pool_start<payments_db_actor>(
      self, cfg.payments.db_workers, cfg.payments.queue_depth_max,
      std::chrono::milliseconds(cfg.actors.request_timeout_ms),
      [&sys, url] { return sys.spawn<caf::detached>(db_worker_behavior, url); }, stats);
  using S = std::string;
  return {
      [=](pkglist_atom a, bool b) { return pool_forward<S>(self, a, b); },
      [=](pkgput_atom a, const package_change& c) {
        return pool_forward<package_record>(self, a, c);
      },
      [=](pfind_atom a, const S& u, const S& id) {
        return pool_forward<purchase_view>(self, a, u, id);
      },
      [=](ppage_atom a, const purchase_query& q) { return pool_forward<S>(self, a, q); },
      [=](pbegin_atom a, const purchase_request& r, const S& g, const S& id) {
        return pool_forward<purchase_begun>(self, a, r, g, id);
      },
      [=](poutcome_atom a, const purchase_outcome& o) {
        return pool_forward<purchase_begun>(self, a, o);
      },
      [=](prelease_atom a, const S& u, const S& k) { return pool_forward<bool>(self, a, u, k); },
      [=](pbycharge_atom a, const S& g, const S& c) {
        return pool_forward<purchase_view>(self, a, g, c);
      },
      [=](pbind_atom a, const S& id, const S& c) {
        return pool_forward<purchase_view>(self, a, id, c);
      },
      [=](pcomplete_atom a, const S& id, const S& e, const S& cause, const S& r) {
        return pool_forward<purchase_view>(self, a, id, e, cause, r);
      },
      [=](pend_atom a, const S& id, const S& st, const S& code, const S& m, const S& cause,
          const S& r) { return pool_forward<purchase_view>(self, a, id, st, code, m, cause, r); },
      [=](paudit_atom a, const S& s, const S& d) { return pool_forward<bool>(self, a, s, d); },
      [=](stale_atom a, int64_t older, int32_t limit) {
        return pool_forward<std::vector<std::string>>(self, a, older, limit);
      },
      [=](pprune_atom a) { return pool_forward<int64_t>(self, a); },
      [=](restart_atom, uint64_t index) { pool_restart<payments_db_actor>(self, index); },
  };
}

// ----------------------------------------------------------- gateway workers

using gateway_worker_actor = caf::typed_actor<
    // (request, the purchase as recorded, reconcile first?) → the charge; a
    // refusal without a charge comes back with an empty id and status "failed".
    caf::replies_to<pcharge_atom, purchase_request, purchase_view, bool>::with<charge_snapshot>,
    // (gateway, charge id) → the charge as the gateway has it now.
    caf::replies_to<pfetch_atom, std::string, std::string>::with<charge_snapshot>,
    // (gateway, purchase id, created after, Unix s) → the charge, or an empty id.
    caf::replies_to<pfindchg_atom, std::string, std::string, int64_t>::with<charge_snapshot>>;

struct gateway_worker_state {
  static inline const char* name = "payments_gateway_worker";
  gateway_factory make_gateway;
  std::unordered_map<std::string, std::unique_ptr<gateways::gateway>> clients;
  std::minstd_rand random{std::random_device{}()};
};
using gateway_worker = gateway_worker_actor::stateful_pointer<gateway_worker_state>;

gateways::gateway* client_for(gateway_worker self, const std::string& name) {
  auto& st = self->state;
  auto it = st.clients.find(name);
  if (it == st.clients.end()) {
    it = st.clients.emplace(name, st.make_gateway ? st.make_gateway(name) : nullptr).first;
  }
  return it->second.get();
}

charge_snapshot snapshot_of(const gateways::charge& c) {
  charge_snapshot s;
  s.id = c.id;
  s.status = gateways::to_string(c.status);
  s.paid = c.paid;
  s.amount = c.amount;
  s.currency = c.currency;
  s.purchase_id = c.purchase_id;
  s.failure_code = c.failure_code;
  s.failure_message = c.failure_message;
  s.authorize_uri = c.authorize_uri;
  s.qr_image_url = c.qr_image_url;
  s.expires_at = c.expires_at;
  return s;
}

errc errc_of(const caf::error& err) {
  errc code = errc::internal;
  as_errc(err, code);
  return code;
}

// Looks the purchase's charge up at the gateway, retrying a failed lookup with
// backoff (this thread is the worker's own). An error means "unknown": the
// caller must not conclude that nothing was charged.
caf::expected<std::optional<gateways::charge>> reconcile(gateway_worker self,
                                                         gateways::gateway& client,
                                                         const std::string& purchase_id,
                                                         int64_t created_after_s) {
  caf::error last;
  for (uint32_t attempt = 0; attempt < reconcile_attempts_max; ++attempt) {
    auto found = client.find_charge_by_purchase(purchase_id, created_after_s);
    if (found) {
      return found;
    }
    last = std::move(found.error());
    const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(self->state.random);
    std::this_thread::sleep_for(backoff_delay(attempt, std::chrono::milliseconds(200),
                                              std::chrono::milliseconds(2'000), jitter));
  }
  return last;
}

caf::result<charge_snapshot> on_charge(gateway_worker self, const purchase_request& request,
                                       const purchase_view& purchase, bool reconcile_first) {
  gateways::gateway* client = client_for(self, purchase.gateway);
  if (client == nullptr) {
    return errc::gateway_unavailable;
  }
  const int64_t created_after_s = purchase.created_at_ms / 1000;
  if (reconcile_first) {
    auto found = reconcile(self, *client, purchase.id, created_after_s);
    if (!found) {
      return errc::gateway_unavailable;
    }
    if (*found) {
      return snapshot_of(**found);
    }
  }
  gateways::charge_request charge;
  charge.purchase_id = purchase.id;
  charge.amount = purchase.amount;
  charge.currency = purchase.currency;
  charge.method = purchase.method == "promptpay" ? gateways::payment_method::promptpay
                                                 : gateways::payment_method::card;
  charge.card_token = request.card_token;
  charge.return_uri = request.return_uri;
  // Not the purchase id (it is in metadata): a uuid's digit groups can look
  // like a card number to the gateway layer's last-line check and be refused.
  charge.description = "Tally credits: " + purchase.package_id;
  charge.idempotency_key = "purchase:" + purchase.id;
  for (uint32_t attempt = 0; attempt < create_attempts_max; ++attempt) {
    auto created = client->create_charge(charge);
    if (created) {
      return snapshot_of(*created);
    }
    const errc code = errc_of(created.error());
    const gateways::failure_detail detail = gateways::gateway_failure(created.error());
    if (code == errc::invalid_argument) {
      // The gateway refused the request (used or invalid token, ...): no charge.
      charge_snapshot refused;
      refused.status = "failed";
      refused.failure_code = detail.code.empty() ? "invalid_request" : detail.code;
      refused.failure_message = detail.message;
      return refused;
    }
    if (code != errc::upstream_timeout && !detail.ambiguous) {
      log::warn("gateway_charge_failed", {{"purchase_id", purchase.id},
                                          {"gateway", purchase.gateway},
                                          {"error", to_string(code)},
                                          {"http_status", detail.http_status}});
      return errc::gateway_unavailable;  // the client has already retried what is safe
    }
    // Ambiguous: the charge may exist. Never create again before looking.
    auto found = reconcile(self, *client, purchase.id, created_after_s);
    if (!found) {
      return errc::gateway_unavailable;
    }
    if (*found) {
      return snapshot_of(**found);
    }
    log::info("gateway_charge_retry", {{"purchase_id", purchase.id}, {"attempt", attempt + 1}});
  }
  return errc::gateway_unavailable;
}

caf::result<charge_snapshot> on_fetch(gateway_worker self, const std::string& gateway,
                                      const std::string& charge_id) {
  gateways::gateway* client = client_for(self, gateway);
  if (client == nullptr) {
    return errc::gateway_unavailable;
  }
  auto charge = client->retrieve_charge(charge_id);
  if (!charge) {
    return charge.error();
  }
  return snapshot_of(*charge);
}

caf::result<charge_snapshot> on_find_charge(gateway_worker self, const std::string& gateway,
                                            const std::string& purchase_id,
                                            int64_t created_after_s) {
  gateways::gateway* client = client_for(self, gateway);
  if (client == nullptr) {
    return errc::gateway_unavailable;
  }
  auto found = client->find_charge_by_purchase(purchase_id, created_after_s);
  if (!found) {
    return found.error();
  }
  return *found ? snapshot_of(**found) : charge_snapshot{};
}

gateway_worker_actor::behavior_type gateway_worker_behavior(gateway_worker self,
                                                            gateway_factory make_gateway) {
  self->state.make_gateway = std::move(make_gateway);
  return {
      [=](pcharge_atom, const purchase_request& r, const purchase_view& p, bool reconcile_first) {
        return on_charge(self, r, p, reconcile_first);
      },
      [=](pfetch_atom, const std::string& gateway, const std::string& charge_id) {
        return on_fetch(self, gateway, charge_id);
      },
      [=](pfindchg_atom, const std::string& gateway, const std::string& purchase_id,
          int64_t after_s) { return on_find_charge(self, gateway, purchase_id, after_s); },
  };
}

using gateway_pool = pool_interface<gateway_worker_actor>;
using gateway_pool_state = worker_pool_state<gateway_worker_actor>;

gateway_pool::behavior_type gateway_pool_behavior(
    gateway_pool::stateful_pointer<gateway_pool_state> self, const config::config& cfg,
    gateway_factory make_gateway, pool_stats_ptr stats) {
  auto& sys = self->system();
  // A gateway call may retry inside the worker: the pool waits the whole purchase deadline.
  pool_start<gateway_worker_actor>(
      self, cfg.payments.gateway_workers, cfg.payments.queue_depth_max,
      std::chrono::milliseconds(cfg.payments.purchase_timeout_ms),
      [&sys, make_gateway] {
        return sys.spawn<caf::detached>(gateway_worker_behavior, make_gateway);
      },
      stats);
  using S = std::string;
  return {
      [=](pcharge_atom a, const purchase_request& r, const purchase_view& p, bool b) {
        return pool_forward<charge_snapshot>(self, a, r, p, b);
      },
      [=](pfetch_atom a, const S& g, const S& c) {
        return pool_forward<charge_snapshot>(self, a, g, c);
      },
      [=](pfindchg_atom a, const S& g, const S& id, int64_t after) {
        return pool_forward<charge_snapshot>(self, a, g, id, after);
      },
      [=](restart_atom, uint64_t index) { pool_restart<gateway_worker_actor>(self, index); },
  };
}

// -------------------------------------------------------------------- router

struct queued_settle {
  settle_request request;
  caf::typed_response_promise<purchase_view> promise;
};

struct router_state {
  static inline const char* name = "purchase_router";
  payments_db_actor db;
  gateway_worker_actor gateways;
  ledger_actor ledger;
  std::vector<std::string> configured_gateways;
  std::string default_gateway;
  std::chrono::milliseconds db_timeout{5'000};
  std::chrono::milliseconds gateway_timeout{45'000};
  std::chrono::seconds poll_interval{5};
  // "<gateway>:<charge id>" → settles waiting behind the one in progress.
  std::unordered_map<std::string, std::deque<queued_settle>> settling;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> polled;
};
using router = purchase_router_actor::stateful_pointer<router_state>;

caf::error payment_failed_error(const purchase_view& v) {
  // The route renders failure_code/failure_message from this context.
  return caf::make_error(errc::payment_failed, v.id, v.failure_code, v.failure_message, v.replayed);
}

void deliver_outcome(caf::typed_response_promise<purchase_view> promise,
                     const purchase_begun& answer) {
  if (answer.error_code == "payment_failed") {
    promise.deliver(payment_failed_error(answer.view));
  } else {
    promise.deliver(answer.view);
  }
}

void record_and_answer(router self, caf::typed_response_promise<purchase_view> promise,
                       purchase_outcome outcome) {
  self->request(self->state.db, self->state.db_timeout, poutcome_atom_v, std::move(outcome))
      .then([promise](purchase_begun& answer) mutable { deliver_outcome(promise, answer); },
            [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

caf::result<purchase_view> on_purchase(router self, purchase_request request) {
  auto& st = self->state;
  TALLY_ASSERT(!request.idempotency_key.empty());
  if (request.gateway.empty()) {
    request.gateway = st.default_gateway;
  }
  if (std::find(st.configured_gateways.begin(), st.configured_gateways.end(), request.gateway) ==
      st.configured_gateways.end()) {
    return caf::make_error(errc::gateway_unavailable, std::string("not configured"));
  }
  auto promise = self->make_response_promise<purchase_view>();
  const std::string purchase_id = auth::new_uuid_v4();
  self->request(st.db, st.db_timeout, pbegin_atom_v, request, request.gateway, purchase_id)
      .then(
          [self, promise, request](purchase_begun& begun) mutable {
            if (begun.replayed) {
              return deliver_outcome(promise, begun);
            }
            purchase_outcome outcome;
            outcome.user_id = request.user_id;
            outcome.purchase_id = begun.view.id;
            outcome.idempotency_key = request.idempotency_key;
            outcome.request_id = request.request_id;
            if (begun.resumed &&
                (begun.view.status != "pending" || !begun.view.charge_id.empty())) {
              // Settled or charged since the first attempt died: never charge it again;
              // answer it as it stands (and keep that answer for the key).
              return record_and_answer(self, promise, std::move(outcome));
            }
            self->request(self->state.gateways, self->state.gateway_timeout, pcharge_atom_v,
                          request, begun.view, begun.resumed)
                .then(
                    [self, promise, outcome](charge_snapshot& charge) mutable {
                      if (charge.id.empty()) {
                        outcome.failure_code = charge.failure_code;
                        outcome.failure_message = charge.failure_message;
                      } else {
                        outcome.has_charge = true;
                        outcome.charge = std::move(charge);
                      }
                      record_and_answer(self, promise, std::move(outcome));
                    },
                    [self, promise, outcome](caf::error& err) mutable {
                      // Unknown whether a charge exists: keep the purchase pending,
                      // free the key so a retry resumes (reconciling first).
                      log::warn("purchase_gateway_unavailable",
                                {{"purchase_id", outcome.purchase_id},
                                 {"error", to_string(errc_of(err))}});
                      self->request(self->state.db, self->state.db_timeout, prelease_atom_v,
                                    outcome.user_id, outcome.idempotency_key)
                          .then(
                              [promise](bool) mutable {
                                promise.deliver(caf::make_error(errc::gateway_unavailable));
                              },
                              [promise](caf::error& e) mutable { promise.deliver(std::move(e)); });
                    });
          },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

// ---- settle: one charge at a time

void settle_next(router self, const std::string& key);

void finish_settle(router self, const std::string& key,
                   caf::typed_response_promise<purchase_view> promise,
                   caf::expected<purchase_view> result) {
  if (result) {
    promise.deliver(std::move(*result));
  } else {
    promise.deliver(std::move(result.error()));
  }
  settle_next(self, key);
}

void grant_and_complete(router self, const std::string& key, const settle_request& r,
                        const purchase_view& purchase,
                        caf::typed_response_promise<purchase_view> promise) {
  auto& st = self->state;
  ledger_request grant;
  grant.account_id = purchase.user_id;
  grant.kind = static_cast<uint8_t>(entry_kind::purchase);
  grant.amount = purchase.credits;  // the package's credits as recorded at purchase time
  grant.idempotency_key = r.gateway + ":" + r.charge_id;
  grant.request_sha256 =
      auth::sha256_hex("purchase:" + purchase.id + ":" + std::to_string(purchase.credits));
  grant.reference_type = "purchase";
  grant.reference_id = purchase.id;
  grant.metadata_json = nlohmann::json{{"gateway", r.gateway}, {"charge_id", r.charge_id}}.dump();
  grant.actor = "system";
  grant.request_id = r.request_id;
  TALLY_ASSERT(grant.amount > 0);
  self->request(st.ledger, st.db_timeout, mutate_atom_v, std::move(grant))
      .then(
          [self, key, r, purchase, promise](ledger_receipt& receipt) mutable {
            // Granted (or found granted): now the purchase. A crash here is finished by
            // the next settle, whose grant replays this entry.
            self->request(self->state.db, self->state.db_timeout, pcomplete_atom_v, purchase.id,
                          receipt.entry_id, r.cause, r.request_id)
                .then(
                    [self, key, promise](purchase_view& done) mutable {
                      finish_settle(self, key, promise, std::move(done));
                    },
                    [self, key, promise](caf::error& err) mutable {
                      finish_settle(self, key, promise, std::move(err));
                    });
          },
          [self, key, promise](caf::error& err) mutable {
            finish_settle(self, key, promise, std::move(err));
          });
}

void settle_mismatch(router self, const std::string& key, const settle_request& r,
                     const purchase_view& purchase,
                     caf::typed_response_promise<purchase_view> promise) {
  log::warn("purchase_settle_mismatch",
            {{"purchase_id", purchase.id}, {"charge_id", r.charge_id}, {"cause", r.cause}});
  const nlohmann::json detail = {{"cause", r.cause},
                                 {"gateway", r.gateway},
                                 {"charge_id", r.charge_id},
                                 {"charge_purchase_id", r.metadata_purchase_id},
                                 {"charge_amount", r.amount},
                                 {"charge_currency", r.currency},
                                 {"purchase_amount", purchase.amount},
                                 {"purchase_currency", purchase.currency},
                                 {"request_id", r.request_id}};
  self->request(self->state.db, self->state.db_timeout, paudit_atom_v, "purchase:" + purchase.id,
                detail.dump())
      .then(
          [self, key, promise](bool) mutable {
            finish_settle(self, key, promise, caf::make_error(errc::validation_failed));
          },
          [self, key, promise](caf::error& err) mutable {
            finish_settle(self, key, promise, std::move(err));
          });
}

void settle_start(router self, const std::string& key, settle_request r,
                  caf::typed_response_promise<purchase_view> promise) {
  auto& st = self->state;
  self->request(st.db, st.db_timeout, pbycharge_atom_v, r.gateway, r.charge_id)
      .then(
          [self, key, r, promise](purchase_view& purchase) mutable {
            purchase_facts facts{
                purchase.id,
                parse_purchase_status(purchase.status).value_or(purchase_status::pending),
                purchase.amount, purchase.currency};
            charge_facts charge{r.charge_status, r.paid, r.amount, r.currency,
                                r.metadata_purchase_id};
            const settle_action action = decide_settle(facts, charge);
            switch (action) {
              case settle_action::none:
                return finish_settle(self, key, promise, std::move(purchase));
              case settle_action::mismatch:
                return settle_mismatch(self, key, r, purchase, promise);
              case settle_action::grant_and_complete:
                return grant_and_complete(self, key, r, purchase, promise);
              case settle_action::fail:
              case settle_action::expire: {
                const bool failed = action == settle_action::fail;
                self->request(self->state.db, self->state.db_timeout, pend_atom_v, purchase.id,
                              std::string(failed ? "failed" : "expired"),
                              failed && r.failure_code.empty() ? r.charge_status : r.failure_code,
                              r.failure_message, r.cause, r.request_id)
                    .then(
                        [self, key, promise](purchase_view& done) mutable {
                          finish_settle(self, key, promise, std::move(done));
                        },
                        [self, key, promise](caf::error& err) mutable {
                          finish_settle(self, key, promise, std::move(err));
                        });
                return;
              }
            }
          },
          [self, key, promise](caf::error& err) mutable {
            finish_settle(self, key, promise, std::move(err));
          });
}

// Runs the next queued settle of `key`, or forgets the key.
void settle_next(router self, const std::string& key) {
  auto& st = self->state;
  auto it = st.settling.find(key);
  TALLY_ASSERT(it != st.settling.end());
  if (it->second.empty()) {
    st.settling.erase(it);
    return;
  }
  queued_settle next = std::move(it->second.front());
  it->second.pop_front();
  settle_start(self, key, std::move(next.request), std::move(next.promise));
}

void settle_enqueue(router self, settle_request r,
                    caf::typed_response_promise<purchase_view> promise) {
  auto& st = self->state;
  const std::string key = r.gateway + ":" + r.charge_id;
  auto it = st.settling.find(key);
  if (it == st.settling.end()) {
    st.settling.emplace(key, std::deque<queued_settle>{});
    settle_start(self, key, std::move(r), std::move(promise));
    return;
  }
  if (it->second.size() >= settles_queued_per_charge_max) {
    promise.deliver(caf::make_error(errc::overloaded));
    return;
  }
  it->second.push_back(queued_settle{std::move(r), std::move(promise)});
}

caf::result<purchase_view> on_settle(router self, settle_request r) {
  if (r.gateway.empty() || r.charge_id.empty()) {
    return errc::invalid_argument;
  }
  auto promise = self->make_response_promise<purchase_view>();
  settle_enqueue(self, std::move(r), promise);
  return promise;
}

settle_request settle_request_of(const purchase_view& purchase, const charge_snapshot& c,
                                 const std::string& cause) {
  settle_request r;
  r.gateway = purchase.gateway;
  r.charge_id = c.id;
  r.metadata_purchase_id = c.purchase_id;
  r.charge_status = c.status;
  r.paid = c.paid;
  r.amount = c.amount;
  r.currency = c.currency;
  r.failure_code = c.failure_code;
  r.failure_message = c.failure_message;
  r.cause = cause;
  return r;
}

// ---- verify: re-fetch the purchase's charge and settle it

void verify_bound(router self, purchase_view purchase,
                  caf::typed_response_promise<purchase_view> promise, std::string cause) {
  self->request(self->state.gateways, self->state.gateway_timeout, pfetch_atom_v, purchase.gateway,
                purchase.charge_id)
      .then(
          [self, purchase, promise, cause](charge_snapshot& charge) mutable {
            settle_enqueue(self, settle_request_of(purchase, charge, cause), promise);
          },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

// No charge bound: the POST may have died after the gateway created one.
void verify_unbound(router self, purchase_view purchase,
                    caf::typed_response_promise<purchase_view> promise, std::string cause) {
  self->request(self->state.gateways, self->state.gateway_timeout, pfindchg_atom_v,
                purchase.gateway, purchase.id, purchase.created_at_ms / 1000)
      .then(
          [self, purchase, promise, cause](charge_snapshot& charge) mutable {
            auto& st = self->state;
            if (!charge.id.empty()) {
              self->request(st.db, st.db_timeout, pbind_atom_v, purchase.id, charge.id)
                  .then(
                      [self, promise, charge, cause](purchase_view& bound) mutable {
                        settle_enqueue(self, settle_request_of(bound, charge, cause), promise);
                      },
                      [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
              return;
            }
            const int64_t age_s = (unix_now_ms() - purchase.created_at_ms) / 1000;
            if (age_s < uncharged_expiry_s) {
              promise.deliver(purchase);
              return;
            }
            self->request(st.db, st.db_timeout, pend_atom_v, purchase.id, std::string("expired"),
                          std::string("no_charge"),
                          std::string("The gateway never created a charge."), cause, std::string())
                .then([promise](purchase_view& done) mutable { promise.deliver(done); },
                      [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
          },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
}

caf::result<purchase_view> on_verify(router self, const std::string& purchase_id,
                                     std::string cause) {
  auto promise = self->make_response_promise<purchase_view>();
  self->request(self->state.db, self->state.db_timeout, pfind_atom_v, std::string(), purchase_id)
      .then(
          [self, promise, cause](purchase_view& purchase) mutable {
            if (purchase.status != "pending") {
              promise.deliver(purchase);  // final states move only by settle's rules
              return;
            }
            if (purchase.charge_id.empty()) {
              return verify_unbound(self, std::move(purchase), promise, cause);
            }
            verify_bound(self, std::move(purchase), promise, cause);
          },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

caf::result<purchase_view> on_poll(router self, const std::string& purchase_id) {
  auto& st = self->state;
  const auto now = std::chrono::steady_clock::now();
  if (auto it = st.polled.find(purchase_id);
      it != st.polled.end() && now - it->second < st.poll_interval) {
    return errc::rate_limited;
  }
  if (st.polled.size() >= poll_throttle_entries_max) {
    for (auto it = st.polled.begin(); it != st.polled.end();) {
      it = now - it->second >= st.poll_interval ? st.polled.erase(it) : std::next(it);
    }
    if (st.polled.size() >= poll_throttle_entries_max) {
      return errc::rate_limited;  // a flood of distinct purchases: answer stored states
    }
  }
  st.polled[purchase_id] = now;
  return on_verify(self, purchase_id, "poll");
}

caf::result<std::vector<std::string>> on_stale(router self, stale_atom a, int64_t older_than_s,
                                               int32_t limit) {
  if (older_than_s < 0 || limit <= 0 || limit > 1'000) {
    return errc::invalid_argument;
  }
  auto promise = self->make_response_promise<std::vector<std::string>>();
  self->request(self->state.db, self->state.db_timeout, a, older_than_s, limit)
      .then([promise](std::vector<std::string>& ids) mutable { promise.deliver(std::move(ids)); },
            [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

void on_tick(router self) {
  self->request(self->state.db, self->state.db_timeout, pprune_atom_v)
      .then(
          [](int64_t pruned) {
            if (pruned > 0) {
              log::info("purchase_keys_pruned", {{"count", pruned}});
            }
          },
          [](caf::error& err) {
            log::warn("purchase_keys_prune_failed", {{"error", to_string(errc_of(err))}});
          });
  self->delayed_send(self, prune_period, tick_atom_v);
}

purchase_router_actor::behavior_type router_behavior(router self, const config::config& cfg,
                                                     payments_db_actor db,
                                                     gateway_worker_actor gateway_workers,
                                                     ledger_actor ledger,
                                                     std::vector<std::string> configured) {
  auto& st = self->state;
  st.db = std::move(db);
  st.gateways = std::move(gateway_workers);
  st.ledger = std::move(ledger);
  st.configured_gateways = std::move(configured);
  st.default_gateway = cfg.payments.default_gateway;
  st.db_timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);
  st.gateway_timeout = std::chrono::milliseconds(cfg.payments.purchase_timeout_ms);
  st.poll_interval = std::chrono::seconds(cfg.payments.poll_verify_interval_s);
  // The pools are the router's: they end with it.
  pool_own_worker(self, st.db);
  pool_own_worker(self, st.gateways);
  self->monitor(st.db);
  self->monitor(st.gateways);
  // Without its pools the router can do nothing: fail fast and visibly.
  self->set_down_handler([self](const caf::down_msg& down) {
    log::error("purchase_router_dependency_down", {{"reason", to_string(down.reason)}});
    self->quit(down.reason);
  });
  self->delayed_send(self, std::chrono::seconds(30), tick_atom_v);
  return {
      [=](purchase_atom, const purchase_request& r) { return on_purchase(self, r); },
      [=](settle_atom, const settle_request& r) { return on_settle(self, r); },
      [=](verify_atom, const std::string& id) { return on_verify(self, id, "verify"); },
      [=](stale_atom a, int64_t older_than_s, int32_t limit) {
        return on_stale(self, a, older_than_s, limit);
      },
      [=](ppoll_atom, const std::string& id) { return on_poll(self, id); },
      [=](tick_atom) { on_tick(self); },
  };
}

}  // namespace

payments_handles spawn_payments(caf::actor_system& sys, const config::config& cfg,
                                ledger_actor ledger, gateway_factory make_gateway,
                                pool_stats_ptr db_stats, pool_stats_ptr gateway_stats) {
  std::vector<std::string> configured;
  for (const char* name : {"omise", "stripe", "sandbox"}) {
    if (make_gateway && make_gateway(name) != nullptr) {
      configured.emplace_back(name);
    }
  }
  log::info("payments_gateways",
            {{"configured", configured}, {"default", cfg.payments.default_gateway}});
  auto db =
      caf::actor_cast<payments_db_actor>(sys.spawn(db_pool_behavior, cfg, std::move(db_stats)));
  auto gateway_workers = caf::actor_cast<gateway_worker_actor>(
      sys.spawn(gateway_pool_behavior, cfg, make_gateway, std::move(gateway_stats)));
  auto purchases = sys.spawn(router_behavior, cfg, db, gateway_workers, std::move(ledger),
                             std::move(configured));
  return {purchases, db};
}

}  // namespace tally
