#pragma once
// Omise's test cards (research gateways.md §1.9) as pure rules: which number
// is well-formed, which brand it is, and what charging it does. The sandbox
// never keeps or logs a full number: a token keeps the brand, the last four
// digits and the outcome decided here.

#include <optional>
#include <string>
#include <string_view>

namespace tally::sandbox {

// What charging a card does. `failure_code` empty means the charge succeeds.
struct card_outcome {
  std::string failure_code;     // Omise's code, e.g. "insufficient_fund"
  std::string failure_message;  // Omise's message for that code
  bool is_success() const { return failure_code.empty(); }
};

// The digits of `number` with spaces and dashes removed, or nullopt when
// anything else appears or there are not 12..19 digits.
std::optional<std::string> normalize_card_number(std::string_view number);

// True when `digits` (digits only) passes the Luhn check.
// REQUIRES: digits is non-empty and holds only '0'..'9'.
bool passes_luhn(std::string_view digits);

// Omise's brand name for a number ("Visa", "MasterCard", "JCB",
// "American Express", "UnionPay"), or "" when the prefix is none of these.
std::string card_brand(std::string_view digits);

// The outcome of charging `digits`: the failure listed for Omise's test
// cards, success for every other number (Omise's test mode charges any
// well-formed card of a supported brand).
card_outcome outcome_for_card(std::string_view digits);

// Omise's failure message for a failure code ("" for an unknown code).
std::string failure_message_for(std::string_view failure_code);

}  // namespace tally::sandbox
