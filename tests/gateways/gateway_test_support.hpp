#pragma once
// Test support for tests/gateways: the recorded Omise fixtures and a fake
// transport standing in for the far side of the network (the gateway).

#include <cstdint>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateways/gateway.hpp"
#include "gateways/transport.hpp"

#ifndef TALLY_FIXTURES_DIR
#error "TALLY_FIXTURES_DIR must name tests/fixtures"
#endif

namespace tally::gateways::testing {

// The text of tests/fixtures/<relative>; fails the test when it is missing.
inline std::string fixture(const std::string& relative) {
  std::ifstream in(std::string(TALLY_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline outbound::outcome answer(int status, std::string body, outbound::header_list headers = {}) {
  outbound::outcome out;
  out.response = outbound::response{status, std::move(headers), std::move(body)};
  out.attempts = 1;
  return out;
}

inline outbound::outcome no_answer(errc error, bool ambiguous) {
  outbound::outcome out;
  out.error = error;
  out.ambiguous = ambiguous;
  out.attempts = 1;
  out.detail = ambiguous ? "timeout after the request was written" : "connection refused";
  return out;
}

// Records every request and its retry policy, and answers from a script in
// order; an exhausted script fails the test.
struct fake_gateway_side {
  struct call {
    outbound::request request;
    outbound::retry_policy policy;
  };
  std::deque<outbound::outcome> script;
  std::vector<call> calls;

  transport as_transport() {
    return [this](const outbound::request& req, const outbound::retry_policy& policy) {
      calls.push_back(call{req, policy});
      REQUIRE_FALSE(script.empty());
      auto next = std::move(script.front());
      script.pop_front();
      return next;
    };
  }
};

// The value of header `name` in `req` ("" when absent; names compared exactly).
inline std::string header_of(const outbound::request& req, const std::string& name) {
  for (const auto& [key, value] : req.headers) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

inline errc errc_of(const caf::error& err) {
  errc code = errc::internal;
  REQUIRE(as_errc(err, code));
  return code;
}

}  // namespace tally::gateways::testing
