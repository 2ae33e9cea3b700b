#include "config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/jwt_keys.hpp"
#include "config/limits.hpp"
#include "domain/cloud_event.hpp"

extern char** environ;

namespace tally::config {
namespace {

// Reads settings from the map, collecting every problem instead of stopping at
// the first, so an operator fixes a broken deployment in one pass.
class reader {
 public:
  reader(const env_map& env, std::vector<std::string>& errors) : env_(env), errors_(errors) {}

  std::string text(const std::string& key, const std::string& fallback) const {
    auto it = env_.find(key);
    return it == env_.end() || it->second.empty() ? fallback : it->second;
  }

  bool has(const std::string& key) const {
    auto it = env_.find(key);
    return it != env_.end() && !it->second.empty();
  }

  template <class Int>
  Int number(const std::string& key, Int fallback, uint64_t min, uint64_t max) {
    if (!has(key)) {
      return fallback;
    }
    const std::string& raw = env_.at(key);
    errno = 0;
    char* end = nullptr;
    unsigned long long value = std::strtoull(raw.c_str(), &end, 10);
    if (errno != 0 || end == raw.c_str() || *end != '\0' || raw[0] == '-' || value < min ||
        value > max) {
      errors_.push_back(key + " must be an integer in " + std::to_string(min) + ".." +
                        std::to_string(max) + " (got '" + raw + "')");
      return fallback;
    }
    return static_cast<Int>(value);
  }

  bool flag(const std::string& key, bool fallback) {
    if (!has(key)) {
      return fallback;
    }
    std::string v = env_.at(key);
    std::transform(v.begin(), v.end(), v.begin(), ::tolower);
    if (v == "1" || v == "true" || v == "yes" || v == "on") {
      return true;
    }
    if (v == "0" || v == "false" || v == "no" || v == "off") {
      return false;
    }
    errors_.push_back(key + " must be true or false (got '" + v + "')");
    return fallback;
  }

  void fail(std::string message) { errors_.push_back(std::move(message)); }

 private:
  const env_map& env_;
  std::vector<std::string>& errors_;
};

bool parse_listen(const std::string& listen, http_settings& http) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return false;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const unsigned long value = std::stoul(port);
  if (value > 65535) {
    return false;
  }
  http.listen_host = host;
  http.listen_port = static_cast<uint16_t>(value);
  return true;
}

bool is_database_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
         url.find('=') != std::string::npos;  // libpq key=value form
}

void load_jwt_keys(reader& r, auth_settings& auth) {
  auth.jwt_keys.clear();
  if (r.has("TALLY_JWT_KEY")) {
    auth.jwt_keys.push_back({r.text("TALLY_JWT_KID", "k1"), r.text("TALLY_JWT_KEY", "")});
  }
  // Previous keys stay valid for verification during rotation: "kid:secret,kid:secret".
  std::stringstream previous(r.text("TALLY_JWT_PREVIOUS_KEYS", ""));
  std::string item;
  while (std::getline(previous, item, ',')) {
    auto colon = item.find(':');
    if (colon == std::string::npos || colon == 0) {
      r.fail("TALLY_JWT_PREVIOUS_KEYS entries must be kid:secret");
      continue;
    }
    auth.jwt_keys.push_back({item.substr(0, colon), item.substr(colon + 1)});
  }
}

