// tests/integration/events_test.cpp: events out (docs/events.md) against the real engine: the
// Redis stream, subscriber webhooks signed per Standard Webhooks (the receiver here verifies
// signatures itself, from the spec, with OpenSSL — not with the engine's code), retries on a
// shortened schedule, 410, replay, and a SIGKILL with unpublished outbox rows.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_scalar;
using clock_type = std::chrono::steady_clock;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

constexpr const char* password_ok = "correct horse battery";

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> sequence{0};
  return prefix + std::to_string(::getpid()) + "-" + std::to_string(++sequence);
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks verification, written from the spec (conventions.md §1): the key is the
// base64 after "whsec_"; the signature is base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
// in a space-separated list of "v1,<sig>" entries.

std::string b64_decode(const std::string& text) {
  std::string out(text.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) {
    throw std::runtime_error("bad base64");
  }
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) {
    ++padding;
  }
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

std::string b64_encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool signature_valid(const std::string& secret, const std::string& id, const std::string& ts,
                     const std::string& body, const std::string& header) {
  if (secret.rfind("whsec_", 0) != 0) {
    return false;
  }
  const std::string key = b64_decode(secret.substr(6));
  const std::string content = id + "." + ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &mac_len);
  const std::string expected = b64_encode(std::string(reinterpret_cast<char*>(mac), mac_len));
  std::size_t start = 0;
  while (start < header.size()) {
    std::size_t end = header.find(' ', start);
    if (end == std::string::npos) {
      end = header.size();
    }
    const std::string entry = header.substr(start, end - start);
    if (entry.rfind("v1,", 0) == 0) {
      const std::string given = entry.substr(3);
      if (given.size() == expected.size() &&
          CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0) {
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// A local subscriber: answers each POST with the next scripted status (then 200), records
// what it received. One thread, one connection at a time (the engine delivers sequentially).

struct received_hook {
  std::string id;
  std::string timestamp;
  std::string signature;
  std::string content_type;
  std::string body;
  int answered = 0;
};

std::string text(beast::string_view value) {
  return std::string(value.data(), value.size());
}

class hook_receiver {
 public:
  hook_receiver() : acceptor_(context_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~hook_receiver() {
    stopping_ = true;
    beast::error_code ec;
    net::ip::tcp::socket poke(context_);
    poke.connect(acceptor_.local_endpoint(), ec);  // unblocks accept()
    thread_.join();
  }
  hook_receiver(const hook_receiver&) = delete;
  hook_receiver& operator=(const hook_receiver&) = delete;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hook";
  }
  void script(std::vector<int> statuses) {
    std::lock_guard<std::mutex> lock(mutex_);
    script_.assign(statuses.begin(), statuses.end());
  }
  std::vector<received_hook> received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

 private:
  void serve() {
    while (!stopping_) {
      net::ip::tcp::socket socket(context_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      beast::flat_buffer buffer;
      bhttp::request<bhttp::string_body> request;
      bhttp::read(socket, buffer, request, ec);
      if (!ec) {
        answer(socket, request);
      }
      socket.shutdown(net::ip::tcp::socket::shutdown_both, ec);
    }
  }

  void answer(net::ip::tcp::socket& socket, const bhttp::request<bhttp::string_body>& request) {
    received_hook hook;
    hook.id = text(request["webhook-id"]);
    hook.timestamp = text(request["webhook-timestamp"]);
    hook.signature = text(request["webhook-signature"]);
    hook.content_type = text(request[bhttp::field::content_type]);
    hook.body = request.body();
    int status = 200;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
      hook.answered = status;
      received_.push_back(hook);
    }
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status), 11};
    response.body() = status == 200 ? "ok" : "nope";
    response.keep_alive(false);  // one request per connection: nothing idles in read()
    response.prepare_payload();
    beast::error_code ec;
    bhttp::write(socket, response, ec);
  }

  net::io_context context_;
  net::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::deque<int> script_;
  std::vector<received_hook> received_;
};

// ---------------------------------------------------------------------------------------------
// Redis: the stream's entries, read with hiredis.

struct stream_entry {
  std::string id, type, user_id;
  json event;
};

std::vector<stream_entry> read_stream(const std::string& stream) {
  std::string url = tally::test::redis_url();  // redis://host:port[/db]
  std::string rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  const std::string host = rest.substr(0, rest.find(':'));
  const int port = std::stoi(rest.substr(rest.find(':') + 1));
  redisContext* c = redisConnect(host.c_str(), port);
  if (c == nullptr || c->err) {
    throw std::runtime_error("redis connect failed");
  }
  auto* reply = static_cast<redisReply*>(redisCommand(c, "XRANGE %s - +", stream.c_str()));
  std::vector<stream_entry> out;
  if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const redisReply* fields = reply->element[i]->element[1];
      stream_entry entry;
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        const std::string name(fields->element[f]->str, fields->element[f]->len);
        const std::string value(fields->element[f + 1]->str, fields->element[f + 1]->len);
        if (name == "id") {
          entry.id = value;
        } else if (name == "type") {
          entry.type = value;
        } else if (name == "user_id") {
          entry.user_id = value;
        } else if (name == "event") {
          entry.event = json::parse(value);
        }
      }
      out.push_back(std::move(entry));
    }
  }
  freeReplyObject(reply);
  redisFree(c);
  return out;
}

