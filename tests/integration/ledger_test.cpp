// tests/integration/ledger_test.cpp: the ledger endpoints of API.md ("Credits", admin grants and
// reconcile) against the real engine: spends, the ledger page, reservations and their expiry,
// one hot account under 64 connections, concurrent Idempotency-Keys (and keys the account
// actor has forgotten), mixed load over many accounts, the same with actors evicted and
// passivated mid-write, a crash (SIGKILL) under load, two engines on one database (spends,
// reservations, and what one engine wrote seen by the other), a database stall longer than
// the actor timeout and, hidden behind [.pgdown] (ctest entry integration_ledger_pgdown, run
// alone), a PostgreSQL outage.
//
// After every case that moves credits, check_ledger_invariants() checks DESIGN invariants 1-4
// and 7 from the outside: reconcile (HTTP and the `tally reconcile` subcommand) is clean, no
// balance is negative, each account's journal is gapless up to its last_seq, every entry or
// reservation event the test saw acknowledged (2xx) is journaled, and audit.records holds
// exactly one 'credits.<kind>' row per entry. One engine (and database) per case.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::engine_options;
using tally::test::engine_process;
using tally::test::header_list;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_query;
using tally::test::pg_scalar;
using tally::test::run_reconcile_command;
using clock_type = std::chrono::steady_clock;

constexpr const char* password_ok = "correct horse battery";

// ---------------------------------------------------------------------------------------------
// Small helpers: users, credits calls, problem checks, figures.

using tally::test::test_user;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Prints a measured figure (ctest -V or running the binary shows it).
void report(const std::string& test, const std::string& line) {
  std::cout << "[ledger] " << test << ": " << line << std::endl;
}

std::string problem_code(const http_response& response) {
  if (response.header("content-type").rfind("application/problem+json", 0) != 0) {
    return "";
  }
  try {
    return response.json().value("code", "");
  } catch (const std::exception&) {
    return "";
  }
}

// "201" or "409 sequence_conflict": a response's status and, for a problem, its code.
std::string outcome_of(const http_response& response) {
  auto code = problem_code(response);
  return code.empty() ? std::to_string(response.status)
                      : std::to_string(response.status) + " " + code;
}

std::string describe_counts(const std::map<std::string, int64_t>& counts) {
  std::string out;
  for (const auto& [outcome, count] : counts) {
    out += (out.empty() ? "" : ", ") + outcome + ": " + std::to_string(count);
  }
  return out.empty() ? "none" : out;
}

void merge_counts(std::map<std::string, int64_t>& into,
                  const std::map<std::string, int64_t>& from) {
  for (const auto& [outcome, count] : from) {
    into[outcome] += count;
  }
}

// Checks a problem response: status, content type and `code`.
void check_problem(const http_response& response, int status, const std::string& code) {
  INFO(response);
  CHECK(response.status == status);
  CHECK(response.header("content-type").rfind("application/problem+json", 0) == 0);
  CHECK(problem_code(response) == code);
}

// A 422 validation_failed whose `errors` name `field`.
void check_invalid_field(const http_response& response, const std::string& field) {
  check_problem(response, 422, "validation_failed");
  INFO(response);
  bool named = false;
  const json body = response.json();
  for (const auto& error : body.value("errors", json::array())) {
    named = named || error.value("field", "") == field;
  }
  CHECK(named);
}

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "ledger");
}

// Registers `count` users over `thread_count` connections (argon2 makes each one slow).
std::vector<test_user> register_users(const engine_process& engine, int count, int thread_count) {
  std::vector<test_user> users(static_cast<std::size_t>(count));
  std::atomic<int> next{0};
  std::mutex failure_mutex;
  std::string failure;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&] {
      try {
        auto client = engine.client();
        for (int i = next++; i < count; i = next++) {
          users[static_cast<std::size_t>(i)] = register_user(client);
        }
      } catch (const std::exception& error) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failure = error.what();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (!failure.empty()) {
    throw std::runtime_error(failure);
  }
  return users;
}

// POST /v1/admin/users/{id}/grants; returns the entry id. Throws unless 201.
std::string grant(http_client& client, const std::string& user_id, int64_t amount) {
  return tally::test::grant_credits(client, user_id, amount, "ledger test");
}

http_response spend(http_client& client, const test_user& user, int64_t amount,
                    const std::string& key) {
  return client.post_json("/v1/credits/spend", {{"amount", amount}},
                          {bearer(user.token), {"Idempotency-Key", key}});
}

http_response reserve(http_client& client, const test_user& user, const json& body) {
  return client.post_json("/v1/credits/reservations", body, {bearer(user.token)});
}

http_response get_reservation(http_client& client, const test_user& user, const std::string& id) {
  return client.get("/v1/credits/reservations/" + id, {bearer(user.token)});
}

http_response commit(http_client& client, const test_user& user, const std::string& id,
                     std::optional<int64_t> amount) {
  const std::string target = "/v1/credits/reservations/" + id + "/commit";
  if (!amount) {
    return client.request("POST", target, "", {bearer(user.token)});
  }
  return client.post_json(target, {{"amount", *amount}}, {bearer(user.token)});
}

http_response release(http_client& client, const test_user& user, const std::string& id) {
  return client.request("POST", "/v1/credits/reservations/" + id + "/release", "",
                        {bearer(user.token)});
}

// {available, reserved} from GET /v1/credits/balance. Throws unless 200.
std::pair<int64_t, int64_t> balance_of(http_client& client, const test_user& user) {
  auto response = client.get("/v1/credits/balance", {bearer(user.token)});
  if (response.status != 200) {
    throw std::runtime_error("balance failed: " + response.describe());
  }
  const json body = response.json();
  return {body["available"].get<int64_t>(), body["reserved"].get<int64_t>()};
}

int64_t entry_count(const std::string& url, const test_user& user) {
  return pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE account_id = '" + user.id + "'");
}

// A Postgres array literal of uuids or plain words ('{a,b}'); callers pass only such values.
std::string sql_array(const std::vector<std::string>& values, const std::string& type) {
  std::string out = "'{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += (i == 0 ? "" : ",") + values[i];
  }
  return out + "}'::" + type + "[]";
}

std::string unique_key(const std::string& prefix) {
  static std::atomic<uint64_t> sequence{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++sequence);
}

// Lets `count` threads start the same instant (C++17 has no std::latch).
class start_gate {
 public:
  explicit start_gate(int count) : waiting_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--waiting_ == 0) {
      opened_.notify_all();
      return;
    }
    opened_.wait(lock, [this] { return waiting_ <= 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  int waiting_;
};

// Runs `body(thread_index)` on `thread_count` threads and joins them. Catch2 assertions are
// not thread-safe, so threads only record; an exception in one is rethrown here as a message.
void run_threads(int thread_count, const std::function<void(int)>& body) {
  std::mutex failure_mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      try {
        body(t);
      } catch (const std::exception& error) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failures.push_back(error.what());
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (!failures.empty()) {
    throw std::runtime_error(std::to_string(failures.size()) +
                             " worker thread(s) failed; first: " + failures.front());
  }
}

// ---------------------------------------------------------------------------------------------
// The invariants.

// What a test saw acknowledged (2xx): entry ids (grants, spends) and reservation events
// (kind, reservation id) whose responses carry no entry id.
struct acknowledged {
  std::vector<std::string> entry_ids;
  std::vector<std::pair<std::string, std::string>> reservation_events;

  void merge(const acknowledged& other) {
    entry_ids.insert(entry_ids.end(), other.entry_ids.begin(), other.entry_ids.end());
    reservation_events.insert(reservation_events.end(), other.reservation_events.begin(),
                              other.reservation_events.end());
  }
};


// DESIGN invariants 1-4 and 7, checked from the outside after a case moved credits.
void check_ledger_invariants(const engine_fixture& fixture, const acknowledged& seen) {
  const std::string& url = fixture.database.url();
  auto client = fixture.client();
  client.set_timeout(std::chrono::seconds(60));
  // 2: the journal replays to the projection (HTTP and the subcommand).
  auto response = client.get("/v1/admin/reconcile", fixture.admin_headers());
  INFO(response);
  REQUIRE(response.status == 200);
  const json report_body = response.json();
  CHECK(report_body.value("ok", false));
  CHECK(report_body["mismatches"].empty());
  CHECK(report_body["accounts_checked"].get<int64_t>() ==
        pg_scalar(url, "SELECT count(*) FROM ledger.accounts"));
  const auto [exit_status, output] = run_reconcile_command(fixture);
  INFO("tally reconcile: " << output);
  CHECK(exit_status == 0);
  CHECK(output.find("\"ok\":true") != std::string::npos);
  // 1: nothing negative (the CHECK constraints say so too; this is the outside view).
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.accounts WHERE available < 0 OR reserved < 0 "
                  "OR last_seq < 0") == 0);
  // The journal is gapless: per account, seq runs 1..last_seq.
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.accounts a LEFT JOIN (SELECT account_id, count(*) "
                  "AS n, max(seq) AS top FROM ledger.entries GROUP BY account_id) e "
                  "USING (account_id) WHERE coalesce(e.n, 0) <> a.last_seq "
                  "OR coalesce(e.top, 0) <> a.last_seq") == 0);
  // 3: every acknowledged entry is journaled.
  std::set<std::string> ids(seen.entry_ids.begin(), seen.entry_ids.end());
  CHECK(ids.size() == seen.entry_ids.size());  // no entry id acknowledged for two mutations
  if (!ids.empty()) {
    const std::vector<std::string> unique_ids(ids.begin(), ids.end());
    CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE entry_id = ANY(" +
                             sql_array(unique_ids, "uuid") + ")") ==
          static_cast<int64_t>(unique_ids.size()));
  }
  if (!seen.reservation_events.empty()) {
    std::vector<std::string> kinds;
    std::vector<std::string> reservation_ids;
    for (const auto& [kind, id] : seen.reservation_events) {
      kinds.push_back(kind);
      reservation_ids.push_back(id);
    }
    CHECK(pg_scalar(url, "SELECT count(*) FROM unnest(" + sql_array(kinds, "text") + ", " +
                             sql_array(reservation_ids, "text") +
                             ") AS t(kind, id) WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e "
                             "WHERE e.reference_type = 'reservation' AND e.reference_id = t.id "
                             "AND e.kind = t.kind)") == 0);
  }
  // 7: exactly one 'credits.<kind>' audit record per entry, and none without an entry.
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.entries e FULL JOIN (SELECT detail->>'entry_id' "
                  "AS entry_id, action, count(*) AS n FROM audit.records WHERE action LIKE "
                  "'credits.%' GROUP BY 1, 2) a ON a.entry_id = e.entry_id::text AND a.action = "
                  "'credits.' || e.kind WHERE e.entry_id IS NULL OR a.entry_id IS NULL "
                  "OR a.n <> 1") == 0);
}

}  // namespace

