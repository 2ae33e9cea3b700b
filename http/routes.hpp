#pragma once
// The route table: every route the engine serves, registered once at start-up
// by one function per resource file (http/routes/*.cpp). The dispatcher runs
// the common steps (auth, content type, rate limits) from a route's spec
// before its handler, so handlers only parse, validate, ask and respond.

#include <functional>
#include <string>
#include <vector>

#include "http/exchange.hpp"
#include "http/router.hpp"

namespace tally::http {

enum class auth_kind { none, user, admin };

// What the route accepts as a body. `json` requires application/json;
// `optional_json` also accepts an empty body with no Content-Type; `none`
// ignores a body; `raw` passes any body through (webhooks verify it).
enum class body_kind { none, json, optional_json, raw };

// Rate-limit policies applied before the handler. `auth_ip` counts requests
// per source address on the identity endpoints.
enum class rate_policy { none, auth_ip };

using handler_fn = std::function<void(const exchange_ptr&)>;

struct route_spec {
  std::string method;
  std::string pattern;
  auth_kind auth = auth_kind::none;
  body_kind body = body_kind::none;
  rate_policy rate = rate_policy::none;
  handler_fn handler;
};

class route_table {
 public:
  void add(route_spec spec) {
    const std::size_t index = router_.add(spec.method, spec.pattern);
    if (index >= specs_.size()) {
      specs_.resize(index + 1);
    }
    specs_[index] = std::move(spec);
  }
  const router& routes() const { return router_; }
  const route_spec& at(std::size_t index) const { return specs_.at(index); }

 private:
  router router_;
  std::vector<route_spec> specs_;
};

}  // namespace tally::http
