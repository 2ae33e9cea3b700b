#include "executors/executor.hpp"

#include <thread>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "outbound/http_client.hpp"
#include "outbound/target_policy.hpp"

namespace tally::executors {
namespace {

class noop_executor final : public executor {
 public:
  execution_result execute(const execution_request&) override { return {true, "{}", ""}; }
};

class delay_executor final : public executor {
 public:
  execution_result execute(const execution_request& request) override {
    TALLY_ASSERT(request.config.delay_ms >= 0);
    TALLY_ASSERT(request.config.delay_ms <= delay_ms_ceiling);
    std::this_thread::sleep_for(std::chrono::milliseconds(request.config.delay_ms));
    return {true, nlohmann::json{{"slept_ms", request.config.delay_ms}}.dump(), ""};
  }
};

// The far side's body as the run's output: JSON when it parses, else a string; dropped (null)
// when it is larger than a run may store.
nlohmann::json body_output(const std::string& body) {
  if (body.size() > run_output_bytes_max / 2) {
    return nullptr;
  }
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return body;
  }
  return parsed;
}

std::string failure_text(const outbound::outcome& outcome) {
  switch (outcome.error) {
    case errc::upstream_timeout:
      return "http target timed out";
    case errc::forbidden:
      return "http target refused by the outbound target policy";
    case errc::invalid_argument:
      return "http target URL refused by the outbound client";
    default:
      return "http target unreachable";
  }
}

class http_executor final : public executor {
 public:
  explicit http_executor(const executor_options& options) : options_(options) {
    TALLY_ASSERT(options_.policy != nullptr);
  }

  execution_result execute(const execution_request& request) override {
    TALLY_ASSERT(request.config.type == executor_type::http);
    TALLY_ASSERT(request.config.timeout_ms > 0);
    outbound::client_options client_options;
    client_options.policy = options_.policy;
    client_options.ca_file = options_.ca_file;
    client_options.response_bytes_max = run_output_bytes_max;
    outbound::http_client client(client_options);
    outbound::request out;
    out.method = "POST";
    out.url = request.config.url;
    out.headers = {{"Content-Type", "application/json"}, {"Tally-Run-Id", request.run_id}};
    out.body = request.input_json.empty() ? "null" : request.input_json;
    out.connect_timeout =
        std::min(options_.connect_timeout, std::chrono::milliseconds(request.config.timeout_ms));
    out.timeout = std::chrono::milliseconds(request.config.timeout_ms);
    outbound::retry_policy once;
    once.mode = outbound::retry_mode::never;
    once.attempts_max = 1;
    once.budget = out.timeout;
    const outbound::outcome outcome = client.send(out, once);
    if (!outcome.ok()) {
      return {false, "", failure_text(outcome)};
    }
    const int status = outcome.response->status;
    if (status < 200 || status > 299) {
      return {false, "", "http target answered " + std::to_string(status)};
    }
    nlohmann::json output{{"status", status}, {"body", body_output(outcome.response->body)}};
    return {true, output.dump(), ""};
  }

 private:
  executor_options options_;
};

}  // namespace

std::unique_ptr<executor> make_executor(const executor_config& config,
                                        const executor_options& options) {
  switch (config.type) {
    case executor_type::noop:
      return std::make_unique<noop_executor>();
    case executor_type::delay:
      return std::make_unique<delay_executor>();
    case executor_type::http:
      return std::make_unique<http_executor>(options);
  }
  TALLY_ASSERT(false);
  return nullptr;
}

}  // namespace tally::executors
