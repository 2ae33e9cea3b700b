// tests/auth/jwt_test.cpp: covers auth/jwt.cpp. Tokens Tally signs must verify;
// hand-built tokens probe each refusal in verify_access_token's contract (RFC 8725
// attacks: alg none, algorithm substitution, kid confusion, claim tampering).
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "auth/auth.hpp"
#include "domain/base64.hpp"

namespace auth = tally::auth;
using json = nlohmann::json;

namespace {

constexpr int64_t issued_at_s = 1'700'000'000;
constexpr int64_t lifetime_s = 900;

const std::string old_secret(32, 'o');
const std::string current_secret = "0123456789abcdef0123456789abcdef-current";

auth::jwt_key_set rotated_keys() {
  return auth::jwt_key_set{"k2", {{"k1", old_secret}, {"k2", current_secret}}};
}

auth::access_claims sample_claims() {
  auth::access_claims claims;
  claims.sub = "0b0a9c1e-5d0c-4c4b-9f3a-2f1d7e6a1b2c";
  claims.jti = "5f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e";
  claims.email = "ann@example.com";
  claims.iss = "https://tally.example";
  claims.aud = "tally-api";
  claims.iat = issued_at_s;
  claims.nbf = issued_at_s;
  claims.exp = issued_at_s + lifetime_s;
  return claims;
}

auth::jwt_expectations expectations_at(int64_t now_s) {
  return auth::jwt_expectations{"https://tally.example", "tally-api", now_s, 30};
}

json sample_header(const std::string& kid = "k2") {
  return json{{"alg", "HS256"}, {"typ", "at+jwt"}, {"kid", kid}};
}

json sample_payload() {
  return json{{"iss", "https://tally.example"},
              {"sub", "account-1"},
              {"aud", "tally-api"},
              {"jti", "token-1"},
              {"iat", issued_at_s},
              {"exp", issued_at_s + lifetime_s}};
}

// Builds a token from raw JSON text, HMAC-SHA256-signed with `secret` whatever the
// header claims, so only the check under test can refuse it.
std::string build_token(const std::string& header_text, const std::string& payload_text,
                        const std::string& secret = current_secret) {
  const std::string signing_input =
      tally::base64url_encode(header_text) + '.' + tally::base64url_encode(payload_text);
  return signing_input + '.' + tally::base64url_encode(auth::hmac_sha256(secret, signing_input));
}

std::string build_token(const json& header, const json& payload,
                        const std::string& secret = current_secret) {
  return build_token(header.dump(), payload.dump(), secret);
}

bool is_unauthorized(const caf::expected<auth::access_claims>& result) {
  return !result && result.error() == caf::make_error(tally::errc::unauthorized);
}

bool verifies(const std::string& token, int64_t now_s = issued_at_s) {
  return static_cast<bool>(
      auth::verify_access_token(rotated_keys(), token, expectations_at(now_s)));
}

bool refuses(const std::string& token, int64_t now_s = issued_at_s) {
  return is_unauthorized(auth::verify_access_token(rotated_keys(), token, expectations_at(now_s)));
}

}  // namespace

TEST_CASE("a signed access token verifies and yields its claims", "[auth][jwt]") {
  const auth::access_claims claims = sample_claims();
  const std::string token = auth::sign_access_token(rotated_keys(), claims);
  const auto verified =
      auth::verify_access_token(rotated_keys(), token, expectations_at(issued_at_s + 60));
  REQUIRE(verified);
  CHECK(verified->sub == claims.sub);
  CHECK(verified->jti == claims.jti);
  CHECK(verified->email == claims.email);
  CHECK(verified->iss == claims.iss);
  CHECK(verified->aud == claims.aud);
  CHECK(verified->iat == claims.iat);
  CHECK(verified->nbf == claims.nbf);
  CHECK(verified->exp == claims.exp);
}

TEST_CASE("the signed header is exactly alg, typ and the active kid", "[auth][jwt]") {
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  const auto header = tally::base64url_decode(token.substr(0, token.find('.')));
  REQUIRE(header);
  CHECK(*header == R"({"alg":"HS256","typ":"at+jwt","kid":"k2"})");
}

