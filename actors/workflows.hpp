#pragma once
// Workflow actors (DESIGN "Workflows and sagas", invariant 6).
//
//   HTTP ──wf*/run get/list──> workflow store pool (detached workers, workflows schema)
//   HTTP ──runstart──> run supervisor ──spawn──> run saga (one per run, cooperative)
//                          │  caps, slots,              │ ledger mutate (run:<id>:<step> keys)
//                          │  bounded queue             │ store steplog (before/after each step)
//                          │                            └─> executor actor (detached, one per
//   recovery (timer) ──claim──> store ──resume──> supervisor        execution, then quits)
//
// The supervisor admits a run only under the per-user cap, hands execution slots out under
// the global cap and keeps at most `queue_depth_max` reserved runs waiting for one; beyond
// either bound the answer is errc::too_many_runs (429). Sagas resumed by recovery never
// execute (at-most-once): they only finish the ledger side of their run.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/ledger.hpp"
#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/config.hpp"

namespace tally::outbound {
class target_policy;
}

namespace tally {

// The workflows schema, behind a pool of detached workers (one connection each).
using workflow_store_actor = caf::typed_actor<
    caf::replies_to<wfcreate_atom, workflow_row, std::string>::with<workflow_row>,
    // errc::workflow_not_found for unknown, deleted or another user's workflows.
    caf::replies_to<wfget_atom, std::string, std::string>::with<workflow_row>,
    caf::replies_to<wflist_atom, page_query>::with<workflow_page>,
    caf::replies_to<wfupdate_atom, workflow_change>::with<workflow_row>,
    caf::replies_to<wfdelete_atom, std::string, std::string, std::string>::with<bool>,
    // Inserts a pending run (lease in ms); an earlier run with the same key comes back with
    // is_existing set instead.
    caf::replies_to<runcreate_atom, run_row, int64_t>::with<run_row>,
    // errc::run_not_found.
    caf::replies_to<runget_atom, std::string, std::string>::with<run_row>,
    // errc::workflow_not_found when the workflow is not the caller's.
    caf::replies_to<runlist_atom, page_query>::with<run_page>,
    // false: the lease token no longer matches (another saga owns the run).
    caf::replies_to<steplog_atom, step_write>::with<bool>,
    caf::replies_to<runclaim_atom, int64_t, int64_t>::with<run_page>>;

// The run supervisor: admission, execution slots, saga spawning.
using run_supervisor_actor = caf::typed_actor<
    // Starts a run. Answers the run once its reservation is taken (202), or at its end when
    // `wait` is set (bounded by run_wait_ms_max: then the run as it is). errc::too_many_runs,
    // errc::insufficient_credits (the run ended failed, nothing executed),
    // idempotency_key_reused / idempotency_key_in_flight.
    caf::replies_to<runstart_atom, run_start>::with<run_row>,
    // Recovery: drive a claimed run to its end.
    caf::reacts_to<runresume_atom, run_row>,
    // A saga asks for an execution slot: answered when one is free (bounded queue).
    caf::replies_to<runslot_atom, std::string>::with<bool>,
    // A saga gives its slot back (or gives up waiting for one).
    caf::reacts_to<runfree_atom, std::string>>;

// What /metrics shows about runs; main records them into its registry.
struct run_observer {
  std::function<void()> on_started;
  // final status name, credits charged, seconds from creation to the end
  std::function<void(const std::string&, int64_t, double)> on_finished;
};

struct workflow_handles {
  workflow_store_actor store;
  run_supervisor_actor supervisor;
  caf::actor recovery;
};

// Spawns the store pool, the run supervisor and the recovery actor (which sweeps once at
// start-up and then every cfg.workflows.recovery_sweep_ms).
// REQUIRES: `policy` is set; `ledger` is alive.
workflow_handles spawn_workflows(caf::actor_system& sys, const config::config& cfg,
                                 ledger_actor ledger,
                                 std::shared_ptr<const outbound::target_policy> policy,
                                 run_observer observer, pool_stats_ptr store_stats = nullptr);

}  // namespace tally
