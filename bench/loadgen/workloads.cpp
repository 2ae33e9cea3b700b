#include "bench/loadgen/workloads.hpp"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace tally::bench {
namespace {

using json = nlohmann::json;

constexpr std::size_t sample_body_chars_max = 300;
constexpr std::chrono::milliseconds retry_delay_min{100};
constexpr int64_t signed_token_ttl_s = 3600;

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// splitmix64: small, fast and good enough to pick accounts uniformly.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool is_transient(unsigned status) {
  return status == 0 || status == 429 || (status >= 502 && status <= 504);
}

std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Reads {user:{id,email}, access_token, expires_in} into `account`; false when
// the body is not that shape.
bool read_token_body(std::string_view body, bench_account& account) {
  const json value = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) {
    return false;
  }
  const auto user = value.find("user");
  const auto token = value.find("access_token");
  const auto expires_in = value.find("expires_in");
  if (user == value.end() || !user->is_object() || token == value.end() || !token->is_string() ||
      expires_in == value.end() || !expires_in->is_number_integer()) {
    return false;
  }
  const auto id = user->find("id");
  if (id == user->end() || !id->is_string()) {
    return false;
  }
  account.user_id = id->get<std::string>();
  account.access_token = token->get<std::string>();
  account.expires_at_s = unix_now_s() + expires_in->get<int64_t>();
  return true;
}

}  // namespace

request_writer::request_writer(const std::string& host, uint16_t port)
    : host_line_("Host: " + host + ":" + std::to_string(port) + "\r\n") {}

std::string request_writer::post(std::string_view path, std::string_view bearer,
                                 std::string_view idempotency_key,
                                 std::string_view json_body) const {
  std::string text;
  text.reserve(200 + path.size() + bearer.size() + idempotency_key.size() + json_body.size());
  text.append("POST ").append(path).append(" HTTP/1.1\r\n").append(host_line_);
  if (!bearer.empty()) {
    text.append("Authorization: Bearer ").append(bearer).append("\r\n");
  }
  if (!idempotency_key.empty()) {
    text.append("Idempotency-Key: ").append(idempotency_key).append("\r\n");
  }
  text.append("Content-Type: application/json\r\nContent-Length: ")
      .append(std::to_string(json_body.size()))
      .append("\r\n\r\n")
      .append(json_body);
  return text;
}

std::string token_source::token_for(const bench_account& account) const {
  if (!account.access_token.empty() || signer_ == nullptr) {
    return account.access_token;
  }
  return signer_->sign(account.user_id, account.email, unix_now_s(), signed_token_ttl_s);
}

void answer_samples::add(std::string what, const http_answer& answer) {
  if (count_.fetch_add(1) >= samples_max) {
    return;
  }
  if (answer.status == 0) {
    what += " -> no answer (connect, write or read failed, or timed out)";
  } else {
    what += " -> " + std::to_string(answer.status) + " " +
            std::string(answer.body.substr(0, sample_body_chars_max));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  samples_.push_back(std::move(what));
}

std::vector<std::string> answer_samples::list() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return samples_;
}

spend_workload::spend_workload(const request_writer& writer,
                               const std::vector<bench_account>& accounts,
                               std::size_t account_count, const token_source& tokens,
                               int64_t credits, std::string run_id, std::size_t thread_count)
    : writer_(writer),
      accounts_(accounts),
      account_count_(account_count),
      tokens_(tokens),
      body_("{\"amount\":" + std::to_string(credits) + "}"),
      key_prefix_("bench-spend-" + std::move(run_id) + "-"),
      threads_(std::max<std::size_t>(1, thread_count)) {
  for (per_thread& thread : threads_) {
    thread.random_state = std::strtoull(random_hex(8).c_str(), nullptr, 16);
  }
}

next_kind spend_workload::next(std::size_t thread_index, http_request& out) {
  per_thread& thread = threads_[thread_index];
  const std::size_t item =
      static_cast<std::size_t>(next_random(thread.random_state) % account_count_);
  const std::string key =
      key_prefix_ + std::to_string(thread_index) + "-" + std::to_string(thread.sent_count++);
  out.item = item;
  out.bytes = writer_.post("/v1/credits/spend", tokens_.token_for(accounts_[item]), key, body_);
  return next_kind::send;
}

std::chrono::milliseconds spend_workload::on_answer(std::size_t, const http_request& sent,
                                                    const http_answer& answer) {
  if (answer.status != 201 && answer.status != 402) {
    unexpected_.add("POST /v1/credits/spend as " + accounts_[sent.item].user_id, answer);
  }
  return std::chrono::milliseconds::zero();
}

item_workload::item_workload(std::vector<std::size_t> items, uint32_t first_step)
    : items_(std::move(items)), first_step_(first_step) {}

