#include "gateways/stripe_gateway.hpp"

#include <utility>

#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "gateways/call_support.hpp"
#include "gateways/webhook_signatures.hpp"
#include "gateways/wire_encoding.hpp"

namespace tally::gateways {
namespace {

caf::error bad_request(const char* what) {
  return make_failure(errc::invalid_argument, failure_detail{0, "invalid_request", what, false});
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

caf::error check_settings(const stripe_settings& settings) {
  if (settings.api_base.rfind("https://", 0) != 0 && settings.api_base.rfind("http://", 0) != 0) {
    return make_failure(
        errc::invalid_argument,
        failure_detail{0, "invalid_setting", "stripe api base must be an http(s) URL", false});
  }
  if (settings.calls.retry.attempts_max == 0) {
    return make_failure(
        errc::invalid_argument,
        failure_detail{0, "invalid_setting", "gateway attempts must be at least 1", false});
  }
  return caf::none;
}

stripe_gateway::stripe_gateway(stripe_settings settings, transport send)
    : settings_(std::move(settings)), send_(std::move(send)) {
  TALLY_ASSERT(!check_settings(settings_));
  TALLY_ASSERT(static_cast<bool>(send_));
  if (!settings_.secret_key.empty()) {
    authorization_ = "Bearer " + settings_.secret_key;
  }
}

outbound::request stripe_gateway::make_request(const char* method, std::string target,
                                               std::string body,
                                               const std::string& idempotency_key) const {
  outbound::request req;
  req.method = method;
  req.url = detail::join_url(settings_.api_base, target);
  req.headers.emplace_back("Authorization", authorization_);
  if (!settings_.api_version.empty()) {
    req.headers.emplace_back("Stripe-Version", settings_.api_version);
  }
  req.headers.emplace_back("Accept", "application/json");
  if (req.method == "POST") {
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.headers.emplace_back("Idempotency-Key", idempotency_key);
  }
  req.body = std::move(body);
  req.connect_timeout = settings_.calls.connect_timeout;
  req.timeout = settings_.calls.timeout;
  return req;
}

caf::expected<outbound::response> stripe_gateway::send(outbound::request req) {
  if (settings_.secret_key.empty()) {
    return detail::not_configured("stripe");
  }
  auto policy = settings_.calls.retry;
  policy.mode = outbound::retry_mode::idempotent;
  auto outcome = send_(req, policy);
  if (!outcome.ok()) {
    return detail::transport_failure(outcome);
  }
  return std::move(*outcome.response);
}

caf::expected<charge> stripe_gateway::create_charge(const charge_request& req) {
  auto form = stripe::payment_intent_form(req);
  if (!form) {
    return std::move(form.error());
  }
  // Without the caller's key, one of our own still makes this call's retries
  // safe (as stripe-node does).
  const std::string key =
      req.idempotency_key.empty() ? "tally-" + auth::new_uuid_v4() : req.idempotency_key;
  auto response = send(make_request("POST", "/v1/payment_intents", form_encode(*form), key));
  if (!response) {
    return std::move(response.error());
  }
  if (is_success(response->status)) {
    auto created = stripe::parse_payment_intent(response->body);
    if (!created) {
      return detail::unreadable_answer(created.error(), response->status);
    }
    return created;
  }
  auto declined = stripe::declined_charge_or_error(response->status, response->body);
  if (!declined && response->status >= 500) {
    // Stripe may have acted before failing; the same key replays the outcome.
    return detail::as_ambiguous(declined.error());
  }
  return declined;
}

caf::expected<charge> stripe_gateway::retrieve_charge(const std::string& charge_id) {
  if (!is_object_id(charge_id)) {
    return bad_request("payment intent id is not an id");
  }
  auto response = send(make_request("GET", "/v1/payment_intents/" + charge_id, {}, {}));
  if (!response) {
    return std::move(response.error());
  }
  if (!is_success(response->status)) {
    return stripe::error_from_response(response->status, response->body);
  }
  return stripe::parse_payment_intent(response->body);
}

caf::expected<event> stripe_gateway::retrieve_event(const std::string& event_id) {
  if (!is_object_id(event_id)) {
    return bad_request("event id is not an id");
  }
  auto response = send(make_request("GET", "/v1/events/" + event_id, {}, {}));
  if (!response) {
    return std::move(response.error());
  }
  if (!is_success(response->status)) {
    return stripe::error_from_response(response->status, response->body);
  }
  return stripe::parse_event(response->body);
}

caf::expected<refund> stripe_gateway::refund_charge(const std::string& charge_id, int64_t amount) {
  if (!is_object_id(charge_id)) {
    return bad_request("payment intent id is not an id");
  }
  if (amount <= 0) {
    return bad_request("refund amount must be positive");
  }
  const std::string key = "tally-refund-" + auth::new_uuid_v4();
  auto response = send(make_request("POST", "/v1/refunds",
                                    form_encode(stripe::refund_form(charge_id, amount)), key));
  if (!response) {
    return std::move(response.error());
  }
  if (!is_success(response->status)) {
    auto failure = stripe::error_from_response(response->status, response->body);
    return response->status >= 500 ? detail::as_ambiguous(failure) : failure;
  }
  auto created = stripe::parse_refund(response->body);
  if (!created) {
    return detail::unreadable_answer(created.error(), response->status);
  }
  return created;
}

caf::error stripe_gateway::verify_webhook(std::string_view raw_body, const header_lookup& headers,
                                          int64_t now_s) const {
  return verify_stripe_signature(raw_body, headers("Stripe-Signature"), settings_.webhook_secret,
                                 now_s);
}

caf::expected<event> stripe_gateway::parse_webhook(std::string_view raw_body) const {
  return stripe::parse_event(raw_body);
}

caf::expected<std::optional<charge>> stripe_gateway::find_charge_by_purchase(
    const std::string& purchase_id, int64_t created_after_s) {
  TALLY_ASSERT(!purchase_id.empty());
  // Only id characters reach the query: nothing to escape inside the quotes.
  if (!is_object_id(purchase_id)) {
    return bad_request("purchase id is not an id");
  }
  const std::string query = "metadata['purchase_id']:'" + purchase_id + "' AND created>=" +
                            std::to_string(created_after_s - reconcile_clock_skew_s);
  std::optional<charge> newest;
  std::string page_cursor;
  for (int64_t page = 0; page < stripe_reconcile_pages_max; ++page) {
    form_fields params{{"query", query}, {"limit", std::to_string(stripe::search_page_limit)}};
    if (!page_cursor.empty()) {
      params.emplace_back("page", page_cursor);
    }
    auto response =
        send(make_request("GET", "/v1/payment_intents/search?" + form_encode(params), {}, {}));
    if (!response) {
      return std::move(response.error());
    }
    if (!is_success(response->status)) {
      return stripe::error_from_response(response->status, response->body);
    }
    auto found = stripe::parse_search(response->body);
    if (!found) {
      return std::move(found.error());
    }
    for (auto& candidate : found->charges) {
      // Search order is unspecified: keep the newest (RFC 3339 UTC sorts as text).
      if (candidate.purchase_id == purchase_id &&
          (!newest || candidate.created_at > newest->created_at)) {
        newest = std::move(candidate);
      }
    }
    if (!found->has_more || found->next_page.empty()) {
      return newest;
    }
    page_cursor = std::move(found->next_page);
  }
  return make_failure(
      errc::overloaded,
      failure_detail{0, "too_many_charges", "more payment intents than one lookup scans", false});
}

}  // namespace tally::gateways
