#include "domain/workflow.hpp"

#include <algorithm>
#include <cctype>

#include "domain/assert.hpp"
#include "domain/error.hpp"
#include "domain/ledger.hpp"

namespace tally {
namespace {

constexpr std::size_t executor_json_bytes_max = 4096;

// The time a reservation must outlive its run's execution by: the ledger steps around it
// (each bounded by the actor timeout, with a few retries) and a recovery sweep.
constexpr int64_t reservation_margin_s = 120;

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "" when `authority` (host[:port]) is acceptable.
std::string authority_problem(std::string_view authority) {
  if (authority.empty()) {
    return "must name a host";
  }
  if (authority.find('@') != std::string_view::npos) {
    return "must not carry user information";
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      return "has a malformed IPv6 literal";
    }
    for (char c : authority.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return "has a malformed IPv6 literal";
      }
    }
    host = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return "has a malformed port";
      }
      port = rest.substr(1);
      if (port.empty()) {
        return "has a malformed port";
      }
    }
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) {
        return "has a malformed port";
      }
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char) ||
        host.front() == '.' || host.front() == '-' || host.find("..") != std::string_view::npos) {
      return "has a malformed host";
    }
  }
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5 || std::stoul(std::string(port)) == 0 ||
        std::stoul(std::string(port)) > 65535) {
      return "has a port outside 1..65535";
    }
  }
  return "";
}

void check_bounds(const executor_bounds& b) {
  TALLY_ASSERT(b.timeout_ms_default >= 1);
  TALLY_ASSERT(b.timeout_ms_default <= b.timeout_ms_max);
  TALLY_ASSERT(b.timeout_ms_max <= executor_timeout_ms_ceiling);
  TALLY_ASSERT(b.delay_ms_max >= 0);
  TALLY_ASSERT(b.delay_ms_max <= delay_ms_ceiling);
}

const step_record* find_step(const std::vector<step_record>& steps, step_name name) {
  auto it = std::find_if(steps.begin(), steps.end(),
                         [name](const step_record& s) { return s.name == name; });
  return it == steps.end() ? nullptr : &*it;
}

saga_decision act(saga_action action) {
  return saga_decision{action, run_status::failed};
}

saga_decision finish(run_status status) {
  TALLY_ASSERT(is_final(status));
  return saga_decision{saga_action::finish, status};
}

// After a failed or abandoned execution: give the reservation back.
saga_decision decide_release(const std::vector<step_record>& steps, bool is_reserved) {
  if (!is_reserved) {
    return finish(run_status::failed);
  }
  const step_record* release = find_step(steps, step_name::release);
  if (release == nullptr || release->status == step_status::started) {
    return act(saga_action::release);
  }
  // A release is never refused for good: "not pending" means expiry already released it.
  return finish(run_status::compensated);
}

saga_decision decide_commit(const std::vector<step_record>& steps, bool is_reserved) {
  const step_record* commit = find_step(steps, step_name::commit);
  if (!is_reserved) {
    return commit == nullptr ? act(saga_action::skip_commit) : finish(run_status::succeeded);
  }
  if (commit == nullptr || commit->status == step_status::started) {
    return act(saga_action::commit);
  }
  if (commit->status == step_status::succeeded) {
    return finish(run_status::succeeded);
  }
  // The reservation was no longer pending (it expired): released, never charged.
  return finish(run_status::compensated);
}

}  // namespace

const char* to_string(executor_type type) {
  switch (type) {
    case executor_type::noop:
      return "noop";
    case executor_type::delay:
      return "delay";
    case executor_type::http:
      return "http";
  }
  return "unknown";
}

std::optional<executor_type> parse_executor_type(std::string_view text) {
  for (auto type : {executor_type::noop, executor_type::delay, executor_type::http}) {
    if (text == to_string(type)) {
      return type;
    }
  }
  return std::nullopt;
}

std::string url_syntax_problem(std::string_view url) {
  if (url.empty() || url.size() > executor_url_bytes_max) {
    return "must be 1.." + std::to_string(executor_url_bytes_max) + " bytes";
  }
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return "must be printable ASCII without spaces";
    }
  }
  if (url.find('#') != std::string_view::npos) {
    return "must not carry a fragment";
  }
  std::string_view rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return "must start with http:// or https://";
  }
  const auto end = rest.find_first_of("/?");
  const std::string problem = authority_problem(rest.substr(0, end));
  return problem.empty() ? std::string() : problem;
}

