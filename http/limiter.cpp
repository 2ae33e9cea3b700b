#include "http/limiter.hpp"

#include "http/bridge.hpp"
#include "http/problem.hpp"

namespace tally::http {
namespace {

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void apply(const exchange_ptr& ex, const rate_decision& decision,
           const std::function<void()>& allowed) {
  // With several rules on one route, the headers describe the tightest one.
  auto previous = ex->response_header("RateLimit-Remaining");
  if (!previous || decision.remaining <= std::stoll(std::string(*previous))) {
    header_list headers;
    rate_limit_headers(decision, headers);
    for (auto& [name, value] : headers) {
      ex->set_response_header(std::move(name), std::move(value));
    }
  }
  if (!decision.allowed) {
    return ex->respond_error(errc::rate_limited);
  }
  allowed();
}

}  // namespace

rate_rule::rate_rule(caf::actor_system& sys, cache_actor cache, std::string name, int64_t limit,
                     int64_t window_s, std::size_t local_keys_max,
                     std::chrono::milliseconds timeout)
    : sys_(sys),
      cache_(std::move(cache)),
      name_(std::move(name)),
      limit_(limit),
      window_s_(window_s),
      timeout_(timeout),
      fallback_(limit, window_s, local_keys_max) {}

void rate_rule::check(const exchange_ptr& ex, const std::string& key,
                      std::function<void()> allowed) {
  if (limit_ == 0) {
    return allowed();
  }
  const std::string full_key = name_ + ":" + key;
  ask<rate_count>(
      sys_, cache_, timeout_, ex,
      [this, ex, full_key, allowed](caf::expected<rate_count> counted) {
        if (counted) {
          return apply(ex, decide_fixed_window(counted->count, limit_, window_s_, counted->ttl_s),
                       allowed);
        }
        // Redis is unreachable: this node's own window decides.
        apply(ex, fallback_.check(full_key, steady_now_ms()), allowed);
      },
      rate_atom_v, full_key, window_s_);
}

}  // namespace tally::http
