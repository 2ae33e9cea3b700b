#pragma once
// The payments inbox (migrations/0007_payments_inbox.sql): durable storage of
// gateway webhook events between the receiver's 200 and their verification.
// Every function runs inside the caller's transaction; the caller commits.
//
// Claiming uses FOR UPDATE SKIP LOCKED plus a lease, so any number of engine
// nodes can poll the same table: a row is verified by one claimant at a time,
// and a claimant that dies mid-way loses the row when its lease runs out.
// Outcomes are written only by the current lease owner.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/webhooks.hpp"

namespace tally::persistence {

// Inserts the event unless (gateway, event_id) is already stored; either way
// returns the stored row's id and status (`duplicate` when it was there).
inbox_receipt insert_inbox(pqxx::transaction_base& tx, const inbox_insert& event);

// Parks processing rows whose lease ran out after `attempts_max` attempts (a
// verification that keeps crashing the verifier must not loop forever).
// Returns how many were parked.
int park_exhausted_leases(pqxx::transaction_base& tx, int32_t attempts_max);

// Claims up to `batch_max` due rows (received and due, or processing with an
// expired lease), marks them processing under `lease_owner` until now + lease,
// and counts the attempt. Oldest due first.
// REQUIRES: batch_max >= 1, lease > 0.
std::vector<inbox_event> claim_inbox(pqxx::transaction_base& tx, int32_t batch_max,
                                     std::chrono::milliseconds lease,
                                     const std::string& lease_owner);

// The outcome of one attempt, written by the lease owner.
struct inbox_outcome {
  webhooks::inbox_status status = webhooks::inbox_status::received;
  std::chrono::milliseconds retry_in{0};  // status received: the next claim is due then
  std::string last_error;                 // truncated to 500 bytes
  std::string purchase_id;
  std::string charge_id;
};

// Records `outcome` for row `id` if `lease_owner` still holds it. Returns false
// when the lease was lost (another claimant took over: its outcome counts).
bool finish_inbox(pqxx::transaction_base& tx, const std::string& id, const std::string& lease_owner,
                  const inbox_outcome& outcome);

// One page of the admin list (newest first, then by id), as API JSON objects
// without bodies. `next` is set when more rows follow.
struct inbox_page {
  std::vector<nlohmann::json> items;
  bool has_more = false;
  int64_t last_created_us = 0;
  std::string last_id;
};
inbox_page list_inbox(pqxx::transaction_base& tx, const inbox_query& query);

// Admin retry: a parked row becomes received and due now, attempts reset.
// Returns the row (API JSON) and whether it was retried; nullopt when no row
// has that id.
std::optional<std::pair<nlohmann::json, bool>> retry_inbox(pqxx::transaction_base& tx,
                                                           const std::string& id);

}  // namespace tally::persistence
