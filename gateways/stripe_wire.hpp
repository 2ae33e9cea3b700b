#pragma once
// Stripe's wire format for PaymentIntents, refunds and events (research
// gateways.md §2), as pure functions. No I/O.
//
// Status mapping (PaymentIntent.status -> charge_status):
//   succeeded                                   -> successful, paid
//   requires_payment_method with
//     last_payment_error (a declined confirm)   -> failed, failure_code from
//                                                  decline_code or code
//   requires_payment_method (no error yet),
//   requires_confirmation, requires_action,
//   processing, requires_capture                -> pending (authorize_uri from
//                                                  next_action.redirect_to_url)
//   canceled, cancellation_reason automatic,
//     abandoned or none                         -> expired
//   canceled, any other reason                  -> failed, failure_code
//                                                  "canceled", message the reason
// Tally confirms at creation and never hands the client_secret out, so a
// PaymentIntent that fell back to requires_payment_method after a decline can
// no longer succeed for that purchase: it is final.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "gateways/gateway.hpp"
#include "gateways/wire_encoding.hpp"

namespace tally::gateways::stripe {

// Results per search page when reconciling (Stripe's maximum is 100).
inline constexpr int64_t search_page_limit = 100;

// The form fields of POST /v1/payment_intents: amount, currency (lower case),
// payment_method_types[]=card, payment_method=<token>, confirm=true,
// return_url, description, metadata[purchase_id]. PromptPay through Stripe
// needs the payer's e-mail, which a charge_request does not carry:
// invalid_argument. Other errors as check_charge_request().
caf::expected<form_fields> payment_intent_form(const charge_request& req);

// The form fields of POST /v1/refunds.
// REQUIRES: is_object_id(payment_intent_id), amount > 0.
form_fields refund_form(const std::string& payment_intent_id, int64_t amount);

// The charge_status for a PaymentIntent's status, cancellation_reason and
// whether last_payment_error is set (table above); nullopt for an unknown status.
std::optional<charge_status> status_for(std::string_view status,
                                        std::string_view cancellation_reason,
                                        bool has_payment_error);

// A PaymentIntent object. errc::invalid_argument when id, a known status,
// amount or currency are missing or malformed.
caf::expected<charge> parse_payment_intent(std::string_view body);

// An event: id, type, data.object (with its `object` and `id`) required;
// `charge` is set when data.object is a PaymentIntent that parses.
caf::expected<event> parse_event(std::string_view body);

// A refund object (re_...): charge_id is its payment_intent.
caf::expected<refund> parse_refund(std::string_view body);

// The PaymentIntents of a search result page, all of which must parse.
struct search_page {
  std::vector<charge> charges;
  bool has_more = false;
  std::string next_page;  // cursor for `page`, "" when none
};
caf::expected<search_page> parse_search(std::string_view body);

// The errc for a non-2xx answer: 401/403 -> unauthorized; 404 -> not_found;
// 402 -> payment_failed (a decline without a PaymentIntent to report it);
// 409 (idempotency_key_in_use, lock_timeout), 429 and 5xx ->
// gateway_unavailable; other 4xx -> invalid_argument.
errc errc_for(int http_status);

// The failure for a non-2xx answer, with error.code (or error.type) and
// error.message in its failure_detail.
caf::error error_from_response(int http_status, std::string_view body);

// A create or confirm that Stripe declined answers 402 with the PaymentIntent
// inside the error object: that is a failed charge, not an error. Returns it
// when `body` is such an answer (its failure code/message from the error),
// otherwise error_from_response().
caf::expected<charge> declined_charge_or_error(int http_status, std::string_view body);

}  // namespace tally::gateways::stripe
