// The `tally` binary.
//
//   tally [serve]     run the engine (the default)
//   tally migrate     apply pending migrations and exit
//   tally reconcile   replay every journal against its projection (exit 3 on mismatch)
//   tally routes      print the routes the router serves (JSON)
//   tally sandbox     run the Omise sandbox gateway on loopback (docs/sandbox.md)
//   tally version
//
// Configuration comes from the environment (docs/configuration.md).

#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/cache.hpp"
#include "actors/events.hpp"
#include "actors/identity.hpp"
#include "actors/ledger.hpp"
#include "actors/pool_stats.hpp"
#include "actors/purchases.hpp"
#include "actors/reconciler.hpp"
#include "actors/revocation_cache.hpp"
#include "actors/webhooks.hpp"
#include "actors/workflows.hpp"
#include "config/config.hpp"
#include "config/dev_secrets.hpp"
#include "config/jwt_keys.hpp"
#include "domain/assert.hpp"
#include "gateways/gateways.hpp"
#include "http/authenticator.hpp"
#include "http/dispatcher.hpp"
#include "http/event_hub.hpp"
#include "http/limiter.hpp"
#include "http/metrics.hpp"
#include "http/routes/route_files.hpp"
#include "http/server.hpp"
#include "logging/log.hpp"
#include "outbound/target_policy.hpp"
#include "persistence/ledger_store.hpp"
#include "persistence/migrations.hpp"
#include "persistence/pg.hpp"
#include "persistence/reconcile_store.hpp"
#include "persistence/redis_client.hpp"
#include "sandbox/sandbox.hpp"

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
  admin_key_generated =
      dev && (env.count("TALLY_ADMIN_API_KEY") == 0 || env["TALLY_ADMIN_API_KEY"].empty());
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

// Builds gateway clients for the purchase actor's workers: nullptr for a
// gateway without a secret key (not configured: purchases through it are refused).
gateway_factory payment_gateways(const config::config& cfg) {
  auto settings = gateways::settings_from_config(cfg.gateways);
  const config::gateway_settings keys = cfg.gateways;
  return [settings, keys](const std::string& name) -> std::unique_ptr<gateways::gateway> {
    const std::string& secret = name == "omise"    ? keys.omise_secret_key
                                : name == "stripe" ? keys.stripe_secret_key
                                                   : keys.sandbox_secret_key;
    if (secret.empty()) {
      return nullptr;
    }
    auto client = gateways::make_gateway(name, settings);
    if (!client) {
      log::error("gateway_settings_invalid", {{"gateway", name}});
      return nullptr;
    }
    return std::move(*client);
  };
}

