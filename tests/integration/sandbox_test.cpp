// tests/integration/sandbox_test.cpp: the real `tally sandbox` process over
// loopback HTTP, as the engine's Omise client will use it: Omise's objects
// and error objects, the test cards, single-use tokens, PromptPay, refunds,
// events, the reconciliation list, signed webhooks to a local receiver, and
// chaos (5xx, held answers, latency, duplicate deliveries, retries).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <openssl/hmac.h>

#include "tests/support/engine_process.hpp"
#include "tests/support/test_env.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using namespace std::chrono_literals;
using nlohmann::json;
using tally::test::base64;
using tally::test::engine_options;
using tally::test::engine_process;
using tally::test::header_list;
using tally::test::http_client;
using tally::test::http_response;

constexpr const char* secret_key = "skey_test_integration";
constexpr const char* public_key = "pkey_test_integration";
// The webhook secret's raw bytes, and the base64 the sandbox is configured with.
constexpr const char* webhook_key = "sandbox-webhook-secret-32bytes!!";
constexpr const char* webhook_secret_base64 = "c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=";

std::pair<std::string, std::string> basic(const std::string& key) {
  return {"Authorization", "Basic " + base64(key + ":")};
}

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

// A local HTTP endpoint standing in for the engine's POST /v1/webhooks/sandbox:
// records each request and answers with the next configured status (then 200).
class webhook_receiver {
 public:
  struct delivery {
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };

  explicit webhook_receiver(std::vector<int> statuses = {})
      : statuses_(std::move(statuses)),
        acceptor_(io_, net::ip::tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~webhook_receiver() {
    io_.stop();
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
           "/v1/webhooks/sandbox";
  }

  // Waits until at least `count` deliveries arrived (or `timeout`); returns them all.
  std::vector<delivery> wait_for(std::size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    arrived_.wait_for(lock, timeout, [&] { return deliveries_.size() >= count; });
    return deliveries_;
  }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, net::ip::tcp::socket socket) {
      if (!ec) {
        serve(std::move(socket));
      }
      accept();
    });
  }

  // Synchronous on the receiver's own thread: a test endpoint, one request per connection.
  void serve(net::ip::tcp::socket socket) {
    beast::flat_buffer buffer;
    beast::http::request<beast::http::string_body> request;
    beast::error_code ec;
    beast::http::read(socket, buffer, request, ec);
    if (ec) {
      return;
    }
    int status = 200;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      delivery d;
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (auto& c : name) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        d.headers[name] = std::string(field.value());
      }
      d.body = request.body();
      if (deliveries_.size() < statuses_.size()) {
        status = statuses_[deliveries_.size()];
      }
      deliveries_.push_back(std::move(d));
    }
    arrived_.notify_all();
    beast::http::response<beast::http::string_body> response{
        static_cast<beast::http::status>(status), 11};
    response.set(beast::http::field::content_type, "application/json");
    response.body() = R"({"received":true})";
    response.keep_alive(false);
    response.prepare_payload();
    beast::http::write(socket, response, ec);
    socket.shutdown(net::ip::tcp::socket::shutdown_both, ec);
  }

  std::vector<int> statuses_;
  net::io_context io_;
  net::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<delivery> deliveries_;
};

engine_options sandbox_options(std::vector<std::string> extra_args = {},
                               const std::string& webhook_url = "") {
  engine_options options;
  options.listen_env = "TALLY_SANDBOX_LISTEN";
  options.args = {"sandbox", "--seed", "1", "--secret-key", secret_key, "--public-key", public_key};
  options.args.insert(options.args.end(), extra_args.begin(), extra_args.end());
  if (!webhook_url.empty()) {
    options.env["TALLY_SANDBOX_WEBHOOK_URL"] = webhook_url;
    options.env["TALLY_SANDBOX_WEBHOOK_SECRET"] = webhook_secret_base64;
  }
  // Inherited values must not leak in; options.env is applied after this list.
  options.env_unset = {"TALLY_SANDBOX_WEBHOOK_URL", "TALLY_SANDBOX_WEBHOOK_SECRET",
                       "TALLY_SANDBOX_SECRET_KEY",  "TALLY_SANDBOX_PUBLIC_KEY",
                       "TALLY_SANDBOX_FAIL_RATIO",  "TALLY_SANDBOX_LATENCY_MS"};
  return options;
}

