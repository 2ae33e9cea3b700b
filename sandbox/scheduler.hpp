#pragma once
// Delayed work for the sandbox without blocking an io thread: chaos latency
// and held ("timed out") answers wait on Asio timers on one thread of their
// own, then answer through the exchange (which posts back to the
// connection's io thread). Also runs the periodic PromptPay expiry sweep.
//
// On SIGTERM/SIGINT (or flush()) every pending delayed work runs at once, so
// held answers do not keep the HTTP server's drain waiting.

#include <chrono>
#include <functional>
#include <memory>

namespace tally::sandbox {

class scheduler {
 public:
  scheduler();
  ~scheduler();  // stop()
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Starts the thread. REQUIRES: not started yet.
  void start();
  // Runs `work` on the scheduler thread after `delay` (or at flush/stop).
  void after(std::chrono::milliseconds delay, std::function<void()> work);
  // Runs `work` on the scheduler thread every `period` until stop().
  void every(std::chrono::milliseconds period, std::function<void()> work);
  // Runs every pending delayed work now.
  void flush();
  // Flushes, then stops and joins the thread.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tally::sandbox
