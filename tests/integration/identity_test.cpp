// tests/integration/identity_test.cpp: the identity endpoints of API.md ("Identity" and the
// common rules they follow) against the real engine: register, login, refresh, logout,
// validate, users/me, forged and expired bearer tokens, the audit trail, the auth rate limits
// and what the engine must never write to its log. One engine (and database) per case.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/support/test_env.hpp"

namespace {

using nlohmann::json;
using tally::test::bearer;
using tally::test::engine_fixture;
using tally::test::http_client;
using tally::test::http_response;
using tally::test::pg_scalar;

constexpr const char* password_ok = "correct horse battery";
constexpr int parallel_registrations = 50;
constexpr int timing_samples = 5;

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// YYYY-MM-DDTHH:MM:SS[.fraction]Z (no std::regex: GCC 12 -O2 -Werror trips on it).
bool is_rfc3339_utc(const std::string& text) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() < shape.size() + 1 || text.back() != 'Z') {
    return false;
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) != 0
                                    : text[i] == shape[i];
    if (!ok) {
      return false;
    }
  }
  const std::string fraction = text.substr(shape.size(), text.size() - shape.size() - 1);
  if (fraction.empty()) {
    return true;
  }
  return fraction.size() >= 2 && fraction[0] == '.' &&
         fraction.find_first_not_of("0123456789", 1) == std::string::npos;
}

std::string repeat(const std::string& unit, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += unit;
  }
  return out;
}

// Checks a problem response: status, content type, `code`, and request_id == X-Request-Id.
void check_problem(const http_response& response, int status, const std::string& code) {
  INFO(response);
  CHECK(response.status == status);
  CHECK(response.header("content-type").rfind("application/problem+json", 0) == 0);
  const json body = response.json();
  CHECK(body.value("code", "") == code);
  CHECK(body.value("status", 0) == status);
  CHECK(body.value("request_id", "") == response.header("x-request-id"));
}

void check_unauthorized(const http_response& response) {
  check_problem(response, 401, "unauthorized");
  CHECK(response.header("www-authenticate") == "Bearer");
}

// The field names listed in a 422 problem's `errors`.
std::set<std::string> error_fields(const http_response& response) {
  std::set<std::string> fields;
  const json body = response.json();
  if (body.contains("errors") && body["errors"].is_array()) {
    for (const auto& error : body["errors"]) {
      fields.insert(error.value("field", ""));
      CHECK_FALSE(error.value("message", "").empty());
    }
  }
  return fields;
}

http_response register_user(http_client& client, const std::string& email,
                            const std::string& password = password_ok) {
  return client.post_json("/v1/auth/register", {{"email", email}, {"password", password}});
}

http_response login(http_client& client, const std::string& email,
                    const std::string& password = password_ok) {
  return client.post_json("/v1/auth/login", {{"email", email}, {"password", password}});
}

http_response refresh(http_client& client, const std::string& refresh_token) {
  return client.post_json("/v1/auth/refresh", {{"refresh_token", refresh_token}});
}

// Registers `email` and returns the 201 body (REQUIREs the 201).
json registered(http_client& client, const std::string& email) {
  auto response = register_user(client, email);
  INFO(response);
  REQUIRE(response.status == 201);
  return response.json();
}

// The token body register and login share (API.md: login answers "same token body").
void check_grant_body(const http_response& response, const std::string& email) {
  INFO(response);
  CHECK(response.header("content-type").rfind("application/json", 0) == 0);
  const json body = response.json();
  REQUIRE(body.contains("user"));
  CHECK(body["user"]["id"].is_string());
  CHECK_FALSE(body["user"].value("id", "").empty());
  CHECK(body["user"].value("email", "") == email);
  CHECK(is_rfc3339_utc(body["user"].value("created_at", "")));
  CHECK(body["access_token"].is_string());
  CHECK(body["access_token"].get<std::string>().size() > 20);
  CHECK(body["refresh_token"].is_string());
  CHECK(body["refresh_token"].get<std::string>().size() > 20);
  CHECK(body.value("token_type", "") == "Bearer");
  CHECK(body["expires_in"].is_number_integer());
  CHECK(body.value("expires_in", 0) > 0);
}

// --- JWTs built by the test itself, to forge what an attacker could -------------------

std::string base64url(const std::string& bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (const unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) {
    out.push_back(alphabet[(buffer << (6 - bits)) & 0x3F]);
  }
  return out;
}

