// tests/http/rate_limit_test.cpp: covers http/rate_limit.cpp. A limit must refuse exactly the
// requests past it, say when to come back, and never hold more keys than configured.
#include "http/rate_limit.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using tally::http::decide_fixed_window;
using tally::http::local_rate_limiter;
using tally::http::rate_decision;

namespace {

using header_list = std::vector<std::pair<std::string, std::string>>;

std::string header(const header_list& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return "(absent)";
}

}  // namespace

TEST_CASE("requests up to the limit are allowed with the remaining count", "[http][rate_limit]") {
  const auto first = decide_fixed_window(1, 10, 60, 60);
  CHECK(first.allowed);
  CHECK(first.limit == 10);
  CHECK(first.remaining == 9);
  CHECK(first.reset_s == 60);
  CHECK(first.retry_after_s == 0);
  const auto last = decide_fixed_window(10, 10, 60, 12);
  CHECK(last.allowed);
  CHECK(last.remaining == 0);
  CHECK(last.reset_s == 12);
}

TEST_CASE("the request past the limit is refused until the window ends", "[http][rate_limit]") {
  const auto refused = decide_fixed_window(11, 10, 60, 42);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.remaining == 0);
  CHECK(refused.reset_s == 42);
  CHECK(refused.retry_after_s == 42);
  CHECK_FALSE(decide_fixed_window(1'000'000, 10, 60, 42).allowed);
}

TEST_CASE("odd Redis TTL answers give a sane reset", "[http][rate_limit]") {
  CHECK(decide_fixed_window(1, 10, 60, -1).reset_s == 60);       // no expiry set (yet)
  CHECK(decide_fixed_window(1, 10, 60, -2).reset_s == 60);       // key gone meanwhile
  CHECK(decide_fixed_window(11, 10, 60, 0).retry_after_s == 1);  // under a second left
  CHECK(decide_fixed_window(1, 10, 60, 3600).reset_s == 60);     // never beyond the window
  CHECK(decide_fixed_window(0, 10, 60, 5).remaining == 10);
}

TEST_CASE("a limit of zero disables the shared decision", "[http][rate_limit]") {
  const auto decision = decide_fixed_window(1'000'000, 0, 60, 5);
  CHECK(decision.allowed);
  CHECK(decision.limit == 0);
}

TEST_CASE("the local limiter allows the limit, then refuses, then resets", "[http][rate_limit]") {
  local_rate_limiter limiter(3, 10, 100);
  CHECK(limiter.check("user:1", 1'000).remaining == 2);
  CHECK(limiter.check("user:1", 2'000).remaining == 1);
  const auto third = limiter.check("user:1", 3'000);
  CHECK(third.allowed);
  CHECK(third.remaining == 0);
  CHECK(third.reset_s == 8);  // window 1 000..11 000 ms
  const auto fourth = limiter.check("user:1", 3'500);
  CHECK_FALSE(fourth.allowed);
  CHECK(fourth.retry_after_s == 8);  // 7.5 s rounds up
  CHECK_FALSE(limiter.check("user:1", 10'999).allowed);
  const auto fresh = limiter.check("user:1", 11'000);
  CHECK(fresh.allowed);
  CHECK(fresh.remaining == 2);
  CHECK(fresh.reset_s == 10);
}

TEST_CASE("keys are limited independently", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 60, 100);
  CHECK(limiter.check("ip:10.0.0.1", 0).allowed);
  CHECK_FALSE(limiter.check("ip:10.0.0.1", 1).allowed);
  CHECK(limiter.check("ip:10.0.0.2", 1).allowed);
}

TEST_CASE("refusals do not extend or overflow the window", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 1, 10);
  CHECK(limiter.check("k", 0).allowed);
  for (int i = 0; i < 100'000; ++i) {
    REQUIRE_FALSE(limiter.check("k", 500).allowed);
  }
  CHECK(limiter.check("k", 1'000).allowed);
}

TEST_CASE("a clock that steps back stays in the current window", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 10, 10);
  CHECK(limiter.check("k", 50'000).allowed);
  const auto earlier = limiter.check("k", 40'000);
  CHECK_FALSE(earlier.allowed);
  CHECK(earlier.reset_s == 10);
}

TEST_CASE("a limit of zero disables the local limiter", "[http][rate_limit]") {
  local_rate_limiter limiter(0, 60, 10);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(limiter.check("k", i).allowed);
  }
  CHECK(limiter.key_count() == 0);
}

TEST_CASE("the local limiter never holds more than keys_max keys", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 60, 3);
  for (int i = 0; i < 1000; ++i) {
    limiter.check("k" + std::to_string(i), i);
    REQUIRE(limiter.key_count() <= 3);
  }
  CHECK(limiter.key_count() == 3);
}

TEST_CASE("the key whose window started first is evicted first", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 60, 2);
  CHECK(limiter.check("a", 0).allowed);
  CHECK(limiter.check("b", 1).allowed);
  CHECK(limiter.check("c", 2).allowed);        // evicts "a", the oldest window
  CHECK_FALSE(limiter.check("b", 3).allowed);  // "b" kept its count
  CHECK_FALSE(limiter.check("c", 4).allowed);
  CHECK(limiter.check("a", 5).allowed);  // "a" starts over (evicting "b")
  CHECK(limiter.check("b", 6).allowed);  // and "b" too (evicting "c")
}

TEST_CASE("very long keys are cut to a bounded length", "[http][rate_limit]") {
  local_rate_limiter limiter(1, 60, 10);
  const std::string prefix(tally::http::rate_key_bytes_max, 'x');
  CHECK(limiter.check(prefix + "-one", 0).allowed);
  CHECK_FALSE(limiter.check(prefix + "-two", 1).allowed);
}

TEST_CASE("concurrent checks allow exactly the limit", "[http][rate_limit]") {
  local_rate_limiter limiter(1000, 60, 10);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.check("shared", 0).allowed) {
          allowed.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(allowed.load() == 1000);
}

TEST_CASE("an allowed request gets the three RateLimit headers", "[http][rate_limit]") {
  header_list headers;
  tally::http::rate_limit_headers(decide_fixed_window(4, 10, 60, 30), headers);
  CHECK(headers.size() == 3);
  CHECK(header(headers, "RateLimit-Limit") == "10");
  CHECK(header(headers, "RateLimit-Remaining") == "6");
  CHECK(header(headers, "RateLimit-Reset") == "30");
  CHECK(header(headers, "Retry-After") == "(absent)");
}

TEST_CASE("a refused request also gets Retry-After", "[http][rate_limit]") {
  header_list headers;
  tally::http::rate_limit_headers(decide_fixed_window(11, 10, 60, 30), headers);
  CHECK(headers.size() == 4);
  CHECK(header(headers, "RateLimit-Remaining") == "0");
  CHECK(header(headers, "Retry-After") == "30");
}

TEST_CASE("a disabled limiter adds no headers", "[http][rate_limit]") {
  header_list headers;
  tally::http::rate_limit_headers(rate_decision{}, headers);
  CHECK(headers.empty());
}
