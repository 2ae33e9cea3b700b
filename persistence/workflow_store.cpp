#include "persistence/workflow_store.hpp"

#include <unordered_map>

#include <nlohmann/json.hpp>

#include "persistence/audit_store.hpp"
#include "persistence/outbox.hpp"

namespace tally::persistence {
namespace {

constexpr const char* workflow_columns =
    "workflow_id::text, owner_id::text, name, credit_cost, executor::text, "
    "(extract(epoch FROM created_at) * 1000)::bigint, "
    "(extract(epoch FROM updated_at) * 1000)::bigint, "
    "(extract(epoch FROM created_at) * 1000000)::bigint";

constexpr const char* run_columns =
    "run_id::text, workflow_id::text, owner_id::text, status, credit_cost, executor::text, "
    "COALESCE(input::text, ''), COALESCE(output::text, ''), COALESCE(error, ''), "
    "credits_reserved, credits_charged, COALESCE(reservation_id::text, ''), "
    "COALESCE(idempotency_key, ''), COALESCE(request_sha256, ''), lease_token::text, "
    "(extract(epoch FROM created_at) * 1000)::bigint, "
    "(extract(epoch FROM updated_at) * 1000)::bigint, "
    "(extract(epoch FROM created_at) * 1000000)::bigint";

workflow_row to_workflow(const pqxx::row& row) {
  workflow_row w;
  w.workflow_id = row[0].as<std::string>();
  w.owner_id = row[1].as<std::string>();
  w.name = row[2].as<std::string>();
  w.credit_cost = row[3].as<int64_t>();
  w.executor_json = row[4].as<std::string>();
  w.created_at_ms = row[5].as<int64_t>();
  w.updated_at_ms = row[6].as<int64_t>();
  return w;
}

run_row to_run(const pqxx::row& row) {
  run_row r;
  r.run_id = row[0].as<std::string>();
  r.workflow_id = row[1].as<std::string>();
  r.owner_id = row[2].as<std::string>();
  r.status = row[3].as<std::string>();
  r.credit_cost = row[4].as<int64_t>();
  r.executor_json = row[5].as<std::string>();
  r.input_json = row[6].as<std::string>();
  r.output_json = row[7].as<std::string>();
  r.error = row[8].as<std::string>();
  r.credits_reserved = row[9].as<int64_t>();
  r.credits_charged = row[10].as<int64_t>();
  r.reservation_id = row[11].as<std::string>();
  r.idempotency_key = row[12].as<std::string>();
  r.request_sha256 = row[13].as<std::string>();
  r.lease_token = row[14].as<std::string>();
  r.created_at_ms = row[15].as<int64_t>();
  r.updated_at_ms = row[16].as<int64_t>();
  return r;
}

// Loads the steps of every run in `runs` with one query (in the order the saga took them).
void load_steps(pqxx::transaction_base& tx, std::vector<run_row>& runs) {
  if (runs.empty()) {
    return;
  }
  std::string ids = "{";
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    ids += (i ? "," : "") + runs[i].run_id;
    index.emplace(runs[i].run_id, i);
  }
  ids += "}";
  auto result = tx.exec_params(
      "SELECT run_id::text, name, status, attempts, COALESCE(detail, ''), "
      "(extract(epoch FROM started_at) * 1000)::bigint, "
      "(extract(epoch FROM updated_at) * 1000)::bigint "
      "FROM workflows.steps WHERE run_id = ANY($1::uuid[]) "
      "ORDER BY run_id, array_position(ARRAY['reserve','execute','commit','release'], name)",
      ids);
  for (const auto& row : result) {
    run_step step;
    step.name = row[1].as<std::string>();
    step.status = row[2].as<std::string>();
    step.attempts = row[3].as<int32_t>();
    step.detail = row[4].as<std::string>();
    step.started_at_ms = row[5].as<int64_t>();
    step.at_ms = row[6].as<int64_t>();
    runs[index.at(row[0].as<std::string>())].steps.push_back(std::move(step));
  }
}

bool is_final_status(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "compensated";
}

}  // namespace

workflow_row insert_workflow(pqxx::transaction_base& tx, const workflow_row& row,
                             const std::string& request_id) {
  auto stored = tx.exec_params1(
      std::string("INSERT INTO workflows.definitions (workflow_id, owner_id, name, credit_cost, "
                  "executor) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING ") +
          workflow_columns,
      row.workflow_id, row.owner_id, row.name, row.credit_cost, row.executor_json);
  append_audit(tx, {"user:" + row.owner_id,
                    "workflow.created",
                    "workflow:" + row.workflow_id,
                    std::nullopt,
                    request_id,
                    "",
                    {{"credit_cost", row.credit_cost}, {"name", row.name}}});
  return to_workflow(stored);
}

