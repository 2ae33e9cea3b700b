#pragma once
// Reconcile (DESIGN invariant 2) over the whole ledger: every account's journal
// replayed against its projection and its pending reservations. Shared by
// `tally reconcile` and GET /v1/admin/reconcile (actors/reconciler.hpp).
//
// Reads a page of accounts at a time, each page in its own repeatable-read
// snapshot (entries and projection agree at commit points), and streams the
// page's entries in (account, seq) order through domain/reconcile's
// account_replay: memory is bounded by one page, whatever the ledger's size.

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>

#include <pqxx/pqxx>

namespace tally::persistence {

inline constexpr std::size_t reconcile_page_accounts = 5'000;
inline constexpr std::size_t reconcile_mismatches_max = 1'000;

// Also checked per account: the credits of its expiring-grant lots (ledger.credit_lots) are
// part of `available` and the lot credits its pending holds took are part of `reserved`, never
// more (fields "available_lot_credits", "reserved_lot_credits": journal = the lots' sum,
// projection = the balance field).
//
// Returns the API's report, `{ok, accounts_checked, mismatches:[{account_id, field, journal,
// projection}]}`, as a JSON object string; mismatches listed are bounded (the accounts checked
// are not). Returns nullopt when `cancelled` (checked between pages) turns true: the engine is
// stopping and a partial report must not pass for a clean one.
std::optional<std::string> reconcile_report_json(pqxx::connection& connection,
                                                 const std::atomic<bool>* cancelled = nullptr);

}  // namespace tally::persistence
