#pragma once
// Gateway webhooks in (DESIGN "Webhooks in", docs/webhooks.md).
//
//   receiver (io thread) ──ask wh_store──> inbox pool (detached, Postgres)
//                                           ^ wh_claim        (payments.inbox)
//   supervisor (cooperative, timers) ───────┘
//        │ wh_check(event)                     sweep: stale → verify
//        v                                            │
//   verifier pool (detached; own gateway clients ──settle──> purchase actor
//                  and Postgres session each)
//
// The receiver only stores; nothing trusts a webhook body. A verifier fetches
// the event and then the charge from the gateway API and hands the retrieved
// state to purchase_actor's `settle` (the one writer of purchase state); the
// outcome (verified / retry later / parked / rejected + audit / ignored) is
// written back to the inbox row by the lease owner. A purchase whose webhook
// never arrives is settled by the sweep through purchase_actor's `verify`.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/payments.hpp"
#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"

namespace tally {

using inbox_actor = caf::typed_actor<
    // Stores a checked event unless (gateway, event_id) is there already.
    caf::replies_to<wh_store_atom, inbox_insert>::with<inbox_receipt>,
    // Admin list: a JSON page {"items", "has_more", "last_created_us", "last_id"}.
    caf::replies_to<wh_list_atom, inbox_query>::with<std::string>,
    // Admin retry of a parked event: {"retried": bool, "event": {...}};
    // errc::not_found when no event has that id.
    caf::replies_to<wh_retry_atom, std::string>::with<std::string>,
    // Claims up to N due events for this node's verifiers.
    caf::replies_to<wh_claim_atom, int32_t>::with<std::vector<inbox_event>>>;

// Verifies one claimed event and records its outcome; answers the inbox
// status it ended in ("verified", "received" (retry due later), ...).
using verifier_actor =
    caf::typed_actor<caf::replies_to<wh_check_atom, inbox_event>::with<std::string>>;

// Observations for /metrics; called from verifier threads (must be thread-safe).
struct webhook_observer {
  // One verification attempt ended: gateway, inbox status reached, seconds taken.
  std::function<void(const std::string&, const std::string&, double)> verified;
};

struct webhook_actors {
  inbox_actor inbox;
  caf::actor supervisor;  // accepts wh_poll_atom: "new events were stored"
};

// Spawns the inbox pool, the verifier pool and the supervisor (poller and
// sweep timers). `purchases` settles and verifies.
webhook_actors spawn_webhooks(caf::actor_system& sys, const config::config& cfg,
                              purchase_actor purchases, gateway_factory make_gateway,
                              webhook_observer observer, pool_stats_ptr inbox_stats = nullptr,
                              pool_stats_ptr verifier_stats = nullptr);

}  // namespace tally