std::string hmac(const EVP_MD* digest, const std::string& key, const std::string& data) {
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int tag_bytes = 0;
  HMAC(digest, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), tag, &tag_bytes);
  return std::string(reinterpret_cast<const char*>(tag), tag_bytes);
}

json header_with_alg(const std::string& alg) {
  return {{"alg", alg}, {"typ", "at+jwt"}, {"kid", "k1"}};
}

// Claims the engine accepts for `user_id` now (iss "tally", aud "tally-api").
json valid_claims(const std::string& user_id, const std::string& email) {
  const int64_t now = unix_now_s();
  return {{"iss", "tally"}, {"sub", user_id}, {"aud", "tally-api"}, {"jti", "test-jti-1"},
          {"email", email}, {"iat", now - 5}, {"nbf", now - 5},     {"exp", now + 300}};
}

// header.payload.signature, HMAC-signed with `key` (SHA-256 unless `digest` says otherwise).
std::string signed_token(const json& header, const json& claims,
                         const std::string& key = tally::test::test_jwt_key,
                         const EVP_MD* digest = EVP_sha256()) {
  const std::string input = base64url(header.dump()) + "." + base64url(claims.dump());
  return input + "." + base64url(hmac(digest, key, input));
}

}  // namespace

// --- register ----------------------------------------------------------------------------

TEST_CASE("registering returns 201 with the user, a token pair and token type Bearer",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = register_user(client, "alice@example.org");

  INFO(response);
  REQUIRE(response.status == 201);
  check_grant_body(response, "alice@example.org");
  CHECK(response.json().value("expires_in", 0) == 900);
}

TEST_CASE("registration trims the e-mail and lower-cases its domain", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = register_user(client, "  Bob.Smith@EXAMPLE.Org \t");

  INFO(response);
  REQUIRE(response.status == 201);
  CHECK(response.json()["user"].value("email", "") == "Bob.Smith@example.org");
  CHECK(pg_scalar(fixture.database.url(),
                  "SELECT count(*) FROM identity.users WHERE email = 'Bob.Smith@example.org'") ==
        1);
}

TEST_CASE("registering an e-mail a second time is 409 email_taken", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  registered(client, "carol@example.org");

  auto again = register_user(client, "carol@example.org", "another password 1");

  check_problem(again, 409, "email_taken");
}

TEST_CASE("an e-mail that differs only in letter case is the same account: 409",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  registered(client, "dave@example.org");

  check_problem(register_user(client, "DAVE@example.org"), 409, "email_taken");
  check_problem(register_user(client, "Dave@EXAMPLE.ORG"), 409, "email_taken");
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 1);
}

TEST_CASE("50 parallel registrations of one e-mail create exactly one user",
          "[integration][identity]") {
  engine_fixture fixture;
  std::vector<http_client> clients;
  for (int i = 0; i < parallel_registrations; ++i) {
    clients.push_back(fixture.client());
  }
  std::vector<int> statuses(parallel_registrations, 0);
  std::vector<std::string> failures(parallel_registrations);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < parallel_registrations; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) {
        std::this_thread::yield();
      }
      try {
        auto response = register_user(clients[static_cast<std::size_t>(i)], "race@example.org");
        statuses[static_cast<std::size_t>(i)] = response.status;
        if (response.status != 201 && response.status != 409) {
          failures[static_cast<std::size_t>(i)] = response.describe();
        }
      } catch (const std::exception& error) {
        failures[static_cast<std::size_t>(i)] = error.what();
      }
    });
  }
  go = true;
  for (auto& thread : threads) {
    thread.join();
  }

  for (const auto& failure : failures) {
    INFO(failure);
    CHECK(failure.empty());
  }
  CHECK(std::count(statuses.begin(), statuses.end(), 201) == 1);
  CHECK(std::count(statuses.begin(), statuses.end(), 409) == parallel_registrations - 1);
  CHECK(pg_scalar(fixture.database.url(), "SELECT count(*) FROM identity.users") == 1);
}

// --- 422: every invalid field is listed ----------------------------------------------------

TEST_CASE("a bad e-mail and a 7-character password are both listed in one 422",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = register_user(client, "not-an-email", "1234567");

  check_problem(response, 422, "validation_failed");
  CHECK(error_fields(response) == std::set<std::string>{"email", "password"});
}

TEST_CASE("a body with neither email nor password lists both as invalid",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.post_json("/v1/auth/register", json::object());

  check_problem(response, 422, "validation_failed");
  CHECK(error_fields(response) == std::set<std::string>{"email", "password"});
}

