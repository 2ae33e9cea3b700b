// Workflow endpoints (API.md "Workflows"): definitions and their runs. Handlers parse,
// validate, ask the workflow store or the run supervisor, respond. Another user's workflow or
// run is 404, exactly like one that does not exist (no existence leak).

#include <nlohmann/json.hpp>

#include "auth/auth.hpp"
#include "domain/cursor.hpp"
#include "domain/time_format.hpp"
#include "http/bridge.hpp"
#include "http/idempotency.hpp"
#include "http/problem.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"

namespace tally::http {
namespace {

bool is_uuid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

nlohmann::json parse_stored(const std::string& text) {
  if (text.empty()) {
    return nullptr;
  }
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

nlohmann::json workflow_json(const workflow_row& w) {
  return {{"id", w.workflow_id},
          {"name", w.name},
          {"credit_cost", w.credit_cost},
          {"executor", parse_stored(w.executor_json)},
          {"created_at", rfc3339_from_millis(w.created_at_ms)},
          {"updated_at", rfc3339_from_millis(w.updated_at_ms)}};
}

nlohmann::json run_json(const run_row& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps) {
    steps.push_back({{"name", s.name},
                     {"status", s.status},
                     {"at", rfc3339_from_millis(s.at_ms)},
                     {"started_at", rfc3339_from_millis(s.started_at_ms)},
                     {"attempts", s.attempts}});
  }
  nlohmann::json out{{"id", r.run_id},
                     {"workflow_id", r.workflow_id},
                     {"status", r.status},
                     {"credits_reserved", r.credits_reserved},
                     {"credits_charged", r.credits_charged},
                     {"steps", std::move(steps)},
                     {"created_at", rfc3339_from_millis(r.created_at_ms)},
                     {"updated_at", rfc3339_from_millis(r.updated_at_ms)}};
  if (!r.output_json.empty()) {
    out["output"] = parse_stored(r.output_json);
  }
  if (!r.error.empty()) {
    out["error"] = r.error;
  }
  return out;
}

// Reads ?limit and ?cursor into `query`; answers 400/422 itself and returns false on failure.
bool read_page(const exchange_ptr& ex, page_query& query) {
  auto limit_text = ex->query("limit");
  auto limit =
      parse_page_limit(limit_text ? std::optional<std::string_view>(*limit_text) : std::nullopt);
  if (!limit) {
    ex->respond_problem(validation_problem({{"limit", "must be an integer in 1..100"}}));
    return false;
  }
  query.limit = *limit;
  if (auto cursor = ex->query("cursor")) {
    auto position = decode_cursor(*cursor);
    if (!position || !is_uuid(position->id)) {
      ex->respond_error(errc::invalid_cursor);
      return false;
    }
    query.after_created_at_us = position->created_at_us;
    query.after_id = position->id;
  }
  return true;
}

// The page envelope: `limit` items at most; the extra row fetched says whether there is more.
template <class Row, class Render>
nlohmann::json page_json(const std::vector<Row>& rows, const std::vector<int64_t>& created_at_us,
                         int limit, const std::string& (*id_of)(const Row&), Render render) {
  nlohmann::json items = nlohmann::json::array();
  const std::size_t shown = std::min(rows.size(), static_cast<std::size_t>(limit));
  for (std::size_t i = 0; i < shown; ++i) {
    items.push_back(render(rows[i]));
  }
  const bool has_more = rows.size() > shown;
  nlohmann::json next = nullptr;
  if (has_more && shown > 0) {
    next = encode_cursor(cursor_position{created_at_us[shown - 1], id_of(rows[shown - 1])});
  }
  return {{"items", std::move(items)}, {"next_cursor", next}, {"has_more", has_more}};
}

const std::string& workflow_id_of(const workflow_row& w) {
  return w.workflow_id;
}
const std::string& run_id_of(const run_row& r) {
  return r.run_id;
}

void post_workflow(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto draft = parse_workflow_draft(body, deps.bounds, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  workflow_row row;
  row.workflow_id = auth::new_uuid_v4();
  row.owner_id = ex->caller().user_id;
  row.name = draft->name;
  row.credit_cost = draft->credit_cost;
  row.executor_json = executor_json(draft->executor).dump();
  ask<workflow_row>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex](caf::expected<workflow_row> stored) {
        if (!stored) {
          return ex->respond_error(stored.error());
        }
        ex->respond_json(201, workflow_json(*stored));
      },
      wfcreate_atom_v, std::move(row), ex->request_id());
}

void get_workflows(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  page_query query;
  query.owner_id = ex->caller().user_id;
  if (!read_page(ex, query)) {
    return;
  }
  const int limit = query.limit;
  ask<workflow_page>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex, limit](caf::expected<workflow_page> page) {
        if (!page) {
          return ex->respond_error(page.error());
        }
        ex->respond_json(
            200, page_json(page->items, page->created_at_us, limit, workflow_id_of, workflow_json));
      },
      wflist_atom_v, query);
}

// The {id} of a workflow route, or "" after answering 404 for one that cannot exist.
std::string workflow_param(const exchange_ptr& ex) {
  std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    ex->respond_error(errc::workflow_not_found);
    return "";
  }
  return id;
}

void answer_workflow(const exchange_ptr& ex, caf::expected<workflow_row> row) {
  if (!row) {
    return ex->respond_error(row.error());
  }
  ex->respond_json(200, workflow_json(*row));
}

void get_workflow(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id = workflow_param(ex);
  if (id.empty()) {
    return;
  }
  ask<workflow_row>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex](caf::expected<workflow_row> row) { answer_workflow(ex, std::move(row)); }, wfget_atom_v,
      ex->caller().user_id, id);
}