// ---------------------------------------------------------------------------------------------

using tally::test::test_user;

test_user register_user(http_client& client) {
  return tally::test::register_test_user(client, "events");
}

std::string grant(http_client& client, const std::string& user_id, int64_t amount) {
  return tally::test::grant_credits(client, user_id, amount, "events test");
}

std::string spend(http_client& client, const test_user& user, int64_t amount) {
  auto response = client.post_json("/v1/credits/spend", {{"amount", amount}},
                                   {bearer(user.token), {"Idempotency-Key", unique_name("k")}});
  if (response.status != 201) {
    throw std::runtime_error("spend failed: " + response.describe());
  }
  return response.json()["entry_id"].get<std::string>();
}

json create_endpoint(http_client& client, const std::string& url, const json& types) {
  auto response =
      client.post_json("/v1/admin/webhook-endpoints", {{"url", url}, {"event_types", types}},
                       {bearer(tally::test::test_admin_api_key)});
  if (response.status != 201) {
    throw std::runtime_error("endpoint create failed: " + response.describe());
  }
  return response.json();
}

json deliveries(http_client& client, const std::string& endpoint_id) {
  auto response = client.get("/v1/admin/webhook-endpoints/" + endpoint_id + "/deliveries",
                             {bearer(tally::test::test_admin_api_key)});
  if (response.status != 200) {
    throw std::runtime_error("deliveries failed: " + response.describe());
  }
  return response.json();
}

