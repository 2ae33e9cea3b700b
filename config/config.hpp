#pragma once
// Tally's configuration: one validated, immutable value built at start-up from
// environment variables (TALLY_*, DATABASE_URL, REDIS_URL, ...) and optionally a
// KEY=VALUE file named by TALLY_CONFIG_FILE (the environment wins). Every
// setting, its default and its bounds are listed in docs/configuration.md.
//
// Secrets (JWT keys, the admin key, gateway keys) are held here and never
// rendered: describe() masks them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tally::config {

enum class run_mode { dev, production };

struct jwt_key_setting {
  std::string kid;
  std::string secret;  // >= 32 bytes
};

// One database URL per bounded context, each defaulting to DATABASE_URL, so the
// contexts can move to separate databases without code changes (DESIGN.md).
struct database_urls {
  std::string identity;
  std::string ledger;
  std::string payments;
  std::string workflows;
  std::string events;
  std::string audit;
  std::string migrations;  // the URL migrations run against (DATABASE_URL)
};

struct http_settings {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  uint32_t io_threads = 0;  // 0: one per core
  std::size_t body_bytes_max = 64 * 1024;
  std::size_t webhook_body_bytes_max = 256 * 1024;
  std::size_t header_bytes_max = 8 * 1024;
  uint32_t requests_per_connection_max = 10'000;
  uint32_t connections_max = 10'000;
  uint32_t idle_timeout_s = 30;
  uint32_t read_timeout_s = 15;
};

struct auth_settings {
  std::vector<jwt_key_setting> jwt_keys;  // the first is the active signing key
  std::string jwt_issuer = "tally";
  std::string jwt_audience = "tally-api";
  uint32_t access_ttl_s = 900;         // 15 min
  uint32_t refresh_ttl_s = 7 * 86400;  // 7 days
  std::string admin_api_key;
};

struct rate_limit_settings {
  // Requests per minute on the auth endpoints; 0 disables the limiter.
  uint32_t auth_per_ip_per_minute = 60;
  uint32_t auth_per_email_per_minute = 10;
  std::size_t local_keys_max = 100'000;  // in-process fallback's memory bound
};

struct actor_settings {
  uint32_t scheduler_threads = 0;  // 0: one per core (at least 2)
  uint32_t request_timeout_ms = 5'000;
  uint32_t identity_db_workers = 4;
  uint32_t redis_workers = 2;
  uint32_t db_queue_depth_max = 1'000;
};

struct ledger_settings {
  uint32_t journal_writers = 2;         // connections doing group commit
  uint32_t journal_batch_max = 512;     // entries per transaction
  uint32_t journal_flush_delay_us = 0;  // 0: flush as soon as the writer is idle
  uint32_t readers = 2;                 // connections for loads, pages, lookups
  uint32_t resident_max = 100'000;      // ledger actors kept in memory
  uint32_t idle_ms = 30'000;            // an account idle this long is passivated
  uint32_t in_flight_max = 64;          // uncommitted mutations per account
  uint32_t expiry_tick_ms = 1'000;      // reservation expiry sweep period
};

// Payment gateways (DESIGN "Purchases and gateways"). Keys are secrets: held
// here, never rendered. An empty secret key means "not configured": purchases
// through that gateway are refused (gateway_unavailable) and its events are
// never credited.
struct gateway_settings {
  std::string omise_api_url = "https://api.omise.co";
  std::string omise_vault_url = "https://vault.omise.co";
  std::string omise_secret_key;
  std::string omise_public_key;
  std::string omise_webhook_secret;  // base64, optional
  std::string stripe_api_url = "https://api.stripe.com";
  std::string stripe_secret_key;
  std::string stripe_webhook_secret;
  std::string sandbox_api_url = "http://127.0.0.1:8090";
  std::string sandbox_vault_url = "http://127.0.0.1:8090";
  std::string sandbox_secret_key = "skey_test_tally_sandbox";
  std::string sandbox_public_key = "pkey_test_tally_sandbox";
  std::string sandbox_webhook_secret;  // base64, optional
  uint32_t connect_timeout_ms = 3'000;
  uint32_t request_timeout_ms = 10'000;  // one attempt of one gateway call
};

// The purchase actor (actors/payments.hpp).
struct payments_settings {
  std::string default_gateway = "sandbox";  // "omise", "stripe" or "sandbox" (production: omise)
  uint32_t db_workers = 2;                  // Postgres connections of the payments context
  uint32_t gateway_workers = 4;             // gateway calls in parallel
  uint32_t queue_depth_max = 256;           // per pool; beyond it 503 overloaded
  uint32_t purchase_timeout_ms = 45'000;    // a whole POST /v1/purchases, retries included
  // GET /v1/purchases/{id} on a purchase pending for at least this long asks
  // the gateway (the return path after a redirect), at most once per interval.
  uint32_t poll_verify_after_s = 3;
  uint32_t poll_verify_interval_s = 5;
  uint32_t poll_verify_wait_ms = 3'000;  // then the stored state is answered
};

