// tests/integration/http_test.cpp: the HTTP layer of the real engine (API.md "Common rules"):
// bad bodies and content types, oversized and malformed requests, request ids, keep-alive,
// the operations endpoints (/health, /metrics, /docs, /openapi.json against the router) and
// a graceful SIGTERM. Whatever the input, the engine answers 4xx, never 5xx.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::engine_fixture;
using tally::test::header_list;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_scalar;
using tally::test::raw_exchange;

constexpr const char* register_path = "/v1/auth/register";
constexpr const char* password_ok = "correct horse battery";
constexpr int keep_alive_requests = 20;
constexpr std::chrono::seconds shutdown_deadline{15};

const header_list json_type = {{"Content-Type", "application/json"}};

// Checks a problem response: status, content type, `code`, and request_id == X-Request-Id.
void check_problem(const http_response& response, int status, const std::string& code) {
  INFO(response);
  CHECK(response.status == status);
  CHECK(response.header("content-type").rfind("application/problem+json", 0) == 0);
  const json body = response.json();
  CHECK(body.value("code", "") == code);
  CHECK(body.value("status", 0) == status);
  CHECK_FALSE(response.header("x-request-id").empty());
  CHECK(body.value("request_id", "") == response.header("x-request-id"));
}

// A client error: 4xx, and if a body came, it is a problem document.
void check_client_error(const http_response& response) {
  INFO(response);
  CHECK(response.status >= 400);
  CHECK(response.status < 500);
  if (!response.body.empty()) {
    CHECK(response.header("content-type").rfind("application/problem+json", 0) == 0);
  }
}

http_response post_raw_json(http_client& client, const std::string& body) {
  return client.request("POST", register_path, body, json_type);
}

std::string credentials_body(const std::string& email, const std::string& password) {
  return json{{"email", email}, {"password", password}}.dump();
}

// As the engine defines a sane X-Request-Id: 1..128 of [A-Za-z0-9._-].
bool is_sane_request_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 &&
         id.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
             std::string::npos;
}

// Snippets of `html` where a script, style sheet, image or module is loaded from another host:
// src=, href=, url(, @import, import( or `from` followed by http://, https:// or //.
// (No std::regex: GCC 12 -O2 -Werror trips on it.)
std::vector<std::string> remote_references(const std::string& html) {
  std::string text = html;
  for (auto& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto skip = [&](std::size_t at, const std::string& chars) {
    while (at < text.size() && chars.find(text[at]) != std::string::npos) {
      at += 1;
    }
    return at;
  };
  std::vector<std::string> found;
  for (const std::string token : {"src", "href", "url(", "@import", "import(", "from"}) {
    for (std::size_t at = text.find(token); at != std::string::npos;
         at = text.find(token, at + 1)) {
      std::size_t value = skip(at + token.size(), " \t\r\n");
      if (token == "src" || token == "href") {
        if (value >= text.size() || text[value] != '=') {
          continue;
        }
        value = skip(value + 1, " \t\r\n");
      }
      if (text.compare(value, 4, "url(") == 0) {
        value = skip(value + 4, " \t\r\n");
      }
      value = skip(value, "\"'`");
      for (const char* remote : {"http://", "https://", "//"}) {
        if (text.compare(value, std::string(remote).size(), remote) == 0) {
          found.push_back(html.substr(at, 80));
        }
      }
    }
  }
  return found;
}

// Reads all of `command`'s standard output.
std::string run_command(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  std::size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    output.append(buffer, read);
  }
  const int status = ::pclose(pipe);
  INFO(command << " -> " << output);
  REQUIRE(status == 0);
  return output;
}

}  // namespace

// --- bodies and content types ------------------------------------------------------------

TEST_CASE("malformed JSON is 400 malformed_json", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  check_problem(post_raw_json(client, R"({"email": "a@example.org", "password": )"), 400,
                "malformed_json");
  check_problem(post_raw_json(client, "{email: 'a@example.org'}"), 400, "malformed_json");
}

TEST_CASE("a JSON array at the top level is 400 malformed_json", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  check_problem(post_raw_json(client, R"([{"email": "a@example.org"}])"), 400, "malformed_json");
  check_problem(post_raw_json(client, R"("a string")"), 400, "malformed_json");
}

TEST_CASE("a text/plain body on a JSON endpoint is 415 unsupported_media_type",
          "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response =
      client.request("POST", register_path, credentials_body("a@example.org", password_ok),
                     {{"Content-Type", "text/plain"}});

  check_problem(response, 415, "unsupported_media_type");
}

TEST_CASE("a body with no Content-Type on a JSON endpoint is 415", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response =
      client.request("POST", register_path, credentials_body("a@example.org", password_ok));

  check_problem(response, 415, "unsupported_media_type");
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 0);
}

