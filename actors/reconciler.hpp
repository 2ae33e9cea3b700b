#pragma once
// The reconciler: one detached actor, with its own Postgres connection, that
// runs the whole-ledger reconcile for GET /v1/admin/reconcile
// (persistence/reconcile_store.hpp; `tally reconcile` calls it directly).
//
// Its own actor rather than a ledger-reader worker: on a big ledger a
// reconcile takes a while (about 11 s per 1,000,000 accounts here), and must not
// hold a connection that account loads need. Requests run one at a time, in
// arrival order. When `cancelled` turns true (the engine is stopping) a
// running reconcile ends at its next page with errc::storage_unavailable, so
// shutdown never waits for it.

#include <atomic>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/type_ids.hpp"

namespace tally {

// The reconcile report as a JSON object string (API.md GET /v1/admin/reconcile).
using reconciler_actor = caf::typed_actor<caf::replies_to<reconcile_atom>::with<std::string>>;

reconciler_actor spawn_reconciler(caf::actor_system& sys, const std::string& database_url,
                                  std::shared_ptr<const std::atomic<bool>> cancelled);

}  // namespace tally
