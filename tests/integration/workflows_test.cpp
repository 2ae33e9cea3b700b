// tests/integration/workflows_test.cpp: the workflow endpoints of API.md ("Workflows") against
// the real engine, real Postgres and a real HTTP target on loopback (the engine runs in dev
// mode, where loopback targets are allowed). Covers: CRUD, pagination and validation; owner
// isolation (another user's workflow is 404 for every verb); a paid run that succeeds and is
// charged exactly its cost; http executors that fail (500) or time out, which are compensated
// with nothing charged; insufficient credits (402, and the target saw nothing); the per-user
// cap (429); a crash (SIGKILL) while runs execute, after which recovery ends every run
// committed or released; and 50 concurrent runs on an account with credits for 20.
//
// After credit-moving cases, check_invariants() checks DESIGN invariants 1, 2 and 6 from the
// outside: reconcile is clean, no run is unfinished, and each run's reservation agrees with
// its status (succeeded: committed for exactly the cost; failed/compensated: nothing charged).
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::header_list;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_query;
using tally::test::pg_scalar;

namespace asio = boost::asio;
using asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// An HTTP target on loopback: the far side of the http executor.

enum class far_side { answer_200, answer_500, never_answer };

class http_target {
 public:
  explicit http_target(far_side mode)
      : mode_(mode), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~http_target() {
    stopping_ = true;
    // A blocking accept() is not woken by close() from another thread: connect once instead.
    boost::system::error_code ignored;
    asio::io_context io;
    tcp::socket poke(io);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    thread_.join();
    acceptor_.close(ignored);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      std::string data;
      char buffer[4096];
      while (data.find("\r\n\r\n") == std::string::npos) {
        std::size_t n = socket.read_some(asio::buffer(buffer), ec);
        if (ec) {
          break;
        }
        data.append(buffer, n);
      }
      if (data.find("\r\n\r\n") == std::string::npos) {
        continue;
      }
      ++requests_;
      if (mode_ == far_side::never_answer) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
        continue;
      }
      const bool ok = mode_ == far_side::answer_200;
      const std::string body = ok ? "{\"done\":true}" : "{\"error\":\"boom\"}";
      const std::string response =
          std::string("HTTP/1.1 ") + (ok ? "200 OK" : "500 Oops") +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
      asio::write(socket, asio::buffer(response), ec);
    }
  }

  far_side mode_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
};

// ---------------------------------------------------------------------------------------------
// Helpers.

constexpr const char* password_ok = "correct horse battery";

using tally::test::test_user;

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "wf");
}

void grant(http_client& client, const std::string& user_id, int64_t amount) {
  tally::test::grant_credits(client, user_id, amount, "workflow test");
}

std::string problem_code(const http_response& response) {
  try {
    return response.json().value("code", "");
  } catch (const std::exception&) {
    return "";
  }
}

std::string create_workflow(http_client& client, const test_user& user, int64_t cost,
                            const json& executor, const std::string& name = "wf") {
  auto response = client.post_json("/v1/workflows",
                                   {{"name", name}, {"credit_cost", cost}, {"executor", executor}},
                                   user.auth());
  if (response.status != 201) {
    throw std::runtime_error("create workflow failed: " + response.describe());
  }
  return response.json()["id"].get<std::string>();
}

json balance(http_client& client, const test_user& user) {
  auto response = client.get("/v1/credits/balance", user.auth());
  REQUIRE(response.status == 200);
  return response.json();
}