TEST_CASE("a declared body over 64 KiB is 413 without the engine reading it",
          "[integration][http]") {
  engine_fixture fixture;

  // Only 16 of the 70000 announced bytes are ever sent: the answer must not wait for them.
  const std::string request =
      "POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n{\"email\": \"a@b\"";
  auto response = raw_exchange(fixture.engine.host(), fixture.engine.port(), request,
                               std::chrono::milliseconds(5'000));

  check_problem(response, 413, "payload_too_large");
}

TEST_CASE("a body of 70000 bytes actually sent is 413 payload_too_large", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response =
      post_raw_json(client, credentials_body("a@example.org", std::string(70'000, 'p')));

  check_problem(response, 413, "payload_too_large");
}

TEST_CASE("invalid UTF-8 in a string field is a 4xx, not a 5xx", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto in_password = post_raw_json(client,
                                   "{\"email\": \"utf@example.org\", \"password\": \"abc\xff\xfe"
                                   "defgh\"}");
  auto in_email = post_raw_json(
      client, "{\"email\": \"ut\xc3\x28@example.org\", \"password\": \"abcdefghij\"}");
  auto overlong = post_raw_json(client,
                                "{\"email\": \"utf@example.org\", \"password\": \"abc\xc0\xaf"
                                "defghij\"}");

  check_client_error(in_password);
  check_client_error(in_email);
  check_client_error(overlong);
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 0);
}

TEST_CASE("a NUL character inside a JSON string is 422 validation_failed", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto in_email =
      post_raw_json(client, R"({"email": "nul\u0000@example.org", "password": "abcdefghij"})");
  auto in_password =
      post_raw_json(client, R"({"email": "nul@example.org", "password": "abcd\u0000efghij"})");

  check_problem(in_email, 422, "validation_failed");
  check_problem(in_password, 422, "validation_failed");
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 0);
}

TEST_CASE("a 100 KB string field is 413 or 422", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = post_raw_json(
      client, credentials_body(std::string(100'000, 'e') + "@example.org", password_ok));

  INFO(response);
  CHECK((response.status == 413 || response.status == 422));
  check_client_error(response);
}

TEST_CASE("100000 nested brackets are 400 malformed_json, answered quickly",
          "[integration][http]") {
  // The body limit is raised so that the nesting, not the size, is what gets refused.
  engine_fixture fixture(tally::test::env_map{{"TALLY_BODY_BYTES_MAX", "1048576"}});
  auto client = fixture.client();

  const auto started = std::chrono::steady_clock::now();
  auto arrays = post_raw_json(client, std::string(100'000, '['));
  auto objects = post_raw_json(client, "{\"email\": " + std::string(100'000, '['));
  const auto elapsed = std::chrono::steady_clock::now() - started;

  check_problem(arrays, 400, "malformed_json");
  check_problem(objects, 400, "malformed_json");
  CHECK(elapsed < std::chrono::seconds(2));
  CHECK(client.get("/health/live").status == 200);  // and the engine is still there
}

TEST_CASE("100000 nested brackets under the default body limit are a 4xx", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  check_client_error(post_raw_json(client, std::string(100'000, '[')));
  check_problem(post_raw_json(client, std::string(60'000, '[')), 400, "malformed_json");
}

TEST_CASE("SQL metacharacters in e-mail and password are plain data", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string email = "x'or'1'='1--drop@example.org";  // valid: no space, ';' or '"'
  const std::string password = "'; DROP TABLE identity.users;--";
  const std::string invalid_email = "a'; DROP TABLE identity.users;--@x.org";

  auto refused = post_raw_json(client, credentials_body(invalid_email, password));
  auto created = post_raw_json(client, credentials_body(email, password));
  auto logged_in = client.post_json("/v1/auth/login", {{"email", email}, {"password", password}});

  check_problem(refused, 422, "validation_failed");
  INFO(created);
  REQUIRE(created.status == 201);
  CHECK(created.json()["user"].value("email", "") == email);
  INFO(logged_in);
  REQUIRE(logged_in.status == 200);
  auto me = client.get("/v1/users/me", {tally::test::bearer(logged_in.json()["access_token"])});
  INFO(me);
  CHECK(me.json().value("email", "") == email);
  const auto& url = fixture.database.url();
  CHECK(pg_scalar(url, "SELECT count(*) FROM identity.users") == 1);
  CHECK(pg_scalar(url,
                  "SELECT count(*) FROM identity.users WHERE email = "
                  "'x''or''1''=''1--drop@example.org'") == 1);
}

// --- routing and request ids -------------------------------------------------------------

TEST_CASE("an unknown path is 404 not_found", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  check_problem(client.get("/v1/no-such-thing"), 404, "not_found");
  check_problem(client.post_json("/v1/auth/registerX", json::object()), 404, "not_found");
}

TEST_CASE("GET on a POST-only route is 405 with Allow: POST", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.get(register_path);

  check_problem(response, 405, "method_not_allowed");
  CHECK(response.header("allow") == "POST");
}

TEST_CASE("a sane X-Request-Id is echoed on successes and errors", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const header_list id = {{"X-Request-Id", "abc-123"}};

  auto live = client.get("/health/live", id);
  auto missing = client.get("/v1/no-such-thing", id);
  auto invalid =
      client.request("POST", register_path, "{}",
                     {{"X-Request-Id", "abc-123"}, {"Content-Type", "application/json"}});

  CHECK(live.header("x-request-id") == "abc-123");
  CHECK(missing.header("x-request-id") == "abc-123");
  CHECK(missing.json().value("request_id", "") == "abc-123");
  check_problem(invalid, 422, "validation_failed");
  CHECK(invalid.header("x-request-id") == "abc-123");
}

TEST_CASE("an X-Request-Id that is too long or has spaces is replaced", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string too_long(300, 'a');
  const std::string with_spaces = "abc 123 def";

  for (const auto& sent : {too_long, with_spaces}) {
    INFO("sent X-Request-Id: " << sent);
    auto live = client.get("/health/live", {{"X-Request-Id", sent}});
    auto missing = client.get("/v1/no-such-thing", {{"X-Request-Id", sent}});
    for (const auto* response : {&live, &missing}) {
      const std::string id = response->header("x-request-id");
      CHECK(id != sent);
      CHECK(is_sane_request_id(id));
    }
    CHECK(missing.json().value("request_id", "") == missing.header("x-request-id"));
  }
}

TEST_CASE("every response carries an X-Request-Id, errors included", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  std::vector<http_response> responses = {
      client.get("/health/live"),
      client.get("/v1/no-such-thing"),
      client.get(register_path),
      client.request("POST", register_path, "x", {{"Content-Type", "text/plain"}}),
      post_raw_json(client, "{"),
      post_raw_json(client, "{}"),
      client.get("/v1/users/me"),
      raw_exchange(fixture.engine.host(), fixture.engine.port(),
                   "POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: 70000\r\n\r\n{"),
  };

  for (const auto& response : responses) {
    INFO(response);
    CHECK(response.status != 0);
    CHECK_FALSE(response.header("x-request-id").empty());
    if (response.status >= 400) {
      CHECK(response.json().value("request_id", "") == response.header("x-request-id"));
    }
  }
}

// --- malformed HTTP ----------------------------------------------------------------------

TEST_CASE("a header section over 8 KiB is 431 or a closed connection, never a 5xx",
          "[integration][http]") {
  engine_fixture fixture;

  const std::string request =
      "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(10 * 1024, 'p') +
      "\r\n\r\n";
  auto response = raw_exchange(fixture.engine.host(), fixture.engine.port(), request);

  INFO(response);
  CHECK((response.status == 431 || response.status == 0));
  CHECK(response.status < 500);
  CHECK(fixture.client().get("/health/live").status == 200);
}

TEST_CASE("a request line that is not HTTP is 400 or a closed connection", "[integration][http]") {
  engine_fixture fixture;

  for (const std::string& garbage :
       {std::string("HELLO THERE\r\n\r\n"), std::string("GET /health/live SPDY/9\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n"}) {
    auto response = raw_exchange(fixture.engine.host(), fixture.engine.port(), garbage);
    INFO(response);
    CHECK((response.status == 400 || response.status == 0));
  }
  CHECK(fixture.client().get("/health/live").status == 200);
}

TEST_CASE("20 requests on one client use one keep-alive connection", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  for (int i = 0; i < keep_alive_requests; ++i) {
    auto response = (i % 2 == 0) ? client.get("/health/live") : client.get("/v1/no-such-thing");
    INFO("request " << i << ": " << response);
    CHECK(response.status == (i % 2 == 0 ? 200 : 404));
  }

  CHECK(client.connections_opened() == 1);
}

// --- operations endpoints ------------------------------------------------------------------

TEST_CASE("/health/live is 200", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.get("/health/live");

  INFO(response);
  CHECK(response.status == 200);
  CHECK(response.header("content-type").rfind("application/json", 0) == 0);
}

TEST_CASE("/health/ready is 200 with Postgres and Redis ok", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.get("/health/ready");

  INFO(response);
  REQUIRE(response.status == 200);
  const json body = response.json();
  CHECK(body["checks"]["postgres"]["ok"] == true);
  CHECK(body["checks"]["redis"]["ok"] == true);
}

TEST_CASE("/metrics has request-duration buckets labelled with the routes that were called",
          "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  REQUIRE(client.get("/health/live").status == 200);
  REQUIRE(client.post_json(register_path, {{"email", "m@example.org"}, {"password", password_ok}})
              .status == 201);

  // The histogram is observed once the response is written: poll briefly.
  const std::vector<std::string> routes = {"/health/live", register_path};
  std::set<std::string> found;
  std::string text;
  for (int attempt = 0; attempt < 20 && found.size() < routes.size(); ++attempt) {
    auto response = client.get("/metrics");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type").rfind("text/plain", 0) == 0);
    text = response.body;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      for (const auto& route : routes) {
        if (line.rfind("http_server_request_duration_seconds_bucket{", 0) == 0 &&
            line.find("http_route=\"" + route + "\"") != std::string::npos &&
            line.find("le=\"+Inf\"") != std::string::npos) {
          found.insert(route);
        }
      }
    }
    if (found.size() < routes.size()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  INFO(text);
  CHECK(found == std::set<std::string>(routes.begin(), routes.end()));
}

TEST_CASE("/docs is HTML that loads nothing from another host", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.get("/docs");

  INFO(response.describe());
  REQUIRE(response.status == 200);
  CHECK(response.header("content-type").rfind("text/html", 0) == 0);
  CHECK(remote_references(response.body).empty());
  // The check itself finds what it is looking for.
  CHECK(remote_references(R"(<script src="https://cdn.example/x.js"></script>)").size() == 1);
  CHECK(remote_references("<link rel=stylesheet href = '//cdn.example/x.css'>").size() == 1);
  CHECK(response.body.find("<script src=\"http") == std::string::npos);
  CHECK(response.body.find("<link href=\"http") == std::string::npos);
}

TEST_CASE("/openapi.json describes exactly the routes the router serves", "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::set<std::string> operation_keys = {"get",     "put",  "post",  "delete",
                                                "options", "head", "patch", "trace"};

  auto response = client.get("/openapi.json");
  const std::string printed = run_command(tally::test::engine_binary_path() + " routes");

  INFO("GET /openapi.json: HTTP " << response.status << ", " << response.header("content-type"));
  REQUIRE(response.status == 200);
  CHECK(response.header("content-type").rfind("application/json", 0) == 0);
  const json document = response.json();
  REQUIRE(document.contains("paths"));
  // "get /v1/users/me": Catch prints sets of strings, not of pairs.
  std::set<std::string> documented;
  for (const auto& [path, item] : document["paths"].items()) {
    for (const auto& [key, operation] : item.items()) {
      if (operation_keys.count(key) != 0) {
        documented.insert(key + " " + path);
      }
    }
  }
  std::set<std::string> served;
  for (const auto& route : json::parse(printed)) {
    std::string method = route.at("method");
    for (auto& c : method) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    served.insert(method + " " + route.at("path").get<std::string>());
  }
  std::vector<std::string> undocumented;
  std::set_difference(served.begin(), served.end(), documented.begin(), documented.end(),
                      std::back_inserter(undocumented));
  std::vector<std::string> not_served;
  std::set_difference(documented.begin(), documented.end(), served.begin(), served.end(),
                      std::back_inserter(not_served));
  CHECK_FALSE(served.empty());
  const std::vector<std::string> none;
  CHECK(undocumented == none);  // served by the router, missing from /openapi.json
  CHECK(not_served == none);    // in /openapi.json, not served
}

// --- shutdown ---------------------------------------------------------------------------

TEST_CASE("SIGTERM during a registration lets it finish with 201 and exits 0",
          "[integration][http]") {
  engine_fixture fixture;
  auto client = fixture.client();
  REQUIRE(client.get("/health/live").status == 200);  // the connection is open before
  std::atomic<bool> sending{false};
  http_response response;
  std::string failure;

  std::thread request([&] {
    sending = true;
    try {
      response = client.post_json(register_path,
                                  {{"email", "drain@example.org"}, {"password", password_ok}});
    } catch (const std::exception& error) {
      failure = error.what();
    }
  });
  while (!sending.load()) {
    std::this_thread::yield();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fixture.engine.send_signal(SIGTERM);
  const auto exit_status = fixture.engine.wait_for_exit(shutdown_deadline);
  request.join();

  INFO(failure);
  CHECK(failure.empty());
  INFO(response);
  CHECK(response.status == 201);
  REQUIRE(exit_status.has_value());
  CHECK(*exit_status == 0);
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 1);
}
