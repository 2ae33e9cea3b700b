// tests/domain/webhooks_test.cpp: covers domain/webhooks.cpp — the inbox state
// machine, envelope reading (what a receiver stores), and the decision each
// verification outcome leads to (retry schedule, parking, security events).
#include "domain/webhooks.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "domain/backoff.hpp"

using namespace tally::webhooks;
using namespace std::chrono_literals;

TEST_CASE("inbox statuses round-trip through their names", "[domain][webhooks]") {
  for (auto status : {inbox_status::received, inbox_status::processing, inbox_status::verified,
                      inbox_status::rejected, inbox_status::parked, inbox_status::ignored}) {
    auto parsed = parse_inbox_status(to_string(status));
    REQUIRE(parsed);
    CHECK(*parsed == status);
  }
  CHECK_FALSE(parse_inbox_status("Received"));
  CHECK_FALSE(parse_inbox_status(""));
  CHECK_FALSE(parse_inbox_status("done"));
}

TEST_CASE("the inbox state machine: final states stay final", "[domain][webhooks]") {
  for (auto final_status :
       {inbox_status::verified, inbox_status::rejected, inbox_status::ignored}) {
    CHECK(is_final(final_status));
    for (auto to : {inbox_status::received, inbox_status::processing, inbox_status::parked}) {
      CHECK_FALSE(can_transition(final_status, to));
    }
  }
  CHECK_FALSE(is_final(inbox_status::parked));
  CHECK(can_transition(inbox_status::received, inbox_status::processing));
  CHECK_FALSE(can_transition(inbox_status::received, inbox_status::verified));
  CHECK(can_transition(inbox_status::processing, inbox_status::processing));  // lease expired
  CHECK(can_transition(inbox_status::processing, inbox_status::received));    // retry
  CHECK(can_transition(inbox_status::parked, inbox_status::received));        // admin retry
  CHECK_FALSE(can_transition(inbox_status::parked, inbox_status::verified));
  CHECK(admin_retryable(inbox_status::parked));
  CHECK_FALSE(admin_retryable(inbox_status::rejected));
  CHECK_FALSE(admin_retryable(inbox_status::verified));
  CHECK_FALSE(admin_retryable(inbox_status::processing));
}

TEST_CASE("ids that reach gateway URL paths are restricted", "[domain][webhooks]") {
  CHECK(is_safe_id("evnt_test_5xy0z1a2b3c4"));
  CHECK(is_safe_id("evt_1NQ.x-y"));
  CHECK(is_safe_id(std::string(id_bytes_max, 'a')));
  CHECK_FALSE(is_safe_id(std::string(id_bytes_max + 1, 'a')));
  CHECK_FALSE(is_safe_id(""));
  CHECK_FALSE(is_safe_id(".."));
  CHECK_FALSE(is_safe_id("."));
  CHECK_FALSE(is_safe_id("evnt/../charges"));
  CHECK_FALSE(is_safe_id("evnt?x=1"));
  CHECK_FALSE(is_safe_id("evnt%2F"));
  CHECK_FALSE(is_safe_id("evnt 1"));
}

TEST_CASE("an Omise event's envelope", "[domain][webhooks]") {
  const auto body =
      nlohmann::json::parse(R"({"object":"event","id":"evnt_test_1","key":"charge.complete",
      "data":{"object":"charge","id":"chrg_test_9","amount":10000,"metadata":{"purchase_id":"p"}}})");
  for (const char* gateway : {"omise", "sandbox"}) {
    auto env = read_envelope(gateway, body);
    REQUIRE(env);
    CHECK(env->event_id == "evnt_test_1");
    CHECK(env->event_key == "charge.complete");
    CHECK(env->object_id == "chrg_test_9");
  }
}

TEST_CASE("a Stripe event's envelope", "[domain][webhooks]") {
  const auto body =
      nlohmann::json::parse(R"({"object":"event","id":"evt_1","type":"payment_intent.succeeded",
      "data":{"object":{"object":"payment_intent","id":"pi_3"}}})");
  auto env = read_envelope("stripe", body);
  REQUIRE(env);
  CHECK(env->event_id == "evt_1");
  CHECK(env->event_key == "payment_intent.succeeded");
  CHECK(env->object_id == "pi_3");
}

