#include "sandbox/objects.hpp"

#include <utility>

#include "domain/time_format.hpp"

namespace tally::sandbox {

namespace {

using nlohmann::json;

json time_or_null(int64_t unix_s) {
  return unix_s > 0 ? json(rfc3339_from_seconds(unix_s)) : json(nullptr);
}

json text_or_null(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

omise_error make_error(int status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

// Omise's fee in test mode as on its fixtures: 3.65% plus 7% VAT on the fee
// (the charge's transaction_fees says the same).
int64_t fee_for(int64_t amount) {
  return amount * 365 / 10'000;
}

json refunds_list(const charge_record& charge) {
  json data = json::array();
  int64_t latest_s = charge.created_at_s;
  for (const auto& refund : charge.refunds) {
    data.push_back(to_json(refund));
    latest_s = std::max(latest_s, refund.created_at_s);
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"limit", 20},
          {"offset", 0},
          {"total", charge.refunds.size()},
          {"location", "/charges/" + charge.id + "/refunds"},
          {"order", "chronological"},
          {"from", "1970-01-01T00:00:00Z"},
          {"to", rfc3339_from_seconds(latest_s)}};
}

}  // namespace

omise_error authentication_failure() {
  return make_error(401, "authentication_failure", "authentication failed");
}
omise_error not_found(std::string_view what, std::string_view id) {
  return make_error(404, "not_found", std::string(what) + " " + std::string(id) + " was not found");
}
omise_error bad_request(std::string message) {
  return make_error(400, "bad_request", std::move(message));
}
omise_error invalid_card(std::string message) {
  return make_error(400, "invalid_card", std::move(message));
}
omise_error invalid_charge(std::string message) {
  return make_error(400, "invalid_charge", std::move(message));
}
omise_error used_token() {
  return make_error(400, "used_token", "token was already used");
}
omise_error failed_refund(std::string message) {
  return make_error(400, "failed_refund", std::move(message));
}
omise_error internal_error() {
  return make_error(500, "internal_error",
                    "request could not be completed due to an internal error");
}

json to_json(const omise_error& error) {
  std::string anchor = error.code;
  for (auto& c : anchor) {
    if (c == '_') {
      c = '-';
    }
  }
  return {{"object", "error"},
          {"location", "https://docs.omise.co/api/errors#" + anchor},
          {"code", error.code},
          {"message", error.message}};
}

const char* to_string(charge_status status) {
  switch (status) {
    case charge_status::pending:
      return "pending";
    case charge_status::successful:
      return "successful";
    case charge_status::failed:
      return "failed";
    case charge_status::expired:
      return "expired";
  }
  return "pending";
}

json to_json(const card_record& card) {
  return {{"object", "card"},
          {"id", card.id},
          {"livemode", false},
          {"location", nullptr},
          {"country", "th"},
          {"city", text_or_null(card.city)},
          {"postal_code", text_or_null(card.postal_code)},
          {"financing", "credit"},
          {"bank", "Test Bank"},
          {"last_digits", card.last_digits},
          {"brand", card.brand},
          {"expiration_month", card.expiration_month},
          {"expiration_year", card.expiration_year},
          {"fingerprint", card.fingerprint},
          {"name", card.name},
          {"security_code_check", true},
          {"created_at", rfc3339_from_seconds(card.created_at_s)}};
}

json to_json(const token_record& token) {
  json out = {{"object", "token"},
              {"id", token.id},
              {"livemode", false},
              {"location", "/tokens/" + token.id},
              {"used", token.is_used},
              {"card", to_json(token.card)},
              {"created_at", rfc3339_from_seconds(token.created_at_s)}};
  // The status of the charge the token paid ("unknown" before one): card
  // charges are final at once, so the card's outcome decides it.
  out["charge_status"] = !token.is_used                    ? "unknown"
                         : token.card.outcome.is_success() ? "successful"
                                                           : "failed";
  return out;
}

std::string qr_download_path(const charge_record& charge) {
  return "/charges/" + charge.id + "/documents/" + charge.document_id + "/downloads/" +
         charge.download_token;
}

json to_json(const source_record& source, const charge_record* charge, std::string_view base_url) {
  json scannable_code = nullptr;
  std::string charge_status = "unknown";
  if (charge != nullptr && !charge->document_id.empty()) {
    scannable_code = {
        {"object", "barcode"},
        {"type", "qr"},
        {"image",
         {{"object", "document"},
          {"livemode", false},
          {"id", charge->document_id},
          {"deleted", false},
          {"filename", "qrcode.svg"},
          {"location", "/charges/" + charge->id + "/documents/" + charge->document_id},
          {"download_uri", std::string(base_url) + qr_download_path(*charge)},
          {"created_at", rfc3339_from_seconds(charge->created_at_s)}}}};
    charge_status = to_string(charge->status);
  }
  return {{"object", "source"},
          {"id", source.id},
          {"livemode", false},
          {"location", "/sources/" + source.id},
          {"amount", source.amount},
          {"barcode", nullptr},
          {"bank", nullptr},
          {"created_at", rfc3339_from_seconds(source.created_at_s)},
          {"currency", source.currency},
          {"email", nullptr},
          {"flow", "offline"},
          {"installment_term", nullptr},
          {"ip", nullptr},
          {"items", json::array()},
          {"name", nullptr},
          {"mobile_number", nullptr},
          {"phone_number", nullptr},
          {"scannable_code", std::move(scannable_code)},
          {"references", nullptr},
          {"store_id", nullptr},
          {"store_name", nullptr},
          {"terminal_id", nullptr},
          {"type", source.type},
          {"zero_interest_installments", nullptr},
          {"charge_status", charge_status},
          {"receipt_amount", nullptr},
          {"discounts", json::array()}};
}

json to_json(const refund_record& refund) {
  return {{"object", "refund"},
          {"id", refund.id},
          {"location", "/charges/" + refund.charge_id + "/refunds/" + refund.id},
          {"livemode", false},
          {"amount", refund.amount},
          {"currency", refund.currency},
          {"charge", refund.charge_id},
          {"transaction", refund.transaction},
          {"voided", false},
          {"status", "closed"},
          {"metadata", json::object()},
          {"created_at", rfc3339_from_seconds(refund.created_at_s)}};
}

json to_json(const charge_record& charge, std::string_view base_url) {
  const bool is_paid = charge.status == charge_status::successful;
  const int64_t fee = fee_for(charge.amount);
  const int64_t fee_vat = fee * 7 / 100;
  const bool is_card = charge.card.has_value();
  return {
      {"object", "charge"},
      {"id", charge.id},
      {"location", "/charges/" + charge.id},
      {"amount", charge.amount},
      {"net", charge.amount - fee - fee_vat},
      {"fee", fee},
      {"fee_vat", fee_vat},
      {"interest", 0},
      {"interest_vat", 0},
      {"funding_amount", charge.amount},
      {"authorized_amount", is_paid ? charge.amount : 0},
      {"captured_amount", is_paid ? charge.amount : 0},
      {"refunded_amount", charge.refunded_amount},
      {"transaction_fees", {{"fee_flat", "0.0"}, {"fee_rate", "3.65"}, {"vat_rate", "7.0"}}},
      {"refunded", charge.refunded_amount},
      {"authorized", is_paid},
      {"capturable", false},
      {"capture", true},
      {"disputable", is_paid && is_card},
      {"livemode", false},
      {"refundable", is_paid && charge.refunded_amount < charge.amount},
      {"partially_refundable", is_paid && charge.refunded_amount < charge.amount},
      {"reversed", false},
      {"reversible", false},
      {"voided", false},
      {"paid", is_paid},
      {"expired", charge.status == charge_status::expired},
      {"platform_fee", {{"fixed", nullptr}, {"amount", nullptr}, {"percentage", nullptr}}},
      {"currency", charge.currency},
      {"funding_currency", charge.currency},
      {"ip", text_or_null(charge.ip)},
      {"refunds", refunds_list(charge)},
      {"link", nullptr},
      {"description", text_or_null(charge.description)},
      {"metadata", charge.metadata},
      {"card", is_card ? to_json(*charge.card) : json(nullptr)},
      {"source", charge.source ? to_json(*charge.source, &charge, base_url) : json(nullptr)},
      {"schedule", nullptr},
      {"customer", nullptr},
      {"dispute", nullptr},
      {"transaction", text_or_null(charge.transaction)},
      {"failure_code", text_or_null(charge.failure_code)},
      {"failure_message", text_or_null(charge.failure_message)},
      {"status", to_string(charge.status)},
      {"authorize_uri", nullptr},
      {"return_uri", text_or_null(charge.return_uri)},
      {"created_at", rfc3339_from_seconds(charge.created_at_s)},
      {"paid_at", time_or_null(charge.paid_at_s)},
      {"expires_at", time_or_null(charge.expires_at_s)},
      {"expired_at", time_or_null(charge.expired_at_s)},
      {"reversed_at", nullptr},
      {"zero_interest_installments", false},
      // Set by Omise for what the sandbox does not model (pre-authorization,
      // 3-D Secure, acquirer data, point-of-sale charges): null, as Omise
      // sends them for a charge they do not apply to.
      {"authorization_type", nullptr},
      {"authenticated_by", nullptr},
      {"acquirer_reference_number", nullptr},
      {"approval_code", nullptr},
      {"merchant_advice", nullptr},
      {"merchant_advice_code", nullptr},
      {"missing_3ds_fields", json::array()},
      {"can_perform_void", false},
      {"branch", nullptr},
      {"terminal", nullptr},
      {"device", nullptr},
  };
}

json to_json(const event_record& event) {
  return {{"object", "event"}, {"id", event.id},
          {"livemode", false}, {"location", "/events/" + event.id},
          {"key", event.key},  {"created_at", rfc3339_from_seconds(event.created_at_s)},
          {"data", event.data}};
}

std::string qr_placeholder_svg(std::string_view charge_id) {
  // A fixed finder-pattern look-alike with the charge id as text: enough for
  // a browser to show "a QR goes here" without a QR encoder.
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"260\" "
      "viewBox=\"0 0 240 260\">"
      "<rect width=\"240\" height=\"260\" fill=\"#fff\"/>"
      "<rect x=\"10\" y=\"10\" width=\"60\" height=\"60\" fill=\"#000\"/>"
      "<rect x=\"20\" y=\"20\" width=\"40\" height=\"40\" fill=\"#fff\"/>"
      "<rect x=\"30\" y=\"30\" width=\"20\" height=\"20\" fill=\"#000\"/>"
      "<rect x=\"170\" y=\"10\" width=\"60\" height=\"60\" fill=\"#000\"/>"
      "<rect x=\"180\" y=\"20\" width=\"40\" height=\"40\" fill=\"#fff\"/>"
      "<rect x=\"190\" y=\"30\" width=\"20\" height=\"20\" fill=\"#000\"/>"
      "<rect x=\"10\" y=\"170\" width=\"60\" height=\"60\" fill=\"#000\"/>"
      "<rect x=\"20\" y=\"180\" width=\"40\" height=\"40\" fill=\"#fff\"/>"
      "<rect x=\"30\" y=\"190\" width=\"20\" height=\"20\" fill=\"#000\"/>"
      "<text x=\"120\" y=\"252\" font-size=\"9\" text-anchor=\"middle\" "
      "font-family=\"monospace\">sandbox ";
  // Charge ids are [a-z0-9_] only (checked by the caller's lookup), so no escaping.
  svg.append(charge_id);
  svg += "</text></svg>";
  return svg;
}

}  // namespace tally::sandbox
