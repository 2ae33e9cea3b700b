// tests/integration/webhooks_test.cpp: gateway webhooks in (API.md "Gateway webhooks", admin
// inbox endpoints; docs/webhooks.md) against the real engine and, when this build has it, the
// real `tally sandbox` (Omise wire format, charge.complete signed with Omise-Signature):
// - receivers: signatures (Omise scheme for the sandbox, Stripe with rotation, no Stripe
//   secret → every delivery refused), JSON/envelope checks, the body limit, one row per event
//   however often (and however concurrently) it is delivered;
// - the admin inbox: list with status filter and cursor pages, retry of parked events only;
// - with the sandbox: a purchase is credited exactly once by its webhook though delivered
//   again and again (and 16 at once), while forged copies are rejected and audited; a webhook
//   arriving before the purchase is bound is retried and then credits; an amount mismatch is
//   rejected and audited; an unreachable gateway is retried, parked, and an admin retry
//   verifies it; a purchase whose webhook never comes is completed by the sweep; the ledger
//   reconciles afterwards.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include "persistence/inbox_store.hpp"
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
constexpr const char* sandbox_public_key = "pkey_test_webhooks";
constexpr const char* sandbox_secret_key = "skey_test_webhooks";
// The webhook secret's raw bytes; the gateway and the engine are given its base64.
constexpr const char* webhook_key = "webhooks-test-signing-key-0123456789";
constexpr const char* stripe_secret = "whsec_test_webhooks_0123456789";

// Lower-case hex HMAC-SHA256, computed here independently of the engine's code.
std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  return out;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

// Omise-Signature over `timestamp.body` with the decoded secret.
header_list omise_signed(const std::string& body, int64_t timestamp = now_s(),
                         const std::string& key = webhook_key) {
  const std::string t = std::to_string(timestamp);
  return {{"Content-Type", "application/json"},
          {"Omise-Signature", hmac_hex(key, t + "." + body)},
          {"Omise-Signature-Timestamp", t}};
}

std::string stripe_header(const std::string& body, int64_t timestamp,
                          const std::string& secret = stripe_secret) {
  const std::string t = std::to_string(timestamp);
  return "t=" + t + ",v1=" + hmac_hex(secret, t + "." + body);
}