http_response post_form(http_client& client, const std::string& target, const std::string& body,
                        const std::string& key) {
  return client.request("POST", target, body,
                        {basic(key), {"Content-Type", "application/x-www-form-urlencoded"}});
}

std::string make_token(http_client& client, const std::string& number) {
  auto response = post_form(client, "/tokens",
                            "card%5Bname%5D=SOMCHAI+PRASERT&card%5Bnumber%5D=" + number +
                                "&card%5Bexpiration_month%5D=12&card%5Bexpiration_year%5D=2035"
                                "&card%5Bsecurity_code%5D=123",
                            public_key);
  INFO(response);
  REQUIRE(response.status == 200);
  return response.json()["id"].get<std::string>();
}

json card_charge(http_client& client, const std::string& token, int64_t amount = 100'000) {
  auto response = post_form(client, "/charges",
                            "amount=" + std::to_string(amount) + "&currency=thb&card=" + token +
                                "&metadata%5Bpurchase_id%5D=pur_42&description=credits",
                            secret_key);
  INFO(response);
  REQUIRE(response.status == 200);
  return response.json();
}

void check_error_object(const http_response& response, int status, const std::string& code) {
  INFO(response);
  CHECK(response.status == status);
  const json body = response.json();
  CHECK(body["object"] == "error");
  CHECK(body["code"] == code);
  CHECK(body["location"].get<std::string>().rfind("https://docs.omise.co/api/errors#", 0) == 0);
  CHECK(body["message"].is_string());
}