// =============================================================================================
// 1. Basics

TEST_CASE("grants, spends and the ledger page follow the contract and keep the ledger whole",
          "[integration][ledger]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string& url = fixture.database.url();
  acknowledged seen;
  auto user = register_user(client);

  seen.entry_ids.push_back(grant(client, user.id, 100));
  CHECK(balance_of(client, user) == std::make_pair(int64_t{100}, int64_t{0}));

  {  // spend: 201 with the entry and the balance after it
    auto response = spend(client, user, 10, unique_key("basic"));
    INFO(response);
    REQUIRE(response.status == 201);
    const json body = response.json();
    CHECK(body.value("entry_id", "").size() == 36);
    CHECK(body.value("amount", 0) == 10);
    CHECK(body.value("available", -1) == 90);
    CHECK(body.value("reserved", -1) == 0);
    seen.entry_ids.push_back(body["entry_id"].get<std::string>());
  }
  CHECK(balance_of(client, user) == std::make_pair(int64_t{90}, int64_t{0}));

  // Idempotency-Key is required on spend.
  check_problem(client.post_json("/v1/credits/spend", {{"amount", 1}}, {bearer(user.token)}), 400,
                "idempotency_key_required");

  // Insufficient: 402, and nothing changes.
  const int64_t entries_before = entry_count(url, user);
  check_problem(spend(client, user, 91, unique_key("basic")), 402, "insufficient_credits");
  CHECK(balance_of(client, user) == std::make_pair(int64_t{90}, int64_t{0}));
  CHECK(entry_count(url, user) == entries_before);

  // amount: zero, negative, a string, missing.
  for (const json& body : {json{{"amount", 0}}, json{{"amount", -5}}, json{{"amount", "5"}},
                           json{{"reason", "no amount"}}}) {
    INFO(body.dump());
    check_invalid_field(
        client.post_json("/v1/credits/spend", body,
                         {bearer(user.token), {"Idempotency-Key", unique_key("v")}}),
        "amount");
  }
  CHECK(entry_count(url, user) == entries_before);

  // Six entries: grant, spend 10, spend 1, 2, 3, grant 50.
  for (int64_t amount : {1, 2, 3}) {
    auto response = spend(client, user, amount, unique_key("basic"));
    REQUIRE(response.status == 201);
    seen.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
  }
  seen.entry_ids.push_back(grant(client, user.id, 50));
  CHECK(balance_of(client, user) == std::make_pair(int64_t{134}, int64_t{0}));

  // Newest first, with seq; entry ids are those the writes returned.
  auto first = client.get("/v1/credits/ledger", {bearer(user.token)});
  INFO(first);
  REQUIRE(first.status == 200);
  const json page = first.json();
  REQUIRE(page["items"].size() == 6);
  CHECK(page["has_more"] == false);
  CHECK(page["next_cursor"].is_null());
  for (std::size_t i = 0; i < 6; ++i) {
    const json& item = page["items"][i];
    CHECK(item["seq"].get<int64_t>() == static_cast<int64_t>(6 - i));
    CHECK(item["id"] == seen.entry_ids[5 - i]);
    for (const char* field :
         {"kind", "amount", "available_after", "reserved_after", "reference", "created_at"}) {
      CHECK(item.contains(field));
    }
  }
  CHECK(page["items"][0]["kind"] == "grant");
  CHECK(page["items"][0]["amount"] == 50);
  CHECK(page["items"][0]["available_after"] == 134);
  CHECK(page["items"][1]["kind"] == "spend");
  CHECK(page["items"][1]["amount"] == 3);

  // kind filter.
  auto spends = client.get("/v1/credits/ledger?kind=spend", {bearer(user.token)});
  INFO(spends);
  REQUIRE(spends.status == 200);
  std::vector<int64_t> spend_seqs;
  const json spend_page = spends.json();
  for (const auto& item : spend_page["items"]) {
    CHECK(item["kind"] == "spend");
    spend_seqs.push_back(item["seq"].get<int64_t>());
  }
  CHECK(spend_seqs == std::vector<int64_t>{5, 4, 3, 2});
  check_invalid_field(client.get("/v1/credits/ledger?kind=bogus", {bearer(user.token)}), "kind");

  // Cursor pagination: 3 pages of 2, no duplicates, no gaps.
  std::vector<int64_t> seqs;
  std::string target = "/v1/credits/ledger?limit=2";
  for (int page_index = 0; page_index < 3; ++page_index) {
    auto response = client.get(target, {bearer(user.token)});
    INFO(response);
    REQUIRE(response.status == 200);
    const json body = response.json();
    CHECK(body["items"].size() == 2);
    for (const auto& item : body["items"]) {
      seqs.push_back(item["seq"].get<int64_t>());
    }
    if (page_index < 2) {
      REQUIRE(body["has_more"] == true);
      REQUIRE(body["next_cursor"].is_string());
      target = "/v1/credits/ledger?limit=2&cursor=" + body["next_cursor"].get<std::string>();
    } else {
      CHECK(body["has_more"] == false);
      CHECK(body["next_cursor"].is_null());
    }
  }
  CHECK(seqs == std::vector<int64_t>{6, 5, 4, 3, 2, 1});
  check_problem(client.get("/v1/credits/ledger?cursor=not-a-cursor", {bearer(user.token)}), 400,
                "invalid_cursor");

  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 2. Reservations

TEST_CASE("reservations hold, commit in part, release, expire and stay private",
          "[integration][ledger]") {
  engine_fixture fixture;
  auto client = fixture.client();
  acknowledged seen;
  auto user = register_user(client);
  auto other = register_user(client);
  seen.entry_ids.push_back(grant(client, user.id, 100));

  // Reserve: 201 {id, amount, status pending, expires_at}; GET shows it pending.
  auto reserved = reserve(client, user, {{"amount", 10}});
  INFO(reserved);
  REQUIRE(reserved.status == 201);
  const json hold = reserved.json();
  const std::string hold_id = hold.value("id", "");
  CHECK(hold_id.size() == 36);
  CHECK(hold.value("amount", 0) == 10);
  CHECK(hold.value("status", "") == "pending");
  CHECK(hold.value("expires_at", "").size() >= 20);
  seen.reservation_events.emplace_back("reserve", hold_id);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{90}, int64_t{10}));
  {
    auto response = get_reservation(client, user, hold_id);
    INFO(response);
    REQUIRE(response.status == 200);
    CHECK(response.json()["status"] == "pending");
    CHECK(response.json()["committed_amount"] == 0);
  }

  // Commit 3 of 10: 7 return to available, nothing stays reserved.
  {
    auto response = commit(client, user, hold_id, 3);
    INFO(response);
    REQUIRE(response.status == 200);
    const json body = response.json();
    CHECK(body["status"] == "committed");
    CHECK(body["committed_amount"] == 3);
    CHECK(body["amount"] == 10);
    seen.reservation_events.emplace_back("commit", hold_id);
  }
  CHECK(balance_of(client, user) == std::make_pair(int64_t{97}, int64_t{0}));
  CHECK(get_reservation(client, user, hold_id).json()["status"] == "committed");
  check_problem(commit(client, user, hold_id, 3), 409, "reservation_not_pending");
  check_problem(release(client, user, hold_id), 409, "reservation_not_pending");

  // Release another: everything back.
  {
    auto second = reserve(client, user, {{"amount", 20}});
    REQUIRE(second.status == 201);
    const std::string id = second.json()["id"].get<std::string>();
    seen.reservation_events.emplace_back("reserve", id);
    CHECK(balance_of(client, user) == std::make_pair(int64_t{77}, int64_t{20}));
    auto response = release(client, user, id);
    INFO(response);
    REQUIRE(response.status == 200);
    CHECK(response.json()["status"] == "released");
    CHECK(response.json()["committed_amount"] == 0);
    seen.reservation_events.emplace_back("release", id);
    CHECK(get_reservation(client, user, id).json()["status"] == "released");
    CHECK(balance_of(client, user) == std::make_pair(int64_t{97}, int64_t{0}));
  }

  // Committing more than is reserved is 422 and leaves the hold pending; then commit all.
  {
    auto third = reserve(client, user, {{"amount", 5}});
    REQUIRE(third.status == 201);
    const std::string id = third.json()["id"].get<std::string>();
    seen.reservation_events.emplace_back("reserve", id);
    check_problem(commit(client, user, id, 6), 422, "validation_failed");
    check_invalid_field(commit(client, user, id, -1), "amount");
    CHECK(get_reservation(client, user, id).json()["status"] == "pending");
    auto response = commit(client, user, id, std::nullopt);
    INFO(response);
    REQUIRE(response.status == 200);
    CHECK(response.json()["committed_amount"] == 5);
    seen.reservation_events.emplace_back("commit", id);
    CHECK(balance_of(client, user) == std::make_pair(int64_t{92}, int64_t{0}));
  }

  // Unknown ids, and another user's reservation, are 404 for GET, commit and release.
  const std::string unknown = "3f0c2a5e-9b1d-4c7e-8a6f-0d2b4e6f8a1c";
  check_problem(get_reservation(client, user, unknown), 404, "reservation_not_found");
  check_problem(commit(client, user, unknown, std::nullopt), 404, "reservation_not_found");
  check_problem(release(client, user, unknown), 404, "reservation_not_found");
  check_problem(get_reservation(client, user, "not-a-uuid"), 404, "reservation_not_found");
  {
    auto mine = reserve(client, user, {{"amount", 4}});
    REQUIRE(mine.status == 201);
    const std::string id = mine.json()["id"].get<std::string>();
    seen.reservation_events.emplace_back("reserve", id);
    check_problem(get_reservation(client, other, id), 404, "reservation_not_found");
    check_problem(commit(client, other, id, 1), 404, "reservation_not_found");
    check_problem(release(client, other, id), 404, "reservation_not_found");
    CHECK(get_reservation(client, user, id).json()["status"] == "pending");
    CHECK(balance_of(client, user) == std::make_pair(int64_t{88}, int64_t{4}));
    REQUIRE(release(client, user, id).status == 200);
    seen.reservation_events.emplace_back("release", id);
  }

  // ttl out of range.
  check_invalid_field(reserve(client, user, {{"amount", 1}, {"ttl_seconds", 0}}), "ttl_seconds");
  check_invalid_field(reserve(client, user, {{"amount", 1}, {"ttl_seconds", 86401}}),
                      "ttl_seconds");
  check_invalid_field(reserve(client, user, {{"amount", 0}}), "amount");
  check_problem(reserve(client, user, {{"amount", 93}}), 402, "insufficient_credits");

  // Expiry: ttl 1 s, the engine's 1 s expiry tick releases it within a few seconds.
  CHECK(balance_of(client, user) == std::make_pair(int64_t{92}, int64_t{0}));
  const auto reserved_at = clock_type::now();
  auto short_lived = reserve(client, user, {{"amount", 7}, {"ttl_seconds", 1}});
  REQUIRE(short_lived.status == 201);
  const std::string short_id = short_lived.json()["id"].get<std::string>();
  seen.reservation_events.emplace_back("reserve", short_id);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{85}, int64_t{7}));
  std::string status;
  while (seconds_since(reserved_at) < 6.0) {
    status = get_reservation(client, user, short_id).json()["status"].get<std::string>();
    if (status != "pending") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double expired_after_s = seconds_since(reserved_at);
  report("reservations",
         "ttl 1 s reservation seen expired after " + std::to_string(expired_after_s) + " s");
  CHECK(status == "expired");
  CHECK(expired_after_s <= 3.5);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{92}, int64_t{0}));
  seen.reservation_events.emplace_back("expire", short_id);
  check_problem(commit(client, user, short_id, std::nullopt), 409, "reservation_not_pending");

  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 3. One hot account

