#pragma once
// Private to the workflow actors (workflow_store_actor.cpp, run_saga.cpp, workflow_runs.cpp):
// how the supervisor spawns sagas and what a saga needs to know.

#include <chrono>
#include <memory>

#include <caf/actor.hpp>

#include "actors/workflows.hpp"
#include "domain/workflow.hpp"
#include "executors/executor.hpp"

namespace tally {

// A ledger call that fails for a transient reason (timeout, storage, overload) is tried this
// many times in all before the saga gives its run up to recovery.
inline constexpr uint32_t saga_attempts_max = 4;
// Time a lease covers beyond an execution's own bound.
inline constexpr std::chrono::milliseconds saga_lease_grace{10'000};

struct saga_settings {
  std::chrono::milliseconds request_timeout{5'000};  // store and ledger requests
  int64_t queue_wait_ms_max = 30'000;
  int64_t run_wait_ms_max = 30'000;
  executors::executor_options executor;
  std::shared_ptr<const run_observer> observer;

  // The lease a run holds while a ledger step (with its retries) is under way.
  int64_t ledger_lease_ms() const {
    return request_timeout.count() * (saga_attempts_max + 1) + saga_lease_grace.count();
  }
};

struct saga_handles {
  workflow_store_actor store;
  ledger_actor ledger;
  run_supervisor_actor supervisor;
};

// A new run's saga: it creates the run's row and drives it once sent
// (runstart_atom, run_start), which it answers like the supervisor's runstart.
caf::actor spawn_new_run_saga(caf::actor_system& sys, saga_handles handles, saga_settings settings);

// A run claimed by recovery: finishes its ledger side, never executes.
caf::actor spawn_recovery_saga(caf::actor_system& sys, saga_handles handles, saga_settings settings,
                               run_row run);

workflow_store_actor spawn_workflow_store(caf::actor_system& sys, const config::config& cfg,
                                          pool_stats_ptr stats);

}  // namespace tally
