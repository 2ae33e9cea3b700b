#include "sandbox/webhook_sender.hpp"

#include <algorithm>

#include "domain/assert.hpp"
#include "domain/backoff.hpp"
#include "logging/log.hpp"
#include "sandbox/limits.hpp"
#include "sandbox/signature.hpp"

namespace tally::sandbox {

webhook_sender::webhook_sender(sender_options options, webhook_transport transport)
    : options_(std::move(options)), transport_(std::move(transport)), random_(options_.seed) {
  TALLY_ASSERT(options_.attempts_max >= 1);
  TALLY_ASSERT(options_.attempts_max <= limits::webhook_attempts_max);
  TALLY_ASSERT(transport_ != nullptr);
}

webhook_sender::~webhook_sender() {
  stop();
}

void webhook_sender::start() {
  TALLY_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { loop(); });
}

void webhook_sender::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_stopping_ && !thread_.joinable()) {
      return;
    }
    is_stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!queue_.empty() || !held_.empty()) {
    log::warn("sandbox_webhooks_dropped_at_stop", {{"count", queue_.size() + held_.size()}});
  }
}

sender_stats webhook_sender::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void webhook_sender::schedule(delivery d, clock::time_point due) {
  if (queue_.size() + held_.size() >= limits::webhook_queue_max && !queue_.empty()) {
    log::warn("sandbox_webhook_queue_full",
              {{"dropped_event_id", queue_.begin()->second.event_id}});
    queue_.erase(queue_.begin());
    ++stats_.dropped;
  }
  queue_.emplace(queue_key{due, sequence_++}, std::move(d));
}

void webhook_sender::enqueue(const std::string& event_id, std::string body,
                             const delivery_fate& fate) {
  if (fate.is_dropped) {
    log::info("sandbox_webhook_dropped", {{"event_id", event_id}, {"reason", "chaos"}});
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.dropped;
    return;
  }
  auto shared_body = std::make_shared<const std::string>(std::move(body));
  const auto now = clock::now();
  const int copies = fate.is_duplicated ? 2 : 1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_stopping_) {
      return;
    }
    for (int i = 0; i < copies; ++i) {
      delivery d{event_id, shared_body, 0};
      if (fate.is_reordered) {
        held_.emplace_back(now + fate.delay, std::move(d));
      } else {
        schedule(std::move(d), now + fate.delay);
      }
    }
    if (held_.size() >= 2) {
      release_held(now, /*is_forced=*/true);
    }
  }
  wake_.notify_all();
}

void webhook_sender::release_held(clock::time_point now, bool is_forced) {
  if (held_.empty()) {
    return;
  }
  if (!is_forced && held_.front().first + options_.reorder_window > now) {
    return;
  }
  // Newest first: the last held delivery gets the earliest queue position.
  clock::time_point due = now;
  for (const auto& [ready, d] : held_) {
    due = std::max(due, ready);
  }
  for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
    schedule(std::move(it->second), due);
  }
  held_.clear();
}

bool webhook_sender::attempt(const delivery& d) {
  header_list headers{{"Content-Type", "application/json"}};
  if (!options_.key_bytes.empty()) {
    const auto timestamp_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    headers.emplace_back("Omise-Signature",
                         omise_signature(options_.key_bytes, timestamp_s, *d.body));
    headers.emplace_back("Omise-Signature-Timestamp", std::to_string(timestamp_s));
  }
  const int status = transport_(options_.url, headers, *d.body, options_.attempt_timeout);
  const bool is_delivered = status >= 200 && status < 300;
  log::info(is_delivered ? "sandbox_webhook_delivered" : "sandbox_webhook_attempt_failed",
            {{"event_id", d.event_id}, {"status", status}, {"attempt", d.attempt + 1}});
  return is_delivered;
}

void webhook_sender::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!is_stopping_) {
    const auto now = clock::now();
    release_held(now, /*is_forced=*/false);
    if (!queue_.empty() && queue_.begin()->first.first <= now) {
      delivery d = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      lock.unlock();
      const bool is_delivered = attempt(d);
      const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
      lock.lock();
      ++d.attempt;
      if (is_delivered) {
        ++stats_.delivered;
      } else if (++stats_.failed_attempts; d.attempt < options_.attempts_max) {
        const auto delay = backoff_delay(d.attempt - 1, options_.retry_delay_min,
                                         options_.retry_delay_max, std::min(draw, 0.999999));
        schedule(std::move(d), clock::now() + delay);
      } else {
        ++stats_.abandoned;
        log::warn("sandbox_webhook_abandoned", {{"event_id", d.event_id}, {"attempts", d.attempt}});
      }
      continue;
    }
    auto wake_at = now + std::chrono::hours(1);
    if (!queue_.empty()) {
      wake_at = std::min(wake_at, queue_.begin()->first.first);
    }
    if (!held_.empty()) {
      wake_at = std::min(wake_at, held_.front().first + options_.reorder_window);
    }
    wake_.wait_until(lock, wake_at);
  }
}

}  // namespace tally::sandbox