std::string omise_event(const std::string& event_id, const std::string& charge_id) {
  return json{{"object", "event"},
              {"id", event_id},
              {"key", "charge.complete"},
              {"created_at", "2026-01-01T00:00:00Z"},
              {"data", {{"object", "charge"}, {"id", charge_id}, {"amount", 9900}}}}
      .dump();
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

void check_received(const http_response& response) {
  INFO(response.describe());
  REQUIRE(response.status == 200);
  CHECK(response.json() == json{{"received", true}});
}

int64_t inbox_rows(const std::string& url, const std::string& where = "true") {
  return pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE " + where);
}

std::string inbox_status(const std::string& url, const std::string& gateway,
                         const std::string& event_id) {
  auto rows = pg_query(url, "SELECT status FROM payments.inbox WHERE gateway = '" + gateway +
                                "' AND event_id = '" + event_id + "'");
  return rows.empty() ? "" : rows[0][0].as<std::string>();
}

// Polls `done` every 100 ms for up to `limit`; returns its last answer.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
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

// The real `tally sandbox` on `port`, signing its deliveries to `webhook_url` (none when "").
struct sandbox_process {
  uint16_t port;
  engine_process process;

  sandbox_process(uint16_t listen_port, const std::string& webhook_url,
                  std::vector<std::string> extra = {})
      : port(listen_port), process(options(listen_port, webhook_url, std::move(extra))) {
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

  static engine_options options(uint16_t port, const std::string& webhook_url,
                                std::vector<std::string> extra) {
    engine_options out;
    out.env_unset = {"TALLY_SANDBOX_WEBHOOK_URL", "TALLY_SANDBOX_WEBHOOK_SECRET"};
    out.args = args(port, webhook_url, std::move(extra));
    out.ready_timeout = std::chrono::seconds(10);
    out.wait_until_live = false;  // the sandbox has no /health/live: probed below
    return out;
  }

  static std::vector<std::string> args(uint16_t port, const std::string& webhook_url,
                                       std::vector<std::string> extra) {
    std::vector<std::string> out{
        "sandbox",          "--listen",         "127.0.0.1:" + std::to_string(port),
        "--public-key",     sandbox_public_key, "--secret-key",
        sandbox_secret_key, "--webhook-secret", base64(webhook_key)};
    if (!webhook_url.empty()) {
      out.push_back("--webhook-url");
      out.push_back(webhook_url);
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  header_list secret_auth() const {
    return {{"Authorization", "Basic " + base64(std::string(sandbox_secret_key) + ":")}};
  }

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

  // A charge made directly at the gateway (not through the engine) for `purchase_id`.
  json charge(const std::string& purchase_id, int64_t amount) const {
    http_client client("127.0.0.1", port);
    header_list headers = secret_auth();
    headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    auto response = client.request("POST", "/charges",
                                   "amount=" + std::to_string(amount) +
                                       "&currency=THB&card=" + token("4242424242424242") +
                                       "&metadata%5Bpurchase_id%5D=" + purchase_id,
                                   headers);
    if (response.status != 200) {
      throw std::runtime_error("charge failed: " + response.describe());
    }
    return response.json();
  }

  void chaos(const json& settings) const {
    http_client client("127.0.0.1", port);
    auto response = client.post_json("/sandbox/chaos", settings, secret_auth());
    if (response.status != 200) {
      throw std::runtime_error("chaos failed: " + response.describe());
    }
  }
};

using tally::test::test_user;

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "hook");
}

int64_t available(http_client& client, const test_user& user) {
  auto response = client.get("/v1/credits/balance", {bearer(user.token)});
  REQUIRE(response.status == 200);
  return response.json()["available"].get<int64_t>();
}

// Engine settings for the sandbox tests: fast polls and retries; GET /v1/purchases/{id}
// never settles (so a completion here is the webhook's or the sweep's doing).
env_map engine_env(const std::string& sandbox_url, env_map extra = {}) {
  env_map env{{"TALLY_SANDBOX_API_URL", sandbox_url},
              {"TALLY_SANDBOX_VAULT_URL", sandbox_url},
              {"TALLY_SANDBOX_SECRET_KEY", sandbox_secret_key},
              {"TALLY_SANDBOX_PUBLIC_KEY", sandbox_public_key},
              {"TALLY_SANDBOX_WEBHOOK_SECRET", base64(webhook_key)},
              {"TALLY_DEFAULT_GATEWAY", "sandbox"},
              {"TALLY_PURCHASE_POLL_VERIFY_AFTER_S", "86400"},
              {"TALLY_WEBHOOK_POLL_MS", "100"},
              {"TALLY_WEBHOOK_RETRY_DELAY_MIN_MS", "100"},
              {"TALLY_WEBHOOK_RETRY_DELAY_MAX_MS", "400"},
              {"TALLY_SWEEP_PERIOD_S", "0"}};
  for (auto& [name, value] : extra) {
    env[name] = value;
  }
  return env;
}

std::string first_package(http_client& client, int64_t& credits, int64_t& amount) {
  auto items = client.get("/v1/packages").json()["items"];
  REQUIRE(!items.empty());
  credits = items[0]["credits"].get<int64_t>();
  amount = items[0]["price"]["amount"].get<int64_t>();
  return items[0]["id"].get<std::string>();
}

json get_purchase(http_client& client, const test_user& user, const std::string& id) {
  return client.get("/v1/purchases/" + id, {bearer(user.token)}).json();
}

void check_reconciled(http_client& client, const header_list& admin) {
  auto report = client.get("/v1/admin/reconcile", admin);
  INFO(report.describe());
  REQUIRE(report.status == 200);
  CHECK(report.json()["ok"] == true);
}

}  // namespace

TEST_CASE("webhook receivers check signatures and store each event once",
          "[integration][webhooks]") {
  engine_fixture fixture({{"TALLY_SANDBOX_WEBHOOK_SECRET", base64(webhook_key)},
                          {"TALLY_STRIPE_WEBHOOK_SECRET", stripe_secret},
                          {"TALLY_WEBHOOK_POLL_MS", "100"}});
  auto client = fixture.client();
  const std::string url = fixture.database.url();

  // The sandbox receiver: Omise's scheme with the sandbox's secret.
  const std::string body = omise_event("evnt_test_recv1", "chrg_test_recv1");
  check_received(client.request("POST", "/v1/webhooks/sandbox", body, omise_signed(body)));
  CHECK(inbox_rows(url, "gateway = 'sandbox' AND event_id = 'evnt_test_recv1'") == 1);
  auto stored = pg_query(url,
                         "SELECT raw_body, object_id, event_key, source_ip FROM "
                         "payments.inbox WHERE event_id = 'evnt_test_recv1'");
  CHECK(stored[0][0].as<std::string>() == body);  // the bytes exactly as sent
  CHECK(stored[0][1].as<std::string>() == "chrg_test_recv1");
  CHECK(stored[0][2].as<std::string>() == "charge.complete");
  CHECK(stored[0][3].as<std::string>() == "127.0.0.1");
  // A redelivery (signed anew) is 200 and changes nothing.
  check_received(
      client.request("POST", "/v1/webhooks/sandbox", body, omise_signed(body, now_s() - 5)));
  CHECK(inbox_rows(url) == 1);

  // Refused: a wrong key, a tampered body, a stale or missing timestamp, no signature.
  check_problem(client.request("POST", "/v1/webhooks/sandbox", body,
                               omise_signed(body, now_s(), "another-key-0123456789")),
                400, "invalid_signature");
  const std::string tampered = omise_event("evnt_test_recv2", "chrg_test_recv1");
  auto headers = omise_signed(body);
  check_problem(client.request("POST", "/v1/webhooks/sandbox", tampered, headers), 400,
                "invalid_signature");
  check_problem(client.request("POST", "/v1/webhooks/sandbox", tampered,
                               omise_signed(tampered, now_s() - 3'600)),
                400, "invalid_signature");
  check_problem(client.request("POST", "/v1/webhooks/sandbox", tampered,
                               {{"Content-Type", "application/json"}}),
                400, "invalid_signature");
  // Rotation: two signatures, the second one valid.
  {
    const std::string t = std::to_string(now_s());
    header_list rotated{{"Content-Type", "application/json"},
                        {"Omise-Signature", hmac_hex("old-key-000000000000", t + "." + tampered) +
                                                "," + hmac_hex(webhook_key, t + "." + tampered)},
                        {"Omise-Signature-Timestamp", t}};
    check_received(client.request("POST", "/v1/webhooks/sandbox", tampered, rotated));
  }
  CHECK(inbox_rows(url) == 2);

  // Signed but not an event: 400 malformed_json, nothing stored.
  for (const std::string& bad : {std::string("{not json"), std::string("[1,2,3]"),
                                 std::string(R"({"object":"charge","id":"chrg_1"})"),
                                 std::string(R"({"object":"event","id":"../charges/x"})")}) {
    check_problem(client.request("POST", "/v1/webhooks/sandbox", bad, omise_signed(bad)), 400,
                  "malformed_json");
  }
  CHECK(inbox_rows(url) == 2);

  // Over the webhook body limit (256 KiB): 413 before anything is checked.
  const std::string huge = omise_event("evnt_test_huge", std::string(300 * 1024, 'a'));
  check_problem(client.request("POST", "/v1/webhooks/sandbox", huge, omise_signed(huge)), 413,
                "payload_too_large");

  // Stripe: t + any matching v1 within 5 minutes.
  const std::string stripe_body =
      json{{"object", "event"},
           {"id", "evt_test_1"},
           {"type", "payment_intent.succeeded"},
           {"data", {{"object", {{"object", "payment_intent"}, {"id", "pi_test_1"}}}}}}
          .dump();
  check_received(client.request("POST", "/v1/webhooks/stripe", stripe_body,
                                {{"Content-Type", "application/json"},
                                 {"Stripe-Signature", stripe_header(stripe_body, now_s())}}));
  {
    const std::string t = std::to_string(now_s());
    const std::string two = "t=" + t + ",v1=" + hmac_hex("whsec_old", t + "." + stripe_body) +
                            ",v1=" + hmac_hex(stripe_secret, t + "." + stripe_body);
    check_received(
        client.request("POST", "/v1/webhooks/stripe", stripe_body,
                       {{"Content-Type", "application/json"}, {"Stripe-Signature", two}}));
  }
  check_problem(client.request("POST", "/v1/webhooks/stripe", stripe_body,
                               {{"Stripe-Signature", stripe_header(stripe_body, now_s() - 301)}}),
                400, "invalid_signature");
  check_problem(
      client.request("POST", "/v1/webhooks/stripe", stripe_body,
                     {{"Stripe-Signature", stripe_header(stripe_body, now_s(), "whsec_x")}}),
      400, "invalid_signature");
  check_problem(client.request("POST", "/v1/webhooks/stripe", stripe_body), 400,
                "invalid_signature");
  CHECK(inbox_rows(url, "gateway = 'stripe'") == 1);

  // Omise without a webhook secret: stored unsigned; without Omise keys never credited —
  // the verifier parks it.
  const std::string omise_body = omise_event("evnt_test_omise1", "chrg_test_omise1");
  check_received(client.request("POST", "/v1/webhooks/omise", omise_body,
                                {{"Content-Type", "application/json"}}));
  CHECK(eventually([&] { return inbox_status(url, "omise", "evnt_test_omise1") == "parked"; }));
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM payments.inbox WHERE event_id = 'evnt_test_omise1' "
                  "AND last_error LIKE 'not_configured%'") == 1);
}

TEST_CASE("16 concurrent deliveries of one event store one row", "[integration][webhooks]") {
  engine_fixture fixture(env_map{{"TALLY_SANDBOX_WEBHOOK_SECRET", base64(webhook_key)}});
  const std::string body = omise_event("evnt_test_burst", "chrg_test_burst");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto client = fixture.client();
      auto response = client.request("POST", "/v1/webhooks/sandbox", body, omise_signed(body));
      if (response.status == 200) {
        ++ok;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(ok == 16);
  CHECK(inbox_rows(fixture.database.url()) == 1);
}

TEST_CASE("the admin inbox lists events by status and retries parked ones",
          "[integration][webhooks]") {
  // No sandbox process is listening: every verification finds the gateway
  // unavailable, and after 3 quick attempts the event is parked.
  engine_fixture fixture({{"TALLY_SANDBOX_WEBHOOK_SECRET", base64(webhook_key)},
                          {"TALLY_WEBHOOK_POLL_MS", "100"},
                          {"TALLY_WEBHOOK_ATTEMPTS_MAX", "3"},
                          {"TALLY_WEBHOOK_RETRY_DELAY_MIN_MS", "50"},
                          {"TALLY_WEBHOOK_RETRY_DELAY_MAX_MS", "200"}});
  auto client = fixture.client();
  const auto admin = fixture.admin_headers();
  const std::string url = fixture.database.url();
  for (int i = 0; i < 3; ++i) {
    const std::string body =
        omise_event("evnt_test_list" + std::to_string(i), "chrg_test_list" + std::to_string(i));
    check_received(client.request("POST", "/v1/webhooks/sandbox", body, omise_signed(body)));
  }
  REQUIRE(eventually([&] { return inbox_rows(url, "status = 'parked'") == 3; }));

  check_problem(client.get("/v1/admin/webhooks/inbox"), 401, "unauthorized");
  auto all = client.get("/v1/admin/webhooks/inbox", admin);
  INFO(all.describe());
  REQUIRE(all.status == 200);
  CHECK(all.json()["items"].size() == 3);
  CHECK(all.json()["has_more"] == false);
  CHECK(all.json()["items"][0]["event_id"] == "evnt_test_list2");  // newest first
  CHECK(all.json()["items"][0]["status"] == "parked");
  CHECK(client.get("/v1/admin/webhooks/inbox?status=verified", admin).json()["items"].empty());
  check_problem(client.get("/v1/admin/webhooks/inbox?status=done", admin), 422,
                "validation_failed");
  check_problem(client.get("/v1/admin/webhooks/inbox?cursor=%21%21", admin), 400, "invalid_cursor");

  // Pages of one, following next_cursor, visit every event once.
  std::vector<std::string> seen;
  std::string target = "/v1/admin/webhooks/inbox?status=parked&limit=1";
  for (int page = 0; page < 5; ++page) {
    auto response = client.get(target, admin);
    REQUIRE(response.status == 200);
    auto body = response.json();
    for (const auto& item : body["items"]) {
      seen.push_back(item["event_id"].get<std::string>());
    }
    if (body["next_cursor"].is_null()) {
      CHECK(body["has_more"] == false);
      break;
    }
    target = "/v1/admin/webhooks/inbox?status=parked&limit=1&cursor=" +
             body["next_cursor"].get<std::string>();
  }
  CHECK(seen == std::vector<std::string>{"evnt_test_list2", "evnt_test_list1", "evnt_test_list0"});

  // Retry: a parked event is received again (and, the gateway still unreachable,
  // parked again after its 3 attempts).
  const std::string id = all.json()["items"][0]["id"].get<std::string>();
  check_problem(client.post_json("/v1/admin/webhooks/inbox/" + id + "/retry", json::object()), 401,
                "unauthorized");
  auto retried = client.request("POST", "/v1/admin/webhooks/inbox/" + id + "/retry", "", admin);
  INFO(retried.describe());
  REQUIRE(retried.status == 200);
  CHECK(retried.json()["status"] == "received");
  CHECK(retried.json()["attempts"] == 0);
  CHECK(pg_scalar(url, "SELECT count(*) FROM audit.records WHERE action = 'webhook.retried'") == 1);
  CHECK(eventually([&] {
    return pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE id = '" + id +
                              "' AND status = 'parked' AND attempts = 3") == 1;
  }));
  // Only parked events: a rejected one stays rejected.
  pg_query(url, "UPDATE payments.inbox SET status = 'rejected' WHERE id = '" + id + "'");
  check_problem(client.request("POST", "/v1/admin/webhooks/inbox/" + id + "/retry", "", admin), 409,
                "inbox_event_not_parked");
  check_problem(
      client.request("POST", "/v1/admin/webhooks/inbox/00000000-0000-4000-8000-000000000000/retry",
                     "", admin),
      404, "not_found");
  check_problem(client.request("POST", "/v1/admin/webhooks/inbox/nope/retry", "", admin), 404,
                "not_found");
}

TEST_CASE("a purchase is credited exactly once by its webhook; forgeries are rejected",
          "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: webhook verification cases not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port)));
  sandbox_process sandbox(
      sandbox_port,
      "http://127.0.0.1:" + std::to_string(fixture.engine.port()) + "/v1/webhooks/sandbox",
      {"--webhook-duplicate-ratio", "1"});
  auto client = fixture.client();
  const auto admin = fixture.admin_headers();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);

  auto created = client.post_json("/v1/purchases",
                                  {{"package_id", package},
                                   {"method", "card"},
                                   {"card_token", sandbox.token("4242424242424242")}},
                                  {bearer(user.token), {"Idempotency-Key", "hook-once"}});
  INFO(created.describe());
  REQUIRE(created.status == 201);
  const std::string purchase_id = created.json()["id"].get<std::string>();
  const std::string charge_id = created.json()["charge_id"].get<std::string>();

  REQUIRE(
      eventually([&] { return get_purchase(client, user, purchase_id)["status"] == "completed"; }));
  CHECK(available(client, user) == credits);
  // The purchase may complete through its own charge before the webhook is verified (on a
  // loaded machine the inbox worker can lag): wait for the verified row too.
  const std::string verified_sql =
      "SELECT event_id, raw_body FROM payments.inbox WHERE object_id = '" + charge_id +
      "' AND status = 'verified'";
  REQUIRE(eventually([&] { return pg_query(url, verified_sql).size() == 1; }));
  auto event_rows = pg_query(url, verified_sql);
  REQUIRE(event_rows.size() == 1);
  const std::string event_id = event_rows[0][0].as<std::string>();
  const std::string raw = event_rows[0][1].as<std::string>();

  // Delivered 3 more times, and 16 at once: 200 each, one row, no second grant.
  for (int i = 0; i < 3; ++i) {
    check_received(client.request("POST", "/v1/webhooks/sandbox", raw, omise_signed(raw)));
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto c = fixture.client();
      ok += c.request("POST", "/v1/webhooks/sandbox", raw, omise_signed(raw)).status == 200;
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(ok == 16);
  CHECK(inbox_rows(url, "event_id = '" + event_id + "'") == 1);

  // A forged copy with a bad signature is refused at the door.
  check_problem(client.request("POST", "/v1/webhooks/sandbox", raw,
                               omise_signed(raw, now_s(), "forger-key-0123456789")),
                400, "invalid_signature");
  // A signed body whose event the gateway does not know: rejected and audited.
  const std::string unknown = omise_event("evnt_test_forged1", charge_id);
  check_received(client.request("POST", "/v1/webhooks/sandbox", unknown, omise_signed(unknown)));
  CHECK(
      eventually([&] { return inbox_status(url, "sandbox", "evnt_test_forged1") == "rejected"; }));
  auto audit = pg_query(url,
                        "SELECT source_ip, detail->>'event_id', detail->>'reason' FROM "
                        "audit.records WHERE action = 'webhook.rejected'");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0][0].as<std::string>() == "127.0.0.1");
  CHECK(audit[0][1].as<std::string>() == "evnt_test_forged1");
  CHECK(audit[0][2].as<std::string>().find("forged") != std::string::npos);

  // Nothing moved the balance again; the purchase stayed completed; the ledger reconciles.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(available(client, user) == credits);
  CHECK(get_purchase(client, user, purchase_id)["status"] == "completed");
  check_reconciled(client, admin);
}