void load_http(reader& r, http_settings& http) {
  const std::string listen = r.text("TALLY_LISTEN", "127.0.0.1:8080");
  if (!parse_listen(listen, http)) {
    r.fail("TALLY_LISTEN must be host:port (got '" + listen + "')");
  }
  http.io_threads = r.number<uint32_t>("TALLY_IO_THREADS", 0, 0, 64);
  http.body_bytes_max =
      r.number<std::size_t>("TALLY_BODY_BYTES_MAX", limits::request_body_bytes_default, 1024,
                            limits::request_body_bytes_max);
  http.webhook_body_bytes_max =
      r.number<std::size_t>("TALLY_WEBHOOK_BODY_BYTES_MAX", limits::webhook_body_bytes_default,
                            1024, limits::request_body_bytes_max);
  http.header_bytes_max =
      r.number<std::size_t>("TALLY_HEADER_BYTES_MAX", limits::request_header_bytes_default, 1024,
                            limits::request_header_bytes_max);
  http.requests_per_connection_max = r.number<uint32_t>(
      "TALLY_REQUESTS_PER_CONNECTION", limits::requests_per_connection_default, 1, 1'000'000);
  http.connections_max =
      r.number<uint32_t>("TALLY_CONNECTIONS_MAX", limits::connections_max_default, 1, 100'000);
  http.idle_timeout_s = r.number<uint32_t>("TALLY_IDLE_TIMEOUT_S", 30, 1, 3600);
  http.read_timeout_s = r.number<uint32_t>("TALLY_READ_TIMEOUT_S", 15, 1, 3600);
}

void load_databases(reader& r, config& cfg) {
  const std::string main_url =
      r.text("DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/tally");
  auto context_url = [&](const char* key) { return r.text(key, main_url); };
  cfg.databases.migrations = main_url;
  cfg.databases.identity = context_url("TALLY_IDENTITY_DATABASE_URL");
  cfg.databases.ledger = context_url("TALLY_LEDGER_DATABASE_URL");
  cfg.databases.payments = context_url("TALLY_PAYMENTS_DATABASE_URL");
  cfg.databases.workflows = context_url("TALLY_WORKFLOWS_DATABASE_URL");
  cfg.databases.events = context_url("TALLY_EVENTS_DATABASE_URL");
  cfg.databases.audit = context_url("TALLY_AUDIT_DATABASE_URL");
  for (const auto* url : {&cfg.databases.migrations, &cfg.databases.identity, &cfg.databases.ledger,
                          &cfg.databases.payments, &cfg.databases.workflows, &cfg.databases.events,
                          &cfg.databases.audit}) {
    if (!is_database_url(*url)) {
      r.fail("database URLs must be postgresql://... or libpq key=value strings");
      break;
    }
  }
  cfg.redis_url = r.text("REDIS_URL", "redis://127.0.0.1:56379/0");
  if (cfg.redis_url.rfind("redis://", 0) != 0) {
    r.fail("REDIS_URL must start with redis://");
  }
  cfg.redis_key_prefix = r.text("TALLY_REDIS_KEY_PREFIX", "tally:");
  if (cfg.redis_key_prefix.size() > 128) {
    r.fail("TALLY_REDIS_KEY_PREFIX must be at most 128 characters");
  }
}

bool is_http_url(const std::string& url) {
  return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
}

void load_gateways(reader& r, gateway_settings& g) {
  struct url_setting {
    const char* key;
    std::string* value;
  };
  for (const auto& [key, value] : {url_setting{"TALLY_OMISE_API_URL", &g.omise_api_url},
                                   url_setting{"TALLY_OMISE_VAULT_URL", &g.omise_vault_url},
                                   url_setting{"TALLY_STRIPE_API_URL", &g.stripe_api_url},
                                   url_setting{"TALLY_SANDBOX_API_URL", &g.sandbox_api_url},
                                   url_setting{"TALLY_SANDBOX_VAULT_URL", &g.sandbox_vault_url}}) {
    *value = r.text(key, *value);
    if (!is_http_url(*value)) {
      r.fail(std::string(key) + " must be an http:// or https:// URL");
    }
  }
  g.omise_secret_key = r.text("TALLY_OMISE_SECRET_KEY", "");
  g.omise_public_key = r.text("TALLY_OMISE_PUBLIC_KEY", "");
  g.omise_webhook_secret = r.text("TALLY_OMISE_WEBHOOK_SECRET", "");
  g.stripe_secret_key = r.text("TALLY_STRIPE_SECRET_KEY", "");
  g.stripe_webhook_secret = r.text("TALLY_STRIPE_WEBHOOK_SECRET", "");
  // Test keys of a loopback sandbox are not secrets; it accepts any skey_test_/pkey_test_.
  g.sandbox_secret_key = r.text("TALLY_SANDBOX_SECRET_KEY", "skey_test_tally_sandbox");
  g.sandbox_public_key = r.text("TALLY_SANDBOX_PUBLIC_KEY", "pkey_test_tally_sandbox");
  g.sandbox_webhook_secret = r.text("TALLY_SANDBOX_WEBHOOK_SECRET", "");
  g.connect_timeout_ms = r.number<uint32_t>("TALLY_GATEWAY_CONNECT_TIMEOUT_MS", 3'000, 100, 60'000);
  g.request_timeout_ms = r.number<uint32_t>("TALLY_GATEWAY_TIMEOUT_MS", 10'000, 100, 120'000);
}

void load_payments(reader& r, run_mode mode, const gateway_settings& g, payments_settings& p) {
  p.default_gateway = r.text("TALLY_DEFAULT_GATEWAY", mode == run_mode::dev ? "sandbox" : "omise");
  if (p.default_gateway != "omise" && p.default_gateway != "stripe" &&
      p.default_gateway != "sandbox") {
    r.fail("TALLY_DEFAULT_GATEWAY must be omise, stripe or sandbox");
  }
  p.db_workers = r.number<uint32_t>("TALLY_PAYMENTS_DB_WORKERS", 2, 1, limits::db_workers_max);
  p.gateway_workers = r.number<uint32_t>("TALLY_PAYMENTS_GATEWAY_WORKERS", 4, 1, 64);
  p.queue_depth_max =
      r.number<uint32_t>("TALLY_PAYMENTS_QUEUE_DEPTH", 256, 1, limits::db_queue_depth_max);
  p.purchase_timeout_ms = r.number<uint32_t>("TALLY_PURCHASE_TIMEOUT_MS", 45'000, 1'000, 300'000);
  p.poll_verify_after_s = r.number<uint32_t>("TALLY_PURCHASE_POLL_VERIFY_AFTER_S", 3, 0, 86'400);
  p.poll_verify_interval_s =
      r.number<uint32_t>("TALLY_PURCHASE_POLL_VERIFY_INTERVAL_S", 5, 1, 86'400);
  p.poll_verify_wait_ms =
      r.number<uint32_t>("TALLY_PURCHASE_POLL_VERIFY_WAIT_MS", 3'000, 100, 30'000);
  // A purchase makes at least three gateway attempts (API.md) inside its deadline.
  if (p.purchase_timeout_ms < 3 * g.request_timeout_ms) {
    r.fail("TALLY_PURCHASE_TIMEOUT_MS must be at least 3 x TALLY_GATEWAY_TIMEOUT_MS");
  }
}

void load_webhooks(reader& r, webhook_settings& w) {
  w.inbox_workers = r.number<uint32_t>("TALLY_WEBHOOK_INBOX_WORKERS", 2, 1, limits::db_workers_max);
  w.verifiers = r.number<uint32_t>("TALLY_WEBHOOK_VERIFIERS", 2, 1, 64);
  w.attempts_max = r.number<uint32_t>("TALLY_WEBHOOK_ATTEMPTS_MAX", 8, 1, 100);
  w.retry_delay_min_ms =
      r.number<uint32_t>("TALLY_WEBHOOK_RETRY_DELAY_MIN_MS", 1'000, 10, 3'600'000);
  w.retry_delay_max_ms =
      r.number<uint32_t>("TALLY_WEBHOOK_RETRY_DELAY_MAX_MS", 300'000, 10, 86'400'000);
  if (w.retry_delay_min_ms > w.retry_delay_max_ms) {
    r.fail("TALLY_WEBHOOK_RETRY_DELAY_MIN_MS must be <= TALLY_WEBHOOK_RETRY_DELAY_MAX_MS");
  }
  w.unknown_charge_window_s =
      r.number<uint32_t>("TALLY_WEBHOOK_UNKNOWN_CHARGE_WINDOW_S", 600, 0, 7 * 86'400);
  w.poll_ms = r.number<uint32_t>("TALLY_WEBHOOK_POLL_MS", 1'000, 10, 60'000);
  w.claim_batch_max = r.number<uint32_t>("TALLY_WEBHOOK_CLAIM_BATCH_MAX", 16, 1, 100);
  w.lease_s = r.number<uint32_t>("TALLY_WEBHOOK_LEASE_S", 120, 5, 3'600);
  w.settle_timeout_ms = r.number<uint32_t>("TALLY_WEBHOOK_SETTLE_TIMEOUT_MS", 30'000, 100, 300'000);
  w.sweep_period_s = r.number<uint32_t>("TALLY_SWEEP_PERIOD_S", 60, 0, 86'400);
  w.sweep_age_s = r.number<uint32_t>("TALLY_SWEEP_AGE_S", 300, 0, 30 * 86'400);
  w.sweep_batch_max = r.number<uint32_t>("TALLY_SWEEP_BATCH_MAX", 50, 1, 1'000);
  // A verification (two gateway calls, then settle) must end inside its lease,
  // or a second claimant could start on the same event.
  if (uint64_t{w.settle_timeout_ms} >= uint64_t{w.lease_s} * 1'000 / 2) {
    r.fail("TALLY_WEBHOOK_SETTLE_TIMEOUT_MS must be under half of TALLY_WEBHOOK_LEASE_S");
  }
}

void load_workflows(reader& r, workflow_settings& w) {
  w.runs_per_user_max = r.number<uint32_t>("TALLY_WORKFLOW_RUNS_PER_USER_MAX", 10, 1, 10'000);
  w.runs_executing_max = r.number<uint32_t>("TALLY_WORKFLOW_RUNS_MAX", 64, 1, 4'096);
  w.queue_depth_max = r.number<uint32_t>("TALLY_WORKFLOW_QUEUE_DEPTH", 256, 0, 100'000);
  w.queue_wait_ms_max =
      r.number<uint32_t>("TALLY_WORKFLOW_QUEUE_WAIT_MS_MAX", 30'000, 100, 600'000);
  w.executor_timeout_ms_max =
      r.number<uint32_t>("TALLY_WORKFLOW_EXECUTOR_TIMEOUT_MS_MAX", 30'000, 100, 120'000);
  w.executor_timeout_ms_default = r.number<uint32_t>("TALLY_WORKFLOW_EXECUTOR_TIMEOUT_MS", 10'000,
                                                     100, w.executor_timeout_ms_max);
  w.delay_ms_max = r.number<uint32_t>("TALLY_WORKFLOW_DELAY_MS_MAX", 60'000, 0, 120'000);
  w.run_wait_ms_max = r.number<uint32_t>("TALLY_WORKFLOW_RUN_WAIT_MS_MAX", 30'000, 100, 120'000);
  w.db_workers = r.number<uint32_t>("TALLY_WORKFLOW_DB_WORKERS", 2, 1, limits::db_workers_max);
  w.recovery_sweep_ms = r.number<uint32_t>("TALLY_WORKFLOW_RECOVERY_SWEEP_MS", 5'000, 100, 600'000);
  std::stringstream allow(r.text("TALLY_WORKFLOW_HTTP_ALLOW", ""));
  std::string item;
  while (std::getline(allow, item, ',')) {
    if (!item.empty()) {
      w.http_allow_hosts.push_back(item);
    }
  }
}

void load_events(reader& r, events_settings& e) {
  e.stream = r.text("TALLY_EVENTS_STREAM", "");
  e.stream_maxlen = r.number<uint32_t>("TALLY_EVENTS_STREAM_MAXLEN", 100'000, 100, 100'000'000);
  e.relay_batch_max = r.number<uint32_t>("TALLY_EVENTS_RELAY_BATCH_MAX", 500, 1, 10'000);
  e.relay_period_ms = r.number<uint32_t>("TALLY_EVENTS_RELAY_PERIOD_MS", 200, 10, 60'000);
  e.retention_s = r.number<uint32_t>("TALLY_EVENTS_RETENTION_S", 86'400, 60, 90 * 86'400);
  e.low_balance_threshold =
      r.number<uint32_t>("TALLY_EVENTS_LOW_BALANCE_THRESHOLD", 0, 0, 2'000'000'000);
  e.retry_schedule = r.text("TALLY_EVENTS_RETRY_SCHEDULE", e.retry_schedule);
  if (!parse_retry_schedule(e.retry_schedule)) {
    r.fail(
        "TALLY_EVENTS_RETRY_SCHEDULE must be 1..20 comma-separated delays with a unit "
        "(ms, s, m, h), each over 0 and at most 7 days");
  }
  e.delivery_timeout_ms =
      r.number<uint32_t>("TALLY_EVENTS_DELIVERY_TIMEOUT_MS", 15'000, 100, 60'000);
  e.delivery_workers = r.number<uint32_t>("TALLY_EVENTS_DELIVERY_WORKERS", 2, 1, 32);
  e.delivery_poll_ms = r.number<uint32_t>("TALLY_EVENTS_DELIVERY_POLL_MS", 250, 10, 60'000);
  e.disable_after_s =
      r.number<uint32_t>("TALLY_EVENTS_DISABLE_AFTER_S", 5 * 86'400, 1, 30 * 86'400);
  e.response_excerpt_bytes =
      r.number<uint32_t>("TALLY_EVENTS_RESPONSE_EXCERPT_BYTES", 1'024, 0, 20'000);
  e.endpoints_max = r.number<uint32_t>("TALLY_EVENTS_ENDPOINTS_MAX", 1'000, 1, 100'000);
  e.admin_workers = r.number<uint32_t>("TALLY_EVENTS_ADMIN_WORKERS", 2, 1, limits::db_workers_max);
  e.sse_connections_per_user = r.number<uint32_t>("TALLY_EVENTS_SSE_PER_USER_MAX", 5, 1, 1'000);
  e.sse_heartbeat_s = r.number<uint32_t>("TALLY_EVENTS_SSE_HEARTBEAT_S", 15, 1, 300);
  e.sse_queue_max = r.number<uint32_t>("TALLY_EVENTS_SSE_QUEUE_MAX", 256, 1, 100'000);
  e.sse_total_max = r.number<uint32_t>("TALLY_EVENTS_SSE_TOTAL_MAX", 1'000, 1, 100'000);
}

void check_production_secrets(reader& r, const config& cfg) {
  if (cfg.auth.jwt_keys.empty()) {
    r.fail("production mode needs TALLY_JWT_KEY (>= 32 random bytes)");
  }
  for (const auto& key : cfg.auth.jwt_keys) {
    if (key.secret.rfind(dev_secret_prefix, 0) == 0) {
      r.fail("production mode refuses a dev-generated JWT key ('" + key.kid + "')");
    }
  }
  if (cfg.auth.admin_api_key.rfind(dev_secret_prefix, 0) == 0) {
    r.fail("production mode refuses a dev-generated TALLY_ADMIN_API_KEY");
  }
}

}  // namespace

env_map environment() {
  env_map env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string line(*entry);
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      env.emplace(line.substr(0, eq), line.substr(eq + 1));
    }
  }
  return env;
}

bool read_config_file(const std::string& path, env_map& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read config file " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') {
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == first) {
      error = path + ":" + std::to_string(number) + ": expected KEY=VALUE";
      return false;
    }
    std::string key = line.substr(first, eq - first);
    key.erase(key.find_last_not_of(" \t") + 1);
    out.emplace(key, line.substr(eq + 1));  // emplace: the environment wins
  }
  return true;
}

bool load(const env_map& env, config& out, std::vector<std::string>& errors) {
  const std::size_t errors_before = errors.size();
  reader r(env, errors);
  config cfg;
  const std::string mode = r.text("TALLY_MODE", "dev");
  if (mode == "dev" || mode == "development") {
    cfg.mode = run_mode::dev;
  } else if (mode == "production" || mode == "prod") {
    cfg.mode = run_mode::production;
  } else {
    r.fail("TALLY_MODE must be dev or production (got '" + mode + "')");
  }
  cfg.run_dir = r.text("TALLY_RUN_DIR", ".run");
  cfg.log_level = r.text("TALLY_LOG_LEVEL", "info");
  static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end()) {
    r.fail("TALLY_LOG_LEVEL must be one of trace, debug, info, warn, error, off");
  }
  cfg.auto_migrate = r.flag("TALLY_AUTO_MIGRATE", true);
  cfg.migrations_dir = r.text("TALLY_MIGRATIONS_DIR", "");
  load_databases(r, cfg);
  load_http(r, cfg.http);
  load_jwt_keys(r, cfg.auth);
  cfg.auth.jwt_issuer = r.text("TALLY_JWT_ISSUER", "tally");
  cfg.auth.jwt_audience = r.text("TALLY_JWT_AUDIENCE", "tally-api");
  cfg.auth.access_ttl_s = r.number<uint32_t>("TALLY_ACCESS_TOKEN_TTL_S", 900, 60, 86400);
  cfg.auth.refresh_ttl_s =
      r.number<uint32_t>("TALLY_REFRESH_TOKEN_TTL_S", 7 * 86400, 300, 90 * 86400);
  cfg.auth.admin_api_key = r.text("TALLY_ADMIN_API_KEY", "");
  if (cfg.auth.admin_api_key.size() < 32) {
    r.fail("TALLY_ADMIN_API_KEY must be set to at least 32 characters");
  }
  if (!cfg.auth.jwt_keys.empty()) {
    if (auto violation = auth::jwt_key_set_violation(jwt_keys(cfg))) {
      r.fail("JWT keys: " + *violation);
    }
  }
  if (cfg.mode == run_mode::production) {
    check_production_secrets(r, cfg);
  } else if (cfg.auth.jwt_keys.empty()) {
    r.fail("TALLY_JWT_KEY is missing (dev mode generates one under TALLY_RUN_DIR)");
  }
  cfg.rate_limits.auth_per_ip_per_minute =
      r.number<uint32_t>("TALLY_RATE_AUTH_PER_IP_PER_MINUTE", 60, 0, 1'000'000);
  cfg.rate_limits.auth_per_email_per_minute =
      r.number<uint32_t>("TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE", 10, 0, 1'000'000);
  cfg.actors.scheduler_threads = r.number<uint32_t>("TALLY_ACTOR_THREADS", 0, 0, 64);
  cfg.actors.request_timeout_ms = r.number<uint32_t>("TALLY_ACTOR_TIMEOUT_MS", 5'000, 100, 60'000);
  cfg.actors.identity_db_workers =
      r.number<uint32_t>("TALLY_IDENTITY_DB_WORKERS", 4, 1, limits::db_workers_max);
  cfg.actors.redis_workers = r.number<uint32_t>("TALLY_REDIS_WORKERS", 2, 1, 16);
  cfg.actors.db_queue_depth_max =
      r.number<uint32_t>("TALLY_DB_QUEUE_DEPTH", 1'000, 1, limits::db_queue_depth_max);
  cfg.ledger.journal_writers = r.number<uint32_t>("TALLY_JOURNAL_WRITERS", 2, 1, 16);
  cfg.ledger.journal_batch_max = r.number<uint32_t>("TALLY_JOURNAL_BATCH_MAX", 512, 1, 4096);
  cfg.ledger.journal_flush_delay_us =
      r.number<uint32_t>("TALLY_JOURNAL_FLUSH_DELAY_US", 0, 0, 100'000);
  cfg.ledger.readers = r.number<uint32_t>("TALLY_LEDGER_READERS", 2, 1, limits::db_workers_max);
  cfg.ledger.resident_max =
      r.number<uint32_t>("TALLY_LEDGER_RESIDENT_MAX", 100'000, 16, 10'000'000);
  cfg.ledger.idle_ms = r.number<uint32_t>("TALLY_LEDGER_IDLE_MS", 30'000, 100, 86'400'000);
  cfg.ledger.in_flight_max = r.number<uint32_t>("TALLY_LEDGER_IN_FLIGHT_MAX", 64, 1, 4096);
  cfg.ledger.expiry_tick_ms =
      r.number<uint32_t>("TALLY_RESERVATION_EXPIRY_TICK_MS", 1'000, 50, 60'000);
  load_gateways(r, cfg.gateways);
  load_payments(r, cfg.mode, cfg.gateways, cfg.payments);
  load_webhooks(r, cfg.webhooks);
  load_workflows(r, cfg.workflows);
  load_events(r, cfg.events);
  if (cfg.ledger.journal_batch_max < cfg.ledger.in_flight_max) {
    r.fail(
        "TALLY_JOURNAL_BATCH_MAX must be >= TALLY_LEDGER_IN_FLIGHT_MAX (one account's "
        "pipeline fits one batch)");
  }
  if (errors.size() != errors_before) {
    return false;
  }
  out = std::move(cfg);
  return true;
}

std::string describe(const config& cfg) {
  // Secrets are never rendered: only whether they are set and their key ids.
  std::ostringstream os;
  os << "mode=" << (cfg.mode == run_mode::dev ? "dev" : "production")
     << " listen=" << cfg.http.listen_host << ":" << cfg.http.listen_port
     << " io_threads=" << cfg.http.io_threads << " actor_threads=" << cfg.actors.scheduler_threads
     << " auto_migrate=" << (cfg.auto_migrate ? "true" : "false")
     << " body_bytes_max=" << cfg.http.body_bytes_max << " jwt_kids=";
  for (std::size_t i = 0; i < cfg.auth.jwt_keys.size(); ++i) {
    os << (i ? "," : "") << cfg.auth.jwt_keys[i].kid;
  }
  os << " admin_api_key=" << (cfg.auth.admin_api_key.empty() ? "unset" : "set");
  auto set = [](const std::string& secret) { return secret.empty() ? "unset" : "set"; };
  os << " default_gateway=" << cfg.payments.default_gateway
     << " omise_api_url=" << cfg.gateways.omise_api_url
     << " omise_secret_key=" << set(cfg.gateways.omise_secret_key)
     << " stripe_secret_key=" << set(cfg.gateways.stripe_secret_key)
     << " sandbox_api_url=" << cfg.gateways.sandbox_api_url
     << " sandbox_secret_key=" << set(cfg.gateways.sandbox_secret_key);
  return os.str();
}

}  // namespace tally::config
