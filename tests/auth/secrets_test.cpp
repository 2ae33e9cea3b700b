// tests/auth/secrets_test.cpp: covers auth/secrets.cpp with published vectors
// (FIPS 180-2 for SHA-256, RFC 4231 for HMAC-SHA256) and format checks.
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "auth/auth.hpp"
#include "domain/base64.hpp"

namespace auth = tally::auth;

TEST_CASE("crypto initialisation succeeds and is repeatable", "[auth][secrets]") {
  CHECK(auth::init_crypto());
  CHECK(auth::init_crypto());
}

TEST_CASE("constant-time equality accepts equal bytes only", "[auth][secrets]") {
  CHECK(auth::constant_time_equal("", ""));
  CHECK(auth::constant_time_equal("abc", "abc"));
  CHECK(auth::constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(auth::constant_time_equal("abc", "abd"));
  CHECK_FALSE(auth::constant_time_equal("abc", "Abc"));
  CHECK_FALSE(auth::constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("constant-time equality refuses different lengths", "[auth][secrets]") {
  CHECK_FALSE(auth::constant_time_equal("abc", "abcd"));
  CHECK_FALSE(auth::constant_time_equal("abcd", "abc"));
  CHECK_FALSE(auth::constant_time_equal("", "a"));
  CHECK_FALSE(auth::constant_time_equal("a", ""));
}

TEST_CASE("random bytes have the asked length and differ between calls", "[auth][secrets]") {
  CHECK(auth::random_bytes(0).empty());
  CHECK(auth::random_bytes(1).size() == 1);
  const std::string first = auth::random_bytes(32);
  const std::string second = auth::random_bytes(32);
  CHECK(first.size() == 32);
  CHECK(first != second);
}

TEST_CASE("random tokens are 43 base64url characters for 32 bytes", "[auth][secrets]") {
  const std::string token = auth::random_token();
  CHECK(token.size() == 43);
  const auto bytes = tally::base64url_decode(token);
  REQUIRE(bytes);
  CHECK(bytes->size() == 32);
  CHECK(auth::random_token(16).size() == 22);
  CHECK(auth::random_token() != auth::random_token());
}

TEST_CASE("sha256_hex matches the FIPS 180-2 vectors", "[auth][secrets]") {
  CHECK(auth::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(auth::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(auth::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("hmac_sha256 matches the RFC 4231 vectors", "[auth][secrets]") {
  SECTION("test case 1: 20-byte key") {
    const std::string tag = auth::hmac_sha256(std::string(20, '\x0b'), "Hi There");
    CHECK(tag.size() == 32);
    CHECK(auth::hex_encode(tag) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  }
  SECTION("test case 2: key shorter than the output") {
    CHECK(auth::hex_encode(auth::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
  SECTION("test case 6: key longer than the block size") {
    const std::string key(131, '\xaa');
    CHECK(auth::hex_encode(
              auth::hmac_sha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
}

TEST_CASE("hmac_sha256 accepts empty keys and data", "[auth][secrets]") {
  CHECK(auth::hex_encode(auth::hmac_sha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("hex_encode writes two lowercase digits per byte", "[auth][secrets]") {
  CHECK(auth::hex_encode("") == "");
  CHECK(auth::hex_encode(std::string("\x00\x0f\xf0\xff", 4)) == "000ff0ff");
  CHECK(auth::hex_encode("\xAB\xCD") == "abcd");
}

TEST_CASE("new UUIDs are canonical lowercase version 4 and unique", "[auth][secrets]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string uuid = auth::new_uuid_v4();
    REQUIRE(uuid.size() == 36);
    for (std::size_t k = 0; k < uuid.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        REQUIRE(uuid[k] == '-');
      } else {
        REQUIRE(std::string("0123456789abcdef").find(uuid[k]) != std::string::npos);
      }
    }
    REQUIRE(uuid[14] == '4');
    REQUIRE(std::string("89ab").find(uuid[19]) != std::string::npos);
    seen.insert(uuid);
  }
  CHECK(seen.size() == 1000);
}
