#include "auth/jwt.hpp"

#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "auth/secrets.hpp"
#include "auth/utf8.hpp"
#include "domain/assert.hpp"
#include "domain/base64.hpp"

namespace tally::auth {
namespace {

using json = nlohmann::json;

constexpr std::string_view signing_algorithm = "HS256";
constexpr std::string_view access_token_type = "at+jwt";
constexpr std::string_view generic_token_type = "JWT";
// Unix seconds of 9999-12-31T23:59:59Z: keeps now + leeway far from overflow.
constexpr int64_t now_s_max = 253402300799;

bool is_kid_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::optional<std::string> kid_violation(std::string_view kid) {
  if (kid.empty() || kid.size() > jwt_kid_bytes_max) {
    return "jwt kid must be 1 to " + std::to_string(jwt_kid_bytes_max) + " characters";
  }
  for (const char c : kid) {
    if (!is_kid_character(c)) {
      return "jwt kid must use only A-Z a-z 0-9 . _ -";
    }
  }
  return std::nullopt;
}

// Returns the key named `kid`, or nullptr. Kids are public: no constant-time need.
const jwt_key* find_key(const jwt_key_set& keys, std::string_view kid) {
  for (const jwt_key& key : keys.keys) {
    if (key.kid == kid) {
      return &key;
    }
  }
  return nullptr;
}

std::string signature_of(const jwt_key& key, std::string_view signing_input) {
  return base64url_encode(hmac_sha256(key.secret, signing_input));
}

// The three parts of a compact JWS, plus the bytes the signature covers.
struct token_parts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // "header.payload", exactly as received
};

std::optional<token_parts> split_token(std::string_view token) {
  const std::size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  token_parts parts{token.substr(0, first_dot),
                    token.substr(first_dot + 1, second_dot - first_dot - 1),
                    token.substr(second_dot + 1), token.substr(0, second_dot)};
  if (parts.header.empty() || parts.payload.empty() || parts.signature.empty()) {
    return std::nullopt;
  }
  return parts;
}

// Returns the JSON object that `part` encodes, or nullopt. Never throws.
std::optional<json> decode_json_object(std::string_view part) {
  const auto text = base64url_decode(part);
  if (!text) {
    return std::nullopt;
  }
  json value = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) {  // a parse error yields a "discarded" value, not an object
    return std::nullopt;
  }
  return value;
}

// Returns the key the header asks for when the header is one Tally issues, or nullptr.
const jwt_key* key_for_header(const json& header, const jwt_key_set& keys) {
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != signing_algorithm) {
    return nullptr;
  }
  const auto typ = header.find("typ");
  if (typ != header.end() &&
      (!typ->is_string() || (*typ != access_token_type && *typ != generic_token_type))) {
    return nullptr;
  }
  // RFC 7515 §4.1.11: extensions listed in crit must be understood; Tally knows none.
  if (header.contains("crit")) {
    return nullptr;
  }
  const auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string()) {
    return nullptr;
  }
  return find_key(keys, kid->get_ref<const std::string&>());
}

// Sets `out` to the non-empty string member `name`; false when missing or not one.
bool read_string(const json& object, const char* name, std::string& out) {
  const auto member = object.find(name);
  if (member == object.end() || !member->is_string()) {
    return false;
  }
  out = member->get<std::string>();
  return !out.empty();
}

// Sets `out` to the integer member `name`; false when missing, fractional or too big.
bool read_integer(const json& object, const char* name, int64_t& out) {
  const auto member = object.find(name);
  if (member == object.end() || !member->is_number_integer()) {
    return false;
  }
  if (member->is_number_unsigned()) {
    const auto value = member->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return false;
    }
    out = static_cast<int64_t>(value);
    return true;
  }
  out = member->get<int64_t>();
  return true;
}

bool is_audience_accepted(const json& aud, const std::string& audience) {
  if (aud.is_string()) {
    return aud == audience;
  }
  if (!aud.is_array()) {
    return false;
  }
  for (const json& entry : aud) {
    if (entry.is_string() && entry == audience) {
      return true;
    }
  }
  return false;
}

// Returns the claims when the payload has every required member with the right type
// and the issuer and audience are the expected ones.
std::optional<access_claims> read_claims(const json& payload, const jwt_expectations& expected) {
  access_claims claims;
  if (!read_string(payload, "sub", claims.sub) || !read_string(payload, "jti", claims.jti) ||
      !read_string(payload, "iss", claims.iss) || !read_integer(payload, "exp", claims.exp) ||
      !read_integer(payload, "iat", claims.iat)) {
    return std::nullopt;
  }
  claims.nbf = claims.iat;
  if (payload.contains("nbf") && !read_integer(payload, "nbf", claims.nbf)) {
    return std::nullopt;
  }
  const auto email = payload.find("email");
  if (email != payload.end()) {
    if (!email->is_string()) {
      return std::nullopt;
    }
    claims.email = email->get<std::string>();
  }
  const auto aud = payload.find("aud");
  if (claims.iss != expected.issuer || aud == payload.end() ||
      !is_audience_accepted(*aud, expected.audience)) {
    return std::nullopt;
  }
  claims.aud = expected.audience;
  return claims;
}

