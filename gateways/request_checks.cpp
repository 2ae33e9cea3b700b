#include "gateways/request_checks.hpp"

#include <string_view>

#include "gateways/wire_encoding.hpp"

namespace tally::gateways {
namespace {

caf::error refuse(errc code, const char* message) {
  return make_failure(code, failure_detail{0, "invalid_request", message, false});
}

bool has_control_characters(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      return true;
    }
  }
  return false;
}

bool is_currency_code(std::string_view currency) {
  if (currency.size() != 3) {
    return false;
  }
  for (const char c : currency) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
      return false;
    }
  }
  return true;
}

bool is_http_uri(std::string_view uri) {
  return uri.rfind("https://", 0) == 0 || uri.rfind("http://", 0) == 0;
}

}  // namespace

caf::error check_charge_request(const charge_request& req) {
  // Card data first: whatever else is wrong, a card number is never echoed
  // into a message or sent on.
  if (looks_like_card_number(req.card_token) || looks_like_card_number(req.description)) {
    return refuse(errc::raw_card_data_rejected, "card data where a token belongs");
  }
  if (!is_object_id(req.purchase_id)) {
    return refuse(errc::invalid_argument, "purchase_id is not an id");
  }
  if (req.amount <= 0 || req.amount > charge_amount_max) {
    return refuse(errc::invalid_argument, "amount is out of range");
  }
  if (!is_currency_code(req.currency)) {
    return refuse(errc::invalid_argument, "currency is not an ISO 4217 code");
  }
  if (req.method == payment_method::card && !is_object_id(req.card_token)) {
    return refuse(errc::invalid_argument, "card_token is not a token id");
  }
  if (!req.return_uri.empty() &&
      (req.return_uri.size() > return_uri_bytes_max || !is_http_uri(req.return_uri) ||
       has_control_characters(req.return_uri))) {
    return refuse(errc::invalid_argument, "return_uri is not an http(s) URI");
  }
  if (req.description.size() > description_bytes_max || has_control_characters(req.description)) {
    return refuse(errc::invalid_argument, "description is too long or has control characters");
  }
  if (req.idempotency_key.size() > idempotency_key_bytes_max ||
      has_control_characters(req.idempotency_key)) {
    return refuse(errc::invalid_argument, "idempotency_key is too long or has control characters");
  }
  return caf::none;
}

}  // namespace tally::gateways