// The receivers' signature checks: one client per gateway, built whether or
// not it has API keys (Omise without a webhook secret accepts unsigned
// deliveries — they are re-fetched anyway; Stripe without one refuses all).
// Only the const, I/O-free verify_webhook is called, from any io thread.
http::gateway_signature_check::fn webhook_signature_checks(const config::config& cfg) {
  auto settings = gateways::settings_from_config(cfg.gateways);
  std::map<std::string, std::shared_ptr<const gateways::gateway>> clients;
  for (const char* name : {"omise", "stripe", "sandbox"}) {
    auto client = gateways::make_gateway(name, settings);
    if (client) {
      clients[name] = std::shared_ptr<const gateways::gateway>(std::move(*client));
    } else {
      log::error("gateway_settings_invalid", {{"gateway", name}});
    }
  }
  return [clients](const std::string& gateway, std::string_view raw_body,
                   const http::gateway_signature_check::header_fn& header,
                   int64_t now_s) -> caf::error {
    auto it = clients.find(gateway);
    if (it == clients.end()) {
      return caf::make_error(errc::invalid_signature);
    }
    return it->second->verify_webhook(raw_body, header, now_s);
  };
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

  // Workflow http executors reach private, loopback and link-local targets only in dev mode
  // or when allow-listed (TALLY_WORKFLOW_HTTP_ALLOW).
  outbound::target_policy_settings workflow_targets;
  workflow_targets.allow_private = cfg.mode == config::run_mode::dev;
  workflow_targets.allow_hosts = cfg.workflows.http_allow_hosts;
  auto workflow_policy = outbound::target_policy::make(workflow_targets);
  if (!workflow_policy) {
    log::error("config_invalid", {{"setting", "TALLY_WORKFLOW_HTTP_ALLOW"},
                                  {"entry", outbound::first_invalid_entry(workflow_targets)}});
    return 2;
  }
  // Worker pools report their counters for /metrics through these.
  const std::vector<std::pair<std::string, pool_stats_ptr>> pools{
      {"identity", std::make_shared<pool_stats>()},
      {"redis", std::make_shared<pool_stats>()},
      {"ledger_reader", std::make_shared<pool_stats>()},
      {"payments_db", std::make_shared<pool_stats>()},
      {"payments_gateway", std::make_shared<pool_stats>()},
      {"webhook_inbox", std::make_shared<pool_stats>()},
      {"webhook_verifier", std::make_shared<pool_stats>()},
      {"workflow_store", std::make_shared<pool_stats>()}};
  auto identity = spawn_identity(sys, cfg, pools[0].second);
  auto cache = spawn_cache(sys, cfg, pools[1].second);
  auto ledger = spawn_ledger(sys, cfg, pools[2].second);
  auto payments = spawn_payments(sys, cfg, ledger.router, payment_gateways(cfg), pools[3].second,
                                 pools[4].second);
  auto revocation_sync = spawn_revocation_sync(sys, cfg, revoked);
  const auto timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);

  http::registry metrics;
  auto& webhook_checks = metrics.add_counter(
      "tally_webhook_verifications_total",
      "Webhook verification attempts by gateway and the inbox status they reached "
      "(verified, rejected, parked, ignored, received = retry later).",
      {"gateway", "status"});
  auto& webhook_seconds = metrics.add_histogram(
      "tally_webhook_verification_seconds",
      "Time to verify one webhook event (gateway calls and settle).", {"gateway"});
  auto& webhooks_received = metrics.add_counter(
      "tally_webhooks_received_total",
      "Webhook deliveries by gateway and outcome (stored, duplicate, invalid_signature, "
      "malformed, not_stored).",
      {"gateway", "outcome"});
  auto webhooks =
      spawn_webhooks(sys, cfg, payments.purchases, payment_gateways(cfg),
                     {[&webhook_checks, &webhook_seconds](
                          const std::string& gateway, const std::string& status, double seconds) {
                       webhook_checks.inc({gateway, status});
                       webhook_seconds.observe({gateway}, seconds);
                     }},
                     pools[5].second, pools[6].second);
  auto& runs_started =
      metrics.add_counter("tally_workflow_runs_started_total",
                          "Workflow runs whose reservation was taken (or that cost nothing).");
  auto& runs_finished = metrics.add_counter(
      "tally_workflow_runs_finished_total",
      "Workflow runs that ended, by status (succeeded, failed, compensated).", {"status"});
  auto& run_credits = metrics.add_counter("tally_workflow_credits_charged_total",
                                          "Credits charged by workflow runs.");
  auto& run_seconds = metrics.add_histogram(
      "tally_workflow_run_duration_seconds", "Time from a run's creation to its end.", {"status"},
      {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120});
  auto workflows = spawn_workflows(
      sys, cfg, ledger.router, std::make_shared<const outbound::target_policy>(*workflow_policy),
      {[&runs_started] { runs_started.inc(); },
       [&runs_finished, &run_credits, &run_seconds](const std::string& status, int64_t charged,
                                                    double seconds) {
         runs_finished.inc({status});
         run_credits.inc(static_cast<uint64_t>(std::max<int64_t>(charged, 0)));
         run_seconds.observe({status}, seconds);
       }},
      pools[7].second);
  // Events out: outbox relays, subscriber deliveries (same SSRF policy as http executors).
  auto events_counters = std::make_shared<events_stats>();
  const auto subscriber_policy = std::make_shared<const outbound::target_policy>(*workflow_policy);
  // The live streams (GET /v1/events/stream) get what the relays publish through the hub.
  auto stream_hub = std::make_shared<http::event_hub>(cfg.events.sse_connections_per_user,
                                                      cfg.events.sse_total_max);
  auto events = spawn_events(
      sys, cfg, subscriber_policy, events_counters,
      [stream_hub](const std::vector<cloud_event>& batch) { stream_hub->publish(batch); });
  auto stop_events = [&events] {
    caf::anon_send_exit(events.admin, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(events.reader, caf::exit_reason::user_shutdown);
    for (const auto& a : events.relays) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    for (const auto& a : events.deliverers) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  };
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
  http::add_identity_routes(routes, {&sys, identity, cache, ledger.router, &revoked,
                                     &auth_email_rule, timeout, cfg.auth.access_ttl_s});
  // Set when the server has stopped: a running reconcile ends at its next page.
  auto reconcile_cancelled = std::make_shared<std::atomic<bool>>(false);
  auto reconciler = spawn_reconciler(sys, cfg.databases.ledger, reconcile_cancelled);
  http::add_credits_routes(routes,
                           {&sys, ledger.router, ledger.reader, reconciler, identity, timeout});
  http::add_payments_routes(routes, {&sys, payments.purchases, payments.queries, timeout,
                                     std::chrono::milliseconds(cfg.payments.purchase_timeout_ms),
                                     cfg.payments.poll_verify_after_s,
                                     std::chrono::milliseconds(cfg.payments.poll_verify_wait_ms)});
  http::add_webhook_routes(routes, {&sys, webhooks.inbox, webhooks.supervisor,
                                    webhook_signature_checks(cfg), &webhooks_received, timeout});
  http::add_workflow_routes(
      routes, {&sys, workflows.store, workflows.supervisor,
               executor_bounds{cfg.workflows.delay_ms_max, cfg.workflows.executor_timeout_ms_max,
                               cfg.workflows.executor_timeout_ms_default},
               timeout, std::chrono::milliseconds(cfg.workflows.run_wait_ms_max)});
  http::add_events_routes(routes, {&sys, events.admin, subscriber_policy, timeout});
  http::add_stream_routes(
      routes, {&sys, events.reader, stream_hub, timeout,
               std::chrono::seconds(cfg.events.sse_heartbeat_s), cfg.events.sse_queue_max});
  auto& connections_gauge =
      metrics.add_gauge("http_server_open_connections", "Open client connections.");
  auto& actors_gauge = metrics.add_gauge("tally_actors_running", "Actors alive in the system.");
  auto& pool_in_flight = metrics.add_gauge("tally_pool_requests_in_flight",
                                           "Requests a worker pool is serving.", {"pool"});
  auto& pool_workers = metrics.add_gauge("tally_pool_workers_alive",
                                         "Workers (connections) a pool has running.", {"pool"});
  auto& pool_restarts = metrics.add_gauge("tally_pool_worker_restarts",
                                          "Workers a pool respawned after they died.", {"pool"});
  auto& pool_rejected =
      metrics.add_gauge("tally_pool_rejected_requests",
                        "Requests a pool refused (full or no worker alive).", {"pool"});
  auto& relay_lag = metrics.add_gauge("tally_events_relay_lag_seconds",
                                      "Age of the oldest unpublished outbox row.", {"context"});
  auto& relay_backlog = metrics.add_gauge(
      "tally_events_outbox_backlog", "Unpublished outbox rows (counted up to 1e6).", {"context"});
  auto& relay_published = metrics.add_gauge("tally_events_published",
                                            "Events the relay published since start.", {"context"});
  auto& relay_failures = metrics.add_gauge("tally_events_relay_failures",
                                           "Relay rounds that failed since start.", {"context"});
  auto& webhook_attempts =
      metrics.add_gauge("tally_events_webhook_attempts",
                        "Subscriber webhook attempts since start, by result.", {"result"});
  auto& streams_open =
      metrics.add_gauge("tally_events_streams_open", "Open GET /v1/events/stream connections.");
  auto& endpoints_disabled =
      metrics.add_gauge("tally_events_endpoints_disabled",
                        "Subscriber endpoints disabled since start (410 or sustained failure).");
  std::unique_ptr<http::server> server_holder;
  http::add_operations_routes(
      routes,
      {&sys, identity, cache, &metrics,
       [&] {
         connections_gauge.set(static_cast<double>(server_holder->open_connections()));
         actors_gauge.set(static_cast<double>(sys.registry().running()));
         for (const auto& [name, stats] : pools) {
           pool_in_flight.set({name}, static_cast<double>(stats->in_flight.load()));
           pool_workers.set({name}, static_cast<double>(stats->workers_alive.load()));
           pool_restarts.set({name}, static_cast<double>(stats->restarts.load()));
           pool_rejected.set({name}, static_cast<double>(stats->rejected.load()));
         }
         const std::pair<const char*, const relay_stats*> relays[] = {
             {"ledger", &events_counters->ledger},
             {"payments", &events_counters->payments},
             {"workflows", &events_counters->workflows}};
         for (const auto& [context, relay] : relays) {
           relay_lag.set({context}, static_cast<double>(relay->lag_ms.load()) / 1000.0);
           relay_backlog.set({context}, static_cast<double>(relay->backlog.load()));
           relay_published.set({context}, static_cast<double>(relay->published.load()));
           relay_failures.set({context}, static_cast<double>(relay->failures.load()));
         }
         webhook_attempts.set({"succeeded"},
                              static_cast<double>(events_counters->deliveries_succeeded.load()));
         webhook_attempts.set(
             {"failed"}, static_cast<double>(events_counters->deliveries_failed_attempts.load()));
         endpoints_disabled.set(static_cast<double>(events_counters->endpoints_disabled.load()));
         streams_open.set(static_cast<double>(stream_hub->subscriber_count()));
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
    caf::anon_send_exit(payments.purchases, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(webhooks.supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(workflows.recovery, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(workflows.supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(workflows.store, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(revocation_sync, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(reconciler, caf::exit_reason::user_shutdown);
    stop_events();
    return 1;
  }
  log::info("engine_started",
            {{"version", version},
             {"listen", cfg.http.listen_host + ":" + std::to_string(server_holder->bound_port())},
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
  // The hub outlives the server (the relays' callback holds it): drop the streams it still
  // holds now, while their connections' io workers exist. A relay publishing later finds no
  // subscriber, and subscribe() refuses.
  stream_hub->clear();
  log::info("engine_stopping");
  reconcile_cancelled->store(true);
  caf::anon_send_exit(reconciler, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(identity, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(cache, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ledger.router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(payments.purchases, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(webhooks.supervisor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(workflows.recovery, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(workflows.supervisor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(workflows.store, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(revocation_sync, caf::exit_reason::user_shutdown);
  stop_events();
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
  http::add_payments_routes(routes, {});
  http::add_webhook_routes(routes, {});
  http::add_workflow_routes(routes, {});
  http::add_events_routes(routes, {});
  http::add_stream_routes(routes, {});
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
    const auto report = persistence::reconcile_report_json(*connection);
    TALLY_ASSERT(report.has_value());  // nothing cancels it here
    std::printf("%s\n", report->c_str());
    return report->find("\"ok\":true") != std::string::npos ? 0 : 3;
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
  if (command == "sandbox") {  // flags and TALLY_SANDBOX_* only: no engine configuration
    const std::vector<std::string> args(argv + 2, argv + argc);
    if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
      std::printf("%s", sandbox::usage().c_str());
      return 0;
    }
    sandbox::settings sandbox_settings;
    std::vector<std::string> errors;
    if (!sandbox::parse_settings(args, config::environment(), sandbox_settings, errors)) {
      for (const auto& e : errors) {
        std::fprintf(stderr, "tally sandbox: %s\n", e.c_str());
      }
      std::fprintf(stderr, "%s", sandbox::usage().c_str());
      return 2;
    }
    return sandbox::run(sandbox_settings);
  }
  if (command != "serve" && command != "migrate" && command != "reconcile") {
    std::fprintf(stderr, "usage: tally [serve|migrate|reconcile|routes|sandbox|version]\n");
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
