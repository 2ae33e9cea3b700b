// tests/gateways/webhook_signatures_test.cpp: covers gateways/webhook_signatures.cpp
// and the verify_webhook overrides. Expected signatures are computed here with
// OpenSSL directly (HMAC-SHA256, hex), following research gateways.md §1.5
// (Omise) and Stripe's documented scheme (§2.1), not with the code under test.
#include <cctype>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway_test_support.hpp"
#include "gateways/gateways.hpp"

using namespace tally;
using namespace tally::gateways;
using tally::gateways::testing::errc_of;

namespace {

constexpr int64_t now_s = 1'764'200'000;
const std::string body =
    R"({"object":"event","id":"evnt_test_5xyz","key":"charge.complete","data":{"object":"charge","id":"chrg_test_5xyz"}})";
// The raw key bytes Omise's dashboard secret encodes, and Stripe's literal secret.
const std::string omise_key_bytes = std::string("\x01\x02\xfe\xff", 4) + "omise webhook key bytes";
const std::string stripe_secret = "whsec_test_5f3c9a0e7b";

std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int tag_bytes = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), tag, &tag_bytes);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < tag_bytes; ++i) {
    hex.push_back(digits[tag[i] >> 4]);
    hex.push_back(digits[tag[i] & 0x0F]);
  }
  return hex;
}

std::string openssl_base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::string omise_signature(int64_t timestamp_s, const std::string& payload) {
  return hmac_hex(omise_key_bytes, std::to_string(timestamp_s) + "." + payload);
}

std::string stripe_signature(int64_t timestamp_s, const std::string& payload) {
  return hmac_hex(stripe_secret, std::to_string(timestamp_s) + "." + payload);
}

std::string refusal_reason(const caf::error& err) {
  REQUIRE(err);
  CHECK(errc_of(err) == errc::invalid_signature);
  return gateway_failure(err).message;
}

}  // namespace

TEST_CASE("an Omise signature over timestamp.body with the decoded secret verifies",
          "[gateways][webhooks]") {
  const std::string ts = std::to_string(now_s - 10);
  CHECK_FALSE(
      verify_omise_signature(body, omise_signature(now_s - 10, body), ts, omise_key_bytes, now_s));
}

TEST_CASE("during Omise secret rotation any of several signatures verifies",
          "[gateways][webhooks]") {
  const std::string valid = omise_signature(now_s, body);
  const std::string other = hmac_hex("the previous secret", std::to_string(now_s) + "." + body);
  const std::string ts = std::to_string(now_s);
  CHECK_FALSE(verify_omise_signature(body, other + "," + valid, ts, omise_key_bytes, now_s));
  CHECK_FALSE(verify_omise_signature(body, other + ", v1=" + valid, ts, omise_key_bytes, now_s));
  std::string upper = valid;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  CHECK_FALSE(verify_omise_signature(body, upper, ts, omise_key_bytes, now_s));
  // Only the previous secret's signature: refused.
  CHECK(refusal_reason(verify_omise_signature(body, other, ts, omise_key_bytes, now_s)) ==
        "no signature matches the payload");
}

TEST_CASE("Omise signatures are refused when stale, tampered, missing or malformed",
          "[gateways][webhooks]") {
  const auto check = [](const std::string& payload, const std::string& signature,
                        const std::string& timestamp) {
    return refusal_reason(
        verify_omise_signature(payload, signature, timestamp, omise_key_bytes, now_s));
  };
  const int64_t stale_s = now_s - webhook_tolerance_s - 1;
  CHECK(check(body, omise_signature(stale_s, body), std::to_string(stale_s)) ==
        "timestamp outside the tolerance zone");
  const int64_t future_s = now_s + webhook_tolerance_s + 1;
  CHECK(check(body, omise_signature(future_s, body), std::to_string(future_s)) ==
        "timestamp outside the tolerance zone");
  // At the edge of the tolerance it still verifies.
  const int64_t edge_s = now_s - webhook_tolerance_s;
  CHECK_FALSE(verify_omise_signature(body, omise_signature(edge_s, body), std::to_string(edge_s),
                                     omise_key_bytes, now_s));

  std::string tampered = body;
  tampered.replace(tampered.find("charge.complete"), 15, "charge.capture!");
  CHECK(check(tampered, omise_signature(now_s, body), std::to_string(now_s)) ==
        "no signature matches the payload");
  // A signature for another timestamp does not carry over.
  CHECK(check(body, omise_signature(now_s - 1, body), std::to_string(now_s)) ==
        "no signature matches the payload");
  CHECK(check(body, "", std::to_string(now_s)) ==
        "Omise-Signature or Omise-Signature-Timestamp header missing");
  CHECK(check(body, omise_signature(now_s, body), "") ==
        "Omise-Signature or Omise-Signature-Timestamp header missing");
  CHECK(check(body, omise_signature(now_s, body), "17642e5") ==
        "Omise-Signature-Timestamp is not Unix seconds");
  std::string many;
  for (int i = 0; i < 9; ++i) {
    many += "00,";
  }
  CHECK(check(body, many + omise_signature(now_s, body), std::to_string(now_s)) ==
        "too many signatures");
}

