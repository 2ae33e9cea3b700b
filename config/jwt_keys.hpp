#pragma once
// The JWT key set the engine signs and verifies with, built from the settings.

#include "auth/auth.hpp"
#include "config/config.hpp"

namespace tally::config {

// The first configured key is the active signing key; the rest only verify.
inline auth::jwt_key_set jwt_keys(const config& cfg) {
  auth::jwt_key_set keys;
  for (const auto& key : cfg.auth.jwt_keys) {
    keys.keys.push_back({key.kid, key.secret});
  }
  if (!keys.keys.empty()) {
    keys.active_kid = keys.keys.front().kid;
  }
  return keys;
}

}  // namespace tally::config
