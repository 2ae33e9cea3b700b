#pragma once
// Purchases (DESIGN "Purchases and gateways", API.md "Packages and purchases").
//
//   HTTP ──create/get──> purchase actor ──> gateways/ (detached workers)
//   webhook verifiers, sweep, GET-after-redirect ──settle/verify──> purchase actor
//
// `settle` is the ONE code path that moves a purchase's state (research
// gateways.md §4: the webhook/redirect race, stale events overwriting good
// ones). It acts only on a charge state retrieved from the gateway, matches it
// to the purchase by the bound charge id AND metadata purchase id, checks
// amount and currency against the price recorded on the purchase, then:
//   paid       → one ledger grant (idempotency key "<gateway>:<charge id>")
//                and pending → completed, in that order (resumable: a crash
//                between the two is finished by the next settle);
//   failed     → failed with the gateway's codes; expired → expired;
//   a terminal success is never downgraded by a later or stale state.
// Errors: errc::not_found (no purchase bound to that charge yet: retry later),
// errc::validation_failed (mismatch: amount, currency, purchase id — a
// security event for the caller to audit), storage_unavailable,
// gateway_unavailable, upstream_timeout.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/type_ids.hpp"

namespace tally::gateways {
class gateway;
}

namespace tally {

// Makes a client for "omise", "stripe" or "sandbox", or nullptr when that
// gateway has no keys configured (a purchase through it fails; its webhook
// events are stored, never credited). Purchase workers and webhook verifiers
// call it once per gateway, each on its own thread.
using gateway_factory = std::function<std::unique_ptr<gateways::gateway>(const std::string& name)>;

using purchase_actor = caf::typed_actor<
    // POST /v1/purchases. Errors: package_not_found, payment_failed (the
    // purchase is recorded as failed; the view carries failure_code/message),
    // raw_card_data_rejected, idempotency_key_reused/in_flight,
    // gateway_unavailable, storage_unavailable.
    caf::replies_to<purchase_atom, purchase_request>::with<purchase_view>,
    // The one writer of purchase state; see above.
    caf::replies_to<settle_atom, settle_request>::with<purchase_view>,
    // Re-fetches the purchase's charge from its gateway and settles it
    // (GET-after-redirect, the missed-webhook sweep). `purchase_id`.
    caf::replies_to<verify_atom, std::string>::with<purchase_view>,
    // Ids of purchases still pending `older_than_s` after creation, oldest
    // first, at most `limit` (the sweep).
    caf::replies_to<stale_atom, int64_t, int32_t>::with<std::vector<std::string>>>;

}  // namespace tally
