#include "bench/loadgen/driver.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tally::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// After a failed request a connection waits at least this long, so a server
// that is down is not hammered with connects.
constexpr std::chrono::milliseconds transport_error_pause{50};
// After the measured window, answers still in flight get this long.
constexpr std::chrono::seconds drain_max{5};
constexpr uint64_t response_body_bytes_max = 1 << 20;

// What every connection of one drive() reads. Fixed before the threads start.
struct run_plan {
  tcp::endpoint endpoint;
  workload* work = nullptr;
  bench_clock::time_point start;
  bench_clock::time_point measure_from;
  bench_clock::time_point measure_until;
  std::optional<bench_clock::time_point> stop_at;  // nothing is sent at or after it
  // Open loop: request k of the run falls due at start + k / rate, whichever
  // connection is free to take it. Zero rate: closed loop.
  double rate_per_s = 0;
  std::atomic<uint64_t>* open_loop_next = nullptr;  // the next k, shared by all threads
  std::chrono::milliseconds timeout{};

  bench_clock::time_point due_time(uint64_t k) const {
    using seconds_f = std::chrono::duration<double>;
    return start + std::chrono::duration_cast<bench_clock::duration>(
                       seconds_f(static_cast<double>(k) / rate_per_s));
  }
};

class connection;

// One load thread: its io_context, its connections and its own counters.
struct thread_state {
  explicit thread_state(std::size_t thread_index) : index(thread_index), drain(io) {}
  std::size_t index;
  asio::io_context io{1};
  asio::steady_timer drain;
  drive_stats stats;
  bench_clock::time_point last_answer{};
  std::vector<std::shared_ptr<connection>> connections;
  std::size_t active_count = 0;
};

void record(thread_state& thread, const run_plan& plan, bench_clock::time_point started,
            bench_clock::time_point answered, unsigned status) {
  thread.last_answer = std::max(thread.last_answer, answered);
  if (answered < plan.measure_from || answered >= plan.measure_until) {
    return;
  }
  if (status == 0) {
    ++thread.stats.transport_errors;
    return;
  }
  ++thread.stats.status_counts[std::min(status, status_slots - 1)];
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(answered - started);
  thread.stats.latency.record(static_cast<uint64_t>(std::max<int64_t>(0, latency.count())));
}

// One keep-alive connection: asks the workload for a request, sends it, reads
// the answer, records it, repeats. Reconnects when the server closes or a
// request fails. Lives on one thread; owned by its thread_state.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(thread_state& thread, const run_plan& plan)
      : thread_(thread),
        plan_(plan),
        socket_(thread.io),
        pause_timer_(thread.io),
        deadline_(thread.io) {}

  void start() { issue(); }

  // The drain time is over: drop whatever is in flight, uncounted.
  void abandon() {
    is_abandoned_ = true;
    error_code ignored;
    pause_timer_.cancel(ignored);
    deadline_.cancel(ignored);
    socket_.close(ignored);
    finish();
  }

 private:
  void issue() {
    if (is_abandoned_) {
      return;
    }
    const auto now = bench_clock::now();
    if (plan_.stop_at && now >= *plan_.stop_at) {
      return finish();
    }
    switch (plan_.work->next(thread_.index, request_)) {
      case next_kind::done:
        return finish();
      case next_kind::wait:
        return pause_then_issue(next_wait);
      case next_kind::send:
        break;
    }
    if (plan_.open_loop_next == nullptr) {
      started_ = now;
      return send();
    }
    // Open loop: latency counts from when the request was due, so time spent
    // waiting for a free connection is charged to the server, not hidden.
    started_ = plan_.due_time(plan_.open_loop_next->fetch_add(1));
    if (plan_.stop_at && started_ >= *plan_.stop_at) {
      return finish();
    }
    if (started_ <= now) {
      return send();
    }
    pause_timer_.expires_at(started_);
    pause_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) {
        self->send();
      }
    });
  }

  void send() {
    if (is_abandoned_) {
      return;
    }
    ++generation_;
    deadline_.expires_after(plan_.timeout);
    deadline_.async_wait(
        [self = shared_from_this(), generation = generation_](const error_code& ec) {
          if (!ec && generation == self->generation_) {
            error_code ignored;
            self->socket_.close(ignored);  // the pending operation fails with operation_aborted
          }
        });
    if (socket_.is_open()) {
      return write();
    }
    buffer_.consume(buffer_.size());
    socket_.async_connect(plan_.endpoint, [self = shared_from_this()](const error_code& ec) {
      if (ec) {
        return self->fail();
      }
      error_code ignored;
      self->socket_.set_option(tcp::no_delay(true), ignored);
      self->write();
    });
  }

  void write() {
    asio::async_write(socket_, asio::buffer(request_.bytes),
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                        if (ec) {
                          return self->fail();
                        }
                        self->read();
                      });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(response_body_bytes_max);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(const error_code& ec) {
    ++generation_;
    error_code ignored;
    deadline_.cancel(ignored);
    if (ec) {
      return fail();
    }
    const auto& response = parser_->get();
    const bool is_kept_alive = parser_->keep_alive();
    const auto pause = complete(response.result_int(), response.body());
    if (!is_kept_alive) {
      close_socket();
    }
    pause_then_issue(pause);
  }

  void fail() {
    ++generation_;
    close_socket();
    if (is_abandoned_) {
      return;
    }
    const auto pause = complete(0, {});
    pause_then_issue(std::max(pause, transport_error_pause));
  }

  std::chrono::milliseconds complete(unsigned status, std::string_view body) {
    record(thread_, plan_, started_, bench_clock::now(), status);
    return plan_.work->on_answer(thread_.index, request_, http_answer{status, body});
  }

  void pause_then_issue(std::chrono::milliseconds pause) {
    if (pause <= std::chrono::milliseconds::zero()) {
      return issue();
    }
    pause_timer_.expires_after(pause);
    pause_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) {
        self->issue();
      }
    });
  }

  void close_socket() {
    error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
  }

  void finish() {
    close_socket();
    if (is_finished_) {
      return;
    }
    is_finished_ = true;
    if (--thread_.active_count == 0) {
      error_code ignored;
      thread_.drain.cancel(ignored);  // nobody left to wait for
    }
  }

  thread_state& thread_;
  const run_plan& plan_;
  tcp::socket socket_;
  asio::steady_timer pause_timer_;
  asio::steady_timer deadline_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  http_request request_;
  bench_clock::time_point started_;  // latency is measured from here
  uint64_t generation_ = 0;          // tells a stale deadline from the current one
  bool is_abandoned_ = false;
  bool is_finished_ = false;
};

