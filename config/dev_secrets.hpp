#pragma once
// Dev mode's generated secrets. On the first start in dev mode the engine
// creates a JWT key and an admin API key, writes them to
// <run_dir>/dev-secrets.env (mode 0600) and reuses them on later starts, so
// tokens and the admin key survive a restart. Production never calls this.

#include <string>

#include "config/config.hpp"

namespace tally::config {

// Fills TALLY_JWT_KEY and TALLY_ADMIN_API_KEY in `env` from the run folder's
// dev-secrets file (creating it when missing) unless `env` already has them.
// Returns false and sets `error` when the file cannot be read or written.
bool ensure_dev_secrets(const std::string& run_dir, env_map& env, std::string& error);

}  // namespace tally::config
