#pragma once
// The identity service's actor interface: users, sessions and the Postgres
// side of the access-token deny list. The handle the HTTP layer holds is a
// pool (actors/worker_pool.hpp) in front of detached workers, each owning one
// Postgres connection; argon2id hashing runs on those worker threads, never on
// an io thread or a cooperative scheduler thread.

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"

namespace tally {

using identity_actor = caf::typed_actor<
    // errc::email_taken, validation is the caller's.
    caf::replies_to<register_atom, credentials>::with<auth_grant>,
    // errc::invalid_credentials for an unknown e-mail and a wrong password alike.
    caf::replies_to<login_atom, credentials>::with<auth_grant>,
    // errc::invalid_refresh_token; reuse of a rotated token revokes its session.
    caf::replies_to<refresh_atom, refresh_request>::with<auth_grant>,
    // Records the access token's jti as revoked (until it expires) and ends the session.
    caf::replies_to<logout_atom, logout_request>::with<bool>,
    caf::replies_to<profile_atom, std::string>::with<user_profile>,
    // The deny-list fallback when Redis is down: is this jti revoked?
    caf::replies_to<revoked_atom, std::string>::with<bool>,
    // Readiness: true when the worker's connection answers SELECT 1.
    caf::replies_to<ping_atom>::with<bool>>;

// Spawns the identity pool and its workers (cfg.actors.identity_db_workers).
// `stats`, when given, receives the pool's counters for /metrics.
identity_actor spawn_identity(caf::actor_system& sys, const config::config& cfg,
                              pool_stats_ptr stats = nullptr);

}  // namespace tally
