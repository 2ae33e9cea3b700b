#pragma once
// Payments rules, pure (STYLE 2.2): package limits, raw-card-number detection,
// the purchase state machine, and the records the purchase actor exchanges
// with its workers (actors/purchases.hpp). No I/O, no clock reads.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <nlohmann/json_fwd.hpp>

#include "domain/payment_records.hpp"

namespace tally {

// Packages (API.md "Packages and purchases"); the schema repeats these bounds.
inline constexpr std::size_t package_name_code_points_max = 100;
inline constexpr int64_t package_credits_max = 1'000'000'000;
inline constexpr int64_t package_price_amount_max = 100'000'000'000;  // minor units
// Request fields of POST /v1/purchases.
inline constexpr std::size_t card_token_bytes_max = 255;
inline constexpr std::size_t return_uri_bytes_max = 2048;
// Strings longer than this in a purchase body are refused before the card scan.
inline constexpr std::size_t purchase_body_bytes_max = 16 * 1024;

// True for a three-letter upper-case ISO 4217 shape ("THB").
bool is_currency_code(std::string_view text);

// True for a package id: 1..64 of [a-z0-9_-] (the schema's CHECK).
bool is_package_id(std::string_view text);

// True when `text` holds a run of 13..19 digits, optionally separated by
// single spaces or dashes, that passes the Luhn check: something that looks
// like a primary account number. Clients must tokenize (DESIGN "Raw card
// numbers are never accepted").
bool contains_card_number(std::string_view text);

// True when any string (value or key) anywhere in `body` contains a card
// number. Iterative: the depth is already bounded by parse_json_object.
bool json_contains_card_number(const nlohmann::json& body);

// The states of a purchase (API.md). Only `pending` moves.
enum class purchase_status : uint8_t { pending, completed, failed, expired, refunded };

const char* to_string(purchase_status status);
std::optional<purchase_status> parse_purchase_status(std::string_view text);

// What the gateway says about the charge bound to a purchase (retrieved, never
// taken from a webhook body).
struct charge_facts {
  std::string charge_status;  // pending, successful, failed, expired, reversed
  bool paid = false;
  int64_t amount = 0;
  std::string currency;
  std::string purchase_id;  // the charge's metadata.purchase_id
};

// What the purchase records.
struct purchase_facts {
  std::string purchase_id;
  purchase_status status = purchase_status::pending;
  int64_t amount = 0;
  std::string currency;
};

enum class settle_action : uint8_t {
  none,                // nothing to change (still pending, or already final)
  grant_and_complete,  // grant the package's credits once, then mark completed
  fail,
  expire,
  mismatch,  // the charge is not this purchase's: a security event, change nothing
};

// The one rule for moving a purchase (research gateways.md §4):
// - a charge whose metadata purchase id, amount or currency differ is a mismatch;
// - a successful, paid charge completes any purchase not yet completed (money
//   taken is always credited, once);
// - failed/reversed and expired charges end only a pending purchase;
// - a completed purchase is never downgraded.
settle_action decide_settle(const purchase_facts& purchase, const charge_facts& charge);

// The `next_action` object for a fresh charge: {"type":"redirect","url"} when
// the gateway wants the buyer redirected, {"type":"qr","image_url","expires_at"}
// for a PromptPay QR, else null. Returned as JSON text.
std::string next_action_json(std::string_view authorize_uri, std::string_view qr_image_url,
                             std::string_view expires_at);

// A purchase as the API shows it (API.md "Packages and purchases"): ids,
// status, money, `next_action` parsed, RFC 3339 times, null for absent values.
nlohmann::json purchase_api_json(const purchase_view& view);

// ---- Records exchanged between the purchase actor and its workers ----

struct package_record {
  std::string id;
  std::string name;
  int64_t credits = 0;
  int64_t amount = 0;
  std::string currency;
  bool active = true;
};

// An admin create (id empty: generated) or patch (only the `has_*` fields change).
struct package_change {
  std::string id;
  bool is_create = false;
  bool has_name = false;
  std::string name;
  bool has_credits = false;
  int64_t credits = 0;
  bool has_price = false;
  int64_t amount = 0;
  std::string currency;
  bool has_active = false;
  bool active = true;
  std::string request_id;  // audit
};

// A charge as a gateway worker saw it (a copy of gateways::charge that CAF can carry).
struct charge_snapshot {
  std::string id;
  std::string status;
  bool paid = false;
  int64_t amount = 0;
  std::string currency;
  std::string purchase_id;
  std::string failure_code;
  std::string failure_message;
  std::string authorize_uri;
  std::string qr_image_url;
  std::string expires_at;
};

// The DB worker's answer to "begin this purchase".
struct purchase_begun {
  purchase_view view;      // as stored (or as first answered, when replayed)
  bool resumed = false;    // a dead first attempt: reconcile with the gateway first
  bool replayed = false;   // answered from the key record
  std::string error_code;  // replay of a refused first answer ("payment_failed"), else ""
};

// What a gateway call ended with, for the DB worker to record.
struct purchase_outcome {
  std::string user_id;
  std::string purchase_id;
  std::string idempotency_key;
  bool has_charge = false;
  charge_snapshot charge;
  // A refusal without a charge (the gateway rejected the token): recorded failed.
  std::string failure_code;
  std::string failure_message;
  std::string request_id;
};

// GET /v1/purchases.
struct purchase_query {
  std::string user_id;
  int limit = 20;
  std::string status;                // empty: all
  int64_t before_created_at_us = 0;  // 0: from the newest
  std::string before_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, package_record& x) {
  return f(caf::meta::type_name("package_record"), x.id, x.name, x.credits, x.amount, x.currency,
           x.active);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, package_change& x) {
  return f(caf::meta::type_name("package_change"), x.id, x.is_create, x.has_name, x.name,
           x.has_credits, x.credits, x.has_price, x.amount, x.currency, x.has_active, x.active,
           x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, charge_snapshot& x) {
  return f(caf::meta::type_name("charge_snapshot"), x.id, x.status, x.paid, x.amount, x.currency,
           x.purchase_id, x.failure_code, x.failure_message, x.authorize_uri, x.qr_image_url,
           x.expires_at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_begun& x) {
  return f(caf::meta::type_name("purchase_begun"), x.view, x.resumed, x.replayed, x.error_code);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_outcome& x) {
  return f(caf::meta::type_name("purchase_outcome"), x.user_id, x.purchase_id, x.idempotency_key,
           x.has_charge, x.charge, x.failure_code, x.failure_message, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_query& x) {
  return f(caf::meta::type_name("purchase_query"), x.user_id, x.limit, x.status,
           x.before_created_at_us, x.before_id);
}

}  // namespace tally
