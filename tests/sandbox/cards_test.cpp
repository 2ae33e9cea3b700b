// tests/sandbox/cards_test.cpp: covers sandbox/cards.cpp. Omise's test cards
// (research gateways.md §1.9) decide outcomes; malformed numbers never pass.
#include "sandbox/cards.hpp"

#include <catch2/catch.hpp>

using namespace tally::sandbox;

TEST_CASE("normalize_card_number keeps digits and drops spaces and dashes", "[sandbox][cards]") {
  CHECK(normalize_card_number("4242 4242-4242 4242") ==
        std::optional<std::string>("4242424242424242"));
  CHECK_FALSE(normalize_card_number("4242x42424242424"));
  CHECK_FALSE(normalize_card_number("42424242424"));           // 11 digits
  CHECK_FALSE(normalize_card_number("42424242424242424242"));  // 20 digits
  CHECK_FALSE(normalize_card_number(""));
}

TEST_CASE("Luhn accepts Omise's test cards and rejects a changed digit", "[sandbox][cards]") {
  for (const char* number :
       {"4242424242424242", "4111111111111111", "5555555555554444", "3530111333300000",
        "378282246310005", "6250947000000006", "4111111111140011", "4111111111130012",
        "4111111111120013", "4111111111110014"}) {
    INFO(number);
    CHECK(passes_luhn(number));
  }
  CHECK_FALSE(passes_luhn("4242424242424241"));
  CHECK_FALSE(passes_luhn("4111111111140012"));
}

TEST_CASE("brands follow the card prefix", "[sandbox][cards]") {
  CHECK(card_brand("4242424242424242") == "Visa");
  CHECK(card_brand("5555555555554444") == "MasterCard");
  CHECK(card_brand("2221000000000009") == "MasterCard");
  CHECK(card_brand("3530111333300000") == "JCB");
  CHECK(card_brand("378282246310005") == "American Express");
  CHECK(card_brand("6250947000000006") == "UnionPay");
  CHECK(card_brand("9999999999999995").empty());
}

TEST_CASE("each failing test card gives its Omise failure code", "[sandbox][cards]") {
  const std::pair<const char*, const char*> table[] = {
      {"4111111111140011", "insufficient_fund"},   {"5555551111110011", "insufficient_fund"},
      {"3530111111190011", "insufficient_fund"},   {"6250947000000014", "insufficient_fund"},
      {"4111111111130012", "stolen_or_lost_card"}, {"5555551111100012", "stolen_or_lost_card"},
      {"3530111111180012", "stolen_or_lost_card"}, {"6250947000000022", "stolen_or_lost_card"},
      {"4111111111120013", "failed_processing"},   {"5555551111190013", "failed_processing"},
      {"3530111111170013", "failed_processing"},   {"4111111111110014", "payment_rejected"},
      {"5555551111180014", "payment_rejected"},    {"3530111111160014", "payment_rejected"},
  };
  for (const auto& [number, code] : table) {
    INFO(number);
    const auto outcome = outcome_for_card(number);
    CHECK_FALSE(outcome.is_success());
    CHECK(outcome.failure_code == code);
    CHECK_FALSE(outcome.failure_message.empty());
  }
}

TEST_CASE("success cards and any other valid number succeed", "[sandbox][cards]") {
  for (const char* number : {"4242424242424242", "4111111111111111", "5555555555554444",
                             "5454545454545454", "3566111111111113", "378282246310005"}) {
    INFO(number);
    CHECK(outcome_for_card(number).is_success());
  }
}
