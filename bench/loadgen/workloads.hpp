#pragma once
// What tally_loadgen asks the engine. spend_workload is the measured mix:
// POST /v1/credits/spend on random accounts, each with a fresh
// Idempotency-Key. The item workloads walk a list of accounts once (register
// or log in; grant; the touch run), retrying transient failures with backoff.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bench/loadgen/accounts.hpp"
#include "bench/loadgen/driver.hpp"
#include "bench/loadgen/jwt_signer.hpp"

namespace tally::bench {

// Writes whole HTTP/1.1 requests for one server.
class request_writer {
 public:
  request_writer(const std::string& host, uint16_t port);
  // Returns a POST of `json_body`; `bearer` and `idempotency_key` are left
  // out when empty.
  std::string post(std::string_view path, std::string_view bearer, std::string_view idempotency_key,
                   std::string_view json_body) const;

 private:
  std::string host_line_;
};

// Access tokens for accounts: the stored one, else (with a key) one signed on the spot.
class token_source {
 public:
  explicit token_source(const jwt_signer* signer) : signer_(signer) {}
  // Returns the token to send for `account`; empty when there is none.
  std::string token_for(const bench_account& account) const;

 private:
  const jwt_signer* signer_;  // may be null
};

// Keeps the first few unexpected answers, for the report.
class answer_samples {
 public:
  void add(std::string what, const http_answer& answer);
  std::vector<std::string> list() const;

 private:
  static constexpr std::size_t samples_max = 5;
  mutable std::mutex mutex_;
  std::vector<std::string> samples_;
  std::atomic<std::size_t> count_{0};
};

class spend_workload final : public workload {
 public:
  // REQUIRES: account_count >= 1, accounts[0..account_count) have tokens (stored or signable).
  spend_workload(const request_writer& writer, const std::vector<bench_account>& accounts,
                 std::size_t account_count, const token_source& tokens, int64_t credits,
                 std::string run_id, std::size_t thread_count);
  next_kind next(std::size_t thread_index, http_request& out) override;
  std::chrono::milliseconds on_answer(std::size_t thread_index, const http_request& sent,
                                      const http_answer& answer) override;
  const answer_samples& unexpected() const { return unexpected_; }

 private:
  struct alignas(64) per_thread {
    uint64_t random_state = 0;
    uint64_t sent_count = 0;
  };
  const request_writer& writer_;
  const std::vector<bench_account>& accounts_;
  std::size_t account_count_;
  const token_source& tokens_;
  std::string body_;
  std::string key_prefix_;
  std::vector<per_thread> threads_;
  answer_samples unexpected_;
};

// What an answer means for one step of an account's chain.
enum class verdict { done, next_step, failed };

// Walks `items` (account indexes) once, each through steps first_step.. until
// done. No answer, 429, 502, 503 and 504 are retried up to attempts_max times
// with exponential backoff; other refusals fail the item.
class item_workload : public workload {
 public:
  item_workload(std::vector<std::size_t> items, uint32_t first_step);
  next_kind next(std::size_t thread_index, http_request& out) final;
  std::chrono::milliseconds on_answer(std::size_t thread_index, const http_request& sent,
                                      const http_answer& answer) final;

  std::size_t item_count() const { return items_.size(); }
  std::size_t finished_count() const { return done_count_.load() + failed_count_.load(); }
  std::size_t failed_count() const { return failed_count_.load(); }
  std::vector<std::string> failures() const { return failures_.list(); }

  static constexpr uint32_t attempts_max = 6;

 protected:
  virtual std::string build(std::size_t item, uint32_t step) = 0;
  virtual verdict judge(std::size_t item, uint32_t step, const http_answer& answer) = 0;
  // Names the request, for failure reports: "POST /v1/auth/register".
  virtual std::string describe(std::size_t item, uint32_t step) const = 0;

 private:
  std::vector<std::size_t> items_;
  uint32_t first_step_;
  std::atomic<std::size_t> next_position_{0};
  std::atomic<std::size_t> done_count_{0};
  std::atomic<std::size_t> failed_count_{0};
  struct retry {
    std::size_t item;
    uint32_t step;
    uint32_t attempt;
    bench_clock::time_point not_before;
  };
  // Takes a retry that is due into `out`; false when none is.
  bool take_due_retry(http_request& out);
  void requeue(const retry& again);

  std::mutex retries_mutex_;
  std::deque<retry> retries_;
  std::atomic<std::size_t> retry_count_{0};
  answer_samples failures_;
};

// Step 0: POST /v1/auth/register (409 moves on to step 1); step 1: POST
// /v1/auth/login. Stores each account's id and access token.
class identity_workload final : public item_workload {
 public:
  enum identity_step : uint32_t { register_step = 0, login_step = 1 };
  identity_workload(const request_writer& writer, std::vector<bench_account>& accounts,
                    std::vector<std::size_t> items, identity_step first);

 private:
  std::string build(std::size_t item, uint32_t step) override;
  verdict judge(std::size_t item, uint32_t step, const http_answer& answer) override;
  std::string describe(std::size_t item, uint32_t step) const override;

  const request_writer& writer_;
  std::vector<bench_account>& accounts_;
};

// Step 0: POST /v1/admin/users/{id}/grants; with spend_after, step 1 spends
// once on the account too (touch mode).
class grant_workload final : public item_workload {
 public:
  enum class spend_after { no, yes };
  struct settings {
    std::string admin_key;
    int64_t grant_credits = 0;
    int64_t spend_credits = 0;
    std::string run_id;
    spend_after then_spend = spend_after::no;
  };
  grant_workload(const request_writer& writer, const std::vector<bench_account>& accounts,
                 std::vector<std::size_t> items, const token_source& tokens, settings options);

 private:
  std::string build(std::size_t item, uint32_t step) override;
  verdict judge(std::size_t item, uint32_t step, const http_answer& answer) override;
  std::string describe(std::size_t item, uint32_t step) const override;

  const request_writer& writer_;
  const std::vector<bench_account>& accounts_;
  const token_source& tokens_;
  settings settings_;
  std::string grant_body_;
  std::string spend_body_;
};

}  // namespace tally::bench