TEST_CASE("an email that is a number and a password that is a boolean are both listed",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  auto response = client.post_json("/v1/auth/register", {{"email", 5}, {"password", true}});

  check_problem(response, 422, "validation_failed");
  CHECK(error_fields(response) == std::set<std::string>{"email", "password"});
}

TEST_CASE("a password of 129 code points is refused and one of 128 is accepted",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  // Two-byte code points: the limit counts characters, not bytes.
  auto too_long = register_user(client, "long@example.org", repeat("\xC3\xA9", 129));
  auto longest = register_user(client, "long@example.org", repeat("\xC3\xA9", 128));

  check_problem(too_long, 422, "validation_failed");
  CHECK(error_fields(too_long) == std::set<std::string>{"password"});
  INFO(longest);
  CHECK(longest.status == 201);
}

TEST_CASE("a multibyte password of 8 code points is accepted and 7 are refused",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string key = "\xF0\x9F\x94\x91";  // U+1F511, four bytes

  auto seven = register_user(client, "emoji@example.org", repeat(key, 7));  // 28 bytes
  auto eight = register_user(client, "emoji@example.org", repeat(key, 8));

  check_problem(seven, 422, "validation_failed");
  CHECK(error_fields(seven) == std::set<std::string>{"password"});
  INFO(eight);
  REQUIRE(eight.status == 201);
  auto logged_in = login(client, "emoji@example.org", repeat(key, 8));
  INFO(logged_in);
  CHECK(logged_in.status == 200);
}

// --- login -----------------------------------------------------------------------------------

TEST_CASE("login returns 200 with the same token body as registration", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "erin@example.org");

  auto response = login(client, "erin@example.org");

  INFO(response);
  REQUIRE(response.status == 200);
  check_grant_body(response, "erin@example.org");
  const json body = response.json();
  CHECK(body["user"]["id"] == account["user"]["id"]);
  CHECK(body["user"]["created_at"] == account["user"]["created_at"]);
  CHECK(body["access_token"] != account["access_token"]);
  CHECK(body["refresh_token"] != account["refresh_token"]);
}

TEST_CASE("wrong password and unknown e-mail get the same 401 invalid_credentials",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  registered(client, "frank@example.org");

  auto wrong_password = login(client, "frank@example.org", "not the password");
  auto unknown_email = login(client, "nobody@example.org", "not the password");

  check_problem(wrong_password, 401, "invalid_credentials");
  check_problem(unknown_email, 401, "invalid_credentials");
  json a = wrong_password.json();
  json b = unknown_email.json();
  for (const char* varying : {"request_id", "instance"}) {
    a.erase(varying);
    b.erase(varying);
  }
  CHECK(a == b);
  CHECK(wrong_password.header("content-type") == unknown_email.header("content-type"));
  CHECK(wrong_password.header("www-authenticate") == unknown_email.header("www-authenticate"));
}

TEST_CASE("wrong password and unknown e-mail take similar time", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  registered(client, "grace@example.org");
  login(client, "nobody@example.org", "warm up the path");

  std::vector<double> wrong_password_ms;
  std::vector<double> unknown_email_ms;
  const auto timed = [&](const std::string& email) {
    const auto started = std::chrono::steady_clock::now();
    auto response = login(client, email, "not the password");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    INFO(response);
    CHECK(response.status == 401);
    return std::chrono::duration<double, std::milli>(elapsed).count();
  };
  for (int i = 0; i < timing_samples; ++i) {
    wrong_password_ms.push_back(timed("grace@example.org"));
    unknown_email_ms.push_back(timed("nobody@example.org"));
  }

  std::sort(wrong_password_ms.begin(), wrong_password_ms.end());
  std::sort(unknown_email_ms.begin(), unknown_email_ms.end());
  const double wrong_median = wrong_password_ms[timing_samples / 2];
  const double unknown_median = unknown_email_ms[timing_samples / 2];
  CAPTURE(wrong_median, unknown_median);
  CHECK(std::max(wrong_median, unknown_median) <= 3.0 * std::min(wrong_median, unknown_median));
}

// --- refresh -------------------------------------------------------------------------------

TEST_CASE("refresh returns a new token pair and the old refresh token is dead",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "heidi@example.org");
  const std::string first = account["refresh_token"];

  auto refreshed = refresh(client, first);

  INFO(refreshed);
  REQUIRE(refreshed.status == 200);
  check_grant_body(refreshed, "heidi@example.org");
  const json body = refreshed.json();
  CHECK(body["refresh_token"] != first);
  CHECK(body["access_token"] != account["access_token"]);
  CHECK(body["user"]["id"] == account["user"]["id"]);
  auto me = client.get("/v1/users/me", {bearer(body["access_token"])});
  INFO(me);
  CHECK(me.status == 200);
  check_problem(refresh(client, first), 401, "invalid_refresh_token");
}

