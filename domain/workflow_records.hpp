#pragma once
// Workflow records: plain values exchanged between the workflow actors, the HTTP layer and
// persistence (see actors/workflows.hpp for who sends what). They carry `inspect` so CAF can
// copy them as message payloads. JSON travels as serialized text.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace tally {

struct workflow_row {
  std::string workflow_id;
  std::string owner_id;
  std::string name;
  int64_t credit_cost = 0;
  std::string executor_json;  // domain executor_json()
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// PATCH: the fields to change (has_* false: keep).
struct workflow_change {
  std::string owner_id;
  std::string workflow_id;
  bool has_name = false;
  std::string name;
  bool has_credit_cost = false;
  int64_t credit_cost = 0;
  bool has_executor = false;
  std::string executor_json;
  std::string request_id;
};

// One step of a run's saga log (domain step_name / step_status by name).
struct run_step {
  std::string name;
  std::string status;
  int32_t attempts = 1;
  std::string detail;
  int64_t started_at_ms = 0;
  int64_t at_ms = 0;  // the last change
};

struct run_row {
  std::string run_id;
  std::string workflow_id;
  std::string owner_id;
  std::string status;  // domain run_status by name
  int64_t credit_cost = 0;
  std::string executor_json;
  std::string input_json;   // "" when none
  std::string output_json;  // "" when none
  std::string error;
  int64_t credits_reserved = 0;
  int64_t credits_charged = 0;
  std::string reservation_id;
  std::string idempotency_key;  // "runs:<client key>", "" when none
  std::string request_sha256;
  std::string lease_token;  // the saga incarnation allowed to write
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::vector<run_step> steps;
  bool is_existing = false;  // create: the idempotency key named an earlier run
};

// One saga write: a step record plus the run fields that change with it, in one
// transaction, conditional on the run's lease token.
struct step_write {
  std::string run_id;
  std::string lease_token;
  std::string step;         // "" when only the run changes
  std::string step_status;  // started, succeeded, failed, skipped
  std::string detail;
  std::string run_status;         // the status after this write
  int64_t credits_reserved = -1;  // -1: unchanged
  int64_t credits_charged = -1;   // -1: unchanged
  std::string reservation_id;     // "": unchanged
  std::string output_json;        // "": unchanged
  std::string error;              // "": unchanged
  int64_t lease_ms = 0;           // the lease from now on
  bool clear_idempotency_key = false;
  std::string audit_action;  // "" none, else e.g. "run.succeeded" (with owner as actor)
  int64_t audit_amount = -1;
};

// A keyset page query: the caller's items under `parent_id` (workflow id for runs, "" for
// workflows), after the cursor position (0/"" for the first page), `limit` + 1 fetched.
struct page_query {
  std::string owner_id;
  std::string parent_id;
  int64_t after_created_at_us = 0;
  std::string after_id;
  int32_t limit = 20;
};

struct workflow_page {
  std::vector<workflow_row> items;
  std::vector<int64_t> created_at_us;  // per item, for the next cursor
};

struct run_page {
  std::vector<run_row> items;
  std::vector<int64_t> created_at_us;
};

// POST /v1/workflows/{id}/runs, handed to the run supervisor.
struct run_start {
  workflow_row workflow;
  std::string input_json;
  std::string idempotency_key;
  std::string request_sha256;
  bool wait = false;
  std::string request_id;
};

// What one execution produced (executors::execution_result as a message).
struct execution_outcome {
  bool is_success = false;
  std::string output_json;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, execution_outcome& x) {
  return f(caf::meta::type_name("execution_outcome"), x.is_success, x.output_json, x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workflow_row& x) {
  return f(caf::meta::type_name("workflow_row"), x.workflow_id, x.owner_id, x.name, x.credit_cost,
           x.executor_json, x.created_at_ms, x.updated_at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workflow_change& x) {
  return f(caf::meta::type_name("workflow_change"), x.owner_id, x.workflow_id, x.has_name, x.name,
           x.has_credit_cost, x.credit_cost, x.has_executor, x.executor_json, x.request_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_step& x) {
  return f(caf::meta::type_name("run_step"), x.name, x.status, x.attempts, x.detail,
           x.started_at_ms, x.at_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_row& x) {
  return f(caf::meta::type_name("run_row"), x.run_id, x.workflow_id, x.owner_id, x.status,
           x.credit_cost, x.executor_json, x.input_json, x.output_json, x.error, x.credits_reserved,
           x.credits_charged, x.reservation_id, x.idempotency_key, x.request_sha256, x.lease_token,
           x.created_at_ms, x.updated_at_ms, x.steps, x.is_existing);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_write& x) {
  return f(caf::meta::type_name("step_write"), x.run_id, x.lease_token, x.step, x.step_status,
           x.detail, x.run_status, x.credits_reserved, x.credits_charged, x.reservation_id,
           x.output_json, x.error, x.lease_ms, x.clear_idempotency_key, x.audit_action,
           x.audit_amount);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, page_query& x) {
  return f(caf::meta::type_name("page_query"), x.owner_id, x.parent_id, x.after_created_at_us,
           x.after_id, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, workflow_page& x) {
  return f(caf::meta::type_name("workflow_page"), x.items, x.created_at_us);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_page& x) {
  return f(caf::meta::type_name("run_page"), x.items, x.created_at_us);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_start& x) {
  return f(caf::meta::type_name("run_start"), x.workflow, x.input_json, x.idempotency_key,
           x.request_sha256, x.wait, x.request_id);
}

}  // namespace tally
