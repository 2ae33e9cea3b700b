// The run supervisor and the recovery actor (actors/workflows.hpp), and their wiring.
//
// Supervisor: admits new runs under the per-user cap and under the global bound on runs that
// are executing or waiting to (runs_executing_max + queue_depth_max), so the queue of reserved
// runs waiting for an execution slot can never grow past queue_depth_max. It monitors every
// saga it spawns; a saga's end (normal or not) frees its user's count and its slot.
//
// Recovery: claims unfinished runs whose lease lapsed (a dead engine's, or a saga that gave
// up) once at start-up and then every recovery_sweep_ms, and hands each to the supervisor,
// which spawns a recovery saga unless a saga of this engine already drives that run.

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/workflow_internal.hpp"
#include "domain/assert.hpp"
#include "logging/log.hpp"
#include "persistence/workflow_store.hpp"

namespace tally {
namespace {

// Where an admitted new run is with respect to execution slots.
enum class slot_phase : uint8_t { admitted, queued, executing, done };

struct saga_entry {
  std::string run_id;  // known once the saga asks for a slot (or at once for recovery)
  std::string owner_id;
  bool counts_for_caps = false;  // new runs count; recovered ones never execute
  slot_phase phase = slot_phase::admitted;
};

struct queued_slot {
  caf::actor_addr saga;
  caf::typed_response_promise<bool> promise;
};

struct supervisor_state {
  static inline const char* name = "run_supervisor";
  config::workflow_settings limits;
  saga_handles handles;
  saga_settings settings;
  std::unordered_map<caf::actor_addr, saga_entry> sagas;
  std::unordered_set<std::string> active_runs;  // runs some saga of this engine drives
  std::unordered_map<std::string, uint32_t> unfinished_per_user;
  std::size_t waiting_count = 0;    // new runs admitted or queued, without a slot yet
  std::size_t executing_count = 0;  // slots held
  std::deque<queued_slot> queue;    // <= runs_executing_max + queue_depth_max (admission)
};

using supervisor_self = run_supervisor_actor::stateful_pointer<supervisor_state>;

void check_counts(const supervisor_state& st) {
  TALLY_ASSERT(st.executing_count <= st.limits.runs_executing_max);
  TALLY_ASSERT(st.queue.size() <= st.waiting_count);
}

void to_executing(supervisor_state& st, saga_entry& entry) {
  TALLY_ASSERT(entry.phase == slot_phase::admitted || entry.phase == slot_phase::queued);
  entry.phase = slot_phase::executing;
  --st.waiting_count;
  ++st.executing_count;
}

void grant_queued(supervisor_self self) {
  auto& st = self->state;
  while (!st.queue.empty() && st.executing_count < st.limits.runs_executing_max) {
    queued_slot next = std::move(st.queue.front());
    st.queue.pop_front();
    auto it = st.sagas.find(next.saga);
    TALLY_ASSERT(it != st.sagas.end());
    to_executing(st, it->second);
    next.promise.deliver(true);
  }
  check_counts(st);
}

// Takes `saga` out of the slot queue; false when it was not queued.
bool leave_queue(supervisor_state& st, const caf::actor_addr& saga, bool answer) {
  auto it = std::find_if(st.queue.begin(), st.queue.end(),
                         [&](const queued_slot& q) { return q.saga == saga; });
  if (it == st.queue.end()) {
    return false;
  }
  if (answer) {
    it->promise.deliver(false);
  }
  st.queue.erase(it);
  return true;
}

// A saga gives its slot back after executing, or gives up waiting for one.
void free_run(supervisor_self self) {
  auto& st = self->state;
  const auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto it = st.sagas.find(sender);
  if (it == st.sagas.end()) {
    return;
  }
  saga_entry& entry = it->second;
  if (entry.phase == slot_phase::executing) {
    entry.phase = slot_phase::done;
    --st.executing_count;
    grant_queued(self);
  } else if (entry.phase == slot_phase::queued) {
    leave_queue(st, sender, true);
    entry.phase = slot_phase::admitted;  // still counted until the saga ends
  }
  check_counts(st);
}

void on_saga_down(supervisor_self self, const caf::down_msg& down) {
  auto& st = self->state;
  auto it = st.sagas.find(down.source);
  if (it == st.sagas.end()) {
    return;
  }
  const saga_entry entry = it->second;
  st.sagas.erase(it);
  st.active_runs.erase(entry.run_id);
  if (!entry.counts_for_caps) {
    return;
  }
  switch (entry.phase) {
    case slot_phase::executing:
      --st.executing_count;
      grant_queued(self);
      break;
    case slot_phase::queued:
      leave_queue(st, down.source, false);  // its promise dies with the saga
      --st.waiting_count;
      break;
    case slot_phase::admitted:
      --st.waiting_count;
      break;
    case slot_phase::done:
      break;
  }
  auto user = st.unfinished_per_user.find(entry.owner_id);
  TALLY_ASSERT(user != st.unfinished_per_user.end() && user->second > 0);
  if (--user->second == 0) {
    st.unfinished_per_user.erase(user);
  }
  check_counts(st);
}

caf::result<run_row> on_start(supervisor_self self, const run_start& start) {
  auto& st = self->state;
  const std::string& owner = start.workflow.owner_id;
  auto user = st.unfinished_per_user.find(owner);
  if (user != st.unfinished_per_user.end() && user->second >= st.limits.runs_per_user_max) {
    return errc::too_many_runs;
  }
  // Refused before anything is reserved: a run admitted here always finds room in the queue.
  if (st.executing_count + st.waiting_count >=
      std::size_t{st.limits.runs_executing_max} + st.limits.queue_depth_max) {
    return errc::too_many_runs;
  }
  auto saga = spawn_new_run_saga(self->system(), st.handles, st.settings);
  self->monitor(saga);
  st.sagas.emplace(saga.address(), saga_entry{"", owner, true, slot_phase::admitted});
  ++st.unfinished_per_user[owner];
  ++st.waiting_count;
  // The saga answers once its reservation is taken, or at the end when waiting; each of its
  // store and ledger calls is bounded, with retries, and a saga that gives up answers too.
  const auto answer_timeout =
      std::chrono::milliseconds(start.wait ? st.settings.run_wait_ms_max : 0) +
      st.settings.request_timeout * (2 * saga_attempts_max + 1);
  auto promise = self->make_response_promise<run_row>();
  self->request(saga, answer_timeout, runstart_atom_v, start)
      .then([promise](run_row& run) mutable { promise.deliver(std::move(run)); },
            [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

void on_resume(supervisor_self self, const run_row& run) {
  auto& st = self->state;
  if (st.active_runs.count(run.run_id) > 0) {
    return;  // this engine drives it; the claim's new token stops the old saga at its next write
  }
  auto saga = spawn_recovery_saga(self->system(), st.handles, st.settings, run);
  self->monitor(saga);
  st.sagas.emplace(saga.address(), saga_entry{run.run_id, run.owner_id, false, slot_phase::done});
  st.active_runs.insert(run.run_id);
}

caf::result<bool> on_slot(supervisor_self self, const std::string& run_id) {
  auto& st = self->state;
  const auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto it = st.sagas.find(sender);
  if (it == st.sagas.end() || !it->second.counts_for_caps ||
      it->second.phase != slot_phase::admitted) {
    return false;  // not an admitted new run: never executes
  }
  saga_entry& entry = it->second;
  entry.run_id = run_id;
  st.active_runs.insert(run_id);
  if (st.executing_count < st.limits.runs_executing_max && st.queue.empty()) {
    to_executing(st, entry);
    check_counts(st);
    return true;
  }
  auto promise = self->make_response_promise<bool>();
  entry.phase = slot_phase::queued;
  st.queue.push_back(queued_slot{sender, promise});
  check_counts(st);
  return promise;
}

run_supervisor_actor::behavior_type supervisor_behavior(supervisor_self self,
                                                        config::workflow_settings limits,
                                                        saga_handles handles,
                                                        saga_settings settings) {
  auto& st = self->state;
  st.limits = std::move(limits);
  st.handles = std::move(handles);
  st.handles.supervisor = caf::actor_cast<run_supervisor_actor>(self);
  st.settings = std::move(settings);
  self->set_down_handler([self](caf::down_msg& down) { on_saga_down(self, down); });
  return {
      [=](runstart_atom, const run_start& start) { return on_start(self, start); },
      [=](runresume_atom, const run_row& run) { on_resume(self, run); },
      [=](runslot_atom, const std::string& run_id) { return on_slot(self, run_id); },
      [=](runfree_atom, const std::string&) { free_run(self); },
  };
}

struct recovery_state {
  static inline const char* name = "run_recovery";
};

caf::behavior recovery_behavior(caf::stateful_actor<recovery_state>* self,
                                workflow_store_actor store, run_supervisor_actor supervisor,
                                std::chrono::milliseconds period,
                                std::chrono::milliseconds request_timeout, int64_t lease_ms) {
  self->send(self, runsweep_atom_v);
  return {
      [=](runsweep_atom) {
        self->request(store, request_timeout, runclaim_atom_v, persistence::recovery_claim_max,
                      lease_ms)
            .then(
                [=](run_page& claimed) {
                  for (auto& run : claimed.items) {
                    self->send(supervisor, runresume_atom_v, run);
                  }
                  if (!claimed.items.empty()) {
                    log::info("runs_claimed_for_recovery", {{"count", claimed.items.size()}});
                  }
                  self->delayed_send(self, period, runsweep_atom_v);
                },
                [=](caf::error&) { self->delayed_send(self, period, runsweep_atom_v); });
      },
  };
}

}  // namespace

workflow_handles spawn_workflows(caf::actor_system& sys, const config::config& cfg,
                                 ledger_actor ledger,
                                 std::shared_ptr<const outbound::target_policy> policy,
                                 run_observer observer, pool_stats_ptr store_stats) {
  TALLY_ASSERT(policy != nullptr);
  saga_settings settings;
  settings.request_timeout = std::chrono::milliseconds(cfg.actors.request_timeout_ms);
  settings.queue_wait_ms_max = cfg.workflows.queue_wait_ms_max;
  settings.run_wait_ms_max = cfg.workflows.run_wait_ms_max;
  settings.executor.policy = std::move(policy);
  settings.observer = std::make_shared<const run_observer>(std::move(observer));
  workflow_handles out;
  out.store = spawn_workflow_store(sys, cfg, std::move(store_stats));
  saga_handles handles{out.store, std::move(ledger), {}};
  out.supervisor = sys.spawn(supervisor_behavior, cfg.workflows, handles, settings);
  out.recovery = sys.spawn(recovery_behavior, out.store, out.supervisor,
                           std::chrono::milliseconds(cfg.workflows.recovery_sweep_ms),
                           settings.request_timeout, settings.ledger_lease_ms());
  return out;
}

}  // namespace tally