std::optional<workflow_row> find_workflow(pqxx::transaction_base& tx, const std::string& owner_id,
                                          const std::string& workflow_id) {
  auto result = tx.exec_params(std::string("SELECT ") + workflow_columns +
                                   " FROM workflows.definitions WHERE workflow_id = $1 AND "
                                   "owner_id = $2 AND deleted_at IS NULL",
                               workflow_id, owner_id);
  if (result.empty()) {
    return std::nullopt;
  }
  return to_workflow(result[0]);
}

workflow_page list_workflows(pqxx::transaction_base& tx, const page_query& query) {
  auto result = tx.exec_params(
      std::string("SELECT ") + workflow_columns +
          " FROM workflows.definitions WHERE owner_id = $1 AND deleted_at IS NULL "
          "AND ($2 = '' OR (created_at, workflow_id) < "
          "(timestamptz 'epoch' + $3 * interval '1 microsecond', NULLIF($2, '')::uuid)) "
          "ORDER BY created_at DESC, workflow_id DESC LIMIT $4",
      query.owner_id, query.after_id, query.after_created_at_us, query.limit + 1);
  workflow_page page;
  for (const auto& row : result) {
    page.items.push_back(to_workflow(row));
    page.created_at_us.push_back(row[7].as<int64_t>());
  }
  return page;
}

std::optional<workflow_row> update_workflow(pqxx::transaction_base& tx,
                                            const workflow_change& change) {
  auto result = tx.exec_params(
      std::string("UPDATE workflows.definitions SET "
                  "name = CASE WHEN $3 THEN $4 ELSE name END, "
                  "credit_cost = CASE WHEN $5 THEN $6 ELSE credit_cost END, "
                  "executor = CASE WHEN $7 THEN $8::jsonb ELSE executor END, "
                  "updated_at = now() "
                  "WHERE workflow_id = $1 AND owner_id = $2 AND deleted_at IS NULL RETURNING ") +
          workflow_columns,
      change.workflow_id, change.owner_id, change.has_name, change.name, change.has_credit_cost,
      change.credit_cost, change.has_executor,
      change.has_executor ? change.executor_json : std::string("{}"));
  if (result.empty()) {
    return std::nullopt;
  }
  workflow_row row = to_workflow(result[0]);
  append_audit(tx, {"user:" + change.owner_id,
                    "workflow.updated",
                    "workflow:" + row.workflow_id,
                    std::nullopt,
                    change.request_id,
                    "",
                    {{"credit_cost", row.credit_cost}, {"name", row.name}}});
  return row;
}

bool delete_workflow(pqxx::transaction_base& tx, const std::string& owner_id,
                     const std::string& workflow_id, const std::string& request_id) {
  auto result = tx.exec_params(
      "UPDATE workflows.definitions SET deleted_at = now(), updated_at = now() "
      "WHERE workflow_id = $1 AND owner_id = $2 AND deleted_at IS NULL",
      workflow_id, owner_id);
  if (result.affected_rows() != 1) {
    return false;
  }
  append_audit(tx, {"user:" + owner_id, "workflow.deleted", "workflow:" + workflow_id, std::nullopt,
                    request_id, ""});
  return true;
}

run_row insert_run(pqxx::transaction_base& tx, const run_row& run, int64_t lease_ms) {
  auto inserted = tx.exec_params(
      std::string("INSERT INTO workflows.runs (run_id, workflow_id, owner_id, status, "
                  "credit_cost, executor, input, idempotency_key, request_sha256, lease_token, "
                  "lease_until) VALUES ($1, $2, $3, 'pending', $4, $5::jsonb, "
                  "NULLIF($6, '')::jsonb, NULLIF($7, ''), NULLIF($8, ''), $9, "
                  "now() + $10 * interval '1 millisecond') "
                  "ON CONFLICT DO NOTHING RETURNING ") +
          run_columns,
      run.run_id, run.workflow_id, run.owner_id, run.credit_cost, run.executor_json, run.input_json,
      run.idempotency_key, run.request_sha256, run.lease_token, lease_ms);
  if (!inserted.empty()) {
    return to_run(inserted[0]);
  }
  // The key is taken (the only other unique constraint is the fresh uuid).
  std::vector<run_row> existing{to_run(
      tx.exec_params1(std::string("SELECT ") + run_columns +
                          " FROM workflows.runs WHERE owner_id = $1 AND idempotency_key = $2",
                      run.owner_id, run.idempotency_key))};
  load_steps(tx, existing);
  existing[0].is_existing = true;
  return existing[0];
}

std::optional<run_row> find_run(pqxx::transaction_base& tx, const std::string& owner_id,
                                const std::string& run_id) {
  auto result = tx.exec_params(std::string("SELECT ") + run_columns +
                                   " FROM workflows.runs WHERE run_id = $1 AND owner_id = $2 "
                                   "AND status <> 'pending'",
                               run_id, owner_id);
  if (result.empty()) {
    return std::nullopt;
  }
  std::vector<run_row> runs{to_run(result[0])};
  load_steps(tx, runs);
  return runs[0];
}