bool resolve(const drive_settings& settings, tcp::endpoint& endpoint, std::string& error) {
  asio::io_context io;
  tcp::resolver resolver(io);
  error_code ec;
  const auto results = resolver.resolve(settings.host, std::to_string(settings.port), ec);
  if (ec || results.empty()) {
    error = "cannot resolve " + settings.host + ":" + std::to_string(settings.port) + ": " +
            (ec ? ec.message() : std::string("no address"));
    return false;
  }
  endpoint = results.begin()->endpoint();
  return true;
}

void fill_plan(const drive_settings& settings, workload& work, const tcp::endpoint& endpoint,
               std::atomic<uint64_t>& open_loop_next, run_plan& plan) {
  plan.endpoint = endpoint;
  plan.work = &work;
  plan.timeout = settings.timeout;
  plan.start = bench_clock::now();
  if (settings.duration) {
    plan.measure_from = plan.start + settings.warmup;
    plan.measure_until = plan.measure_from + *settings.duration;
    plan.stop_at = plan.measure_until;
  } else {
    plan.measure_from = plan.start;
    plan.measure_until = bench_clock::time_point::max();
  }
  if (settings.rate_per_s > 0) {
    plan.rate_per_s = settings.rate_per_s;
    plan.open_loop_next = &open_loop_next;
  }
}

// Starts the thread's connections and, for a timed run, its drain deadline.
void prepare(thread_state& thread, const run_plan& plan) {
  thread.active_count = thread.connections.size();
  for (auto& conn : thread.connections) {
    asio::post(thread.io, [conn] { conn->start(); });
  }
  if (plan.stop_at && !thread.connections.empty()) {
    thread.drain.expires_at(*plan.stop_at + drain_max);
    thread.drain.async_wait([&thread](const error_code& ec) {
      if (!ec) {
        for (auto& conn : thread.connections) {
          conn->abandon();
        }
      }
    });
  }
}

void wait_for(std::vector<std::thread>& workers, const std::atomic<std::size_t>& finished,
              const drive_settings& settings, bench_clock::time_point start) {
  auto next_progress = start + settings.progress_interval;
  while (finished.load() < workers.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = bench_clock::now();
    if (settings.on_progress && now >= next_progress) {
      next_progress += settings.progress_interval;
      settings.on_progress(std::chrono::duration<double>(now - start).count());
    }
  }
  for (auto& worker : workers) {
    worker.join();
  }
}

}  // namespace

void drive_stats::merge(const drive_stats& other) {
  latency.merge(other.latency);
  for (unsigned i = 0; i < status_slots; ++i) {
    status_counts[i] += other.status_counts[i];
  }
  transport_errors += other.transport_errors;
}

uint64_t drive_stats::answered() const {
  uint64_t total = 0;
  for (const uint64_t n : status_counts) {
    total += n;
  }
  return total;
}

bool drive(const drive_settings& settings, workload& work, drive_stats& stats, std::string& error) {
  tcp::endpoint endpoint;
  if (!resolve(settings, endpoint, error)) {
    return false;
  }
  std::atomic<uint64_t> open_loop_next{0};
  run_plan plan;
  fill_plan(settings, work, endpoint, open_loop_next, plan);
  const std::size_t thread_count = std::max<std::size_t>(1, settings.thread_count);
  std::vector<std::unique_ptr<thread_state>> threads;
  for (std::size_t t = 0; t < thread_count; ++t) {
    threads.push_back(std::make_unique<thread_state>(t));
  }
  for (std::size_t c = 0; c < settings.connection_count; ++c) {
    thread_state& owner = *threads[c % thread_count];
    owner.connections.push_back(std::make_shared<connection>(owner, plan));
  }
  std::atomic<std::size_t> finished{0};
  std::vector<std::thread> workers;
  for (auto& thread : threads) {
    prepare(*thread, plan);
    workers.emplace_back([&thread, &finished] {
      thread->io.run();
      finished.fetch_add(1);
    });
  }
  wait_for(workers, finished, settings, plan.start);

  stats = drive_stats{};
  bench_clock::time_point last_answer = plan.start;
  for (auto& thread : threads) {
    stats.merge(thread->stats);
    last_answer = std::max(last_answer, thread->last_answer);
    thread->connections.clear();  // breaks nothing: every handler has run
  }
  stats.measured_s = settings.duration
                         ? std::chrono::duration<double>(*settings.duration).count()
                         : std::chrono::duration<double>(last_answer - plan.start).count();
  return true;
}

}  // namespace tally::bench
