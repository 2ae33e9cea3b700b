#pragma once
// Runs every request through the same steps, in order, on its io thread:
// route (404 / 405 with Allow) -> body rules (415 / empty body) -> rate rule
// -> authentication -> the route's handler. Records the access log line and
// the request metrics once the response has been written.

#include "http/authenticator.hpp"
#include "http/limiter.hpp"
#include "http/metrics.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"

namespace tally::http {

struct dispatcher_deps {
  const route_table* routes = nullptr;
  const authenticator* auth = nullptr;
  rate_rule* auth_ip_rule = nullptr;
  registry* metrics = nullptr;
};

class dispatcher final : public request_sink {
 public:
  explicit dispatcher(dispatcher_deps deps);

  void dispatch(const exchange_ptr& ex) override;
  void completed(const request_data& request, std::string_view route,
                 const std::string& request_id, const std::string& user_id, int status,
                 double duration_s) override;

 private:
  void authenticate_then_handle(const exchange_ptr& ex, const route_spec& spec);

  dispatcher_deps deps_;
  histogram* duration_ = nullptr;
  counter* requests_ = nullptr;
};

// True when `content_type` is application/json, with or without parameters.
bool is_json_content_type(std::string_view content_type);

}  // namespace tally::http