std::optional<run_page> list_runs(pqxx::transaction_base& tx, const page_query& query) {
  if (!find_workflow(tx, query.owner_id, query.parent_id)) {
    return std::nullopt;
  }
  auto result = tx.exec_params(
      std::string("SELECT ") + run_columns +
          " FROM workflows.runs WHERE workflow_id = $1 AND owner_id = $2 "
          "AND status <> 'pending' "
          "AND ($3 = '' OR (created_at, run_id) < "
          "(timestamptz 'epoch' + $4 * interval '1 microsecond', NULLIF($3, '')::uuid)) "
          "ORDER BY created_at DESC, run_id DESC LIMIT $5",
      query.parent_id, query.owner_id, query.after_id, query.after_created_at_us, query.limit + 1);
  run_page page;
  for (const auto& row : result) {
    page.items.push_back(to_run(row));
    page.created_at_us.push_back(row[17].as<int64_t>());
  }
  load_steps(tx, page.items);
  return page;
}

bool write_step(pqxx::transaction_base& tx, const step_write& write) {
  const bool is_final = is_final_status(write.run_status);
  auto updated = tx.exec_params(
      "UPDATE workflows.runs SET status = $3, "
      "credits_reserved = CASE WHEN $4::bigint >= 0 THEN $4::bigint ELSE credits_reserved END, "
      "credits_charged = CASE WHEN $5::bigint >= 0 THEN $5::bigint ELSE credits_charged END, "
      "reservation_id = COALESCE(NULLIF($6, '')::uuid, reservation_id), "
      "output = COALESCE(NULLIF($7, '')::jsonb, output), "
      "error = COALESCE(NULLIF($8, ''), error), "
      "lease_until = now() + $9::bigint * interval '1 millisecond', "
      "idempotency_key = CASE WHEN $10 THEN NULL ELSE idempotency_key END, "
      "finished_at = CASE WHEN $11 THEN now() ELSE NULL END, updated_at = now() "
      "WHERE run_id = $1 AND lease_token = $2 RETURNING owner_id::text",
      write.run_id, write.lease_token, write.run_status, write.credits_reserved,
      write.credits_charged, write.reservation_id, write.output_json, write.error, write.lease_ms,
      write.clear_idempotency_key, is_final);
  if (updated.empty()) {
    return false;
  }
  if (!write.step.empty()) {
    tx.exec_params(
        "INSERT INTO workflows.steps (run_id, name, status, detail) "
        "VALUES ($1, $2, $3, NULLIF($4, '')) ON CONFLICT (run_id, name) DO UPDATE SET "
        "status = EXCLUDED.status, detail = COALESCE(EXCLUDED.detail, workflows.steps.detail), "
        "attempts = workflows.steps.attempts + "
        "CASE WHEN EXCLUDED.status = 'started' THEN 1 ELSE 0 END, updated_at = now()",
        write.run_id, write.step, write.step_status, write.detail);
  }
  if (!write.audit_action.empty()) {
    const std::string owner = updated[0][0].as<std::string>();
    std::optional<int64_t> amount;
    if (write.audit_amount >= 0) {
      amount = write.audit_amount;
    }
    append_audit(tx, {"user:" + owner,
                      write.audit_action,
                      "run:" + write.run_id,
                      amount,
                      "",
                      "",
                      {{"status", write.run_status}}});
    // The run's event (run.started/succeeded/failed/compensated) commits with
    // the step. Its id is derived from the run and the action, so a step
    // written again after a crash announces nothing twice.
    const std::string event_id = tx.exec_params1("SELECT md5($1 || ':' || $2)::uuid::text",
                                                 write.run_id, write.audit_action)[0]
                                     .as<std::string>();
    const nlohmann::json data = {{"run_id", write.run_id},
                                 {"user_id", owner},
                                 {"status", write.run_status},
                                 {"credits", amount.value_or(0)}};
    append_event(tx, "workflows",
                 {event_id, write.audit_action, "runs/" + write.run_id, owner, data.dump()});
  }
  return true;
}

std::vector<run_row> claim_unfinished_runs(pqxx::transaction_base& tx, int64_t limit,
                                           int64_t lease_ms) {
  auto result = tx.exec_params(
      std::string("UPDATE workflows.runs SET lease_token = gen_random_uuid(), "
                  "lease_until = now() + $2 * interval '1 millisecond' "
                  "WHERE run_id IN (SELECT run_id FROM workflows.runs "
                  "WHERE status IN ('pending', 'reserved', 'running') AND lease_until < now() "
                  "ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING ") +
          run_columns,
      std::min(limit, recovery_claim_max), lease_ms);
  std::vector<run_row> runs;
  for (const auto& row : result) {
    runs.push_back(to_run(row));
  }
  load_steps(tx, runs);
  return runs;
}

}  // namespace tally::persistence