TEST_CASE("64 connections spending 2000 x 1 from 1000 credits get exactly 1000 x 201",
          "[integration][ledger]") {
  constexpr int thread_count = 64;
  constexpr int request_count = 2000;
  constexpr int64_t credits = 1000;
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  acknowledged seen;
  seen.entry_ids.push_back(grant(client, user.id, credits));

  std::atomic<int> next{0};
  std::mutex mutex;
  std::map<std::string, int64_t> outcomes;
  const auto started = clock_type::now();
  run_threads(thread_count, [&](int) {
    auto connection = fixture.client();
    std::map<std::string, int64_t> mine;
    std::vector<std::string> entries;
    for (int i = next++; i < request_count; i = next++) {
      auto response = spend(connection, user, 1, "hot-" + std::to_string(i));
      ++mine[outcome_of(response)];
      if (response.status == 201) {
        entries.push_back(response.json()["entry_id"].get<std::string>());
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    merge_counts(outcomes, mine);
    seen.entry_ids.insert(seen.entry_ids.end(), entries.begin(), entries.end());
  });
  const double elapsed_s = seconds_since(started);
  report("hot account",
         std::to_string(request_count) + " spends over " + std::to_string(thread_count) +
             " connections in " + std::to_string(elapsed_s) + " s (" +
             std::to_string(request_count / elapsed_s) + " req/s): " + describe_counts(outcomes));
  INFO(describe_counts(outcomes));
  CHECK(outcomes["201"] == credits);
  CHECK(outcomes["402 insufficient_credits"] == request_count - credits);
  CHECK(outcomes.size() == 2);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{0}, int64_t{0}));
  CHECK(entry_count(fixture.database.url(), user) == 1 + credits);
  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 4. Idempotency

TEST_CASE("one Idempotency-Key sent on 16 connections at once spends once and then replays",
          "[integration][ledger]") {
  constexpr int thread_count = 16;
  engine_fixture fixture;
  const std::string& url = fixture.database.url();
  auto client = fixture.client();
  auto user = register_user(client);
  auto other = register_user(client);
  acknowledged seen;
  seen.entry_ids.push_back(grant(client, user.id, 100));
  seen.entry_ids.push_back(grant(client, other.id, 100));
  const std::string key = unique_key("same");

  start_gate gate(thread_count);
  std::mutex mutex;
  std::vector<http_response> responses;
  run_threads(thread_count, [&](int) {
    auto connection = fixture.client();
    if (connection.get("/health/live").status != 200) {  // connected before the gate opens
      throw std::runtime_error("engine not live");
    }
    gate.arrive_and_wait();
    auto response = spend(connection, user, 7, key);
    std::lock_guard<std::mutex> lock(mutex);
    responses.push_back(std::move(response));
  });

  std::map<std::string, int64_t> outcomes;
  std::set<std::string> entry_ids;
  int replayed = 0;
  for (const auto& response : responses) {
    ++outcomes[outcome_of(response)];
    if (response.status == 201) {
      entry_ids.insert(response.json()["entry_id"].get<std::string>());
      replayed += response.header("idempotent-replayed") == "true" ? 1 : 0;
    }
  }
  report("idempotency", "16 concurrent sends of one key: " + describe_counts(outcomes) + " (" +
                            std::to_string(replayed) + " of the 201s replayed)");
  INFO(describe_counts(outcomes));
  CHECK(outcomes["201"] + outcomes["409 idempotency_key_in_flight"] == thread_count);
  REQUIRE(entry_ids.size() == 1);
  const std::string entry_id = *entry_ids.begin();
  seen.entry_ids.push_back(entry_id);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE account_id = '" + user.id +
                           "' AND kind = 'spend'") == 1);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{93}, int64_t{0}));

  // The same key again: the first response, replayed.
  auto again = spend(client, user, 7, key);
  INFO(again);
  REQUIRE(again.status == 201);
  CHECK(again.header("idempotent-replayed") == "true");
  CHECK(again.json()["entry_id"] == entry_id);
  CHECK(again.json()["available"] == 93);

  // The same key with another body.
  check_problem(spend(client, user, 8, key), 422, "idempotency_key_reused");
  CHECK(balance_of(client, user) == std::make_pair(int64_t{93}, int64_t{0}));

  // Keys are per user.
  auto theirs = spend(client, other, 7, key);
  INFO(theirs);
  REQUIRE(theirs.status == 201);
  CHECK_FALSE(theirs.has_header("idempotent-replayed"));
  CHECK(theirs.json()["entry_id"] != entry_id);
  seen.entry_ids.push_back(theirs.json()["entry_id"].get<std::string>());
  CHECK(balance_of(client, other) == std::make_pair(int64_t{93}, int64_t{0}));

  // Keys on reservations and commits follow the same rules.
  auto third = register_user(client);
  seen.entry_ids.push_back(grant(client, third.id, 10));
  const std::string reserve_key = unique_key("reserve");
  const std::string commit_key = unique_key("commit");
  const header_list third_reserve{bearer(third.token), {"Idempotency-Key", reserve_key}};
  auto first_hold = client.post_json("/v1/credits/reservations", {{"amount", 10}}, third_reserve);
  REQUIRE(first_hold.status == 201);
  const std::string hold_id = first_hold.json()["id"].get<std::string>();
  seen.reservation_events.emplace_back("reserve", hold_id);
  const std::string commit_target = "/v1/credits/reservations/" + hold_id + "/commit";
  const header_list third_commit{bearer(third.token), {"Idempotency-Key", commit_key}};
  auto first_commit = client.post_json(commit_target, {{"amount", 4}}, third_commit);
  REQUIRE(first_commit.status == 200);
  seen.reservation_events.emplace_back("commit", hold_id);
  auto second_hold = client.post_json("/v1/credits/reservations", {{"amount", 6}},
                                      {bearer(third.token), {"Idempotency-Key", "drain-third"}});
  REQUIRE(second_hold.status == 201);
  seen.reservation_events.emplace_back("reserve", second_hold.json()["id"].get<std::string>());
  CHECK(balance_of(client, third) == std::make_pair(int64_t{0}, int64_t{6}));

  // After a restart the account actors have forgotten every key: the journal answers, also
  // when the balance could no longer pay for the request (a replay is not a new mutation).
  CHECK(fixture.engine.stop() == 0);  // a graceful stop with accounts resident
  fixture.engine.restart();
  auto client_after = fixture.client();
  auto drain = spend(client_after, user, 93, unique_key("drain"));
  REQUIRE(drain.status == 201);
  seen.entry_ids.push_back(drain.json()["entry_id"].get<std::string>());
  check_problem(spend(client_after, user, 8, key), 422, "idempotency_key_reused");
  auto after_restart = spend(client_after, user, 7, key);
  INFO(after_restart);
  CHECK(after_restart.status == 201);
  CHECK(after_restart.header("idempotent-replayed") == "true");
  CHECK(after_restart.json()["entry_id"] == entry_id);
  CHECK(balance_of(client_after, user) == std::make_pair(int64_t{0}, int64_t{0}));
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE kind = 'spend'") == 3);

  auto hold_again =
      client_after.post_json("/v1/credits/reservations", {{"amount", 10}}, third_reserve);
  INFO(hold_again);
  CHECK(hold_again.status == 201);
  CHECK(hold_again.header("idempotent-replayed") == "true");
  CHECK(hold_again.json()["id"] == hold_id);
  auto commit_again = client_after.post_json(commit_target, {{"amount", 4}}, third_commit);
  INFO(commit_again);
  CHECK(commit_again.status == 200);
  CHECK(commit_again.header("idempotent-replayed") == "true");
  CHECK(commit_again.json()["committed_amount"] == 4);
  check_problem(client_after.post_json(commit_target, {{"amount", 5}}, third_commit), 422,
                "idempotency_key_reused");
  CHECK(balance_of(client_after, third) == std::make_pair(int64_t{0}, int64_t{6}));
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE account_id = '" + third.id +
                           "'") == 4);  // grant, reserve, commit, reserve

  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 5. Mixed load over many accounts