TEST_CASE("a token verifies up to its expiry plus leeway and not after", "[auth][jwt]") {
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  const int64_t exp = issued_at_s + lifetime_s;
  CHECK(verifies(token, exp - 1));
  CHECK(verifies(token, exp + 29));  // exp > now - leeway
  CHECK(refuses(token, exp + 30));   // exp <= now - leeway
  CHECK(refuses(token, exp + 86400));
}

TEST_CASE("without leeway a token expires exactly at exp", "[auth][jwt]") {
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  auto expected = expectations_at(issued_at_s + lifetime_s - 1);
  expected.leeway_s = 0;
  CHECK(auth::verify_access_token(rotated_keys(), token, expected));
  expected.now_s = issued_at_s + lifetime_s;
  CHECK(is_unauthorized(auth::verify_access_token(rotated_keys(), token, expected)));
}

TEST_CASE("a token is refused before nbf beyond the leeway", "[auth][jwt]") {
  auth::access_claims claims = sample_claims();
  claims.nbf = issued_at_s + 100;
  const std::string token = auth::sign_access_token(rotated_keys(), claims);
  CHECK(refuses(token, issued_at_s));
  CHECK(refuses(token, issued_at_s + 69));  // nbf > now + leeway
  CHECK(verifies(token, issued_at_s + 70));
  CHECK(verifies(token, issued_at_s + 100));
}

TEST_CASE("a token issued in the future beyond the leeway is refused", "[auth][jwt]") {
  auth::access_claims claims = sample_claims();
  claims.nbf = issued_at_s - 1000;  // so that only iat can refuse
  const std::string token = auth::sign_access_token(rotated_keys(), claims);
  CHECK(verifies(token, issued_at_s - 30));  // the issuer's clock is 30 s ahead
  CHECK(refuses(token, issued_at_s - 31));
}

TEST_CASE("a token for another issuer or audience is refused", "[auth][jwt]") {
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  auto expected = expectations_at(issued_at_s);
  expected.issuer = "https://evil.example";
  CHECK(is_unauthorized(auth::verify_access_token(rotated_keys(), token, expected)));
  expected = expectations_at(issued_at_s);
  expected.audience = "tally-admin";
  CHECK(is_unauthorized(auth::verify_access_token(rotated_keys(), token, expected)));
}

TEST_CASE("aud may be an array that contains the audience", "[auth][jwt]") {
  json payload = sample_payload();
  payload["aud"] = {"billing", "tally-api"};
  const auto verified = auth::verify_access_token(
      rotated_keys(), build_token(sample_header(), payload), expectations_at(issued_at_s));
  REQUIRE(verified);
  CHECK(verified->aud == "tally-api");
  CHECK(verified->email.empty());
  CHECK(verified->nbf == issued_at_s);  // absent nbf reads as iat
}

TEST_CASE("aud that is an array without the audience, or not a string, is refused", "[auth][jwt]") {
  json payload = sample_payload();
  payload["aud"] = {"billing", "tally-admin"};
  CHECK(refuses(build_token(sample_header(), payload)));
  payload["aud"] = json::array();
  CHECK(refuses(build_token(sample_header(), payload)));
  payload["aud"] = {{"tally-api"}};  // nested array
  CHECK(refuses(build_token(sample_header(), payload)));
  payload["aud"] = 7;
  CHECK(refuses(build_token(sample_header(), payload)));
  payload["aud"] = json{{"aud", "tally-api"}};
  CHECK(refuses(build_token(sample_header(), payload)));
}

TEST_CASE("an alg none token is refused", "[auth][jwt]") {
  const json header = {{"alg", "none"}, {"typ", "JWT"}, {"kid", "k2"}};
  const std::string unsigned_token = tally::base64url_encode(header.dump()) + '.' +
                                     tally::base64url_encode(sample_payload().dump()) + '.';
  CHECK(refuses(unsigned_token));
  CHECK(refuses(build_token(header, sample_payload())));  // even with a valid HMAC
  const json without_kid = {{"alg", "none"}};
  CHECK(refuses(tally::base64url_encode(without_kid.dump()) + '.' +
                tally::base64url_encode(sample_payload().dump()) + '.'));
}

TEST_CASE("any alg other than HS256 is refused even with a valid HMAC", "[auth][jwt]") {
  for (const char* alg : {"HS512", "HS384", "RS256", "ES256", "EdDSA", "hs256", "HS256 "}) {
    json header = sample_header();
    header["alg"] = alg;
    CHECK(refuses(build_token(header, sample_payload())));
  }
  json header = sample_header();
  header.erase("alg");
  CHECK(refuses(build_token(header, sample_payload())));
  header["alg"] = json::array({"HS256"});
  CHECK(refuses(build_token(header, sample_payload())));
}

