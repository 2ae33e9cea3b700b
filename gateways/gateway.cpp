#include "gateways/gateway.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace tally::gateways {
namespace {

// Marks a caf::error context as a failure_detail, so gateway_failure() never
// misreads another module's context of the same shape.
constexpr const char* detail_marker = "gateway_failure";

}  // namespace

const char* to_string(charge_status status) {
  switch (status) {
    case charge_status::pending:
      return "pending";
    case charge_status::successful:
      return "successful";
    case charge_status::failed:
      return "failed";
    case charge_status::expired:
      return "expired";
    case charge_status::reversed:
      return "reversed";
  }
  return "unknown";
}

caf::error make_failure(errc code, failure_detail detail) {
  // Only builtin CAF types in the context: the error may cross a node
  // boundary without any type registration.
  return caf::make_error(code, std::string(detail_marker), static_cast<int32_t>(detail.http_status),
                         std::move(detail.code), std::move(detail.message), detail.ambiguous);
}

failure_detail gateway_failure(const caf::error& err) {
  failure_detail out;
  if (!err) {
    return out;
  }
  const caf::message& context = err.context();
  if (!context.match_elements<std::string, int32_t, std::string, std::string, bool>() ||
      context.get_as<std::string>(0) != detail_marker) {
    return out;
  }
  out.http_status = context.get_as<int32_t>(1);
  out.code = context.get_as<std::string>(2);
  out.message = context.get_as<std::string>(3);
  out.ambiguous = context.get_as<bool>(4);
  return out;
}

}  // namespace tally::gateways