bool starts_with(const json& value, const std::string& prefix) {
  return value.is_string() && value.get<std::string>().rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("a card token charges successfully with Omise's fields", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  auto token_response =
      post_form(client, "/tokens",
                "card[name]=JOHN+DOE&card[number]=4242424242424242&card[expiration_month]=1&"
                "card[expiration_year]=2040",
                public_key);
  INFO(token_response);
  REQUIRE(token_response.status == 200);
  const json token = token_response.json();
  CHECK(token["object"] == "token");
  CHECK(starts_with(token["id"], "tokn_test_"));
  CHECK(token["used"] == false);
  CHECK(token["card"]["last_digits"] == "4242");
  CHECK(token["card"]["brand"] == "Visa");
  CHECK(token_response.body.find("4242424242424242") == std::string::npos);

  const json charge = card_charge(client, token["id"]);
  CHECK(charge["object"] == "charge");
  CHECK(starts_with(charge["id"], "chrg_test_"));
  CHECK(charge["location"] == "/charges/" + charge["id"].get<std::string>());
  CHECK(charge["livemode"] == false);
  CHECK(charge["status"] == "successful");
  CHECK(charge["paid"] == true);
  CHECK(charge["authorized"] == true);
  CHECK(starts_with(charge["transaction"], "trxn_test_"));
  CHECK(charge["amount"] == 100'000);
  CHECK(charge["currency"] == "THB");
  CHECK(charge["metadata"]["purchase_id"] == "pur_42");
  CHECK(charge["failure_code"].is_null());
  CHECK(charge["created_at"].is_string());

  auto fetched = client.get("/charges/" + charge["id"].get<std::string>(), {basic(secret_key)});
  INFO(fetched);
  REQUIRE(fetched.status == 200);
  CHECK(fetched.json()["status"] == "successful");
  CHECK(fetched.json()["id"] == charge["id"]);
}

TEST_CASE("each failing test card fails with its failure_code", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const std::pair<const char*, const char*> cards[] = {
      {"4111111111140011", "insufficient_fund"},
      {"4111111111130012", "stolen_or_lost_card"},
      {"4111111111120013", "failed_processing"},
      {"4111111111110014", "payment_rejected"},
  };
  for (const auto& [number, code] : cards) {
    INFO(number);
    const std::string token = make_token(client, number);
    // JSON body this time, as omise-go and omise-node send.
    auto response =
        client.post_json("/charges", {{"amount", 50'000}, {"currency", "THB"}, {"card", token}},
                         {basic(secret_key), {"Omise-Version", "2019-05-29"}});
    INFO(response);
    REQUIRE(response.status == 200);
    const json charge = response.json();
    CHECK(charge["status"] == "failed");
    CHECK(charge["paid"] == false);
    CHECK(charge["failure_code"] == code);
    CHECK(charge["failure_message"].is_string());
  }
}

TEST_CASE("a token is single-use: the second charge is 400 used_token", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const std::string token = make_token(client, "4242424242424242");
  card_charge(client, token);
  auto again =
      post_form(client, "/charges", "amount=100000&currency=thb&card=" + token, secret_key);
  check_error_object(again, 400, "used_token");
}

TEST_CASE("wrong or missing keys are 401 authentication_failure", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  check_error_object(client.get("/charges/chrg_test_x"), 401, "authentication_failure");
  check_error_object(client.get("/charges/chrg_test_x", {basic("skey_test_other")}), 401,
                     "authentication_failure");
  // The vault takes the public key, the API the secret key.
  check_error_object(post_form(client, "/tokens", "card[number]=4242424242424242", secret_key), 401,
                     "authentication_failure");
  check_error_object(post_form(client, "/charges", "amount=100000", public_key), 401,
                     "authentication_failure");
}

TEST_CASE("an unknown charge is a 404 not_found error object", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  check_error_object(client.get("/charges/chrg_test_doesnotexist", {basic(secret_key)}), 404,
                     "not_found");
  check_error_object(client.get("/events/evnt_test_doesnotexist", {basic(secret_key)}), 404,
                     "not_found");
}

TEST_CASE("a PromptPay charge is pending with a QR until paid", "[integration][sandbox]") {
  webhook_receiver receiver;
  engine_process sandbox(sandbox_options({}, receiver.url()));
  auto client = sandbox.client();
  auto created = post_form(client, "/charges",
                           "amount=25000&currency=THB&source%5Btype%5D=promptpay&"
                           "metadata%5Bpurchase_id%5D=pur_pp&return_uri=http%3A%2F%2Flocalhost%2Fr",
                           secret_key);
  INFO(created);
  REQUIRE(created.status == 200);
  const json charge = created.json();
  const std::string id = charge["id"];
  CHECK(charge["status"] == "pending");
  CHECK(charge["paid"] == false);
  CHECK(charge["source"]["type"] == "promptpay");
  CHECK(starts_with(charge["source"]["id"], "src_test_"));
  CHECK(charge["expires_at"].is_string());
  const json image = charge["source"]["scannable_code"]["image"];
  CHECK(starts_with(image["id"], "docu_test_"));
  const std::string download_uri = image["download_uri"];
  const std::string base = "http://127.0.0.1:" + std::to_string(sandbox.port());
  REQUIRE(download_uri.rfind(base, 0) == 0);

  auto qr = client.get(download_uri.substr(base.size()));
  INFO(qr);
  CHECK(qr.status == 200);
  CHECK(qr.header("content-type") == "image/svg+xml");
  CHECK(qr.body.find("<svg") != std::string::npos);

  CHECK(client.get("/charges/" + id, {basic(secret_key)}).json()["status"] == "pending");
  auto paid = client.request("POST", "/sandbox/charges/" + id + "/pay", "", {basic(secret_key)});
  INFO(paid);
  REQUIRE(paid.status == 200);
  CHECK(paid.json()["status"] == "successful");
  const json after = client.get("/charges/" + id, {basic(secret_key)}).json();
  CHECK(after["status"] == "successful");
  CHECK(after["paid"] == true);
  CHECK(starts_with(after["transaction"], "trxn_test_"));
  // Paying twice is refused; the charge stays successful.
  auto twice = client.request("POST", "/sandbox/charges/" + id + "/fail", "", {basic(secret_key)});
  check_error_object(twice, 400, "invalid_charge");

  const auto deliveries = receiver.wait_for(1);
  REQUIRE(deliveries.size() == 1);
  const json event = json::parse(deliveries[0].body);
  CHECK(event["key"] == "charge.complete");
  CHECK(event["data"]["id"] == id);
  CHECK(event["data"]["status"] == "successful");
}

TEST_CASE("a PromptPay charge expires after its TTL", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options({"--promptpay-ttl-s", "1"}));
  auto client = sandbox.client();
  auto created =
      post_form(client, "/charges", "amount=25000&currency=THB&source[type]=promptpay", secret_key);
  REQUIRE(created.status == 200);
  const std::string id = created.json()["id"];
  std::this_thread::sleep_for(2500ms);  // the TTL is whole seconds
  const json after = client.get("/charges/" + id, {basic(secret_key)}).json();
  CHECK(after["status"] == "expired");
  CHECK(after["expired"] == true);
}

TEST_CASE("refunds return Omise's refund object and stop at the amount", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const json charge = card_charge(client, make_token(client, "5555555555554444"), 10'000);
  const std::string id = charge["id"];
  auto refund = post_form(client, "/charges/" + id + "/refunds", "amount=4000", secret_key);
  INFO(refund);
  REQUIRE(refund.status == 200);
  CHECK(refund.json()["object"] == "refund");
  CHECK(starts_with(refund.json()["id"], "rfnd_test_"));
  CHECK(refund.json()["amount"] == 4000);
  CHECK(refund.json()["charge"] == id);
  check_error_object(post_form(client, "/charges/" + id + "/refunds", "amount=6001", secret_key),
                     400, "failed_refund");
  const json after = client.get("/charges/" + id, {basic(secret_key)}).json();
  CHECK(after["refunded_amount"] == 4000);
  CHECK(after["refunds"]["total"] == 1);
}

TEST_CASE("charge.complete arrives signed and matches GET /events/:id", "[integration][sandbox]") {
  webhook_receiver receiver;
  engine_process sandbox(sandbox_options({}, receiver.url()));
  auto client = sandbox.client();
  const json charge = card_charge(client, make_token(client, "4242424242424242"));
  const auto deliveries = receiver.wait_for(1);
  REQUIRE(deliveries.size() == 1);
  const auto& delivery = deliveries[0];
  CHECK(delivery.headers.at("content-type") == "application/json");
  const std::string timestamp = delivery.headers.at("omise-signature-timestamp");
  CHECK(delivery.headers.at("omise-signature") ==
        hmac_sha256_hex(webhook_key, timestamp + "." + delivery.body));
  const json event = json::parse(delivery.body);
  CHECK(event["object"] == "event");
  CHECK(starts_with(event["id"], "evnt_test_"));
  CHECK(event["key"] == "charge.complete");
  CHECK(event["livemode"] == false);
  CHECK(event["data"]["id"] == charge["id"]);
  CHECK(event["data"]["metadata"]["purchase_id"] == "pur_42");

  auto fetched = client.get("/events/" + event["id"].get<std::string>(), {basic(secret_key)});
  INFO(fetched);
  REQUIRE(fetched.status == 200);
  CHECK(fetched.json() == event);
}

TEST_CASE("GET /charges lists recent charges newest first for reconciliation",
          "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const json first = card_charge(client, make_token(client, "4242424242424242"));
  const json second = card_charge(client, make_token(client, "4242424242424242"));
  auto list = client.get("/charges?from=2000-01-01T00:00:00Z&order=reverse_chronological&limit=5",
                         {basic(secret_key)});
  INFO(list);
  REQUIRE(list.status == 200);
  const json page = list.json();
  CHECK(page["object"] == "list");
  CHECK(page["total"] == 2);
  CHECK(page["limit"] == 5);
  CHECK(page["order"] == "reverse_chronological");
  REQUIRE(page["data"].size() == 2);
  // Same-second charges keep creation order, reversed.
  CHECK(page["data"][0]["id"] == second["id"]);
  CHECK(page["data"][1]["id"] == first["id"]);
  auto future = client.get("/charges?from=2100-01-01T00:00:00Z", {basic(secret_key)});
  CHECK(future.json()["total"] == 0);
}

TEST_CASE("chaos fail_ratio=1 answers 5xx and changes nothing", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const std::string token = make_token(client, "4242424242424242");
  auto set = client.post_json("/sandbox/chaos", {{"fail_ratio", 1.0}}, {basic(secret_key)});
  INFO(set);
  REQUIRE(set.status == 200);
  CHECK(client.get("/sandbox/chaos", {basic(secret_key)}).json()["fail_ratio"] == 1.0);
  auto failed =
      post_form(client, "/charges", "amount=100000&currency=thb&card=" + token, secret_key);
  INFO(failed);
  CHECK(failed.status >= 500);
  CHECK(failed.json()["object"] == "error");
  client.post_json("/sandbox/chaos", {{"fail_ratio", 0.0}}, {basic(secret_key)});
  CHECK(client.get("/charges", {basic(secret_key)}).json()["total"] == 0);
  // The token was not spent by the failed request.
  card_charge(client, token);

  auto invalid = client.post_json("/sandbox/chaos", {{"fail_ratio", 2}}, {basic(secret_key)});
  check_error_object(invalid, 400, "bad_request");
}

TEST_CASE("chaos timeouts take effect but answer too late; latency delays answers",
          "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  const std::string token = make_token(client, "4242424242424242");
  REQUIRE(client
              .post_json("/sandbox/chaos", {{"timeout_ratio", 1.0}, {"timeout_hold_ms", 3000}},
                         {basic(secret_key)})
              .status == 200);
  http_client impatient = sandbox.client(700ms);
  CHECK_THROWS(
      post_form(impatient, "/charges", "amount=100000&currency=thb&card=" + token, secret_key));
  // The ambiguous request did take effect: reconciliation finds the charge.
  REQUIRE(client
              .post_json("/sandbox/chaos", {{"timeout_ratio", 0.0}, {"latency_ms", 400}},
                         {basic(secret_key)})
              .status == 200);
  const auto start = std::chrono::steady_clock::now();
  const json list = client.get("/charges?order=reverse_chronological", {basic(secret_key)}).json();
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  CHECK(list["total"] == 1);
  CHECK(list["data"][0]["status"] == "successful");
}

TEST_CASE("chaos duplicates deliver the same event twice; failed deliveries are retried",
          "[integration][sandbox]") {
  SECTION("duplicates") {
    webhook_receiver receiver;
    engine_process sandbox(sandbox_options({"--webhook-duplicate-ratio", "1"}, receiver.url()));
    auto client = sandbox.client();
    card_charge(client, make_token(client, "4242424242424242"));
    const auto deliveries = receiver.wait_for(2);
    REQUIRE(deliveries.size() == 2);
    CHECK(json::parse(deliveries[0].body)["id"] == json::parse(deliveries[1].body)["id"]);
    CHECK(json::parse(deliveries[0].body)["key"] == "charge.complete");
  }
  SECTION("retries") {
    webhook_receiver receiver({500, 503});
    engine_process sandbox(sandbox_options({}, receiver.url()));
    auto client = sandbox.client();
    card_charge(client, make_token(client, "4242424242424242"));
    const auto deliveries = receiver.wait_for(3, 15s);
    REQUIRE(deliveries.size() == 3);
    CHECK(deliveries[2].body == deliveries[0].body);
  }
  SECTION("drops") {
    webhook_receiver receiver;
    engine_process sandbox(sandbox_options({"--webhook-drop-ratio", "1"}, receiver.url()));
    auto client = sandbox.client();
    card_charge(client, make_token(client, "4242424242424242"));
    CHECK(receiver.wait_for(1, 1500ms).empty());
  }
}

TEST_CASE("the sandbox refuses a non-loopback listen address", "[integration][sandbox]") {
  auto options = sandbox_options({"--listen", "0.0.0.0:8090"});
  options.wait_until_live = false;
  engine_process sandbox(options);
  CHECK(sandbox.wait_for_exit(10s) == std::optional<int>(2));
  CHECK(sandbox.log_text().find("loopback") != std::string::npos);
}

TEST_CASE("SIGTERM stops the sandbox cleanly", "[integration][sandbox]") {
  engine_process sandbox(sandbox_options());
  auto client = sandbox.client();
  make_token(client, "4242424242424242");
  CHECK(sandbox.stop() == 0);
  CHECK(sandbox.log_text().find("sandbox_stopped") != std::string::npos);
  // No card number reached the log.
  CHECK(sandbox.log_text().find("4242424242424242") == std::string::npos);
}