TEST_CASE(
    "a webhook before its purchase is bound is retried, then credits; a mismatch is "
    "rejected",
    "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: webhook verification cases not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port)));
  sandbox_process sandbox(
      sandbox_port,
      "http://127.0.0.1:" + std::to_string(fixture.engine.port()) + "/v1/webhooks/sandbox");
  auto client = fixture.client();
  const auto admin = fixture.admin_headers();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);

  // The charge exists at the gateway (and its webhook arrives) before any purchase is bound.
  const std::string early_purchase = "5d1c2a9e-7b4d-4e0f-9a51-2d6c8b1e4f70";
  const std::string early_charge = sandbox.charge(early_purchase, amount)["id"].get<std::string>();
  REQUIRE(eventually([&] {
    return pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE object_id = '" + early_charge +
                              "' AND status = 'received' AND attempts >= 2") == 1;
  }));
  CHECK(available(client, user) == 0);
  const auto insert = [&](const std::string& purchase_id, const std::string& charge_id,
                          int64_t price) {
    pg_query(url,
             "INSERT INTO payments.purchases (purchase_id, user_id, package_id, credits, "
             "amount, currency, gateway, method, charge_id, status, idempotency_key) VALUES ('" +
                 purchase_id + "', '" + user.id + "', '" + package + "', " +
                 std::to_string(credits) + ", " + std::to_string(price) +
                 ", 'THB', 'sandbox', 'card', '" + charge_id +
                 "', 'pending', 'purchase:" + purchase_id + "')");
  };
  insert(early_purchase, early_charge, amount);
  REQUIRE(eventually(
      [&] { return get_purchase(client, user, early_purchase)["status"] == "completed"; }));
  CHECK(available(client, user) == credits);
  CHECK(pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE object_id = '" + early_charge +
                           "' AND status = 'verified'") == 1);

  // The gateway charged a different amount than the purchase's recorded price.
  const std::string odd_purchase = "6e2d3b0f-8c5e-4f1a-8b62-3e7d9c2f5a81";
  const std::string odd_charge =
      sandbox.charge(odd_purchase, amount + 100)["id"].get<std::string>();
  insert(odd_purchase, odd_charge, amount);
  REQUIRE(eventually([&] {
    return pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE object_id = '" + odd_charge +
                              "' AND status = 'rejected'") == 1;
  }));
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM audit.records WHERE action = 'webhook.rejected' "
                  "AND detail->>'charge_id' = '" +
                      odd_charge + "' AND source_ip = '127.0.0.1'") == 1);
  CHECK(get_purchase(client, user, odd_purchase)["status"] == "pending");
  CHECK(available(client, user) == credits);
  check_reconciled(client, admin);
}

