// tests/domain/workflow_test.cpp: covers domain/workflow.cpp — workflow bodies and executor
// configs (field errors, bounds, URL syntax), the run/step state machine, and the saga's
// next-step decision for new runs and for runs recovered from a step log after a crash.
#include "domain/workflow.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;
using tally::executor_bounds;
using tally::field_errors;
using tally::run_status;
using tally::saga_action;
using tally::saga_mode;
using tally::step_name;
using tally::step_record;
using tally::step_status;

const executor_bounds bounds{/*delay_ms_max=*/5'000, /*timeout_ms_max=*/20'000,
                             /*timeout_ms_default=*/7'000};

bool names_field(const field_errors& errors, const std::string& field) {
  for (const auto& e : errors.items()) {
    if (e.field == field) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("a workflow body with each executor kind parses", "[domain][workflow]") {
  field_errors errors;
  auto noop = tally::parse_workflow_draft(
      json{{"name", "n"}, {"credit_cost", 0}, {"executor", {{"type", "noop"}}}}, bounds, errors);
  REQUIRE(noop);
  CHECK(noop->credit_cost == 0);
  CHECK(noop->executor.type == tally::executor_type::noop);

  auto delay = tally::parse_workflow_draft(
      json{{"name", "d"}, {"credit_cost", 5}, {"executor", {{"type", "delay"}, {"ms", 250}}}},
      bounds, errors);
  REQUIRE(delay);
  CHECK(delay->executor.delay_ms == 250);
  CHECK(tally::execution_ms_max(delay->executor) == 250);

  auto http = tally::parse_workflow_draft(
      json{{"name", "h"},
           {"credit_cost", 3},
           {"executor", {{"type", "http"}, {"url", "https://api.example.com:8443/hook?x=1"}}}},
      bounds, errors);
  REQUIRE(http);
  CHECK(http->executor.url == "https://api.example.com:8443/hook?x=1");
  CHECK(http->executor.timeout_ms == bounds.timeout_ms_default);
  CHECK(errors.empty());
}

TEST_CASE("a workflow body reports every invalid field at once", "[domain][workflow]") {
  field_errors errors;
  auto draft = tally::parse_workflow_draft(
      json{{"name", ""}, {"credit_cost", -1}, {"executor", {{"type", "teleport"}}}}, bounds,
      errors);
  CHECK_FALSE(draft);
  CHECK(names_field(errors, "name"));
  CHECK(names_field(errors, "credit_cost"));
  CHECK(names_field(errors, "executor.type"));
  CHECK(errors.size() == 3);
}

TEST_CASE("executor bounds are enforced", "[domain][workflow]") {
  field_errors errors;
  CHECK_FALSE(tally::parse_executor(json{{"executor", {{"type", "delay"}, {"ms", 5'001}}}}, bounds,
                                    errors));
  CHECK(names_field(errors, "executor.ms"));
  field_errors missing;
  CHECK_FALSE(tally::parse_executor(json{{"executor", {{"type", "delay"}}}}, bounds, missing));
  CHECK(names_field(missing, "executor.ms"));
  field_errors timeout;
  CHECK_FALSE(tally::parse_executor(
      json{{"executor", {{"type", "http"}, {"url", "https://a.example"}, {"timeout_ms", 20'001}}}},
      bounds, timeout));
  CHECK(names_field(timeout, "executor.timeout_ms"));
  field_errors zero;
  CHECK_FALSE(tally::parse_executor(
      json{{"executor", {{"type", "http"}, {"url", "https://a.example"}, {"timeout_ms", 0}}}},
      bounds, zero));
  field_errors edge;
  auto at_max =
      tally::parse_executor(json{{"executor", {{"type", "delay"}, {"ms", 5'000}}}}, bounds, edge);
  REQUIRE(at_max);
  CHECK(at_max->delay_ms == 5'000);
}

TEST_CASE("executor URLs are checked for syntax", "[domain][workflow]") {
  for (const char* good :
       {"http://127.0.0.1:8080/x", "https://example.com", "https://[::1]:443/p?q=1",
        "http://localhost/hook", "https://a-b.example.org/path/to"}) {
    INFO(good);
    CHECK(tally::url_syntax_problem(good).empty());
  }
  for (const char* bad :
       {"", "ftp://example.com", "https://", "https://user:pw@example.com/", "https://ex ample",
        "https://example.com/#frag", "https://example.com:0/", "https://example.com:65536/",
        "https://example.com:/", "https://[zz]/", "HTTP://example.com", "https://.example.com",
        "https://exa..mple.com", "javascript:alert(1)"}) {
    INFO(bad);
    CHECK_FALSE(tally::url_syntax_problem(bad).empty());
  }
  CHECK_FALSE(tally::url_syntax_problem("https://e.com/" + std::string(2048, 'a')).empty());
  field_errors errors;
  CHECK_FALSE(tally::parse_executor(
      json{{"executor", {{"type", "http"}, {"url", "https://u@evil.example/"}}}}, bounds, errors));
  CHECK(names_field(errors, "executor.url"));
}

TEST_CASE("a stored executor round-trips and a corrupt one is refused", "[domain][workflow]") {
  tally::executor_config config;
  config.type = tally::executor_type::http;
  config.url = "https://example.com/run";
  config.timeout_ms = 1234;
  auto back = tally::executor_from_json(tally::executor_json(config));
  REQUIRE(back);
  CHECK(back->url == config.url);
  CHECK(back->timeout_ms == 1234);
  CHECK_FALSE(tally::executor_from_json(json{{"type", "http"}}));
  CHECK_FALSE(tally::executor_from_json(json::array()));
}

TEST_CASE("a patch takes only the fields present", "[domain][workflow]") {
  field_errors errors;
  auto patch = tally::parse_workflow_patch(json{{"credit_cost", 9}}, bounds, errors);
  REQUIRE(patch);
  CHECK_FALSE(patch->name);
  CHECK(patch->credit_cost == 9);
  CHECK_FALSE(patch->executor);
  field_errors bad;
  CHECK_FALSE(tally::parse_workflow_patch(json{{"name", 5}, {"executor", {{"type", "delay"}}}},
                                          bounds, bad));
  CHECK(names_field(bad, "name"));
  CHECK(names_field(bad, "executor.ms"));
}

TEST_CASE("run and step names round-trip", "[domain][workflow]") {
  for (auto s : {run_status::pending, run_status::reserved, run_status::running,
                 run_status::succeeded, run_status::failed, run_status::compensated}) {
    CHECK(tally::parse_run_status(tally::to_string(s)) == s);
  }
  CHECK_FALSE(tally::parse_run_status("done"));
  CHECK(tally::is_final(run_status::compensated));
  CHECK_FALSE(tally::is_final(run_status::running));
  for (auto n : {step_name::reserve, step_name::execute, step_name::commit, step_name::release}) {
    CHECK(tally::parse_step_name(tally::to_string(n)) == n);
  }
  CHECK_FALSE(tally::parse_step_status("Started"));
}

namespace {

// Drives a saga in normal mode to its end, feeding each step the outcome given, and returns
// the actions taken and the final status. A step record that ends the run carries the final
// status itself; `finish` appears only where no step does.
struct walk {
  std::vector<saga_action> actions;
  run_status status = run_status::pending;
};

walk drive(int64_t cost, step_status execute_outcome, step_status ledger_outcome) {
  walk w;
  std::vector<step_record> steps;
  for (int guard = 0; guard < 10; ++guard) {
    auto d = tally::next_saga_action(w.status, cost, steps, saga_mode::normal);
    w.actions.push_back(d.action);
    auto record = [&](step_name n, step_status s) {
      steps.push_back({n, s});
      w.status = tally::status_after_step(w.status, n, s);
    };
    switch (d.action) {
      case saga_action::none:
        return w;
      case saga_action::reserve:
        record(step_name::reserve, ledger_outcome);
        break;
      case saga_action::skip_reserve:
        record(step_name::reserve, step_status::skipped);
        break;
      case saga_action::execute:
        record(step_name::execute, execute_outcome);
        break;
      case saga_action::commit:
        record(step_name::commit, step_status::succeeded);
        break;
      case saga_action::skip_commit:
        record(step_name::commit, step_status::skipped);
        break;
      case saga_action::release:
        record(step_name::release, step_status::succeeded);
        break;
      case saga_action::finish:
        w.status = d.final_status;
        break;
      case saga_action::abandon_execute:
        FAIL("a live saga never abandons its own execution");
    }
  }
  FAIL("the saga did not end within 10 decisions");
  return w;
}

}  // namespace

TEST_CASE("a paid run: reserve, execute, commit -> succeeded", "[domain][workflow][saga]") {
  auto w = drive(10, step_status::succeeded, step_status::succeeded);
  CHECK(w.status == run_status::succeeded);
  CHECK(w.actions == std::vector<saga_action>{saga_action::reserve, saga_action::execute,
                                              saga_action::commit, saga_action::none});
}

TEST_CASE("a failed execution releases -> compensated", "[domain][workflow][saga]") {
  auto w = drive(10, step_status::failed, step_status::succeeded);
  CHECK(w.status == run_status::compensated);
  CHECK(w.actions == std::vector<saga_action>{saga_action::reserve, saga_action::execute,
                                              saga_action::release, saga_action::none});
}

TEST_CASE("a refused reservation ends failed without executing", "[domain][workflow][saga]") {
  auto w = drive(10, step_status::succeeded, step_status::failed);
  CHECK(w.status == run_status::failed);
  CHECK(w.actions == std::vector<saga_action>{saga_action::reserve, saga_action::none});
}

TEST_CASE("a zero-cost run never touches the ledger", "[domain][workflow][saga]") {
  auto ok = drive(0, step_status::succeeded, step_status::succeeded);
  CHECK(ok.status == run_status::succeeded);
  CHECK(ok.actions == std::vector<saga_action>{saga_action::skip_reserve, saga_action::execute,
                                               saga_action::skip_commit, saga_action::none});
  auto failed = drive(0, step_status::failed, step_status::succeeded);
  CHECK(failed.status == run_status::failed);
  CHECK(failed.actions == std::vector<saga_action>{saga_action::skip_reserve, saga_action::execute,
                                                   saga_action::finish, saga_action::none});
}

TEST_CASE("recovery decisions from a step log", "[domain][workflow][saga][recovery]") {
  using S = step_status;
  using N = step_name;
  auto decide = [](run_status status, int64_t cost, std::vector<step_record> steps) {
    return tally::next_saga_action(status, cost, steps, saga_mode::recovery);
  };
  // Nothing written: nothing reserved, nothing to do but end it.
  auto none = decide(run_status::pending, 10, {});
  CHECK(none.action == saga_action::finish);
  CHECK(none.final_status == run_status::failed);
  // Reserve in doubt: replay it (same key) to learn the reservation, then release.
  CHECK(decide(run_status::pending, 10, {{N::reserve, S::started}}).action == saga_action::reserve);
  // Reserved, never executed: released, never executed by recovery.
  CHECK(decide(run_status::reserved, 10, {{N::reserve, S::succeeded}}).action ==
        saga_action::release);
  // Executing when the engine died: at-most-once, abandon then release.
  CHECK(decide(run_status::running, 10, {{N::reserve, S::succeeded}, {N::execute, S::started}})
            .action == saga_action::abandon_execute);
  CHECK(decide(run_status::running, 10, {{N::reserve, S::succeeded}, {N::execute, S::failed}})
            .action == saga_action::release);
  // Succeeded but not committed: commit; a commit in doubt is replayed.
  CHECK(decide(run_status::running, 10, {{N::reserve, S::succeeded}, {N::execute, S::succeeded}})
            .action == saga_action::commit);
  CHECK(decide(run_status::running, 10,
               {{N::execute, S::succeeded}, {N::reserve, S::succeeded}, {N::commit, S::started}})
            .action == saga_action::commit);
  CHECK(decide(run_status::running, 10,
               {{N::reserve, S::succeeded}, {N::execute, S::failed}, {N::release, S::started}})
            .action == saga_action::release);
  // A release that committed but whose run row was not updated yet: just finish.
  auto released =
      decide(run_status::running, 10,
             {{N::reserve, S::succeeded}, {N::execute, S::failed}, {N::release, S::succeeded}});
  CHECK(released.action == saga_action::finish);
  CHECK(released.final_status == run_status::compensated);
  // A commit refused because expiry released the reservation: compensated, never charged.
  auto expired =
      decide(run_status::running, 10,
             {{N::reserve, S::succeeded}, {N::execute, S::succeeded}, {N::commit, S::failed}});
  CHECK(expired.final_status == run_status::compensated);
  // Zero-cost runs: nothing to release.
  auto zero = decide(run_status::reserved, 0, {{N::reserve, S::skipped}});
  CHECK(zero.action == saga_action::finish);
  CHECK(zero.final_status == run_status::failed);
  CHECK(decide(run_status::running, 0, {{N::reserve, S::skipped}, {N::execute, S::succeeded}})
            .action == saga_action::skip_commit);
  // Final runs stay final.
  CHECK(decide(run_status::succeeded, 10, {}).action == saga_action::none);
}

TEST_CASE("run status follows the step log", "[domain][workflow][saga]") {
  using tally::status_after_step;
  CHECK(status_after_step(run_status::pending, step_name::reserve, step_status::started) ==
        run_status::pending);
  CHECK(status_after_step(run_status::pending, step_name::reserve, step_status::succeeded) ==
        run_status::reserved);
  CHECK(status_after_step(run_status::reserved, step_name::execute, step_status::started) ==
        run_status::running);
  CHECK(status_after_step(run_status::running, step_name::execute, step_status::failed) ==
        run_status::running);  // not failed until the release committed
  CHECK(status_after_step(run_status::running, step_name::release, step_status::started) ==
        run_status::running);
  CHECK(status_after_step(run_status::running, step_name::release, step_status::succeeded) ==
        run_status::compensated);
  CHECK(status_after_step(run_status::running, step_name::commit, step_status::succeeded) ==
        run_status::succeeded);
}

TEST_CASE("the reservation outlives the queue wait and the execution", "[domain][workflow]") {
  const int64_t ttl = tally::reservation_ttl_s(30'000, 10'000);
  CHECK(ttl * 1000 > 30'000 + 10'000);
  CHECK(tally::reservation_ttl_s(0, 1) > tally::reservation_ttl_s(0, 0) - 1);
  CHECK(tally::reservation_ttl_s(0, 1'001) == tally::reservation_ttl_s(0, 2'000));
}
