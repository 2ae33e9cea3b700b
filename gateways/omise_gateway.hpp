#pragma once
// The Omise client (research gateways.md §1), also used for the sandbox: the
// same code with the sandbox's URLs and keys (DESIGN "Purchases and
// gateways"). Blocking: calls run on detached workers only; one instance per
// worker (not thread-safe), living as long as the worker.
//
// Requests: form-encoded bodies, `Authorization: Basic base64(secret_key + ":")`,
// `Omise-Version` pinned. Retries:
//   GETs            outbound retry_mode::idempotent (timeouts included)
//   POST /charges   Omise's idempotency header is unverified (research §1.6),
//                   so the client retries by itself: no connection or 429 ->
//                   again; a 5xx -> look the charge up by purchase id
//                   (find_charge_by_purchase) and return it if it exists,
//                   otherwise again; a timeout or cut connection after
//                   sending -> errc::upstream_timeout, ambiguous, at once
//                   (the caller reconciles before any retry)
//   POST refunds    no connection or 429 -> again; a 5xx or an ambiguous
//                   failure is returned, ambiguous
// Attempts in all: settings.calls.retry.attempts_max (>= 3 by default),
// within its budget. A 200 to a POST whose body cannot be read is ambiguous
// too (upstream_timeout): the object exists, we just cannot see it.
// verify_webhook and parse_webhook are const and touch only immutable state:
// one instance may serve them from several threads at once.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "gateways/gateway.hpp"
#include "gateways/omise_wire.hpp"
#include "gateways/transport.hpp"

namespace tally::gateways {

// Pages of 100 charges scanned by find_charge_by_purchase before giving up
// with errc::overloaded.
inline constexpr int64_t omise_reconcile_pages_max = 10;

struct omise_settings {
  std::string name = "omise";  // "omise" or "sandbox": gateway::name()
  std::string api_base = "https://api.omise.co";
  // Tokens and sources are created by the buyer's client with the public
  // key; the engine never calls the vault, but the sandbox wiring names it.
  std::string vault_base = "https://vault.omise.co";
  std::string secret_key;      // skey_...; "" = not configured: every call fails
  std::string public_key;      // pkey_...; handed to clients, unused here
  std::string webhook_secret;  // base64; "" = deliveries are not signed
  std::string api_version = omise::api_version_default;
  call_settings calls;
};

// Returns an empty error when `settings` can build a client; otherwise
// errc::invalid_argument naming the setting: a name other than omise/sandbox,
// an api_base that is not http(s)://, a webhook_secret that is not base64,
// attempts_max of 0, an empty api_version.
caf::error check_settings(const omise_settings& settings);

class omise_gateway final : public gateway {
 public:
  // REQUIRES: check_settings(settings) is empty; `send` is callable.
  omise_gateway(omise_settings settings, transport send);

  std::string_view name() const override { return settings_.name; }

  caf::expected<charge> create_charge(const charge_request& req) override;
  caf::expected<charge> retrieve_charge(const std::string& charge_id) override;
  caf::expected<event> retrieve_event(const std::string& event_id) override;
  caf::expected<refund> refund_charge(const std::string& charge_id, int64_t amount) override;
  caf::error verify_webhook(std::string_view raw_body, const header_lookup& headers,
                            int64_t now_s) const override;
  caf::expected<event> parse_webhook(std::string_view raw_body) const override;
  caf::expected<std::optional<charge>> find_charge_by_purchase(const std::string& purchase_id,
                                                               int64_t created_after_s) override;

 private:
  // The response to a POST Omise may not deduplicate, or the charge found by
  // reconciliation after a 5xx.
  struct post_result {
    std::optional<outbound::response> response;
    std::optional<charge> reconciled;
  };

  outbound::request make_request(const char* method, std::string target, std::string body) const;
  caf::expected<outbound::response> get(std::string target);
  caf::expected<post_result> post_without_duplicates(const outbound::request& req,
                                                     const std::string* purchase_id,
                                                     int64_t created_after_s);

  omise_settings settings_;
  std::string authorization_;           // "Basic ..."; never logged
  std::string webhook_secret_decoded_;  // key bytes of the HMAC
  transport send_;
};

}  // namespace tally::gateways
