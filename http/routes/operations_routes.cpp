// Operations endpoints: liveness, readiness (Postgres and Redis), Prometheus
// metrics, the OpenAPI document and the page that renders it.

#include <memory>

#include <nlohmann/json.hpp>

#include "http/bridge.hpp"
#include "http/routes/route_files.hpp"

namespace tally::http::assets {
std::string_view openapi_json();
std::string_view docs_html();
}  // namespace tally::http::assets

namespace tally::http {
namespace {

// Collects the two dependency checks, answering when both are in.
struct readiness {
  explicit readiness(exchange_ptr exchange) : ex(std::move(exchange)) {}
  exchange_ptr ex;
  int pending = 2;
  nlohmann::json checks = nlohmann::json::object();
  bool postgres_ok = false;

  void record(const char* name, bool ok, const caf::error& err) {
    checks[name] = {{"ok", ok}};
    if (!ok) {
      checks[name]["detail"] = err ? "unreachable" : "not ready";
    }
    if (--pending > 0) {
      return;
    }
    // Postgres is required; Redis holds only what may be lost, so the engine
    // serves (degraded, with fallbacks) without it.
    const bool ready = postgres_ok;
    ex->respond_json(ready ? 200 : 503,
                     {{"status", ready ? "ok" : "unavailable"}, {"checks", checks}});
  }
};

void get_ready(const operations_routes_deps& deps, const exchange_ptr& ex) {
  auto state = std::make_shared<readiness>(ex);  // callbacks run on one io thread
  ask<bool>(
      *deps.sys, deps.identity, deps.timeout, ex,
      [state](caf::expected<bool> ok) {
        state->postgres_ok = ok && *ok;
        state->record("postgres", state->postgres_ok, ok ? caf::error{} : ok.error());
      },
      ping_atom_v);
  ask<bool>(
      *deps.sys, deps.cache, deps.timeout, ex,
      [state](caf::expected<bool> ok) {
        state->record("redis", ok && *ok, ok ? caf::error{} : ok.error());
      },
      ping_atom_v);
}

}  // namespace

void add_operations_routes(route_table& table, operations_routes_deps deps) {
  table.add({"GET", "/health/live", auth_kind::none, body_kind::none, rate_policy::none,
             [](const exchange_ptr& ex) { ex->respond_json(200, {{"status", "ok"}}); }});
  table.add({"GET", "/health/ready", auth_kind::none, body_kind::none, rate_policy::none,
             [deps](const exchange_ptr& ex) { get_ready(deps, ex); }});
  table.add({"GET", "/metrics", auth_kind::none, body_kind::none, rate_policy::none,
             [deps](const exchange_ptr& ex) {
               if (deps.refresh_gauges) {
                 deps.refresh_gauges();
               }
               ex->respond(200, deps.metrics->render(), "text/plain; version=0.0.4");
             }});
  table.add({"GET", "/openapi.json", auth_kind::none, body_kind::none, rate_policy::none,
             [](const exchange_ptr& ex) { ex->respond(200, std::string(assets::openapi_json())); }});
  table.add({"GET", "/docs", auth_kind::none, body_kind::none, rate_policy::none,
             [](const exchange_ptr& ex) {
               ex->respond(200, std::string(assets::docs_html()), "text/html; charset=utf-8");
             }});
}

}  // namespace tally::http