TEST_CASE("a Stripe-Signature with t and v1 verifies with the literal secret",
          "[gateways][webhooks]") {
  const std::string header = "t=" + std::to_string(now_s) + ",v1=" + stripe_signature(now_s, body);
  CHECK_FALSE(verify_stripe_signature(body, header, stripe_secret, now_s));
  // Keyed with anything else (e.g. a decoded form of the secret): refused.
  const std::string wrong_key = "t=" + std::to_string(now_s) + ",v1=" +
                                hmac_hex("test_5f3c9a0e7b", std::to_string(now_s) + "." + body);
  CHECK(refusal_reason(verify_stripe_signature(body, wrong_key, stripe_secret, now_s)) ==
        "No signatures found matching the expected signature for payload.");
}

TEST_CASE("Stripe accepts any of several v1 signatures and ignores other schemes",
          "[gateways][webhooks]") {
  const std::string header = "t=" + std::to_string(now_s) + ",v1=" + std::string(64, 'a') +
                             ",v0=" + stripe_signature(now_s, body) +
                             ",v1=" + stripe_signature(now_s, body);
  CHECK_FALSE(verify_stripe_signature(body, header, stripe_secret, now_s));
  // The right HMAC under v0 only is not accepted.
  const std::string v0_only = "t=" + std::to_string(now_s) + ",v0=" + stripe_signature(now_s, body);
  CHECK(refusal_reason(verify_stripe_signature(body, v0_only, stripe_secret, now_s)) ==
        "No signatures found with expected scheme");
}

TEST_CASE("Stripe signatures are refused when stale, tampered, missing or unconfigured",
          "[gateways][webhooks]") {
  const int64_t stale_s = now_s - webhook_tolerance_s - 1;
  CHECK(refusal_reason(verify_stripe_signature(
            body, "t=" + std::to_string(stale_s) + ",v1=" + stripe_signature(stale_s, body),
            stripe_secret, now_s)) == "Timestamp outside the tolerance zone");
  CHECK(refusal_reason(verify_stripe_signature(
            body + " ", "t=" + std::to_string(now_s) + ",v1=" + stripe_signature(now_s, body),
            stripe_secret, now_s)) ==
        "No signatures found matching the expected signature for payload.");
  CHECK(refusal_reason(verify_stripe_signature(body, "", stripe_secret, now_s)) ==
        "No stripe-signature header value was provided.");
  CHECK(refusal_reason(verify_stripe_signature(body, "v1=" + stripe_signature(now_s, body),
                                               stripe_secret, now_s)) ==
        "Unable to extract timestamp and signatures from header");
  CHECK(refusal_reason(verify_stripe_signature(
            body, "t=" + std::to_string(now_s) + ",v1=" + stripe_signature(now_s, body), "",
            now_s)) == "no Stripe webhook secret is configured");
}

TEST_CASE("the gateways' verify_webhook use their configured secrets", "[gateways][webhooks]") {
  testing::fake_gateway_side far_side;
  gateways_settings settings;
  settings.sandbox.name = "sandbox";
  settings.sandbox.secret_key = "skey_test_sandbox";
  const std::string omise_ts = std::to_string(now_s);
  const std::string omise_sig = omise_signature(now_s, body);
  const std::string stripe_header =
      "t=" + std::to_string(now_s) + ",v1=" + stripe_signature(now_s, body);
  // Header names are case-insensitive (the receiver's lookup).
  const header_lookup headers = [&](std::string_view name) -> std::string_view {
    const auto equals = [&](std::string_view expected) {
      if (name.size() != expected.size()) {
        return false;
      }
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(name[i])) !=
            std::tolower(static_cast<unsigned char>(expected[i]))) {
          return false;
        }
      }
      return true;
    };
    if (equals("omise-signature")) {
      return omise_sig;
    }
    if (equals("omise-signature-timestamp")) {
      return omise_ts;
    }
    if (equals("stripe-signature")) {
      return stripe_header;
    }
    return {};
  };
  const header_lookup no_headers = [](std::string_view) { return std::string_view(); };

  SECTION("Omise without a webhook secret accepts unsigned deliveries") {
    auto sandbox = make_gateway("sandbox", settings, far_side.as_transport());
    REQUIRE(sandbox);
    CHECK_FALSE((*sandbox)->verify_webhook(body, no_headers, now_s));
  }
  SECTION("Omise with a webhook secret requires a valid signature") {
    settings.sandbox.webhook_secret = openssl_base64(omise_key_bytes);
    auto sandbox = make_gateway("sandbox", settings, far_side.as_transport());
    REQUIRE(sandbox);
    CHECK_FALSE((*sandbox)->verify_webhook(body, headers, now_s));
    CHECK(errc_of((*sandbox)->verify_webhook(body, no_headers, now_s)) == errc::invalid_signature);
    CHECK(errc_of((*sandbox)->verify_webhook(body + "x", headers, now_s)) ==
          errc::invalid_signature);
  }
  SECTION("Stripe without a webhook secret refuses every delivery") {
    auto stripe = make_gateway("stripe", settings, far_side.as_transport());
    REQUIRE(stripe);
    CHECK(errc_of((*stripe)->verify_webhook(body, headers, now_s)) == errc::invalid_signature);
  }
  SECTION("Stripe with a webhook secret verifies Stripe-Signature") {
    settings.stripe.webhook_secret = stripe_secret;
    auto stripe = make_gateway("stripe", settings, far_side.as_transport());
    REQUIRE(stripe);
    CHECK_FALSE((*stripe)->verify_webhook(body, headers, now_s));
    CHECK(errc_of((*stripe)->verify_webhook(body, headers, now_s + webhook_tolerance_s + 1)) ==
          errc::invalid_signature);
  }
  // Verification is pure: nothing went over the network.
  CHECK(far_side.calls.empty());
}
