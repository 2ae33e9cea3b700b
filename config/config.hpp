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
