// tests/support/engine_process.cpp: fork/execve with everything the child needs prepared
// before fork(), because after fork() in a threaded process only async-signal-safe calls
// are allowed. An exec failure comes back through a close-on-exec pipe.
#include "tests/support/engine_process.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tally::test {
namespace {

constexpr std::chrono::milliseconds live_probe_timeout{1000};
constexpr std::chrono::milliseconds live_probe_interval{50};
constexpr std::chrono::milliseconds exit_poll_interval{10};
constexpr std::streamoff log_tail_bytes_max = 256 * 1024;
constexpr int exec_failed_exit_code = 127;

std::runtime_error system_failure(const std::string& what, int error_number) {
  return std::runtime_error(what + ": " + std::strerror(error_number));
}

// A loopback port nobody listens on right now. Another process could take it before the
// engine binds it; the engine then exits and the start fails with its log.
uint16_t pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw system_failure("socket()", errno);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  bool is_bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  int error_number = errno;
  ::close(fd);
  if (!is_bound) {
    throw system_failure("cannot find a free loopback port", error_number);
  }
  return ntohs(address.sin_port);
}

std::filesystem::path log_directory() {
  const char* configured = std::getenv("TALLY_TEST_LOG_DIR");
  std::filesystem::path directory =
      configured != nullptr && *configured != '\0'
          ? std::filesystem::path(configured)
          : std::filesystem::temp_directory_path() / "tally-test-logs";
  std::filesystem::create_directories(directory);
  return directory;
}

std::string make_log_path(uint16_t port) {
  static std::atomic<int> sequence{0};
  auto name = "engine-" + std::to_string(::getpid()) + "-" + std::to_string(++sequence) + "-" +
              std::to_string(port) + ".log";
  return (log_directory() / name).string();
}

std::vector<std::string> build_environment(const engine_options& options, uint16_t port) {
  env_map merged;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    auto equals = text.find('=');
    if (equals != std::string::npos && equals > 0) {
      merged[text.substr(0, equals)] = text.substr(equals + 1);
    }
  }
  for (const auto& name : options.env_unset) {
    merged.erase(name);
  }
  for (const auto& [name, value] : options.env) {
    merged[name] = value;
  }
  merged[options.listen_env] = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> result;
  result.reserve(merged.size());
  for (const auto& [name, value] : merged) {
    result.push_back(name + "=" + value);
  }
  return result;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& text : strings) {
    result.push_back(text.data());
  }
  result.push_back(nullptr);
  return result;
}

std::string command_line(const engine_options& options) {
  std::string text = options.binary;
  for (const auto& arg : options.args) {
    text += " " + arg;
  }
  return text;
}

void write_all(int fd, const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    auto count = ::write(fd, text.data() + written, text.size() - written);
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count <= 0) {
      return;  // best effort: a banner line in the log
    }
    written += static_cast<std::size_t>(count);
  }
}

// The file descriptors a child start needs; closed in the parent by the destructor.
struct launch_fds {
  int log = -1;
  int null_input = -1;
  int exec_error_read = -1;
  int exec_error_write = -1;

  launch_fds() = default;
  launch_fds(const launch_fds&) = delete;
  launch_fds& operator=(const launch_fds&) = delete;
  ~launch_fds() {
    for (int fd : {log, null_input, exec_error_read, exec_error_write}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }
};

// In the child, between fork() and execve(): async-signal-safe calls only.
[[noreturn]] void exec_child(const launch_fds& fds, pid_t parent, char* const* argv,
                             char* const* envp) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {  // the test process died before prctl took effect
    ::_exit(exec_failed_exit_code);
  }
  ::dup2(fds.null_input, STDIN_FILENO);
  ::dup2(fds.log, STDOUT_FILENO);
  ::dup2(fds.log, STDERR_FILENO);
  // Descriptors the test process opened (database sockets, ...) stay out of the engine.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &default_action, nullptr);
  ::execve(argv[0], argv, envp);
  int error_number = errno;
  auto ignored = ::write(fds.exec_error_write, &error_number, sizeof(error_number));
  (void)ignored;
  ::_exit(exec_failed_exit_code);
}

// Reads the errno the child reports if execve failed; 0 once execve succeeded (the
// close-on-exec pipe then closes without data).
int read_exec_error(int fd) {
  int error_number = 0;
  ssize_t count = 0;
  do {
    count = ::read(fd, &error_number, sizeof(error_number));
  } while (count < 0 && errno == EINTR);
  return count == static_cast<ssize_t>(sizeof(error_number)) ? error_number : 0;
}

pid_t wait_blocking(pid_t pid, int& wait_status) {
  pid_t result = 0;
  do {
    result = ::waitpid(pid, &wait_status, 0);
  } while (result < 0 && errno == EINTR);
  return result;
}

}  // namespace

int exit_status_from_wait(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return WEXITSTATUS(wait_status);
  }
  if (WIFSIGNALED(wait_status)) {
    return 128 + WTERMSIG(wait_status);
  }
  return -1;
}

std::string engine_binary_path() {
  const char* configured = std::getenv("TALLY_BINARY");
  if (configured != nullptr && *configured != '\0') {
    return configured;
  }
#ifdef TALLY_DEFAULT_BINARY
  return TALLY_DEFAULT_BINARY;
#else
  throw std::runtime_error("TALLY_BINARY is not set and no default engine binary was built in");
#endif
}

engine_process::engine_process(engine_options options) : options_(std::move(options)) {
  if (options_.binary.empty()) {
    options_.binary = engine_binary_path();
  }
  port_ = pick_free_port();
  log_path_ = make_log_path(port_);
  try {
    launch();
    if (options_.wait_until_live) {
      wait_until_live();
    }
  } catch (...) {
    kill_and_reap();  // the destructor does not run for a constructor that throws
    throw;
  }
}

