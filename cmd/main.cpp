// The `tally` binary.
//
//   tally [serve]     run the engine (the default)
//   tally migrate     apply pending migrations and exit
//   tally reconcile   replay every journal against its projection (exit 3 on mismatch)
//   tally routes      print the routes the router serves (JSON)
//   tally version
//
// Configuration comes from the environment (docs/configuration.md).

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/cache.hpp"
#include "actors/identity.hpp"
#include "actors/ledger.hpp"
#include "actors/pool_stats.hpp"
#include "actors/revocation_cache.hpp"
#include "config/config.hpp"
#include "config/dev_secrets.hpp"
#include "config/jwt_keys.hpp"
#include "http/authenticator.hpp"
#include "http/dispatcher.hpp"
#include "http/limiter.hpp"
#include "http/metrics.hpp"
#include "http/routes/route_files.hpp"
#include "http/server.hpp"
#include "logging/log.hpp"
#include "persistence/ledger_store.hpp"
#include "persistence/migrations.hpp"
#include "persistence/pg.hpp"
#include "persistence/redis_client.hpp"

namespace {

using namespace tally;

constexpr const char* version = "0.1.0";

// Reads and validates the configuration; prints every problem and returns
// false when the engine must not start.
// `admin_key_generated`: dev mode supplied the admin key (the operator has not seen it).
bool load_config(config::config& cfg, bool& admin_key_generated) {
  config::env_map env = config::environment();
  std::string error;
  if (auto file = env.find("TALLY_CONFIG_FILE"); file != env.end() && !file->second.empty()) {
    if (!config::read_config_file(file->second, env, error)) {
      std::fprintf(stderr, "tally: %s\n", error.c_str());
      return false;
    }
  }
  const std::string mode = env.count("TALLY_MODE") ? env["TALLY_MODE"] : "dev";
  const bool dev = mode == "dev" || mode == "development";
  admin_key_generated = dev && (env.count("TALLY_ADMIN_API_KEY") == 0 ||
                                env["TALLY_ADMIN_API_KEY"].empty());
  if (dev) {
    const std::string run_dir = env.count("TALLY_RUN_DIR") ? env["TALLY_RUN_DIR"] : ".run";
    if (!config::ensure_dev_secrets(run_dir, env, error)) {
      std::fprintf(stderr, "tally: %s\n", error.c_str());
      return false;
    }
  }
  std::vector<std::string> errors;
  if (!config::load(env, cfg, errors)) {
    std::fprintf(stderr, "tally: invalid configuration:\n");
    for (const auto& e : errors) {
      std::fprintf(stderr, "  - %s\n", e.c_str());
    }
    return false;
  }
  persistence::redis_endpoint endpoint;
  if (!persistence::parse_redis_url(cfg.redis_url, endpoint)) {
    std::fprintf(stderr, "tally: invalid configuration:\n  - REDIS_URL is malformed\n");
    return false;
  }
  return true;
}

bool run_migrations(const config::config& cfg) {
  const std::string dir =
      cfg.migrations_dir.empty() ? persistence::default_migrations_dir() : cfg.migrations_dir;
  persistence::migration_report report;
  std::string error;
  if (!persistence::apply_migrations(cfg.databases.migrations, dir, report, error)) {
    log::error("migrations_failed", {{"error", error}});
    return false;
  }
  log::info("migrations_applied",
            {{"applied", report.applied}, {"already_applied", report.already_applied}});
  return true;
}

uint32_t cores() {
  return std::max(1u, std::thread::hardware_concurrency());
}

int serve(const config::config& cfg, bool print_admin_key) {
  if (cfg.auto_migrate && !run_migrations(cfg)) {
    return 1;
  }
  caf::actor_system_config actor_cfg;
  actor_cfg.add_message_types<caf::id_block::tally>();
  const uint32_t actor_threads =
      cfg.actors.scheduler_threads ? cfg.actors.scheduler_threads : std::max(2u, cores());
  actor_cfg.set("scheduler.max-threads", static_cast<size_t>(actor_threads));
  // Fairness: no actor drains an unbounded mailbox before others run.
  actor_cfg.set("scheduler.max-throughput", static_cast<size_t>(300));
  revocation_cache revoked;  // declared before `sys`: actors hold a pointer to it
  caf::actor_system sys{actor_cfg};

  // Worker pools report their counters for /metrics through these.
  const std::vector<std::pair<std::string, pool_stats_ptr>> pools{
      {"identity", std::make_shared<pool_stats>()},
      {"redis", std::make_shared<pool_stats>()},
      {"ledger_reader", std::make_shared<pool_stats>()}};
  auto identity = spawn_identity(sys, cfg, pools[0].second);
  auto cache = spawn_cache(sys, cfg, pools[1].second);
  auto ledger = spawn_ledger(sys, cfg, pools[2].second);
  auto revocation_sync = spawn_revocation_sync(sys, cfg, revoked);
  const auto timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);

