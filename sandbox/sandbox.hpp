#pragma once
// The sandbox gateway's front door: `tally sandbox`, an Omise stand-in that
// listens on loopback and speaks Omise's wire format (docs/sandbox.md).
// cmd/main.cpp parses nothing itself: it hands the arguments after
// "sandbox" and the environment to parse_settings(), then calls run().

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/chaos.hpp"

namespace tally::sandbox {

struct settings {
  std::string listen_host = "127.0.0.1";  // loopback only
  uint16_t listen_port = 8090;
  // Base of the URLs the sandbox hands out (QR download_uri); "" means
  // http://<listen_host>:<bound port>.
  std::string public_url;
  // "" accepts any pkey_test_... / skey_test_...; otherwise exactly this key.
  std::string public_key;
  std::string secret_key;
  std::string webhook_url;                // "" sends no webhooks
  std::string webhook_secret;             // base64; "" sends them unsigned
  bool is_every_event_delivered = false;  // false: only charge.complete
  uint32_t webhook_attempts = 5;          // 1..limits::webhook_attempts_max
  int64_t webhook_timeout_ms = 5'000;     // one delivery attempt
  std::optional<uint64_t> seed;           // ids and chaos draws repeat per seed
  int64_t promptpay_ttl_s = 3'600;
  int64_t amount_min = 2'000;
  chaos_settings chaos;
  std::string log_level = "info";
};

using env_map = std::map<std::string, std::string>;

// Reads settings from `env` (TALLY_SANDBOX_*), then from `args` (flags such
// as --listen 127.0.0.1:8090 or --listen=127.0.0.1:8090), flags winning.
// Returns false and fills `errors` (one sentence per problem) when anything
// is malformed or out of range, or the listen address is not loopback.
bool parse_settings(const std::vector<std::string>& args, const env_map& env, settings& out,
                    std::vector<std::string>& errors);

// The flags and their environment variables, for `tally sandbox --help`.
std::string usage();

// Runs the sandbox until SIGTERM/SIGINT. Returns the process exit code: 0
// after a clean stop, 1 when it cannot listen or start.
int run(const settings& config);

}  // namespace tally::sandbox
