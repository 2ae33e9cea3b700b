// tests/domain/payments_test.cpp: covers domain/payments.cpp: raw-card-number
// detection, the purchase state machine (decide_settle), next_action, the API
// rendering of a purchase, and the small validators.
#include "domain/payments.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

using tally::charge_facts;
using tally::contains_card_number;
using tally::decide_settle;
using tally::purchase_facts;
using tally::purchase_status;
using tally::settle_action;

purchase_facts pending_purchase() {
  return purchase_facts{"0b5c7d3e-6f1a-4c2b-9d8e-1a2b3c4d5e6f", purchase_status::pending, 9900,
                        "THB"};
}

charge_facts charge_of(const purchase_facts& p, std::string status, bool paid) {
  return charge_facts{std::move(status), paid, p.amount, p.currency, p.purchase_id};
}

}  // namespace

TEST_CASE("card numbers are found plain, grouped by spaces and by dashes", "[domain][payments]") {
  CHECK(contains_card_number("4242424242424242"));
  CHECK(contains_card_number("4242 4242 4242 4242"));
  CHECK(contains_card_number("4111-1111-1111-1111"));
  CHECK(contains_card_number("card: 5555555555554444, exp 12/30"));
  CHECK(contains_card_number("378282246310005"));  // Amex, 15 digits
  CHECK(contains_card_number("tok 3530 1111 1119 0011"));
}

TEST_CASE("digit runs that fail Luhn or have the wrong length are not card numbers",
          "[domain][payments]") {
  CHECK_FALSE(contains_card_number("4242424242424241"));      // Luhn fails
  CHECK_FALSE(contains_card_number("424242424242"));          // 12 digits
  CHECK_FALSE(contains_card_number("42424242424242424242"));  // 20 digits
  CHECK_FALSE(contains_card_number("tokn_test_5x1753iuub61dfe41q4"));
  CHECK_FALSE(contains_card_number("0b5c7d3e-6f1a-4c2b-9d8e-1a2b3c4d5e6f"));
  CHECK_FALSE(contains_card_number(""));
  // Two separators in a row end the run: these are two short numbers.
  CHECK_FALSE(contains_card_number("42424242  42424242"));
}

TEST_CASE("a card number anywhere in a JSON body is found", "[domain][payments]") {
  using nlohmann::json;
  CHECK(tally::json_contains_card_number(json{{"card_token", "4242424242424242"}}));
  CHECK(tally::json_contains_card_number(json{{"meta", {{"deep", {"x", "4242 4242 4242 4242"}}}}}));
  CHECK(tally::json_contains_card_number(json{{"number", 4242424242424242ULL}}));
  CHECK(tally::json_contains_card_number(json{{"4242424242424242", true}}));  // as a key
  CHECK_FALSE(tally::json_contains_card_number(
      json{{"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", "tokn_test_abc"}}));
  CHECK_FALSE(tally::json_contains_card_number(json{{"amount", 9900}}));
}

TEST_CASE("a paid successful charge completes a pending purchase", "[domain][payments]") {
  const auto p = pending_purchase();
  CHECK(decide_settle(p, charge_of(p, "successful", true)) == settle_action::grant_and_complete);
}

TEST_CASE("a successful charge that is not paid (authorized only) changes nothing",
          "[domain][payments]") {
  const auto p = pending_purchase();
  CHECK(decide_settle(p, charge_of(p, "successful", false)) == settle_action::none);
  CHECK(decide_settle(p, charge_of(p, "pending", false)) == settle_action::none);
}

TEST_CASE("failed, reversed and expired charges end a pending purchase", "[domain][payments]") {
  const auto p = pending_purchase();
  CHECK(decide_settle(p, charge_of(p, "failed", false)) == settle_action::fail);
  CHECK(decide_settle(p, charge_of(p, "reversed", false)) == settle_action::fail);
  CHECK(decide_settle(p, charge_of(p, "expired", false)) == settle_action::expire);
}

TEST_CASE("a completed purchase is never downgraded", "[domain][payments]") {
  auto p = pending_purchase();
  p.status = purchase_status::completed;
  for (const char* status : {"failed", "expired", "reversed", "pending"}) {
    CHECK(decide_settle(p, charge_of(p, status, false)) == settle_action::none);
  }
  // Nor granted twice.
  CHECK(decide_settle(p, charge_of(p, "successful", true)) == settle_action::none);
}

