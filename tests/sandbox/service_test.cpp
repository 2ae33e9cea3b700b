// tests/sandbox/service_test.cpp: covers is_authorized in sandbox/service.cpp:
// Omise's Basic auth with the key as user name, public vs secret keys.
#include "sandbox/service.hpp"

#include <catch2/catch.hpp>

using namespace tally::sandbox;

namespace {
// base64("<key>:")
std::string basic(const std::string& encoded) {
  return "Basic " + encoded;
}
}  // namespace

TEST_CASE("any test key of the right kind passes when none is configured", "[sandbox][auth]") {
  const std::string skey = basic("c2tleV90ZXN0X2FiYzo=");  // skey_test_abc:
  const std::string pkey = basic("cGtleV90ZXN0X2FiYzo=");  // pkey_test_abc:
  CHECK(is_authorized(skey, key_kind::secret_key, ""));
  CHECK(is_authorized(pkey, key_kind::public_key, ""));
  CHECK_FALSE(is_authorized(pkey, key_kind::secret_key, ""));
  CHECK_FALSE(is_authorized(skey, key_kind::public_key, ""));
  CHECK(is_authorized("basic c2tleV90ZXN0X2FiYzo=", key_kind::secret_key, ""));
}

TEST_CASE("a configured key must match exactly", "[sandbox][auth]") {
  const std::string skey = basic("c2tleV90ZXN0X2FiYzo=");  // skey_test_abc:
  CHECK(is_authorized(skey, key_kind::secret_key, "skey_test_abc"));
  CHECK_FALSE(is_authorized(skey, key_kind::secret_key, "skey_test_abd"));
  CHECK_FALSE(is_authorized(skey, key_kind::secret_key, "skey_test_ab"));
}

TEST_CASE("the Basic credentials may be unpadded; unused bits are not checked", "[sandbox][auth]") {
  CHECK(is_authorized(basic("c2tleV90ZXN0X2FiYzo"), key_kind::secret_key, "skey_test_abc"));
  CHECK(is_authorized(basic("c2tleV90ZXN0X2FiYzp="), key_kind::secret_key, "skey_test_abc"));
  CHECK_FALSE(is_authorized(basic("c2tleV90ZXN0X2FiYzo="), key_kind::secret_key, "skey_test_ab"));
  CHECK_FALSE(is_authorized(basic("c2tleV90ZXN0X2FiYzo=="), key_kind::secret_key, ""));
  CHECK_FALSE(is_authorized(basic("c2tleV90ZXN0X2FiYzo-"), key_kind::secret_key, ""));
}

TEST_CASE("missing or malformed Authorization fails", "[sandbox][auth]") {
  CHECK_FALSE(is_authorized(std::nullopt, key_kind::secret_key, ""));
  CHECK_FALSE(is_authorized("Bearer skey_test_abc", key_kind::secret_key, ""));
  CHECK_FALSE(is_authorized(basic("!!!"), key_kind::secret_key, ""));
  CHECK_FALSE(is_authorized(basic("c2tleV90ZXN0X2FiYw=="), key_kind::secret_key, ""));  // no ':'
  CHECK_FALSE(is_authorized(basic("c2tleV90ZXN0Xzo="), key_kind::secret_key, ""));  // skey_test_:
  CHECK(is_authorized(std::nullopt, key_kind::none, ""));
}
