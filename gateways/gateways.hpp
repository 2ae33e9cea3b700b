#pragma once
// The gateways module's front door: the interface (gateway.hpp), the clients
// and their settings, the webhook signature checks, and the factory that
// builds a client by name from configuration.
//
//   gateway.hpp             the interface every caller codes against
//   omise_gateway.hpp       Omise and the sandbox
//   stripe_gateway.hpp      Stripe PaymentIntents
//   webhook_signatures.hpp  Omise-Signature / Stripe-Signature, pure
//   omise_wire.hpp, stripe_wire.hpp, request_checks.hpp  pure wire code
//   transport.hpp           the network seam (outbound::http_client)

#include <memory>
#include <string_view>

#include <caf/expected.hpp>

#include "config/config.hpp"
#include "gateways/gateway.hpp"
#include "gateways/omise_gateway.hpp"
#include "gateways/stripe_gateway.hpp"
#include "gateways/transport.hpp"
#include "gateways/webhook_signatures.hpp"

namespace tally::gateways {

// Everything needed to build any of the three clients.
struct gateways_settings {
  omise_settings omise;
  omise_settings sandbox;  // Omise's wire format on loopback; built as "sandbox"
  stripe_settings stripe;
  outbound::client_options http;  // for the default transport
};

// The settings from the engine's configuration (TALLY_OMISE_*, TALLY_STRIPE_*,
// TALLY_SANDBOX_*, TALLY_GATEWAY_*; docs/configuration.md). Each attempt gets
// the configured timeout; the budget covers attempts_max attempts plus waits.
gateways_settings settings_from_config(const config::gateway_settings& cfg);

// A client for `name` ("omise", "stripe" or "sandbox") sending through `send`,
// or through a new outbound::http_client built from settings.http when `send`
// is empty. errc::invalid_argument for another name or settings that
// check_settings() refuses. A gateway without a secret key is built anyway:
// it verifies webhooks as configured and fails every API call with
// gateway_unavailable ("not_configured").
caf::expected<std::unique_ptr<gateway>> make_gateway(std::string_view name,
                                                     const gateways_settings& settings,
                                                     transport send = {});

}  // namespace tally::gateways
