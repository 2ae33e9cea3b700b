#pragma once
// Gateway webhooks in (DESIGN "Webhooks in"): the inbox state machine, the
// retry schedule and the decision an attempt's outcome leads to. Pure: no
// clock reads, no I/O; the caller passes time and the random draw.
//
//   received ──claim──> processing ──> verified   (the purchase was settled)
//      ^                    │      ──> ignored    (not about a charge)
//      │ retry due          │      ──> rejected   (forged or mismatched: audited)
//      └────────────────────┤      ──> parked     (attempts or window used up,
//                           │                      gateway not configured)
//   parked ──admin retry────┴──> received
//   processing whose lease ran out ──claim──> processing (a crashed verifier)

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <nlohmann/json_fwd.hpp>

#include "domain/error.hpp"

namespace tally::webhooks {

enum class inbox_status { received, processing, verified, rejected, parked, ignored };

const char* to_string(inbox_status status);
std::optional<inbox_status> parse_inbox_status(std::string_view text);

// True for states no verifier touches again on its own.
bool is_final(inbox_status status);

// True when the state machine above allows `from` → `to`.
bool can_transition(inbox_status from, inbox_status to);

// Only a parked event may be put back by an admin: a verified event is done,
// and a rejected one was forged or mismatched (retrying cannot make it true).
inline bool admin_retryable(inbox_status status) {
  return status == inbox_status::parked;
}

// The gateways with a receiver: "omise", "stripe", "sandbox".
bool is_gateway_name(std::string_view name);

// Event and object ids end up in gateway URL paths (GET /events/:id): only
// 1..id_bytes_max bytes of [A-Za-z0-9_.-] are accepted, and "." / ".." are not.
inline constexpr std::size_t id_bytes_max = 255;
bool is_safe_id(std::string_view id);

// What the receiver stores about a body besides its bytes. Never trusted for
// state: the verifier asks the gateway.
struct envelope {
  std::string event_id;   // evnt_... / evt_...
  std::string event_key;  // "charge.complete" / "payment_intent.succeeded" ("" when absent)
  std::string object_id;  // data.id (Omise) / data.object.id (Stripe), "" when absent
};

// Reads the envelope of a webhook body already parsed as JSON:
//   omise, sandbox: {"object":"event","id":..,"key":..,"data":{"id":..}}
//   stripe:         {"object":"event","id":..,"type":..,"data":{"object":{"id":..}}}
// errc::invalid_argument when it is not an event object or the id is not safe.
caf::expected<envelope> read_envelope(std::string_view gateway, const nlohmann::json& body);

// The data object types a verifier acts on: Omise charges, Stripe PaymentIntents.
// Anything else (refunds, customers, Stripe `charge` objects whose PaymentIntent
// has its own events) is stored and ignored.
bool is_settleable_object(std::string_view gateway, std::string_view object_type);

// How one verification attempt ended.
enum class attempt_result {
  settled,         // the purchase actor settled the retrieved charge
  not_a_charge,    // the event is about something the engine does not settle
  forged,          // the gateway does not know the event or charge, or disagrees with the body
  mismatch,        // settle refused: amount, currency or purchase id differ
  unknown_charge,  // no purchase is bound to the charge (yet)
  unavailable,     // the gateway, the database or the purchase actor did not answer
  not_configured,  // no keys for this gateway: stored, never credited
};

const char* to_string(attempt_result result);

// The attempt result a failed gateway call (retrieve event/charge) means.
attempt_result from_gateway_error(errc code);
// The attempt result a failed settle means.
attempt_result from_settle_error(errc code);

struct retry_settings {
  uint32_t attempts_max = 8;  // gateway/storage failures before parking
  std::chrono::milliseconds delay_min{1'000};
  std::chrono::milliseconds delay_max{300'000};
  // How long an event for a charge no purchase is bound to keeps being retried
  // (the purchase may not be committed yet), counted from reception.
  std::chrono::milliseconds unknown_charge_window{600'000};
};

// What the inbox row becomes after an attempt.
struct decision {
  inbox_status status = inbox_status::received;
  std::chrono::milliseconds retry_in{0};  // when status is received: delay before the next claim
  bool security_event = false;            // write an audit security record
};

// Decides the next state after attempt number `attempts` (1 = the first) on an
// event received `age` ago. `unit_random` in [0, 1) jitters the retry delay.
// REQUIRES: attempts >= 1, 0 <= unit_random < 1.
decision decide(attempt_result result, uint32_t attempts, std::chrono::milliseconds age,
                const retry_settings& settings, double unit_random);

}  // namespace tally::webhooks

namespace tally {

// Message records between the receivers, the inbox workers and the verifiers
// (actors/webhooks.hpp). Plain values with `inspect` for CAF.

// What a receiver stores (the body already checked: size, JSON, signature).
struct inbox_insert {
  std::string gateway;
  std::string event_id;
  std::string event_key;
  std::string object_id;
  std::string raw_body;
  std::string headers_json;  // headers of interest, a JSON object
  std::string source_ip;
  std::string request_id;
};

// The stored row's id and whether the event was already there.
struct inbox_receipt {
  std::string id;
  std::string status;
  bool duplicate = false;
};

// An event claimed for verification (status processing, leased to `lease_owner`).
struct inbox_event {
  std::string id;
  std::string gateway;
  std::string event_id;
  std::string object_id;  // what the body claims; compared with the gateway's answer
  std::string source_ip;
  std::string request_id;
  std::string lease_owner;
  int32_t attempts = 0;  // including this one
  int64_t age_ms = 0;    // since reception
};

// GET /v1/admin/webhooks/inbox.
struct inbox_query {
  std::string status;  // "" for every status
  int32_t limit = 20;
  int64_t after_created_us = 0;  // cursor: 0 for the first page
  std::string after_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_insert& x) {
  return f(caf::meta::type_name("inbox_insert"), x.gateway, x.event_id, x.event_key, x.object_id,
           x.raw_body, x.headers_json, x.source_ip, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_receipt& x) {
  return f(caf::meta::type_name("inbox_receipt"), x.id, x.status, x.duplicate);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_event& x) {
  return f(caf::meta::type_name("inbox_event"), x.id, x.gateway, x.event_id, x.object_id,
           x.source_ip, x.request_id, x.lease_owner, x.attempts, x.age_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbox_query& x) {
  return f(caf::meta::type_name("inbox_query"), x.status, x.limit, x.after_created_us, x.after_id);
}

}  // namespace tally