namespace {
engine_options options_with_env(env_map env) {
  engine_options options;
  options.env = std::move(env);
  return options;
}
}  // namespace

engine_process::engine_process(env_map env) : engine_process(options_with_env(std::move(env))) {}

engine_process::~engine_process() {
  stop();
}

void engine_process::launch() {
  if (::access(options_.binary.c_str(), X_OK) != 0) {
    throw system_failure("engine binary " + options_.binary + " is not executable", errno);
  }
  std::vector<std::string> arg_strings{options_.binary};
  arg_strings.insert(arg_strings.end(), options_.args.begin(), options_.args.end());
  auto env_strings = build_environment(options_, port_);
  auto argv = pointers_to(arg_strings);
  auto envp = pointers_to(env_strings);

  launch_fds fds;
  fds.log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fds.log < 0) {
    throw system_failure("cannot open engine log " + log_path_, errno);
  }
  fds.null_input = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2] = {-1, -1};
  if (fds.null_input < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw system_failure("cannot prepare the engine's descriptors", errno);
  }
  fds.exec_error_read = pipe_fds[0];
  fds.exec_error_write = pipe_fds[1];
  ++start_count_;
  write_all(fds.log, "=== test harness: start " + std::to_string(start_count_) + ": " +
                         command_line(options_) +
                         " (TALLY_LISTEN=127.0.0.1:" + std::to_string(port_) + ") ===\n");

  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    throw system_failure("fork()", errno);
  }
  if (child == 0) {
    exec_child(fds, parent, argv.data(), envp.data());
  }
  pid_ = child;
  exit_status_.reset();
  ::close(fds.exec_error_write);
  fds.exec_error_write = -1;
  if (int error_number = read_exec_error(fds.exec_error_read); error_number != 0) {
    kill_and_reap();
    throw system_failure("cannot execute " + options_.binary, error_number);
  }
}

void engine_process::wait_until_live() {
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  std::string last_attempt = "no attempt";
  while (true) {
    if (!is_running()) {
      fail_start("exited with status " + std::to_string(exit_status_.value_or(-1)) +
                 " before GET /health/live answered 200");
    }
    try {
      auto response = client(live_probe_timeout).get("/health/live");
      if (response.status == 200) {
        return;
      }
      last_attempt = response.describe();
    } catch (const std::exception& error) {
      last_attempt = error.what();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      fail_start("did not answer 200 on GET /health/live within " +
                 std::to_string(options_.ready_timeout.count()) +
                 " s; last attempt: " + last_attempt);
    }
    std::this_thread::sleep_for(live_probe_interval);
  }
}

void engine_process::fail_start(const std::string& what) {
  kill_and_reap();
  throw std::runtime_error("engine `" + command_line(options_) +
                           "` on 127.0.0.1:" + std::to_string(port_) + " " + what +
                           "\nlog: " + log_path_ + "\n---- last lines of the engine log ----\n" +
                           log_tail() + "---- end of the engine log ----");
}

bool engine_process::is_running() noexcept {
  if (pid_ < 0) {
    return false;
  }
  int wait_status = 0;
  pid_t result = ::waitpid(pid_, &wait_status, WNOHANG);
  if (result == 0 || (result < 0 && errno == EINTR)) {
    return true;
  }
  exit_status_ = result == pid_ ? exit_status_from_wait(wait_status) : -1;
  pid_ = -1;
  return false;
}

http_client engine_process::client(std::chrono::milliseconds timeout) const {
  return http_client(host_, port_, timeout);
}

std::string engine_process::log_text() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string engine_process::log_tail(std::size_t line_count) const {
  std::ifstream in(log_path_, std::ios::binary | std::ios::ate);
  if (!in) {
    return "(no log file)\n";
  }
  std::streamoff size = in.tellg();
  in.seekg(size > log_tail_bytes_max ? size - log_tail_bytes_max : 0);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > line_count) {
      lines.pop_front();
    }
  }
  std::string text;
  for (const auto& kept : lines) {
    text += kept + "\n";
  }
  return text.empty() ? "(empty)\n" : text;
}

std::optional<int> engine_process::wait_for_exit(std::chrono::milliseconds timeout) noexcept {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (is_running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(exit_poll_interval);
  }
  return exit_status_;
}

int engine_process::stop(std::chrono::seconds grace) noexcept {
  if (!is_running()) {
    return exit_status_.value_or(-1);
  }
  ::kill(pid_, SIGTERM);
  if (auto status = wait_for_exit(grace)) {
    return *status;
  }
  return kill9();
}

int engine_process::kill9() noexcept {
  if (!is_running()) {
    return exit_status_.value_or(-1);
  }
  ::kill(pid_, SIGKILL);
  int wait_status = 0;
  pid_t result = wait_blocking(pid_, wait_status);
  exit_status_ = result == pid_ ? exit_status_from_wait(wait_status) : -1;
  pid_ = -1;
  return *exit_status_;
}

void engine_process::send_signal(int signal_number) noexcept {
  if (pid_ > 0) {
    ::kill(pid_, signal_number);
  }
}

void engine_process::restart() {
  if (is_running()) {
    throw std::logic_error("engine_process::restart() while the engine still runs");
  }
  try {
    launch();
    if (options_.wait_until_live) {
      wait_until_live();
    }
  } catch (...) {
    kill_and_reap();
    throw;
  }
}

void engine_process::kill_and_reap() noexcept {
  kill9();
}

}  // namespace tally::test
