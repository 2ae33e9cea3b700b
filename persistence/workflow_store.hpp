#pragma once
// Workflow rows (workflows schema): definitions, runs and their step logs. Each function runs
// inside the caller's transaction and throws libpqxx exceptions; the calling actor converts
// them with to_errc(). Blocking: only the workflow store's detached workers call these.
// Audit records (DESIGN invariant 7) are appended in the same transaction as the change.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/workflow_records.hpp"

namespace tally::persistence {

// Runs claimed by one recovery sweep, at most.
inline constexpr int64_t recovery_claim_max = 100;

// Inserts `row` (id, owner, name, cost, executor set by the caller); returns it as stored.
workflow_row insert_workflow(pqxx::transaction_base& tx, const workflow_row& row,
                             const std::string& request_id);

// The owner's workflow, or nullopt when it does not exist, is deleted or is another user's.
std::optional<workflow_row> find_workflow(pqxx::transaction_base& tx, const std::string& owner_id,
                                          const std::string& workflow_id);

// A page of the owner's live workflows, newest first (query.limit + 1 rows at most, so the
// caller knows whether there is more).
workflow_page list_workflows(pqxx::transaction_base& tx, const page_query& query);

// Applies `change`; the updated row, or nullopt when find_workflow would find nothing.
std::optional<workflow_row> update_workflow(pqxx::transaction_base& tx,
                                            const workflow_change& change);

// Soft-deletes; false when find_workflow would find nothing.
bool delete_workflow(pqxx::transaction_base& tx, const std::string& owner_id,
                     const std::string& workflow_id, const std::string& request_id);

// Inserts a new run in status 'pending' with its lease. When `run.idempotency_key` names an
// earlier run of the same owner, inserts nothing and returns that run with is_existing set.
run_row insert_run(pqxx::transaction_base& tx, const run_row& run, int64_t lease_ms);

// The owner's run with its steps; nullopt when unknown, another user's, or still 'pending'
// (its reservation is being taken; nobody has been told its id).
std::optional<run_row> find_run(pqxx::transaction_base& tx, const std::string& owner_id,
                                const std::string& run_id);

// A page of one workflow's runs (not 'pending'), newest first; nullopt when the workflow is
// not the owner's (or deleted).
std::optional<run_page> list_runs(pqxx::transaction_base& tx, const page_query& query);

// Records one saga step and the run fields that change with it. Returns false, writing
// nothing, when the run's lease token is no longer `write.lease_token` (another saga
// claimed the run after this one's lease lapsed).
bool write_step(pqxx::transaction_base& tx, const step_write& write);

// Claims up to `limit` unfinished runs whose lease has lapsed: each gets a fresh lease token
// and `lease_ms` of lease. Returns them with their steps. Safe to run on several nodes at
// once (rows are locked and skipped).
std::vector<run_row> claim_unfinished_runs(pqxx::transaction_base& tx, int64_t limit,
                                           int64_t lease_ms);

}  // namespace tally::persistence