TEST_CASE("presenting a rotated refresh token again revokes the whole session family",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string first = registered(client, "ivan@example.org")["refresh_token"];
  auto rotated = refresh(client, first);
  INFO(rotated);
  REQUIRE(rotated.status == 200);
  const std::string newest = rotated.json()["refresh_token"];

  check_problem(refresh(client, first), 401, "invalid_refresh_token");  // the reuse

  check_problem(refresh(client, newest), 401, "invalid_refresh_token");
}

TEST_CASE("after refresh-token reuse the family's access tokens stop working too",
          "[integration][identity]") {
  // API.md: reuse "revokes the whole session family"; a revoked token is 401.
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string first = registered(client, "judy@example.org")["refresh_token"];
  auto rotated = refresh(client, first);
  INFO(rotated);
  REQUIRE(rotated.status == 200);
  const std::string access = rotated.json()["access_token"];
  auto before = client.get("/v1/auth/validate", {bearer(access)});
  INFO(before);
  REQUIRE(before.status == 200);

  check_problem(refresh(client, first), 401, "invalid_refresh_token");  // the reuse

  check_unauthorized(client.get("/v1/auth/validate", {bearer(access)}));
  check_unauthorized(client.get("/v1/users/me", {bearer(access)}));
}

TEST_CASE("a refresh token the engine never issued is 401 invalid_refresh_token",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  registered(client, "ken@example.org");

  check_problem(refresh(client, "garbage-refresh-token"), 401, "invalid_refresh_token");
  check_problem(refresh(client, repeat("A", 43)), 401, "invalid_refresh_token");
}

// --- logout --------------------------------------------------------------------------------

TEST_CASE("logout with only the bearer token is 204 and ends that token and its session",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "leo@example.org");
  const std::string access = account["access_token"];

  auto response = client.request("POST", "/v1/auth/logout", "", {bearer(access)});

  INFO(response);
  CHECK(response.status == 204);
  CHECK(response.body.empty());
  check_unauthorized(client.get("/v1/users/me", {bearer(access)}));
  check_unauthorized(client.get("/v1/auth/validate", {bearer(access)}));
  // "the access token and the session stop working at once"
  check_problem(refresh(client, account["refresh_token"]), 401, "invalid_refresh_token");
}

TEST_CASE("logout with the refresh token in the body is 204 and ends both tokens",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "mallory@example.org");
  const std::string access = account["access_token"];

  auto response = client.post_json("/v1/auth/logout", {{"refresh_token", account["refresh_token"]}},
                                   {bearer(access)});

  INFO(response);
  CHECK(response.status == 204);
  check_unauthorized(client.get("/v1/users/me", {bearer(access)}));
  check_unauthorized(client.get("/v1/auth/validate", {bearer(access)}));
  check_problem(refresh(client, account["refresh_token"]), 401, "invalid_refresh_token");
}

TEST_CASE("logout ends the session: an earlier access token of the same session stops too",
          "[integration][identity]") {
  // API.md: "the access token and the session stop working at once".
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "nina@example.org");
  const std::string earlier = account["access_token"];
  auto rotated = refresh(client, account["refresh_token"]);
  INFO(rotated);
  REQUIRE(rotated.status == 200);
  const std::string later = rotated.json()["access_token"];

  auto response = client.request("POST", "/v1/auth/logout", "", {bearer(later)});

  INFO(response);
  REQUIRE(response.status == 204);
  check_unauthorized(client.get("/v1/auth/validate", {bearer(later)}));
  check_unauthorized(client.get("/v1/auth/validate", {bearer(earlier)}));
}

TEST_CASE("logout without a bearer token is 401", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();

  check_unauthorized(client.request("POST", "/v1/auth/logout"));
}

// --- validate and users/me -----------------------------------------------------------------

TEST_CASE("validate returns the caller's user id, e-mail and token expiry",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "oscar@example.org");

  auto response = client.get("/v1/auth/validate", {bearer(account["access_token"])});

  INFO(response);
  REQUIRE(response.status == 200);
  const json body = response.json();
  CHECK(body["user_id"] == account["user"]["id"]);
  CHECK(body.value("email", "") == "oscar@example.org");
  CHECK(is_rfc3339_utc(body.value("expires_at", "")));
}