// Polls GET /v1/runs/{id} until the run is final (or `timeout` passes); returns it.
json wait_final(http_client& client, const test_user& user, const std::string& run_id,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  json run;
  while (std::chrono::steady_clock::now() < deadline) {
    auto response = client.get("/v1/runs/" + run_id, user.auth());
    if (response.status == 200) {
      run = response.json();
      const std::string status = run["status"];
      if (status == "succeeded" || status == "failed" || status == "compensated") {
        return run;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  FAIL("run " << run_id << " did not end in time; last seen: " << run.dump());
  return run;
}

std::string step_status(const json& run, const std::string& name) {
  for (const auto& step : run["steps"]) {
    if (step["name"] == name) {
      return step["status"];
    }
  }
  return "";
}

// Invariants 1, 2 and 6 over the whole database.
void check_invariants(const engine_fixture& fixture) {
  auto client = fixture.client();
  auto reconcile = client.get("/v1/admin/reconcile", fixture.admin_headers());
  INFO(reconcile);
  REQUIRE(reconcile.status == 200);
  CHECK(reconcile.json()["ok"] == true);
  const std::string& db = fixture.database.url();
  CHECK(pg_scalar(db, "SELECT count(*) FROM ledger.accounts WHERE available < 0 OR reserved < 0") ==
        0);
  CHECK(pg_scalar(db,
                  "SELECT count(*) FROM workflows.runs WHERE status IN "
                  "('pending','reserved','running')") == 0);
  // A run with a reservation: succeeded <=> committed for exactly its cost; otherwise released
  // (or expired) with nothing charged. Reached only through ids, never a cross-schema join in
  // the engine; the test may look at both schemas.
  auto runs = pg_query(db,
                       "SELECT run_id::text, status, credit_cost, credits_charged, "
                       "COALESCE(reservation_id::text, '') FROM workflows.runs");
  for (const auto& row : runs) {
    const std::string status = row[1].as<std::string>();
    const int64_t cost = row[2].as<int64_t>();
    const int64_t charged = row[3].as<int64_t>();
    const std::string reservation = row[4].as<std::string>();
    INFO("run " << row[0].as<std::string>() << " " << status);
    CHECK(charged == (status == "succeeded" ? cost : 0));
    if (reservation.empty()) {
      CHECK((status != "succeeded" || cost == 0));
      continue;
    }
    auto held = pg_query(db,
                         "SELECT status, committed_amount FROM ledger.reservations WHERE "
                         "reservation_id = '" +
                             reservation + "'");
    REQUIRE(held.size() == 1);
    const std::string held_status = held[0][0].as<std::string>();
    if (status == "succeeded") {
      CHECK(held_status == "committed");
      CHECK(held[0][1].as<int64_t>() == cost);
    } else {
      CHECK((held_status == "released" || held_status == "expired"));
    }
  }
}

json delay_executor(int64_t ms) {
  return {{"type", "delay"}, {"ms", ms}};
}

}  // namespace

TEST_CASE("workflows: create, read, list with pagination, patch, delete",
          "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(create_workflow(client, user, i, {{"type", "noop"}}, "wf-" + std::to_string(i)));
  }
  auto one = client.get("/v1/workflows/" + ids[2], user.auth());
  REQUIRE(one.status == 200);
  CHECK(one.json()["name"] == "wf-2");
  CHECK(one.json()["credit_cost"] == 2);
  CHECK(one.json()["executor"]["type"] == "noop");

  // Pages of 2, newest first, every workflow exactly once.
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    auto response = client.get(
        "/v1/workflows?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), user.auth());
    REQUIRE(response.status == 200);
    const json body = response.json();
    for (const auto& item : body["items"]) {
      seen.push_back(item["id"].get<std::string>());
    }
    if (!body["has_more"].get<bool>()) {
      CHECK(body["next_cursor"].is_null());
      break;
    }
    cursor = body["next_cursor"].get<std::string>();
  }
  CHECK(seen == std::vector<std::string>(ids.rbegin(), ids.rend()));
  CHECK(client.get("/v1/workflows?cursor=@@@", user.auth()).status == 400);

  auto patched =
      client.patch_json("/v1/workflows/" + ids[0],
                        {{"name", "renamed"}, {"executor", delay_executor(10)}}, user.auth());
  REQUIRE(patched.status == 200);
  CHECK(patched.json()["name"] == "renamed");
  CHECK(patched.json()["executor"]["ms"] == 10);
  CHECK(patched.json()["credit_cost"] == 0);

  auto invalid = client.post_json(
      "/v1/workflows",
      {{"name", ""}, {"credit_cost", -3}, {"executor", {{"type", "http"}, {"url", "ftp://x"}}}},
      user.auth());
  CHECK(invalid.status == 422);
  CHECK(invalid.json()["errors"].size() == 3);

  CHECK(client.del("/v1/workflows/" + ids[1], user.auth()).status == 204);
  CHECK(client.get("/v1/workflows/" + ids[1], user.auth()).status == 404);
  CHECK(client.del("/v1/workflows/" + ids[1], user.auth()).status == 404);
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM audit.records WHERE action LIKE 'workflow.%'") == 7);
}

TEST_CASE("another user's workflow and runs are 404 for every verb", "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto owner = register_user(client);
  auto other = register_user(client);
  grant(client, other.id, 100);
  const std::string id = create_workflow(client, owner, 0, {{"type", "noop"}});
  auto run =
      client.post_json("/v1/workflows/" + id + "/runs?wait=true", json::object(), owner.auth());
  REQUIRE(run.status == 200);
  const std::string run_id = run.json()["id"];

  const std::string base = "/v1/workflows/" + id;
  for (const auto& response : {client.get(base, other.auth()),
                               client.patch_json(base, {{"name", "mine now"}}, other.auth()),
                               client.del(base, other.auth()),
                               client.post_json(base + "/runs", json::object(), other.auth()),
                               client.get(base + "/runs", other.auth())}) {
    INFO(response);
    CHECK(response.status == 404);
    CHECK(problem_code(response) == "workflow_not_found");
  }
  auto foreign_run = client.get("/v1/runs/" + run_id, other.auth());
  CHECK(foreign_run.status == 404);
  CHECK(problem_code(foreign_run) == "run_not_found");
  // Still the owner's, unchanged, and the other user's credits untouched.
  CHECK(client.get(base, owner.auth()).json()["name"] == "wf");
  CHECK(balance(client, other)["available"] == 100);
  auto list = client.get("/v1/workflows", other.auth());
  CHECK(list.json()["items"].empty());
}

TEST_CASE("a paid run succeeds, is charged exactly its cost, its reservation committed",
          "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 100);
  http_target target(far_side::answer_200);
  const std::string id =
      create_workflow(client, user, 30, {{"type", "http"}, {"url", target.url()}});
  auto response = client.post_json("/v1/workflows/" + id + "/runs?wait=true",
                                   {{"input", {{"x", 1}}}}, user.auth());
  INFO(response);
  REQUIRE(response.status == 200);
  const json run = response.json();
  CHECK(run["status"] == "succeeded");
  CHECK(run["credits_reserved"] == 30);
  CHECK(run["credits_charged"] == 30);
  CHECK(run["output"]["body"]["done"] == true);
  CHECK(step_status(run, "reserve") == "succeeded");
  CHECK(step_status(run, "execute") == "succeeded");
  CHECK(step_status(run, "commit") == "succeeded");
  CHECK(target.requests() == 1);
  const json after = balance(client, user);
  CHECK(after["available"] == 70);
  CHECK(after["reserved"] == 0);
  // The run's page lists it; the audit trail has its start and end.
  auto page = client.get("/v1/workflows/" + id + "/runs", user.auth());
  REQUIRE(page.status == 200);
  REQUIRE(page.json()["items"].size() == 1);
  CHECK(page.json()["items"][0]["id"] == run["id"]);
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM audit.records WHERE subject = 'run:" +
                      run["id"].get<std::string>() +
                      "' AND action IN ('run.started', 'run.succeeded')") == 2);
  // ... and the outbox one event per transition, committed with the step.
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM workflows.outbox WHERE subject = 'runs/" +
                      run["id"].get<std::string>() +
                      "' AND type IN ('run.started', 'run.succeeded')") == 2);
  check_invariants(fixture);
}

