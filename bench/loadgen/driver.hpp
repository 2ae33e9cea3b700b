#pragma once
// The load engine of tally_loadgen: a fixed set of HTTP/1.1 keep-alive
// connections, spread over a few threads (one io_context each, so nothing is
// shared between threads but the workload and the open-loop schedule), each
// sending one request at a time. Closed loop: a connection sends its next
// request when the previous one is answered. Open loop: request k falls due at
// k / rate, the next free connection takes it, and latency runs from the time
// it was due, not from when it went out, so a slow server cannot hide its
// queueing (coordinated omission). Connections cap what is in flight: give the
// open loop at least rate x latency of them.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "bench/loadgen/histogram.hpp"

namespace tally::bench {

using bench_clock = std::chrono::steady_clock;

// One request as a workload built it, with the workload's own bookkeeping.
struct http_request {
  std::string bytes;     // the whole HTTP/1.1 request, head and body
  std::size_t item = 0;  // which account it is about
  uint32_t step = 0;     // which step of that account's setup chain
  uint32_t attempt = 0;  // 0 for the first try
};

struct http_answer {
  unsigned status = 0;    // 0: no answer (connect, write or read failed, or timed out)
  std::string_view body;  // valid only during on_answer
};

// What a workload tells a connection that asks for work.
enum class next_kind {
  send,  // `out` holds the request
  wait,  // nothing due yet (a retry is backing off): ask again in next_wait
  done,  // nothing left for this connection
};
inline constexpr std::chrono::milliseconds next_wait{10};

// What the connections send. Called from every load thread at once: an
// implementation synchronises its own state.
class workload {
 public:
  virtual ~workload() = default;
  // Fills `out` with the next request for a connection on `thread_index`.
  virtual next_kind next(std::size_t thread_index, http_request& out) = 0;
  // Takes the answer to `sent`; returns how long that connection waits before
  // asking next() again.
  virtual std::chrono::milliseconds on_answer(std::size_t thread_index, const http_request& sent,
                                              const http_answer& answer) = 0;
};

struct drive_settings {
  std::string host;
  uint16_t port = 0;
  uint32_t connection_count = 1;
  uint32_t thread_count = 1;
  double rate_per_s = 0;                          // 0: closed loop
  bench_clock::duration warmup{};                 // answers before this are not counted
  std::optional<bench_clock::duration> duration;  // none: until the workload runs dry
  std::chrono::milliseconds timeout{10'000};      // per request, connect included
  std::chrono::seconds progress_interval{5};
  std::function<void(double elapsed_s)> on_progress;  // called from the calling thread
};

inline constexpr unsigned status_slots = 600;

// What happened inside the measured window (after the warm-up, before the end).
struct drive_stats {
  latency_histogram latency;  // answered requests, any status
  std::array<uint64_t, status_slots> status_counts{};
  uint64_t transport_errors = 0;
  double measured_s = 0;

  void merge(const drive_stats& other);
  uint64_t count(unsigned status) const {
    return status < status_slots ? status_counts[status] : 0;
  }
  uint64_t answered() const;
};

// Runs `work` with `settings` and fills `stats`. Returns false, with `error`,
// only when the target cannot be resolved; failed requests are in `stats`.
bool drive(const drive_settings& settings, workload& work, drive_stats& stats, std::string& error);

}  // namespace tally::bench
