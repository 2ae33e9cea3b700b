#pragma once
// The Redis side of Tally: what may be lost. Access-token deny list and
// rate-limit counters. A pool of detached workers, each owning one hiredis
// connection. Every request answers errc::cache_unavailable when Redis is
// unreachable, and every caller has a fallback (Postgres for the deny list,
// an in-process limiter for rates).

#include <cstdint>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"

namespace tally {

using cache_actor = caf::typed_actor<
    // Adds a jti to the deny list for ttl_s seconds.
    caf::replies_to<deny_atom, std::string, int64_t>::with<bool>,
    // Is this jti denied?
    caf::replies_to<denied_atom, std::string>::with<bool>,
    // INCR key, setting a window_s expiry on the first hit: a fixed window.
    caf::replies_to<rate_atom, std::string, int64_t>::with<rate_count>,
    caf::replies_to<ping_atom>::with<bool>>;

cache_actor spawn_cache(caf::actor_system& sys, const config::config& cfg,
                        pool_stats_ptr stats = nullptr);

}  // namespace tally