namespace {

// What one mixed-load worker did, from its own 2xx responses.
struct mixed_tally {
  acknowledged seen;
  std::vector<std::string> short_lived;  // reservations left to expire
  std::map<std::string, int64_t> outcomes;
  int64_t spent = 0;
  int64_t committed = 0;
  int64_t operations = 0;
};

struct open_hold {
  std::size_t user_index;
  std::string id;
  int64_t amount;
};

// One worker: random spend / reserve / commit part / release / short-ttl reserve until
// `deadline`, on random accounts. Commits and releases only its own holds, so none is 409.
mixed_tally run_mixed_worker(const engine_process& engine, const std::vector<test_user>& users,
                             unsigned seed, clock_type::time_point deadline) {
  mixed_tally out;
  auto client = engine.client();
  std::mt19937 random(seed);
  std::vector<open_hold> holds;
  auto pick = [&random](std::size_t size) {
    return static_cast<std::size_t>(random() % static_cast<unsigned>(size));
  };
  auto between = [&random](int64_t low, int64_t high) {
    return low + static_cast<int64_t>(random() % static_cast<unsigned>(high - low + 1));
  };
  while (clock_type::now() < deadline) {
    ++out.operations;
    const std::size_t user_index = pick(users.size());
    const test_user& user = users[user_index];
    const auto roll = random() % 100;
    if (roll < 40) {
      const int64_t amount = between(1, 5);
      auto response = spend(client, user, amount, unique_key("mixed"));
      ++out.outcomes["spend " + outcome_of(response)];
      if (response.status == 201) {
        out.spent += amount;
        out.seen.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
      }
    } else if (roll < 60 || roll >= 90) {
      const bool is_short = roll >= 90;
      const int64_t amount = between(1, is_short ? 5 : 10);
      json body{{"amount", amount}, {"ttl_seconds", is_short ? 1 : 300}};
      auto response = reserve(client, user, body);
      ++out.outcomes[std::string(is_short ? "reserve ttl 1 " : "reserve ") + outcome_of(response)];
      if (response.status == 201) {
        const std::string id = response.json()["id"].get<std::string>();
        out.seen.reservation_events.emplace_back("reserve", id);
        if (is_short) {
          out.short_lived.push_back(id);
        } else {
          holds.push_back({user_index, id, amount});
        }
      }
    } else if (!holds.empty()) {
      const std::size_t index = pick(holds.size());
      const open_hold hold = holds[index];
      holds.erase(holds.begin() + static_cast<std::ptrdiff_t>(index));
      const test_user& owner = users[hold.user_index];
      if (roll < 75) {
        const int64_t amount = between(0, hold.amount);
        auto response = commit(client, owner, hold.id, amount);
        ++out.outcomes["commit " + outcome_of(response)];
        if (response.status == 200) {
          out.committed += response.json()["committed_amount"].get<int64_t>();
          out.seen.reservation_events.emplace_back("commit", hold.id);
        }
      } else {
        auto response = release(client, owner, hold.id);
        ++out.outcomes["release " + outcome_of(response)];
        if (response.status == 200) {
          out.seen.reservation_events.emplace_back("release", hold.id);
        }
      }
    }
  }
  return out;
}

// Registers `account_count` users, grants each 1000, runs `thread_count` mixed workers for
// `load_time`, waits 3 s for short reservations to expire, then checks that every credit is
// accounted for and the invariants hold. `label` prefixes the figures it reports.
void run_mixed_load(const engine_fixture& fixture, const std::string& label, int account_count,
                    int thread_count, std::chrono::seconds load_time) {
  constexpr int64_t credits = 1000;
  const std::string& url = fixture.database.url();

  auto started = clock_type::now();
  const auto users = register_users(fixture.engine, account_count, 8);
  report(label, std::to_string(account_count) + " users registered in " +
                    std::to_string(seconds_since(started)) + " s (8 threads)");
  acknowledged granted;
  started = clock_type::now();
  {
    std::mutex mutex;
    std::atomic<int> next{0};
    run_threads(8, [&](int) {
      auto client = fixture.client();
      for (int i = next++; i < account_count; i = next++) {
        auto entry = grant(client, users[static_cast<std::size_t>(i)].id, credits);
        std::lock_guard<std::mutex> lock(mutex);
        granted.entry_ids.push_back(entry);
      }
    });
  }
  report(label, std::to_string(account_count) + " grants in " +
                    std::to_string(seconds_since(started)) + " s");

  std::vector<mixed_tally> tallies(static_cast<std::size_t>(thread_count));
  started = clock_type::now();
  const auto deadline = started + load_time;
  run_threads(thread_count, [&](int t) {
    tallies[static_cast<std::size_t>(t)] =
        run_mixed_worker(fixture.engine, users, 1000u + static_cast<unsigned>(t), deadline);
  });
  const double load_s = seconds_since(started);
  mixed_tally total;
  total.seen = granted;
  for (const auto& one : tallies) {
    total.seen.merge(one.seen);
    total.short_lived.insert(total.short_lived.end(), one.short_lived.begin(),
                             one.short_lived.end());
    merge_counts(total.outcomes, one.outcomes);
    total.spent += one.spent;
    total.committed += one.committed;
    total.operations += one.operations;
  }
  report(label, std::to_string(total.operations) + " operations over " +
                    std::to_string(thread_count) + " connections in " + std::to_string(load_s) +
                    " s (" + std::to_string(static_cast<double>(total.operations) / load_s) +
                    " ops/s): " + describe_counts(total.outcomes));
  for (const auto& [outcome, count] : total.outcomes) {
    INFO(outcome << ": " << count);
    const bool expected = outcome.find(" 201") != std::string::npos ||
                          outcome.find(" 200") != std::string::npos ||
                          outcome.find(" 402 insufficient_credits") != std::string::npos;
    CHECK(expected);
  }

  // Short reservations expire within a few seconds; give the expiry tick 3 s.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int64_t overdue = pg_scalar(
      url,
      "SELECT count(*) FROM ledger.reservations WHERE status = 'pending' AND expires_at < now()");
  report(label, "pending reservations past expiry 3 s after the load: " + std::to_string(overdue) +
                    "; short-lived reservations: " + std::to_string(total.short_lived.size()));
  CHECK(overdue == 0);
  if (!total.short_lived.empty()) {
    CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.reservations WHERE reservation_id = ANY(" +
                             sql_array(total.short_lived, "uuid") + ") AND status <> 'expired'") ==
          0);
  }
  for (const auto& id : total.short_lived) {
    total.seen.reservation_events.emplace_back("expire", id);
  }

  // Every credit is accounted for: granted = held + committed + spent.
  const int64_t held = pg_scalar(url, "SELECT sum(available + reserved) FROM ledger.accounts");
  report(label, "granted " + std::to_string(credits * account_count) + ", spent " +
                    std::to_string(total.spent) + ", committed " + std::to_string(total.committed) +
                    ", held " + std::to_string(held));
  CHECK(held == credits * account_count - total.committed - total.spent);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.accounts") == account_count);
  check_ledger_invariants(fixture, total.seen);
}

}  // namespace

// The 1,000 accounts, registered over HTTP (argon2id: ~30 s of the case under ASan).
TEST_CASE("mixed spends and reservations over 1,000 accounts keep every credit accounted for",
          "[integration][ledger]") {
  engine_fixture fixture;
  run_mixed_load(fixture, "mixed load", 1000, 16, std::chrono::seconds(10));
}

// Actors stop while their writes are in flight (LRU eviction at 16 residents, passivation
// after 100 ms idle), so two incarnations of one account write through the same journal
// writer and reload while the other commits.
TEST_CASE("accounts evicted and passivated mid-write keep the journal whole",
          "[integration][ledger]") {
  engine_fixture fixture(
      tally::test::env_map{{"TALLY_LEDGER_RESIDENT_MAX", "16"}, {"TALLY_LEDGER_IDLE_MS", "100"}});
  run_mixed_load(fixture, "churn", 48, 8, std::chrono::seconds(5));
  CHECK(fixture.engine.is_running());
}

// =============================================================================================
// 6. A crash under load

namespace {

// One spend a load worker sent: its place in the global order and what came back.
struct spend_attempt {
  uint64_t order = 0;
  std::size_t user_index = 0;
  std::string key;
  int status = 0;  // 0: no response (the engine died first)
  std::string entry_id;
};

}  // namespace

TEST_CASE("a SIGKILL under load loses no acknowledged spend and never applies a key twice",
          "[integration][ledger]") {
  constexpr int account_count = 20;
  constexpr int thread_count = 8;
  constexpr std::size_t replay_count = 50;
  engine_fixture fixture;
  const std::string& url = fixture.database.url();
  const auto users = register_users(fixture.engine, account_count, 8);
  acknowledged seen;
  {
    auto client = fixture.client();
    for (const auto& user : users) {
      seen.entry_ids.push_back(grant(client, user.id, 1'000'000));
    }
  }

  std::atomic<uint64_t> order{0};
  std::atomic<bool> killed{false};
  std::mutex mutex;
  std::vector<spend_attempt> attempts;
  std::map<std::string, int64_t> outcomes;
  const auto started = clock_type::now();
  {
    // The load runs on worker threads; the kill must come from this (the forking) thread.
    std::vector<std::thread> workers;
    std::vector<std::string> failures(thread_count);
    for (int t = 0; t < thread_count; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937 random(77u + static_cast<unsigned>(t));
        std::vector<spend_attempt> mine;
        std::map<std::string, int64_t> counts;
        auto client = fixture.client();
        client.set_timeout(std::chrono::seconds(5));
        for (;;) {
          spend_attempt attempt;
          attempt.order = order++;
          attempt.user_index = static_cast<std::size_t>(random() % account_count);
          attempt.key = "crash-" + std::to_string(attempt.order);
          try {
            auto response = spend(client, users[attempt.user_index], 1, attempt.key);
            attempt.status = response.status;
            ++counts[outcome_of(response)];
            if (response.status == 201) {
              attempt.entry_id = response.json()["entry_id"].get<std::string>();
            }
          } catch (const std::exception& error) {
            if (!killed) {
              failures[static_cast<std::size_t>(t)] = error.what();
            }
            ++counts["no response"];
            mine.push_back(attempt);
            break;  // the engine is gone
          }
          mine.push_back(attempt);
        }
        std::lock_guard<std::mutex> lock(mutex);
        attempts.insert(attempts.end(), mine.begin(), mine.end());
        merge_counts(outcomes, counts);
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    killed = true;
    CHECK(fixture.engine.kill9() == 128 + 9);
    for (auto& worker : workers) {
      worker.join();
    }
    for (const auto& failure : failures) {
      INFO(failure);
      CHECK(failure.empty());
    }
  }
  const double load_s = seconds_since(started);
  std::sort(attempts.begin(), attempts.end(),
            [](const spend_attempt& a, const spend_attempt& b) { return a.order < b.order; });
  int64_t acknowledged_count = 0;
  for (const auto& attempt : attempts) {
    if (attempt.status == 201) {
      ++acknowledged_count;
      seen.entry_ids.push_back(attempt.entry_id);
    }
  }
  report("crash", std::to_string(attempts.size()) + " spends in " + std::to_string(load_s) +
                      " s before SIGKILL: " + describe_counts(outcomes));
  INFO(describe_counts(outcomes));
  CHECK(outcomes["201"] == acknowledged_count);
  CHECK(outcomes["201"] + outcomes["no response"] == static_cast<int64_t>(attempts.size()));

  const auto restarting = clock_type::now();
  fixture.engine.restart();
  report("crash", "restart to live in " + std::to_string(seconds_since(restarting)) + " s");
  const int64_t journaled_before_replay =
      pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE kind = 'spend'");
  report("crash", std::to_string(acknowledged_count) + " acknowledged, " +
                      std::to_string(journaled_before_replay) + " spends journaled");
  CHECK(journaled_before_replay >= acknowledged_count);
  CHECK(journaled_before_replay <= static_cast<int64_t>(attempts.size()));
  check_ledger_invariants(fixture, seen);

  // Replay the last 50 keys, including those whose response never came: each replays (the
  // same entry where one was acknowledged) or runs now, never a second time.
  auto client = fixture.client();
  const std::size_t first = attempts.size() > replay_count ? attempts.size() - replay_count : 0;
  std::map<std::string, int64_t> replay_outcomes;
  for (std::size_t i = first; i < attempts.size(); ++i) {
    const auto& attempt = attempts[i];
    auto response = spend(client, users[attempt.user_index], 1, attempt.key);
    INFO("key " << attempt.key << " first status " << attempt.status << ": " << response);
    const bool replayed = response.header("idempotent-replayed") == "true";
    ++replay_outcomes[std::string(attempt.status == 201 ? "acknowledged" : "unanswered") +
                      (replayed ? " -> replayed " : " -> ") + outcome_of(response)];
    REQUIRE(response.status == 201);
    const std::string entry_id = response.json()["entry_id"].get<std::string>();
    if (attempt.status == 201) {
      CHECK(replayed);
      CHECK(entry_id == attempt.entry_id);
    } else if (!replayed) {
      seen.entry_ids.push_back(entry_id);  // it runs now, for the first time
    }
    CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE account_id = '" +
                             users[attempt.user_index].id + "' AND idempotency_key = 'spend:" +
                             attempt.key + "' AND entry_id = '" + entry_id + "'") == 1);
  }
  report("crash", "replay of the last " + std::to_string(attempts.size() - first) +
                      " keys: " + describe_counts(replay_outcomes));
  CHECK(pg_query(url,
                 "SELECT account_id, idempotency_key FROM ledger.entries WHERE idempotency_key "
                 "IS NOT NULL GROUP BY account_id, idempotency_key HAVING count(*) > 1")
            .empty());
  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 7. Two engines on one database

