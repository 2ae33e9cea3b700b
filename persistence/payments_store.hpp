#pragma once
// Payments rows (payments schema): packages, purchases and the Idempotency-Key
// records of POST /v1/purchases. Blocking; called only from the purchase
// actor's detached DB workers. Functions throw libpqxx exceptions; callers
// convert them with to_errc() (pg_session::run). Every credit-relevant change
// appends its audit record in the same transaction (invariant 7).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/payment_records.hpp"
#include "domain/payments.hpp"

namespace tally::persistence {

// Packages, ordered by price. `active_only`: what GET /v1/packages shows.
std::vector<package_record> list_packages(pqxx::transaction_base& tx, bool active_only);

std::optional<package_record> find_package(pqxx::transaction_base& tx, const std::string& id);

// Inserts `change` (is_create, every field set) under `change.id`. Returns
// false when the id is taken.
bool insert_package(pqxx::transaction_base& tx, const package_change& change);

// Applies the `has_*` fields of `change`; nullopt when there is no such package.
std::optional<package_record> update_package(pqxx::transaction_base& tx,
                                             const package_change& change);

enum class begin_status : uint8_t {
  begun,              // a new pending purchase: call the gateway
  resumed,            // the key's first attempt died: reconcile, then call the gateway
  replayed,           // the key was answered before: `begun.view`, `begun.error_code`
  key_reused,         // same key, different request
  key_in_flight,      // the first request with the key is still running
  package_not_found,  // unknown or inactive package: nothing recorded
};

struct begin_result {
  begin_status status = begin_status::begun;
  purchase_begun begun;
};

// Records the purchase (pending, no charge yet) and its key record, claimed by
// this connection's backend, in one transaction; or answers from the key record.
// `purchase_id` is the id to use for a new purchase. REQUIRES: request fields
// validated by the route; `gateway` is a configured gateway name.
begin_result begin_purchase(pqxx::connection& connection, const purchase_request& request,
                            const std::string& gateway, const std::string& purchase_id);

// Records what the gateway call ended with: binds the charge (and next_action)
// or marks the purchase failed, stores the response for replay, drops the
// claim. Returns the purchase as answered, with `failed` true when the answer
// is 402 payment_failed.
purchase_view record_outcome(pqxx::connection& connection, const purchase_outcome& outcome,
                             bool& failed);

// Drops the key's claim without storing a response (the gateway was
// unreachable): a retry with the key resumes the purchase.
void release_claim(pqxx::connection& connection, const std::string& user_id,
                   const std::string& idempotency_key);

// The purchase `purchase_id`, only if it belongs to `user_id` (any user when
// `user_id` is empty).
std::optional<purchase_view> find_purchase(pqxx::transaction_base& tx, const std::string& user_id,
                                           const std::string& purchase_id);

// The purchase bound to (`gateway`, `charge_id`). A snapshot: settle decides
// on it, and every state change it leads to is a conditional UPDATE.
std::optional<purchase_view> find_purchase_by_charge(pqxx::transaction_base& tx,
                                                     const std::string& gateway,
                                                     const std::string& charge_id);

// Binds `charge_id` to a pending purchase that has none yet (reconciliation
// found the charge). Returns false when the purchase already has another charge.
bool bind_charge(pqxx::transaction_base& tx, const std::string& purchase_id,
                 const std::string& charge_id);

// pending/failed/expired -> completed with the ledger entry that credited it.
// Returns false when the purchase was already completed.
bool complete_purchase(pqxx::transaction_base& tx, const std::string& purchase_id,
                       const std::string& grant_entry_id);

// pending -> `status` (failed or expired) with the gateway's codes. Returns
// false when the purchase was no longer pending.
bool end_purchase(pqxx::transaction_base& tx, const std::string& purchase_id,
                  purchase_status status, const std::string& failure_code,
                  const std::string& failure_message);

// A page of the user's purchases, newest first, as a JSON object string:
// {"items":[<purchase_api_json>...], "next_created_at_us": N or 0, "next_id": "..."}.
std::string purchases_page_json(pqxx::transaction_base& tx, const purchase_query& query);

// Ids of purchases pending for at least `older_than_s`, oldest first.
std::vector<std::string> stale_purchases(pqxx::transaction_base& tx, int64_t older_than_s,
                                         int32_t limit);

// True when the key record of `purchase_id` is claimed by a live backend (a
// POST with it is still running somewhere).
bool purchase_claim_alive(pqxx::transaction_base& tx, const std::string& purchase_id);

// Deletes answered or abandoned key records older than `older_than_s`, at most
// `limit`. Returns how many.
int64_t prune_idempotency_keys(pqxx::transaction_base& tx, int64_t older_than_s, int64_t limit);

// purchase_view <-> the JSON kept in a page and in the key record.
std::string purchase_record_json(const purchase_view& view);
purchase_view purchase_from_record_json(const std::string& text);

}  // namespace tally::persistence
