#pragma once
// Workflows and run sagas as values (DESIGN "Workflows and sagas", invariant 6): what a
// workflow body and an executor config may hold, the run and step states, and the one
// decision every saga takes after each step — what to do next, given the run's step log.
// The saga actor and the recovery actor both call next_saga_action, so a run resumed after a
// crash follows exactly the rules of a run that never stopped. Pure: no I/O, no clock reads.
//
// A run's saga, step by step (each step is written 'started' before it is taken and marked
// after it):
//
//   reserve ──ok──> execute ──ok──> commit ──ok──> succeeded
//      │               │               └─not pending (expired)─> compensated
//      │               └─failed/timeout──> release ──> compensated
//      └─refused (402)──> failed
//
// A credit_cost of 0 takes no reservation (the ledger refuses zero amounts): reserve and
// commit are recorded as 'skipped', and a failed execution ends 'failed' (nothing to release).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "domain/validation.hpp"

namespace tally {

inline constexpr std::size_t workflow_name_code_points_max = 200;
inline constexpr std::size_t executor_url_bytes_max = 2048;
// A run's `input` (any JSON value) and an executor's stored `output`, serialized.
inline constexpr std::size_t run_input_bytes_max = 16 * 1024;
inline constexpr std::size_t run_output_bytes_max = 16 * 1024;
inline constexpr std::size_t run_error_bytes_max = 512;
// Hard ceilings for the configurable executor bounds (config may lower them).
inline constexpr int64_t executor_timeout_ms_ceiling = 120'000;
inline constexpr int64_t delay_ms_ceiling = 120'000;

enum class executor_type : uint8_t { noop = 1, delay, http };

const char* to_string(executor_type type);
std::optional<executor_type> parse_executor_type(std::string_view text);

// What a workflow runs. `delay_ms` only for delay; `url` and `timeout_ms` only for http.
struct executor_config {
  executor_type type = executor_type::noop;
  int64_t delay_ms = 0;
  std::string url;
  int64_t timeout_ms = 0;
};

// The configured bounds an executor config is validated against.
// REQUIRES (asserted by the parsers): 1 <= timeout_ms_default <= timeout_ms_max <=
// executor_timeout_ms_ceiling; 0 <= delay_ms_max <= delay_ms_ceiling.
struct executor_bounds {
  int64_t delay_ms_max = 60'000;
  int64_t timeout_ms_max = 30'000;
  int64_t timeout_ms_default = 10'000;
};

// Returns "" when `url` is a syntactically acceptable executor target: at most
// executor_url_bytes_max bytes of printable ASCII, scheme http or https (lower case), a
// non-empty host (a name of [A-Za-z0-9.-], an IPv4 literal, or a bracketed IPv6 literal), an
// optional port in 1..65535, then an optional path/query; no userinfo ('@' before the path),
// no fragment, no spaces. Otherwise a sentence saying what is wrong. Whether the target may be
// reached is the outbound target policy's question, not this one.
std::string url_syntax_problem(std::string_view url);

// Reads `executor` (a JSON object) from `body`: {type:"noop"} | {type:"delay", ms} |
// {type:"http", url, timeout_ms?}. Field errors are reported as "executor.<field>". Returns
// nullopt (with errors added) when anything is missing or out of bounds.
std::optional<executor_config> parse_executor(const nlohmann::json& body,
                                              const executor_bounds& bounds, field_errors& errors);

// The API/storage form: {"type":"delay","ms":250}, {"type":"http","url":...,"timeout_ms":...}.
nlohmann::json executor_json(const executor_config& config);

// Reads a stored executor (executor_json's output) back; errc::invalid_argument when it is
// not one (a corrupt row).
[[nodiscard]] caf::expected<executor_config> executor_from_json(const nlohmann::json& stored);

// How long one execution may take at most: the delay for delay, the timeout for http, 0 for
// noop. The saga's deadline and the reservation's TTL are built from it.
int64_t execution_ms_max(const executor_config& config);

// A new workflow: POST /v1/workflows.
struct workflow_draft {
  std::string name;
  int64_t credit_cost = 0;
  executor_config executor;
};

std::optional<workflow_draft> parse_workflow_draft(const nlohmann::json& body,
                                                   const executor_bounds& bounds,
                                                   field_errors& errors);

// PATCH /v1/workflows/{id}: every field optional; absent fields stay as they are.
struct workflow_patch {
  std::optional<std::string> name;
  std::optional<int64_t> credit_cost;
  std::optional<executor_config> executor;
};

std::optional<workflow_patch> parse_workflow_patch(const nlohmann::json& body,
                                                   const executor_bounds& bounds,
                                                   field_errors& errors);

// The status of a run. `pending` is internal (the reservation is being taken; the API never
// shows it). succeeded, failed and compensated are final. `failed`: ended with nothing ever
// reserved (the reservation was refused, or a zero-cost run failed). `compensated`: a
// reservation was taken and then released (execution failed, timed out, was interrupted by a
// crash, or the reservation expired before it could be committed). Either way nothing was
// charged, and the status is written only after the release committed (API.md).
enum class run_status : uint8_t { pending = 1, reserved, running, succeeded, failed, compensated };

const char* to_string(run_status status);
std::optional<run_status> parse_run_status(std::string_view text);
bool is_final(run_status status);

enum class step_name : uint8_t { reserve = 1, execute, commit, release };
enum class step_status : uint8_t { started = 1, succeeded, failed, skipped };

const char* to_string(step_name name);
std::optional<step_name> parse_step_name(std::string_view text);
const char* to_string(step_status status);
std::optional<step_status> parse_step_status(std::string_view text);

struct step_record {
  step_name name = step_name::reserve;
  step_status status = step_status::started;
};

// `normal`: the saga that created the run. `recovery`: a saga resuming a run after its engine
// died; it never starts an execution (at-most-once), it only finishes ledger steps.
enum class saga_mode : uint8_t { normal = 1, recovery };

enum class saga_action : uint8_t {
  none = 1,         // the run is final
  reserve,          // write reserve 'started', reserve credit_cost (key run:<id>:reserve)
  skip_reserve,     // zero cost: write reserve 'skipped'
  execute,          // write execute 'started', run the executor
  abandon_execute,  // recovery: an execution a dead engine started; write it 'failed'
  commit,           // write commit 'started', commit the whole reservation
  skip_commit,      // zero cost: write commit 'skipped' (the run succeeded)
  release,          // write release 'started', release the reservation
  finish,           // write `final_status`; no ledger call
};

struct saga_decision {
  saga_action action = saga_action::none;
  run_status final_status = run_status::failed;  // only for finish
};

// What the saga does next for a run in `status` with `credit_cost` whose step log is `steps`
// (at most one record per step name, in any order).
//   - Recovery never starts an execution: a run whose execute step was never written is
//     released (or failed when nothing was reserved); one whose execute step is 'started' is
//     abandoned (marked failed, then released): the engine cannot know whether the side
//     effect happened, and charging for an unknown outcome is worse than not charging.
//   - A ledger step found 'started' is taken again: its idempotency key makes the replay
//     harmless, and the ledger answers with the first outcome.
//   - A reserve step 'started' in recovery is replayed too (to learn the reservation id) and
//     then released; one never written at all means nothing was reserved.
// REQUIRES: credit_cost >= 0; no step name appears twice.
saga_decision next_saga_action(run_status status, int64_t credit_cost,
                               const std::vector<step_record>& steps, saga_mode mode);

// The run status to store together with a step record: reserve ok/skipped -> reserved,
// reserve failed -> failed, execute started -> running, commit ok / skipped -> succeeded,
// commit failed (reservation no longer pending) -> compensated, release ok -> compensated;
// anything else leaves `current` unchanged.
run_status status_after_step(run_status current, step_name name, step_status status);

// Seconds the run's reservation lives: long enough to cover the wait for an execution slot,
// the execution itself and the ledger steps around it, so that expiry stays the last safety
// net and never the normal path. REQUIRES: both arguments >= 0.
int64_t reservation_ttl_s(int64_t queue_wait_ms_max, int64_t execution_ms);

}  // namespace tally