TEST_CASE("a failing http target (500, and a timeout) is compensated: nothing charged",
          "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 50);
  http_target failing(far_side::answer_500);
  http_target silent(far_side::never_answer);
  const std::string on_500 =
      create_workflow(client, user, 20, {{"type", "http"}, {"url", failing.url()}});
  const std::string on_timeout = create_workflow(
      client, user, 20, {{"type", "http"}, {"url", silent.url()}, {"timeout_ms", 300}});
  const std::vector<std::pair<std::string, std::string>> cases{{on_500, "answered 500"},
                                                               {on_timeout, "timed out"}};
  for (const auto& [id, error] : cases) {
    auto response =
        client.post_json("/v1/workflows/" + id + "/runs?wait=true", json::object(), user.auth());
    INFO(response);
    REQUIRE(response.status == 200);
    const json run = response.json();
    CHECK(run["status"] == "compensated");
    CHECK(run["credits_charged"] == 0);
    CHECK(run["error"].get<std::string>().find(error) != std::string::npos);
    CHECK(step_status(run, "execute") == "failed");
    CHECK(step_status(run, "release") == "succeeded");
    CHECK(step_status(run, "commit").empty());
  }
  CHECK(failing.requests() == 1);
  CHECK(silent.requests() == 1);
  const json after = balance(client, user);
  CHECK(after["available"] == 50);
  CHECK(after["reserved"] == 0);
  check_invariants(fixture);
}

