#pragma once
// Payments records: plain values exchanged between the purchase actor, the
// webhook verifiers, the sweep and the HTTP layer (see actors/payments.hpp).
// They carry `inspect` so CAF can copy them as message payloads.

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace tally {

// A purchase as the API shows it (API.md "Packages and purchases").
struct purchase_view {
  std::string id;
  std::string user_id;
  std::string package_id;
  std::string status;  // pending, completed, failed, expired, refunded
  std::string gateway;  // omise, stripe, sandbox
  std::string method;   // card, promptpay
  std::string charge_id;  // "" until the gateway created the charge
  int64_t credits = 0;
  int64_t amount = 0;  // minor units
  std::string currency;
  std::string failure_code;
  std::string failure_message;
  std::string next_action_json;  // "null" or the next_action object
  int64_t created_at_ms = 0;
  int64_t completed_at_ms = 0;  // 0 when not completed
  bool replayed = false;        // answered from the Idempotency-Key record
};

// POST /v1/purchases, validated by the route.
struct purchase_request {
  std::string user_id;
  std::string package_id;
  std::string gateway;  // "" = the configured default
  std::string method;   // card, promptpay
  std::string card_token;
  std::string return_uri;
  std::string idempotency_key;  // required
  std::string request_sha256;
  std::string request_id;
};

// The state of a charge as *retrieved from the gateway* (never from a webhook
// body), handed to the one code path that moves a purchase's state.
struct settle_request {
  std::string gateway;
  std::string charge_id;
  std::string metadata_purchase_id;  // the purchase id the charge carries
  std::string charge_status;         // gateways::to_string(charge_status)
  bool paid = false;
  int64_t amount = 0;
  std::string currency;
  std::string failure_code;
  std::string failure_message;
  std::string cause;       // "webhook:<event id>", "sweep", "poll": audit
  std::string request_id;  // audit
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_view& x) {
  return f(caf::meta::type_name("purchase_view"), x.id, x.user_id, x.package_id, x.status,
           x.gateway, x.method, x.charge_id, x.credits, x.amount, x.currency, x.failure_code,
           x.failure_message, x.next_action_json, x.created_at_ms, x.completed_at_ms, x.replayed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purchase_request& x) {
  return f(caf::meta::type_name("purchase_request"), x.user_id, x.package_id, x.gateway, x.method,
           x.card_token, x.return_uri, x.idempotency_key, x.request_sha256, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, settle_request& x) {
  return f(caf::meta::type_name("settle_request"), x.gateway, x.charge_id, x.metadata_purchase_id,
           x.charge_status, x.paid, x.amount, x.currency, x.failure_code, x.failure_message,
           x.cause, x.request_id);
}

}  // namespace tally
