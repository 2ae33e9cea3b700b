#include "sandbox/scheduler.hpp"

#include <csignal>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "domain/assert.hpp"
#include "logging/log.hpp"

namespace tally::sandbox {

namespace net = boost::asio;

struct scheduler::impl {
  net::io_context context{1};
  net::executor_work_guard<net::io_context::executor_type> guard{context.get_executor()};
  net::signal_set signals{context, SIGINT, SIGTERM};
  std::set<std::shared_ptr<net::steady_timer>> pending;      // scheduler thread only
  std::vector<std::shared_ptr<net::steady_timer>> periodic;  // scheduler thread only
  std::thread thread;
  bool is_stopped = false;

  void cancel_pending() {
    for (const auto& timer : pending) {
      timer->cancel();  // the handler still runs its work (with operation_aborted)
    }
  }

  void watch_signals() {
    // The HTTP server has its own signal_set for the same signals; Asio
    // notifies every set registered for a signal.
    signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) {
        cancel_pending();
      }
    });
  }

  void repeat(std::shared_ptr<net::steady_timer> timer, std::chrono::milliseconds period,
              std::shared_ptr<std::function<void()>> work) {
    timer->expires_after(period);
    timer->async_wait([this, timer, period, work](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      (*work)();
      repeat(timer, period, work);
    });
  }
};

scheduler::scheduler() : impl_(std::make_unique<impl>()) {}

scheduler::~scheduler() {
  stop();
}

void scheduler::start() {
  TALLY_ASSERT(!impl_->thread.joinable());
  impl_->watch_signals();
  impl_->thread = std::thread([this] { impl_->context.run(); });
}

void scheduler::after(std::chrono::milliseconds delay, std::function<void()> work) {
  net::post(impl_->context, [this, delay, work = std::move(work)]() mutable {
    auto timer = std::make_shared<net::steady_timer>(impl_->context);
    impl_->pending.insert(timer);
    timer->expires_after(delay);
    timer->async_wait([this, timer, work = std::move(work)](const boost::system::error_code&) {
      impl_->pending.erase(timer);
      work();
    });
  });
}

void scheduler::every(std::chrono::milliseconds period, std::function<void()> work) {
  TALLY_ASSERT(period.count() > 0);
  auto shared_work = std::make_shared<std::function<void()>>(std::move(work));
  net::post(impl_->context, [this, period, shared_work] {
    auto timer = std::make_shared<net::steady_timer>(impl_->context);
    impl_->periodic.push_back(timer);
    impl_->repeat(timer, period, shared_work);
  });
}

void scheduler::flush() {
  net::post(impl_->context, [this] { impl_->cancel_pending(); });
}

void scheduler::stop() {
  if (impl_->is_stopped) {
    return;
  }
  impl_->is_stopped = true;
  if (!impl_->thread.joinable()) {
    return;
  }
  // Pending delayed work runs (its timers are cancelled), periodic work ends;
  // run() returns once no handler is left.
  net::post(impl_->context, [this] {
    impl_->cancel_pending();
    for (const auto& timer : impl_->periodic) {
      timer->cancel();
    }
    impl_->signals.cancel();
    impl_->guard.reset();
  });
  impl_->thread.join();
}

}  // namespace tally::sandbox
