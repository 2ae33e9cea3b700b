// GET /v1/admin/reconcile and `tally reconcile` (DESIGN invariant 2) on a ledger written
// straight into Postgres, big enough to span several of the reconciler's pages
// (persistence/reconcile_store.hpp): clean, then each kind of corruption is found on whichever
// page it sits, page boundaries included, and nothing else is reported.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "persistence/reconcile_store.hpp"
#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::engine_fixture;
using tally::test::pg_query;
using tally::test::run_reconcile_command;

constexpr int64_t account_count = 12'000;  // a little over two pages
static_assert(account_count >
              2 * static_cast<int64_t>(tally::persistence::reconcile_page_accounts));

json http_report(const engine_fixture& fixture) {
  auto client = fixture.client();
  client.set_timeout(std::chrono::seconds(120));
  auto response = client.get("/v1/admin/reconcile", fixture.admin_headers());
  INFO(response);
  REQUIRE(response.status == 200);
  return response.json();
}

// account id -> the fields reported for it.
std::map<std::string, std::set<std::string>> fields_by_account(const json& report) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& m : report["mismatches"]) {
    out[m["account_id"].get<std::string>()].insert(m["field"].get<std::string>());
  }
  return out;
}

}  // namespace

TEST_CASE("reconcile finds each corruption on any page and reports nothing else",
          "[integration][reconcile]") {
  engine_fixture fixture;
  const std::string& url = fixture.database.url();
  // Every account: a grant of 5 and a spend of 2, projection available 3 at seq 2.
  pg_query(url,
           "INSERT INTO ledger.accounts (account_id, available, reserved, last_seq) "
           "SELECT md5('acct' || i)::uuid, 3, 0, 2 FROM generate_series(1, " +
               std::to_string(account_count) +
               ") i; "
               "INSERT INTO ledger.entries (account_id, seq, entry_id, kind, amount, "
               "  delta_available, delta_reserved, available_after, reserved_after) "
               "SELECT md5('acct' || i)::uuid, s.seq, gen_random_uuid(), s.kind, s.amount, "
               "  s.delta, 0, s.after, 0 FROM generate_series(1, " +
               std::to_string(account_count) +
               ") i, (VALUES (1, 'grant', 5, 5, 5), (2, 'spend', 2, -2, 3)) "
               "  AS s(seq, kind, amount, delta, after)");

  SECTION("a clean ledger") {
    const json report = http_report(fixture);
    CHECK(report["ok"] == true);
    CHECK(report["mismatches"].empty());
    CHECK(report["accounts_checked"].get<int64_t>() == account_count);
    const auto [exit_status, output] = run_reconcile_command(fixture);
    INFO(output);
    CHECK(exit_status == 0);
    CHECK(output.find("\"accounts_checked\":" + std::to_string(account_count)) !=
          std::string::npos);
  }

  SECTION("five corruptions on three pages, two at a page boundary") {
    std::vector<std::string> ids;
    for (const auto& row : pg_query(url,
                                    "SELECT account_id::text FROM ledger.accounts "
                                    "ORDER BY account_id")) {
      ids.push_back(row[0].as<std::string>());
    }
    REQUIRE(static_cast<int64_t>(ids.size()) == account_count);
    const std::size_t page = tally::persistence::reconcile_page_accounts;
    const std::string projection_off = ids.front();       // page 1, first account
    const std::string gap = ids[page - 1];                // page 1, last account
    const std::string hold_uncovered = ids[page];         // page 2, first account
    const std::string lot_overdrawn = ids[2 * page + 7];  // page 3
    const std::string bad_after = ids.back();             // last page, last account
    pg_query(url, "UPDATE ledger.accounts SET available = 4 WHERE account_id = '" + projection_off +
                      "'");
    pg_query(url, "DELETE FROM ledger.entries WHERE account_id = '" + gap + "' AND seq = 1");
    pg_query(url,
             "INSERT INTO ledger.reservations (reservation_id, account_id, amount, status, "
             "expires_at, lots) VALUES (gen_random_uuid(), '" +
                 hold_uncovered +
                 "', 2, 'pending', now() + interval '1 day', "
                 "'[{\"lot_id\": \"9a1b2c3d-0000-4000-8000-000000000001\", \"amount\": 2}]')");
    // An expiring grant's lot claiming more credits than the account has available.
    pg_query(url,
             "INSERT INTO ledger.credit_lots (lot_id, account_id, grant_seq, amount, remaining, "
             "expires_at) VALUES (gen_random_uuid(), '" +
                 lot_overdrawn + "', 1, 10, 10, now() + interval '1 day')");
    pg_query(url, "UPDATE ledger.entries SET available_after = 9 WHERE account_id = '" + bad_after +
                      "' AND seq = 2");

    const json report = http_report(fixture);
    INFO(report.dump());
    CHECK(report["ok"] == false);
    CHECK(report["accounts_checked"].get<int64_t>() == account_count);
    const auto found = fields_by_account(report);
    CHECK(found.size() == 5);  // nothing reported for the 11,995 sound accounts
    REQUIRE(found.count(projection_off) == 1);
    REQUIRE(found.count(gap) == 1);
    REQUIRE(found.count(hold_uncovered) == 1);
    REQUIRE(found.count(bad_after) == 1);
    REQUIRE(found.count(lot_overdrawn) == 1);
    CHECK(found.at(projection_off) == std::set<std::string>{"available"});
    CHECK(found.at(gap).count("seq_gap") == 1);
    CHECK(found.at(hold_uncovered) ==
          std::set<std::string>{"pending_reservations", "reserved_lot_credits"});
    CHECK(found.at(lot_overdrawn) == std::set<std::string>{"available_lot_credits"});
    CHECK(found.at(bad_after).count("available_after") == 1);
    for (const auto& m : report["mismatches"]) {
      if (m["account_id"] == projection_off) {
        CHECK(m["journal"] == 3);
        CHECK(m["projection"] == 4);
      }
      if (m["account_id"] == hold_uncovered) {
        CHECK(m["journal"] == 2);  // held by pending reservations
        CHECK(m["projection"] == 0);
      }
    }

    const auto [exit_status, output] = run_reconcile_command(fixture);
    INFO(output);
    CHECK(exit_status == 3);
    for (const auto& id : {projection_off, gap, hold_uncovered, lot_overdrawn, bad_after}) {
      CHECK(output.find(id) != std::string::npos);
    }
  }
}