  http::registry metrics;
  http::authenticator auth(sys,
                           {config::jwt_keys(cfg), cfg.auth.jwt_issuer, cfg.auth.jwt_audience,
                            cfg.auth.admin_api_key, timeout},
                           revoked, identity);
  http::rate_rule auth_ip_rule(sys, cache, "auth_ip", cfg.rate_limits.auth_per_ip_per_minute, 60,
                               cfg.rate_limits.local_keys_max, timeout);
  http::rate_rule auth_email_rule(sys, cache, "auth_email",
                                  cfg.rate_limits.auth_per_email_per_minute, 60,
                                  cfg.rate_limits.local_keys_max, timeout);

  http::server_settings settings;
  settings.host = cfg.http.listen_host;
  settings.port = cfg.http.listen_port;
  settings.io_threads = cfg.http.io_threads ? cfg.http.io_threads : cores();
  settings.body_bytes_max = cfg.http.body_bytes_max;
  settings.webhook_body_bytes_max = cfg.http.webhook_body_bytes_max;
  settings.header_bytes_max = cfg.http.header_bytes_max;
  settings.requests_per_connection_max = cfg.http.requests_per_connection_max;
  settings.connections_max = cfg.http.connections_max;
  settings.idle_timeout_s = cfg.http.idle_timeout_s;
  settings.read_timeout_s = cfg.http.read_timeout_s;

