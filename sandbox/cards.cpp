#include "sandbox/cards.hpp"

#include <array>
#include <utility>

#include "domain/assert.hpp"

namespace tally::sandbox {

namespace {

struct failing_card {
  std::string_view number;
  std::string_view failure_code;
};

// docs.omise.co/api-testing, as quoted in research gateways.md §1.9.
constexpr std::array<failing_card, 14> failing_cards{{
    {"4111111111140011", "insufficient_fund"},
    {"5555551111110011", "insufficient_fund"},
    {"3530111111190011", "insufficient_fund"},
    {"6250947000000014", "insufficient_fund"},
    {"4111111111130012", "stolen_or_lost_card"},
    {"5555551111100012", "stolen_or_lost_card"},
    {"3530111111180012", "stolen_or_lost_card"},
    {"6250947000000022", "stolen_or_lost_card"},
    {"4111111111120013", "failed_processing"},
    {"5555551111190013", "failed_processing"},
    {"3530111111170013", "failed_processing"},
    {"4111111111110014", "payment_rejected"},
    {"5555551111180014", "payment_rejected"},
    {"3530111111160014", "payment_rejected"},
}};

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The first `count` digits as a number (0 when there are fewer).
int prefix_value(std::string_view digits, std::size_t count) {
  if (digits.size() < count) {
    return 0;
  }
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    value = value * 10 + (digits[i] - '0');
  }
  return value;
}

}  // namespace

std::optional<std::string> normalize_card_number(std::string_view number) {
  std::string digits;
  for (char c : number) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != ' ' && c != '-') {
      return std::nullopt;
    }
    if (digits.size() > 19) {
      return std::nullopt;
    }
  }
  if (digits.size() < 12) {
    return std::nullopt;
  }
  return digits;
}

bool passes_luhn(std::string_view digits) {
  TALLY_ASSERT(!digits.empty());
  int sum = 0;
  bool double_it = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    TALLY_ASSERT(*it >= '0' && *it <= '9');
    int value = *it - '0';
    if (double_it) {
      value *= 2;
      if (value > 9) {
        value -= 9;
      }
    }
    sum += value;
    double_it = !double_it;
  }
  return sum % 10 == 0;
}

std::string card_brand(std::string_view digits) {
  if (starts_with(digits, "4")) {
    return "Visa";
  }
  const int two = prefix_value(digits, 2);
  const int four = prefix_value(digits, 4);
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) {
    return "MasterCard";
  }
  if (two == 34 || two == 37) {
    return "American Express";
  }
  if (two == 35) {
    return "JCB";
  }
  if (two == 62) {
    return "UnionPay";
  }
  return "";
}

std::string failure_message_for(std::string_view failure_code) {
  if (failure_code == "insufficient_fund") {
    return "insufficient funds in the account or the card has reached the credit limit";
  }
  if (failure_code == "stolen_or_lost_card") {
    return "card was reported stolen or lost";
  }
  if (failure_code == "failed_processing") {
    return "the payment could not be processed";
  }
  if (failure_code == "payment_rejected") {
    return "the payment was rejected by the issuer";
  }
  if (failure_code == "failed_fraud_check") {
    return "failed fraud check";
  }
  if (failure_code == "payment_expired") {
    return "payment expired";
  }
  return "";
}

card_outcome outcome_for_card(std::string_view digits) {
  for (const auto& card : failing_cards) {
    if (card.number == digits) {
      return {std::string(card.failure_code), failure_message_for(card.failure_code)};
    }
  }
  return {};
}

}  // namespace tally::sandbox
