// tally::sandbox::run: wires the transport, the service, the scheduler and
// the webhook sender, and runs until SIGTERM/SIGINT (sandbox.hpp).

#include <cstdio>
#include <random>

#include "domain/base64.hpp"
#include "http/server.hpp"
#include "logging/log.hpp"
#include "outbound/http_client.hpp"
#include "sandbox/limits.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/scheduler.hpp"
#include "sandbox/service.hpp"
#include "sandbox/webhook_sender.hpp"

namespace tally::sandbox {

namespace {

// The production transport: the shared outbound client, one attempt per call
// (the sender does its own retries, so it can sign each attempt afresh).
// Used only from the sender's thread, as the client requires.
webhook_transport outbound_transport() {
  auto client = std::make_shared<outbound::http_client>();
  return [client](const std::string& url, const header_list& headers, const std::string& body,
                  std::chrono::milliseconds timeout) {
    outbound::request request;
    request.method = "POST";
    request.url = url;
    request.headers = headers;
    request.body = body;
    request.timeout = timeout;
    request.connect_timeout = std::min(timeout, std::chrono::milliseconds(3'000));
    outbound::retry_policy once;
    once.mode = outbound::retry_mode::never;
    once.attempts_max = 1;
    const auto outcome = client->send(request, once);
    if (!outcome.ok()) {
      log::info("sandbox_webhook_no_answer",
                {{"error", to_string(outcome.error)}, {"detail", outcome.detail}});
      return 0;
    }
    return outcome.response->status;
  };
}

std::string host_for_url(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

int run(const settings& config) {
  log::init(config.log_level);
  const uint64_t seed = config.seed ? *config.seed : std::random_device{}();

  scheduler delays;
  std::unique_ptr<webhook_sender> sender;
  if (!config.webhook_url.empty()) {
    sender_options options;
    options.url = config.webhook_url;
    if (!config.webhook_secret.empty()) {
      options.key_bytes =
          base64_decode(config.webhook_secret, base64_padding::optional, base64_trailing_bits::any)
              .value_or("");
    }
    options.attempts_max = config.webhook_attempts;
    options.attempt_timeout = std::chrono::milliseconds(config.webhook_timeout_ms);
    options.seed = seed + 1;
    sender = std::make_unique<webhook_sender>(std::move(options), outbound_transport());
  }
  service sink(config, delays, sender.get(), seed);

  http::server_settings transport;
  transport.host = config.listen_host;
  transport.port = config.listen_port;
  transport.io_threads = 1;  // a development tool: one io thread is plenty
  transport.connections_max = 1'000;
  http::server server(transport, sink);
  std::string error;
  if (!server.listen(error)) {
    log::error("sandbox_listen_failed", {{"error", error}});
    return 1;
  }
  const std::string base_url =
      config.public_url.empty()
          ? "http://" + host_for_url(config.listen_host) + ":" + std::to_string(server.bound_port())
          : config.public_url;
  sink.open(base_url);
  delays.start();
  delays.every(limits::expiry_sweep_period, [&sink] { sink.sweep(); });
  if (sender) {
    sender->start();
  }
  log::info("sandbox_started", {{"listen", host_for_url(config.listen_host) + ":" +
                                               std::to_string(server.bound_port())},
                                {"base_url", base_url},
                                {"webhook_url", config.webhook_url},
                                {"webhooks_signed", !config.webhook_secret.empty()},
                                {"keys", config.secret_key.empty() ? "any test key" : "configured"},
                                {"seed", seed},
                                {"chaos", to_json(config.chaos)}});
  std::printf("tally sandbox listening on %s\n", base_url.c_str());
  std::fflush(stdout);
  server.run();  // until SIGTERM/SIGINT has drained in-flight requests
  delays.stop();
  if (sender) {
    const auto stats = sender->stats();
    sender->stop();
    log::info("sandbox_webhook_totals", {{"delivered", stats.delivered},
                                         {"failed_attempts", stats.failed_attempts},
                                         {"dropped", stats.dropped},
                                         {"abandoned", stats.abandoned}});
  }
  log::info("sandbox_stopped");
  return 0;
}

}  // namespace tally::sandbox
