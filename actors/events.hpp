#pragma once
// Events out (DESIGN "Events out", docs/events.md).
//
//   <context>.outbox ──> relay (one detached actor per context; one node at a
//                        time per context holds its lease)
//                          ├─ XADD <stream> MAXLEN ~ N      (Redis Streams)
//                          ├─ events.deliveries rows         (subscriber fan-out)
//                          └─ on_published callback          (in-process, e.g. SSE)
//   events.deliveries ──> delivery workers (detached; endpoints sharded by
//                         hash, one node per shard): Standard Webhooks POSTs,
//                         in order per endpoint, retries on the schedule
//   admin pool (detached workers): webhook-endpoint CRUD, delivery log, replay
//   stream reader pool (detached workers): catch-up reads for GET /v1/events/stream
//
// At-least-once everywhere: a row is marked published only after Redis and
// the deliveries table took it, so a crash re-publishes (same ids).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"
#include "domain/cloud_event.hpp"
#include "domain/event_stream.hpp"

namespace tally::outbound {
class target_policy;
}

namespace tally {

// Admin operations. Answers are JSON object strings shaped for the API;
// errc::not_found for an unknown endpoint or delivery, errc::invalid_cursor,
// errc::overloaded when too many endpoints exist.
using events_admin_actor = caf::typed_actor<
    // (url, event types as a JSON array string) -> endpoint with its secret
    caf::replies_to<epcreate_atom, std::string, std::string>::with<std::string>,
    // (cursor or "", limit) -> page
    caf::replies_to<eplist_atom, std::string, int32_t>::with<std::string>,
    caf::replies_to<epget_atom, std::string>::with<std::string>,
    caf::replies_to<epdelete_atom, std::string>::with<bool>,
    // (endpoint id, cursor or "", limit) -> page of deliveries with their attempts
    caf::replies_to<dlist_atom, std::string, std::string, int32_t>::with<std::string>,
    // (endpoint id, delivery id) -> the delivery, queued again
    caf::replies_to<dreplay_atom, std::string, std::string>::with<std::string>,
    // The user's balance.low threshold, each answering {threshold, source}
    // where source is "user" (their own) or "default" (TALLY_EVENTS_LOW_BALANCE_THRESHOLD).
    caf::replies_to<lowget_atom, std::string>::with<std::string>,
    caf::replies_to<lowset_atom, std::string, int64_t>::with<std::string>,
    caf::replies_to<lowclear_atom, std::string>::with<std::string>>;

// The live stream's catch-up (GET /v1/events/stream, domain/event_stream.hpp): the user's
// events after a cursor, read from the ledger journal and the payments and workflows outboxes
// (published or not yet), or the user's head positions. errc::storage_unavailable when a
// database is down; errc::overloaded when the pool is full.
using events_reader_actor =
    caf::typed_actor<caf::replies_to<sseread_atom, stream_query>::with<stream_page>>;

// Relay counters per context for /metrics (atomics: written by the relay,
// read on an io thread).
struct relay_stats {
  std::atomic<int64_t> published{0};  // events published since start
  std::atomic<int64_t> backlog{0};    // unpublished outbox rows (capped count)
  std::atomic<int64_t> lag_ms{0};     // age of the oldest unpublished row
  std::atomic<int64_t> failures{0};   // relay rounds that failed (Redis/Postgres down)
};

struct events_stats {
  relay_stats ledger, payments, workflows;
  std::atomic<int64_t> deliveries_succeeded{0};
  std::atomic<int64_t> deliveries_failed_attempts{0};
  std::atomic<int64_t> endpoints_disabled{0};
};

using events_stats_ptr = std::shared_ptr<events_stats>;

// Called by a relay, on its thread, with each batch it has just published.
// Must not block (it is the in-process fan-out, e.g. to SSE clients).
using published_callback = std::function<void(const std::vector<cloud_event>&)>;

struct events_handles {
  events_admin_actor admin;
  events_reader_actor reader;
  std::vector<caf::actor> relays;
  std::vector<caf::actor> deliverers;
};

// Signs a Standard Webhooks delivery: "v1,<base64 HMAC-SHA256(key, id.ts.body)>"
// with the key from a whsec_ secret. Empty when the secret is malformed.
std::string sign_webhook(const std::string& whsec_secret, const std::string& message_id,
                         int64_t timestamp_s, const std::string& body);

// Spawns the relays, the delivery workers, the admin pool and the stream reader pool (as
// many workers as the admin pool).
// `policy`: the SSRF policy subscriber URLs must pass (the executors' one).
events_handles spawn_events(caf::actor_system& sys, const config::config& cfg,
                            std::shared_ptr<const outbound::target_policy> policy,
                            events_stats_ptr stats, published_callback on_published = nullptr,
                            pool_stats_ptr admin_stats = nullptr);

}  // namespace tally