TEST_CASE("insufficient credits: 402 and nothing executes", "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 10);
  http_target target(far_side::answer_200);
  const std::string id =
      create_workflow(client, user, 11, {{"type", "http"}, {"url", target.url()}});
  for (const char* query : {"", "?wait=true"}) {
    auto response =
        client.post_json("/v1/workflows/" + id + "/runs" + query, json::object(), user.auth());
    INFO(response);
    CHECK(response.status == 402);
    CHECK(problem_code(response) == "insufficient_credits");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(target.requests() == 0);
  CHECK(balance(client, user)["available"] == 10);
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM workflows.steps WHERE name = 'execute'") == 0);
  check_invariants(fixture);
}

TEST_CASE("a zero-cost run needs no credits", "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  const std::string id = create_workflow(client, user, 0, delay_executor(20));
  auto response =
      client.post_json("/v1/workflows/" + id + "/runs?wait=true", json::object(), user.auth());
  INFO(response);
  REQUIRE(response.status == 200);
  CHECK(response.json()["status"] == "succeeded");
  CHECK(step_status(response.json(), "reserve") == "skipped");
  CHECK(step_status(response.json(), "commit") == "skipped");
  check_invariants(fixture);
}

TEST_CASE("the per-user cap on unfinished runs answers 429 beyond it", "[integration][workflows]") {
  engine_fixture fixture(tally::test::env_map{{"TALLY_WORKFLOW_RUNS_PER_USER_MAX", "3"}});
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 100);
  const std::string id = create_workflow(client, user, 1, delay_executor(1'500));
  std::vector<std::string> accepted;
  for (int i = 0; i < 3; ++i) {
    auto response = client.post_json("/v1/workflows/" + id + "/runs", json::object(), user.auth());
    INFO(response);
    REQUIRE(response.status == 202);
    CHECK(response.json()["status"] == "reserved");
    CHECK(response.json()["credits_reserved"] == 1);
    accepted.push_back(response.json()["id"].get<std::string>());
  }
  auto refused = client.post_json("/v1/workflows/" + id + "/runs", json::object(), user.auth());
  CHECK(refused.status == 429);
  CHECK(problem_code(refused) == "too_many_runs");
  // Another user is not affected by this user's cap.
  auto other = register_user(client);
  grant(client, other.id, 10);
  const std::string theirs = create_workflow(client, other, 1, {{"type", "noop"}});
  CHECK(
      client.post_json("/v1/workflows/" + theirs + "/runs", json::object(), other.auth()).status ==
      202);
  for (const auto& run_id : accepted) {
    CHECK(wait_final(client, user, run_id)["status"] == "succeeded");
  }
  // Room again once they ended.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(client.post_json("/v1/workflows/" + id + "/runs", json::object(), user.auth()).status ==
        202);
}

TEST_CASE("an Idempotency-Key on a run replays the first response", "[integration][workflows]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 10);
  const std::string id = create_workflow(client, user, 4, {{"type", "noop"}});
  header_list headers = user.auth();
  headers.push_back({"Idempotency-Key", "run-once"});
  auto first = client.post_json("/v1/workflows/" + id + "/runs", {{"input", 1}}, headers);
  REQUIRE(first.status == 202);
  auto second = client.post_json("/v1/workflows/" + id + "/runs", {{"input", 1}}, headers);
  REQUIRE(second.status == 202);
  CHECK(second.json()["id"] == first.json()["id"]);
  CHECK(second.header("idempotent-replayed") == "true");
  auto reused = client.post_json("/v1/workflows/" + id + "/runs", {{"input", 2}}, headers);
  CHECK(reused.status == 422);
  CHECK(problem_code(reused) == "idempotency_key_reused");
  wait_final(client, user, first.json()["id"].get<std::string>());
  CHECK(balance(client, user)["available"] == 6);  // charged once
  check_invariants(fixture);
}

TEST_CASE("50 concurrent runs with credits for 20: exactly 20 charged, 30 refused",
          "[integration][workflows]") {
  engine_fixture fixture(tally::test::env_map{{"TALLY_WORKFLOW_RUNS_PER_USER_MAX", "100"}});
  auto setup = fixture.client();
  auto user = register_user(setup);
  grant(setup, user.id, 100);
  const std::string id = create_workflow(setup, user, 5, delay_executor(50));
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] {
      auto client = fixture.client();
      auto response =
          client.post_json("/v1/workflows/" + id + "/runs?wait=true", json::object(), user.auth());
      if (response.status == 200 && response.json()["status"] == "succeeded") {
        ++succeeded;
      } else if (response.status == 402) {
        ++refused;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(succeeded == 20);
  CHECK(refused == 30);
  CHECK(other == 0);
  const json after = balance(setup, user);
  CHECK(after["available"] == 0);
  CHECK(after["reserved"] == 0);
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT COALESCE(sum(credits_charged), 0) FROM workflows.runs") == 100);
  check_invariants(fixture);
}

TEST_CASE("a crash while runs execute: after restart every run ends committed or released",
          "[integration][workflows][crash]") {
  // Short leases and sweeps so recovery happens within seconds of the restart.
  engine_fixture fixture(tally::test::env_map{{"TALLY_ACTOR_TIMEOUT_MS", "1000"},
                                              {"TALLY_WORKFLOW_RECOVERY_SWEEP_MS", "300"},
                                              {"TALLY_WORKFLOW_QUEUE_WAIT_MS_MAX", "2000"}});
  auto client = fixture.client();
  auto user = register_user(client);
  grant(client, user.id, 100);
  const std::string slow = create_workflow(client, user, 5, delay_executor(8'000));
  const std::string quick = create_workflow(client, user, 7, {{"type", "noop"}});
  std::vector<std::string> runs;
  for (int i = 0; i < 6; ++i) {
    auto response =
        client.post_json("/v1/workflows/" + slow + "/runs", json::object(), user.auth());
    REQUIRE(response.status == 202);
    runs.push_back(response.json()["id"].get<std::string>());
  }
  auto done =
      client.post_json("/v1/workflows/" + quick + "/runs?wait=true", json::object(), user.auth());
  REQUIRE(done.status == 200);
  REQUIRE(done.json()["status"] == "succeeded");
  // Wait until all six are executing (their execute step written), then crash.
  int64_t running = 0;
  for (int i = 0; i < 60 && running < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    running = pg_scalar(fixture.database.url(),
                        "SELECT count(*) FROM workflows.runs WHERE status = 'running'");
  }
  REQUIRE(running == 6);

  fixture.engine.kill9();
  fixture.engine.restart();
  client = fixture.client();
  int compensated = 0;
  for (const auto& run_id : runs) {
    const json run = wait_final(client, user, run_id);
    INFO(run.dump());
    // At-most-once: an execution interrupted by the crash is never re-run or charged.
    CHECK(run["status"] == "compensated");
    CHECK(run["credits_charged"] == 0);
    CHECK(step_status(run, "execute") == "failed");
    CHECK(step_status(run, "release") == "succeeded");
    compensated += run["status"] == "compensated" ? 1 : 0;
  }
  CHECK(compensated == 6);
  const json after = balance(client, user);
  CHECK(after["available"] == 93);  // only the quick run was charged
  CHECK(after["reserved"] == 0);
  check_invariants(fixture);
}
