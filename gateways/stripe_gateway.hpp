#pragma once
// The Stripe client: PaymentIntents create/retrieve, refunds, events, and
// Stripe-Signature webhooks (research gateways.md §2). Blocking: detached
// workers only; one instance per worker (not thread-safe).
//
// Requests are form-encoded with `Authorization: Bearer <secret key>` and a
// pinned `Stripe-Version`. Every POST carries an Idempotency-Key (the
// charge_request's, else a fresh random one per call), which makes Stripe
// replay the first result for 24 h: POSTs and GETs both use outbound
// retry_mode::idempotent. A declined card is a 402 whose error embeds the
// PaymentIntent: create_charge returns it as a failed charge. A 5xx or an
// unreadable success answer to a POST is ambiguous (failure_detail.ambiguous;
// upstream_timeout for the latter). verify_webhook and parse_webhook are const
// and touch only immutable state: safe from several threads at once.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "gateways/gateway.hpp"
#include "gateways/stripe_wire.hpp"
#include "gateways/transport.hpp"

namespace tally::gateways {

// Search pages scanned by find_charge_by_purchase before errc::overloaded.
inline constexpr int64_t stripe_reconcile_pages_max = 3;

struct stripe_settings {
  std::string api_base = "https://api.stripe.com";
  std::string secret_key;      // sk_...; "" = not configured: every call fails
  std::string webhook_secret;  // whsec_...; "" = every delivery is refused
  // Pinned so that a dashboard upgrade cannot change the objects we parse.
  std::string api_version = "2024-06-20";
  call_settings calls;
};

// Empty when `settings` can build a client; otherwise errc::invalid_argument:
// an api_base that is not http(s)://, attempts_max of 0.
caf::error check_settings(const stripe_settings& settings);

class stripe_gateway final : public gateway {
 public:
  // REQUIRES: check_settings(settings) is empty; `send` is callable.
  stripe_gateway(stripe_settings settings, transport send);

  std::string_view name() const override { return "stripe"; }

  caf::expected<charge> create_charge(const charge_request& req) override;
  caf::expected<charge> retrieve_charge(const std::string& charge_id) override;
  caf::expected<event> retrieve_event(const std::string& event_id) override;
  caf::expected<refund> refund_charge(const std::string& charge_id, int64_t amount) override;
  caf::error verify_webhook(std::string_view raw_body, const header_lookup& headers,
                            int64_t now_s) const override;
  caf::expected<event> parse_webhook(std::string_view raw_body) const override;
  // PaymentIntents search, which lags creation by up to about a minute:
  // "none" shortly after an ambiguous create is not proof. Prefer repeating
  // create_charge with the same idempotency_key.
  caf::expected<std::optional<charge>> find_charge_by_purchase(const std::string& purchase_id,
                                                               int64_t created_after_s) override;

 private:
  outbound::request make_request(const char* method, std::string target, std::string body,
                                 const std::string& idempotency_key) const;
  // Sends with idempotent retries; the response whatever its status, or the
  // transport failure (a POST's marked ambiguous by transport_failure).
  caf::expected<outbound::response> send(outbound::request req);

  stripe_settings settings_;
  std::string authorization_;  // "Bearer ..."; never logged
  transport send_;
};

}  // namespace tally::gateways
