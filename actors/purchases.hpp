#pragma once
// How the purchase actor (actors/payments.hpp) is built, and the read/admin
// handle the HTTP layer uses for packages and purchase pages.
//
//   HTTP ──purchase/ppoll──> purchase router (cooperative: orchestrates, never blocks)
//                              │ pbegin/poutcome/pbycharge/...    │ pcharge/pfetch/pfindchg
//                              v                                  v
//                     payments DB pool (detached,          gateway pool (detached,
//                     one Postgres connection each)        one client per gateway each)
//                              ^
//   HTTP ──pkglist/pkgput/pfind/ppage──┘        ledger router <──mutate (settle's grant)
//
// The router serializes settles per charge on this node (research gateways.md
// §4.2: one writer of a purchase's state); across nodes the ledger's
// idempotency key "<gateway>:<charge id>" and the conditional row updates keep
// a purchase credited once.

#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/ledger.hpp"
#include "actors/payments.hpp"
#include "actors/pool_stats.hpp"
#include "config/config.hpp"

namespace tally {

// What the HTTP layer reads and administers directly (the payments DB pool).
using payments_query_actor = caf::typed_actor<
    // Packages as a JSON array string; `true`: active ones only.
    caf::replies_to<pkglist_atom, bool>::with<std::string>,
    // Admin create/patch. errc::package_not_found (patch), validation_failed (id taken).
    caf::replies_to<pkgput_atom, package_change>::with<package_record>,
    // (user id or "" for any, purchase id). errc::purchase_not_found.
    caf::replies_to<pfind_atom, std::string, std::string>::with<purchase_view>,
    // A page as {"items":[...], "next_created_at_us", "next_id"}.
    caf::replies_to<ppage_atom, purchase_query>::with<std::string>>;

// The router's full interface: purchase_actor plus the throttled poll of
// GET /v1/purchases/{id} (errc::rate_limited when this purchase was asked
// about too recently: answer the stored state).
using purchase_router_actor =
    purchase_actor::extend<caf::replies_to<ppoll_atom, std::string>::with<purchase_view>,
                           caf::reacts_to<tick_atom>>;

struct payments_handles {
  purchase_router_actor purchases;
  payments_query_actor queries;
};

// Spawns the payments DB pool (cfg.payments.db_workers), the gateway pool
// (cfg.payments.gateway_workers) and the router. `ledger` grants credits on
// settle. Stats, when given, receive the pools' counters for /metrics.
payments_handles spawn_payments(caf::actor_system& sys, const config::config& cfg,
                                ledger_actor ledger, gateway_factory make_gateway,
                                pool_stats_ptr db_stats = nullptr,
                                pool_stats_ptr gateway_stats = nullptr);

}  // namespace tally
