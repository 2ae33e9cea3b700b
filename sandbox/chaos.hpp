#pragma once
// Chaos controls: how the sandbox misbehaves on purpose, so the engine's
// retries, reconciliation and webhook de-duplication get exercised. Set at
// start-up (flags/env) and changed at run time through POST /sandbox/chaos.
// Pure: decisions take their random draws as arguments.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tally::sandbox {

struct chaos_settings {
  int64_t latency_ms = 0;      // added before every Omise API answer
  double fail_ratio = 0.0;     // share of API requests answered 500, with no effect
  double timeout_ratio = 0.0;  // share processed, then answered only after timeout_hold_ms
  int64_t timeout_hold_ms = 30'000;
  int64_t webhook_delay_ms = 0;          // added before a delivery's first attempt
  double webhook_duplicate_ratio = 0.0;  // share of events delivered twice
  bool webhook_reorder = false;          // hold deliveries and send them newest first
  double webhook_drop_ratio = 0.0;       // share of events never delivered
  // One-shot faults, counted down per API request before the ratios apply:
  // deterministic, so a test can say "the next request fails" exactly.
  int64_t fail_next = 0;               // answered 500, with no effect
  int64_t fail_after_effect_next = 0;  // processed, then answered 500 anyway
  int64_t timeout_next = 0;            // processed, answered after timeout_hold_ms
};

// Applies the fields present in `update` (a JSON object; absent fields keep
// their value) to `settings`. All-or-nothing: on any invalid field (wrong
// type, a ratio outside [0,1], a delay outside its limit, an unknown field)
// nothing changes, `errors` names each bad field, and false is returned.
bool apply_chaos_update(const nlohmann::json& update, chaos_settings& settings,
                        std::vector<std::string>& errors);

// True when every field is within its bounds (flags are checked with this).
bool is_valid(const chaos_settings& settings, std::vector<std::string>& errors);

nlohmann::json to_json(const chaos_settings& settings);

// What happens to one API request. Draws are uniform in [0, 1).
struct request_fate {
  bool is_failed = false;               // answer 500 internal_error, do nothing
  bool is_failed_after_effect = false;  // do the work, then answer 500 internal_error
  bool is_held = false;                 // do the work, answer after the client gave up
  std::chrono::milliseconds delay{0};   // before the answer is written
};
// Consumes one of the one-shot counters in `settings` when one is set.
request_fate decide_request(chaos_settings& settings, double fail_draw, double timeout_draw);

// What happens to one webhook event.
struct delivery_fate {
  bool is_dropped = false;
  bool is_duplicated = false;
  bool is_reordered = false;
  std::chrono::milliseconds delay{0};
};
delivery_fate decide_delivery(const chaos_settings& settings, double drop_draw,
                              double duplicate_draw);

}  // namespace tally::sandbox
