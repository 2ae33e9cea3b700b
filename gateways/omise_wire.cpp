#include "gateways/omise_wire.hpp"

#include <optional>
#include <string>

#include "domain/assert.hpp"
#include "gateways/json_reading.hpp"
#include "gateways/request_checks.hpp"

namespace tally::gateways::omise {
namespace {

namespace jr = json_reading;
using jr::json;

caf::error malformed(const char* what) {
  return make_failure(errc::invalid_argument, failure_detail{0, "malformed_response", what, false});
}

// `object` must be `expected` when present (omise-ruby fixtures omit it).
bool is_object_kind(const json& object, const char* expected) {
  const auto it = object.find("object");
  return it == object.end() || (it->is_string() && it->get_ref<const std::string&>() == expected);
}

std::optional<charge_status> status_from(const std::string& text) {
  if (text == "pending") {
    return charge_status::pending;
  }
  if (text == "successful") {
    return charge_status::successful;
  }
  if (text == "failed") {
    return charge_status::failed;
  }
  if (text == "expired") {
    return charge_status::expired;
  }
  if (text == "reversed") {
    return charge_status::reversed;
  }
  return std::nullopt;
}

// 2019-05-29 writes `created_at`; older versions `created`.
std::string created_of(const json& object) {
  std::string created = jr::text(object, "created_at");
  return created.empty() ? jr::text(object, "created") : created;
}

std::string qr_image_url_of(const json& charge_object) {
  const json* source = jr::child(charge_object, "source");
  const json* code = source ? jr::child(*source, "scannable_code") : nullptr;
  const json* image = code ? jr::child(*code, "image") : nullptr;
  return image ? jr::text(*image, "download_uri") : std::string();
}

caf::expected<charge> charge_from(const json& object) {
  if (!is_object_kind(object, "charge")) {
    return malformed("not a charge object");
  }
  charge out;
  out.id = jr::text(object, "id");
  if (!is_object_id(out.id)) {
    return malformed("charge without a valid id");
  }
  const auto status = status_from(jr::text(object, "status"));
  if (!status) {
    return malformed("charge without a known status");
  }
  out.status = *status;
  const auto amount = jr::integer(object, "amount");
  if (!amount || *amount < 0) {
    return malformed("charge without an integer amount");
  }
  out.amount = *amount;
  out.currency = jr::upper(jr::text(object, "currency"));
  if (out.currency.size() != 3) {
    return malformed("charge without a currency");
  }
  // Absent `paid` means not paid: is_paid() must never be true by default.
  out.paid = jr::boolean(object, "paid", false);
  auto refunded = jr::integer(object, "refunded_amount");
  if (!refunded) {
    refunded = jr::integer(object, "refunded");  // before 2019-05-29
  }
  out.refunded_amount = refunded.value_or(0);
  if (const json* metadata = jr::child(object, "metadata")) {
    out.purchase_id = jr::text(*metadata, "purchase_id");
  }
  out.failure_code = jr::text(object, "failure_code");
  out.failure_message = jr::text(object, "failure_message");
  out.authorize_uri = jr::text(object, "authorize_uri");
  out.qr_image_url = qr_image_url_of(object);
  out.expires_at = jr::text(object, "expires_at");
  out.created_at = created_of(object);
  out.livemode = jr::boolean(object, "livemode", false);
  return out;
}

}  // namespace

caf::expected<form_fields> charge_form(const charge_request& req) {
  if (auto refused = check_charge_request(req)) {
    return refused;
  }
  form_fields fields;
  fields.emplace_back("amount", std::to_string(req.amount));
  fields.emplace_back("currency", jr::lower(req.currency));
  switch (req.method) {
    case payment_method::card:
      fields.emplace_back("card", req.card_token);
      break;
    case payment_method::promptpay:
      // An inline source (omise-python test_charge.py): Omise creates the
      // source with the charge's amount and currency, one call instead of two.
      fields.emplace_back("source[type]", "promptpay");
      break;
  }
  if (!req.return_uri.empty()) {
    fields.emplace_back("return_uri", req.return_uri);
  }
  if (!req.description.empty()) {
    fields.emplace_back("description", req.description);
  }
  fields.emplace_back("metadata[purchase_id]", req.purchase_id);
  return fields;
}

form_fields refund_form(int64_t amount) {
  TALLY_ASSERT(amount > 0);
  return {{"amount", std::to_string(amount)}};
}

caf::expected<charge> parse_charge(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object) {
    return malformed("charge response is not a JSON object");
  }
  return charge_from(*object);
}

