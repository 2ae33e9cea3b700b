#include "http/dispatcher.hpp"

#include <algorithm>

#include "domain/assert.hpp"
#include "http/problem.hpp"
#include "logging/log.hpp"

namespace tally::http {

bool is_json_content_type(std::string_view content_type) {
  std::string lowered(content_type.substr(0, content_type.find(';')));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!lowered.empty() && lowered.back() == ' ') {
    lowered.pop_back();
  }
  return lowered == "application/json";
}

dispatcher::dispatcher(dispatcher_deps deps) : deps_(deps) {
  TALLY_ASSERT(deps_.routes != nullptr);
  TALLY_ASSERT(deps_.auth != nullptr);
  TALLY_ASSERT(deps_.metrics != nullptr);
  duration_ = &deps_.metrics->add_histogram(
      "http_server_request_duration_seconds", "Duration of HTTP requests, by route and status.",
      {"http_request_method", "http_route", "http_response_status_code"});
  requests_ = &deps_.metrics->add_counter(
      "http_server_requests_total", "HTTP requests answered, by route and status.",
      {"http_request_method", "http_route", "http_response_status_code"});
}

void dispatcher::dispatch(const exchange_ptr& ex) {
  const auto match = deps_.routes->routes().match(ex->method(), ex->path());
  if (match.kind == match_kind::not_found) {
    return ex->respond_problem(route_not_found());
  }
  if (match.kind == match_kind::method_not_allowed) {
    ex->add_response_header("Allow", match.allow);
    return ex->respond_problem(method_not_allowed());
  }
  ex->set_route(match.pattern);
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& p : match.params) {
    params.emplace_back(p.name, p.value);
  }
  ex->set_params(std::move(params));
  const route_spec& spec = deps_.routes->at(match.route_index);
  const bool has_body = !ex->body().empty();
  if (spec.body == body_kind::json || (spec.body == body_kind::optional_json && has_body)) {
    auto content_type = ex->header("content-type");
    if (!content_type || !is_json_content_type(*content_type)) {
      return ex->respond_problem(
          unsupported_media_type("This endpoint takes application/json."));
    }
  }
  if (spec.rate == rate_policy::auth_ip && deps_.auth_ip_rule != nullptr) {
    return deps_.auth_ip_rule->check(ex, ex->source_ip(),
                                     [this, ex, &spec] { authenticate_then_handle(ex, spec); });
  }
  authenticate_then_handle(ex, spec);
}

void dispatcher::authenticate_then_handle(const exchange_ptr& ex, const route_spec& spec) {
  switch (spec.auth) {
    case auth_kind::none:
      return spec.handler(ex);
    case auth_kind::admin:
      return deps_.auth->authenticate_admin(ex, [ex, &spec] { spec.handler(ex); });
    case auth_kind::user:
      return deps_.auth->authenticate_user(ex, [ex, &spec] { spec.handler(ex); });
  }
}

void dispatcher::completed(const request_data& request, std::string_view route,
                           const std::string& request_id, const std::string& user_id,
                           int status, double duration_s) {
  // Unmatched paths share one label so scanners cannot blow up cardinality.
  const std::string route_label = route.empty() ? "unmatched" : std::string(route);
  const std::string status_label = std::to_string(status);
  duration_->observe({request.method, route_label, status_label}, duration_s);
  requests_->inc({request.method, route_label, status_label});
  if (!log::enabled(log::level::info)) {
    return;
  }
  nlohmann::json line = {{"method", request.method},
                         {"path", request.path},
                         {"route", route_label},
                         {"status", status},
                         {"duration_ms", duration_s * 1000.0},
                         {"request_id", request_id},
                         {"remote", request.source_ip}};
  if (!user_id.empty()) {
    line["user_id"] = user_id;
  }
  for (const auto& [name, value] : request.headers) {
    if (name == "traceparent") {
      line["traceparent"] = value;
    }
  }
  log::info("http_access", std::move(line));
}

}  // namespace tally::http
