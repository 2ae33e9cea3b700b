// tests/support/test_env.cpp: databases are created and dropped through the admin URL with a
// nontransaction, because CREATE/DROP DATABASE cannot run inside a transaction block.
#include "tests/support/test_env.hpp"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <stdlib.h>
#include <unistd.h>

namespace tally::test {
namespace {

constexpr std::size_t database_prefix_chars_max = 24;
constexpr std::size_t database_name_chars_max = 63;  // PostgreSQL's NAMEDATALEN - 1
constexpr int create_database_attempts_max = 5;
constexpr std::chrono::milliseconds create_database_retry_delay{200};

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: integration tests need the private PostgreSQL and "
                             "Redis that scripts/services.sh starts and exports (run ctest "
                             "through it)");
  }
  return value;
}

bool is_flag_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string(value) == "1";
}

std::string sanitized(const std::string& prefix) {
  std::string result;
  for (char c : prefix) {
    auto byte = static_cast<unsigned char>(c);
    result += std::isalnum(byte) != 0 ? static_cast<char>(std::tolower(byte)) : '_';
    if (result.size() == database_prefix_chars_max) {
      break;
    }
  }
  return result;
}

std::string unique_database_name(const std::string& prefix) {
  static std::atomic<int> sequence{0};
  static const char* const hex_digits = "0123456789abcdef";
  std::random_device random;
  std::string suffix;
  for (int i = 0; i < 6; ++i) {
    suffix += hex_digits[random() % 16];
  }
  auto name = "t_" + sanitized(prefix) + "_" + std::to_string(::getpid()) + "_" +
              std::to_string(++sequence) + "_" + suffix;
  return name.substr(0, database_name_chars_max);
}

bool is_url(const std::string& text) {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

// Two tests creating databases at once can trip over each other's use of template1.
bool is_template_busy(const pqxx::sql_error& error) {
  return std::string(error.what()).find("is being accessed by other users") != std::string::npos;
}

void create_database(const std::string& name) {
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::connection connection(database_admin_url());
      pqxx::nontransaction work(connection);
      work.exec("CREATE DATABASE " + work.quote_name(name));
      return;
    } catch (const pqxx::sql_error& error) {
      if (!is_template_busy(error) || attempt == create_database_attempts_max) {
        throw;
      }
    }
    std::this_thread::sleep_for(create_database_retry_delay);
  }
}

}  // namespace

std::string base64(const std::string& bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) |
                       (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) {
      out.push_back(alphabet[(n >> shift) & 63]);
    }
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], '='};
  }
  return out;
}

std::string database_admin_url() {
  return required_env("TALLY_TEST_DATABASE_ADMIN_URL");
}

std::string redis_url() {
  return required_env("TALLY_TEST_REDIS_URL");
}

std::string database_url_for(const std::string& url, const std::string& database_name) {
  if (!is_url(url)) {
    return url + " dbname=" + database_name;
  }
  auto authority_start = url.find("://") + 3;
  auto path_start = url.find_first_of("/?", authority_start);
  if (path_start == std::string::npos) {
    return url + "/" + database_name;
  }
  auto query_start = url.find('?', path_start);
  auto query = query_start == std::string::npos ? std::string() : url.substr(query_start);
  return url.substr(0, path_start) + "/" + database_name + query;
}

std::string database_name_from_url(const std::string& url) {
  if (!is_url(url)) {
    auto key = url.rfind("dbname=");
    if (key == std::string::npos) {
      throw std::runtime_error("no dbname in connection string");
    }
    auto start = key + 7;
    return url.substr(start, url.find(' ', start) - start);
  }
  auto authority_start = url.find("://") + 3;
  auto path_start = url.find('/', authority_start);
  if (path_start == std::string::npos) {
    throw std::runtime_error("no database name in URL");
  }
  auto query_start = url.find('?', path_start);
  return url.substr(path_start + 1, query_start == std::string::npos
                                        ? std::string::npos
                                        : query_start - path_start - 1);
}

std::string create_test_database(const std::string& prefix) {
  auto name = unique_database_name(prefix);
  create_database(name);
  return database_url_for(database_admin_url(), name);
}

void drop_test_database(const std::string& database_name) {
  pqxx::connection connection(database_admin_url());
  pqxx::nontransaction work(connection);
  work.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
            work.quote(database_name) + " AND pid <> pg_backend_pid()");
  // WITH (FORCE) catches a connection that arrived after the termination above.
  work.exec("DROP DATABASE IF EXISTS " + work.quote_name(database_name) + " WITH (FORCE)");
}

