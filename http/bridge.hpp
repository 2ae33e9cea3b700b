#pragma once
// The HTTP -> actor bridge: ask an actor from an io thread without blocking it.
//
//   ask<auth_grant>(sys, identity, timeout, ex,
//                   [ex](caf::expected<auth_grant> grant) { ... respond ... },
//                   login_atom_v, creds);
//
// A short-lived event-based actor sends the request with a timeout and posts
// the answer (or the error: errc, request_timeout, a dead actor) back to the
// exchange's io thread, where `on_result` runs. The callback always runs
// exactly once. Include this header only in route files (CAF templates).

#include <chrono>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

#include "http/exchange.hpp"

namespace tally::http {

template <class Result, class Handle, class OnResult, class... Ts>
void ask(caf::actor_system& sys, const Handle& target, std::chrono::milliseconds timeout,
         const exchange_ptr& ex, OnResult on_result, Ts... xs) {
  // The unused int: CAF 0.17 dereferences a null argument tuple when a function actor is
  // spawned with no arguments, which UBSan (-fno-sanitize-recover) aborts on.
  sys.spawn(
      [target, timeout, ex, on_result = std::move(on_result), xs...](caf::event_based_actor* self,
                                                                     int /*unused*/) mutable {
        self->request(target, timeout, std::move(xs)...)
            .then(
                [ex, on_result](Result& value) mutable {
                  ex->post([on_result, value = std::move(value)]() mutable {
                    on_result(caf::expected<Result>(std::move(value)));
                  });
                },
                [ex, on_result](caf::error& err) mutable {
                  ex->post([on_result, err = std::move(err)]() mutable {
                    on_result(caf::expected<Result>(std::move(err)));
                  });
                });
      },
      0);
}

}  // namespace tally::http