TEST_CASE("an unreachable gateway is retried, parked, and an admin retry verifies",
          "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: webhook verification cases not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port),
                                    {{"TALLY_WEBHOOK_ATTEMPTS_MAX", "3"}}));
  sandbox_process sandbox(
      sandbox_port,
      "http://127.0.0.1:" + std::to_string(fixture.engine.port()) + "/v1/webhooks/sandbox",
      {"--webhook-delay-ms", "1500"});
  auto client = fixture.client();
  const auto admin = fixture.admin_headers();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);
  auto created = client.post_json("/v1/purchases",
                                  {{"package_id", package},
                                   {"method", "card"},
                                   {"card_token", sandbox.token("4242424242424242")}},
                                  {bearer(user.token), {"Idempotency-Key", "hook-down"}});
  REQUIRE(created.status == 201);
  const std::string purchase_id = created.json()["id"].get<std::string>();
  const std::string charge_id = created.json()["charge_id"].get<std::string>();
  // The gateway's API fails before the (delayed) webhook arrives.
  sandbox.chaos({{"fail_ratio", 1.0}});
  REQUIRE(eventually(
      [&] {
        return pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE object_id = '" +
                                  charge_id + "' AND status = 'parked' AND attempts = 3") == 1;
      },
      std::chrono::seconds(60)));
  CHECK(pg_scalar(url, "SELECT count(*) FROM payments.inbox WHERE object_id = '" + charge_id +
                           "' AND last_error LIKE 'unavailable%'") == 1);
  CHECK(get_purchase(client, user, purchase_id)["status"] == "pending");
  CHECK(available(client, user) == 0);

  sandbox.chaos({{"fail_ratio", 0.0}});
  auto parked = client.get("/v1/admin/webhooks/inbox?status=parked", admin).json()["items"];
  REQUIRE(parked.size() == 1);
  auto retried = client.request(
      "POST", "/v1/admin/webhooks/inbox/" + parked[0]["id"].get<std::string>() + "/retry", "",
      admin);
  REQUIRE(retried.status == 200);
  REQUIRE(
      eventually([&] { return get_purchase(client, user, purchase_id)["status"] == "completed"; }));
  CHECK(available(client, user) == credits);
  check_reconciled(client, admin);
}

