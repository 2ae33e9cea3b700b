#include "persistence/reconcile_store.hpp"

#include <string_view>
#include <utility>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "domain/reconcile.hpp"

namespace tally::persistence {
namespace {

// The pages read by account id range, so each query is an index range scan:
// ledger.accounts by its key, ledger.entries by (account_id, seq) already in
// replay order, reservations by (account_id, status). ORDER BY names the
// table's column: the output column of the same name is text, and sorting by
// it would defeat the index.
constexpr const char* accounts_page_sql =
    "SELECT a.account_id::text, a.available, a.reserved, a.last_seq FROM ledger.accounts a "
    "WHERE $2 OR a.account_id > $1::uuid ORDER BY a.account_id LIMIT $3";
// Pending holds: the credits they hold, and how many of those are expiring-lot credits (their
// allocation, docs/ledger.md "Expiring grants").
constexpr const char* holds_sql =
    "SELECT r.account_id::text, sum(r.amount)::bigint, coalesce(sum((SELECT sum((l->>'amount')"
    "::bigint) FROM jsonb_array_elements(r.lots) l)), 0)::bigint FROM ledger.reservations r "
    "WHERE r.status = 'pending' AND r.account_id BETWEEN $1::uuid AND $2::uuid "
    "GROUP BY r.account_id";
// Lot credits still in `available`.
constexpr const char* lots_sql =
    "SELECT account_id::text, sum(remaining)::bigint FROM ledger.credit_lots "
    "WHERE remaining > 0 AND account_id BETWEEN $1::uuid AND $2::uuid GROUP BY account_id";
constexpr const char* entries_sql =
    "SELECT e.account_id::text, e.seq, e.delta_available, e.delta_reserved, e.available_after, "
    "  e.reserved_after FROM ledger.entries e WHERE e.account_id BETWEEN $1::uuid AND $2::uuid "
    "ORDER BY e.account_id, e.seq";

}  // namespace

std::optional<std::string> reconcile_report_json(pqxx::connection& connection,
                                                 const std::atomic<bool>* cancelled) {
  nlohmann::json mismatches = nlohmann::json::array();
  int64_t checked = 0;
  std::string after = "00000000-0000-0000-0000-000000000000";  // a valid uuid; unused on page 1
  bool first_page = true;
  auto report = [&](const std::string& account, const std::string& field, int64_t journal,
                    int64_t projection) {
    if (mismatches.size() < reconcile_mismatches_max) {
      mismatches.push_back({{"account_id", account},
                            {"field", field},
                            {"journal", journal},
                            {"projection", projection}});
    }
  };
  for (;;) {
    if (cancelled != nullptr && cancelled->load()) {
      return std::nullopt;
    }
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{connection};
    const auto accounts = tx.exec_params(accounts_page_sql, after, first_page,
                                         static_cast<int64_t>(reconcile_page_accounts));
    first_page = false;
    if (accounts.empty()) {
      break;
    }
    const std::string first = accounts.front()[0].as<std::string>();
    const std::string last = accounts.back()[0].as<std::string>();
    std::unordered_map<std::string, std::pair<int64_t, int64_t>> held;  // credits, lot credits
    for (const auto& row : tx.exec_params(holds_sql, first, last)) {
      held.emplace(row[0].as<std::string>(),
                   std::make_pair(row[1].as<int64_t>(), row[2].as<int64_t>()));
    }
    std::unordered_map<std::string, int64_t> lot_credits;
    for (const auto& row : tx.exec_params(lots_sql, first, last)) {
      lot_credits.emplace(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    // Merge join: accounts and entries both ascend by account id. Entries of an account
    // missing from the page cannot exist (foreign key); an account without entries replays
    // an empty journal.
    const auto entries = tx.exec_params(entries_sql, first, last);
    auto entry = entries.begin();
    for (const auto& a : accounts) {
      const std::string id = a[0].as<std::string>();
      account_replay replay;
      for (; entry != entries.end() && std::string_view(entry[0].c_str(), entry[0].size()) == id;
           ++entry) {
        replay.add({entry[1].as<int64_t>(), entry[2].as<int64_t>(), entry[3].as<int64_t>(),
                    entry[4].as<int64_t>(), entry[5].as<int64_t>()});
      }
      const account_projection projection{a[1].as<int64_t>(), a[2].as<int64_t>(),
                                          a[3].as<int64_t>()};
      for (const auto& m : replay.finish(projection)) {
        report(id, m.field, m.journal, m.projection);
      }
      const auto hold = held.find(id);
      const int64_t pending = hold == held.end() ? 0 : hold->second.first;
      if (pending != projection.credits_reserved) {
        report(id, "pending_reservations", pending, projection.credits_reserved);
      }
      // Lot credits are a part of the balance, never more than it.
      const int64_t held_lot_credits = hold == held.end() ? 0 : hold->second.second;
      if (held_lot_credits > projection.credits_reserved) {
        report(id, "reserved_lot_credits", held_lot_credits, projection.credits_reserved);
      }
      const auto lots = lot_credits.find(id);
      const int64_t available_lot_credits = lots == lot_credits.end() ? 0 : lots->second;
      if (available_lot_credits > projection.credits_available) {
        report(id, "available_lot_credits", available_lot_credits, projection.credits_available);
      }
      ++checked;
    }
    // Every entry belonged to an account of the page (same range, same snapshot).
    TALLY_ASSERT(entry == entries.end());
    after = last;
  }
  return nlohmann::json{
      {"ok", mismatches.empty()}, {"accounts_checked", checked}, {"mismatches", mismatches}}
      .dump();
}

}  // namespace tally::persistence
