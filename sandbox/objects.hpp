#pragma once
// The sandbox's records and their Omise wire shapes (research gateways.md
// §1.3-§1.8; fixtures in shared/fixtures/omise/): `object`, `id` with a
// `_test_` prefix, `location`, `livemode:false`, `created_at`, upper-case
// currency. Pure: rendering takes the public base URL (for QR downloads) as
// an argument.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/cards.hpp"

namespace tally::sandbox {

// An Omise error answer: HTTP status plus the error object's code/message.
struct omise_error {
  int status = 400;
  std::string code;
  std::string message;
};

omise_error authentication_failure();
omise_error not_found(std::string_view what, std::string_view id);
omise_error bad_request(std::string message);
omise_error invalid_card(std::string message);
omise_error invalid_charge(std::string message);
omise_error used_token();
omise_error failed_refund(std::string message);
omise_error internal_error();

// {"object":"error","location":"https://docs.omise.co/api/errors#<code>",...}
nlohmann::json to_json(const omise_error& error);

// What a token remembers of its card: never the number.
struct card_record {
  std::string id;  // card_test_...
  std::string brand;
  std::string last_digits;
  std::string name;
  std::string city;
  std::string postal_code;
  int expiration_month = 0;
  int expiration_year = 0;
  std::string fingerprint;  // opaque, derived from the id
  card_outcome outcome;
  int64_t created_at_s = 0;
};

struct token_record {
  std::string id;  // tokn_test_...
  card_record card;
  bool is_used = false;
  int64_t created_at_s = 0;
};

struct source_record {
  std::string id;  // src_test_...
  std::string type = "promptpay";
  int64_t amount = 0;
  std::string currency;  // upper case
  int64_t created_at_s = 0;
  bool is_used = false;  // a source pays one charge
};

struct refund_record {
  std::string id;  // rfnd_test_...
  std::string charge_id;
  std::string transaction;
  int64_t amount = 0;
  std::string currency;
  int64_t created_at_s = 0;
};

enum class charge_status { pending, successful, failed, expired };
const char* to_string(charge_status status);

struct charge_record {
  std::string id;  // chrg_test_...
  int64_t amount = 0;
  std::string currency;  // upper case
  std::string description;
  nlohmann::json metadata = nlohmann::json::object();
  std::string return_uri;
  std::string ip;
  charge_status status = charge_status::pending;
  std::optional<card_record> card;
  std::optional<source_record> source;
  std::string document_id;     // docu_test_... (PromptPay QR)
  std::string download_token;  // the last path segment of the QR's download_uri
  std::string transaction;     // trxn_test_..., once paid
  std::string failure_code;
  std::string failure_message;
  int64_t created_at_s = 0;
  int64_t paid_at_s = 0;     // 0: not paid
  int64_t expires_at_s = 0;  // 0: never
  int64_t expired_at_s = 0;  // 0: not expired
  std::vector<refund_record> refunds;
  int64_t refunded_amount = 0;
  bool is_final() const { return status != charge_status::pending; }
};

struct event_record {
  std::string id;   // evnt_test_...
  std::string key;  // "charge.create", "charge.complete", "refund.create"
  int64_t created_at_s = 0;
  nlohmann::json data;  // the object as it was when the event happened
};

nlohmann::json to_json(const card_record& card);
nlohmann::json to_json(const token_record& token);
nlohmann::json to_json(const source_record& source, const charge_record* charge,
                       std::string_view base_url);
nlohmann::json to_json(const refund_record& refund);
nlohmann::json to_json(const charge_record& charge, std::string_view base_url);
nlohmann::json to_json(const event_record& event);

// The path of a PromptPay charge's QR image (also its download_uri under the
// base URL): /charges/<id>/documents/<docu>/downloads/<token>.
std::string qr_download_path(const charge_record& charge);

// The placeholder QR image served at that path (an SVG that is not a real
// PromptPay payload: nothing can pay it but POST /sandbox/charges/:id/pay).
std::string qr_placeholder_svg(std::string_view charge_id);

}  // namespace tally::sandbox