TEST_CASE("the sweep completes a purchase whose webhook never arrives",
          "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: sweep case not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port),
                                    {{"TALLY_SWEEP_PERIOD_S", "1"}, {"TALLY_SWEEP_AGE_S", "1"}}));
  sandbox_process sandbox(sandbox_port, "");  // no webhooks at all
  auto client = fixture.client();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);
  auto created = client.post_json("/v1/purchases",
                                  {{"package_id", package},
                                   {"method", "card"},
                                   {"card_token", sandbox.token("4242424242424242")}},
                                  {bearer(user.token), {"Idempotency-Key", "hook-none"}});
  REQUIRE(created.status == 201);
  const std::string purchase_id = created.json()["id"].get<std::string>();
  REQUIRE(
      eventually([&] { return get_purchase(client, user, purchase_id)["status"] == "completed"; }));
  CHECK(available(client, user) == credits);
  CHECK(inbox_rows(fixture.database.url()) == 0);
  check_reconciled(client, fixture.admin_headers());
}

TEST_CASE("inbox claims are exclusive across claimants, and leases expire",
          "[integration][webhooks][inbox]") {
  // The engine here only migrates the database: its poller waits a minute between polls and
  // nothing nudges it, so these claims race only each other.
  engine_fixture fixture(env_map{{"TALLY_WEBHOOK_POLL_MS", "60000"}});
  const std::string url = fixture.database.url();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the startup poll has run
  constexpr int rows = 60;
  {
    pqxx::connection connection(url);
    pqxx::work tx(connection);
    for (int i = 0; i < rows; ++i) {
      tally::inbox_insert insert;
      insert.gateway = "sandbox";
      insert.event_id = "evnt_claim_" + std::to_string(i);
      insert.raw_body = omise_event(insert.event_id, "chrg_claim");
      CHECK_FALSE(tally::persistence::insert_inbox(tx, insert).duplicate);
    }
    tally::inbox_insert again;
    again.gateway = "sandbox";
    again.event_id = "evnt_claim_0";
    again.raw_body = "{}";
    CHECK(tally::persistence::insert_inbox(tx, again).duplicate);
    tx.commit();
  }
  // Four claimants (four "nodes"), each on its own connection, claim in small batches at once.
  std::vector<std::vector<std::string>> claimed(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      pqxx::connection connection(url);
      for (;;) {
        pqxx::work tx(connection);
        auto batch = tally::persistence::claim_inbox(tx, 5, std::chrono::seconds(60),
                                                     "owner-" + std::to_string(t));
        tx.commit();
        if (batch.empty()) {
          return;
        }
        for (const auto& event : batch) {
          claimed[t].push_back(event.id);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::set<std::string> all;
  std::size_t total = 0;
  for (const auto& ids : claimed) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
  }
  CHECK(total == static_cast<std::size_t>(rows));  // nobody claimed a row twice
  CHECK(all.size() == static_cast<std::size_t>(rows));
  CHECK(inbox_rows(url, "status = 'processing' AND attempts = 1") == rows);

  // (owner, row) pairs: a claimant that started late may have claimed nothing at all.
  std::vector<std::pair<std::string, std::string>> owned;
  for (int t = 0; t < 4; ++t) {
    for (const auto& row_id : claimed[t]) {
      owned.emplace_back("owner-" + std::to_string(t), row_id);
    }
  }
  REQUIRE(owned.size() >= 2);

  // A lease that runs out hands the row to the next claimant; the old owner's outcome is void.
  pqxx::connection connection(url);
  const std::string id = owned[0].second;
  pg_query(url, "UPDATE payments.inbox SET lease_until = now() - interval '1 second' WHERE id = '" +
                    id + "'");
  std::vector<tally::inbox_event> reclaimed;
  {
    pqxx::work tx(connection);
    reclaimed = tally::persistence::claim_inbox(tx, 10, std::chrono::seconds(60), "owner-new");
    tx.commit();
  }
  REQUIRE(reclaimed.size() == 1);
  CHECK(reclaimed[0].id == id);
  CHECK(reclaimed[0].attempts == 2);
  tally::persistence::inbox_outcome outcome;
  outcome.status = tally::webhooks::inbox_status::verified;
  {
    pqxx::work tx(connection);
    CHECK_FALSE(tally::persistence::finish_inbox(tx, id, owned[0].first, outcome));
    CHECK(tally::persistence::finish_inbox(tx, id, "owner-new", outcome));
    tx.commit();
  }
  CHECK(inbox_status(url, "sandbox", reclaimed[0].event_id) == "verified");
  // A retry outcome makes the row due again only after its delay.
  const std::string other = owned[1].second;
  outcome.status = tally::webhooks::inbox_status::received;
  outcome.retry_in = std::chrono::hours(1);
  {
    pqxx::work tx(connection);
    CHECK(tally::persistence::finish_inbox(tx, other, owned[1].first, outcome));
    tx.commit();
  }
  {
    pqxx::work tx(connection);
    CHECK(tally::persistence::claim_inbox(tx, 10, std::chrono::seconds(60), "owner-x").empty());
    tx.commit();
  }
}

TEST_CASE("a late failed charge for a completed purchase changes nothing",
          "[integration][webhooks][sandbox]") {
  // research gateways.md §4.3: an earlier, abandoned charge of the same purchase reports
  // `failed` after the purchase's bound charge succeeded. Only the bound charge may move it.
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: late-event case not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port),
                                    {{"TALLY_WEBHOOK_UNKNOWN_CHARGE_WINDOW_S", "2"}}));
  sandbox_process sandbox(
      sandbox_port,
      "http://127.0.0.1:" + std::to_string(fixture.engine.port()) + "/v1/webhooks/sandbox");
  auto client = fixture.client();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);
  auto created = client.post_json("/v1/purchases",
                                  {{"package_id", package},
                                   {"method", "card"},
                                   {"card_token", sandbox.token("4242424242424242")}},
                                  {bearer(user.token), {"Idempotency-Key", "hook-late"}});
  REQUIRE(created.status == 201);
  const std::string purchase_id = created.json()["id"].get<std::string>();
  REQUIRE(
      eventually([&] { return get_purchase(client, user, purchase_id)["status"] == "completed"; }));
  REQUIRE(available(client, user) == credits);

  // The stale charge: same purchase in its metadata and the same amount, declined, and its
  // genuine, signed charge.complete reaches the engine after the purchase completed.
  http_client gateway("127.0.0.1", sandbox_port);
  header_list headers = sandbox.secret_auth();
  headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  auto stale = gateway.request("POST", "/charges",
                               "amount=" + std::to_string(amount) +
                                   "&currency=THB&card=" + sandbox.token("4111111111140011") +
                                   "&metadata%5Bpurchase_id%5D=" + purchase_id,
                               headers);
  REQUIRE(stale.status == 200);
  REQUIRE(stale.json()["status"] == "failed");
  const std::string stale_charge = stale.json()["id"].get<std::string>();
  // Not credited, not matched to the purchase: kept for the unknown-charge window, then parked
  // for an operator (a stale charge is never bound once another one is).
  REQUIRE(eventually([&] {
    return inbox_rows(url, "object_id = '" + stale_charge + "' AND status = 'parked'") == 1;
  }));
  auto after = get_purchase(client, user, purchase_id);
  CHECK(after["status"] == "completed");
  CHECK(after["charge_id"] == created.json()["charge_id"]);
  CHECK(after["failure_code"].is_null());
  CHECK(available(client, user) == credits);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE kind = 'purchase'") == 1);
  check_reconciled(client, fixture.admin_headers());
}