TEST_CASE("money taken for a purchase given up on is still credited", "[domain][payments]") {
  for (auto status : {purchase_status::failed, purchase_status::expired}) {
    auto p = pending_purchase();
    p.status = status;
    CHECK(decide_settle(p, charge_of(p, "successful", true)) == settle_action::grant_and_complete);
    CHECK(decide_settle(p, charge_of(p, "failed", false)) == settle_action::none);
  }
}

TEST_CASE("a charge for another purchase, amount or currency is a mismatch", "[domain][payments]") {
  const auto p = pending_purchase();
  auto other_purchase = charge_of(p, "successful", true);
  other_purchase.purchase_id = "ffffffff-6f1a-4c2b-9d8e-1a2b3c4d5e6f";
  CHECK(decide_settle(p, other_purchase) == settle_action::mismatch);
  auto no_metadata = charge_of(p, "successful", true);
  no_metadata.purchase_id.clear();
  CHECK(decide_settle(p, no_metadata) == settle_action::mismatch);
  auto cheaper = charge_of(p, "successful", true);
  cheaper.amount = p.amount - 1;
  CHECK(decide_settle(p, cheaper) == settle_action::mismatch);
  auto dollars = charge_of(p, "successful", true);
  dollars.currency = "USD";
  CHECK(decide_settle(p, dollars) == settle_action::mismatch);
  // Gateways differ in case ("thb" in old API versions): not a mismatch.
  auto lower = charge_of(p, "successful", true);
  lower.currency = "thb";
  CHECK(decide_settle(p, lower) == settle_action::grant_and_complete);
}

TEST_CASE("next_action is a QR, a redirect or null", "[domain][payments]") {
  auto qr = nlohmann::json::parse(
      tally::next_action_json("", "https://sandbox/qr.png", "2026-11-28T00:00:00Z"));
  CHECK(qr == nlohmann::json{{"type", "qr"},
                             {"image_url", "https://sandbox/qr.png"},
                             {"expires_at", "2026-11-28T00:00:00Z"}});
  auto redirect = nlohmann::json::parse(tally::next_action_json("https://pay/3ds", "", ""));
  CHECK(redirect == nlohmann::json{{"type", "redirect"}, {"url", "https://pay/3ds"}});
  CHECK(tally::next_action_json("", "", "") == "null");
}

TEST_CASE("a purchase renders with nulls for absent values", "[domain][payments]") {
  tally::purchase_view v;
  v.id = "p1";
  v.status = "pending";
  v.package_id = "pkg_starter";
  v.credits = 100;
  v.amount = 9900;
  v.currency = "THB";
  v.gateway = "sandbox";
  v.method = "card";
  v.next_action_json = "null";
  v.created_at_ms = 1'764'201'600'000;
  auto j = tally::purchase_api_json(v);
  CHECK(j["charge_id"].is_null());
  CHECK(j["completed_at"].is_null());
  CHECK(j["failure_code"].is_null());
  CHECK(j["next_action"].is_null());
  CHECK(j["created_at"] == "2025-11-27T00:00:00.000Z");
  v.charge_id = "chrg_test_1";
  v.completed_at_ms = v.created_at_ms + 1'000;
  j = tally::purchase_api_json(v);
  CHECK(j["charge_id"] == "chrg_test_1");
  CHECK(j["completed_at"] == "2025-11-27T00:00:01.000Z");
}

TEST_CASE("purchase statuses round-trip and unknown ones are refused", "[domain][payments]") {
  for (auto s : {purchase_status::pending, purchase_status::completed, purchase_status::failed,
                 purchase_status::expired, purchase_status::refunded}) {
    CHECK(tally::parse_purchase_status(tally::to_string(s)) == s);
  }
  CHECK_FALSE(tally::parse_purchase_status("paid"));
  CHECK_FALSE(tally::parse_purchase_status(""));
}

TEST_CASE("currency codes and package ids have one shape", "[domain][payments]") {
  CHECK(tally::is_currency_code("THB"));
  CHECK_FALSE(tally::is_currency_code("thb"));
  CHECK_FALSE(tally::is_currency_code("THBX"));
  CHECK(tally::is_package_id("pkg_starter"));
  CHECK(tally::is_package_id("a-1"));
  CHECK_FALSE(tally::is_package_id(""));
  CHECK_FALSE(tally::is_package_id("Pkg"));
  CHECK_FALSE(tally::is_package_id(std::string(65, 'a')));
}
