// One saga actor per workflow run (DESIGN "Workflows and sagas", invariant 6): a cooperative
// actor that drives its run through reserve -> execute -> commit, or release, as
// next_saga_action (domain/workflow.hpp) decides from the run's step log. It owns no blocking
// call: the step log goes through the store pool's detached workers, credits through the
// ledger router, and each execution runs on a detached executor actor of its own.
//
//   create row ──> [decide] ──reserve──> ledger ──> [decide] ──execute──> slot ──> executor
//                     ^   (each step: log 'started', act, log the outcome)            │
//                     └───────────────────────────────────────────────────────────────┘
//                  ... until the decision is `none` (the run is final): then the saga quits.
//
// Every ledger call carries the key "run:<id>:<step>" and a fingerprint that depends only on
// the run, so a replay after a crash (or a retry here) is answered with the first outcome.
// Every store write is conditional on the run's lease token: a saga whose lease was taken
// over by recovery stops at its next write. A saga that cannot reach the ledger or the store
// after saga_attempts_max tries stops too; recovery resumes the run once its lease lapses.

#include <chrono>
#include <functional>
#include <random>

#include <caf/all.hpp>

#include "actors/workflow_internal.hpp"
#include "auth/auth.hpp"
#include "domain/assert.hpp"
#include "domain/backoff.hpp"
#include "domain/ledger.hpp"
#include "logging/log.hpp"