TEST_CASE("a PromptPay charge never paid expires the purchase without credits",
          "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: PromptPay expiry case not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port)));
  sandbox_process sandbox(
      sandbox_port,
      "http://127.0.0.1:" + std::to_string(fixture.engine.port()) + "/v1/webhooks/sandbox",
      {"--promptpay-ttl-s", "2"});
  auto client = fixture.client();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);
  auto created =
      client.post_json("/v1/purchases", {{"package_id", package}, {"method", "promptpay"}},
                       {bearer(user.token), {"Idempotency-Key", "qr-unpaid"}});
  INFO(created.describe());
  REQUIRE(created.status == 201);
  CHECK(created.json()["next_action"]["type"] == "qr");
  const std::string purchase_id = created.json()["id"].get<std::string>();
  CHECK(get_purchase(client, user, purchase_id)["status"] == "pending");
  REQUIRE(eventually([&] { return get_purchase(client, user, purchase_id)["status"] == "expired"; },
                     std::chrono::seconds(30)));
  // Paying after expiry is refused by the gateway: the purchase stays expired, uncredited.
  http_client gateway("127.0.0.1", sandbox_port);
  auto late = gateway.request(
      "POST", "/sandbox/charges/" + created.json()["charge_id"].get<std::string>() + "/pay", "",
      sandbox.secret_auth());
  CHECK(late.status >= 400);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(get_purchase(client, user, purchase_id)["status"] == "expired");
  CHECK(available(client, user) == 0);
  CHECK(pg_scalar(url, "SELECT count(*) FROM ledger.entries WHERE kind = 'purchase'") == 0);
  CHECK(pg_scalar(url, "SELECT count(*) FROM payments.outbox WHERE type = 'purchase.expired'") ==
        1);
  check_reconciled(client, fixture.admin_headers());
}