// Polls `condition` every 50 ms for up to `limit`; true once it held.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto deadline = clock_type::now() + limit;
  while (clock_type::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

tally::test::env_map fast_events(const std::string& stream) {
  return {{"TALLY_EVENTS_STREAM", stream},
          {"TALLY_EVENTS_RELAY_PERIOD_MS", "50"},
          {"TALLY_EVENTS_DELIVERY_POLL_MS", "50"},
          {"TALLY_EVENTS_RETRY_SCHEDULE", "100ms,100ms,100ms,100ms"}};
}

std::vector<stream_entry> of_type(const std::vector<stream_entry>& entries,
                                  const std::string& type) {
  std::vector<stream_entry> out;
  for (const auto& e : entries) {
    if (e.type == type) {
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a spend yields exactly one balance.updated on the stream and on a subscriber",
          "[integration][events]") {
  const std::string stream = unique_name("tally-test-events-");
  engine_fixture fixture(fast_events(stream));
  auto client = fixture.client();
  hook_receiver receiver;
  const json endpoint = create_endpoint(client, receiver.url(), json::array({"balance.updated"}));
  const std::string secret = endpoint["secret"].get<std::string>();
  REQUIRE(secret.rfind("whsec_", 0) == 0);
  auto user = register_user(client);
  grant(client, user.id, 100);
  const std::string spent_entry = spend(client, user, 30);
  const std::string expected_id = spent_entry + "_balance_updated";

  // The stream: one balance.updated for the spend, with the CloudEvents envelope.
  std::vector<stream_entry> updates;
  REQUIRE(eventually([&] {
    updates = of_type(read_stream(stream), "balance.updated");
    return updates.size() >= 2;  // the grant's and the spend's
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing more may arrive
  updates = of_type(read_stream(stream), "balance.updated");
  int for_spend = 0;
  for (const auto& u : updates) {
    CHECK(u.user_id == user.id);
    if (u.id == expected_id) {
      ++for_spend;
      CHECK(u.event["specversion"] == "1.0");
      CHECK(u.event["source"] == "/tally/ledger");
      CHECK(u.event["data"]["available"] == 70);
      CHECK(u.event["data"]["user_id"] == user.id);
      CHECK(u.event["data"]["entry_id"] == spent_entry);
    }
  }
  CHECK(for_spend == 1);
  CHECK(updates.size() == 2);

  // The subscriber: exactly one delivery of that event, signed, the envelope as the body.
  REQUIRE(eventually([&] {
    for (const auto& h : receiver.received()) {
      if (h.id == expected_id) {
        return true;
      }
    }
    return false;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int delivered = 0;
  for (const auto& h : receiver.received()) {
    CHECK(signature_valid(secret, h.id, h.timestamp, h.body, h.signature));
    CHECK_FALSE(signature_valid(secret, h.id, h.timestamp, h.body + " ", h.signature));
    CHECK(h.content_type.rfind("application/cloudevents+json", 0) == 0);
    const auto age = std::chrono::system_clock::now().time_since_epoch() -
                     std::chrono::seconds(std::stoll(h.timestamp));
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(age).count() < 60);
    if (h.id == expected_id) {
      ++delivered;
      const json body = json::parse(h.body);
      CHECK(body["type"] == "balance.updated");
      CHECK(body["id"] == expected_id);
      CHECK(body["data"]["available"] == 70);
    } else {
      CHECK(json::parse(h.body)["type"] == "balance.updated");  // the filter held
    }
  }
  CHECK(delivered == 1);
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM ledger.outbox WHERE published_at IS NULL") == 0);
}

TEST_CASE("a subscriber failing with 500 three times then 200 gets it on the 4th attempt",
          "[integration][events]") {
  const std::string stream = unique_name("tally-test-events-");
  engine_fixture fixture(fast_events(stream));
  auto client = fixture.client();
  hook_receiver receiver;
  receiver.script({500, 500, 500, 200});
  const json endpoint = create_endpoint(client, receiver.url(), json::array({"credits.granted"}));
  const std::string endpoint_id = endpoint["id"].get<std::string>();
  auto user = register_user(client);
  grant(client, user.id, 10);

  json page;
  REQUIRE(eventually([&] {
    page = deliveries(client, endpoint_id);
    return page["items"].size() == 1 && page["items"][0]["status"] == "succeeded";
  }));
  const json& d = page["items"][0];
  CHECK(d["attempt_count"] == 4);
  REQUIRE(d["attempts"].size() == 4);
  const std::vector<int> statuses{500, 500, 500, 200};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(d["attempts"][i]["status_code"] == statuses[i]);
    CHECK(d["attempts"][i]["attempt"] == static_cast<int>(i) + 1);
    CHECK(d["attempts"][i]["trigger"] == "scheduled");
  }
  const auto received = receiver.received();
  REQUIRE(received.size() == 4);
  for (const auto& h : received) {
    CHECK(h.id == d["webhook_id"].get<std::string>());  // the same webhook-id on every retry
    CHECK(signature_valid(endpoint["secret"].get<std::string>(), h.id, h.timestamp, h.body,
                          h.signature));
  }

  SECTION("replay delivers the same message again, with the same webhook-id") {
    auto replay = client.post_json("/v1/admin/webhook-endpoints/" + endpoint_id + "/deliveries/" +
                                       d["id"].get<std::string>() + "/replay",
                                   json::object(), {bearer(tally::test::test_admin_api_key)});
    REQUIRE(replay.status == 202);
    REQUIRE(eventually([&] { return receiver.received().size() == 5; }));
    const auto again = receiver.received().back();
    CHECK(again.id == received.front().id);
    CHECK(again.body == received.front().body);
    REQUIRE(eventually([&] {
      page = deliveries(client, endpoint_id);
      return page["items"][0]["attempt_count"] == 5 && page["items"][0]["status"] == "succeeded";
    }));
    CHECK(page["items"][0]["attempts"][4]["trigger"] == "manual");
  }
}

TEST_CASE("a subscriber answering 410 Gone is disabled", "[integration][events]") {
  const std::string stream = unique_name("tally-test-events-");
  engine_fixture fixture(fast_events(stream));
  auto client = fixture.client();
  hook_receiver receiver;
  receiver.script({410});
  const json endpoint = create_endpoint(client, receiver.url(), json::array());  // every type
  const std::string endpoint_id = endpoint["id"].get<std::string>();
  auto user = register_user(client);
  grant(client, user.id, 10);
  json state;
  REQUIRE(eventually([&] {
    state = client
                .get("/v1/admin/webhook-endpoints/" + endpoint_id,
                     {bearer(tally::test::test_admin_api_key)})
                .json();
    return state["status"] == "disabled";
  }));
  CHECK(state["disabled_reason"].get<std::string>().find("410") != std::string::npos);
  CHECK_FALSE(state.contains("secret"));  // shown once, at creation
  grant(client, user.id, 10);             // more events: none reach a disabled endpoint
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(receiver.received().size() == 1);
}

TEST_CASE("events of rows left unpublished by a SIGKILL are published after the restart",
          "[integration][events]") {
  const std::string stream = unique_name("tally-test-events-");
  auto env = fast_events(stream);
  // The relay runs once at start, then sleeps a minute: what is written meanwhile stays in
  // the outbox until the next start.
  env["TALLY_EVENTS_RELAY_PERIOD_MS"] = "60000";
  engine_fixture fixture(env);
  auto client = fixture.client();
  auto user = register_user(client);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  grant(client, user.id, 1'000);
  for (int i = 0; i < 20; ++i) {
    spend(client, user, 1);
  }
  const std::string db = fixture.database.url();
  CHECK(pg_scalar(db, "SELECT count(*) FROM ledger.outbox WHERE published_at IS NULL") == 21);
  CHECK(pg_scalar(db, "SELECT count(*) FROM ledger.outbox") ==
        pg_scalar(db, "SELECT count(*) FROM ledger.entries"));
  fixture.engine.kill9();
  fixture.engine.restart();
  REQUIRE(eventually([&] {
    return pg_scalar(db, "SELECT count(*) FROM ledger.outbox WHERE published_at IS NULL") == 0;
  }));
  std::set<std::string> published;
  for (const auto& e : of_type(read_stream(stream), "balance.updated")) {
    published.insert(e.id);
  }
  std::set<std::string> expected;
  for (const auto& row : tally::test::pg_query(
           db, "SELECT entry_id::text || '_balance_updated' FROM ledger.entries")) {
    expected.insert(row[0].as<std::string>());
  }
  CHECK(expected.size() == 21);
  CHECK(published == expected);  // none lost; the ids are the entries'
}

TEST_CASE("webhook endpoint admin: validation, listing, deletion", "[integration][events]") {
  engine_fixture fixture(fast_events(unique_name("tally-test-events-")));
  auto client = fixture.client();
  const auto admin = bearer(tally::test::test_admin_api_key);
  auto bad = client.post_json("/v1/admin/webhook-endpoints",
                              {{"url", "ftp://example.com/x"}, {"event_types", {"nope"}}}, {admin});
  REQUIRE(bad.status == 422);
  CHECK(bad.json()["errors"].size() == 2);
  auto metadata = client.post_json("/v1/admin/webhook-endpoints",
                                   {{"url", "http://169.254.169.254/latest"}}, {admin});
  CHECK(metadata.status == 422);  // the SSRF policy refuses cloud metadata even in dev mode
  const json a = create_endpoint(client, "http://127.0.0.1:9/a", json::array());
  const json b = create_endpoint(client, "http://127.0.0.1:9/b", json::array({"balance.low"}));
  auto page = client.get("/v1/admin/webhook-endpoints?limit=1", {admin});
  REQUIRE(page.status == 200);
  CHECK(page.json()["items"].size() == 1);
  CHECK(page.json()["has_more"] == true);
  CHECK_FALSE(page.json()["items"][0].contains("secret"));
  auto next = client.get(
      "/v1/admin/webhook-endpoints?limit=1&cursor=" + page.json()["next_cursor"].get<std::string>(),
      {admin});
  REQUIRE(next.status == 200);
  CHECK(next.json()["items"].size() == 1);
  CHECK(next.json()["items"][0]["id"] != page.json()["items"][0]["id"]);
  CHECK(client.del("/v1/admin/webhook-endpoints/" + a["id"].get<std::string>(), {admin}).status ==
        204);
  CHECK(client.del("/v1/admin/webhook-endpoints/" + a["id"].get<std::string>(), {admin}).status ==
        404);
  CHECK(client.get("/v1/admin/webhook-endpoints/" + b["id"].get<std::string>(), {admin}).status ==
        200);
  CHECK(client.get("/v1/admin/webhook-endpoints", {}).status == 401);
}

TEST_CASE("balance.low follows the caller's own threshold, set through the API",
          "[integration][events]") {
  const std::string stream = unique_name("tally-test-events-");
  auto env = fast_events(stream);
  env["TALLY_EVENTS_LOW_BALANCE_THRESHOLD"] = "10";
  engine_fixture fixture(env);
  auto client = fixture.client();
  auto user = register_user(client);
  auto other = register_user(client);
  const std::string path = "/v1/credits/low-balance-threshold";

  auto initial = client.get(path, {bearer(user.token)});
  REQUIRE(initial.status == 200);
  CHECK(initial.json() == json{{"threshold", 10}, {"source", "default"}});
  CHECK(client.get(path).status == 401);
  // Bad input changes nothing.
  for (const json& bad : {json{{"threshold", -1}}, json{{"threshold", "50"}}, json::object(),
                          json{{"threshold", 1.5}}, json{{"limit", 50}}}) {
    auto refused = client.request("PUT", path, bad.dump(),
                                  {bearer(user.token), {"Content-Type", "application/json"}});
    INFO(bad.dump());
    CHECK(refused.status == 422);
  }
  CHECK(client.get(path, {bearer(user.token)}).json()["source"] == "default");

  auto set = client.request("PUT", path, json{{"threshold", 50}}.dump(),
                            {bearer(user.token), {"Content-Type", "application/json"}});
  REQUIRE(set.status == 200);
  CHECK(set.json() == json{{"threshold", 50}, {"source", "user"}});
  CHECK(client.get(path, {bearer(user.token)}).json()["threshold"] == 50);
  CHECK(client.get(path, {bearer(other.token)}).json() ==
        json{{"threshold", 10}, {"source", "default"}});

  // 100 → 60 stays above 50; 60 → 40 crosses it (balance.low); 40 → 30 is already below.
  // The other user, on the default of 10, crosses nothing going 100 → 40.
  grant(client, user.id, 100);
  grant(client, other.id, 100);
  spend(client, user, 40);
  const std::string crossing = spend(client, user, 20);
  spend(client, user, 10);
  spend(client, other, 60);
  std::vector<stream_entry> low;
  REQUIRE(eventually([&] {
    return of_type(read_stream(stream), "balance.updated").size() >= 6 &&
           !of_type(read_stream(stream), "balance.low").empty();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  low = of_type(read_stream(stream), "balance.low");
  REQUIRE(low.size() == 1);
  CHECK(low[0].user_id == user.id);
  CHECK(low[0].event["data"]["available"] == 40);
  CHECK(low[0].event["data"]["threshold"] == 50);
  CHECK(low[0].event["data"]["entry_id"] == crossing);

  auto cleared = client.request("DELETE", path, "", {bearer(user.token)});
  REQUIRE(cleared.status == 200);
  CHECK(cleared.json() == json{{"threshold", 10}, {"source", "default"}});
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM events.balance_thresholds") == 0);
}