  http::route_table routes;
  http::add_identity_routes(routes,
                            {&sys, identity, cache, ledger.router, &revoked, &auth_email_rule,
                             timeout, cfg.auth.access_ttl_s});
  http::add_credits_routes(routes, {&sys, ledger.router, ledger.reader, identity, timeout});
  auto& connections_gauge =
      metrics.add_gauge("http_server_open_connections", "Open client connections.");
  auto& actors_gauge = metrics.add_gauge("tally_actors_running", "Actors alive in the system.");
  auto& pool_in_flight = metrics.add_gauge(
      "tally_pool_requests_in_flight", "Requests a worker pool is serving.", {"pool"});
  auto& pool_workers = metrics.add_gauge("tally_pool_workers_alive",
                                         "Workers (connections) a pool has running.", {"pool"});
  auto& pool_restarts = metrics.add_gauge(
      "tally_pool_worker_restarts", "Workers a pool respawned after they died.", {"pool"});
  auto& pool_rejected = metrics.add_gauge(
      "tally_pool_rejected_requests", "Requests a pool refused (full or no worker alive).",
      {"pool"});
  std::unique_ptr<http::server> server_holder;
  http::add_operations_routes(
      routes, {&sys, identity, cache, &metrics,
               [&] {
                 connections_gauge.set(static_cast<double>(server_holder->open_connections()));
                 actors_gauge.set(static_cast<double>(sys.registry().running()));
                 for (const auto& [name, stats] : pools) {
                   pool_in_flight.set({name}, static_cast<double>(stats->in_flight.load()));
                   pool_workers.set({name}, static_cast<double>(stats->workers_alive.load()));
                   pool_restarts.set({name}, static_cast<double>(stats->restarts.load()));
                   pool_rejected.set({name}, static_cast<double>(stats->rejected.load()));
                 }
               },
               std::chrono::milliseconds(2'000)});
  http::dispatcher dispatcher({&routes, &auth, &auth_ip_rule, &metrics});
  server_holder = std::make_unique<http::server>(settings, dispatcher);
  std::string error;
  if (!server_holder->listen(error)) {
    log::error("listen_failed", {{"error", error}});
    caf::anon_send_exit(identity, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ledger.router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(revocation_sync, caf::exit_reason::user_shutdown);
    return 1;
  }
  log::info("engine_started", {{"version", version},
                               {"listen", cfg.http.listen_host + ":" +
                                              std::to_string(server_holder->bound_port())},
                               {"io_threads", settings.io_threads},
                               {"actor_threads", actor_threads},
                               {"config", config::describe(cfg)}});
  if (cfg.mode == config::run_mode::dev && print_admin_key) {
    // Dev mode only: the operator needs the generated admin key to call /v1/admin.
    std::printf("tally (dev mode) listening on http://%s:%u\nadmin API key: %s\n",
                cfg.http.listen_host.c_str(), server_holder->bound_port(),
                cfg.auth.admin_api_key.c_str());
    std::fflush(stdout);
  }
  server_holder->run();  // until SIGTERM/SIGINT has drained in-flight requests
  log::info("engine_stopping");
  caf::anon_send_exit(identity, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ledger.router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(revocation_sync, caf::exit_reason::user_shutdown);
  // Wait while the server, routes and limiters still exist: bridge actors may
  // still post answers to connections until their requests end.
  sys.await_all_actors_done();
  log::info("engine_stopped");
  return 0;
}

// Prints every (method, pattern) the router serves as JSON, for the test that
// keeps /openapi.json in step with the router.
int print_routes() {
  http::route_table routes;
  http::add_identity_routes(routes, {});
  http::add_credits_routes(routes, {});
  http::add_operations_routes(routes, {});
  std::printf("[");
  bool first = true;
  for (const auto& [method, pattern] : routes.routes().routes()) {
    std::printf("%s{\"method\":\"%s\",\"path\":\"%s\"}", first ? "" : ",", method.c_str(),
                pattern.c_str());
    first = false;
  }
  std::printf("]\n");
  return 0;
}

// Replays every account's journal against its projection. Exit 0 when clean,
// 3 on any mismatch, 1 when the database cannot be read.
int reconcile(const config::config& cfg) {
  try {
    auto connection = persistence::pg_connect(cfg.databases.ledger, std::chrono::minutes(30));
    const std::string report = persistence::reconcile_report_json(*connection);
    std::printf("%s\n", report.c_str());
    return report.find("\"ok\":true") != std::string::npos ? 0 : 3;
  } catch (const std::exception& e) {
    log::error("reconcile_failed", {{"error", to_string(persistence::to_errc(e))}});
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A broken Postgres or client connection must not kill the process (libpqxx header note).
  std::signal(SIGPIPE, SIG_IGN);
  const std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "version" || command == "--version") {
    std::printf("tally %s\n", version);
    return 0;
  }
  if (command == "routes") {
    return print_routes();
  }
  if (command != "serve" && command != "migrate" && command != "reconcile") {
    std::fprintf(stderr, "usage: tally [serve|migrate|reconcile|routes|version]\n");
    return 2;
  }
  config::config cfg;
  bool admin_key_generated = false;
  if (!load_config(cfg, admin_key_generated)) {
    return 2;
  }
  log::init(cfg.log_level);
  if (command == "migrate") {
    return run_migrations(cfg) ? 0 : 1;
  }
  if (command == "reconcile") {
    return reconcile(cfg);
  }
  return serve(cfg, admin_key_generated);
}