std::optional<executor_config> parse_executor(const nlohmann::json& body,
                                              const executor_bounds& bounds, field_errors& errors) {
  check_bounds(bounds);
  auto object = required_object(body, "executor", executor_json_bytes_max, errors);
  if (!object) {
    return std::nullopt;
  }
  field_scope scope(errors, "executor");
  const std::size_t errors_before = errors.size();
  auto type_name = required_choice(*object, "type", {"noop", "delay", "http"}, errors);
  if (!type_name) {
    return std::nullopt;
  }
  executor_config config;
  config.type = *parse_executor_type(*type_name);
  if (config.type == executor_type::delay) {
    auto ms = required_int64(*object, "ms", 0, bounds.delay_ms_max, errors);
    config.delay_ms = ms.value_or(0);
  } else if (config.type == executor_type::http) {
    auto url = required_string(*object, "url", 1, executor_url_bytes_max, errors);
    if (url) {
      if (auto problem = url_syntax_problem(*url); !problem.empty()) {
        errors.add("url", problem);
      }
      config.url = *url;
    }
    auto timeout = optional_int64(*object, "timeout_ms", 1, bounds.timeout_ms_max, errors);
    config.timeout_ms = timeout.value_or(bounds.timeout_ms_default);
  }
  if (errors.size() != errors_before) {
    return std::nullopt;
  }
  return config;
}

nlohmann::json executor_json(const executor_config& config) {
  nlohmann::json out{{"type", to_string(config.type)}};
  if (config.type == executor_type::delay) {
    out["ms"] = config.delay_ms;
  } else if (config.type == executor_type::http) {
    out["url"] = config.url;
    out["timeout_ms"] = config.timeout_ms;
  }
  return out;
}

caf::expected<executor_config> executor_from_json(const nlohmann::json& stored) {
  // Stored rows were validated on the way in; the ceilings here only catch corruption.
  const executor_bounds widest{delay_ms_ceiling, executor_timeout_ms_ceiling,
                               executor_timeout_ms_ceiling};
  field_errors errors;
  nlohmann::json body{{"executor", stored}};
  auto config = parse_executor(body, widest, errors);
  if (!config) {
    return caf::make_error(errc::invalid_argument);
  }
  return *config;
}

int64_t execution_ms_max(const executor_config& config) {
  switch (config.type) {
    case executor_type::noop:
      return 0;
    case executor_type::delay:
      return config.delay_ms;
    case executor_type::http:
      return config.timeout_ms;
  }
  return 0;
}

std::optional<workflow_draft> parse_workflow_draft(const nlohmann::json& body,
                                                   const executor_bounds& bounds,
                                                   field_errors& errors) {
  auto name = required_string(body, "name", 1, workflow_name_code_points_max, errors);
  auto cost = required_int64(body, "credit_cost", 0, credits_max, errors);
  auto executor = parse_executor(body, bounds, errors);
  if (!name || !cost || !executor) {
    return std::nullopt;
  }
  return workflow_draft{std::move(*name), *cost, std::move(*executor)};
}

std::optional<workflow_patch> parse_workflow_patch(const nlohmann::json& body,
                                                   const executor_bounds& bounds,
                                                   field_errors& errors) {
  const std::size_t errors_before = errors.size();
  workflow_patch patch;
  patch.name = optional_string(body, "name", 1, workflow_name_code_points_max, errors);
  patch.credit_cost = optional_int64(body, "credit_cost", 0, credits_max, errors);
  if (body.contains("executor") && !body["executor"].is_null()) {
    patch.executor = parse_executor(body, bounds, errors);
  }
  if (errors.size() != errors_before) {
    return std::nullopt;
  }
  return patch;
}

const char* to_string(run_status status) {
  switch (status) {
    case run_status::pending:
      return "pending";
    case run_status::reserved:
      return "reserved";
    case run_status::running:
      return "running";
    case run_status::succeeded:
      return "succeeded";
    case run_status::failed:
      return "failed";
    case run_status::compensated:
      return "compensated";
  }
  return "unknown";
}

