// tests/support/engine_process.hpp: the real engine binary (`tally serve`) as a child process
// of an integration test, listening on a free loopback port, with its stdout and stderr in a
// log file. Owned by one test (usually through engine_fixture, test_env.hpp); lives until
// destroyed. Not thread-safe.
//
// A child is never left running: the destructor stops it, and the child is started with
// PR_SET_PDEATHSIG = SIGKILL, so it dies with the test process even if that crashes or is
// killed by ctest's timeout. (Linux sends that signal when the *thread* that forked exits:
// construct engine_process on the test's main thread, or on a thread that outlives it.)
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tests/support/http_client.hpp"

namespace tally::test {

using env_map = std::map<std::string, std::string>;

inline constexpr std::chrono::seconds engine_ready_timeout_default{20};
inline constexpr std::chrono::seconds engine_stop_grace_default{10};

struct engine_options {
  // Set on top of the test process's own environment (after it, so they win).
  env_map env;
  // Removed from the inherited environment (e.g. a key the engine should generate itself).
  std::vector<std::string> env_unset;
  std::vector<std::string> args{"serve"};
  // The variable that receives 127.0.0.1:<picked port> (`tally sandbox` reads
  // TALLY_SANDBOX_LISTEN).
  std::string listen_env = "TALLY_LISTEN";
  // Empty: $TALLY_BINARY, else the `tally` target this library was built with.
  std::string binary;
  std::chrono::seconds ready_timeout = engine_ready_timeout_default;
  // False: return once the process is started, without polling /health/live (for tests of
  // an engine that must refuse to start; use wait_for_exit()).
  bool wait_until_live = true;
};

// Shell convention for how a process ended: its exit code, or 128 + the signal number.
int exit_status_from_wait(int wait_status);

// The engine binary integration tests run: $TALLY_BINARY if set, else the build's default.
std::string engine_binary_path();

class engine_process {
 public:
  // Picks a free loopback port (binds port 0, closes it), sets TALLY_LISTEN=127.0.0.1:<port>
  // (overriding any value in options.env), starts the binary, and, if
  // options.wait_until_live, polls GET /health/live until it answers 200.
  // Throws std::runtime_error, with the log path and its last lines in the message (Catch2
  // prints it), if the binary cannot be executed, exits early, or is not live within
  // options.ready_timeout; the child is killed (SIGKILL) and reaped before the throw.
  explicit engine_process(engine_options options);
  // Same, with the default options plus `env`.
  explicit engine_process(env_map env = {});
  ~engine_process();  // stop()
  engine_process(const engine_process&) = delete;
  engine_process& operator=(const engine_process&) = delete;
  engine_process(engine_process&&) = delete;
  engine_process& operator=(engine_process&&) = delete;

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] const std::string& log_path() const { return log_path_; }
  // The running child's process id, or -1 after it was reaped.
  [[nodiscard]] pid_t pid() const { return pid_; }
  // Reaps the child if it has exited; true while it runs.
  [[nodiscard]] bool is_running() noexcept;
  // A client for this engine's port (a new connection each time a client is made).
  [[nodiscard]] http_client client(std::chrono::milliseconds timeout = http_timeout_default) const;
  // The log's last `line_count` lines (reads at most the final 256 KiB).
  [[nodiscard]] std::string log_tail(std::size_t line_count = 60) const;
  // The whole log so far (for tests that assert on what the engine logged).
  [[nodiscard]] std::string log_text() const;

  // SIGTERM, then up to `grace` for it to exit, then SIGKILL. Returns the exit status
  // (exit_status_from_wait) — of the earlier exit if the child was already gone.
  int stop(std::chrono::seconds grace = engine_stop_grace_default) noexcept;
  // SIGKILL now (a crash), reaps it, returns 128 + 9 (or the earlier exit status).
  int kill9() noexcept;
  // Sends `signal_number` without waiting (SIGHUP, SIGSTOP, ...).
  void send_signal(int signal_number) noexcept;
  // Waits up to `timeout` for the child to exit on its own; its exit status, or nullopt
  // if it is still running.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) noexcept;
  // REQUIRES: the child is not running (after stop(), kill9() or an exit).
  // Starts the binary again with the same options and the same port, appending to the same
  // log; waits for /health/live as the constructor does. Throws as the constructor does.
  void restart();

 private:
  void launch();
  void wait_until_live();
  void kill_and_reap() noexcept;  // kill9() for a start that failed
  [[noreturn]] void fail_start(const std::string& what);

  engine_options options_;
  std::string host_ = "127.0.0.1";
  uint16_t port_ = 0;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  int start_count_ = 0;
};

}  // namespace tally::test
