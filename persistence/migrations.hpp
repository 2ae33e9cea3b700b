#pragma once
// Forward-only SQL migrations: numbered files NNNN_name.sql in one folder,
// applied in order, each in its own transaction, recorded in
// public.schema_migrations with a checksum. A Postgres advisory lock held for
// the whole run makes concurrent engine nodes wait for each other instead of
// racing; the second node then finds nothing left to apply.
// Blocking: call from start-up code or a detached actor only.

#include <string>
#include <vector>

namespace tally::persistence {

struct migration_report {
  std::vector<std::string> applied;  // names applied by this run, in order
  std::size_t already_applied = 0;
};

// Applies every pending migration in `directory` to the database at `url`.
// Returns false and sets `error` on the first failure; migrations applied
// before it stay applied, the failing one is rolled back. A file whose
// checksum differs from the recorded one is an error (migrations are never
// edited once applied).
bool apply_migrations(const std::string& url, const std::string& directory,
                      migration_report& report, std::string& error);

// The folder compiled in at build time (the source tree's migrations/).
std::string default_migrations_dir();

}  // namespace tally::persistence
