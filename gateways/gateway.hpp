#pragma once
// One interface for every payment gateway (DESIGN.md "Purchases and gateways"):
// create a charge, retrieve a charge, retrieve an event, refund, and verify a
// webhook's signature. Implemented for Omise (also used, with other URLs and
// keys, for the sandbox) and Stripe (PaymentIntents).
//
// Calls block on the network (through outbound::http_client): use them only
// from detached actors. An instance is not thread-safe: one per worker.
//
// Failures travel as caf::error carrying a tally::errc; see gateway_failure()
// for the gateway's own code and message. A *declined* payment is not an
// error: it is a charge whose status is `failed` with failure_code/message.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "domain/error.hpp"

namespace tally::gateways {

// How far before `created_after_s` find_charge_by_purchase looks: our clock
// and the gateway's may disagree by this much.
inline constexpr int64_t reconcile_clock_skew_s = 300;

enum class charge_status { pending, successful, failed, expired, reversed };

const char* to_string(charge_status status);

struct charge {
  std::string id;  // chrg_..., pi_...
  charge_status status = charge_status::pending;
  bool paid = false;
  int64_t amount = 0;        // minor units
  std::string currency;      // ISO 4217, upper case ("THB")
  int64_t refunded_amount = 0;
  std::string purchase_id;   // metadata.purchase_id, "" when absent
  std::string failure_code;  // the gateway's own code, e.g. "insufficient_fund"
  std::string failure_message;
  std::string authorize_uri;  // redirect (3-D Secure, offsite), "" when none
  std::string qr_image_url;   // PromptPay: source.scannable_code.image.download_uri
  std::string expires_at;     // RFC 3339, "" when unknown
  std::string created_at;     // RFC 3339, "" when unknown (`created` or `created_at`)
  bool livemode = false;
};

// True only when credits may be granted for this charge.
inline bool is_paid(const charge& c) { return c.status == charge_status::successful && c.paid; }

struct event {
  std::string id;           // evnt_..., evt_...
  std::string key;          // "charge.complete", "payment_intent.succeeded", ...
  std::string object_type;  // data.object: "charge", "payment_intent", ...
  std::string object_id;    // data.id
  std::optional<gateways::charge> charge;  // when data is a charge/PaymentIntent
  std::string created_at;
  bool livemode = false;
};

struct refund {
  std::string id;
  std::string charge_id;
  int64_t amount = 0;
  std::string currency;
};

enum class payment_method { card, promptpay };

struct charge_request {
  std::string purchase_id;  // goes into metadata.purchase_id
  int64_t amount = 0;       // minor units, > 0
  std::string currency;     // "THB"
  payment_method method = payment_method::card;
  std::string card_token;   // tokn_... (card); never a card number
  std::string return_uri;   // optional
  std::string description;  // optional
  // Sent where the gateway honours one (Stripe); Omise's is unverified
  // (research gateways.md §1.6): the caller reconciles by purchase id instead.
  std::string idempotency_key;
};

// What a gateway said about a failed call, beyond the errc.
struct failure_detail {
  int http_status = 0;     // 0: no answer
  std::string code;        // Omise error `code` / Stripe `error.code`, e.g. "used_token"
  std::string message;     // the gateway's message; never contains secrets
  bool ambiguous = false;  // the call may have taken effect (timeout after sending)
};

// Builds the caf::error for a failed call. errc values used by gateways:
//   gateway_unavailable  no answer after retries, or 5xx/429 after retries
//   upstream_timeout     ambiguous: the request may have taken effect
//   not_found            the object does not exist (404)
//   invalid_argument     the gateway refused the request (400/422, used_token, ...)
//   unauthorized         the gateway refused our key (401/403)
//   invalid_signature    a webhook's signature did not verify
caf::error make_failure(errc code, failure_detail detail);

// The detail carried by an error from make_failure (empty when none).
failure_detail gateway_failure(const caf::error& err);

// Case-insensitive header lookup over a request's headers: "" when absent.
using header_lookup = std::function<std::string_view(std::string_view name)>;

class gateway {
 public:
  virtual ~gateway() = default;

  // "omise", "stripe" or "sandbox".
  virtual std::string_view name() const = 0;

  virtual caf::expected<charge> create_charge(const charge_request& req) = 0;
  virtual caf::expected<charge> retrieve_charge(const std::string& charge_id) = 0;
  virtual caf::expected<event> retrieve_event(const std::string& event_id) = 0;
  virtual caf::expected<refund> refund_charge(const std::string& charge_id, int64_t amount) = 0;

  // Checks a webhook's signature over the raw body, synchronously and without
  // I/O. `now_s` is Unix seconds. Returns an empty error when it verifies, or
  // when this gateway is configured not to sign (Omise without a webhook
  // secret); errc::invalid_signature otherwise. Constant-time comparison.
  virtual caf::error verify_webhook(std::string_view raw_body, const header_lookup& headers,
                                    int64_t now_s) const = 0;

  // Parses a webhook body into the event it announces (never trusted for
  // state: the verifier re-fetches). errc::invalid_argument when malformed.
  virtual caf::expected<event> parse_webhook(std::string_view raw_body) const = 0;

  // Reconciliation after an ambiguous create_charge (errc::upstream_timeout
  // with failure_detail.ambiguous, or a 5xx with ambiguous set): the newest
  // charge whose metadata.purchase_id is `purchase_id`, created no earlier
  // than `created_after_s` (Unix seconds; pass the purchase's creation time,
  // the client widens it by reconcile_clock_skew_s), or nullopt when the
  // gateway has none. Errors as for retrieve_charge, plus errc::overloaded
  // when more charges than the client scans were created in that window (it
  // cannot tell: try again later, never conclude "not charged"). A charge in
  // the window that cannot be parsed is an error too, for the same reason.
  // Stripe: PaymentIntents search, which lags up to about a minute behind
  // creation; a Stripe create is safe to repeat with the same idempotency_key
  // instead (Stripe replays the first result for 24 h).
  // REQUIRES: purchase_id is not empty.
  virtual caf::expected<std::optional<charge>> find_charge_by_purchase(
      const std::string& purchase_id, int64_t created_after_s) = 0;
};

}  // namespace tally::gateways
