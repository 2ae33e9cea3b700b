#include "persistence/migrations.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <pqxx/pqxx>

#include "persistence/pg.hpp"

namespace tally::persistence {
namespace {

// Any constant works as long as every node uses the same one.
constexpr int64_t migration_lock_key = 0x7a11'7a11;

struct migration_file {
  int version = 0;
  std::string name;
  std::string sql;
  std::string checksum;
};

// FNV-1a 64: detects an edited file; not a security boundary.
std::string checksum_of(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  std::ostringstream os;
  os << std::hex << hash;
  return os.str();
}

// True for NNNN_lower_snake.sql; sets `version` to NNNN.
bool is_migration_name(const std::string& name, int& version) {
  const std::string suffix = ".sql";
  if (name.size() < 4 + 1 + 1 + suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0 || name[4] != '_') {
    return false;
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  for (std::size_t i = 5; i < name.size() - suffix.size(); ++i) {
    const char c = name[i];
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '_')) {
      return false;
    }
  }
  version = std::stoi(name.substr(0, 4));
  return true;
}

bool list_migrations(const std::string& directory, std::vector<migration_file>& out,
                     std::string& error) {
  std::error_code ec;
  std::filesystem::directory_iterator it(directory, ec);
  if (ec) {
    error = "cannot read migrations folder " + directory + ": " + ec.message();
    return false;
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    int version = 0;
    if (!is_migration_name(name, version)) {
      continue;
    }
    std::ifstream in(entry.path());
    std::stringstream sql;
    sql << in.rdbuf();
    out.push_back({version, name, sql.str(), checksum_of(sql.str())});
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      error = "two migrations share version " + std::to_string(out[i].version);
      return false;
    }
  }
  return true;
}

}  // namespace

std::string default_migrations_dir() {
  return TALLY_MIGRATIONS_DIR;
}

bool apply_migrations(const std::string& url, const std::string& directory,
                      migration_report& report, std::string& error) {
  std::vector<migration_file> files;
  if (!list_migrations(directory, files, error)) {
    return false;
  }
  try {
    auto connection = pg_connect(url, std::chrono::minutes(10));
    pqxx::nontransaction session{*connection};
    session.exec("SELECT pg_advisory_lock(" + std::to_string(migration_lock_key) + ")");
    session.exec(
        "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    session.commit();
    std::string failure;
    for (const auto& file : files) {
      pqxx::work tx{*connection};
      auto row = tx.exec_params("SELECT checksum FROM public.schema_migrations WHERE version = $1",
                                file.version);
      if (!row.empty()) {
        if (row[0][0].as<std::string>() != file.checksum) {
          failure = "migration " + file.name + " was edited after it was applied";
          break;
        }
        ++report.already_applied;
        continue;
      }
      tx.exec(file.sql);
      tx.exec_params("INSERT INTO public.schema_migrations (version, name, checksum) "
                     "VALUES ($1, $2, $3)",
                     file.version, file.name, file.checksum);
      tx.commit();
      report.applied.push_back(file.name);
    }
    pqxx::nontransaction unlock{*connection};
    unlock.exec("SELECT pg_advisory_unlock(" + std::to_string(migration_lock_key) + ")");
    if (!failure.empty()) {
      error = failure;
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    error = std::string("migration failed: ") + e.what();
    return false;
  }
}

}  // namespace tally::persistence