TEST_CASE("typ may be at+jwt, JWT or absent and nothing else", "[auth][jwt]") {
  json header = sample_header();
  CHECK(verifies(build_token(header, sample_payload())));
  header["typ"] = "JWT";
  CHECK(verifies(build_token(header, sample_payload())));
  header.erase("typ");
  CHECK(verifies(build_token(header, sample_payload())));
  for (const char* typ : {"id+jwt", "refresh+jwt", "application/at+jwt", ""}) {
    header["typ"] = typ;
    CHECK(refuses(build_token(header, sample_payload())));
  }
  header["typ"] = 1;
  CHECK(refuses(build_token(header, sample_payload())));
}

TEST_CASE("a header with crit is refused", "[auth][jwt]") {
  json header = sample_header();
  header["crit"] = {"b64"};
  header["b64"] = false;
  CHECK(refuses(build_token(header, sample_payload())));
}

TEST_CASE("a tampered payload or signature is refused", "[auth][jwt]") {
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot = token.find('.', first_dot + 1);

  auth::access_claims forged = sample_claims();
  forged.sub = "someone-else";
  const std::string forged_token = auth::sign_access_token(rotated_keys(), forged);
  const std::string forged_payload =
      forged_token.substr(first_dot + 1, forged_token.rfind('.') - first_dot - 1);
  CHECK(refuses(token.substr(0, first_dot + 1) + forged_payload + token.substr(second_dot)));

  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'Q' : 'A';
  CHECK(refuses(flipped));
  CHECK(refuses(token.substr(0, second_dot + 1) + tally::base64url_encode(std::string(32, '\0'))));
  CHECK(refuses(token.substr(0, token.size() - 1)));  // truncated signature
}

TEST_CASE("a token signed with a secret outside the set is refused", "[auth][jwt]") {
  CHECK(refuses(build_token(sample_header("k2"), sample_payload(), std::string(32, 'x'))));
  // Right kid, but the other key's secret.
  CHECK(refuses(build_token(sample_header("k2"), sample_payload(), old_secret)));
}

TEST_CASE("an unknown, missing or non-string kid is refused", "[auth][jwt]") {
  CHECK(refuses(build_token(sample_header("k3"), sample_payload())));
  CHECK(refuses(build_token(sample_header(""), sample_payload())));
  CHECK(refuses(build_token(sample_header("K2"), sample_payload())));
  json header = sample_header();
  header.erase("kid");
  CHECK(refuses(build_token(header, sample_payload())));
  header["kid"] = 2;
  CHECK(refuses(build_token(header, sample_payload())));
}

TEST_CASE("a token signed with a retired key verifies until that key is removed", "[auth][jwt]") {
  const auth::jwt_key_set before_rotation{"k1", {{"k1", old_secret}}};
  const std::string old_token = auth::sign_access_token(before_rotation, sample_claims());
  CHECK(old_token.find('.') ==
        tally::base64url_encode(R"({"alg":"HS256","typ":"at+jwt","kid":"k1"})").size());

  CHECK(verifies(old_token));  // rotated_keys(): k2 active, k1 still honoured
  const std::string new_token = auth::sign_access_token(rotated_keys(), sample_claims());
  CHECK(verifies(new_token));

  const auth::jwt_key_set after_retirement{"k2", {{"k2", current_secret}}};
  const auto expected = expectations_at(issued_at_s);
  CHECK(is_unauthorized(auth::verify_access_token(after_retirement, old_token, expected)));
  CHECK(auth::verify_access_token(after_retirement, new_token, expected));
}

TEST_CASE("garbage tokens are refused", "[auth][jwt]") {
  for (const char* garbage : {"", ".", "..", "...", "a", "a.b", "a.b.c", "a.b.c.d", "a..c", ".b.c",
                              "a.b.", "not a token at all"}) {
    CHECK(refuses(garbage));
  }
  const std::string token = auth::sign_access_token(rotated_keys(), sample_claims());
  CHECK(refuses(token + "."));
  CHECK(refuses(token + ".x"));
  CHECK(refuses("." + token));
  CHECK(refuses(token + "="));
  CHECK(refuses(" " + token));
}