namespace tally {
namespace {

struct saga_state {
  static inline const char* name = "run_saga";
  run_row run;
  saga_mode mode = saga_mode::normal;
  bool was_pending = false;  // recovery of a run whose client was never answered
  saga_settings settings;
  saga_handles handles;
  caf::typed_response_promise<run_row> promise;
  bool has_promise = false;  // set while the client still waits for an answer
  bool wait = false;         // answer at the end rather than after the reservation
  bool holds_slot = false;
  std::function<void()> resume;  // what a delayed runstep_atom continues with
  std::minstd_rand random{std::random_device{}()};
};

using saga_self = caf::stateful_actor<saga_state>*;

void next(saga_self self);

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

run_status current_status(const saga_state& st) {
  auto status = parse_run_status(st.run.status);
  TALLY_ASSERT(status.has_value());
  return *status;
}

std::vector<step_record> step_log(const run_row& run) {
  std::vector<step_record> steps;
  for (const auto& s : run.steps) {
    auto name = parse_step_name(s.name);
    auto status = parse_step_status(s.status);
    TALLY_ASSERT(name.has_value());
    TALLY_ASSERT(status.has_value());
    steps.push_back({*name, *status});
  }
  return steps;
}

std::string bounded(std::string text, std::size_t bytes_max) {
  if (text.size() > bytes_max) {
    text.resize(bytes_max);
  }
  return text;
}

// Answers the client (once): the run as it is now.
void answer(saga_self self) {
  auto& st = self->state;
  if (st.has_promise) {
    st.has_promise = false;
    st.promise.deliver(st.run);
  }
}

void answer_error(saga_self self, const caf::error& err) {
  auto& st = self->state;
  if (st.has_promise) {
    st.has_promise = false;
    st.promise.deliver(err);
  }
}

// Stops driving the run; recovery resumes it once its lease lapses.
void give_up(saga_self self, const char* reason) {
  log::warn("run_saga_gave_up", {{"run_id", self->state.run.run_id}, {"reason", reason}});
  answer_error(self, caf::make_error(errc::storage_unavailable));
  self->quit();
}

// Runs `work` again after a backoff delay.
void retry_later(saga_self self, uint32_t attempt, std::function<void()> work) {
  auto& st = self->state;
  const auto delay =
      backoff_delay(attempt, std::chrono::milliseconds(200), std::chrono::milliseconds(2'000),
                    std::uniform_real_distribution<double>(0.0, 1.0)(st.random));
  st.resume = std::move(work);
  self->delayed_send(self, delay, runstep_atom_v);
}

void apply_locally(run_row& run, const step_write& w) {
  run.status = w.run_status;
  if (w.credits_reserved >= 0) {
    run.credits_reserved = w.credits_reserved;
  }
  if (w.credits_charged >= 0) {
    run.credits_charged = w.credits_charged;
  }
  if (!w.reservation_id.empty()) {
    run.reservation_id = w.reservation_id;
  }
  if (!w.output_json.empty()) {
    run.output_json = w.output_json;
  }
  if (!w.error.empty()) {
    run.error = w.error;
  }
  if (w.clear_idempotency_key) {
    run.idempotency_key.clear();
  }
  if (w.step.empty()) {
    return;
  }
  const int64_t now = now_ms();
  for (auto& step : run.steps) {
    if (step.name == w.step) {
      step.status = w.step_status;
      step.at_ms = now;
      return;
    }
  }
  run.steps.push_back(run_step{w.step, w.step_status, 1, w.detail, now, now});
}

// A write of step `name` reaching `status`, with the run status that goes with it.
step_write step_entry(const saga_state& st, step_name name, step_status status) {
  step_write w;
  w.run_id = st.run.run_id;
  w.lease_token = st.run.lease_token;
  w.step = to_string(name);
  w.step_status = to_string(status);
  w.run_status = to_string(status_after_step(current_status(st), name, status));
  w.lease_ms = st.settings.ledger_lease_ms();
  return w;
}

// Adds what a write that ends the run carries: the audit record and, for a run recovery ends
// before its client ever heard of it, the idempotency key released for a clean retry.
void mark_final(const saga_state& st, step_write& w) {
  auto status = parse_run_status(w.run_status);
  TALLY_ASSERT(status.has_value() && is_final(*status));
  w.audit_action = "run." + w.run_status;
  w.audit_amount = w.credits_charged >= 0 ? w.credits_charged : st.run.credits_charged;
  w.clear_idempotency_key = st.was_pending;
}

void observe_end(saga_self self) {
  const auto& st = self->state;
  if (st.settings.observer && st.settings.observer->on_finished) {
    const double seconds = static_cast<double>(now_ms() - st.run.created_at_ms) / 1000.0;
    st.settings.observer->on_finished(st.run.status, st.run.credits_charged, seconds);
  }
}

// Writes `w` (conditional on the lease), applies it here, then continues with `then`.
void persist(saga_self self, step_write w, std::function<void()> then, uint32_t attempt = 0) {
  auto& st = self->state;
  self->request(st.handles.store, st.settings.request_timeout, steplog_atom_v, w)
      .then(
          [=](bool is_owner) {
            if (!is_owner) {
              log::info("run_saga_lease_lost", {{"run_id", self->state.run.run_id}});
              answer_error(self, caf::make_error(errc::storage_unavailable));
              self->quit();
              return;
            }
            apply_locally(self->state.run, w);
            if (is_final(current_status(self->state))) {
              observe_end(self);
            }
            then();
          },
          [=](caf::error&) {
            if (attempt + 1 >= saga_attempts_max) {
              return give_up(self, "step log unreachable");
            }
            retry_later(self, attempt, [=] { persist(self, w, then, attempt + 1); });
          });
}

ledger_request ledger_request_for(const saga_state& st, entry_kind kind, step_name step) {
  ledger_request r;
  r.account_id = st.run.owner_id;
  r.kind = static_cast<uint8_t>(kind);
  r.idempotency_key = "run:" + st.run.run_id + ":" + to_string(step);
  // Depends only on the run, so every replay of the step matches the first request.
  r.request_sha256 = auth::sha256_hex(r.idempotency_key + ":" + std::to_string(st.run.credit_cost));
  r.reference_type = "workflow_run";
  r.reference_id = st.run.run_id;
  r.metadata_json =
      nlohmann::json{{"run_id", st.run.run_id}, {"workflow_id", st.run.workflow_id}}.dump();
  r.actor = "user:" + st.run.owner_id;
  r.reservation_id = st.run.reservation_id;
  return r;
}

bool is_transient(errc code) {
  return code != errc::insufficient_credits && code != errc::reservation_not_pending &&
         code != errc::reservation_not_found && code != errc::validation_failed &&
         code != errc::idempotency_key_reused;
}

// Sends `request` to the ledger; transient failures are retried with backoff. `on_receipt`
// gets the receipt, `on_refused` a permanent refusal.
void ledger_call(saga_self self, ledger_request request,
                 std::function<void(const ledger_receipt&)> on_receipt,
                 std::function<void(errc)> on_refused, uint32_t attempt = 0) {
  auto& st = self->state;
  self->request(st.handles.ledger, st.settings.request_timeout, mutate_atom_v, request)
      .then([=](ledger_receipt& receipt) { on_receipt(receipt); },
            [=](caf::error& err) {
              errc code = errc::upstream_timeout;
              as_errc(err, code);
              if (!is_transient(code)) {
                return on_refused(code);
              }
              if (attempt + 1 >= saga_attempts_max) {
                return give_up(self, "ledger unreachable");
              }
              retry_later(self, attempt,
                          [=] { ledger_call(self, request, on_receipt, on_refused, attempt + 1); });
            });
}

void do_reserve(saga_self self) {
  auto& st = self->state;
  TALLY_ASSERT(st.run.credit_cost > 0);
  persist(self, step_entry(st, step_name::reserve, step_status::started), [self] {
    auto& s = self->state;
    ledger_request request = ledger_request_for(s, entry_kind::reserve, step_name::reserve);
    request.amount = s.run.credit_cost;
    auto config = executor_from_json(nlohmann::json::parse(s.run.executor_json));
    TALLY_ASSERT(static_cast<bool>(config));
    request.ttl_s = reservation_ttl_s(s.settings.queue_wait_ms_max, execution_ms_max(*config));
    request.reservation_id.clear();
    ledger_call(
        self, request,
        [self](const ledger_receipt& receipt) {
          auto& s2 = self->state;
          TALLY_ASSERT(receipt.reservation_amount == s2.run.credit_cost);
          step_write w = step_entry(s2, step_name::reserve, step_status::succeeded);
          w.credits_reserved = receipt.reservation_amount;
          w.reservation_id = receipt.reservation_id;
          w.audit_action = "run.started";
          w.audit_amount = receipt.reservation_amount;
          w.lease_ms = s2.settings.queue_wait_ms_max + saga_lease_grace.count();
          persist(self, w, [self] {
            if (self->state.settings.observer && self->state.settings.observer->on_started) {
              self->state.settings.observer->on_started();
            }
            if (!self->state.wait) {
              answer(self);
            }
            next(self);
          });
        },
        [self](errc code) {
          // Only a refusal (402) ends a reservation for good; the run never executes.
          step_write w = step_entry(self->state, step_name::reserve, step_status::failed);
          w.detail = to_string(code);
          w.error = code == errc::insufficient_credits
                        ? "insufficient credits"
                        : std::string("reservation refused: ") + to_string(code);
          mark_final(self->state, w);
          persist(self, w, [self, code] {
            answer_error(self, caf::make_error(code));
            next(self);
          });
        });
  });
}

void do_skip_reserve(saga_self self) {
  step_write w = step_entry(self->state, step_name::reserve, step_status::skipped);
  w.credits_reserved = 0;
  w.audit_action = "run.started";
  w.audit_amount = 0;
  w.lease_ms = self->state.settings.queue_wait_ms_max + saga_lease_grace.count();
  persist(self, w, [self] {
    if (self->state.settings.observer && self->state.settings.observer->on_started) {
      self->state.settings.observer->on_started();
    }
    if (!self->state.wait) {
      answer(self);
    }
    next(self);
  });
}

void free_slot(saga_self self) {
  auto& st = self->state;
  if (st.holds_slot) {
    st.holds_slot = false;
  }
  self->send(st.handles.supervisor, runfree_atom_v, st.run.run_id);
}

// One execution on a thread of its own (the executor may block for its whole bound), then
// the actor quits.
execution_outcome execute_stored(const std::string& run_id, const std::string& input_json,
                                 const std::string& executor_json,
                                 const executors::executor_options& options) {
  auto parsed = nlohmann::json::parse(executor_json, nullptr, false);
  auto config = executor_from_json(parsed);
  if (!config) {
    return {false, "", "the stored executor config is unreadable"};
  }
  auto executor = executors::make_executor(*config, options);
  auto result = executor->execute({run_id, input_json, *config});
  return {result.is_success, result.output_json, result.error};
}

caf::behavior executor_behavior(caf::event_based_actor* self,
                                executors::executor_options options) {
  return {
      [=](runexec_atom, const std::string& run_id, const std::string& input_json,
          const std::string& executor_json) -> caf::result<execution_outcome> {
        auto promise = self->make_response_promise<execution_outcome>();
        promise.deliver(execute_stored(run_id, input_json, executor_json, options));
        self->quit();  // one execution per executor actor
        return promise;
      },
  };
}

void finish_execute(saga_self self, const execution_outcome& outcome) {
  free_slot(self);
  step_write w = step_entry(self->state, step_name::execute,
                            outcome.is_success ? step_status::succeeded : step_status::failed);
  if (outcome.is_success) {
    w.output_json = outcome.output_json.size() <= run_output_bytes_max ? outcome.output_json : "";
  } else {
    w.error =
        bounded(outcome.error.empty() ? "execution failed" : outcome.error, run_error_bytes_max);
    w.detail = w.error;
  }
  persist(self, w, [self] { next(self); });
}

void run_executor(saga_self self) {
  auto& st = self->state;
  auto config = executor_from_json(nlohmann::json::parse(st.run.executor_json));
  TALLY_ASSERT(static_cast<bool>(config));
  const int64_t execution_ms = execution_ms_max(*config);
  step_write w = step_entry(st, step_name::execute, step_status::started);
  w.lease_ms = execution_ms + saga_lease_grace.count();
  persist(self, w, [self, execution_ms] {
    auto& s = self->state;
    auto worker = self->spawn<caf::detached>(executor_behavior, s.settings.executor);
    // The executor bounds itself (delay ms, http timeout); this is the backstop.
    const auto deadline = std::chrono::milliseconds(execution_ms) + std::chrono::seconds(5);
    self->request(worker, deadline, runexec_atom_v, s.run.run_id, s.run.input_json,
                  s.run.executor_json)
        .then([self](execution_outcome& outcome) { finish_execute(self, outcome); },
              [self](caf::error&) {
                finish_execute(self, execution_outcome{false, "", "executor timed out"});
              });
  });
}

void do_execute(saga_self self) {
  auto& st = self->state;
  TALLY_ASSERT(st.mode == saga_mode::normal);  // recovery never executes (at-most-once)
  self->request(st.handles.supervisor, std::chrono::milliseconds(st.settings.queue_wait_ms_max),
                runslot_atom_v, st.run.run_id)
      .then(
          [self](bool granted) {
            if (granted) {
              self->state.holds_slot = true;
              return run_executor(self);
            }
            free_slot(self);
            step_write w = step_entry(self->state, step_name::execute, step_status::skipped);
            w.error = "the engine is shutting down";
            persist(self, w, [self] { next(self); });
          },
          [self](caf::error&) {
            free_slot(self);  // leaves the queue
            step_write w = step_entry(self->state, step_name::execute, step_status::skipped);
            w.error = "waited too long for an execution slot";
            w.detail = w.error;
            persist(self, w, [self] { next(self); });
          });
}

void do_abandon_execute(saga_self self) {
  step_write w = step_entry(self->state, step_name::execute, step_status::failed);
  w.error = "interrupted by an engine restart; not retried (at-most-once execution)";
  w.detail = "abandoned by recovery";
  persist(self, w, [self] { next(self); });
}

void do_commit(saga_self self) {
  persist(self, step_entry(self->state, step_name::commit, step_status::started), [self] {
    ledger_request request = ledger_request_for(self->state, entry_kind::commit, step_name::commit);
    request.commit_all = true;
    ledger_call(
        self, request,
        [self](const ledger_receipt& receipt) {
          step_write w = step_entry(self->state, step_name::commit, step_status::succeeded);
          w.credits_charged = receipt.committed_amount;
          mark_final(self->state, w);
          persist(self, w, [self] { next(self); });
        },
        [self](errc code) {
          // Not pending any more: expiry released it before we could charge.
          step_write w = step_entry(self->state, step_name::commit, step_status::failed);
          w.detail = to_string(code);
          w.error = "the reservation expired before it could be committed; nothing charged";
          w.credits_charged = 0;
          mark_final(self->state, w);
          persist(self, w, [self] { next(self); });
        });
  });
}

void do_skip_commit(saga_self self) {
  step_write w = step_entry(self->state, step_name::commit, step_status::skipped);
  w.credits_charged = 0;
  mark_final(self->state, w);
  persist(self, w, [self] { next(self); });
}

void do_release(saga_self self) {
  persist(self, step_entry(self->state, step_name::release, step_status::started), [self] {
    ledger_request request =
        ledger_request_for(self->state, entry_kind::release, step_name::release);
    auto released = [self](const std::string& detail) {
      step_write w = step_entry(self->state, step_name::release, step_status::succeeded);
      w.detail = detail;
      w.credits_charged = 0;
      mark_final(self->state, w);
      persist(self, w, [self] { next(self); });
    };
    ledger_call(
        self, request, [released](const ledger_receipt&) { released(""); },
        // Not pending: expiry (or an earlier release) already gave the credits back.
        [released](errc code) { released(to_string(code)); });
  });
}

void do_finish(saga_self self, run_status final_status) {
  step_write w;
  w.run_id = self->state.run.run_id;
  w.lease_token = self->state.run.lease_token;
  w.run_status = to_string(final_status);
  w.lease_ms = self->state.settings.ledger_lease_ms();
  if (final_status != run_status::succeeded && self->state.run.error.empty()) {
    w.error = "ended by recovery before it executed";
  }
  mark_final(self->state, w);
  persist(self, w, [self] { next(self); });
}

void next(saga_self self) {
  auto& st = self->state;
  const saga_decision decision =
      next_saga_action(current_status(st), st.run.credit_cost, step_log(st.run), st.mode);
  switch (decision.action) {
    case saga_action::none:
      answer(self);  // a waiting client gets the final run
      return self->quit();
    case saga_action::reserve:
      return do_reserve(self);
    case saga_action::skip_reserve:
      return do_skip_reserve(self);
    case saga_action::execute:
      return do_execute(self);
    case saga_action::abandon_execute:
      return do_abandon_execute(self);
    case saga_action::commit:
      return do_commit(self);
    case saga_action::skip_commit:
      return do_skip_commit(self);
    case saga_action::release:
      return do_release(self);
    case saga_action::finish:
      return do_finish(self, decision.final_status);
  }
}

// Runs the continuation a delayed runstep_atom was scheduled for.
void on_runstep(saga_self self) {
  auto work = std::move(self->state.resume);
  self->state.resume = nullptr;
  if (work) {
    work();
  }
}

// The behavior of a resumed run: delayed continuations only.
caf::behavior saga_behavior(saga_self self) {
  self->set_default_handler(caf::drop);
  return {
      [=](runstep_atom) { on_runstep(self); },
  };
}

// Answers a POST whose Idempotency-Key named an earlier run (API.md "Common rules").
void answer_existing(saga_self self, const run_row& existing, const run_start& start) {
  if (existing.request_sha256 != start.request_sha256) {
    return answer_error(self, caf::make_error(errc::idempotency_key_reused));
  }
  if (existing.status == to_string(run_status::pending)) {
    return answer_error(self, caf::make_error(errc::idempotency_key_in_flight));
  }
  if (existing.status == to_string(run_status::failed) && existing.credits_reserved == 0 &&
      existing.credit_cost > 0) {
    return answer_error(self, caf::make_error(errc::insufficient_credits));  // the first 402
  }
  auto& st = self->state;
  if (st.has_promise) {
    st.has_promise = false;
    st.promise.deliver(existing);
  }
}

// A new run: creates its row (pending) and drives it; answers the runstart request.
caf::result<run_row> begin_new_run(saga_self self, const run_start& start) {
  auto& st = self->state;
  TALLY_ASSERT(!st.has_promise);
  TALLY_ASSERT(st.run.run_id.empty());  // one run per saga
  st.promise = self->make_response_promise<run_row>();
  st.has_promise = true;
  st.wait = start.wait;
  run_row run;
  run.run_id = auth::new_uuid_v4();
  run.workflow_id = start.workflow.workflow_id;
  run.owner_id = start.workflow.owner_id;
  run.status = to_string(run_status::pending);
  run.credit_cost = start.workflow.credit_cost;
  run.executor_json = start.workflow.executor_json;
  run.input_json = start.input_json;
  run.idempotency_key = start.idempotency_key;
  run.request_sha256 = start.request_sha256;
  run.lease_token = auth::new_uuid_v4();
  if (start.wait) {
    self->delayed_send(self, std::chrono::milliseconds(st.settings.run_wait_ms_max), tick_atom_v);
  }
  self->request(st.handles.store, st.settings.request_timeout, runcreate_atom_v, run,
                st.settings.ledger_lease_ms())
      .then(
          [self, start](run_row& stored) {
            if (stored.is_existing) {
              answer_existing(self, stored, start);
              return self->quit();
            }
            self->state.run = std::move(stored);
            next(self);
          },
          [self](caf::error& err) {
            answer_error(self, err);
            self->quit();
          });
  return st.promise;
}

caf::behavior new_saga(saga_self self, saga_handles handles, saga_settings settings) {
  auto& st = self->state;
  st.handles = std::move(handles);
  st.settings = std::move(settings);
  self->set_default_handler(caf::drop);
  return {
      [=](runstart_atom, const run_start& start) { return begin_new_run(self, start); },
      [=](runstep_atom) { on_runstep(self); },
      // ?wait=true ran out of time: answer with the run as it is, keep driving it.
      [=](tick_atom) { answer(self); },
  };
}

caf::behavior recovery_saga(saga_self self, saga_handles handles, saga_settings settings,
                            run_row run) {
  auto& st = self->state;
  st.handles = std::move(handles);
  st.settings = std::move(settings);
  st.mode = saga_mode::recovery;
  st.was_pending = run.status == to_string(run_status::pending);
  st.run = std::move(run);
  log::info("run_recovering", {{"run_id", st.run.run_id}, {"status", st.run.status}});
  self->send(self, runstep_atom_v);
  st.resume = [self] { next(self); };
  return saga_behavior(self);
}

}  // namespace

caf::actor spawn_new_run_saga(caf::actor_system& sys, saga_handles handles,
                              saga_settings settings) {
  return sys.spawn(new_saga, std::move(handles), std::move(settings));
}

caf::actor spawn_recovery_saga(caf::actor_system& sys, saga_handles handles, saga_settings settings,
                               run_row run) {
  return sys.spawn(recovery_saga, std::move(handles), std::move(settings), std::move(run));
}

}  // namespace tally