TEST_CASE("bodies that are not events have no envelope", "[domain][webhooks]") {
  const auto refused = [](const char* text) {
    auto env = read_envelope("omise", nlohmann::json::parse(text));
    return !env && env.error() == caf::make_error(tally::errc::invalid_argument);
  };
  CHECK(refused(R"([1,2])"));
  CHECK(refused(R"({"object":"charge","id":"chrg_1"})"));
  CHECK(refused(R"({"object":"event"})"));
  CHECK(refused(R"({"object":"event","id":42})"));
  CHECK(refused(R"({"object":"event","id":"../charges/chrg_1"})"));
  // An unsafe object id is dropped, not stored.
  auto env = read_envelope(
      "omise", nlohmann::json::parse(R"({"object":"event","id":"evnt_1","data":{"id":"a/b"}})"));
  REQUIRE(env);
  CHECK(env->object_id.empty());
  CHECK(env->event_key.empty());
}

TEST_CASE("which data objects a verifier settles", "[domain][webhooks]") {
  CHECK(is_settleable_object("omise", "charge"));
  CHECK(is_settleable_object("sandbox", "charge"));
  CHECK_FALSE(is_settleable_object("omise", "refund"));
  CHECK(is_settleable_object("stripe", "payment_intent"));
  CHECK_FALSE(is_settleable_object("stripe", "charge"));
}

TEST_CASE("gateway and settle errors map to attempt results", "[domain][webhooks]") {
  using tally::errc;
  CHECK(from_gateway_error(errc::not_found) == attempt_result::forged);
  CHECK(from_gateway_error(errc::invalid_argument) == attempt_result::forged);
  CHECK(from_gateway_error(errc::unauthorized) == attempt_result::not_configured);
  CHECK(from_gateway_error(errc::gateway_unavailable) == attempt_result::unavailable);
  CHECK(from_gateway_error(errc::upstream_timeout) == attempt_result::unavailable);
  CHECK(from_settle_error(errc::not_found) == attempt_result::unknown_charge);
  CHECK(from_settle_error(errc::validation_failed) == attempt_result::mismatch);
  CHECK(from_settle_error(errc::storage_unavailable) == attempt_result::unavailable);
  CHECK(from_settle_error(errc::overloaded) == attempt_result::unavailable);
}

TEST_CASE("final outcomes of an attempt", "[domain][webhooks]") {
  const retry_settings s;
  auto settled = decide(attempt_result::settled, 1, 0ms, s, 0.5);
  CHECK(settled.status == inbox_status::verified);
  CHECK_FALSE(settled.security_event);
  CHECK(decide(attempt_result::not_a_charge, 1, 0ms, s, 0.5).status == inbox_status::ignored);
  for (auto bad : {attempt_result::forged, attempt_result::mismatch}) {
    auto d = decide(bad, 1, 0ms, s, 0.5);
    CHECK(d.status == inbox_status::rejected);
    CHECK(d.security_event);
  }
  auto unconfigured = decide(attempt_result::not_configured, 1, 0ms, s, 0.5);
  CHECK(unconfigured.status == inbox_status::parked);
  CHECK_FALSE(unconfigured.security_event);
}

TEST_CASE("an unreachable gateway is retried with backoff, then parked", "[domain][webhooks]") {
  retry_settings s;
  s.attempts_max = 4;
  s.delay_min = 100ms;
  s.delay_max = 1'000ms;
  for (uint32_t attempt = 1; attempt < s.attempts_max; ++attempt) {
    for (double draw : {0.0, 0.5, 0.999}) {
      auto d = decide(attempt_result::unavailable, attempt, 10ms, s, draw);
      CHECK(d.status == inbox_status::received);
      CHECK(d.retry_in == tally::backoff_delay(attempt - 1, s.delay_min, s.delay_max, draw));
      CHECK(d.retry_in >= s.delay_min);
      CHECK(d.retry_in <= s.delay_max);
    }
  }
  // The delay grows (compare the same draw across attempts) until capped.
  CHECK(decide(attempt_result::unavailable, 3, 0ms, s, 0.5).retry_in >
        decide(attempt_result::unavailable, 1, 0ms, s, 0.5).retry_in);
  auto last = decide(attempt_result::unavailable, s.attempts_max, 10ms, s, 0.5);
  CHECK(last.status == inbox_status::parked);
  CHECK(decide(attempt_result::unavailable, s.attempts_max + 3, 10ms, s, 0.5).status ==
        inbox_status::parked);
}

TEST_CASE("an event for an unknown charge is retried within its window, then parked",
          "[domain][webhooks]") {
  retry_settings s;
  s.attempts_max = 2;  // does not bound unknown-charge retries: the window does
  s.unknown_charge_window = 60'000ms;
  auto early = decide(attempt_result::unknown_charge, 5, 59'999ms, s, 0.0);
  CHECK(early.status == inbox_status::received);
  CHECK(early.retry_in >= s.delay_min);
  CHECK(decide(attempt_result::unknown_charge, 5, 60'000ms, s, 0.0).status == inbox_status::parked);
}
