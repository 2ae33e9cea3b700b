#pragma once
// Command-line settings of tally_loadgen; bench/README.md and --help list them.

#include <cstdint>
#include <optional>
#include <string>

namespace tally::bench {

enum class run_mode { spend, touch };

struct loadgen_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  uint32_t connection_count = 64;
  uint32_t thread_count = 1;
  double duration_s = 10;
  double warmup_s = 2;
  double rate_per_s = 0;  // 0: closed loop
  uint64_t account_count = 1000;
  int64_t amount = 1;
  int64_t grant = 0;  // 0: enough for the run (see effective_grant)
  uint32_t timeout_ms = 10'000;
  std::string admin_key;
  bool is_setup_only = false;
  bool is_setup_skipped = false;
  std::string tokens_file;
  bool is_json = false;
  run_mode mode = run_mode::spend;
  std::string accounts_from_db;  // postgres URL: insert users there instead of registering
  bool is_random_accounts = false;
  bool is_touch_spend = false;
  std::string jwt_key;
  std::string jwt_kid = "k1";
  std::string jwt_issuer = "tally";
  std::string jwt_audience = "tally-api";
};

// Returns the options, or nullopt after printing the problem (exit_code 2) or
// the help text (exit_code 0).
std::optional<loadgen_options> parse_options(int argc, char** argv, int& exit_code);

// Credits granted to each account at setup: --grant, else (spend) enough for
// 200,000 spends/s over warm-up plus duration spread over the accounts, else
// (touch) 1.
int64_t effective_grant(const loadgen_options& options);

}  // namespace tally::bench