std::optional<run_status> parse_run_status(std::string_view text) {
  for (auto status : {run_status::pending, run_status::reserved, run_status::running,
                      run_status::succeeded, run_status::failed, run_status::compensated}) {
    if (text == to_string(status)) {
      return status;
    }
  }
  return std::nullopt;
}

bool is_final(run_status status) {
  return status == run_status::succeeded || status == run_status::failed ||
         status == run_status::compensated;
}

const char* to_string(step_name name) {
  switch (name) {
    case step_name::reserve:
      return "reserve";
    case step_name::execute:
      return "execute";
    case step_name::commit:
      return "commit";
    case step_name::release:
      return "release";
  }
  return "unknown";
}

std::optional<step_name> parse_step_name(std::string_view text) {
  for (auto name :
       {step_name::reserve, step_name::execute, step_name::commit, step_name::release}) {
    if (text == to_string(name)) {
      return name;
    }
  }
  return std::nullopt;
}

const char* to_string(step_status status) {
  switch (status) {
    case step_status::started:
      return "started";
    case step_status::succeeded:
      return "succeeded";
    case step_status::failed:
      return "failed";
    case step_status::skipped:
      return "skipped";
  }
  return "unknown";
}

std::optional<step_status> parse_step_status(std::string_view text) {
  for (auto status :
       {step_status::started, step_status::succeeded, step_status::failed, step_status::skipped}) {
    if (text == to_string(status)) {
      return status;
    }
  }
  return std::nullopt;
}

saga_decision next_saga_action(run_status status, int64_t credit_cost,
                               const std::vector<step_record>& steps, saga_mode mode) {
  TALLY_ASSERT(credit_cost >= 0);
  if (is_final(status)) {
    return act(saga_action::none);
  }
  const bool is_recovery = mode == saga_mode::recovery;
  const step_record* reserve = find_step(steps, step_name::reserve);
  if (reserve == nullptr) {
    // Never written: nothing can have been reserved. A new run starts; a dead one ends.
    if (is_recovery) {
      return finish(run_status::failed);
    }
    return act(credit_cost == 0 ? saga_action::skip_reserve : saga_action::reserve);
  }
  if (reserve->status == step_status::started) {
    TALLY_ASSERT(credit_cost > 0);  // a zero-cost reserve is written 'skipped' at once
    return act(saga_action::reserve);
  }
  if (reserve->status == step_status::failed) {
    return finish(run_status::failed);
  }
  const bool is_reserved = reserve->status == step_status::succeeded;
  TALLY_ASSERT(is_reserved == (credit_cost > 0));
  const step_record* execute = find_step(steps, step_name::execute);
  if (execute == nullptr) {
    return is_recovery ? decide_release(steps, is_reserved) : act(saga_action::execute);
  }
  switch (execute->status) {
    case step_status::started:
      // Only a dead engine leaves an execution 'started' (the live saga marks it after).
      return act(saga_action::abandon_execute);
    case step_status::succeeded:
      return decide_commit(steps, is_reserved);
    case step_status::failed:
    case step_status::skipped:
      return decide_release(steps, is_reserved);
  }
  TALLY_ASSERT(false);
  return act(saga_action::none);
}

run_status status_after_step(run_status current, step_name name, step_status status) {
  switch (name) {
    case step_name::reserve:
      if (status == step_status::succeeded || status == step_status::skipped) {
        return run_status::reserved;
      }
      return status == step_status::failed ? run_status::failed : current;
    case step_name::execute:
      return status == step_status::started ? run_status::running : current;
    case step_name::commit:
      if (status == step_status::succeeded || status == step_status::skipped) {
        return run_status::succeeded;
      }
      return status == step_status::failed ? run_status::compensated : current;
    case step_name::release:
      return status == step_status::succeeded ? run_status::compensated : current;
  }
  return current;
}

int64_t reservation_ttl_s(int64_t queue_wait_ms_max, int64_t execution_ms) {
  TALLY_ASSERT(queue_wait_ms_max >= 0);
  TALLY_ASSERT(execution_ms >= 0);
  const int64_t busy_ms = queue_wait_ms_max + execution_ms;
  return (busy_ms + 999) / 1000 + reservation_margin_s;
}

}  // namespace tally