bool item_workload::take_due_retry(http_request& out) {
  if (retry_count_.load() == 0) {
    return false;
  }
  std::lock_guard<std::mutex> lock(retries_mutex_);
  const auto now = bench_clock::now();
  const auto due = std::find_if(retries_.begin(), retries_.end(),
                                [now](const retry& r) { return r.not_before <= now; });
  if (due == retries_.end()) {
    return false;
  }
  out.item = due->item;
  out.step = due->step;
  out.attempt = due->attempt;
  retries_.erase(due);
  retry_count_.fetch_sub(1);
  return true;
}

void item_workload::requeue(const retry& again) {
  std::lock_guard<std::mutex> lock(retries_mutex_);
  retries_.push_back(again);
  retry_count_.fetch_add(1);
}

next_kind item_workload::next(std::size_t, http_request& out) {
  if (!take_due_retry(out)) {
    const std::size_t position = next_position_.fetch_add(1);
    if (position >= items_.size()) {
      // Retries still backing off need a connection when they fall due.
      return retry_count_.load() > 0 ? next_kind::wait : next_kind::done;
    }
    out.item = items_[position];
    out.step = first_step_;
    out.attempt = 0;
  }
  out.bytes = build(out.item, out.step);
  return next_kind::send;
}

std::chrono::milliseconds item_workload::on_answer(std::size_t, const http_request& sent,
                                                   const http_answer& answer) {
  const auto now = bench_clock::now();
  if (is_transient(answer.status)) {
    if (sent.attempt + 1 < attempts_max) {
      requeue(
          {sent.item, sent.step, sent.attempt + 1, now + retry_delay_min * (1 << sent.attempt)});
      return std::chrono::milliseconds::zero();
    }
    failures_.add(
        describe(sent.item, sent.step) + " (attempt " + std::to_string(attempts_max) + ")", answer);
    failed_count_.fetch_add(1);
    return std::chrono::milliseconds::zero();
  }
  switch (judge(sent.item, sent.step, answer)) {
    case verdict::done:
      done_count_.fetch_add(1);
      break;
    case verdict::next_step:
      requeue({sent.item, sent.step + 1, 0, now});
      break;
    case verdict::failed:
      failures_.add(describe(sent.item, sent.step), answer);
      failed_count_.fetch_add(1);
      break;
  }
  return std::chrono::milliseconds::zero();
}

identity_workload::identity_workload(const request_writer& writer,
                                     std::vector<bench_account>& accounts,
                                     std::vector<std::size_t> items, identity_step first)
    : item_workload(std::move(items), first), writer_(writer), accounts_(accounts) {}

std::string identity_workload::build(std::size_t item, uint32_t step) {
  const json body = {{"email", accounts_[item].email}, {"password", bench_password}};
  const char* path = step == register_step ? "/v1/auth/register" : "/v1/auth/login";
  return writer_.post(path, {}, {}, json_text(body));
}

verdict identity_workload::judge(std::size_t item, uint32_t step, const http_answer& answer) {
  if (step == register_step && answer.status == 409) {
    return verdict::next_step;  // registered by an earlier run: log in instead
  }
  const unsigned expected = step == register_step ? 201 : 200;
  if (answer.status != expected) {
    return verdict::failed;
  }
  // Each item belongs to one connection at a time: no two threads write one account.
  return read_token_body(answer.body, accounts_[item]) ? verdict::done : verdict::failed;
}

std::string identity_workload::describe(std::size_t item, uint32_t step) const {
  return std::string(step == register_step ? "POST /v1/auth/register" : "POST /v1/auth/login") +
         " for " + accounts_[item].email;
}

grant_workload::grant_workload(const request_writer& writer,
                               const std::vector<bench_account>& accounts,
                               std::vector<std::size_t> items, const token_source& tokens,
                               settings options)
    : item_workload(std::move(items), 0),
      writer_(writer),
      accounts_(accounts),
      tokens_(tokens),
      settings_(std::move(options)),
      grant_body_(json_text({{"amount", settings_.grant_credits}, {"reason", "bench"}})),
      spend_body_(json_text({{"amount", settings_.spend_credits}})) {}

std::string grant_workload::build(std::size_t item, uint32_t step) {
  const bench_account& account = accounts_[item];
  if (step == 0) {
    return writer_.post("/v1/admin/users/" + account.user_id + "/grants", settings_.admin_key,
                        "bench-grant-" + settings_.run_id + "-" + account.user_id, grant_body_);
  }
  return writer_.post("/v1/credits/spend", tokens_.token_for(account),
                      "bench-touch-" + settings_.run_id + "-" + account.user_id, spend_body_);
}

verdict grant_workload::judge(std::size_t, uint32_t step, const http_answer& answer) {
  if (step == 0) {
    if (answer.status != 200 && answer.status != 201) {
      return verdict::failed;
    }
    return settings_.then_spend == spend_after::yes ? verdict::next_step : verdict::done;
  }
  return answer.status == 201 || answer.status == 402 ? verdict::done : verdict::failed;
}

std::string grant_workload::describe(std::size_t item, uint32_t step) const {
  const std::string& id = accounts_[item].user_id;
  return step == 0 ? "POST /v1/admin/users/" + id + "/grants" : "POST /v1/credits/spend as " + id;
}

}  // namespace tally::bench
