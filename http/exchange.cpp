#include "http/exchange.hpp"

#include <algorithm>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "http/problem.hpp"
#include "http/router.hpp"

namespace tally::http {

exchange::exchange(std::shared_ptr<connection_port> connection, request_data request,
                   std::string request_id, std::string traceparent)
    : connection_(std::move(connection)),
      request_(std::move(request)),
      request_id_(std::move(request_id)),
      traceparent_(std::move(traceparent)),
      started_(std::chrono::steady_clock::now()) {}

exchange::~exchange() {
  // A handler that dropped its exchange without answering is a bug; answer
  // for it rather than leave the client hanging until its timeout.
  if (!answered_ && connection_) {
    response_data response;
    response.status = 500;
    response.content_type = std::string(problem_content_type);
    response.body = to_json_body(problem_for(errc::internal, "no response was produced"),
                                 request_id_);
    auto connection = connection_;
    connection->post([connection, response]() mutable { connection->send(std::move(response)); });
  }
}

std::optional<std::string_view> exchange::header(std::string_view name) const {
  for (const auto& [key, value] : request_.headers) {
    if (key == name) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

std::optional<std::string> exchange::query(std::string_view name) const {
  return query_param(request_.query, name);
}

std::string_view exchange::param(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

void exchange::set_params(std::vector<std::pair<std::string, std::string>> params) {
  params_ = std::move(params);
}

void exchange::add_response_header(std::string name, std::string value) {
  extra_headers_.emplace_back(std::move(name), std::move(value));
}

void exchange::set_response_header(std::string name, std::string value) {
  extra_headers_.erase(std::remove_if(extra_headers_.begin(), extra_headers_.end(),
                                      [&](const auto& h) { return h.first == name; }),
                       extra_headers_.end());
  extra_headers_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> exchange::response_header(std::string_view name) const {
  for (const auto& [key, value] : extra_headers_) {
    if (key == name) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

void exchange::respond(int status, std::string body, std::string content_type) {
  response_data response;
  response.status = status;
  response.body = std::move(body);
  response.content_type = std::move(content_type);
  auto self = shared_from_this();
  connection_->post([self, response = std::move(response)]() mutable {
    if (self->answered_) {
      return;
    }
    self->answered_ = true;
    response.headers = std::move(self->extra_headers_);
    self->connection_->send(std::move(response));
  });
}

void exchange::respond_json(int status, const nlohmann::json& body) {
  respond(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void exchange::respond_empty(int status) {
  respond(status, std::string(), std::string());
}

void exchange::respond_problem(const problem& p) {
  if (p.status == 401) {
    add_response_header("WWW-Authenticate", "Bearer");
  }
  respond(p.status, to_json_body(p, request_id_), std::string(problem_content_type));
}

void exchange::respond_error(errc code, std::string detail) {
  respond_problem(problem_for(code, std::move(detail)));
}

void exchange::respond_error(const caf::error& err) {
  respond_problem(problem_from_error(err));
}

std::shared_ptr<response_stream> exchange::start_stream(response_data head,
                                                        stream_options options) {
  TALLY_ASSERT(!answered_);
  answered_ = true;
  for (auto& header : extra_headers_) {
    head.headers.push_back(std::move(header));
  }
  extra_headers_.clear();
  return connection_->open_stream(std::move(head), std::move(options));
}

void exchange::post(std::function<void()> work) {
  connection_->post(std::move(work));
}

}  // namespace tally::http
