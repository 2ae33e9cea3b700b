#pragma once
// A bounded, supervising dispatcher in front of detached worker actors that
// share one typed interface (each worker owns a blocking connection).
//
// - Each request goes to the live worker with the fewest requests in flight.
// - At most `depth_max` requests are in flight in the whole pool; beyond that
//   the pool answers errc::overloaded at once (no unbounded mailbox growth).
// - The pool monitors its workers and respawns a dead one after a backoff
//   that doubles per consecutive restart (limits::restart_delay_min..max).
//
// The pool itself never blocks: it only forwards and counts.

#include <chrono>
#include <functional>
#include <random>
#include <vector>

#include <caf/all.hpp>

#include "actors/pool_stats.hpp"
#include "actors/type_ids.hpp"
#include "config/limits.hpp"
#include "domain/backoff.hpp"
#include "domain/error.hpp"

namespace tally {

template <class Worker>
struct worker_pool_state {
  static inline const char* name = "worker_pool";
  std::vector<Worker> workers;  // an invalid handle marks a slot being restarted
  std::vector<uint32_t> in_flight;
  std::vector<uint32_t> restarts;
  uint32_t total_in_flight = 0;
  uint32_t depth_max = 0;
  std::chrono::milliseconds request_timeout{5'000};
  std::function<Worker()> spawn_worker;
  pool_stats_ptr stats = std::make_shared<pool_stats>();
  std::minstd_rand random{std::random_device{}()};
};

namespace detail {

template <class Worker>
std::size_t pick_worker(const worker_pool_state<Worker>& st) {
  std::size_t best = st.workers.size();
  for (std::size_t i = 0; i < st.workers.size(); ++i) {
    if (st.workers[i] && (best == st.workers.size() || st.in_flight[i] < st.in_flight[best])) {
      best = i;
    }
  }
  return best;
}

}  // namespace detail

// A pool's own interface: the workers' plus the delayed restart message.
template <class Worker>
using pool_interface = typename Worker::template extend<caf::reacts_to<restart_atom, uint64_t>>;

// Forwards one request to a worker and relays its answer. Use inside a pool
// behavior:
//   [=](login_atom a, const credentials& c) { return pool_forward<auth_grant>(self, a, c); }
template <class... Results, class Self, class... Ts>
caf::result<Results...> pool_forward(Self self, const Ts&... xs) {
  auto& st = self->state;
  if (st.total_in_flight >= st.depth_max) {
    ++st.stats->rejected;
    return errc::overloaded;
  }
  const std::size_t index = detail::pick_worker(st);
  if (index == st.workers.size()) {
    ++st.stats->rejected;
    return errc::storage_unavailable;
  }
  auto promise = self->template make_response_promise<Results...>();
  ++st.in_flight[index];
  ++st.total_in_flight;
  ++st.stats->in_flight;
  auto finish = [self, index](bool succeeded) {
    auto& s = self->state;
    --s.in_flight[index];
    --s.total_in_flight;
    --s.stats->in_flight;
    if (succeeded) {
      s.restarts[index] = 0;  // a healthy worker earns a fresh backoff
    }
  };
  self->request(st.workers[index], st.request_timeout, xs...)
      .then(
          [promise, finish](Results&... values) mutable {
            finish(true);
            promise.deliver(std::move(values)...);
          },
          [promise, finish](caf::error& err) mutable {
            finish(false);
            promise.deliver(std::move(err));
          });
  return promise;
}

// Workers are detached threads the pool owns: each ends with it. The functor runs after CAF
// has destroyed the pool's state (stateful_actor::on_exit), so it holds the worker's address
// itself and never touches `self->state`.
template <class Worker, class Self>
void pool_own_worker(Self self, const Worker& worker) {
  self->attach_functor([address = worker.address()](const caf::error&) {
    caf::anon_send_exit(address, caf::exit_reason::user_shutdown);
  });
}

// Spawns `count` workers into the pool's state and installs the down handler
// that restarts them with backoff. Call first thing in the pool's behavior.
template <class Worker, class Self>
void pool_start(Self self, uint32_t count, uint32_t depth_max,
                std::chrono::milliseconds request_timeout, std::function<Worker()> spawn_worker,
                pool_stats_ptr stats = nullptr) {
  auto& st = self->state;
  if (stats) {
    st.stats = std::move(stats);
  }
  st.depth_max = depth_max;
  st.request_timeout = request_timeout;
  st.spawn_worker = std::move(spawn_worker);
  for (uint32_t i = 0; i < count; ++i) {
    st.workers.push_back(st.spawn_worker());
    st.in_flight.push_back(0);
    st.restarts.push_back(0);
    self->monitor(st.workers.back());
    pool_own_worker(self, st.workers.back());
    ++st.stats->workers_alive;
  }
  self->set_down_handler([self](caf::down_msg& down) {
    auto& s = self->state;
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
      if (s.workers[i] && s.workers[i].address() == down.source) {
        s.workers[i] = Worker{};
        --s.stats->workers_alive;
        const auto delay =
            backoff_delay(s.restarts[i]++, limits::restart_delay_min, limits::restart_delay_max,
                          std::uniform_real_distribution<double>(0.0, 1.0)(s.random));
        self->delayed_send(self, delay, restart_atom_v, static_cast<uint64_t>(i));
      }
    }
  });
}

// Handles the delayed restart message sent by the down handler.
template <class Worker, class Self>
void pool_restart(Self self, uint64_t index) {
  auto& st = self->state;
  if (index < st.workers.size() && !st.workers[index]) {
    st.workers[index] = st.spawn_worker();
    self->monitor(st.workers[index]);
    pool_own_worker(self, st.workers[index]);
    ++st.stats->workers_alive;
    ++st.stats->restarts;
  }
}

}  // namespace tally
