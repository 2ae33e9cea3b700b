#pragma once
// One registration function per resource file in http/routes/. Each takes
// only the handles its handlers use (no engine-wide context object).

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "actors/cache.hpp"
#include "actors/identity.hpp"
#include "actors/ledger.hpp"
#include "actors/revocation_cache.hpp"
#include "http/limiter.hpp"
#include "http/metrics.hpp"
#include "http/routes.hpp"

namespace tally::http {

struct identity_routes_deps {
  caf::actor_system* sys = nullptr;
  identity_actor identity;
  cache_actor cache;
  ledger_actor ledger;  // opens the account at registration; balance in users/me
  revocation_cache* revoked = nullptr;  // logout denies the token on this node at once
  rate_rule* email_rule = nullptr;  // per-e-mail limit on register/login
  std::chrono::milliseconds timeout{5'000};
  int64_t access_ttl_s = 900;
};

// POST /v1/auth/{register,login,refresh,logout}, GET /v1/auth/validate, GET /v1/users/me.
void add_identity_routes(route_table& table, identity_routes_deps deps);

struct credits_routes_deps {
  caf::actor_system* sys = nullptr;
  ledger_actor ledger;
  ledger_reader_actor reader;
  identity_actor identity;  // admin grants check that the user exists
  std::chrono::milliseconds timeout{5'000};
};

// GET /v1/credits/balance, GET /v1/credits/ledger, POST /v1/credits/spend,
// POST/GET /v1/credits/reservations[/{id}], .../commit, .../release,
// POST /v1/admin/users/{id}/grants, GET /v1/admin/reconcile.
void add_credits_routes(route_table& table, credits_routes_deps deps);

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
