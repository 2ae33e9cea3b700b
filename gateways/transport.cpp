#include "gateways/transport.hpp"

#include <memory>

namespace tally::gateways {

transport make_http_transport(outbound::client_options options) {
  // std::function needs a copyable target; the client itself is not.
  auto client = std::make_shared<outbound::http_client>(std::move(options));
  return [client](const outbound::request& req, const outbound::retry_policy& retry) {
    return client->send(req, retry);
  };
}

}  // namespace tally::gateways
