// tests/integration/purchases_test.cpp: packages and purchases (API.md "Packages and
// purchases") against the real engine and, when this build has it, the real `tally sandbox`
// gateway process (Omise wire format on loopback):
// - packages: the default set, admin create/patch and who may call them;
// - POST /v1/purchases refusals: no Idempotency-Key, unknown or inactive package, raw card
//   numbers in any field (nothing recorded, nothing logged), field validation;
// - reads: another user's purchase is 404, list pagination and the status filter;
// - an unreachable gateway: 502, the purchase stays pending, the key is free for a retry that
//   resumes, a different body with the key is 422 idempotency_key_reused;
// - with the sandbox: a card purchase is 201 pending with a charge and grants nothing; a
//   declined card is 402 payment_failed recorded failed; replay with Idempotent-Replayed and
//   one charge at the gateway; PromptPay answers a QR; polling GET after the charge succeeded
//   completes the purchase and grants the package's credits exactly once;
// - gateway faults (sandbox one-shot chaos): a 5xx without effect is sent again, a 5xx after
//   the charge was made and a timeout after it was made are found by the lookup instead:
//   201 and one charge at the gateway in every case, credits granted once.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::base64;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::engine_options;
using tally::test::engine_process;
using tally::test::env_map;
using tally::test::header_list;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_query;
using tally::test::pg_scalar;

constexpr const char* password_ok = "correct horse battery";
constexpr const char* sandbox_public_key = "pkey_test_purchases";
constexpr const char* sandbox_secret_key = "skey_test_purchases";

using tally::test::test_user;

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "buyer");
}

std::string problem_code(const http_response& response) {
  if (response.header("content-type").rfind("application/problem+json", 0) != 0) {
    return "";
  }
  return response.json().value("code", "");
}

void check_problem(const http_response& response, int status, const std::string& code) {
  INFO(response.describe());
  CHECK(response.status == status);
  CHECK(problem_code(response) == code);
}

http_response purchase(http_client& client, const test_user& user, const json& body,
                       const std::string& key) {
  header_list headers{bearer(user.token)};
  if (!key.empty()) {
    headers.emplace_back("Idempotency-Key", key);
  }
  return client.post_json("/v1/purchases", body, headers);
}

int64_t purchase_rows(const std::string& url) {
  return pg_scalar(url, "SELECT count(*) FROM payments.purchases");
}

int64_t available(http_client& client, const test_user& user) {
  auto response = client.get("/v1/credits/balance", {bearer(user.token)});
  REQUIRE(response.status == 200);
  return response.json()["available"].get<int64_t>();
}

// Inserts a purchase row directly (reads and pagination need rows, not a gateway).
std::string insert_purchase(const std::string& url, const std::string& user_id, int age_s,
                            const std::string& status) {
  auto rows =
      pg_query(url,
               "INSERT INTO payments.purchases (purchase_id, user_id, package_id, credits, amount, "
               "currency, gateway, method, status, idempotency_key, created_at) VALUES "
               "(gen_random_uuid(), '" +
                   user_id +
                   "', 'pkg_starter', 100, 9900, 'THB', 'sandbox', "
                   "'card', '" +
                   status + "', 'purchase:seed" + std::to_string(age_s) + "', now() - interval '" +
                   std::to_string(age_s) +
                   " seconds') "
                   "RETURNING purchase_id::text");
  return rows[0][0].as<std::string>();
}

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

