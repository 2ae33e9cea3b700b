#pragma once
// The seam between a gateway client and the network: one function that sends
// a request under a retry policy. In production it is an owned
// outbound::http_client; unit tests pass a function that records the request
// and answers from fixtures.

#include <chrono>
#include <functional>

#include "outbound/http_client.hpp"

namespace tally::gateways {

using transport =
    std::function<outbound::outcome(const outbound::request&, const outbound::retry_policy&)>;

// A transport over its own outbound::http_client built from `options`. The
// function shares the client among its copies: like the client, it is not
// thread-safe (one per worker).
transport make_http_transport(outbound::client_options options = {});

// Per-call network settings shared by the clients.
struct call_settings {
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds timeout{10'000};  // one attempt
  // attempts_max, delays and budget; each call sets its own retry_mode.
  outbound::retry_policy retry{outbound::retry_mode::unambiguous, 3,
                               std::chrono::milliseconds{200},    std::chrono::milliseconds{2'000},
                               std::chrono::milliseconds{40'000}, true};
};

}  // namespace tally::gateways
