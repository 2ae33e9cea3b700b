#pragma once
// The accounts tally_loadgen drives: where they come from (registration, a
// direct insert into identity.users, random ids) and the tokens file that
// keeps them between runs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally::bench {

struct bench_account {
  std::string user_id;
  std::string email;         // empty for random accounts (no user row)
  std::string access_token;  // empty until registered, logged in or signed
  int64_t expires_at_s = 0;  // of access_token
};

// The password every bench user has; its argon2id hash (libsodium, t=2,
// m=19 MiB, the engine's parameters) is inserted for users made in the database,
// so they can log in like registered ones.
inline constexpr std::string_view bench_password = "benchmark-password-1";
inline constexpr std::string_view bench_password_argon2id =
    "$argon2id$v=19$m=19456,t=2,p=1$3f94zZEwjBVbO1g3rXP9tw$Zre2GO2tn0mn/"
    "kJS0zPh86hKuAwWcS3YfyOSuZ6PH4g";

// Returns the e-mail of bench user `number` in run `run_id`.
std::string bench_email(std::size_t number, std::string_view run_id);

// Reads a tokens file (one account a line: user_id, email, expires_at_s,
// access_token, tab-separated). A missing file is an empty list, not an error.
// Returns false, with `error`, when the file exists but cannot be read or parsed.
bool load_tokens_file(const std::string& path, std::vector<bench_account>& accounts,
                      std::string& error);
// Writes `accounts` to `path` (through a temporary file and a rename).
bool save_tokens_file(const std::string& path, const std::vector<bench_account>& accounts,
                      std::string& error);

// Inserts `count` users into identity.users of `database_url` with one
// INSERT ... SELECT generate_series (numbers first_number.., e-mails from
// bench_email) and appends them to `accounts`, without tokens. The engine must
// have migrated that database. Returns false, with `error`, on any failure.
bool insert_users(const std::string& database_url, std::string_view run_id,
                  std::size_t first_number, std::size_t count, std::vector<bench_account>& accounts,
                  std::string& error);

}  // namespace tally::bench