pqxx::result pg_query(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction work(connection);
  return work.exec(sql);
}

int64_t pg_scalar(const std::string& url, const std::string& sql) {
  auto rows = pg_query(url, sql);
  if (rows.empty() || rows.columns() == 0) {
    throw std::runtime_error("pg_scalar: no value from: " + sql);
  }
  if (rows[0][0].is_null()) {
    throw std::runtime_error("pg_scalar: NULL from: " + sql);
  }
  return rows[0][0].as<int64_t>();
}

test_database::test_database(const std::string& prefix)
    : url_(create_test_database(prefix)), name_(database_name_from_url(url_)) {}

test_database::~test_database() {
  if (is_flag_set("TALLY_TEST_KEEP_DATABASES")) {
    std::cerr << "kept test database " << name_ << " (" << url_ << ")\n";
    return;
  }
  try {
    drop_test_database(name_);
  } catch (const std::exception& error) {
    std::cerr << "could not drop test database " << name_ << ": " << error.what() << "\n";
  }
}

temp_directory::temp_directory(const std::string& prefix) {
  auto pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp(" + pattern + ")");
  }
  path_ = pattern;
}

temp_directory::~temp_directory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

env_map fixture_env(const test_database& database, const temp_directory& run_dir,
                    const env_map& overrides) {
  env_map env{
      {"DATABASE_URL", database.url()},
      {"REDIS_URL", redis_url()},
      {"TALLY_MODE", "dev"},
      {"TALLY_ADMIN_API_KEY", test_admin_api_key},
      {"TALLY_JWT_KEY", test_jwt_key},
      {"TALLY_RUN_DIR", run_dir.path()},
      {"TALLY_RATE_AUTH_PER_IP_PER_MINUTE", "0"},
      {"TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE", "0"},
      {"TALLY_REDIS_KEY_PREFIX", "tally:" + database.name() + ":"},
  };
  for (const auto& [name, value] : overrides) {
    env[name] = value;
  }
  return env;
}

namespace {
engine_options fixture_options(const test_database& database, const temp_directory& run_dir,
                               const env_map& overrides, std::vector<std::string> unset) {
  engine_options options;
  options.env = fixture_env(database, run_dir, overrides);
  for (const auto& name : unset) {
    options.env.erase(name);
  }
  options.env_unset = std::move(unset);
  return options;
}
}  // namespace

engine_fixture::engine_fixture(env_map overrides, std::vector<std::string> unset)
    : database("engine"),
      run_dir("tally-run"),
      engine(fixture_options(database, run_dir, overrides, std::move(unset))) {}

header_list engine_fixture::admin_headers() const {
  return {bearer(test_admin_api_key)};
}

std::pair<int, std::string> run_reconcile_command(const engine_fixture& fixture,
                                                  std::chrono::seconds timeout) {
  engine_options options;
  options.env = fixture_env(fixture.database, fixture.run_dir);
  options.args = {"reconcile"};
  options.wait_until_live = false;
  engine_process command(options);
  const auto status = command.wait_for_exit(timeout);
  return {status.value_or(-1), command.log_text()};
}

test_user register_test_user(http_client& client, const std::string& email_prefix) {
  static std::atomic<int> sequence{0};
  const std::string email = email_prefix + "-" + std::to_string(::getpid()) + "-" +
                            std::to_string(++sequence) + "@example.com";
  auto response =
      client.post_json("/v1/auth/register", {{"email", email}, {"password", test_password}});
  if (response.status != 201) {
    throw std::runtime_error("register failed: " + response.describe());
  }
  const auto body = response.json();
  return {body["user"]["id"].get<std::string>(), body["access_token"].get<std::string>()};
}

std::string grant_credits(http_client& client, const std::string& user_id, int64_t amount,
                          const std::string& reason) {
  auto response =
      client.post_json("/v1/admin/users/" + user_id + "/grants",
                       {{"amount", amount}, {"reason", reason}}, {bearer(test_admin_api_key)});
  if (response.status != 201) {
    throw std::runtime_error("grant failed: " + response.describe());
  }
  return response.json()["entry_id"].get<std::string>();
}

}  // namespace tally::test