void patch_workflow(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id = workflow_param(ex);
  if (id.empty()) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto patch = parse_workflow_patch(body, deps.bounds, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  workflow_change change;
  change.owner_id = ex->caller().user_id;
  change.workflow_id = id;
  change.has_name = patch->name.has_value();
  change.name = patch->name.value_or("");
  change.has_credit_cost = patch->credit_cost.has_value();
  change.credit_cost = patch->credit_cost.value_or(0);
  change.has_executor = patch->executor.has_value();
  if (patch->executor) {
    change.executor_json = executor_json(*patch->executor).dump();
  }
  change.request_id = ex->request_id();
  ask<workflow_row>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex](caf::expected<workflow_row> row) { answer_workflow(ex, std::move(row)); },
      wfupdate_atom_v, std::move(change));
}

void delete_workflow(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id = workflow_param(ex);
  if (id.empty()) {
    return;
  }
  ask<bool>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex](caf::expected<bool> deleted) {
        if (!deleted) {
          return ex->respond_error(deleted.error());
        }
        ex->respond_empty(204);
      },
      wfdelete_atom_v, ex->caller().user_id, id, ex->request_id());
}

void start_run(const workflow_routes_deps& deps, const exchange_ptr& ex, run_start start) {
  // The supervisor answers once the reservation is taken, or at the end when waiting; the
  // saga's store and ledger calls are each bounded by `timeout`, with a few retries (the
  // supervisor allows them 9 timeouts in all: this waits a little longer than it does).
  const auto timeout =
      (start.wait ? deps.run_wait_max : std::chrono::milliseconds(0)) + 10 * deps.timeout;
  const bool wait = start.wait;
  ask<run_row>(
      *deps.sys, deps.runs, timeout, ex,
      [ex, wait](caf::expected<run_row> run) {
        if (!run) {
          return ex->respond_error(run.error());
        }
        if (run->is_existing) {
          mark_replayed(ex);
        }
        const bool is_done = is_final(parse_run_status(run->status).value_or(run_status::running));
        ex->respond_json(wait && is_done ? 200 : 202, run_json(*run));
      },
      runstart_atom_v, std::move(start));
}

void post_run(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id = workflow_param(ex);
  if (id.empty()) {
    return;
  }
  auto key = read_idempotency(ex, "runs:" + id, key_presence::optional);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  run_start start;
  if (body.contains("input") && !body["input"].is_null()) {
    start.input_json = body["input"].dump();
    if (start.input_json.size() > run_input_bytes_max) {
      return ex->respond_problem(
          validation_problem({{"input", "must serialize to at most " +
                                            std::to_string(run_input_bytes_max) + " bytes"}}));
    }
  }
  auto wait = ex->query("wait");
  if (wait && *wait != "true" && *wait != "false") {
    return ex->respond_problem(validation_problem({{"wait", "must be true or false"}}));
  }
  start.wait = wait && *wait == "true";
  start.idempotency_key = key->scoped_key;
  start.request_sha256 = key->request_sha256;
  start.request_id = ex->request_id();
  ask<workflow_row>(
      *deps.sys, deps.store, deps.timeout, ex,
      [deps, ex, start](caf::expected<workflow_row> workflow) mutable {
        if (!workflow) {
          return ex->respond_error(workflow.error());
        }
        start.workflow = std::move(*workflow);
        start_run(deps, ex, std::move(start));
      },
      wfget_atom_v, ex->caller().user_id, id);
}

void get_runs(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id = workflow_param(ex);
  if (id.empty()) {
    return;
  }
  page_query query;
  query.owner_id = ex->caller().user_id;
  query.parent_id = id;
  if (!read_page(ex, query)) {
    return;
  }
  const int limit = query.limit;
  ask<run_page>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex, limit](caf::expected<run_page> page) {
        if (!page) {
          return ex->respond_error(page.error());
        }
        ex->respond_json(200,
                         page_json(page->items, page->created_at_us, limit, run_id_of, run_json));
      },
      runlist_atom_v, query);
}

void get_run(const workflow_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::run_not_found);
  }
  ask<run_row>(
      *deps.sys, deps.store, deps.timeout, ex,
      [ex](caf::expected<run_row> run) {
        if (!run) {
          return ex->respond_error(run.error());
        }
        ex->respond_json(200, run_json(*run));
      },
      runget_atom_v, ex->caller().user_id, id);
}

}  // namespace

void add_workflow_routes(route_table& table, workflow_routes_deps deps) {
  auto route = [&](const char* method, const char* pattern, body_kind body,
                   void (*handler)(const workflow_routes_deps&, const exchange_ptr&)) {
    table.add({method, pattern, auth_kind::user, body, rate_policy::none,
               [deps, handler](const exchange_ptr& ex) { handler(deps, ex); }});
  };
  route("POST", "/v1/workflows", body_kind::json, post_workflow);
  route("GET", "/v1/workflows", body_kind::none, get_workflows);
  route("GET", "/v1/workflows/{id}", body_kind::none, get_workflow);
  route("PATCH", "/v1/workflows/{id}", body_kind::json, patch_workflow);
  route("DELETE", "/v1/workflows/{id}", body_kind::none, delete_workflow);
  route("POST", "/v1/workflows/{id}/runs", body_kind::optional_json, post_run);
  route("GET", "/v1/workflows/{id}/runs", body_kind::none, get_runs);
  route("GET", "/v1/runs/{id}", body_kind::none, get_run);
}

}  // namespace tally::http
