#include "bench/loadgen/accounts.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <pqxx/pqxx>

namespace tally::bench {

std::string bench_email(std::size_t number, std::string_view run_id) {
  return "bench-" + std::to_string(number) + "-" + std::string(run_id) + "@bench.test";
}

bool load_tokens_file(const std::string& path, std::vector<bench_account>& accounts,
                      std::string& error) {
  std::ifstream in(path);
  if (!in) {
    return true;  // nothing cached yet
  }
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) {
      continue;
    }
    std::istringstream fields(line);
    bench_account account;
    std::string expires;
    if (!std::getline(fields, account.user_id, '\t') ||
        !std::getline(fields, account.email, '\t') || !std::getline(fields, expires, '\t') ||
        !std::getline(fields, account.access_token) || account.user_id.empty()) {
      error = path + ":" + std::to_string(number) +
              ": expected user_id<TAB>email<TAB>expires_at_s<TAB>access_token";
      return false;
    }
    account.expires_at_s = std::strtoll(expires.c_str(), nullptr, 10);
    accounts.push_back(std::move(account));
  }
  return true;
}

bool save_tokens_file(const std::string& path, const std::vector<bench_account>& accounts,
                      std::string& error) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    for (const bench_account& account : accounts) {
      out << account.user_id << '\t' << account.email << '\t' << account.expires_at_s << '\t'
          << account.access_token << '\n';
    }
    out.flush();
    if (!out) {
      error = "cannot write " + temporary;
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + temporary + " to " + path;
    return false;
  }
  return true;
}

bool insert_users(const std::string& database_url, std::string_view run_id,
                  std::size_t first_number, std::size_t count, std::vector<bench_account>& accounts,
                  std::string& error) {
  if (count == 0) {
    return true;
  }
  try {
    pqxx::connection connection{database_url};
    pqxx::work transaction{connection};
    const std::string sql =
        "INSERT INTO identity.users (user_id, email, password_hash) "
        "SELECT gen_random_uuid(), 'bench-' || n || '-' || " +
        transaction.quote(std::string(run_id)) + " || '@bench.test', " +
        transaction.quote(std::string(bench_password_argon2id)) + " FROM generate_series(" +
        std::to_string(first_number) + ", " + std::to_string(first_number + count - 1) +
        ") AS n RETURNING user_id::text, email";
    const pqxx::result rows = transaction.exec(sql);
    transaction.commit();
    accounts.reserve(accounts.size() + rows.size());
    for (const auto& row : rows) {
      accounts.push_back(bench_account{row[0].c_str(), row[1].c_str(), {}, 0});
    }
    return true;
  } catch (const std::exception& e) {
    error = std::string("inserting users into identity.users failed: ") + e.what();
    return false;
  }
}

}  // namespace tally::bench