TEST_CASE("users/me returns the profile with a zero balance", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "peggy@example.org");

  auto response = client.get("/v1/users/me", {bearer(account["access_token"])});

  INFO(response);
  REQUIRE(response.status == 200);
  const json body = response.json();
  CHECK(body["id"] == account["user"]["id"]);
  CHECK(body.value("email", "") == "peggy@example.org");
  CHECK(body["created_at"] == account["user"]["created_at"]);
  CHECK(body["balance"] == json{{"available", 0}, {"reserved", 0}});
}

// --- bearer tokens -----------------------------------------------------------------------

TEST_CASE("a token the test signs with the engine's key is accepted by validate",
          "[integration][identity]") {
  // The control for the forged-token case: a token built the same way, but valid.
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "quinn@example.org");
  const std::string user_id = account["user"]["id"];

  auto token = signed_token(header_with_alg("HS256"), valid_claims(user_id, "quinn@example.org"));
  auto response = client.get("/v1/auth/validate", {bearer(token)});

  INFO(response);
  REQUIRE(response.status == 200);
  CHECK(response.json().value("user_id", "") == user_id);
}

TEST_CASE("missing, malformed, forged and expired bearer tokens are 401 unauthorized",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const json account = registered(client, "rupert@example.org");
  const std::string user_id = account["user"]["id"];
  const json claims = valid_claims(user_id, "rupert@example.org");
  const json hs256 = header_with_alg("HS256");
  // The control: the same construction with nothing wrong is accepted.
  auto control = client.get("/v1/auth/validate", {bearer(signed_token(hs256, claims))});
  INFO(control);
  REQUIRE(control.status == 200);

  json expired = claims;
  expired["iat"] = unix_now_s() - 4000;
  expired["nbf"] = unix_now_s() - 4000;
  expired["exp"] = unix_now_s() - 3600;
  json wrong_iss = claims;
  wrong_iss["iss"] = "not-tally";
  json wrong_aud = claims;
  wrong_aud["aud"] = "another-api";
  json other_user = claims;
  other_user["sub"] = "00000000-0000-4000-8000-000000000000";
  const std::string genuine = signed_token(hs256, claims);
  const std::string tampered = genuine.substr(0, genuine.find('.')) + "." +
                               base64url(other_user.dump()) + genuine.substr(genuine.rfind('.'));
  const std::string alg_none =
      base64url(header_with_alg("none").dump()) + "." + base64url(claims.dump()) + ".";

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Bearer with garbage", "Bearer not.a.jwt"},
      {"Bearer with nothing", "Bearer "},
      {"alg none, empty signature", "Bearer " + alg_none},
      {"expired", "Bearer " + signed_token(hs256, expired)},
      {"wrong iss", "Bearer " + signed_token(hs256, wrong_iss)},
      {"wrong aud", "Bearer " + signed_token(hs256, wrong_aud)},
      {"tampered payload", "Bearer " + tampered},
      {"HS512 header, HS512 signature",
       "Bearer " +
           signed_token(header_with_alg("HS512"), claims, tally::test::test_jwt_key, EVP_sha512())},
      {"signed with another key",
       "Bearer " + signed_token(hs256, claims, "another-secret-0123456789abcdef0123456789")},
      {"Basic scheme with a valid token", "Basic " + genuine},
  };

  check_unauthorized(client.get("/v1/auth/validate"));  // no Authorization header at all
  check_unauthorized(client.get("/v1/users/me"));
  for (const auto& [name, authorization] : cases) {
    INFO("token case: " << name);
    check_unauthorized(client.get("/v1/auth/validate", {{"Authorization", authorization}}));
    check_unauthorized(client.get("/v1/users/me", {{"Authorization", authorization}}));
  }
}

// --- audit ---------------------------------------------------------------------------------

TEST_CASE("registration, a failed login and refresh-token reuse are audited",
          "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string first = registered(client, "sybil@example.org")["refresh_token"];
  REQUIRE(login(client, "sybil@example.org", "not the password").status == 401);
  REQUIRE(login(client, "ghost@example.org", "not the password").status == 401);
  REQUIRE(refresh(client, first).status == 200);
  REQUIRE(refresh(client, first).status == 401);  // the reuse

  const auto& url = fixture.database.url();
  auto count = [&](const std::string& action) {
    return pg_scalar(url, "SELECT count(*) FROM audit.records WHERE action = '" + action + "'");
  };
  CHECK(count("user.registered") == 1);
  CHECK(count("auth.login_failed") == 2);
  CHECK(count("security.refresh_token_reuse") == 1);
}