TEST_CASE("kill -9 between the grant and the purchase update: completed once after restart",
          "[integration][webhooks][sandbox]") {
  if (!sandbox_available()) {
    WARN("`tally sandbox` is not in this build: crash case not run");
    return;
  }
  const uint16_t sandbox_port = free_port();
  // No webhooks: the sweep settles (once a second, purchases older than 3 s: time enough to
  // take the row lock below first, even on a loaded machine).
  engine_fixture fixture(engine_env("http://127.0.0.1:" + std::to_string(sandbox_port),
                                    {{"TALLY_SWEEP_PERIOD_S", "1"}, {"TALLY_SWEEP_AGE_S", "3"}}));
  sandbox_process sandbox(sandbox_port, "");
  auto client = fixture.client();
  const std::string url = fixture.database.url();
  auto user = register_user(client);
  int64_t credits = 0;
  int64_t amount = 0;
  const std::string package = first_package(client, credits, amount);
  pqxx::connection holder(url);  // connected before the purchase exists
  const std::string card = sandbox.token("4242424242424242");
  auto created = client.post_json(
      "/v1/purchases", {{"package_id", package}, {"method", "card"}, {"card_token", card}},
      {bearer(user.token), {"Idempotency-Key", "hook-crash"}});
  REQUIRE(created.status == 201);
  const std::string purchase_id = created.json()["id"].get<std::string>();

  // Hold the purchase row: the settle's grant (ledger schema) commits, its purchase update
  // then waits on this lock — the window between the two, held open for the kill.
  pqxx::work lock(holder);
  lock.exec("SELECT 1 FROM payments.purchases WHERE purchase_id = '" + purchase_id +
            "' FOR UPDATE");
  const std::string grants =
      "SELECT count(*) FROM ledger.entries WHERE kind = 'purchase' AND "
      "reference_id = '" +
      purchase_id + "'";
  REQUIRE(eventually([&] { return pg_scalar(url, grants) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(pg_query(url, "SELECT status FROM payments.purchases WHERE purchase_id = '" + purchase_id +
                          "'")[0][0]
            .as<std::string>() == "pending");
  CHECK(fixture.engine.kill9() == 128 + 9);
  lock.abort();

  fixture.engine.restart();
  auto after = fixture.client();
  REQUIRE(
      eventually([&] { return get_purchase(after, user, purchase_id)["status"] == "completed"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));  // another sweep round
  CHECK(pg_scalar(url, grants) == 1);
  CHECK(available(after, user) == credits);
  check_reconciled(after, fixture.admin_headers());
}