TEST_CASE("two engines spending on the same accounts never overspend or corrupt the journal",
          "[integration][ledger]") {
  constexpr int account_count = 5;
  constexpr int threads_per_engine = 8;
  constexpr int64_t credits = 100;
  constexpr int spends_per_account = 300;
  constexpr int attempts_max = 200;  // per spend, counting 409 sequence_conflict / 503 retries
  engine_fixture fixture;
  const std::string& url = fixture.database.url();
  engine_options second_options;
  second_options.env = tally::test::fixture_env(fixture.database, fixture.run_dir);
  engine_process second(second_options);
  const std::vector<const engine_process*> engines{&fixture.engine, &second};

  const auto users = register_users(fixture.engine, account_count, account_count);
  acknowledged seen;
  {
    auto client = fixture.client();
    for (const auto& user : users) {
      seen.entry_ids.push_back(grant(client, user.id, credits));
    }
  }

  // Each engine gets half of every account's 300 spends.
  constexpr int spends_per_engine = account_count * spends_per_account / 2;
  std::vector<std::atomic<int>> next(engines.size());
  std::mutex mutex;
  std::map<std::string, int64_t> outcomes;                    // every response, retries included
  std::vector<std::set<std::string>> created(account_count);  // distinct entry ids per account
  int64_t fresh_201 = 0;                                      // 201 without Idempotent-Replayed
  int64_t gave_up = 0;
  const auto started = clock_type::now();
  run_threads(static_cast<int>(engines.size()) * threads_per_engine, [&](int t) {
    const std::size_t engine_index = static_cast<std::size_t>(t / threads_per_engine);
    auto client = engines[engine_index]->client();
    std::map<std::string, int64_t> counts;
    std::vector<std::pair<std::size_t, std::string>> entries;
    int64_t fresh = 0;
    int64_t abandoned = 0;
    for (int i = next[engine_index]++; i < spends_per_engine; i = next[engine_index]++) {
      const std::size_t account = static_cast<std::size_t>(i % account_count);
      const std::string key = "two-" + std::to_string(engine_index) + "-" + std::to_string(i);
      bool done = false;
      for (int attempt = 0; attempt < attempts_max && !done; ++attempt) {
        auto response = spend(client, users[account], 1, key);
        ++counts[outcome_of(response)];
        if (response.status == 201) {
          entries.emplace_back(account, response.json()["entry_id"].get<std::string>());
          fresh += response.header("idempotent-replayed") == "true" ? 0 : 1;
          done = true;
        } else if (response.status == 409 || response.status == 503) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));  // lost a race: retry
        } else {
          done = true;  // 402, or something unexpected (counted)
        }
      }
      abandoned += done ? 0 : 1;
    }
    std::lock_guard<std::mutex> lock(mutex);
    merge_counts(outcomes, counts);
    for (const auto& [account, entry] : entries) {
      created[account].insert(entry);
      seen.entry_ids.push_back(entry);
    }
    fresh_201 += fresh;
    gave_up += abandoned;
  });
  const double load_s = seconds_since(started);
  report("two engines", std::to_string(account_count * spends_per_account) + " spends in " +
                            std::to_string(load_s) + " s: " + describe_counts(outcomes) +
                            "; gave up after " + std::to_string(attempts_max) +
                            " attempts: " + std::to_string(gave_up));
  INFO(describe_counts(outcomes));
  CHECK(gave_up == 0);
  for (const auto& [outcome, count] : outcomes) {
    INFO(outcome);
    const int status = std::stoi(outcome.substr(0, 3));
    CHECK((status < 500 || status == 503));
    CHECK((status == 201 || status == 402 || status == 409 || status == 503));
  }
  std::size_t distinct = 0;
  for (int a = 0; a < account_count; ++a) {
    const auto& user = users[static_cast<std::size_t>(a)];
    INFO("account " << user.id);
    CHECK(created[static_cast<std::size_t>(a)].size() == static_cast<std::size_t>(credits));
    distinct += created[static_cast<std::size_t>(a)].size();
    CHECK(pg_scalar(url, "SELECT available FROM ledger.accounts WHERE account_id = '" + user.id +
                             "'") == 0);
    CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE account_id = '" + user.id +
                             "' AND kind = 'spend'") == credits);
  }
  const int64_t journaled = pg_scalar(url,
                                      "SELECT count(*) FROM ledger.entries WHERE kind = "
                                      "'spend'");
  CHECK(fresh_201 == journaled);
  CHECK(static_cast<int64_t>(distinct) == journaled);

  // Balances as each engine reports them (an engine's account actor answers from memory).
  for (std::size_t e = 0; e < engines.size(); ++e) {
    auto client = engines[e]->client();
    int stale = 0;
    for (const auto& user : users) {
      stale += balance_of(client, user) == std::make_pair(int64_t{0}, int64_t{0}) ? 0 : 1;
    }
    report("two engines", "engine " + std::to_string(e) + " reports a non-zero balance for " +
                              std::to_string(stale) + " of " + std::to_string(account_count) +
                              " drained accounts");
  }
  check_ledger_invariants(fixture, seen);
  auto second_client = second.client();
  auto second_report = second_client.get("/v1/admin/reconcile", fixture.admin_headers());
  REQUIRE(second_report.status == 200);
  CHECK(second_report.json()["ok"] == true);
}

