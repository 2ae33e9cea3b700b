#include "gateways/stripe_wire.hpp"

#include <optional>
#include <string>

#include "domain/assert.hpp"
#include "domain/time_format.hpp"
#include "gateways/json_reading.hpp"
#include "gateways/request_checks.hpp"

namespace tally::gateways::stripe {
namespace {

namespace jr = json_reading;
using jr::json;

caf::error malformed(const char* what) {
  return make_failure(errc::invalid_argument, failure_detail{0, "malformed_response", what, false});
}

bool is_object_kind(const json& object, const char* expected) {
  const auto it = object.find("object");
  return it != object.end() && it->is_string() && it->get_ref<const std::string&>() == expected;
}

// Stripe writes `created` as Unix seconds.
std::string created_of(const json& object) {
  const auto created_s = jr::integer(object, "created");
  return created_s ? rfc3339_from_seconds(*created_s) : std::string();
}

// The decline reason: decline_code ("insufficient_funds") says more than
// code ("card_declined") when Stripe gives both.
void read_payment_error(const json& error, charge& out) {
  out.failure_code = jr::text(error, "decline_code");
  if (out.failure_code.empty()) {
    out.failure_code = jr::text(error, "code");
  }
  out.failure_message = jr::text(error, "message");
}

caf::expected<charge> payment_intent_from(const json& object) {
  if (!is_object_kind(object, "payment_intent")) {
    return malformed("not a payment_intent object");
  }
  charge out;
  out.id = jr::text(object, "id");
  if (!is_object_id(out.id)) {
    return malformed("payment_intent without a valid id");
  }
  const json* payment_error = jr::child(object, "last_payment_error");
  const std::string cancellation_reason = jr::text(object, "cancellation_reason");
  const auto status =
      status_for(jr::text(object, "status"), cancellation_reason, payment_error != nullptr);
  if (!status) {
    return malformed("payment_intent without a known status");
  }
  out.status = *status;
  const auto amount = jr::integer(object, "amount");
  if (!amount || *amount < 0) {
    return malformed("payment_intent without an integer amount");
  }
  out.amount = *amount;
  out.currency = jr::upper(jr::text(object, "currency"));
  if (out.currency.size() != 3) {
    return malformed("payment_intent without a currency");
  }
  out.paid = out.status == charge_status::successful;
  if (const json* metadata = jr::child(object, "metadata")) {
    out.purchase_id = jr::text(*metadata, "purchase_id");
  }
  if (out.status == charge_status::failed && payment_error != nullptr) {
    read_payment_error(*payment_error, out);
  } else if (out.status == charge_status::failed) {
    out.failure_code = "canceled";
    out.failure_message = cancellation_reason;
  }
  if (const json* next_action = jr::child(object, "next_action")) {
    if (const json* redirect = jr::child(*next_action, "redirect_to_url")) {
      out.authorize_uri = jr::text(*redirect, "url");
    }
    if (const json* qr = jr::child(*next_action, "promptpay_display_qr_code")) {
      out.qr_image_url = jr::text(*qr, "image_url_png");
    }
  }
  out.created_at = created_of(object);
  out.livemode = jr::boolean(object, "livemode", false);
  return out;
}

}  // namespace

caf::expected<form_fields> payment_intent_form(const charge_request& req) {
  if (auto refused = check_charge_request(req)) {
    return refused;
  }
  if (req.method != payment_method::card) {
    return make_failure(
        errc::invalid_argument,
        failure_detail{0, "invalid_request", "the stripe gateway takes card payments only", false});
  }
  form_fields fields;
  fields.emplace_back("amount", std::to_string(req.amount));
  fields.emplace_back("currency", jr::lower(req.currency));
  // Card only: with automatic payment methods Stripe would insist on a
  // return_url even for cards that need no redirect.
  fields.emplace_back("payment_method_types[]", "card");
  fields.emplace_back("payment_method", req.card_token);
  fields.emplace_back("confirm", "true");
  if (!req.return_uri.empty()) {
    fields.emplace_back("return_url", req.return_uri);
  }
  if (!req.description.empty()) {
    fields.emplace_back("description", req.description);
  }
  fields.emplace_back("metadata[purchase_id]", req.purchase_id);
  return fields;
}

form_fields refund_form(const std::string& payment_intent_id, int64_t amount) {
  TALLY_ASSERT(is_object_id(payment_intent_id));
  TALLY_ASSERT(amount > 0);
  return {{"payment_intent", payment_intent_id}, {"amount", std::to_string(amount)}};
}

std::optional<charge_status> status_for(std::string_view status,
                                        std::string_view cancellation_reason,
                                        bool has_payment_error) {
  if (status == "succeeded") {
    return charge_status::successful;
  }
  if (status == "requires_payment_method") {
    return has_payment_error ? charge_status::failed : charge_status::pending;
  }
  if (status == "requires_confirmation" || status == "requires_action" || status == "processing" ||
      status == "requires_capture") {
    return charge_status::pending;
  }
  if (status == "canceled") {
    const bool is_expiry = cancellation_reason.empty() || cancellation_reason == "automatic" ||
                           cancellation_reason == "abandoned";
    return is_expiry ? charge_status::expired : charge_status::failed;
  }
  return std::nullopt;
}

caf::expected<charge> parse_payment_intent(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object) {
    return malformed("payment_intent response is not a JSON object");
  }
  return payment_intent_from(*object);
}

