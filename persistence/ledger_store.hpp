#pragma once
// Ledger rows (ledger schema): the group-commit write of journal batches and
// the read side (loads, lookups, pages, expiry scan; reconcile is in reconcile_store.hpp).
// Blocking; called only from the ledger's detached writer and reader actors. Functions throw
// libpqxx exceptions; callers convert them with to_errc().

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/ledger_records.hpp"

namespace tally::persistence {

enum class append_outcome : uint8_t {
  committed = 0,
  sequence_conflict,  // the account's last_seq was not seq - 1: reload and retry
  duplicate_key,      // the idempotency key is already in the journal: look it up
};

// Writes `items` (several accounts, each account's items in seq order and
// contiguous) in ONE transaction: account projections updated conditionally
// on last_seq, entries, reservations and audit records inserted with one
// multi-row statement each. An account whose condition fails (or that holds a
// duplicate key) is left out whole; the others commit. Returns one outcome
// per item. Throws when the transaction itself fails (then nothing committed).
std::vector<append_outcome> write_journal_batch(pqxx::connection& connection,
                                                const std::vector<journal_item>& items);

// Creates the account row if missing and returns its projection, its pending
// reservations (with their lot allocations) and its credit lots that still matter.
account_snapshot load_account(pqxx::connection& connection, const std::string& account_id);

// Creates the account row if missing. Returns true.
bool open_account(pqxx::connection& connection, const std::string& account_id);

// The receipt of the committed entry holding `idempotency_key` on the account,
// and the request fingerprint stored with it; nullopt when there is none.
std::optional<std::pair<ledger_receipt, std::string>> find_keyed_entry(
    pqxx::connection& connection, const std::string& account_id,
    const std::string& idempotency_key);

std::optional<reservation_row> find_reservation(pqxx::connection& connection,
                                                const std::string& account_id,
                                                const std::string& reservation_id);

// A page of the account's entries, newest first, as a JSON object string:
// {"items":[...], "next_before_seq": N or 0}.
std::string entries_page_json(pqxx::connection& connection, const entries_query& query);

// (account_id, reservation_id) pairs, flattened, of pending reservations whose
// expires_at has passed; at most `limit` pairs.
std::vector<std::string> expired_reservations(pqxx::connection& connection, int64_t limit);

// (account_id, lot_id) pairs, flattened, of credit lots with credits left whose
// expires_at has passed, earliest first; at most `limit` pairs.
std::vector<std::string> expired_lots(pqxx::connection& connection, int64_t limit);

}  // namespace tally::persistence
