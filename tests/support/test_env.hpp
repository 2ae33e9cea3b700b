// tests/support/test_env.hpp: what an integration test needs around the engine: the private
// PostgreSQL and Redis that scripts/services.sh starts (their URLs come from the
// environment), a fresh database per test, and engine_fixture, which starts the real engine
// against it:
//
//   TEST_CASE("...", "[integration][credits]") {
//     tally::test::engine_fixture fixture;  // or
//     fixture(tally::test::env_map{{"TALLY_RATE_AUTH_PER_IP_PER_MINUTE", "5"}}) auto client =
//     fixture.client(); auto response = client.post_json("/v1/auth/register", {{"email", ...},
//     ...}); REQUIRE(response.status == 201); CHECK(tally::test::pg_scalar(fixture.database.url(),
//     "SELECT count(*) ...") == 1);
//   }
//
// Failures (a variable not set, a server down, SQL that fails) throw std::runtime_error or a
// pqxx exception whose message says what happened; Catch2 prints it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "tests/support/engine_process.hpp"
#include "tests/support/http_client.hpp"

namespace tally::test {

// The secrets every engine_fixture passes (dev mode would otherwise generate its own).
inline constexpr const char* test_admin_api_key = "test-admin-key-0123456789abcdef0123";
inline constexpr const char* test_jwt_key = "test-jwt-secret-0123456789abcdef0123456789abcdef";

// Standard base64 (RFC 4648 §4, padded), written here independently of the
// engine's encoders so tests check them rather than reuse them.
std::string base64(const std::string& bytes);

// $TALLY_TEST_DATABASE_ADMIN_URL (a libpq URL to the private cluster's `postgres`
// database) and $TALLY_TEST_REDIS_URL. Throw std::runtime_error naming the variable, and
// saying to start the services with scripts/services.sh, if unset.
std::string database_admin_url();
std::string redis_url();

// `url` with its database name replaced by `database_name` (user, password, host, port and
// query parameters kept). A keyword=value conninfo string gets " dbname=<name>" appended.
std::string database_url_for(const std::string& url, const std::string& database_name);

// Creates an empty database named "t_<prefix>_<pid>_<sequence>_<random>" (prefix reduced to
// [a-z0-9_], at most 63 characters in all) on the admin URL's cluster and returns its URL.
std::string create_test_database(const std::string& prefix);
// Terminates the database's connections, then drops it; no error if it does not exist.
void drop_test_database(const std::string& database_name);
// The database name in a URL made by create_test_database/database_url_for.
std::string database_name_from_url(const std::string& url);

// Runs `sql` on a fresh connection to `url` (no transaction). pg_scalar returns the first
// column of the first row as int64_t and throws if there is no row or the value is NULL.
int64_t pg_scalar(const std::string& url, const std::string& sql);
pqxx::result pg_query(const std::string& url, const std::string& sql);

// A fresh database, dropped on destruction unless $TALLY_TEST_KEEP_DATABASES=1 (then its
// name is printed, for looking at it after a failure).
class test_database {
 public:
  explicit test_database(const std::string& prefix);
  ~test_database();
  test_database(const test_database&) = delete;
  test_database& operator=(const test_database&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::string name_;
};

// A fresh empty directory under the system temp directory, removed on destruction.
class temp_directory {
 public:
  explicit temp_directory(const std::string& prefix);
  ~temp_directory();
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One test's engine: a fresh database, a fresh run directory, and `tally serve` started
// with DATABASE_URL, REDIS_URL, TALLY_MODE=dev, TALLY_ADMIN_API_KEY=test_admin_api_key,
// TALLY_JWT_KEY=test_jwt_key, TALLY_RUN_DIR and TALLY_RATE_AUTH_PER_IP_PER_MINUTE=0,
// TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE=0, TALLY_REDIS_KEY_PREFIX, then `overrides` on top, then the
// names in `unset` removed. Construction returns once /health/live answers 200 (or throws, see
// engine_process). Destruction stops the engine (SIGTERM), removes the run directory and drops the
// database, in that order.
struct engine_fixture {
  explicit engine_fixture(env_map overrides = {}, std::vector<std::string> unset = {});

  [[nodiscard]] http_client client() const { return engine.client(); }
  // {Authorization: Bearer test_admin_api_key}
  [[nodiscard]] header_list admin_headers() const;

  test_database database;
  temp_directory run_dir;
  engine_process engine;
};

// The environment engine_fixture gives the engine, for tests that start more engines on the
// same database and run directory (engine_process(engine_options{fixture_env(...)})).
env_map fixture_env(const test_database& database, const temp_directory& run_dir,
                    const env_map& overrides = {});

// `tally reconcile` against the fixture's database: its exit status (-1 when it did not exit
// within `timeout`) and its output.
std::pair<int, std::string> run_reconcile_command(
    const engine_fixture& fixture, std::chrono::seconds timeout = std::chrono::seconds(120));

// ---- Users and credits over HTTP (what most integration tests start with) ----

inline constexpr const char* test_password = "correct horse battery";

struct test_user {
  std::string id;
  std::string token;  // access token
  [[nodiscard]] header_list auth() const { return {bearer(token)}; }
};

// POST /v1/auth/register with a fresh e-mail "<email_prefix>-<pid>-<n>@example.com".
// Throws unless 201.
test_user register_test_user(http_client& client, const std::string& email_prefix);

// POST /v1/admin/users/{id}/grants with the test admin key; returns the entry id.
// Throws unless 201.
std::string grant_credits(http_client& client, const std::string& user_id, int64_t amount,
                          const std::string& reason = "integration test");

}  // namespace tally::test
