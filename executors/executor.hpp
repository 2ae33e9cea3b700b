#pragma once
// Workflow executors: what a run does between its reservation and its commit (DESIGN
// "Workflows and sagas"). One interface, three kinds:
//   noop   succeeds at once with {} as output;
//   delay  sleeps `ms` (bounded when the workflow was validated), then succeeds;
//   http   POSTs the run's input as JSON to the configured URL through the shared outbound
//          client (TLS, timeouts, the SSRF target policy), once: no retry, because a second
//          POST could repeat a side effect (at-most-once). A 2xx answer is success; any other
//          answer, a timeout, a refused target or an unreachable host is failure.
//
// Blocking by design: execute() may take up to the config's execution_ms_max. Call it only
// from a detached actor or a thread of its own. An instance serves one execution at a time
// (it is not thread-safe); make one per execution.

#include <chrono>
#include <memory>
#include <string>

#include "domain/workflow.hpp"

namespace tally::outbound {
class target_policy;
}

namespace tally::executors {

struct execution_request {
  std::string run_id;
  std::string input_json;  // "" when the run has no input (sent as null)
  executor_config config;
};

struct execution_result {
  bool is_success = false;
  std::string output_json;  // a JSON value, at most run_output_bytes_max bytes; "" when none
  std::string error;        // why it failed, for the run's `error` (no bodies, no headers)
};

class executor {
 public:
  virtual ~executor() = default;
  virtual execution_result execute(const execution_request& request) = 0;
};

struct executor_options {
  // Checked by the outbound client against every resolved address; never null.
  std::shared_ptr<const outbound::target_policy> policy;
  std::chrono::milliseconds connect_timeout{3'000};
  // Extra CA file for https targets (tests); "" for the system store only.
  std::string ca_file;
};

// The executor for `config`. REQUIRES: options.policy is set.
std::unique_ptr<executor> make_executor(const executor_config& config,
                                        const executor_options& options);

}  // namespace tally::executors