bool sandbox_available() {
  const std::string command =
      tally::test::engine_binary_path() + " sandbox --help > /dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

engine_options sandbox_options(const std::string& webhook_url) {
  engine_options options;
  options.args = {"sandbox", "--public-key", sandbox_public_key, "--secret-key",
                  sandbox_secret_key};
  if (!webhook_url.empty()) {
    options.args.push_back("--webhook-url");
    options.args.push_back(webhook_url);
  }
  options.listen_env = "TALLY_SANDBOX_LISTEN";  // the harness picks the port
  options.ready_timeout = std::chrono::seconds(10);
  options.wait_until_live = false;
  return options;
}

// The real `tally sandbox` on a free loopback port, with fixed test keys.
struct sandbox_process {
  engine_process process;
  uint16_t port;

  explicit sandbox_process(const std::string& webhook_url = "")
      : process(sandbox_options(webhook_url)), port(process.port()) {
    http_client probe("127.0.0.1", port, std::chrono::milliseconds(500));
    for (int attempt = 0; attempt < 100; ++attempt) {
      try {
        probe.get("/charges/none");
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    throw std::runtime_error("sandbox did not start: " + process.log_tail());
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }

  // A single-use token for `number` from the vault (what a buyer's browser does).
  std::string token(const std::string& number) const {
    http_client client("127.0.0.1", port);
    auto response = client.request(
        "POST", "/tokens",
        "card%5Bnumber%5D=" + number +
            "&card%5Bname%5D=Test+Buyer&card%5Bexpiration_month%5D=12"
            "&card%5Bexpiration_year%5D=2030&card%5Bsecurity_code%5D=123",
        {{"Content-Type", "application/x-www-form-urlencoded"},
         {"Authorization", "Basic " + base64(std::string(sandbox_public_key) + ":")}});
    if (response.status != 200) {
      throw std::runtime_error("token failed: " + response.describe());
    }
    return response.json()["id"].get<std::string>();
  }

  // Changes the sandbox's chaos controls (docs/sandbox.md "Chaos"); returns them.
  json chaos(const json& update) const {
    http_client client("127.0.0.1", port);
    auto response = client.request(
        "POST", "/sandbox/chaos", update.dump(),
        {{"Content-Type", "application/json"},
         {"Authorization", "Basic " + base64(std::string(sandbox_secret_key) + ":")}});
    if (response.status != 200) {
      throw std::runtime_error("chaos failed: " + response.describe());
    }
    return response.json();
  }

  // How many charges the sandbox holds for `purchase_id` (its list endpoint).
  int64_t charges_for(const std::string& purchase_id) const {
    http_client client("127.0.0.1", port);
    auto response =
        client.get("/charges?limit=100&order=reverse_chronological",
                   {{"Authorization", "Basic " + base64(std::string(sandbox_secret_key) + ":")}});
    if (response.status != 200) {
      throw std::runtime_error("list failed: " + response.describe());
    }
    int64_t count = 0;
    const auto body = response.json();  // kept alive: the loop iterates into it
    for (const auto& charge : body.at("data")) {
      if (charge.contains("metadata") &&
          charge["metadata"].value("purchase_id", "") == purchase_id) {
        ++count;
      }
    }
    return count;
  }
};

env_map engine_env_for(const sandbox_process& sandbox) {
  return {{"TALLY_SANDBOX_API_URL", sandbox.url()},
          {"TALLY_SANDBOX_VAULT_URL", sandbox.url()},
          {"TALLY_SANDBOX_SECRET_KEY", sandbox_secret_key},
          {"TALLY_SANDBOX_PUBLIC_KEY", sandbox_public_key},
          {"TALLY_DEFAULT_GATEWAY", "sandbox"},
          {"TALLY_PURCHASE_POLL_VERIFY_AFTER_S", "0"},
          {"TALLY_PURCHASE_POLL_VERIFY_INTERVAL_S", "1"}};
}

}  // namespace

TEST_CASE("GET /v1/packages lists the active packages without authentication",
          "[integration][payments]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto response = client.get("/v1/packages");
  REQUIRE(response.status == 200);
  const auto items = response.json()["items"];
  auto rows = pg_query(fixture.database.url(),
                       "SELECT package_id, name, credits, price_amount, currency FROM "
                       "payments.packages WHERE active ORDER BY price_amount, package_id");
  REQUIRE(items.size() == rows.size());
  REQUIRE(rows.size() >= 3);  // the migration's default set
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(items[i]["id"] == rows[i][0].as<std::string>());
    CHECK(items[i]["name"] == rows[i][1].as<std::string>());
    CHECK(items[i]["credits"] == rows[i][2].as<int64_t>());
    CHECK(items[i]["price"]["amount"] == rows[i][3].as<int64_t>());
    CHECK(items[i]["price"]["currency"] == rows[i][4].as<std::string>());
  }
  std::set<std::string> ids;
  for (const auto& item : items) {
    ids.insert(item["id"].get<std::string>());
  }
  CHECK(ids.count("pkg_starter") == 1);
  CHECK(ids.count("pkg_pro") == 1);
}

TEST_CASE("admins create and patch packages; nobody else can", "[integration][payments]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json created_body = {{"id", "pkg_trial"},
                             {"name", "Trial"},
                             {"credits", 10},
                             {"price", {{"amount", 2500}, {"currency", "THB"}}}};
  check_problem(client.post_json("/v1/admin/packages", created_body), 401, "unauthorized");
  auto user = register_user(client);
  auto as_user = client.post_json("/v1/admin/packages", created_body, {bearer(user.token)});
  CHECK((as_user.status == 401 || as_user.status == 403));
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM payments.packages WHERE package_id = 'pkg_trial'") == 0);

  auto created = client.post_json("/v1/admin/packages", created_body, fixture.admin_headers());
  REQUIRE(created.status == 201);
  CHECK(created.json()["id"] == "pkg_trial");
  CHECK(created.json()["credits"] == 10);
  auto listed = client.get("/v1/packages").json()["items"];
  CHECK(std::any_of(listed.begin(), listed.end(), [](const json& p) {
    return p["id"] == "pkg_trial" && p["price"]["amount"] == 2500;
  }));

  check_problem(client.post_json("/v1/admin/packages", created_body, fixture.admin_headers()), 422,
                "validation_failed");
  auto invalid = client.post_json(
      "/v1/admin/packages",
      {{"name", ""}, {"credits", 0}, {"price", {{"amount", 5}, {"currency", "thb"}}}},
      fixture.admin_headers());
  check_problem(invalid, 422, "validation_failed");
  std::set<std::string> fields;
  const auto invalid_body = invalid.json();  // kept alive: the loop iterates into it
  for (const auto& e : invalid_body.at("errors")) {
    fields.insert(e["field"].get<std::string>());
  }
  CHECK(fields == std::set<std::string>{"name", "credits", "price.currency"});

  auto patched = client.patch_json("/v1/admin/packages/pkg_trial",
                                   {{"price", {{"amount", 3000}, {"currency", "THB"}}}},
                                   fixture.admin_headers());
  REQUIRE(patched.status == 200);
  CHECK(patched.json()["price"]["amount"] == 3000);
  CHECK(patched.json()["name"] == "Trial");
  check_problem(client.patch_json("/v1/admin/packages/pkg_trial", {{"active", false}}), 401,
                "unauthorized");
  REQUIRE(
      client
          .patch_json("/v1/admin/packages/pkg_trial", {{"active", false}}, fixture.admin_headers())
          .status == 200);
  listed = client.get("/v1/packages").json()["items"];
  CHECK(std::none_of(listed.begin(), listed.end(),
                     [](const json& p) { return p["id"] == "pkg_trial"; }));
  check_problem(
      client.patch_json("/v1/admin/packages/pkg_nope", {{"active", true}}, fixture.admin_headers()),
      404, "package_not_found");
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM audit.records WHERE action IN "
                  "('package.created', 'package.updated') AND subject = "
                  "'package:pkg_trial'") == 3);
}

