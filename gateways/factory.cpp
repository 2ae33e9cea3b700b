#include <chrono>
#include <optional>
#include <string>

#include "gateways/gateways.hpp"

namespace tally::gateways {
namespace {

call_settings calls_from(const config::gateway_settings& cfg) {
  call_settings calls;
  calls.connect_timeout = std::chrono::milliseconds{cfg.connect_timeout_ms};
  calls.timeout = std::chrono::milliseconds{cfg.request_timeout_ms};
  // Room for every attempt to run to its timeout, plus the waits between.
  calls.retry.budget = calls.timeout * calls.retry.attempts_max +
                       calls.retry.delay_max * (calls.retry.attempts_max - 1);
  return calls;
}

}  // namespace

gateways_settings settings_from_config(const config::gateway_settings& cfg) {
  gateways_settings out;
  out.omise.name = "omise";
  out.omise.api_base = cfg.omise_api_url;
  out.omise.vault_base = cfg.omise_vault_url;
  out.omise.secret_key = cfg.omise_secret_key;
  out.omise.public_key = cfg.omise_public_key;
  out.omise.webhook_secret = cfg.omise_webhook_secret;
  out.omise.calls = calls_from(cfg);
  out.sandbox = out.omise;
  out.sandbox.name = "sandbox";
  out.sandbox.api_base = cfg.sandbox_api_url;
  out.sandbox.vault_base = cfg.sandbox_vault_url;
  out.sandbox.secret_key = cfg.sandbox_secret_key;
  out.sandbox.public_key = cfg.sandbox_public_key;
  out.sandbox.webhook_secret = cfg.sandbox_webhook_secret;
  out.stripe.api_base = cfg.stripe_api_url;
  out.stripe.secret_key = cfg.stripe_secret_key;
  out.stripe.webhook_secret = cfg.stripe_webhook_secret;
  out.stripe.calls = calls_from(cfg);
  return out;
}

caf::expected<std::unique_ptr<gateway>> make_gateway(std::string_view name,
                                                     const gateways_settings& settings,
                                                     transport send) {
  const omise_settings* omise = nullptr;
  if (name == "omise") {
    omise = &settings.omise;
  } else if (name == "sandbox") {
    omise = &settings.sandbox;
  } else if (name != "stripe") {
    return make_failure(
        errc::invalid_argument,
        failure_detail{0, "unknown_gateway", "gateway must be omise, stripe or sandbox", false});
  }
  // The name picks the settings; a mislabelled settings block cannot rename it.
  std::optional<omise_settings> chosen;
  if (omise != nullptr) {
    chosen = *omise;
    chosen->name = std::string(name);
    if (auto refused = check_settings(*chosen)) {
      return refused;
    }
  } else if (auto refused = check_settings(settings.stripe)) {
    return refused;
  }
  if (!send) {
    send = make_http_transport(settings.http);
  }
  std::unique_ptr<gateway> client;
  if (chosen) {
    client = std::make_unique<omise_gateway>(std::move(*chosen), std::move(send));
  } else {
    client = std::make_unique<stripe_gateway>(settings.stripe, std::move(send));
  }
  return client;
}

}  // namespace tally::gateways