namespace {

// Sends `send()` until it is not a lost race (409 sequence_conflict, 409
// idempotency_key_in_flight, 503), at most `attempts_max` times; the request carries an
// Idempotency-Key, so a retry never applies twice. Counts every answer in `counts`.
http_response send_until_settled(const std::function<http_response()>& send,
                                 std::map<std::string, int64_t>& counts, int attempts_max = 200) {
  http_response response;
  for (int attempt = 0; attempt < attempts_max; ++attempt) {
    response = send();
    const std::string outcome = outcome_of(response);
    ++counts[outcome];
    const bool lost_race = outcome == "409 sequence_conflict" ||
                           outcome == "409 idempotency_key_in_flight" || response.status == 503;
    if (!lost_race) {
      return response;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ++counts["gave up"];
  return response;
}

}  // namespace

TEST_CASE("an engine sees what another engine wrote to an account it holds in memory",
          "[integration][ledger]") {
  engine_fixture fixture;
  engine_options second_options;
  second_options.env = tally::test::fixture_env(fixture.database, fixture.run_dir);
  engine_process second(second_options);
  auto a = fixture.client();
  auto b = second.client();
  acknowledged seen;
  auto user = register_user(a);
  CHECK(balance_of(b, user) == std::make_pair(int64_t{0}, int64_t{0}));  // resident on B

  // Granted through A, spent through B: B must not refuse from its stale memory.
  seen.entry_ids.push_back(grant(a, user.id, 100));
  auto spent = spend(b, user, 5, unique_key("cross"));
  INFO(spent);
  REQUIRE(spent.status == 201);
  CHECK(spent.json()["available"] == 95);
  seen.entry_ids.push_back(spent.json()["entry_id"].get<std::string>());

  // Reserved through A (whose memory says 100), committed in part through B.
  auto hold = reserve(a, user, {{"amount", 10}});
  INFO(hold);
  REQUIRE(hold.status == 201);
  const std::string hold_id = hold.json()["id"].get<std::string>();
  seen.reservation_events.emplace_back("reserve", hold_id);
  auto committed = commit(b, user, hold_id, 4);
  INFO(committed);
  REQUIRE(committed.status == 200);
  CHECK(committed.json()["committed_amount"] == 4);
  seen.reservation_events.emplace_back("commit", hold_id);
  check_problem(release(a, user, hold_id), 409, "reservation_not_pending");

  // A's memory says 85 available; the database says 91.
  auto all = spend(a, user, 91, unique_key("cross"));
  INFO(all);
  REQUIRE(all.status == 201);
  CHECK(all.json()["available"] == 0);
  seen.entry_ids.push_back(all.json()["entry_id"].get<std::string>());
  check_problem(spend(b, user, 1, unique_key("cross")), 402, "insufficient_credits");
  CHECK(balance_of(a, user) == std::make_pair(int64_t{0}, int64_t{0}));
  CHECK(balance_of(b, user) == std::make_pair(int64_t{0}, int64_t{0}));

  // Reads: an engine answers GET /v1/credits/balance from its actor's memory.
  seen.entry_ids.push_back(grant(a, user.id, 50));
  const auto b_view = balance_of(b, user);
  report("cross-engine", "after a grant of 50 through A, B's balance reads available " +
                             std::to_string(b_view.first) + " (database: 50)");
  check_ledger_invariants(fixture, seen);
}

TEST_CASE("two engines reserving, committing and releasing on the same accounts agree",
          "[integration][ledger]") {
  constexpr int account_count = 5;
  constexpr int threads_per_engine = 8;
  constexpr int64_t credits = 10'000;
  constexpr auto load_time = std::chrono::seconds(4);
  engine_fixture fixture;
  const std::string& url = fixture.database.url();
  engine_options second_options;
  second_options.env = tally::test::fixture_env(fixture.database, fixture.run_dir);
  engine_process second(second_options);
  const std::vector<const engine_process*> engines{&fixture.engine, &second};
  const auto users = register_users(fixture.engine, account_count, account_count);
  acknowledged seen;
  {
    auto client = fixture.client();
    for (const auto& user : users) {
      seen.entry_ids.push_back(grant(client, user.id, credits));
    }
  }

  std::mutex mutex;
  std::map<std::string, int64_t> outcomes;
  int64_t spent = 0;
  int64_t committed = 0;
  int64_t operations = 0;
  const auto started = clock_type::now();
  const auto deadline = started + load_time;
  run_threads(static_cast<int>(engines.size()) * threads_per_engine, [&](int t) {
    std::mt19937 random(500u + static_cast<unsigned>(t));
    // Each request goes to a random engine: a hold reserved on one is finished on either.
    std::vector<http_client> clients;
    for (const auto* engine : engines) {
      clients.push_back(engine->client());
    }
    auto any_client = [&]() -> http_client& { return clients[random() % clients.size()]; };
    std::map<std::string, int64_t> counts;
    acknowledged mine;
    std::vector<open_hold> holds;
    int64_t my_spent = 0;
    int64_t my_committed = 0;
    int64_t my_operations = 0;
    while (clock_type::now() < deadline) {
      ++my_operations;
      const std::size_t user_index = random() % account_count;
      const test_user& user = users[user_index];
      const auto roll = random() % 100;
      const header_list headers{bearer(user.token), {"Idempotency-Key", unique_key("both")}};
      if (roll < 40) {
        const int64_t amount = 1 + static_cast<int64_t>(random() % 3);
        auto response = send_until_settled(
            [&] {
              return any_client().post_json("/v1/credits/spend", {{"amount", amount}}, headers);
            },
            counts);
        if (response.status == 201) {
          my_spent += amount;
          mine.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
        }
      } else if (roll < 70 || holds.empty()) {
        const int64_t amount = 1 + static_cast<int64_t>(random() % 5);
        auto response = send_until_settled(
            [&] {
              return any_client().post_json("/v1/credits/reservations", {{"amount", amount}},
                                            headers);
            },
            counts);
        if (response.status == 201) {
          const std::string id = response.json()["id"].get<std::string>();
          mine.reservation_events.emplace_back("reserve", id);
          holds.push_back({user_index, id, amount});
        }
      } else {
        const std::size_t index = random() % holds.size();
        const open_hold hold = holds[index];
        holds.erase(holds.begin() + static_cast<std::ptrdiff_t>(index));
        const header_list owner_headers{bearer(users[hold.user_index].token),
                                        {"Idempotency-Key", unique_key("both")}};
        const std::string target = "/v1/credits/reservations/" + hold.id;
        if (roll < 85) {
          const int64_t amount = static_cast<int64_t>(random() % (hold.amount + 1));
          auto response = send_until_settled(
              [&] {
                return any_client().post_json(target + "/commit", {{"amount", amount}},
                                              owner_headers);
              },
              counts);
          if (response.status == 200) {
            my_committed += amount;
            mine.reservation_events.emplace_back("commit", hold.id);
          }
        } else {
          auto response = send_until_settled(
              [&] { return any_client().request("POST", target + "/release", "", owner_headers); },
              counts);
          if (response.status == 200) {
            mine.reservation_events.emplace_back("release", hold.id);
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    merge_counts(outcomes, counts);
    seen.merge(mine);
    spent += my_spent;
    committed += my_committed;
    operations += my_operations;
  });
  const double load_s = seconds_since(started);
  report("two engines, reservations", std::to_string(operations) + " operations in " +
                                          std::to_string(load_s) +
                                          " s through both engines: " + describe_counts(outcomes));
  INFO(describe_counts(outcomes));
  CHECK(outcomes.count("gave up") == 0);
  for (const auto& [outcome, count] : outcomes) {
    INFO(outcome);
    const bool expected =
        outcome == "200" || outcome == "201" || outcome == "402 insufficient_credits" ||
        outcome == "409 sequence_conflict" || outcome == "409 idempotency_key_in_flight" ||
        outcome.rfind("503 ", 0) == 0;
    CHECK(expected);
  }
  const int64_t held = pg_scalar(url, "SELECT sum(available + reserved) FROM ledger.accounts");
  report("two engines, reservations",
         "granted " + std::to_string(credits * account_count) + ", spent " + std::to_string(spent) +
             ", committed " + std::to_string(committed) + ", held " + std::to_string(held));
  CHECK(held == credits * account_count - spent - committed);
  check_ledger_invariants(fixture, seen);
  CHECK(second.is_running());
}

// =============================================================================================
// 8. A database stall

TEST_CASE("a database stall longer than the actor timeout answers 503 and loses nothing",
          "[integration][ledger]") {
  engine_fixture fixture(tally::test::env_map{{"TALLY_ACTOR_TIMEOUT_MS", "1000"}});
  const std::string& url = fixture.database.url();
  auto client = fixture.client();
  auto user = register_user(client);
  acknowledged seen;
  seen.entry_ids.push_back(grant(client, user.id, 1'000'000));

  // A session holds the account's row for 3 s: every journal write of it waits, longer than
  // the 1 s the account actor waits for its writer.
  std::atomic<bool> done{false};
  std::mutex mutex;
  std::map<std::string, int64_t> outcomes;
  std::vector<std::pair<std::string, std::string>> unanswered;  // key, outcome (not 201)
  run_threads(5, [&](int t) {
    if (t == 4) {
      pqxx::connection connection(url);
      pqxx::work lock(connection);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      lock.exec("SELECT 1 FROM ledger.accounts WHERE account_id = '" + user.id + "' FOR UPDATE");
      std::this_thread::sleep_for(std::chrono::seconds(3));
      lock.commit();
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      done = true;
      return;
    }
    auto connection = fixture.client();
    std::map<std::string, int64_t> counts;
    std::vector<std::string> entries;
    std::vector<std::pair<std::string, std::string>> refused;
    while (!done) {
      const std::string key = unique_key("stall");
      auto response = spend(connection, user, 1, key);
      ++counts[outcome_of(response)];
      if (response.status == 201) {
        entries.push_back(response.json()["entry_id"].get<std::string>());
      } else {
        refused.emplace_back(key, outcome_of(response));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::lock_guard<std::mutex> lock(mutex);
    merge_counts(outcomes, counts);
    seen.entry_ids.insert(seen.entry_ids.end(), entries.begin(), entries.end());
    unanswered.insert(unanswered.end(), refused.begin(), refused.end());
  });
  report("stall", "3 s row lock, 1 s actor timeout: " + describe_counts(outcomes));
  INFO(describe_counts(outcomes));
  REQUIRE(fixture.engine.is_running());
  CHECK(outcomes["503 upstream_timeout"] + outcomes["503 storage_unavailable"] > 0);
  for (const auto& [outcome, count] : outcomes) {
    INFO(outcome);
    CHECK((outcome == "201" || outcome.rfind("503 ", 0) == 0));
  }
  // The account's memory agrees with the database again.
  const auto view = balance_of(client, user);
  CHECK(view.first == pg_scalar(url, "SELECT available FROM ledger.accounts WHERE account_id = '" +
                                         user.id + "'"));
  // A 503 is ambiguous: retried, each key replays or runs now, never twice.
  int64_t replayed = 0;
  for (const auto& [key, outcome] : unanswered) {
    auto response = spend(client, user, 1, key);
    INFO(key << " first " << outcome << ", retry " << response);
    CHECK(response.status == 201);
    if (response.status == 201) {
      replayed += response.header("idempotent-replayed") == "true" ? 1 : 0;
      seen.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
    }
  }
  report("stall", std::to_string(unanswered.size()) + " refused keys retried: " +
                      std::to_string(replayed) + " had been committed (replayed)");
  CHECK(pg_query(url,
                 "SELECT account_id, idempotency_key FROM ledger.entries WHERE idempotency_key "
                 "IS NOT NULL GROUP BY account_id, idempotency_key HAVING count(*) > 1")
            .empty());
  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 9. A PostgreSQL outage (hidden: it stops the shared private cluster; ctest runs it alone as
// integration_ledger_pgdown)

namespace {

#ifndef TALLY_SOURCE_DIR
#error "TALLY_SOURCE_DIR must name the repository (tests/integration/CMakeLists.txt sets it)"
#endif

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: start the services with scripts/services.sh and "
                             "eval its exports");
  }
  return value;
}

// The port in a URL such as postgresql://user@127.0.0.1:55432/db or redis://127.0.0.1:6379/0.
std::string url_port(const std::string& url) {
  const auto authority = url.find("://") + 3;
  const auto end = url.find_first_of("/?", authority);
  const auto colon = url.rfind(':', end);
  if (colon == std::string::npos || colon < authority) {
    throw std::runtime_error("no port in " + url);
  }
  return url.substr(colon + 1, end - colon - 1);
}

int run_shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return status == -1 ? -1 : WEXITSTATUS(status);
}

// Stops the private cluster with pg_ctl (as the postgres user when we are root) and starts it
// again through scripts/services.sh, which is idempotent. The destructor restarts it if a
// failed check left it stopped, so later tests (and the database drop) find it up.
class postgres_switch {
 public:
  postgres_switch()
      : data_dir_(required_env("TALLY_TEST_PG_DATA")),
        run_dir_(std::filesystem::path(data_dir_).parent_path().parent_path().string()),
        pg_port_(url_port(tally::test::database_admin_url())),
        redis_port_(url_port(tally::test::redis_url())) {}
  ~postgres_switch() {
    if (stopped_) {
      start();
    }
  }
  postgres_switch(const postgres_switch&) = delete;
  postgres_switch& operator=(const postgres_switch&) = delete;

  int stop() {
    const std::string pg_ctl =
        "/usr/lib/postgresql/15/bin/pg_ctl -D '" + data_dir_ + "' stop -m fast -w -t 30 >/dev/null";
    stopped_ = true;
    return run_shell(::geteuid() == 0 ? "runuser -u postgres -- " + pg_ctl : pg_ctl);
  }
  int start() {
    const int status = run_shell("TALLY_PG_PORT=" + pg_port_ + " TALLY_REDIS_PORT=" + redis_port_ +
                                 " bash '" + std::string(TALLY_SOURCE_DIR) +
                                 "/scripts/services.sh' start '" + run_dir_ + "' >/dev/null");
    stopped_ = status != 0;
    return status;
  }

 private:
  std::string data_dir_;
  std::string run_dir_;
  std::string pg_port_;
  std::string redis_port_;
  bool stopped_ = false;
};

enum class outage_phase : int { before = 0, down = 1, restarted = 2 };

}  // namespace

TEST_CASE("a PostgreSQL outage answers 503 and the engine recovers without a restart",
          "[integration][ledger][.pgdown]") {
  constexpr int account_count = 10;
  constexpr int thread_count = 8;
  engine_fixture fixture;
  postgres_switch postgres;  // after the fixture: restarts Postgres before the database drop
  const auto users = register_users(fixture.engine, account_count, 8);
  acknowledged seen;
  {
    auto client = fixture.client();
    for (const auto& user : users) {
      seen.entry_ids.push_back(grant(client, user.id, 1'000'000));
    }
  }

  std::atomic<int> phase{static_cast<int>(outage_phase::before)};
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> first_success_after_restart_ms{-1};
  const auto started = clock_type::now();
  std::atomic<int64_t> restarted_at_ms{0};
  std::mutex mutex;
  std::map<std::string, int64_t> outcomes[3];  // by phase
  int64_t slowest_ms = 0;
  run_threads(thread_count + 1, [&](int t) {
    if (t == thread_count) {  // the conductor: stop, wait, restart, wait for recovery
      std::this_thread::sleep_for(std::chrono::seconds(1));
      phase = static_cast<int>(outage_phase::down);
      if (postgres.stop() != 0) {
        stopping = true;
        throw std::runtime_error("pg_ctl stop failed");
      }
      std::this_thread::sleep_for(std::chrono::seconds(4));
      if (postgres.start() != 0) {
        stopping = true;
        throw std::runtime_error("scripts/services.sh start failed");
      }
      restarted_at_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started)
              .count();
      phase = static_cast<int>(outage_phase::restarted);
      const auto deadline = clock_type::now() + std::chrono::seconds(15);
      while (first_success_after_restart_ms < 0 && clock_type::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));  // a second of normal service
      stopping = true;
      return;
    }
    std::mt19937 random(900u + static_cast<unsigned>(t));
    auto client = fixture.client();
    client.set_timeout(std::chrono::seconds(20));
    std::map<std::string, int64_t> counts[3];
    std::vector<std::string> entries;
    int64_t slowest = 0;
    while (!stopping) {
      const int phase_sent = phase;
      const auto sent = clock_type::now();
      auto response = spend(client, users[random() % account_count], 1, unique_key("pgdown"));
      const auto took_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - sent).count();
      slowest = std::max<int64_t>(slowest, took_ms);
      ++counts[phase_sent][outcome_of(response)];
      if (response.status == 201) {
        entries.push_back(response.json()["entry_id"].get<std::string>());
        if (phase_sent == static_cast<int>(outage_phase::restarted) &&
            first_success_after_restart_ms < 0) {
          first_success_after_restart_ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started)
                  .count();
        }
      } else if (response.status == 503) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a client backs off
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (int p = 0; p < 3; ++p) {
      merge_counts(outcomes[p], counts[p]);
    }
    seen.entry_ids.insert(seen.entry_ids.end(), entries.begin(), entries.end());
    slowest_ms = std::max(slowest_ms, slowest);
  });
  const char* names[3] = {"before", "down", "restarted"};
  for (int p = 0; p < 3; ++p) {
    report("pgdown", std::string(names[p]) + ": " + describe_counts(outcomes[p]));
  }
  const int64_t recovery_ms = first_success_after_restart_ms - restarted_at_ms;
  report("pgdown", "first 201 " + std::to_string(recovery_ms) +
                       " ms after Postgres was back; slowest response " +
                       std::to_string(slowest_ms) + " ms");
  for (int p = 0; p < 3; ++p) {
    for (const auto& [outcome, count] : outcomes[p]) {
      INFO(names[p] << ": " << outcome << " x " << count);
      CHECK((outcome == "201" || outcome == "402 insufficient_credits" ||
             outcome == "503 storage_unavailable" || outcome == "503 upstream_timeout"));
    }
  }
  CHECK(outcomes[0]["201"] > 0);
  CHECK(first_success_after_restart_ms >= 0);
  CHECK(recovery_ms <= 15'000);
  // After recovery, requests succeed again on the same engine process.
  auto client = fixture.client();
  int successes = 0;
  for (int i = 0; i < 20; ++i) {
    auto response = spend(client, users[static_cast<std::size_t>(i % account_count)], 1,
                          unique_key("pgdown-after"));
    INFO(response);
    CHECK(response.status == 201);
    if (response.status == 201) {
      ++successes;
      seen.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
    }
  }
  CHECK(successes == 20);
  CHECK(fixture.engine.is_running());
  check_ledger_invariants(fixture, seen);
}

// =============================================================================================
// 10. Expiring grants (docs/ledger.md "Expiring grants"): credit lots, burn order, the sweep.

namespace {

// An RFC 3339 UTC timestamp `from_now` away (negative: in the past), with milliseconds.
std::string rfc3339_in(std::chrono::milliseconds from_now) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         (std::chrono::system_clock::now() + from_now).time_since_epoch())
                         .count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buffer;
}

http_response grant_with_body(http_client& client, const std::string& user_id, const json& body) {
  return client.post_json("/v1/admin/users/" + user_id + "/grants", body,
                          {bearer(tally::test::test_admin_api_key)});
}

// An expiring grant of `amount` expiring `from_now` ahead; returns its entry id (= lot id).
std::string grant_expiring(http_client& client, const std::string& user_id, int64_t amount,
                           std::chrono::milliseconds from_now) {
  auto response = grant_with_body(
      client, user_id,
      {{"amount", amount}, {"reason", "expiring"}, {"expires_at", rfc3339_in(from_now)}});
  if (response.status != 201) {
    throw std::runtime_error("expiring grant failed: " + response.describe());
  }
  return response.json()["entry_id"].get<std::string>();
}

int64_t lot_remaining(const std::string& url, const std::string& lot_id) {
  return pg_scalar(url, "SELECT remaining FROM ledger.credit_lots WHERE lot_id = '" + lot_id + "'");
}

int64_t expire_entries_of_lot(const std::string& url, const std::string& lot_id) {
  return pg_scalar(url,
                   "SELECT count(*) FROM ledger.entries WHERE kind = 'expire' AND "
                   "reference_type = 'credit_lot' AND reference_id = '" +
                       lot_id + "'");
}

// Waits until `done()` or `limit`; returns whether it became true.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto start = clock_type::now();
  while (clock_type::now() - start < limit) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// No lot with credits left is past its expiry (the sweeper caught up), the lots fit in their
// accounts' available, and each lot's stored remaining is in range (the CHECK says so too).
void check_lots_settled(const std::string& url) {
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.credit_lots "
                  "WHERE remaining > 0 AND expires_at <= now()") == 0);
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.accounts a WHERE a.available < (SELECT "
                  "coalesce(sum(remaining), 0) FROM ledger.credit_lots c "
                  "WHERE c.account_id = a.account_id)") == 0);
}

}  // namespace