caf::expected<event> parse_event(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object) {
    return malformed("event is not a JSON object");
  }
  if (!is_object_kind(*object, "event")) {
    return malformed("not an event object");
  }
  event out;
  out.id = jr::text(*object, "id");
  out.key = jr::text(*object, "key");
  const json* data = jr::child(*object, "data");
  if (!is_object_id(out.id) || out.key.empty() || data == nullptr) {
    return malformed("event without id, key or data");
  }
  out.object_type = jr::text(*data, "object");
  out.object_id = jr::text(*data, "id");
  if (out.object_type.empty() || !is_object_id(out.object_id)) {
    return malformed("event data without object or id");
  }
  if (out.object_type == "charge") {
    // The payload is never trusted for state (the verifier re-fetches), so a
    // charge that does not parse leaves `charge` empty instead of losing the
    // event; it may be written by an older API version (research §1.5).
    if (auto parsed = charge_from(*data)) {
      out.charge = std::move(*parsed);
    }
  }
  out.created_at = created_of(*object);
  out.livemode = jr::boolean(*object, "livemode", false);
  return out;
}

caf::expected<refund> parse_refund(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object || !is_object_kind(*object, "refund")) {
    return malformed("not a refund object");
  }
  refund out;
  out.id = jr::text(*object, "id");
  const auto amount = jr::integer(*object, "amount");
  if (!is_object_id(out.id) || !amount || *amount <= 0) {
    return malformed("refund without id or amount");
  }
  out.amount = *amount;
  out.charge_id = jr::text(*object, "charge");
  out.currency = jr::upper(jr::text(*object, "currency"));
  return out;
}

caf::expected<charge_page> parse_charge_list(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object || !is_object_kind(*object, "list")) {
    return malformed("not a list object");
  }
  const auto data = object->find("data");
  if (data == object->end() || !data->is_array()) {
    return malformed("list without data");
  }
  charge_page page;
  page.charges.reserve(data->size());
  for (const auto& element : *data) {
    if (!element.is_object()) {
      return malformed("list element is not an object");
    }
    auto parsed = charge_from(element);
    if (!parsed) {
      return std::move(parsed.error());
    }
    page.charges.push_back(std::move(*parsed));
  }
  page.total = jr::integer(*object, "total").value_or(0);
  page.offset = jr::integer(*object, "offset").value_or(0);
  return page;
}

errc errc_for(int http_status, std::string_view code) {
  if (code == "authentication_failure" || http_status == 401 || http_status == 403) {
    return errc::unauthorized;
  }
  if (code == "not_found" || http_status == 404) {
    return errc::not_found;
  }
  if (http_status == 429 || http_status >= 500) {
    return errc::gateway_unavailable;
  }
  if (http_status >= 400) {
    return errc::invalid_argument;
  }
  // 1xx/3xx/other 2xx: not an answer Omise gives; treat as the gateway failing.
  return errc::gateway_unavailable;
}

caf::error error_from_response(int http_status, std::string_view body) {
  failure_detail detail;
  detail.http_status = http_status;
  const auto object = jr::parse_object(body);
  if (object && is_object_kind(*object, "error")) {
    detail.code = jr::text(*object, "code");
    detail.message = jr::text(*object, "message");
  }
  if (detail.message.empty()) {
    detail.message = "HTTP " + std::to_string(http_status) + " without an error object";
  }
  const errc code = errc_for(http_status, detail.code);
  return make_failure(code, std::move(detail));
}

}  // namespace tally::gateways::omise