// Gateway webhooks in: the inbox, its verifiers and the missed-webhook sweep
// (actors/webhooks.hpp, docs/webhooks.md).
struct webhook_settings {
  uint32_t inbox_workers = 2;  // Postgres connections for receivers, claims, admin
  uint32_t verifiers = 2;      // events verified in parallel (gateway + DB each)
  uint32_t attempts_max = 8;   // unreachable gateway: attempts before parking
  uint32_t retry_delay_min_ms = 1'000;
  uint32_t retry_delay_max_ms = 300'000;
  uint32_t unknown_charge_window_s = 600;  // charge not bound to a purchase yet: retry this long
  uint32_t poll_ms = 1'000;                // how often due events are claimed when idle
  uint32_t claim_batch_max = 16;           // events claimed per poll
  uint32_t lease_s = 120;               // a claim's lifetime: a dead verifier's events return then
  uint32_t settle_timeout_ms = 30'000;  // the purchase actor's answer to settle/verify
  uint32_t sweep_period_s = 60;         // missed-webhook sweep; 0 disables it
  uint32_t sweep_age_s = 300;           // purchases pending at least this long are re-checked
  uint32_t sweep_batch_max = 50;        // purchases re-checked per sweep
};

// Workflow runs (actors/workflows.hpp, docs/workflows.md). Caps are per engine node.
struct workflow_settings {
  uint32_t runs_per_user_max = 10;      // unfinished runs per user; beyond it 429 too_many_runs
  uint32_t runs_executing_max = 64;     // executions at once (global); more wait in the queue
  uint32_t queue_depth_max = 256;       // reserved runs waiting for a slot; beyond it 429
  uint32_t queue_wait_ms_max = 30'000;  // a run waiting longer is released (compensated)
  uint32_t executor_timeout_ms_max = 30'000;
  uint32_t executor_timeout_ms_default = 10'000;  // http executors without timeout_ms
  uint32_t delay_ms_max = 60'000;                 // delay executors
  uint32_t run_wait_ms_max = 30'000;              // POST .../runs?wait=true waits at most this
  uint32_t db_workers = 2;                        // Postgres connections of the workflows context
  uint32_t recovery_sweep_ms = 5'000;             // how often lapsed runs are claimed and finished
  // Hosts, addresses or CIDRs http executors may reach even when private (the outbound
  // target policy's allow list); loopback and private addresses are allowed in dev mode.
  std::vector<std::string> http_allow_hosts;
};

// Events out (actors/events.hpp, docs/events.md).
struct events_settings {
  std::string stream;                  // Redis stream; empty: <redis_key_prefix>events
  uint32_t stream_maxlen = 100'000;    // XADD MAXLEN ~ bound
  uint32_t relay_batch_max = 500;      // outbox rows per relay round
  uint32_t relay_period_ms = 200;      // pause after a round that was not full
  uint32_t retention_s = 86'400;       // published outbox rows kept (SSE resume)
  uint32_t low_balance_threshold = 0;  // default balance.low threshold; 0: off
  std::string retry_schedule = "5s,5m,30m,2h,5h,10h,10h";  // delays between attempts
  uint32_t delivery_timeout_ms = 15'000;                   // one subscriber attempt
  uint32_t delivery_workers = 2;                           // endpoint shards delivered in parallel
  uint32_t delivery_poll_ms = 250;                         // due-delivery scan period when idle
  uint32_t disable_after_s = 5 * 86'400;    // an endpoint failing this long is disabled
  uint32_t response_excerpt_bytes = 1'024;  // of a subscriber's answer, in the delivery log
  uint32_t endpoints_max = 1'000;           // subscriber endpoints in all
  uint32_t admin_workers = 2;               // Postgres connections for the admin endpoints
  uint32_t sse_connections_per_user = 5;    // open GET /v1/events/stream per user
  uint32_t sse_heartbeat_s = 15;
  uint32_t sse_queue_max = 256;    // events buffered per SSE client; beyond it, it is dropped
  uint32_t sse_total_max = 1'000;  // open GET /v1/events/stream per node, all users together
};

struct config {
  run_mode mode = run_mode::dev;
  std::string run_dir = ".run";
  std::string log_level = "info";
  bool auto_migrate = true;
  std::string migrations_dir;  // empty: the compiled-in source tree's migrations/
  database_urls databases;
  std::string redis_url = "redis://127.0.0.1:56379/0";
  // Prefix of every Redis key, so engines can share one Redis (TALLY_REDIS_KEY_PREFIX).
  std::string redis_key_prefix = "tally:";
  http_settings http;
  auth_settings auth;
  rate_limit_settings rate_limits;
  actor_settings actors;
  ledger_settings ledger;
  workflow_settings workflows;
  events_settings events;
  gateway_settings gateways;
  payments_settings payments;
  webhook_settings webhooks;
};

using env_map = std::map<std::string, std::string>;

// The process environment as a map.
env_map environment();

// Reads KEY=VALUE lines (blank lines and '#' comments allowed) from `path`.
// Returns false and sets `error` when the file cannot be read or a line is bad.
bool read_config_file(const std::string& path, env_map& out, std::string& error);

// Builds and validates the configuration from `env`. On failure returns false
// and appends one human-readable message per problem to `errors`; `out` is
// then unspecified. Dev secrets must already be in `env` (see dev_secrets.hpp).
bool load(const env_map& env, config& out, std::vector<std::string>& errors);

// A multi-line description of the effective configuration with every secret
// masked; safe to log.
std::string describe(const config& cfg);

// Dev-generated secrets carry this prefix so production can refuse them.
inline constexpr const char* dev_secret_prefix = "tally-dev-";

}  // namespace tally::config
