#pragma once
// Ledger records: plain values exchanged between the ledger actors, the HTTP
// layer and persistence (see actors/ledger.hpp for who sends what). They carry
// `inspect` so CAF can copy them as message payloads.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace tally {

// A request to move credits on one account. `kind` is a domain entry_kind.
struct ledger_request {
  std::string account_id;
  uint8_t kind = 0;
  int64_t amount = 0;             // spend/grant/reserve: credits; commit: credits to commit
  bool commit_all = true;         // commit: no amount given, commit everything reserved
  std::string reservation_id;     // commit/release/expire
  int64_t ttl_s = 0;              // reserve
  std::string idempotency_key;    // "<endpoint>:<client key>", empty when none
  std::string request_sha256;     // fingerprint of the request for key reuse checks
  std::string reference_type;
  std::string reference_id;
  std::string metadata_json;      // a JSON object or empty
  std::string actor;              // audit: 'user:<id>', 'admin', 'system'
  std::string request_id;         // audit
  int64_t expires_at_ms = 0;      // grant: > 0 makes it an expiring credit lot
};

// An expiring grant's credits (domain/credit_lots.hpp): lot_id is the grant's entry id;
// `remaining` is the part of the lot currently in the account's `available`.
struct credit_lot {
  std::string lot_id;
  int64_t amount = 0;     // granted
  int64_t remaining = 0;  // 0..amount
  int64_t expires_at_ms = 0;
  int64_t seq = 0;  // the grant entry's seq: the burn-order tie-break (oldest first)
};

// `amount` credits of lot `lot_id`, held by a reservation (its allocation).
struct lot_share {
  std::string lot_id;
  int64_t amount = 0;
};

// A journal entry moved a lot's remaining from `remaining_before` to `remaining_after`; the
// writer checks the stored row still holds `remaining_before`.
struct lot_change {
  std::string lot_id;
  int64_t remaining_before = 0;
  int64_t remaining_after = 0;
};

// The answer to a mutation: the journal entry and the account after it, plus
// the reservation it touched (if any).
struct ledger_receipt {
  std::string entry_id;
  int64_t seq = 0;
  uint8_t kind = 0;
  int64_t amount = 0;
  int64_t available = 0;
  int64_t reserved = 0;
  std::string reservation_id;
  std::string reservation_status;
  int64_t reservation_amount = 0;
  int64_t committed_amount = 0;
  int64_t expires_at_ms = 0;
  bool replayed = false;
};

struct balance_view {
  int64_t available = 0;
  int64_t reserved = 0;
  int64_t last_seq = 0;
  int64_t updated_at_ms = 0;
};

// One entry for the journal writer: the whole effect of one mutation.
struct journal_item {
  std::string account_id;
  std::string entry_id;
  int64_t seq = 0;  // the account's last_seq must be seq - 1 when this is written
  uint8_t kind = 0;
  int64_t amount = 0;
  int64_t delta_available = 0;
  int64_t delta_reserved = 0;
  int64_t available_after = 0;
  int64_t reserved_after = 0;
  std::string reference_type;
  std::string reference_id;
  std::string idempotency_key;
  std::string request_sha256;
  std::string metadata_json;
  // Reservation effect: 0 none, 1 create (pending), 2 finish (committed/released/expired).
  uint8_t reservation_op = 0;
  std::string reservation_id;
  int64_t reservation_amount = 0;
  int64_t committed_amount = 0;
  std::string reservation_status;
  int64_t expires_at_ms = 0;
  std::string actor;
  std::string request_id;
  // Credit lots: > 0 when this entry (an expiring grant) creates lot `entry_id` with `amount`
  // credits; the lots whose remaining it changes (in order); and, for a reserve, the lot
  // credits the new reservation holds (its allocation; the perpetual part is implicit).
  int64_t lot_expires_at_ms = 0;
  std::vector<lot_change> lot_changes;
  std::vector<lot_share> reservation_lots;
};

struct journal_ack {
  int64_t seq = 0;
  int64_t committed_at_ms = 0;
};

struct pending_reservation {
  std::string reservation_id;
  int64_t amount = 0;
  int64_t expires_at_ms = 0;
  std::vector<lot_share> lots;  // its allocation, in burn order (perpetual part implicit)
};

// What a ledger actor loads when it starts: the projection and its holds.
struct account_snapshot {
  int64_t available = 0;
  int64_t reserved = 0;
  int64_t last_seq = 0;
  int64_t updated_at_ms = 0;
  std::vector<pending_reservation> reservations;
  // Lots with remaining > 0 or held by a pending reservation.
  std::vector<credit_lot> lots;
};

// A reservation as stored (GET /v1/credits/reservations/{id}).
struct reservation_row {
  std::string reservation_id;
  std::string account_id;
  int64_t amount = 0;
  int64_t committed_amount = 0;
  std::string status;
  int64_t expires_at_ms = 0;
};

// A page query over an account's journal (GET /v1/credits/ledger).
struct entries_query {
  std::string account_id;
  int64_t before_seq = 0;  // 0: from the newest
  int limit = 20;
  std::string kind;  // empty: every kind
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ledger_request& x) {
  return f(caf::meta::type_name("ledger_request"), x.account_id, x.kind, x.amount, x.commit_all,
           x.reservation_id, x.ttl_s, x.idempotency_key, x.request_sha256, x.reference_type,
           x.reference_id, x.metadata_json, x.actor, x.request_id, x.expires_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, credit_lot& x) {
  return f(caf::meta::type_name("credit_lot"), x.lot_id, x.amount, x.remaining, x.expires_at_ms,
           x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lot_share& x) {
  return f(caf::meta::type_name("lot_share"), x.lot_id, x.amount);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lot_change& x) {
  return f(caf::meta::type_name("lot_change"), x.lot_id, x.remaining_before, x.remaining_after);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ledger_receipt& x) {
  return f(caf::meta::type_name("ledger_receipt"), x.entry_id, x.seq, x.kind, x.amount,
           x.available, x.reserved, x.reservation_id, x.reservation_status, x.reservation_amount,
           x.committed_amount, x.expires_at_ms, x.replayed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balance_view& x) {
  return f(caf::meta::type_name("balance_view"), x.available, x.reserved, x.last_seq,
           x.updated_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_item& x) {
  return f(caf::meta::type_name("journal_item"), x.account_id, x.entry_id, x.seq, x.kind,
           x.amount, x.delta_available, x.delta_reserved, x.available_after, x.reserved_after,
           x.reference_type, x.reference_id, x.idempotency_key, x.request_sha256,
           x.metadata_json, x.reservation_op, x.reservation_id, x.reservation_amount,
           x.committed_amount, x.reservation_status, x.expires_at_ms, x.actor, x.request_id,
           x.lot_expires_at_ms, x.lot_changes, x.reservation_lots);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_ack& x) {
  return f(caf::meta::type_name("journal_ack"), x.seq, x.committed_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pending_reservation& x) {
  return f(caf::meta::type_name("pending_reservation"), x.reservation_id, x.amount,
           x.expires_at_ms, x.lots);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_snapshot& x) {
  return f(caf::meta::type_name("account_snapshot"), x.available, x.reserved, x.last_seq,
           x.updated_at_ms, x.reservations, x.lots);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reservation_row& x) {
  return f(caf::meta::type_name("reservation_row"), x.reservation_id, x.account_id, x.amount,
           x.committed_amount, x.status, x.expires_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entries_query& x) {
  return f(caf::meta::type_name("entries_query"), x.account_id, x.before_seq, x.limit, x.kind);
}

}  // namespace tally