TEST_CASE("purchases are refused before anything is recorded", "[integration][payments]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto user = register_user(client);
  const json ok_body = {
      {"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", "tokn_test_x"}};

  SECTION("without an Idempotency-Key (as POST /v1/credits/spend)") {
    check_problem(purchase(client, user, ok_body, ""), 400, "idempotency_key_required");
  }
  SECTION("without authentication") {
    auto response = client.post_json("/v1/purchases", ok_body, {{"Idempotency-Key", "k1"}});
    check_problem(response, 401, "unauthorized");
  }
  SECTION("for an unknown or inactive package") {
    check_problem(
        purchase(client, user, {{"package_id", "pkg_nope"}, {"method", "promptpay"}}, "k2"), 404,
        "package_not_found");
    REQUIRE(
        client
            .patch_json("/v1/admin/packages/pkg_pro", {{"active", false}}, fixture.admin_headers())
            .status == 200);
    check_problem(
        purchase(client, user, {{"package_id", "pkg_pro"}, {"method", "promptpay"}}, "k3"), 404,
        "package_not_found");
    CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM payments.idempotency_keys") == 0);
  }
  SECTION("with a card number in any field, in any spelling") {
    const std::vector<json> bodies = {
        {{"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", "4242424242424242"}},
        {{"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", "4242 4242 4242 4242"}},
        {{"package_id", "pkg_starter"},
         {"method", "card"},
         {"card_token", "tokn_test_x"},
         {"note", {{"card", "5555-5555-5555-4444"}}}},
        {{"package_id", "pkg_starter"},
         {"method", "card"},
         {"card_token", "tokn_test_x"},
         {"number", 4111111111111111ULL}},
    };
    int index = 0;
    for (const auto& body : bodies) {
      check_problem(purchase(client, user, body, "card" + std::to_string(index++)), 422,
                    "raw_card_data_rejected");
    }
    const std::string log = fixture.engine.log_text();
    CHECK(log.find("4242424242424242") == std::string::npos);
    CHECK(log.find("4242 4242 4242 4242") == std::string::npos);
    CHECK(log.find("5555-5555-5555-4444") == std::string::npos);
  }
  SECTION("with invalid fields, every one listed") {
    auto response = purchase(
        client, user,
        {{"package_id", 7}, {"method", "cash"}, {"gateway", "paypal"}, {"return_uri", "ftp://x"}},
        "k4");
    check_problem(response, 422, "validation_failed");
    std::set<std::string> fields;
    const auto body = response.json();  // kept alive: the loop iterates into it
    for (const auto& e : body.at("errors")) {
      fields.insert(e["field"].get<std::string>());
    }
    CHECK(fields == std::set<std::string>{"package_id", "method", "gateway", "return_uri"});
    check_problem(purchase(client, user, {{"package_id", "pkg_starter"}, {"method", "card"}}, "k5"),
                  422, "validation_failed");
  }
  CHECK(purchase_rows(fixture.database.url()) == 0);
}

