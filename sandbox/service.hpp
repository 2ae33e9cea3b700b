#pragma once
// The sandbox's request handling: routes Omise's API paths, checks Basic
// auth (public key for the vault and sources, secret key for the rest),
// applies chaos, runs the state machine under one mutex, answers with
// Omise's objects, and hands new events to the webhook sender.
//
// Runs on the HTTP server's io thread; nothing here blocks: the state
// operations are in-memory, delays go to the scheduler, deliveries to the
// sender's thread.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "http/server.hpp"
#include "sandbox/chaos.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/scheduler.hpp"
#include "sandbox/state.hpp"
#include "sandbox/webhook_sender.hpp"

namespace tally::sandbox {

// Which key a route takes.
enum class key_kind { none, public_key, secret_key };

// True when the Authorization header carries an acceptable key of `kind`:
// Basic base64("<key>:"); `configured` exactly (constant time), or, when it
// is empty, any key with the test prefix (pkey_test_ / skey_test_).
bool is_authorized(std::optional<std::string_view> authorization, key_kind kind,
                   const std::string& configured);

class service final : public http::request_sink {
 public:
  // `sender` may be null (no webhook URL). Both must outlive the service.
  service(const settings& config, scheduler& delays, webhook_sender* sender, uint64_t seed);

  // Creates the state once the public base URL is known (after listen).
  void open(std::string base_url);
  // Expires overdue PromptPay charges and delivers their events (scheduler).
  void sweep();

  void dispatch(const http::exchange_ptr& ex) override;
  void completed(const http::request_data& request, std::string_view route,
                 const std::string& request_id, const std::string& user_id, int status,
                 double duration_s) override;

 private:
  struct reply {
    int status = 200;
    nlohmann::json body;
  };

  void handle_api(const http::exchange_ptr& ex, key_kind kind,
                  reply (service::*handler)(const http::exchange_ptr&));
  void send(const http::exchange_ptr& ex, const reply& r, std::chrono::milliseconds delay);
  void deliver_new_events();  // REQUIRES: state_mutex_ not held

  reply post_token(const http::exchange_ptr& ex);
  reply get_token(const http::exchange_ptr& ex);
  reply post_source(const http::exchange_ptr& ex);
  reply get_source(const http::exchange_ptr& ex);
  reply post_charge(const http::exchange_ptr& ex);
  reply list_charges(const http::exchange_ptr& ex);
  reply get_charge(const http::exchange_ptr& ex);
  reply post_refund(const http::exchange_ptr& ex);
  reply get_event(const http::exchange_ptr& ex);
  void settle_charge(const http::exchange_ptr& ex, settlement how);
  void chaos_endpoint(const http::exchange_ptr& ex);
  void serve_qr(const http::exchange_ptr& ex);

  int64_t now_s() const;
  double draw();  // uniform [0, 1), REQUIRES: chaos_mutex_ held

  const settings& config_;
  scheduler& delays_;
  webhook_sender* sender_;
  std::mutex state_mutex_;
  std::optional<sandbox_state> state_;  // guarded by state_mutex_
  std::mutex chaos_mutex_;
  chaos_settings chaos_;    // guarded by chaos_mutex_
  std::mt19937_64 random_;  // guarded by chaos_mutex_
};

}  // namespace tally::sandbox
