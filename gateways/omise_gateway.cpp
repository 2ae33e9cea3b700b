#include "gateways/omise_gateway.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "domain/assert.hpp"
#include "domain/base64.hpp"
#include "domain/time_format.hpp"
#include "gateways/call_support.hpp"
#include "gateways/webhook_signatures.hpp"
#include "gateways/wire_encoding.hpp"

namespace tally::gateways {
namespace {

caf::error bad_setting(const char* message) {
  return make_failure(errc::invalid_argument, failure_detail{0, "invalid_setting", message, false});
}

caf::error bad_id(const char* what) {
  return make_failure(errc::invalid_argument, failure_detail{0, "invalid_request", what, false});
}

// The key bytes of the webhook secret (the base64 Omise's dashboard shows); the
// '=' padding may be left off, but only the canonical spelling is accepted.
std::optional<std::string> decode_webhook_secret(std::string_view secret) {
  return base64_decode(secret, base64_padding::optional, base64_trailing_bits::zero);
}

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

caf::error check_settings(const omise_settings& settings) {
  if (settings.name != "omise" && settings.name != "sandbox") {
    return bad_setting("omise client name must be omise or sandbox");
  }
  if (settings.api_base.rfind("https://", 0) != 0 && settings.api_base.rfind("http://", 0) != 0) {
    return bad_setting("omise api base must be an http(s) URL");
  }
  if (!settings.webhook_secret.empty()) {
    const auto decoded = decode_webhook_secret(settings.webhook_secret);
    if (!decoded || decoded->empty()) {
      return bad_setting("omise webhook secret must be base64");
    }
  }
  if (settings.calls.retry.attempts_max == 0) {
    return bad_setting("gateway attempts must be at least 1");
  }
  if (settings.api_version.empty()) {
    return bad_setting("omise api version must be set");
  }
  return caf::none;
}

omise_gateway::omise_gateway(omise_settings settings, transport send)
    : settings_(std::move(settings)), send_(std::move(send)) {
  TALLY_ASSERT(!check_settings(settings_));
  TALLY_ASSERT(static_cast<bool>(send_));
  if (!settings_.secret_key.empty()) {
    authorization_ = "Basic " + base64_encode(settings_.secret_key + ":");
  }
  if (!settings_.webhook_secret.empty()) {
    webhook_secret_decoded_ = decode_webhook_secret(settings_.webhook_secret).value_or("");
  }
}

outbound::request omise_gateway::make_request(const char* method, std::string target,
                                              std::string body) const {
  outbound::request req;
  req.method = method;
  req.url = detail::join_url(settings_.api_base, target);
  req.headers.emplace_back("Authorization", authorization_);
  req.headers.emplace_back("Omise-Version", settings_.api_version);
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty()) {
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  }
  req.body = std::move(body);
  req.connect_timeout = settings_.calls.connect_timeout;
  req.timeout = settings_.calls.timeout;
  return req;
}

caf::expected<outbound::response> omise_gateway::get(std::string target) {
  if (settings_.secret_key.empty()) {
    return detail::not_configured(settings_.name);
  }
  auto policy = settings_.calls.retry;
  policy.mode = outbound::retry_mode::idempotent;
  auto outcome = send_(make_request("GET", std::move(target), {}), policy);
  if (!outcome.ok()) {
    return detail::transport_failure(outcome);
  }
  if (outcome.response->status != 200) {
    return omise::error_from_response(outcome.response->status, outcome.response->body);
  }
  return std::move(*outcome.response);
}

caf::expected<omise_gateway::post_result> omise_gateway::post_without_duplicates(
    const outbound::request& req, const std::string* purchase_id, int64_t created_after_s) {
  const auto& policy = settings_.calls.retry;
  const auto deadline = std::chrono::steady_clock::now() + policy.budget;
  // One attempt per send: the decision to send again is made here.
  auto once = policy;
  once.mode = outbound::retry_mode::never;
  once.attempts_max = 1;
  for (uint32_t attempt = 0;; ++attempt) {
    auto outcome = send_(req, once);
    caf::error failure;
    bool may_send_again = false;
    auto wait_at_least = std::chrono::milliseconds{0};
    if (!outcome.ok()) {
      failure = detail::transport_failure(outcome);
      may_send_again = detail::is_retryable_without_answer(outcome);
    } else if (outcome.response->status == 200) {
      return post_result{std::move(outcome.response), std::nullopt};
    } else if (outcome.response->status == 429) {
      // Rate limiting refuses before any processing.
      failure = omise::error_from_response(429, outcome.response->body);
      may_send_again = true;
      wait_at_least = detail::retry_after(*outcome.response);
    } else if (outcome.response->status >= 500) {
      // Omise may have acted before failing: never send again unless a
      // lookup shows it did not.
      failure = detail::as_ambiguous(
          omise::error_from_response(outcome.response->status, outcome.response->body));
      if (purchase_id == nullptr) {
        return failure;
      }
      auto found = find_charge_by_purchase(*purchase_id, created_after_s);
      if (!found) {
        return failure;
      }
      if (*found) {
        return post_result{std::nullopt, std::move(**found)};
      }
      may_send_again = true;
    } else {
      return omise::error_from_response(outcome.response->status, outcome.response->body);
    }
    if (!may_send_again || attempt + 1 >= policy.attempts_max ||
        !detail::wait_before_retry(attempt, policy, deadline, wait_at_least)) {
      return failure;
    }
  }
}

caf::expected<charge> omise_gateway::create_charge(const charge_request& req) {
  auto form = omise::charge_form(req);
  if (!form) {
    return std::move(form.error());
  }
  if (settings_.secret_key.empty()) {
    return detail::not_configured(settings_.name);
  }
  // Any charge for this purchase is at least this recent (less clock skew,
  // which find_charge_by_purchase allows for).
  const int64_t started_s = unix_now_s();
  auto result = post_without_duplicates(make_request("POST", "/charges", form_encode(*form)),
                                        &req.purchase_id, started_s);
  if (!result) {
    return std::move(result.error());
  }
  if (result->reconciled) {
    return std::move(*result->reconciled);
  }
  auto created = omise::parse_charge(result->response->body);
  if (!created) {
    // A 200 we cannot read: the charge exists, the caller must reconcile.
    return detail::unreadable_answer(created.error(), 200);
  }
  return created;
}

caf::expected<charge> omise_gateway::retrieve_charge(const std::string& charge_id) {
  if (!is_object_id(charge_id)) {
    return bad_id("charge id is not an id");
  }
  auto response = get("/charges/" + charge_id);
  if (!response) {
    return std::move(response.error());
  }
  return omise::parse_charge(response->body);
}

caf::expected<event> omise_gateway::retrieve_event(const std::string& event_id) {
  if (!is_object_id(event_id)) {
    return bad_id("event id is not an id");
  }
  auto response = get("/events/" + event_id);
  if (!response) {
    return std::move(response.error());
  }
  return omise::parse_event(response->body);
}

caf::expected<refund> omise_gateway::refund_charge(const std::string& charge_id, int64_t amount) {
  if (!is_object_id(charge_id)) {
    return bad_id("charge id is not an id");
  }
  if (amount <= 0) {
    return bad_id("refund amount must be positive");
  }
  if (settings_.secret_key.empty()) {
    return detail::not_configured(settings_.name);
  }
  auto result = post_without_duplicates(make_request("POST", "/charges/" + charge_id + "/refunds",
                                                     form_encode(omise::refund_form(amount))),
                                        nullptr, 0);
  if (!result) {
    return std::move(result.error());
  }
  auto created = omise::parse_refund(result->response->body);
  if (!created) {
    return detail::unreadable_answer(created.error(), 200);
  }
  return created;
}

caf::error omise_gateway::verify_webhook(std::string_view raw_body, const header_lookup& headers,
                                         int64_t now_s) const {
  // Unsigned deliveries are accepted: the verifier re-fetches every event
  // from Omise before acting (research §1.5, "re-fetch the charge either way").
  if (webhook_secret_decoded_.empty()) {
    return caf::none;
  }
  return verify_omise_signature(raw_body, headers("Omise-Signature"),
                                headers("Omise-Signature-Timestamp"), webhook_secret_decoded_,
                                now_s);
}

caf::expected<event> omise_gateway::parse_webhook(std::string_view raw_body) const {
  return omise::parse_event(raw_body);
}

caf::expected<std::optional<charge>> omise_gateway::find_charge_by_purchase(
    const std::string& purchase_id, int64_t created_after_s) {
  TALLY_ASSERT(!purchase_id.empty());
  const std::string from = rfc3339_from_seconds(created_after_s - reconcile_clock_skew_s);
  // Newest first: a charge created while we page shifts the others down, so
  // offset paging may show one twice but never skips one.
  for (int64_t page = 0; page < omise_reconcile_pages_max; ++page) {
    const int64_t offset = page * omise::list_page_limit;
    auto response =
        get("/charges?" + form_encode({{"from", from},
                                       {"order", "reverse_chronological"},
                                       {"limit", std::to_string(omise::list_page_limit)},
                                       {"offset", std::to_string(offset)}}));
    if (!response) {
      return std::move(response.error());
    }
    auto listed = omise::parse_charge_list(response->body);
    if (!listed) {
      return std::move(listed.error());
    }
    for (auto& candidate : listed->charges) {
      if (candidate.purchase_id == purchase_id) {
        return std::optional<charge>{std::move(candidate)};
      }
    }
    const auto seen = offset + static_cast<int64_t>(listed->charges.size());
    if (listed->charges.empty() || seen >= listed->total) {
      return std::optional<charge>{};
    }
  }
  return make_failure(errc::overloaded,
                      failure_detail{0, "too_many_charges",
                                     "more charges in the window than one lookup scans", false});
}

}  // namespace tally::gateways