caf::expected<event> parse_event(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object || !is_object_kind(*object, "event")) {
    return malformed("not an event object");
  }
  event out;
  out.id = jr::text(*object, "id");
  out.key = jr::text(*object, "type");
  const json* data = jr::child(*object, "data");
  const json* resource = data ? jr::child(*data, "object") : nullptr;
  if (!is_object_id(out.id) || out.key.empty() || resource == nullptr) {
    return malformed("event without id, type or data.object");
  }
  out.object_type = jr::text(*resource, "object");
  out.object_id = jr::text(*resource, "id");
  if (out.object_type.empty() || !is_object_id(out.object_id)) {
    return malformed("event data.object without object or id");
  }
  if (out.object_type == "payment_intent") {
    // Never trusted for state (the verifier re-fetches): a payload that does
    // not parse leaves `charge` empty rather than losing the event.
    if (auto parsed = payment_intent_from(*resource)) {
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
  out.charge_id = jr::text(*object, "payment_intent");
  out.currency = jr::upper(jr::text(*object, "currency"));
  return out;
}

caf::expected<search_page> parse_search(std::string_view body) {
  const auto object = jr::parse_object(body);
  if (!object || !is_object_kind(*object, "search_result")) {
    return malformed("not a search_result object");
  }
  const auto data = object->find("data");
  if (data == object->end() || !data->is_array()) {
    return malformed("search_result without data");
  }
  search_page page;
  page.charges.reserve(data->size());
  for (const auto& element : *data) {
    if (!element.is_object()) {
      return malformed("search_result element is not an object");
    }
    auto parsed = payment_intent_from(element);
    if (!parsed) {
      return std::move(parsed.error());
    }
    page.charges.push_back(std::move(*parsed));
  }
  page.has_more = jr::boolean(*object, "has_more", false);
  page.next_page = jr::text(*object, "next_page");
  return page;
}

errc errc_for(int http_status) {
  if (http_status == 401 || http_status == 403) {
    return errc::unauthorized;
  }
  if (http_status == 404) {
    return errc::not_found;
  }
  if (http_status == 402) {
    return errc::payment_failed;
  }
  if (http_status == 409 || http_status == 429 || http_status >= 500) {
    return errc::gateway_unavailable;
  }
  if (http_status >= 400) {
    return errc::invalid_argument;
  }
  return errc::gateway_unavailable;
}

caf::error error_from_response(int http_status, std::string_view body) {
  failure_detail detail;
  detail.http_status = http_status;
  const auto object = jr::parse_object(body);
  const json* error = object ? jr::child(*object, "error") : nullptr;
  if (error != nullptr) {
    detail.code = jr::text(*error, "code");
    if (detail.code.empty()) {
      detail.code = jr::text(*error, "type");
    }
    detail.message = jr::text(*error, "message");
  }
  if (detail.message.empty()) {
    detail.message = "HTTP " + std::to_string(http_status) + " without an error object";
  }
  return make_failure(errc_for(http_status), std::move(detail));
}

caf::expected<charge> declined_charge_or_error(int http_status, std::string_view body) {
  if (http_status == 402) {
    const auto object = jr::parse_object(body);
    const json* error = object ? jr::child(*object, "error") : nullptr;
    const json* intent = error ? jr::child(*error, "payment_intent") : nullptr;
    if (intent != nullptr) {
      auto declined = payment_intent_from(*intent);
      if (declined) {
        // The embedded intent may still say requires_payment_method without
        // last_payment_error; the 402 itself is the decline.
        declined->status = charge_status::failed;
        declined->paid = false;
        read_payment_error(*error, *declined);
        return declined;
      }
    }
  }
  return error_from_response(http_status, body);
}

}  // namespace tally::gateways::stripe