TEST_CASE("a token over 4096 bytes is refused even when correctly signed", "[auth][jwt]") {
  json payload = sample_payload();
  payload["email"] = std::string(5000, 'a');
  const std::string token = build_token(sample_header(), payload);
  REQUIRE(token.size() > auth::access_token_bytes_max);
  CHECK(refuses(token));
  CHECK(refuses(std::string(5000, 'a')));
}

TEST_CASE("a header or payload that is not a JSON object is refused", "[auth][jwt]") {
  const std::string payload = sample_payload().dump();
  CHECK(refuses(build_token("not json", payload)));
  CHECK(refuses(build_token(R"(["HS256","k2"])", payload)));
  CHECK(refuses(build_token(R"("HS256")", payload)));
  CHECK(refuses(build_token(R"({"alg":"HS256","kid":"k2")", payload)));            // truncated
  CHECK(refuses(build_token("{\"alg\":\"HS256\",\"kid\":\"k2\xff\"}", payload)));  // bad UTF-8

  const std::string header = sample_header().dump();
  CHECK(refuses(build_token(header, "not json")));
  CHECK(refuses(build_token(header, "[]")));
  CHECK(refuses(build_token(header, "null")));
  CHECK(refuses(build_token(header, payload + "}")));
  CHECK(refuses(build_token(header, "")));
}

TEST_CASE("a payload missing a required claim is refused", "[auth][jwt]") {
  for (const char* claim : {"sub", "jti", "iss", "aud", "exp", "iat"}) {
    json payload = sample_payload();
    payload.erase(claim);
    INFO("without " << claim);
    CHECK(refuses(build_token(sample_header(), payload)));
  }
}

TEST_CASE("a payload with a wrongly typed claim is refused", "[auth][jwt]") {
  const auto refuses_with = [](const char* claim, const json& value) {
    json payload = sample_payload();
    payload[claim] = value;
    INFO(claim << " = " << value.dump());
    return refuses(build_token(sample_header(), payload));
  };
  CHECK(refuses_with("sub", 42));
  CHECK(refuses_with("sub", ""));
  CHECK(refuses_with("jti", nullptr));
  CHECK(refuses_with("jti", ""));
  CHECK(refuses_with("iss", json::array({"https://tally.example"})));
  CHECK(refuses_with("exp", std::to_string(issued_at_s + lifetime_s)));
  CHECK(refuses_with("exp", static_cast<double>(issued_at_s + lifetime_s) + 0.5));
  CHECK(refuses_with("exp", 18446744073709551615ULL));  // beyond int64
  CHECK(refuses_with("iat", true));
  CHECK(refuses_with("nbf", "0"));
  CHECK(refuses_with("email", 5));
}

TEST_CASE("a key set is usable only with long secrets, clean unique kids and an active key",
          "[auth][jwt]") {
  CHECK_FALSE(auth::jwt_key_set_violation(rotated_keys()));
  CHECK(auth::jwt_key_set_violation(auth::jwt_key_set{"k1", {}}));
  CHECK(auth::jwt_key_set_violation(auth::jwt_key_set{"k1", {{"k1", std::string(31, 's')}}}));
  CHECK_FALSE(auth::jwt_key_set_violation(auth::jwt_key_set{"k1", {{"k1", std::string(32, 's')}}}));
  CHECK(auth::jwt_key_set_violation(auth::jwt_key_set{"k9", {{"k1", old_secret}}}));
  CHECK(auth::jwt_key_set_violation(
      auth::jwt_key_set{"k1", {{"k1", old_secret}, {"k1", current_secret}}}));
  CHECK(auth::jwt_key_set_violation(auth::jwt_key_set{"", {{"", old_secret}}}));
  CHECK(auth::jwt_key_set_violation(auth::jwt_key_set{"a\"b", {{"a\"b", old_secret}}}));
  CHECK(auth::jwt_key_set_violation(
      auth::jwt_key_set{std::string(65, 'k'), {{std::string(65, 'k'), old_secret}}}));
  auth::jwt_key_set too_many{"k0", {}};
  for (std::size_t i = 0; i <= auth::jwt_keys_max; ++i) {
    too_many.keys.push_back({"k" + std::to_string(i), old_secret});
  }
  CHECK(auth::jwt_key_set_violation(too_many));
}
