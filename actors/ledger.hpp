#pragma once
// The credit ledger's actors (DESIGN "The ledger").
//
//   HTTP ──mutate──> ledger router ──delegate──> ledger actor (one per account)
//                                                  │ append (pipelined, ordered)
//                                                  v
//                                            journal writer (by hash of account;
//                                            detached, group commit) ──> Postgres
//   ledger reader pool (detached): loads, lookups, pages (reconcile: actors/reconciler.hpp)
//   ledger expirer: every tick, expires pending reservations and credit lots past expires_at
//
// A ledger actor keeps its account in memory, refuses from memory, and answers
// only after its entry's transaction committed (invariant 3). Idle actors are
// passivated by the router, which also bounds how many stay resident.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"

namespace tally {

// The router's public interface (what HTTP handlers, sagas and the expirer use).
using ledger_actor = caf::typed_actor<
    // errc::insufficient_credits, reservation_not_found, reservation_not_pending,
    // validation_failed, idempotency_key_reused, idempotency_key_in_flight,
    // storage_unavailable, overloaded.
    caf::replies_to<mutate_atom, ledger_request>::with<ledger_receipt>,
    caf::replies_to<balance_atom, std::string>::with<balance_view>,
    // Creates the account row if missing (at registration). Idempotent.
    caf::replies_to<open_atom, std::string>::with<bool>>;

// Read side: blocking queries on their own connections.
using ledger_reader_actor = caf::typed_actor<
    caf::replies_to<load_atom, std::string>::with<account_snapshot>,
    // The committed entry for an idempotency key, or errc::not_found.
    caf::replies_to<lookup_atom, std::string, std::string>::with<ledger_receipt, std::string>,
    caf::replies_to<reserv_atom, std::string, std::string>::with<reservation_row>,
    // A page of entries as a JSON array string (newest first).
    caf::replies_to<entries_atom, entries_query>::with<std::string>,
    // Up to `limit` (account_id, reservation_id) pairs of pending reservations past expiry.
    caf::replies_to<expired_atom, int64_t>::with<std::vector<std::string>>,
    // Up to `limit` (account_id, lot_id) pairs of credit lots with credits left past expiry.
    caf::replies_to<lotsweep_atom, int64_t>::with<std::vector<std::string>>,
    caf::replies_to<open_atom, std::string>::with<bool>,
    caf::replies_to<ping_atom>::with<bool>>;

using journal_writer_actor =
    caf::typed_actor<caf::replies_to<append_atom, journal_item>::with<journal_ack>,
                     caf::reacts_to<flush_atom>>;

struct ledger_handles {
  ledger_actor router;
  ledger_reader_actor reader;
};

// Spawns writers, readers, the router and the expirer. `reader_stats`, when
// given, receives the reader pool's counters for /metrics.
ledger_handles spawn_ledger(caf::actor_system& sys, const config::config& cfg,
                            pool_stats_ptr reader_stats = nullptr);

}  // namespace tally