TEST_CASE("an expiring grant is spent first and only its unspent part expires, once",
          "[integration][ledger][lots]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string& url = fixture.database.url();
  acknowledged seen;
  auto user = register_user(client);

  seen.entry_ids.push_back(grant(client, user.id, 100));
  const std::string lot = grant_expiring(client, user.id, 50, std::chrono::milliseconds(2'000));
  seen.entry_ids.push_back(lot);
  const auto granted_at = clock_type::now();
  CHECK(balance_of(client, user) == std::make_pair(int64_t{150}, int64_t{0}));
  CHECK(pg_scalar(url, "SELECT amount FROM ledger.credit_lots WHERE lot_id = '" + lot + "'") == 50);
  CHECK(lot_remaining(url, lot) == 50);

  // The spend burns the lot before the perpetual credits.
  auto spent = spend(client, user, 30, unique_key("lots"));
  INFO(spent);
  REQUIRE(spent.status == 201);
  seen.entry_ids.push_back(spent.json()["entry_id"].get<std::string>());
  CHECK(lot_remaining(url, lot) == 20);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{120}, int64_t{0}));

  // The sweep journals one expire entry of the unspent 20.
  REQUIRE(eventually([&] { return expire_entries_of_lot(url, lot) > 0; },
                     std::chrono::milliseconds(8'000)));
  report("lots",
         "lot expiring after 2 s swept after " + std::to_string(seconds_since(granted_at)) + " s");
  CHECK(seconds_since(granted_at) <= 5.0);
  auto rows = pg_query(url,
                       "SELECT amount, delta_available, delta_reserved, available_after "
                       "FROM ledger.entries WHERE kind = 'expire' AND account_id = '" +
                           user.id + "'");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].as<int64_t>() == 20);
  CHECK(rows[0][1].as<int64_t>() == -20);
  CHECK(rows[0][2].as<int64_t>() == 0);
  CHECK(rows[0][3].as<int64_t>() == 100);
  CHECK(lot_remaining(url, lot) == 0);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{100}, int64_t{0}));  // 150 - 30 - 20

  // The ledger page shows the expiry with the lot as its reference.
  auto page = client.get("/v1/credits/ledger?kind=expire", {bearer(user.token)});
  INFO(page);
  REQUIRE(page.status == 200);
  const json items = page.json()["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["amount"] == 20);
  CHECK(items[0]["reference"]["type"] == "credit_lot");
  CHECK(items[0]["reference"]["id"] == lot);

  // Nothing expires twice: later sweeps find nothing, and the perpetual 100 stay spendable.
  std::this_thread::sleep_for(std::chrono::milliseconds(2'500));
  CHECK(expire_entries_of_lot(url, lot) == 1);
  check_problem(spend(client, user, 101, unique_key("lots")), 402, "insufficient_credits");
  auto rest = spend(client, user, 100, unique_key("lots"));
  REQUIRE(rest.status == 201);
  seen.entry_ids.push_back(rest.json()["entry_id"].get<std::string>());
  CHECK(balance_of(client, user) == std::make_pair(int64_t{0}, int64_t{0}));
  check_lots_settled(url);
  check_ledger_invariants(fixture, seen);
}

TEST_CASE("lot credits a reservation holds go back to their lot and expire with it",
          "[integration][ledger][lots]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string& url = fixture.database.url();
  acknowledged seen;
  auto user = register_user(client);

  seen.entry_ids.push_back(grant(client, user.id, 100));
  const std::string soon = grant_expiring(client, user.id, 50, std::chrono::milliseconds(2'500));
  const std::string later = grant_expiring(client, user.id, 40, std::chrono::hours(1));
  seen.entry_ids.push_back(soon);
  seen.entry_ids.push_back(later);
  const auto granted_at = clock_type::now();

  // R1 takes 30 of `soon`; R2 takes its last 20 and 20 of `later` (burn order).
  auto first = reserve(client, user, {{"amount", 30}, {"ttl_seconds", 120}});
  auto second = reserve(client, user, {{"amount", 40}, {"ttl_seconds", 120}});
  INFO(first);
  INFO(second);
  REQUIRE(first.status == 201);
  REQUIRE(second.status == 201);
  const std::string r1 = first.json()["id"].get<std::string>();
  const std::string r2 = second.json()["id"].get<std::string>();
  seen.reservation_events.emplace_back("reserve", r1);
  seen.reservation_events.emplace_back("reserve", r2);
  CHECK(lot_remaining(url, soon) == 0);
  CHECK(lot_remaining(url, later) == 20);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.reservations WHERE reservation_id = '" + r2 +
                           "' AND lots = '[{\"lot_id\": \"" + soon +
                           "\", \"amount\": 20}, {\"lot_id\": \"" + later +
                           "\", \"amount\": 20}]'::jsonb") == 1);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{120}, int64_t{70}));

  // `soon` passes its expiry with all of it reserved: there is nothing to sweep.
  std::this_thread::sleep_for(std::chrono::milliseconds(2'500) - (clock_type::now() - granted_at) +
                              std::chrono::milliseconds(1'500));
  CHECK(expire_entries_of_lot(url, soon) == 0);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{120}, int64_t{70}));

  // Releasing R1 returns its 30 to `soon`, which is dead: they are not spendable (100
  // perpetual + 20 of `later`) and the next sweep expires them.
  auto released = release(client, user, r1);
  INFO(released);
  REQUIRE(released.status == 200);
  seen.reservation_events.emplace_back("release", r1);
  check_problem(spend(client, user, 121, unique_key("lots-hold")), 402, "insufficient_credits");
  REQUIRE(eventually([&] { return expire_entries_of_lot(url, soon) == 1; },
                     std::chrono::milliseconds(6'000)));
  CHECK(pg_scalar(url,
                  "SELECT amount FROM ledger.entries WHERE kind = 'expire' AND "
                  "reference_id = '" +
                      soon + "'") == 30);
  CHECK(lot_remaining(url, soon) == 0);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{120}, int64_t{40}));

  // Committing 25 of R2 charges its lot credits earliest expiry first (20 of `soon`, 5 of
  // `later`); the uncharged 15 go back to `later`, and nothing returns to dead `soon`.
  auto committed = commit(client, user, r2, 25);
  INFO(committed);
  REQUIRE(committed.status == 200);
  seen.reservation_events.emplace_back("commit", r2);
  CHECK(lot_remaining(url, later) == 35);
  CHECK(lot_remaining(url, soon) == 0);
  CHECK(balance_of(client, user) == std::make_pair(int64_t{135}, int64_t{0}));  // 190 - 30 - 25
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  CHECK(expire_entries_of_lot(url, soon) == 1);
  check_lots_settled(url);
  check_ledger_invariants(fixture, seen);
}

TEST_CASE("bad expires_at is refused; dead lots are unspendable and swept at start-up",
          "[integration][ledger][lots]") {
  // A sweep period far beyond the test: only the start-up sweep runs.
  engine_fixture fixture(tally::test::env_map{{"TALLY_RESERVATION_EXPIRY_TICK_MS", "60000"}});
  auto client = fixture.client();
  const std::string& url = fixture.database.url();
  acknowledged seen;
  auto user = register_user(client);

  // In the past, now-ish, malformed, the wrong type, an impossible date, > 10 years ahead.
  for (const json& expires_at :
       {json(rfc3339_in(std::chrono::milliseconds(-60'000))), json("tomorrow"), json("2030-01-01"),
        json(1893456000), json("2030-02-30T00:00:00Z"),
        json(rfc3339_in(std::chrono::hours(24 * 3653 + 1)))}) {
    INFO(expires_at.dump());
    check_invalid_field(
        grant_with_body(client, user.id,
                        {{"amount", 10}, {"reason", "bad"}, {"expires_at", expires_at}}),
        "expires_at");
  }
  CHECK(entry_count(url, user) == 0);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.credit_lots") == 0);
  // null means "no expiry", as for any optional field.
  auto perpetual = grant_with_body(client, user.id,
                                   {{"amount", 10}, {"reason", "null"}, {"expires_at", nullptr}});
  INFO(perpetual);
  REQUIRE(perpetual.status == 201);
  seen.entry_ids.push_back(perpetual.json()["entry_id"].get<std::string>());
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.credit_lots") == 0);

  const std::string lot = grant_expiring(client, user.id, 50, std::chrono::milliseconds(1'000));
  seen.entry_ids.push_back(lot);
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  // Past expiry and not swept: the lot's 50 are still in available but not spendable.
  CHECK(balance_of(client, user) == std::make_pair(int64_t{60}, int64_t{0}));
  CHECK(lot_remaining(url, lot) == 50);
  check_problem(spend(client, user, 11, unique_key("dead")), 402, "insufficient_credits");
  check_problem(reserve(client, user, {{"amount", 11}}), 402, "insufficient_credits");
  auto fits = spend(client, user, 10, unique_key("dead"));
  REQUIRE(fits.status == 201);
  seen.entry_ids.push_back(fits.json()["entry_id"].get<std::string>());
  CHECK(lot_remaining(url, lot) == 50);

  // Expired while the engine was down: the start-up sweep expires it.
  fixture.engine.stop();
  fixture.engine.restart();
  REQUIRE(eventually([&] { return expire_entries_of_lot(url, lot) == 1; },
                     std::chrono::milliseconds(8'000)));
  CHECK(lot_remaining(url, lot) == 0);
  auto client_after = fixture.client();
  CHECK(balance_of(client_after, user) == std::make_pair(int64_t{0}, int64_t{0}));
  check_lots_settled(url);
  check_ledger_invariants(fixture, seen);
}

TEST_CASE("concurrent spends and holds on an account whose lots expire keep every credit",
          "[integration][ledger][lots]") {
  constexpr int spender_count = 6;
  constexpr int holder_count = 2;
  engine_fixture fixture(tally::test::env_map{{"TALLY_RESERVATION_EXPIRY_TICK_MS", "100"}});
  auto client = fixture.client();
  const std::string& url = fixture.database.url();
  acknowledged seen;
  auto user = register_user(client);

  int64_t granted = 0;
  seen.entry_ids.push_back(grant(client, user.id, 3'000));
  granted += 3'000;
  std::vector<std::string> lots;
  // Lots big enough that spends (which burn the earliest lot first) leave some to expire.
  for (int i = 0; i < 6; ++i) {  // expiring every 500 ms from 1 s on
    lots.push_back(
        grant_expiring(client, user.id, 2'000, std::chrono::milliseconds(1'000 + 500 * i)));
    granted += 2'000;
  }
  lots.push_back(grant_expiring(client, user.id, 400, std::chrono::hours(2)));  // outlives the test
  granted += 400;
  seen.entry_ids.insert(seen.entry_ids.end(), lots.begin(), lots.end());

  std::mutex seen_mutex;
  std::map<std::string, int64_t> outcomes;
  int64_t spent_acknowledged = 0;
  const auto start = clock_type::now();
  const auto duration = std::chrono::milliseconds(5'000);
  run_threads(spender_count + holder_count, [&](int t) {
    auto worker = fixture.engine.client();
    std::mt19937 random(static_cast<unsigned>(t) * 7919u + 17u);
    acknowledged mine;
    std::map<std::string, int64_t> counts;
    int64_t spent = 0;
    while (clock_type::now() - start < duration) {
      if (t < spender_count) {
        const int64_t amount = 1 + static_cast<int64_t>(random() % 5);
        auto response = spend(worker, user, amount, unique_key("lots-load"));
        ++counts[outcome_of(response)];
        if (response.status == 201) {
          mine.entry_ids.push_back(response.json()["entry_id"].get<std::string>());
          spent += amount;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      // Holders: reserve, then commit a part or release.
      const int64_t amount = 5 + static_cast<int64_t>(random() % 20);
      auto held = reserve(worker, user, {{"amount", amount}, {"ttl_seconds", 60}});
      ++counts["reserve " + outcome_of(held)];
      if (held.status != 201) {
        continue;
      }
      const std::string id = held.json()["id"].get<std::string>();
      mine.reservation_events.emplace_back("reserve", id);
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
      if (random() % 2 == 0) {
        auto done = release(worker, user, id);
        ++counts["release " + outcome_of(done)];
        if (done.status == 200) {
          mine.reservation_events.emplace_back("release", id);
        }
      } else {
        auto done = commit(worker, user, id, static_cast<int64_t>(random() % (amount + 1)));
        ++counts["commit " + outcome_of(done)];
        if (done.status == 200) {
          mine.reservation_events.emplace_back("commit", id);
        }
      }
    }
    std::lock_guard<std::mutex> lock(seen_mutex);
    seen.merge(mine);
    merge_counts(outcomes, counts);
    spent_acknowledged += spent;
  });
  report("lots concurrent", describe_counts(outcomes));
  for (const auto& [outcome, count] : outcomes) {
    INFO(outcome << " x " << count);
    CHECK((outcome == "201" || outcome == "402 insufficient_credits" || outcome == "reserve 201" ||
           outcome == "reserve 402 insufficient_credits" || outcome == "release 200" ||
           outcome == "commit 200"));
  }
  CHECK(outcomes["201"] > 0);

  // Every lot due has been swept (no hold outlived the run).
  REQUIRE(eventually(
      [&] {
        return pg_scalar(url,
                         "SELECT count(*) FROM ledger.credit_lots "
                         "WHERE remaining > 0 AND expires_at <= now()") == 0;
      },
      std::chrono::milliseconds(5'000)));
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.reservations WHERE status = 'pending'") == 0);
  const auto [available, reserved] = balance_of(client, user);
  const std::string account = "account_id = '" + user.id + "'";
  const int64_t spent_journal =
      pg_scalar(url, "SELECT coalesce(sum(amount), 0) FROM ledger.entries WHERE " + account +
                         " AND kind IN ('spend', 'commit')");
  const int64_t expired_journal =
      pg_scalar(url, "SELECT coalesce(sum(amount), 0) FROM ledger.entries WHERE " + account +
                         " AND kind = 'expire' AND reference_type = 'credit_lot'");
  const int64_t spends_journal =
      pg_scalar(url, "SELECT coalesce(sum(amount), 0) FROM ledger.entries WHERE " + account +
                         " AND kind = 'spend'");
  report("lots concurrent", "granted " + std::to_string(granted) + ", spent and charged " +
                                std::to_string(spent_journal) + ", expired " +
                                std::to_string(expired_journal) + ", available " +
                                std::to_string(available));
  CHECK(spends_journal == spent_acknowledged);  // every 201 spend, and nothing else
  CHECK(reserved == 0);
  CHECK(spent_journal + expired_journal + available + reserved == granted);
  CHECK(expired_journal > 0);
  // A lot may expire more than once (credits a hold returned after its first sweep expire at
  // the next), but never more than it granted, and every expiry is of a lot of this account.
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.credit_lots c JOIN (SELECT reference_id, "
                  "sum(amount) AS expired FROM ledger.entries WHERE kind = 'expire' AND "
                  "reference_type = 'credit_lot' GROUP BY reference_id) e "
                  "ON e.reference_id = c.lot_id::text WHERE e.expired > c.amount") == 0);
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM ledger.entries e WHERE kind = 'expire' AND "
                  "reference_type = 'credit_lot' AND NOT EXISTS (SELECT 1 FROM "
                  "ledger.credit_lots c WHERE c.lot_id::text = e.reference_id AND "
                  "c.account_id = e.account_id)") == 0);
  // The lot that outlives the test never expired.
  CHECK(expire_entries_of_lot(url, lots.back()) == 0);
  check_lots_settled(url);
  check_ledger_invariants(fixture, seen);
}