TEST_CASE("a purchase is visible only to its buyer, in pages newest first",
          "[integration][payments]") {
  engine_fixture fixture;
  auto client = fixture.client();
  auto alice = register_user(client);
  auto bob = register_user(client);
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 25; ++i) {
    ids.push_back(insert_purchase(fixture.database.url(), alice.id, 1000 - i * 10,
                                  i % 5 == 0 ? "failed" : "pending"));
  }
  auto mine = client.get("/v1/purchases/" + ids[3], {bearer(alice.token)});
  REQUIRE(mine.status == 200);
  CHECK(mine.json()["id"] == ids[3]);
  CHECK(mine.json()["credits"] == 100);
  check_problem(client.get("/v1/purchases/" + ids[3], {bearer(bob.token)}), 404,
                "purchase_not_found");
  check_problem(client.get("/v1/purchases/not-a-uuid", {bearer(alice.token)}), 404,
                "purchase_not_found");
  CHECK(client.get("/v1/purchases", {bearer(bob.token)}).json()["items"].empty());

  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto response =
        client.get("/v1/purchases?limit=10" + (cursor.empty() ? "" : "&cursor=" + cursor),
                   {bearer(alice.token)});
    REQUIRE(response.status == 200);
    auto body = response.json();
    for (const auto& item : body["items"]) {
      seen.push_back(item["id"].get<std::string>());
    }
    if (!body["has_more"].get<bool>()) {
      CHECK(body["next_cursor"].is_null());
      break;
    }
    cursor = body["next_cursor"].get<std::string>();
  }
  const std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  CHECK(seen == newest_first);

  auto failed = client.get("/v1/purchases?status=failed&limit=100", {bearer(alice.token)}).json();
  CHECK(failed["items"].size() == 5);
  for (const auto& item : failed["items"]) {
    CHECK(item["status"] == "failed");
  }
  check_problem(client.get("/v1/purchases?status=paid", {bearer(alice.token)}), 422,
                "validation_failed");
  check_problem(client.get("/v1/purchases?cursor=garbage", {bearer(alice.token)}), 400,
                "invalid_cursor");
}

