// tests/domain/email_test.cpp: covers domain/email.cpp. What normalisation keeps,
// what it changes, and each rule that refuses an address.
#include "domain/email.hpp"

#include <string>

#include <catch2/catch.hpp>

using tally::normalize_email;

TEST_CASE("a plain address comes back unchanged", "[domain][email]") {
  CHECK(normalize_email("ann@example.com") == std::string("ann@example.com"));
  CHECK(normalize_email("a.b+tag@mail.example.co.uk") == std::string("a.b+tag@mail.example.co.uk"));
  CHECK(normalize_email("x@a-b.c0") == std::string("x@a-b.c0"));
  CHECK(normalize_email("o'brien!#$%&*/=?^_`{|}~@xn--bcher-kva.example") ==
        std::string("o'brien!#$%&*/=?^_`{|}~@xn--bcher-kva.example"));
}

TEST_CASE("surrounding ASCII whitespace is trimmed", "[domain][email]") {
  CHECK(normalize_email("  ann@example.com\t\r\n") == std::string("ann@example.com"));
  CHECK(normalize_email("\v\fann@example.com ") == std::string("ann@example.com"));
}

TEST_CASE("the domain is lower-cased and the local part kept as typed", "[domain][email]") {
  CHECK(normalize_email("Ann.Smith@Example.COM") == std::string("Ann.Smith@example.com"));
  CHECK(normalize_email("ANN@EXAMPLE.COM") == std::string("ANN@example.com"));
}

TEST_CASE("an address needs exactly one at sign", "[domain][email]") {
  CHECK_FALSE(normalize_email(""));
  CHECK_FALSE(normalize_email("   "));
  CHECK_FALSE(normalize_email("ann.example.com"));
  CHECK_FALSE(normalize_email("ann@@example.com"));
  CHECK_FALSE(normalize_email("ann@bob@example.com"));
}

TEST_CASE("the local part must be 1 to 64 permitted characters", "[domain][email]") {
  CHECK_FALSE(normalize_email("@example.com"));
  CHECK(normalize_email(std::string(64, 'a') + "@example.com"));
  CHECK_FALSE(normalize_email(std::string(65, 'a') + "@example.com"));
  for (const char* bad : {"a b@example.com", "\"ann\"@example.com", "<ann>@example.com",
                          "a,b@example.com", "a;b@example.com", "a\tb@example.com",
                          "a\x7f"
                          "b@example.com",
                          "ann\xc3\xa9@example.com"}) {
    INFO(bad);
    CHECK_FALSE(normalize_email(bad));
  }
  CHECK_FALSE(normalize_email(std::string("a\0b@example.com", 15)));
}

TEST_CASE("the domain needs at least two labels", "[domain][email]") {
  CHECK_FALSE(normalize_email("ann@"));
  CHECK_FALSE(normalize_email("ann@localhost"));
  CHECK_FALSE(normalize_email("ann@.com"));
  CHECK_FALSE(normalize_email("ann@example."));
  CHECK_FALSE(normalize_email("ann@example..com"));
  CHECK_FALSE(normalize_email("ann@."));
}

TEST_CASE("domain labels are letters, digits and inner hyphens only", "[domain][email]") {
  CHECK_FALSE(normalize_email("ann@-example.com"));
  CHECK_FALSE(normalize_email("ann@example-.com"));
  CHECK_FALSE(normalize_email("ann@example.com-"));
  CHECK_FALSE(normalize_email("ann@exa_mple.com"));
  CHECK_FALSE(normalize_email("ann@exa mple.com"));
  CHECK_FALSE(normalize_email("ann@[192.0.2.1]"));
  CHECK_FALSE(
      normalize_email("ann@b\xc3\xbc"
                      "cher.example"));
  CHECK(normalize_email("ann@a--b.example"));
}

TEST_CASE("domain labels are at most 63 bytes", "[domain][email]") {
  CHECK(normalize_email("a@" + std::string(63, 'd') + ".com"));
  CHECK_FALSE(normalize_email("a@" + std::string(64, 'd') + ".com"));
}

TEST_CASE("the domain is at most 253 bytes and the address at most 254", "[domain][email]") {
  // Four 62-byte labels and three dots: 251 bytes; "a@" makes 253 in all.
  const std::string label(62, 'd');
  const std::string domain_251 = label + "." + label + "." + label + "." + label;
  REQUIRE(domain_251.size() == 251);
  CHECK(normalize_email("a@" + domain_251));
  CHECK(normalize_email("a@" + domain_251 + "z"));         // domain 252, address 254
  CHECK_FALSE(normalize_email("ab@" + domain_251 + "z"));  // address 255
  // A 254-byte domain cannot fit in 254 bytes with a local part, so both limits refuse it.
  CHECK_FALSE(normalize_email("a@" + domain_251 + ".zz"));
  // A long local part and a long domain can each be valid yet too long together.
  CHECK_FALSE(normalize_email(std::string(64, 'a') + "@" + domain_251));
}

TEST_CASE("whitespace inside the address is not trimmed away", "[domain][email]") {
  CHECK_FALSE(normalize_email("ann @example.com"));
  CHECK_FALSE(normalize_email("ann@ example.com"));
  CHECK_FALSE(normalize_email("ann@example .com"));
}
