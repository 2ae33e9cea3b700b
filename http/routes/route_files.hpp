#pragma once
// One registration function per resource file in http/routes/. Each takes
// only the handles its handlers use (no engine-wide context object).

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/cache.hpp"
#include "actors/events.hpp"
#include "actors/identity.hpp"
#include "actors/ledger.hpp"
#include "actors/purchases.hpp"
#include "actors/reconciler.hpp"
#include "actors/revocation_cache.hpp"
#include "actors/webhooks.hpp"
#include "actors/workflows.hpp"
#include "domain/workflow.hpp"
#include "http/event_hub.hpp"
#include "http/limiter.hpp"
#include "http/metrics.hpp"
#include "http/routes.hpp"

namespace tally::http {

struct identity_routes_deps {
  caf::actor_system* sys = nullptr;
  identity_actor identity;
  cache_actor cache;
  ledger_actor ledger;                  // opens the account at registration; balance in users/me
  revocation_cache* revoked = nullptr;  // logout denies the token on this node at once
  rate_rule* email_rule = nullptr;      // per-e-mail limit on register/login
  std::chrono::milliseconds timeout{5'000};
  int64_t access_ttl_s = 900;
};

// POST /v1/auth/{register,login,refresh,logout}, GET /v1/auth/validate, GET /v1/users/me.
void add_identity_routes(route_table& table, identity_routes_deps deps);

struct credits_routes_deps {
  caf::actor_system* sys = nullptr;
  ledger_actor ledger;
  ledger_reader_actor reader;
  reconciler_actor reconciler;  // GET /v1/admin/reconcile
  identity_actor identity;      // admin grants check that the user exists
  std::chrono::milliseconds timeout{5'000};
};

// GET /v1/credits/balance, GET /v1/credits/ledger, POST /v1/credits/spend,
// POST/GET /v1/credits/reservations[/{id}], .../commit, .../release,
// POST /v1/admin/users/{id}/grants, GET /v1/admin/reconcile.
void add_credits_routes(route_table& table, credits_routes_deps deps);

struct payments_routes_deps {
  caf::actor_system* sys = nullptr;
  purchase_router_actor purchases;
  payments_query_actor queries;  // packages, purchase reads
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds purchase_timeout{45'000};  // cfg.payments.purchase_timeout_ms
  int64_t poll_verify_after_s = 3;                     // cfg.payments.poll_verify_after_s
  std::chrono::milliseconds poll_wait{3'000};          // cfg.payments.poll_verify_wait_ms
};

// GET /v1/packages, POST /v1/admin/packages, PATCH /v1/admin/packages/{id},
// POST/GET /v1/purchases, GET /v1/purchases/{id}.
void add_payments_routes(route_table& table, payments_routes_deps deps);

// Checks a webhook's signature for `gateway` over the raw body, without I/O
// (gateway::verify_webhook); an empty error when it verifies. Thread-safe:
// called on io threads.
struct gateway_signature_check {
  using header_fn = std::function<std::string_view(std::string_view name)>;
  using fn = std::function<caf::error(const std::string& gateway, std::string_view raw_body,
                                      const header_fn& header, int64_t now_s)>;
};

struct webhook_routes_deps {
  caf::actor_system* sys = nullptr;
  inbox_actor inbox;
  caf::actor supervisor;                        // told when a new event was stored (verify it now)
  gateway_signature_check::fn check_signature;  // empty: every delivery is refused
  counter* received = nullptr;                  // labels {gateway, outcome}
  std::chrono::milliseconds timeout{5'000};
};

// POST /v1/webhooks/{omise,stripe,sandbox}, GET /v1/admin/webhooks/inbox,
// POST /v1/admin/webhooks/inbox/{id}/retry.
void add_webhook_routes(route_table& table, webhook_routes_deps deps);

struct workflow_routes_deps {
  caf::actor_system* sys = nullptr;
  workflow_store_actor store;
  run_supervisor_actor runs;
  executor_bounds bounds;  // cfg.workflows executor limits
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds run_wait_max{30'000};  // cfg.workflows.run_wait_ms_max
};

// POST/GET /v1/workflows, GET/PATCH/DELETE /v1/workflows/{id},
// POST/GET /v1/workflows/{id}/runs, GET /v1/runs/{id}.
void add_workflow_routes(route_table& table, workflow_routes_deps deps);

struct events_routes_deps {
  caf::actor_system* sys = nullptr;
  events_admin_actor admin;
  // Subscriber URLs must pass it (the executors' SSRF policy); null: not checked here.
  std::shared_ptr<const outbound::target_policy> policy;
  std::chrono::milliseconds timeout{5'000};
};

// POST/GET /v1/admin/webhook-endpoints, GET/DELETE /v1/admin/webhook-endpoints/{id},
// GET .../{id}/deliveries, POST .../{id}/deliveries/{delivery_id}/replay;
// GET/PUT/DELETE /v1/credits/low-balance-threshold (the caller's balance.low threshold).
void add_events_routes(route_table& table, events_routes_deps deps);

struct stream_routes_deps {
  caf::actor_system* sys = nullptr;
  events_reader_actor reader;      // catch-up reads
  std::shared_ptr<event_hub> hub;  // live events; null only where routes are listed, not served
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds heartbeat{15'000};  // cfg.events.sse_heartbeat_s
  std::size_t queue_max = 256;                  // cfg.events.sse_queue_max
};

// GET /v1/events/stream (Server-Sent Events of the caller's own events).
void add_stream_routes(route_table& table, stream_routes_deps deps);

struct operations_routes_deps {
  caf::actor_system* sys = nullptr;
  identity_actor identity;  // readiness: Postgres
  cache_actor cache;        // readiness: Redis
  registry* metrics = nullptr;
  // Refreshes gauges (connections, actors) just before /metrics renders.
  std::function<void()> refresh_gauges;
  std::chrono::milliseconds timeout{2'000};
};

// GET /health/live, /health/ready, /metrics, /openapi.json, /docs.
void add_operations_routes(route_table& table, operations_routes_deps deps);

}  // namespace tally::http
