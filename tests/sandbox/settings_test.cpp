// tests/sandbox/settings_test.cpp: covers sandbox/settings.cpp: flags over
// environment, loopback only, every bad value reported.
#include <catch2/catch.hpp>

#include "sandbox/sandbox.hpp"

using namespace tally::sandbox;

TEST_CASE("flags override the environment", "[sandbox][settings]") {
  settings s;
  std::vector<std::string> errors;
  const env_map env = {{"TALLY_SANDBOX_LISTEN", "127.0.0.1:9000"},
                       {"TALLY_SANDBOX_SECRET_KEY", "skey_test_env"},
                       {"TALLY_SANDBOX_FAIL_RATIO", "0.5"}};
  REQUIRE(parse_settings(
      {"--listen", "127.0.0.2:9100", "--fail-ratio=0.25", "--webhook-reorder", "--seed", "7"}, env,
      s, errors));
  CHECK(s.listen_host == "127.0.0.2");
  CHECK(s.listen_port == 9100);
  CHECK(s.secret_key == "skey_test_env");
  CHECK(s.chaos.fail_ratio == 0.25);
  CHECK(s.chaos.webhook_reorder);
  CHECK(s.seed == std::optional<uint64_t>(7));
}

TEST_CASE("the sandbox refuses to listen beyond loopback", "[sandbox][settings]") {
  for (const char* address :
       {"0.0.0.0:8090", "192.168.1.5:8090", "example.com:80", "127.0.0:8090", "[::]:8090"}) {
    settings s;
    std::vector<std::string> errors;
    INFO(address);
    CHECK_FALSE(parse_settings({"--listen", address}, {}, s, errors));
    CHECK(errors.size() == 1);
  }
  settings s;
  std::vector<std::string> errors;
  CHECK(parse_settings({"--listen", "localhost:0"}, {}, s, errors));
  CHECK(s.listen_host == "127.0.0.1");
  CHECK(parse_settings({"--listen", "[::1]:8090"}, {}, s, errors));
  CHECK(s.listen_host == "::1");
}

TEST_CASE("every malformed setting is reported", "[sandbox][settings]") {
  settings s;
  std::vector<std::string> errors;
  const env_map env = {{"TALLY_SANDBOX_WEBHOOK_SECRET", "not base64!"}};
  CHECK_FALSE(parse_settings({"--fail-ratio", "2", "--public-key", "skey_test_x", "--latency-ms",
                              "-1", "--webhook-url", "ftp://x", "--bogus", "--seed"},
                             env, s, errors));
  CHECK(errors.size() == 7);
}

TEST_CASE("the webhook secret is base64, padding optional, unused bits not checked",
          "[sandbox][settings]") {
  for (const char* secret : {"c2VjcmV0Zg==", "c2VjcmV0Zg", "c2VjcmV0Zh=="}) {
    settings s;
    std::vector<std::string> errors;
    INFO(secret);
    CHECK(parse_settings({"--webhook-secret", secret}, {}, s, errors));
    CHECK(s.webhook_secret == secret);
  }
  for (const char* secret : {"c2VjcmV0Zg=", "c2VjcmV0-_==", "=="}) {
    settings s;
    std::vector<std::string> errors;
    INFO(secret);
    CHECK_FALSE(parse_settings({"--webhook-secret", secret}, {}, s, errors));
  }
}

TEST_CASE("defaults accept any test key and send no webhooks", "[sandbox][settings]") {
  settings s;
  std::vector<std::string> errors;
  REQUIRE(parse_settings({}, {}, s, errors));
  CHECK(s.listen_host == "127.0.0.1");
  CHECK(s.listen_port == 8090);
  CHECK(s.public_key.empty());
  CHECK(s.secret_key.empty());
  CHECK(s.webhook_url.empty());
  CHECK_FALSE(s.is_every_event_delivered);
  CHECK(usage().find("TALLY_SANDBOX_WEBHOOK_SECRET") != std::string::npos);
}
