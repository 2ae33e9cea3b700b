// tests/config/config_test.cpp: covers config/config.cpp and dev_secrets.cpp.
// Each case names one rule; refused settings get as many cases as accepted ones.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "config/dev_secrets.hpp"

using tally::config::config;
using tally::config::env_map;

namespace {

const std::string good_key(48, 'k');
const std::string good_admin(40, 'a');

env_map minimal_env() {
  return {{"TALLY_JWT_KEY", good_key}, {"TALLY_ADMIN_API_KEY", good_admin}};
}

bool try_load(const env_map& env, config& out, std::vector<std::string>& errors) {
  return tally::config::load(env, out, errors);
}

bool mentions(const std::vector<std::string>& errors, const std::string& needle) {
  for (const auto& e : errors) {
    if (e.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("defaults apply when only the secrets are set", "[config]") {
  config cfg;
  std::vector<std::string> errors;
  REQUIRE(try_load(minimal_env(), cfg, errors));
  CHECK(cfg.mode == tally::config::run_mode::dev);
  CHECK(cfg.http.listen_host == "127.0.0.1");
  CHECK(cfg.http.listen_port == 8080);
  CHECK(cfg.http.body_bytes_max == 64 * 1024);
  CHECK(cfg.auth.access_ttl_s == 900);
  CHECK(cfg.auth.jwt_keys.size() == 1);
  CHECK(cfg.auth.jwt_keys[0].kid == "k1");
}

TEST_CASE("every bounded context defaults to DATABASE_URL and can be overridden", "[config]") {
  auto env = minimal_env();
  env["DATABASE_URL"] = "postgresql://u@h:1/main";
  env["TALLY_LEDGER_DATABASE_URL"] = "postgresql://u@h:2/ledger";
  config cfg;
  std::vector<std::string> errors;
  REQUIRE(try_load(env, cfg, errors));
  CHECK(cfg.databases.identity == "postgresql://u@h:1/main");
  CHECK(cfg.databases.payments == "postgresql://u@h:1/main");
  CHECK(cfg.databases.ledger == "postgresql://u@h:2/ledger");
}

TEST_CASE("all problems are reported together, not only the first", "[config]") {
  env_map env{{"TALLY_LISTEN", "nonsense"},
              {"TALLY_BODY_BYTES_MAX", "-5"},
              {"TALLY_MODE", "staging"},
              {"REDIS_URL", "http://x"}};
  config cfg;
  std::vector<std::string> errors;
  REQUIRE_FALSE(try_load(env, cfg, errors));
  CHECK(mentions(errors, "TALLY_LISTEN"));
  CHECK(mentions(errors, "TALLY_BODY_BYTES_MAX"));
  CHECK(mentions(errors, "TALLY_MODE"));
  CHECK(mentions(errors, "REDIS_URL"));
  CHECK(mentions(errors, "TALLY_ADMIN_API_KEY"));
  CHECK(mentions(errors, "TALLY_JWT_KEY"));
}

TEST_CASE("a limit above its hard ceiling is refused", "[config]") {
  auto env = minimal_env();
  env["TALLY_BODY_BYTES_MAX"] = std::to_string(2 * 1024 * 1024);
  config cfg;
  std::vector<std::string> errors;
  REQUIRE_FALSE(try_load(env, cfg, errors));
  CHECK(mentions(errors, "TALLY_BODY_BYTES_MAX"));
}

TEST_CASE("a short JWT key is refused", "[config]") {
  auto env = minimal_env();
  env["TALLY_JWT_KEY"] = "too-short";
  config cfg;
  std::vector<std::string> errors;
  REQUIRE_FALSE(try_load(env, cfg, errors));
  CHECK(mentions(errors, "JWT"));
}

TEST_CASE("production refuses to start without a JWT key", "[config]") {
  env_map env{{"TALLY_MODE", "production"}, {"TALLY_ADMIN_API_KEY", good_admin}};
  config cfg;
  std::vector<std::string> errors;
  REQUIRE_FALSE(try_load(env, cfg, errors));
  CHECK(mentions(errors, "TALLY_JWT_KEY"));
}

TEST_CASE("production refuses dev-generated secrets", "[config]") {
  env_map env{{"TALLY_MODE", "production"},
              {"TALLY_JWT_KEY", std::string(tally::config::dev_secret_prefix) + good_key},
              {"TALLY_ADMIN_API_KEY", std::string(tally::config::dev_secret_prefix) + good_admin}};
  config cfg;
  std::vector<std::string> errors;
  REQUIRE_FALSE(try_load(env, cfg, errors));
  CHECK(mentions(errors, "dev-generated JWT key"));
  CHECK(mentions(errors, "dev-generated TALLY_ADMIN_API_KEY"));
}

TEST_CASE("production starts with proper secrets", "[config]") {
  auto env = minimal_env();
  env["TALLY_MODE"] = "production";
  config cfg;
  std::vector<std::string> errors;
  REQUIRE(try_load(env, cfg, errors));
  CHECK(cfg.mode == tally::config::run_mode::production);
}

TEST_CASE("previous JWT keys are kept for verification during rotation", "[config]") {
  auto env = minimal_env();
  env["TALLY_JWT_KID"] = "k2";
  env["TALLY_JWT_PREVIOUS_KEYS"] = "k1:" + std::string(40, 'p');
  config cfg;
  std::vector<std::string> errors;
  REQUIRE(try_load(env, cfg, errors));
  REQUIRE(cfg.auth.jwt_keys.size() == 2);
  CHECK(cfg.auth.jwt_keys[0].kid == "k2");
  CHECK(cfg.auth.jwt_keys[1].kid == "k1");
}

TEST_CASE("describe never contains a secret", "[config]") {
  config cfg;
  std::vector<std::string> errors;
  REQUIRE(try_load(minimal_env(), cfg, errors));
  const std::string text = tally::config::describe(cfg);
  CHECK(text.find(good_key) == std::string::npos);
  CHECK(text.find(good_admin) == std::string::npos);
  CHECK(text.find("admin_api_key=set") != std::string::npos);
}

TEST_CASE("a config file fills settings the environment does not set", "[config]") {
  const auto path = std::filesystem::temp_directory_path() / "tally_config_test.env";
  {
    std::ofstream out(path);
    out << "# comment\n\nTALLY_LISTEN=0.0.0.0:9000\nTALLY_LOG_LEVEL=debug\n";
  }
  env_map env{{"TALLY_LOG_LEVEL", "warn"}};
  std::string error;
  REQUIRE(tally::config::read_config_file(path.string(), env, error));
  CHECK(env["TALLY_LISTEN"] == "0.0.0.0:9000");
  CHECK(env["TALLY_LOG_LEVEL"] == "warn");  // the environment wins
  std::filesystem::remove(path);
}

TEST_CASE("a malformed config file line is an error", "[config]") {
  const auto path = std::filesystem::temp_directory_path() / "tally_config_bad.env";
  {
    std::ofstream out(path);
    out << "JUSTAWORD\n";
  }
  env_map env;
  std::string error;
  CHECK_FALSE(tally::config::read_config_file(path.string(), env, error));
  CHECK(error.find(":1:") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE("dev secrets are generated once and reused across restarts", "[config]") {
  const auto dir = std::filesystem::temp_directory_path() / "tally_dev_secrets_test";
  std::filesystem::remove_all(dir);
  env_map first;
  std::string error;
  REQUIRE(tally::config::ensure_dev_secrets(dir.string(), first, error));
  CHECK(first["TALLY_JWT_KEY"].rfind(tally::config::dev_secret_prefix, 0) == 0);
  CHECK(first["TALLY_ADMIN_API_KEY"].size() >= 32);
  env_map second;
  REQUIRE(tally::config::ensure_dev_secrets(dir.string(), second, error));
  CHECK(second["TALLY_JWT_KEY"] == first["TALLY_JWT_KEY"]);
  CHECK(second["TALLY_ADMIN_API_KEY"] == first["TALLY_ADMIN_API_KEY"]);
  const auto perms = std::filesystem::status(dir / "dev-secrets.env").permissions();
  CHECK((perms & std::filesystem::perms::others_read) == std::filesystem::perms::none);
  std::filesystem::remove_all(dir);
}

TEST_CASE("explicit secrets win over the dev-secrets file", "[config]") {
  const auto dir = std::filesystem::temp_directory_path() / "tally_dev_secrets_explicit";
  std::filesystem::remove_all(dir);
  env_map env{{"TALLY_JWT_KEY", good_key}, {"TALLY_ADMIN_API_KEY", good_admin}};
  std::string error;
  REQUIRE(tally::config::ensure_dev_secrets(dir.string(), env, error));
  CHECK(env["TALLY_JWT_KEY"] == good_key);
  CHECK_FALSE(std::filesystem::exists(dir / "dev-secrets.env"));
}
