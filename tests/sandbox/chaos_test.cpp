// tests/sandbox/chaos_test.cpp: covers sandbox/chaos.cpp. Updates are
// all-or-nothing; ratios of 0 never fire and ratios of 1 always do.
#include "sandbox/chaos.hpp"

#include <catch2/catch.hpp>

#include "sandbox/limits.hpp"

using namespace tally::sandbox;
using nlohmann::json;

TEST_CASE("a chaos update changes only the fields it names", "[sandbox][chaos]") {
  chaos_settings settings;
  settings.latency_ms = 5;
  std::vector<std::string> errors;
  REQUIRE(apply_chaos_update({{"fail_ratio", 0.25}, {"webhook_reorder", true}}, settings, errors));
  CHECK(errors.empty());
  CHECK(settings.fail_ratio == 0.25);
  CHECK(settings.webhook_reorder);
  CHECK(settings.latency_ms == 5);
  CHECK(to_json(settings)["fail_ratio"] == 0.25);
}

TEST_CASE("an invalid chaos update changes nothing and names every bad field", "[sandbox][chaos]") {
  chaos_settings settings;
  std::vector<std::string> errors;
  const json update = {{"latency_ms", 10},
                       {"fail_ratio", 1.5},
                       {"webhook_delay_ms", limits::webhook_delay_ms_max + 1},
                       {"webhook_reorder", "yes"},
                       {"colour", "red"}};
  CHECK_FALSE(apply_chaos_update(update, settings, errors));
  CHECK(errors.size() == 4);
  CHECK(settings.latency_ms == 0);  // the valid field did not apply either
  CHECK_FALSE(apply_chaos_update(json::array(), settings, errors));
}

TEST_CASE("request fate follows the ratios and adds latency", "[sandbox][chaos]") {
  chaos_settings settings;
  settings.latency_ms = 100;
  settings.timeout_hold_ms = 2'000;
  auto calm = decide_request(settings, 0.0, 0.0);
  CHECK_FALSE(calm.is_failed);
  CHECK_FALSE(calm.is_held);
  CHECK(calm.delay == std::chrono::milliseconds(100));

  settings.fail_ratio = 1.0;
  CHECK(decide_request(settings, 0.999, 0.0).is_failed);
  settings.fail_ratio = 0.3;
  CHECK(decide_request(settings, 0.29, 0.5).is_failed);
  CHECK_FALSE(decide_request(settings, 0.31, 0.5).is_failed);

  settings.fail_ratio = 0.0;
  settings.timeout_ratio = 0.5;
  auto held = decide_request(settings, 0.0, 0.49);
  CHECK(held.is_held);
  CHECK(held.delay == std::chrono::milliseconds(2'100));
  CHECK_FALSE(decide_request(settings, 0.0, 0.5).is_held);
}

TEST_CASE("one-shot faults fire exactly as often as asked, before the ratios", "[sandbox][chaos]") {
  chaos_settings settings;
  std::vector<std::string> errors;
  REQUIRE(apply_chaos_update({{"fail_next", 2}, {"fail_after_effect_next", 1}, {"timeout_next", 1}},
                             settings, errors));
  settings.timeout_hold_ms = 700;
  CHECK(decide_request(settings, 0.5, 0.5).is_failed);
  CHECK(decide_request(settings, 0.5, 0.5).is_failed);
  auto after_effect = decide_request(settings, 0.5, 0.5);
  CHECK_FALSE(after_effect.is_failed);
  CHECK(after_effect.is_failed_after_effect);
  CHECK_FALSE(after_effect.is_held);
  auto held = decide_request(settings, 0.5, 0.5);
  CHECK(held.is_held);
  CHECK_FALSE(held.is_failed);
  CHECK(held.delay == std::chrono::milliseconds(700));
  // Counters spent: the ratios decide again.
  settings.timeout_ratio = 1.0;
  auto next = decide_request(settings, 0.5, 0.5);
  CHECK_FALSE(next.is_failed);
  CHECK_FALSE(next.is_failed_after_effect);
  CHECK(next.is_held);
  settings.timeout_ratio = 0.0;
  CHECK_FALSE(decide_request(settings, 0.5, 0.5).is_held);
  CHECK(to_json(settings)["fail_next"] == 0);
  CHECK_FALSE(apply_chaos_update({{"fail_next", -1}}, settings, errors));
  CHECK_FALSE(apply_chaos_update({{"fail_after_effect_next", 1.5}}, settings, errors));
  CHECK_FALSE(apply_chaos_update({{"fail_next", 1'001}}, settings, errors));
}

TEST_CASE("delivery fate: dropped events are never duplicated", "[sandbox][chaos]") {
  chaos_settings settings;
  settings.webhook_drop_ratio = 0.5;
  settings.webhook_duplicate_ratio = 1.0;
  settings.webhook_delay_ms = 30;
  auto dropped = decide_delivery(settings, 0.1, 0.0);
  CHECK(dropped.is_dropped);
  CHECK_FALSE(dropped.is_duplicated);
  auto duplicated = decide_delivery(settings, 0.6, 0.0);
  CHECK_FALSE(duplicated.is_dropped);
  CHECK(duplicated.is_duplicated);
  CHECK(duplicated.delay == std::chrono::milliseconds(30));
}