TEST_CASE("an unreachable gateway leaves the purchase pending and its key free for a retry",
          "[integration][payments]") {
  // Nothing listens on this port: every gateway call fails before sending.
  engine_fixture fixture(
      {{"TALLY_SANDBOX_API_URL", "http://127.0.0.1:" + std::to_string(free_port())},
       {"TALLY_GATEWAY_TIMEOUT_MS", "500"},
       {"TALLY_PURCHASE_TIMEOUT_MS", "4000"}});
  auto client = fixture.client();
  auto user = register_user(client);
  const json body = {
      {"package_id", "pkg_standard"}, {"method", "card"}, {"card_token", "tokn_test_1"}};
  check_problem(purchase(client, user, body, "retry-me"), 502, "gateway_unavailable");
  REQUIRE(purchase_rows(fixture.database.url()) == 1);
  auto row = pg_query(fixture.database.url(),
                      "SELECT status, charge_id IS NULL, credits, amount FROM payments.purchases");
  CHECK(row[0][0].as<std::string>() == "pending");
  CHECK(row[0][1].as<bool>());
  CHECK(row[0][2].as<int64_t>() == 500);
  CHECK(row[0][3].as<int64_t>() == 44900);
  // The retry resumes the same purchase (no second row), and fails the same way.
  check_problem(purchase(client, user, body, "retry-me"), 502, "gateway_unavailable");
  CHECK(purchase_rows(fixture.database.url()) == 1);
  // The key is bound to its first body.
  json other = body;
  other["package_id"] = "pkg_pro";
  check_problem(purchase(client, user, other, "retry-me"), 422, "idempotency_key_reused");
  // Keys are per user: the same key for someone else is a new purchase.
  auto other_user = register_user(client);
  check_problem(purchase(client, other_user, body, "retry-me"), 502, "gateway_unavailable");
  CHECK(purchase_rows(fixture.database.url()) == 2);
  CHECK(available(client, user) == 0);

  // Eight clients race with one fresh key: one purchase row; each answer is the gateway's
  // 502 (it ran, or resumed after the claim was dropped) or 409 (it overlapped a run).
  const json racing = {
      {"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", "tokn_test_2"}};
  std::vector<int> statuses(8, 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    threads.emplace_back([&, i] {
      auto own = fixture.engine.client(std::chrono::milliseconds(20'000));
      statuses[i] = purchase(own, user, racing, "race-key").status;
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (int status : statuses) {
    CHECK((status == 502 || status == 409));
  }
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM payments.purchases WHERE idempotency_key = "
                  "'purchase:race-key'") == 1);
}

TEST_CASE("purchases through the sandbox gateway", "[integration][payments][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: gateway purchase cases not run");
    return;
  }
  sandbox_process sandbox;
  engine_fixture fixture(engine_env_for(sandbox));
  auto client = fixture.client();
  auto user = register_user(client);
  const std::string url = fixture.database.url();

  SECTION("a card purchase is pending with its charge, and grants nothing yet") {
    const json body = {{"package_id", "pkg_starter"},
                       {"method", "card"},
                       {"card_token", sandbox.token("4242424242424242")}};
    auto created = purchase(client, user, body, "card-ok");
    INFO(created.describe());
    REQUIRE(created.status == 201);
    auto view = created.json();
    CHECK(view["status"] == "pending");
    CHECK(view["credits"] == 100);
    CHECK(view["amount"] == 9900);
    CHECK(view["currency"] == "THB");
    CHECK(view["gateway"] == "sandbox");
    CHECK(view["charge_id"].get<std::string>().rfind("chrg_", 0) == 0);
    CHECK(available(client, user) == 0);

    // Same key, same body: the first answer again, and no second charge.
    auto replay = purchase(client, user, body, "card-ok");
    REQUIRE(replay.status == 201);
    CHECK(replay.header("Idempotent-Replayed") == "true");
    CHECK(replay.json()["id"] == view["id"]);
    CHECK(replay.json()["charge_id"] == view["charge_id"]);
    CHECK(sandbox.charges_for(view["id"].get<std::string>()) == 1);
    CHECK(purchase_rows(url) == 1);
    json other = body;
    other["package_id"] = "pkg_pro";
    check_problem(purchase(client, user, other, "card-ok"), 422, "idempotency_key_reused");

    // Polling after the charge succeeded completes it, crediting exactly the package.
    json polled;
    for (int attempt = 0; attempt < 50; ++attempt) {
      polled =
          client.get("/v1/purchases/" + view["id"].get<std::string>(), {bearer(user.token)}).json();
      if (polled["status"] == "completed") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(polled["status"] == "completed");
    CHECK_FALSE(polled["completed_at"].is_null());
    CHECK(available(client, user) == 100);
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1'100));
      CHECK(client.get("/v1/purchases/" + view["id"].get<std::string>(), {bearer(user.token)})
                .json()["status"] == "completed");
    }
    CHECK(available(client, user) == 100);
    CHECK(pg_scalar(url,
                    "SELECT count(*) FROM ledger.entries WHERE kind = 'purchase' AND "
                    "reference_id = '" +
                        view["id"].get<std::string>() + "'") == 1);
    CHECK(pg_scalar(url,
                    "SELECT count(*) FROM audit.records WHERE action = "
                    "'purchase.completed'") == 1);
    // One purchase.completed event, committed with the state change and then
    // published by the relay (docs/events.md).
    const std::string completed_events =
        "SELECT count(*) FROM payments.outbox WHERE type = 'purchase.completed' AND subject = "
        "'purchases/" +
        view["id"].get<std::string>() + "'";
    CHECK(pg_scalar(url, completed_events) == 1);
    CHECK(pg_scalar(url,
                    "SELECT count(*) FROM payments.outbox WHERE type = 'purchase.created' AND "
                    "data->>'status' = 'pending' AND subject = 'purchases/" +
                        view["id"].get<std::string>() + "'") == 1);
    bool published = false;
    for (int attempt = 0; attempt < 50 && !published; ++attempt) {
      published = pg_scalar(url, completed_events + " AND published_at IS NOT NULL") == 1;
      if (!published) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    CHECK(published);
  }
  SECTION("a declined card is 402 payment_failed and recorded failed") {
    const json body = {{"package_id", "pkg_starter"},
                       {"method", "card"},
                       {"card_token", sandbox.token("4111111111140011")}};
    auto refused = purchase(client, user, body, "card-declined");
    check_problem(refused, 402, "payment_failed");
    CHECK(refused.json()["failure_code"] == "insufficient_fund");
    CHECK_FALSE(refused.json()["failure_message"].get<std::string>().empty());
    auto row = pg_query(url, "SELECT status, failure_code FROM payments.purchases");
    REQUIRE(row.size() == 1);
    CHECK(row[0][0].as<std::string>() == "failed");
    CHECK(row[0][1].as<std::string>() == "insufficient_fund");
    // Its events: created (before the gateway was called), then failed with the code.
    auto events = pg_query(url,
                           "SELECT type, data->>'failure_code' FROM payments.outbox WHERE type "
                           "LIKE 'purchase.%' ORDER BY outbox_id");
    REQUIRE(events.size() == 2);
    CHECK(events[0][0].as<std::string>() == "purchase.created");
    CHECK(events[1][0].as<std::string>() == "purchase.failed");
    CHECK(events[1][1].as<std::string>() == "insufficient_fund");
    auto replay = purchase(client, user, body, "card-declined");
    check_problem(replay, 402, "payment_failed");
    CHECK(replay.header("Idempotent-Replayed") == "true");
    CHECK(available(client, user) == 0);
  }
  SECTION("PromptPay answers a QR to scan") {
    auto created =
        purchase(client, user, {{"package_id", "pkg_standard"}, {"method", "promptpay"}}, "qr-1");
    INFO(created.describe());
    REQUIRE(created.status == 201);
    auto action = created.json()["next_action"];
    CHECK(action["type"] == "qr");
    CHECK(action["image_url"].get<std::string>().rfind("http", 0) == 0);
    CHECK(action.contains("expires_at"));
    CHECK(created.json()["status"] == "pending");
  }
}

// Polls GET /v1/purchases/{id} (which may verify with the gateway) until completed.
json poll_until_completed(http_client& client, const test_user& user, const std::string& id) {
  json polled;
  for (int attempt = 0; attempt < 75; ++attempt) {
    polled = client.get("/v1/purchases/" + id, {bearer(user.token)}).json();
    if (polled["status"] == "completed") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return polled;
}

TEST_CASE("gateway 5xx and timeouts never charge twice", "[integration][payments][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: gateway fault cases not run");
    return;
  }
  sandbox_process sandbox;
  auto env = engine_env_for(sandbox);
  env["TALLY_GATEWAY_TIMEOUT_MS"] = "1000";
  env["TALLY_PURCHASE_TIMEOUT_MS"] = "20000";
  engine_fixture fixture(env);
  auto client = fixture.engine.client(std::chrono::milliseconds(25'000));
  auto user = register_user(client);
  const std::string url = fixture.database.url();

  struct fault {
    const char* control;
    const char* sandbox_event;  // its log line proves the fault hit the charge creation
  };
  const fault faults[] = {
      {"fail_next", "sandbox_chaos_failed"},
      {"fail_after_effect_next", "sandbox_chaos_failed_after_effect"},
      {"timeout_next", "sandbox_chaos_held"},
  };
  // Log lines (JSON, one per line) of `event` on the charge-creation route.
  const auto charge_faults = [&](const std::string& event) {
    const std::string text = sandbox.process.log_text();
    int count = 0;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      end = end == std::string::npos ? text.size() : end;
      const std::string line = text.substr(start, end - start);
      if (line.find("\"event\":\"" + event + "\"") != std::string::npos &&
          line.find("\"route\":\"/charges\"") != std::string::npos) {
        ++count;
      }
      start = end + 1;
    }
    return count;
  };
  int64_t expected_credits = 0;
  for (const auto& f : faults) {
    INFO(f.control);
    const std::string token = sandbox.token("4242424242424242");  // before the fault is armed
    json arm = {{f.control, 1}, {"timeout_hold_ms", 3'000}};
    sandbox.chaos(arm);
    auto created = purchase(
        client, user, {{"package_id", "pkg_starter"}, {"method", "card"}, {"card_token", token}},
        std::string("fault-") + f.control);
    INFO(created.describe());
    REQUIRE(created.status == 201);
    CHECK(sandbox.chaos(json::object())[f.control] == 0);
    CHECK(charge_faults(f.sandbox_event) == 1);
    const std::string id = created.json()["id"].get<std::string>();
    CHECK(created.json()["charge_id"].get<std::string>().rfind("chrg_", 0) == 0);
    CHECK(sandbox.charges_for(id) == 1);

    expected_credits += 100;
    CHECK(poll_until_completed(client, user, id)["status"] == "completed");
    CHECK(available(client, user) == expected_credits);
    CHECK(pg_scalar(url,
                    "SELECT count(*) FROM ledger.entries WHERE kind = 'purchase' AND "
                    "reference_id = '" +
                        id + "'") == 1);
  }
  CHECK(pg_scalar(url, "SELECT count(*) FROM payments.purchases WHERE status = 'completed'") == 3);
}
