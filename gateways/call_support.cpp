#include "gateways/call_support.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include "domain/backoff.hpp"

namespace tally::gateways::detail {
namespace {

// A Retry-After beyond this is not waited for within one call.
constexpr int64_t retry_after_s_max = 60;

double unit_random() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

caf::error transport_failure(const outbound::outcome& outcome) {
  failure_detail detail;
  detail.message = outcome.detail.empty() ? "no answer from the gateway" : outcome.detail;
  detail.ambiguous = outcome.ambiguous;
  errc code = errc::gateway_unavailable;
  if (outcome.ambiguous || outcome.error == errc::upstream_timeout) {
    code = errc::upstream_timeout;
  }
  return make_failure(code, std::move(detail));
}

bool is_retryable_without_answer(const outbound::outcome& outcome) {
  return !outcome.ambiguous &&
         (outcome.error == errc::gateway_unavailable || outcome.error == errc::upstream_timeout);
}

caf::error as_ambiguous(const caf::error& err) {
  errc code = errc::internal;
  if (!as_errc(err, code)) {
    return err;
  }
  failure_detail detail = gateway_failure(err);
  detail.ambiguous = true;
  return make_failure(code, std::move(detail));
}

caf::error unreadable_answer(const caf::error& parse_error, int http_status) {
  failure_detail detail = gateway_failure(parse_error);
  detail.http_status = http_status;
  detail.ambiguous = true;
  return make_failure(errc::upstream_timeout, std::move(detail));
}

caf::error not_configured(std::string_view gateway_name) {
  return make_failure(
      errc::gateway_unavailable,
      failure_detail{0, "not_configured",
                     std::string(gateway_name) + " has no secret key configured", false});
}

bool wait_before_retry(uint32_t attempt, const outbound::retry_policy& policy,
                       std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds at_least) {
  auto delay = backoff_delay(attempt, policy.delay_min, policy.delay_max, unit_random());
  if (policy.honour_retry_after && at_least > delay) {
    delay = at_least;
  }
  if (std::chrono::steady_clock::now() + delay >= deadline) {
    return false;
  }
  // Blocking on purpose: gateway clients run on detached workers only.
  std::this_thread::sleep_for(delay);
  return true;
}

std::chrono::milliseconds retry_after(const outbound::response& response) {
  const std::string_view text = response.header("Retry-After");
  if (text.empty() || text.size() > 3) {
    return std::chrono::milliseconds{0};
  }
  int64_t seconds = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::chrono::milliseconds{0};
    }
    seconds = seconds * 10 + (c - '0');
  }
  return std::chrono::seconds{std::min(seconds, retry_after_s_max)};
}

std::string join_url(const std::string& base, std::string_view path) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url.append(path);
  return url;
}

}  // namespace tally::gateways::detail
