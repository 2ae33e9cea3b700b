// tests/sandbox/webhook_sender_test.cpp: covers sandbox/webhook_sender.cpp on
// its real delivery thread, with the network's far side replaced by a
// recording transport: signing, retries, duplicates, drops and reordering.
#include "sandbox/webhook_sender.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "domain/base64.hpp"
#include "sandbox/signature.hpp"

using namespace tally::sandbox;
using namespace std::chrono_literals;

namespace {

struct sent {
  header_list headers;
  std::string body;
};

// Answers with `statuses` in turn (then 200) and records every request.
struct recording_transport {
  std::mutex mutex;
  std::vector<sent> requests;
  std::vector<int> statuses;

  webhook_transport make() {
    return [this](const std::string&, const header_list& headers, const std::string& body,
                  std::chrono::milliseconds) {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back({headers, body});
      const std::size_t index = requests.size() - 1;
      return index < statuses.size() ? statuses[index] : 200;
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return requests.size();
  }
  std::vector<sent> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return requests;
  }
};

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

std::string header(const header_list& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return "";
}

sender_options fast_options() {
  sender_options options;
  options.url = "http://127.0.0.1:1/hook";
  options.retry_delay_min = 10ms;
  options.retry_delay_max = 40ms;
  options.reorder_window = 200ms;
  options.attempts_max = 3;
  return options;
}

}  // namespace

TEST_CASE("deliveries are signed over timestamp.body with the decoded secret",
          "[sandbox][webhooks]") {
  recording_transport far_side;
  auto options = fast_options();
  options.key_bytes = *tally::base64_decode(
      "c2FuZGJveC13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE=", tally::base64_padding::optional,
      tally::base64_trailing_bits::any);
  webhook_sender sender(options, far_side.make());
  sender.start();
  sender.enqueue("evnt_test_1", R"({"id":"evnt_test_1"})", {});
  REQUIRE(wait_for([&] { return far_side.count() == 1; }));
  const auto request = far_side.snapshot()[0];
  const std::string timestamp = header(request.headers, "Omise-Signature-Timestamp");
  REQUIRE_FALSE(timestamp.empty());
  CHECK(header(request.headers, "Content-Type") == "application/json");
  CHECK(header(request.headers, "Omise-Signature") ==
        omise_signature(options.key_bytes, std::stoll(timestamp), request.body));
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  CHECK(std::abs(now_s - std::stoll(timestamp)) < 5);
}

TEST_CASE("without a secret deliveries carry no signature", "[sandbox][webhooks]") {
  recording_transport far_side;
  webhook_sender sender(fast_options(), far_side.make());
  sender.start();
  sender.enqueue("evnt_test_1", "{}", {});
  REQUIRE(wait_for([&] { return far_side.count() == 1; }));
  CHECK(header(far_side.snapshot()[0].headers, "Omise-Signature").empty());
}

TEST_CASE("failed attempts are retried until a 2xx, up to attempts_max", "[sandbox][webhooks]") {
  recording_transport far_side;
  far_side.statuses = {500, 0, 200};
  webhook_sender sender(fast_options(), far_side.make());
  sender.start();
  sender.enqueue("evnt_test_1", "{}", {});
  REQUIRE(wait_for([&] { return sender.stats().delivered == 1; }));
  CHECK(far_side.count() == 3);
  CHECK(sender.stats().failed_attempts == 2);

  recording_transport refusing;
  refusing.statuses = {503, 503, 503, 503};
  webhook_sender giving_up(fast_options(), refusing.make());
  giving_up.start();
  giving_up.enqueue("evnt_test_2", "{}", {});
  REQUIRE(wait_for([&] { return giving_up.stats().abandoned == 1; }));
  CHECK(refusing.count() == 3);
}

TEST_CASE("chaos: duplicates arrive twice, drops never, delays late", "[sandbox][webhooks]") {
  recording_transport far_side;
  webhook_sender sender(fast_options(), far_side.make());
  sender.start();
  delivery_fate twice;
  twice.is_duplicated = true;
  sender.enqueue("evnt_test_dup", R"({"id":"evnt_test_dup"})", twice);
  delivery_fate dropped;
  dropped.is_dropped = true;
  sender.enqueue("evnt_test_drop", R"({"id":"evnt_test_drop"})", dropped);
  REQUIRE(wait_for([&] { return far_side.count() == 2; }));
  const auto requests = far_side.snapshot();
  CHECK(requests[0].body == R"({"id":"evnt_test_dup"})");
  CHECK(requests[1].body == requests[0].body);
  CHECK(sender.stats().dropped == 1);

  delivery_fate late;
  late.delay = 300ms;
  const auto start = std::chrono::steady_clock::now();
  sender.enqueue("evnt_test_late", "{}", late);
  REQUIRE(wait_for([&] { return far_side.count() == 3; }));
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
}

TEST_CASE("chaos: reordered deliveries go out newest first", "[sandbox][webhooks]") {
  recording_transport far_side;
  webhook_sender sender(fast_options(), far_side.make());
  sender.start();
  delivery_fate reorder;
  reorder.is_reordered = true;
  sender.enqueue("evnt_test_a", "first", reorder);
  sender.enqueue("evnt_test_b", "second", reorder);
  REQUIRE(wait_for([&] { return far_side.count() == 2; }));
  const auto requests = far_side.snapshot();
  CHECK(requests[0].body == "second");
  CHECK(requests[1].body == "first");

  // A lone held delivery still goes out once the reorder window has passed.
  sender.enqueue("evnt_test_c", "alone", reorder);
  REQUIRE(wait_for([&] { return far_side.count() == 3; }));
  CHECK(far_side.snapshot()[2].body == "alone");
}