// --- rate limits ----------------------------------------------------------------------------

TEST_CASE("the fourth auth request from one address in a minute is 429 rate_limited",
          "[integration][identity]") {
  engine_fixture fixture(tally::test::env_map{{"TALLY_RATE_AUTH_PER_IP_PER_MINUTE", "3"}});
  auto client = fixture.client();

  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto response = login(client, "tom@example.org", "not the password");
    INFO("attempt " << attempt << ": " << response);
    CHECK(response.status == 401);
    CHECK(response.header("ratelimit-limit") == "3");
    CHECK(response.header("ratelimit-remaining") == std::to_string(3 - attempt));
    CHECK_FALSE(response.header("ratelimit-reset").empty());
  }
  auto limited = login(client, "tom@example.org", "not the password");

  check_problem(limited, 429, "rate_limited");
  INFO(limited);
  CHECK(limited.header("ratelimit-limit") == "3");
  CHECK(limited.header("ratelimit-remaining") == "0");
  const int reset_s = std::stoi(limited.header("ratelimit-reset"));
  const int retry_after_s = std::stoi(limited.header("retry-after"));
  CHECK(reset_s >= 1);
  CHECK(reset_s <= 60);
  CHECK(retry_after_s >= 1);
  CHECK(retry_after_s <= 60);
}

TEST_CASE("the per-e-mail limit refuses the third login for one e-mail, not another",
          "[integration][identity]") {
  engine_fixture fixture(tally::test::env_map{{"TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE", "2"}});
  auto client = fixture.client();

  CHECK(login(client, "uma@example.org", "not the password").status == 401);
  CHECK(login(client, "uma@example.org", "not the password").status == 401);
  auto limited = login(client, "uma@example.org", "not the password");
  auto other = login(client, "victor@example.org", "not the password");

  check_problem(limited, 429, "rate_limited");
  CHECK_FALSE(limited.header("retry-after").empty());
  INFO(other);
  CHECK(other.status == 401);
}

TEST_CASE("the per-e-mail limit counts one address in any letter case once",
          "[integration][identity]") {
  // Accounts are case-insensitive (409 above; login matches lower(email)), so changing the
  // case of the local part must not buy an attacker a fresh allowance.
  engine_fixture fixture(tally::test::env_map{{"TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE", "2"}});
  auto client = fixture.client();
  registered(client, "wendy@example.org");  // the first of the address's two

  CHECK(login(client, "wendy@example.org", "not the password").status == 401);
  check_problem(login(client, "Wendy@example.org", "not the password"), 429, "rate_limited");
  check_problem(login(client, "WENDY@EXAMPLE.ORG", "not the password"), 429, "rate_limited");
}

// --- secrets stay out of the log ------------------------------------------------------------

TEST_CASE("the engine log holds no password and no token", "[integration][identity]") {
  engine_fixture fixture;
  auto client = fixture.client();
  const std::string password = "s3cret-Pa55word-in-the-body";
  auto registration = register_user(client, "xavier@example.org", password);
  REQUIRE(registration.status == 201);
  auto logged_in = login(client, "xavier@example.org", password);
  REQUIRE(logged_in.status == 200);
  REQUIRE(login(client, "xavier@example.org", password + "-wrong").status == 401);
  auto refreshed = refresh(client, logged_in.json()["refresh_token"]);
  REQUIRE(refreshed.status == 200);
  const std::string access = refreshed.json()["access_token"];
  REQUIRE(client.get("/v1/users/me", {bearer(access)}).status == 200);
  REQUIRE(client
              .post_json("/v1/auth/logout", {{"refresh_token", refreshed.json()["refresh_token"]}},
                         {bearer(access)})
              .status == 204);

  const std::string log = fixture.engine.log_text();
  REQUIRE_FALSE(log.empty());
  CHECK(log.find(password) == std::string::npos);
  // (Not the admin API key: dev mode prints it on stdout by design, docs/configuration.md.)
  std::vector<std::string> secrets = {tally::test::test_jwt_key};
  for (const auto* grant : {&registration, &logged_in, &refreshed}) {
    secrets.push_back(grant->json()["access_token"]);
    secrets.push_back(grant->json()["refresh_token"]);
  }
  for (const auto& secret : secrets) {
    INFO("secret: " << secret);
    CHECK(log.find(secret) == std::string::npos);
  }
}
