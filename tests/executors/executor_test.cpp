// tests/executors/executor_test.cpp: covers executors/executor.cpp — noop and delay, and the
// http executor against a real HTTP server on loopback (the far side of the network boundary):
// what it sends, 2xx vs other answers, a timeout, and the target policy refusing a destination
// before anything is sent.
#include "executors/executor.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "outbound/target_policy.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

enum class far_side { answer_200, answer_500, never_answer };

// A one-thread HTTP server on an ephemeral loopback port. It records the last request it
// read and how many it read; `mode` decides the answer.
class test_server {
 public:
  explicit test_server(far_side mode)
      : mode_(mode), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~test_server() {
    stopping_ = true;
    // A blocking accept() is not woken by close() from another thread: connect once instead.
    boost::system::error_code ignored;
    asio::io_context io;
    tcp::socket poke(io);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    thread_.join();
    acceptor_.close(ignored);
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string last_request() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_;
  }

 private:
  void serve() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      std::string data;
      char buffer[4096];
      // Read headers, then the body by Content-Length.
      while (data.find("\r\n\r\n") == std::string::npos) {
        std::size_t n = socket.read_some(asio::buffer(buffer), ec);
        if (ec) {
          break;
        }
        data.append(buffer, n);
      }
      const auto header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) {
        continue;
      }
      std::size_t length = 0;
      const auto cl = data.find("Content-Length: ");
      if (cl != std::string::npos) {
        length = std::stoul(data.substr(cl + 16));
      }
      while (data.size() < header_end + 4 + length) {
        std::size_t n = socket.read_some(asio::buffer(buffer), ec);
        if (ec) {
          break;
        }
        data.append(buffer, n);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        last_ = data;
      }
      ++requests_;
      if (mode_ == far_side::never_answer) {
        // Holds the request unanswered for 5 s, or until the test ends.
        for (int i = 0; i < 100 && !stopping_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        continue;
      }
      const std::string body = mode_ == far_side::answer_200 ? "{\"ok\":true}" : "boom";
      const std::string status = mode_ == far_side::answer_200 ? "200 OK" : "500 Oops";
      const std::string response =
          "HTTP/1.1 " + status +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body;
      asio::write(socket, asio::buffer(response), ec);
    }
  }

  far_side mode_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::string last_;
};

tally::executors::executor_options options(bool allow_private) {
  tally::outbound::target_policy_settings settings;
  settings.allow_private = allow_private;
  auto policy = tally::outbound::target_policy::make(settings);
  REQUIRE(policy);
  tally::executors::executor_options out;
  out.policy = std::make_shared<const tally::outbound::target_policy>(*policy);
  return out;
}

tally::executors::execution_result run_http(uint16_t port, int64_t timeout_ms, bool allow_private,
                                            const std::string& input) {
  tally::executor_config config;
  config.type = tally::executor_type::http;
  config.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  config.timeout_ms = timeout_ms;
  auto executor = tally::executors::make_executor(config, options(allow_private));
  return executor->execute({"run-1", input, config});
}

}  // namespace

TEST_CASE("noop succeeds at once with an empty object", "[executors]") {
  tally::executor_config config;
  auto result = tally::executors::make_executor(config, options(false))->execute({"r", "", config});
  CHECK(result.is_success);
  CHECK(result.output_json == "{}");
}

TEST_CASE("delay waits its milliseconds, then succeeds", "[executors]") {
  tally::executor_config config;
  config.type = tally::executor_type::delay;
  config.delay_ms = 120;
  const auto start = std::chrono::steady_clock::now();
  auto result = tally::executors::make_executor(config, options(false))->execute({"r", "", config});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(result.is_success);
  CHECK(elapsed >= std::chrono::milliseconds(120));
  CHECK(nlohmann::json::parse(result.output_json)["slept_ms"] == 120);
}

TEST_CASE("http posts the run's input and succeeds on 2xx", "[executors][http]") {
  test_server server(far_side::answer_200);
  auto result = run_http(server.port(), 2'000, true, R"({"n":7})");
  CHECK(result.is_success);
  CHECK(server.requests() == 1);
  const std::string request = server.last_request();
  CHECK(request.rfind("POST /hook HTTP/1.1", 0) == 0);
  CHECK(request.find("{\"n\":7}") != std::string::npos);
  CHECK(request.find("Tally-Run-Id: run-1") != std::string::npos);
  auto output = nlohmann::json::parse(result.output_json);
  CHECK(output["status"] == 200);
  CHECK(output["body"]["ok"] == true);
}

TEST_CASE("http fails on a 500 answer, once, without retrying", "[executors][http]") {
  test_server server(far_side::answer_500);
  auto result = run_http(server.port(), 2'000, true, "");
  CHECK_FALSE(result.is_success);
  CHECK(result.error == "http target answered 500");
  CHECK(server.requests() == 1);
  CHECK(server.last_request().find("\r\n\r\nnull") != std::string::npos);  // no input: null
}

TEST_CASE("http fails when the target does not answer in time", "[executors][http]") {
  test_server server(far_side::never_answer);
  const auto start = std::chrono::steady_clock::now();
  auto result = run_http(server.port(), 300, true, "{}");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(result.is_success);
  CHECK(result.error == "http target timed out");
  // The 300 ms timeout, not the far side's 5 s hold, ended it (with room for a loaded CI box).
  CHECK(elapsed < std::chrono::milliseconds(4'000));
  CHECK(server.requests() == 1);
}

TEST_CASE("http refuses a loopback target outside dev mode, sending nothing", "[executors][http]") {
  test_server server(far_side::answer_200);
  auto result = run_http(server.port(), 1'000, false, "{}");
  CHECK_FALSE(result.is_success);
  CHECK(result.error.find("policy") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(server.requests() == 0);
}
