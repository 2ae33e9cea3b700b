// tests/outbound/url_test.cpp: covers outbound/url.cpp. Accepted URLs come
// apart as expected; every ambiguous or dangerous spelling is refused.
#include "outbound/url.hpp"

#include <string>

#include <catch2/catch.hpp>

using tally::outbound::parse_url;

TEST_CASE("absolute http(s) URLs come apart", "[outbound][url]") {
  auto u = parse_url("https://API.Omise.co/charges?limit=10&offset=0");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "api.omise.co");
  CHECK(u->port == 443);
  CHECK(u->target == "/charges?limit=10&offset=0");
  CHECK_FALSE(u->is_address);
  CHECK(tally::outbound::host_header(*u) == "api.omise.co");
  CHECK(tally::outbound::origin(*u) == "https://api.omise.co:443");

  u = parse_url("HTTP://127.0.0.1:8080");
  REQUIRE(u);
  CHECK(u->scheme == "http");
  CHECK(u->port == 8080);
  CHECK(u->target == "/");
  CHECK(u->is_address);
  CHECK(tally::outbound::host_header(*u) == "127.0.0.1:8080");

  u = parse_url("http://[::1]:9000/hook");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == 9000);
  CHECK(u->is_address);
  CHECK(tally::outbound::host_header(*u) == "[::1]:9000");

  u = parse_url("https://example.com.?q=1");
  REQUIRE(u);
  CHECK(u->host == "example.com");  // one spelling per host: the trailing dot goes
  CHECK(u->target == "/?q=1");

  u = parse_url("https://a.example/p%20q");
  REQUIRE(u);
  CHECK(u->target == "/p%20q");
}

TEST_CASE("ambiguous or dangerous URLs are refused", "[outbound][url]") {
  const char* refused[] = {
      "",
      "example.com/x",
      "//example.com/x",
      "ftp://example.com/",
      "file:///etc/passwd",
      "gopher://127.0.0.1:6379/_",
      "https://user@example.com/",
      "https://user:pw@example.com/",
      "https://example.com@127.0.0.1/",
      "https://example.com/x#frag",
      "https://example.com\\@127.0.0.1/",
      "https://exa mple.com/",
      "https://example.com/a b",
      "https://example.com/\x01",
      "https://ex\xc3\xa4mple.com/",
      "https://example.com/%zz",
      "https://example.com/%4",
      "https://[::1%25eth0]/",
      "https://[fe80::1%eth0]/",
      "https://[::1/",
      "https://[::1]x/",
      "https://[127.0.0.1]/",
      "https://example.com:0/",
      "https://example.com:65536/",
      "https://example.com:/",
      "https://example.com:8o/",
      "https:///x",
      "https://127.1/",
      "https://0x7f000001/",
      "https://2130706433/",
      "https://0177.0.0.1/",
      "https://1.2.3.4.5/",
      "https://ex..ample.com/",
      "https://-example.com/",
      "https://exa_mple.com/",
      "https://%65xample.com/",
  };
  for (const char* text : refused) {
    INFO(text);
    const char* reason = nullptr;
    CHECK_FALSE(parse_url(text, &reason));
    CHECK(reason != nullptr);
  }
}

TEST_CASE("URL length is bounded", "[outbound][url]") {
  const std::string prefix = "https://example.com/";
  const std::string at_limit =
      prefix + std::string(tally::outbound::url_bytes_max - prefix.size(), 'a');
  CHECK(parse_url(at_limit));
  CHECK_FALSE(parse_url(at_limit + "a"));
  const std::string label(64, 'a');
  CHECK_FALSE(parse_url("https://" + label + ".example/"));
  CHECK(parse_url("https://" + label.substr(1) + ".example/"));
}
