// tests/auth/password_test.cpp: covers auth/password.cpp. Policy edges are cheap and
// many; argon2id cases are few because each hash costs about 50 ms and 19 MiB.
#include <string>

#include <catch2/catch.hpp>

#include "auth/auth.hpp"

namespace auth = tally::auth;

namespace {

std::string repeat(const std::string& unit, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += unit;
  }
  return out;
}

const std::string e_acute = "\xc3\xa9";                // 2 bytes, 1 code point
const std::string grinning_face = "\xf0\x9f\x98\x80";  // 4 bytes, 1 code point

}  // namespace

TEST_CASE("a hashed password verifies and a wrong one does not", "[auth][password]") {
  const std::string hash = auth::hash_password("correct horse battery");
  CHECK(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
  CHECK(auth::verify_password("correct horse battery", hash));
  CHECK_FALSE(auth::verify_password("correct horse batterz", hash));
  CHECK_FALSE(auth::verify_password("Correct horse battery", hash));
  CHECK_FALSE(auth::verify_password("", hash));
  CHECK_FALSE(auth::password_needs_rehash(hash));

  SECTION("the same password hashes differently each time (fresh salt)") {
    const std::string again = auth::hash_password("correct horse battery");
    CHECK(again != hash);
    CHECK(auth::verify_password("correct horse battery", again));
  }
  SECTION("a hash made with other parameters asks to be re-hashed") {
    std::string older = hash;
    older.replace(older.find("t=2"), 3, "t=3");
    CHECK(auth::password_needs_rehash(older));
  }
}

TEST_CASE("multibyte passwords hash and verify byte for byte", "[auth][password]") {
  const std::string password = repeat(e_acute, 4) + repeat(grinning_face, 4);
  const std::string hash = auth::hash_password(password);
  CHECK(auth::verify_password(password, hash));
  CHECK_FALSE(auth::verify_password(repeat("e", 4) + repeat(grinning_face, 4), hash));
}

TEST_CASE("malformed stored hashes never verify", "[auth][password]") {
  CHECK_FALSE(auth::verify_password("password1", ""));
  CHECK_FALSE(auth::verify_password("password1", "password1"));
  CHECK_FALSE(auth::verify_password("password1", "$argon2id$v=19$m=19456,t=2,p=1$"));
  CHECK_FALSE(auth::verify_password("password1", std::string(500, '$')));
  CHECK_FALSE(auth::verify_password("password1", std::string("$argon2id\0$", 11)));
  CHECK(auth::password_needs_rehash(""));
  CHECK(auth::password_needs_rehash("$2b$10$abcdefghijklmnopqrstuv"));
}

TEST_CASE("burning a verification returns without an account", "[auth][password]") {
  auth::burn_password_verification("whatever the client sent");
  auth::burn_password_verification("");
  SUCCEED("the dummy hash was built once and verified against twice");
}

TEST_CASE("password length is bounded at 8 and 128 code points", "[auth][password]") {
  CHECK(auth::password_policy_violation(repeat("a", 7)) ==
        std::string("password must be at least 8 characters"));
  CHECK_FALSE(auth::password_policy_violation(repeat("a", 8)));
  CHECK_FALSE(auth::password_policy_violation(repeat("a", 128)));
  CHECK(auth::password_policy_violation(repeat("a", 129)) ==
        std::string("password must be at most 128 characters"));
  CHECK(auth::password_policy_violation(""));
  CHECK(auth::password_policy_violation(repeat("a", 100000)));
}

TEST_CASE("a multibyte character counts as one toward the length", "[auth][password]") {
  CHECK(auth::password_policy_violation(repeat(e_acute, 7)));  // 14 bytes, 7 characters
  CHECK_FALSE(auth::password_policy_violation(repeat(e_acute, 8)));
  CHECK_FALSE(auth::password_policy_violation(repeat(grinning_face, 128)));  // 512 bytes
  CHECK(auth::password_policy_violation(repeat(grinning_face, 129)));
  CHECK_FALSE(auth::password_policy_violation(repeat(grinning_face, 2) + "abcdef"));
}

TEST_CASE("passwords that are not valid UTF-8 are refused", "[auth][password]") {
  const std::string message = "password must be valid UTF-8";
  CHECK(auth::password_policy_violation("abcdefg\xc3") == message);
  CHECK(auth::password_policy_violation("abcdefgh\xff") == message);
  CHECK(auth::password_policy_violation("abcdefgh\xc0\xaf") == message);
  CHECK(auth::password_policy_violation("abcdefgh\xed\xa0\x80") == message);
}

TEST_CASE("passwords with control characters are refused", "[auth][password]") {
  const std::string message = "password must not contain control characters";
  CHECK(auth::password_policy_violation(std::string("abcd\0efgh", 9)) == message);
  CHECK(auth::password_policy_violation("abcd\tefgh") == message);
  CHECK(auth::password_policy_violation("abcdefgh\n") == message);
  CHECK(auth::password_policy_violation("abcd\x7f"
                                        "efgh") == message);
  CHECK(auth::password_policy_violation("abcd\xc2\x85"
                                        "efgh") == message);  // U+0085 (C1)
}

TEST_CASE("spaces, punctuation and non-Latin letters are allowed", "[auth][password]") {
  CHECK_FALSE(auth::password_policy_violation("correct horse battery staple"));
  CHECK_FALSE(auth::password_policy_violation("  spaces  "));
  CHECK_FALSE(auth::password_policy_violation("p@$$w0rd!\"'<>"));
  CHECK_FALSE(
      auth::password_policy_violation("\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c"
                                      "\xd1\x87\xd0\xb8\xd0\xba"));  // "парольчик"
}