// RFC 7519 §4.1.4-4.1.6 with the caller's leeway on each side.
bool is_current(const access_claims& claims, const jwt_expectations& expected) {
  const int64_t earliest = expected.now_s - expected.leeway_s;
  const int64_t latest = expected.now_s + expected.leeway_s;
  return claims.exp > earliest && claims.nbf <= latest && claims.iat <= latest;
}

std::optional<access_claims> verify_parts(const jwt_key_set& keys, std::string_view token,
                                          const jwt_expectations& expected) {
  if (token.size() > access_token_bytes_max) {
    return std::nullopt;
  }
  const auto parts = split_token(token);
  if (!parts) {
    return std::nullopt;
  }
  const auto header = decode_json_object(parts->header);
  if (!header) {
    return std::nullopt;
  }
  const jwt_key* key = key_for_header(*header, keys);
  if (key == nullptr) {
    return std::nullopt;
  }
  // Authenticate before looking inside the payload.
  if (!constant_time_equal(signature_of(*key, parts->signing_input), parts->signature)) {
    return std::nullopt;
  }
  const auto payload = decode_json_object(parts->payload);
  if (!payload) {
    return std::nullopt;
  }
  auto claims = read_claims(*payload, expected);
  if (!claims || !is_current(*claims, expected)) {
    return std::nullopt;
  }
  return claims;
}

}  // namespace

std::optional<std::string> jwt_key_set_violation(const jwt_key_set& keys) {
  if (keys.keys.empty() || keys.keys.size() > jwt_keys_max) {
    return "jwt key set must hold 1 to " + std::to_string(jwt_keys_max) + " keys";
  }
  for (std::size_t i = 0; i < keys.keys.size(); ++i) {
    const jwt_key& key = keys.keys[i];
    if (auto violation = kid_violation(key.kid)) {
      return violation;
    }
    if (key.secret.size() < jwt_secret_bytes_min) {
      return "jwt key " + key.kid + " must have a secret of at least " +
             std::to_string(jwt_secret_bytes_min) + " bytes";
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (keys.keys[j].kid == key.kid) {
        return "jwt kid " + key.kid + " appears more than once";
      }
    }
  }
  if (find_key(keys, keys.active_kid) == nullptr) {
    return "jwt active kid names no key in the set";
  }
  return std::nullopt;
}

std::string sign_access_token(const jwt_key_set& keys, const access_claims& claims) {
  TALLY_ASSERT(!jwt_key_set_violation(keys).has_value());
  TALLY_ASSERT(!claims.sub.empty());
  TALLY_ASSERT(!claims.jti.empty());
  TALLY_ASSERT(claims.exp > claims.iat);
  for (const std::string* text :
       {&claims.sub, &claims.jti, &claims.email, &claims.iss, &claims.aud}) {
    TALLY_ASSERT(is_valid_utf8(*text));  // so dump() below cannot throw
  }
  const jwt_key* key = find_key(keys, keys.active_kid);
  // The kid's alphabet needs no JSON escaping (jwt_key_set_violation checked it).
  const std::string header = R"({"alg":"HS256","typ":"at+jwt","kid":")" + keys.active_kid + R"("})";
  const nlohmann::ordered_json payload = {
      {"iss", claims.iss},     {"sub", claims.sub}, {"aud", claims.aud}, {"jti", claims.jti},
      {"email", claims.email}, {"iat", claims.iat}, {"nbf", claims.nbf}, {"exp", claims.exp}};
  const std::string signing_input =
      base64url_encode(header) + '.' + base64url_encode(payload.dump());
  std::string token = signing_input + '.' + signature_of(*key, signing_input);
  TALLY_ASSERT(token.size() <= access_token_bytes_max);
  return token;
}

caf::expected<access_claims> verify_access_token(const jwt_key_set& keys, std::string_view token,
                                                 const jwt_expectations& expected) {
  TALLY_ASSERT(!jwt_key_set_violation(keys).has_value());
  TALLY_ASSERT(!expected.issuer.empty());
  TALLY_ASSERT(!expected.audience.empty());
  TALLY_ASSERT(expected.leeway_s >= 0);
  TALLY_ASSERT(expected.leeway_s <= jwt_leeway_s_max);
  TALLY_ASSERT(expected.now_s >= 0);
  TALLY_ASSERT(expected.now_s <= now_s_max);
  try {
    if (auto claims = verify_parts(keys, token, expected)) {
      return std::move(*claims);
    }
  } catch (const json::exception&) {
    // Parsing runs without exceptions and every access is type-checked first, so this
    // is unexpected; whatever the token did, it is not a valid one.
  }
  return errc::unauthorized;
}

}  // namespace tally::auth
