#pragma once
// The events context's rows (events schema): subscriber endpoints, their
// deliveries and attempts (the delivery log), per-user low-balance
// thresholds. Blocking; called from the relay, the delivery workers and the
// events admin workers (detached actors). Throws libpqxx exceptions.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/cursor.hpp"

namespace tally::persistence {

struct endpoint_filter {
  std::string endpoint_id;
  std::vector<std::string> event_types;  // empty: every type
};

// Active endpoints and what they subscribe to (the relay's fan-out), at most `limit`.
std::vector<endpoint_filter> active_endpoints(pqxx::connection& connection, int64_t limit);

struct new_delivery {
  std::string endpoint_id;
  std::string message_id;  // the CloudEvent id
  std::string event_type;
  std::string payload;  // structured-mode CloudEvent JSON
};

// Inserts the deliveries in order, in one statement; a (endpoint, message)
// pair already there is skipped (a relay retrying after a crash).
void insert_deliveries(pqxx::connection& connection, const std::vector<new_delivery>& deliveries);

// Per-user thresholds for the users given that have one.
std::map<std::string, int64_t> low_thresholds(pqxx::connection& connection,
                                              const std::vector<std::string>& user_ids);
// Sets (upserts) the user's own threshold; 0 turns balance.low off for them.
void set_low_threshold(pqxx::connection& connection, const std::string& user_id, int64_t threshold);
// Removes the user's own threshold (the configured default applies again).
// False when they had none.
bool clear_low_threshold(pqxx::connection& connection, const std::string& user_id);

// --- Admin (API.md "Events") ---

struct endpoint_row {
  std::string endpoint_id;
  std::string url;
  std::vector<std::string> event_types;
  std::string status;
  std::string disabled_reason;
  std::string created_at;
  int64_t created_at_us = 0;
};

void create_endpoint(pqxx::connection& connection, const std::string& endpoint_id,
                     const std::string& url, const std::vector<std::string>& event_types,
                     const std::string& secret);
std::optional<endpoint_row> find_endpoint(pqxx::connection& connection,
                                          const std::string& endpoint_id);
// Newest first, after `after` when given; at most limit + 1 rows (the caller
// trims the extra one to know whether there is more).
std::vector<endpoint_row> endpoints_page(pqxx::connection& connection,
                                         const std::optional<cursor_position>& after, int limit);
// Deletes the endpoint with its deliveries. False when there is none.
bool delete_endpoint(pqxx::connection& connection, const std::string& endpoint_id);

struct attempt_row {
  int attempt = 0;
  std::string trigger;
  std::string at;
  int status_code = 0;  // 0: no answer
  std::string error;
  std::string response_excerpt;
  int latency_ms = 0;
};

struct delivery_row {
  std::string delivery_id;
  std::string message_id;
  std::string event_type;
  std::string status;
  int attempt_count = 0;
  std::string next_attempt_at;
  int last_status_code = 0;
  std::string created_at;
  std::string finished_at;
  int64_t created_at_us = 0;
  std::vector<attempt_row> attempts;  // oldest first, at most attempts_listed_max
};

inline constexpr std::size_t attempts_listed_max = 50;

// The endpoint's deliveries, newest first (limit + 1 rows, as endpoints_page).
std::vector<delivery_row> deliveries_page(pqxx::connection& connection,
                                          const std::string& endpoint_id,
                                          const std::optional<cursor_position>& after, int limit);

// Queues the delivery again for one manual attempt (same webhook-id, same
// body), reactivating a disabled endpoint is NOT implied. nullopt when the
// delivery does not belong to the endpoint.
std::optional<delivery_row> replay_delivery(pqxx::connection& connection,
                                            const std::string& endpoint_id,
                                            const std::string& delivery_id);

// --- Delivery workers ---

struct due_delivery {
  std::string delivery_id;
  std::string endpoint_id;
  std::string url;
  std::string secret;
  std::string message_id;
  std::string payload;
  int attempts = 0;  // made so far
  bool manual = false;
};

// For each active endpoint of shard `shard` (of `shards`), its head pending
// delivery (lowest position) when it is due; at most `limit`. A head that is
// not yet due holds its endpoint's later deliveries back (in-order delivery).
std::vector<due_delivery> due_heads(pqxx::connection& connection, int shard, int shards,
                                    int64_t limit);

// Session-level advisory lock of one delivery shard (one node per shard).
bool try_lock_shard(pqxx::connection& connection, int shard);
void unlock_shard(pqxx::connection& connection, int shard);

struct attempt_result {
  std::string delivery_id;
  std::string endpoint_id;
  int attempt = 0;  // this attempt's number (1-based)
  bool manual = false;
  int status_code = 0;  // 0: no answer
  std::string error;
  std::string response_excerpt;
  int latency_ms = 0;
  // What follows: succeeded, a retry after retry_in_ms, or failed for good.
  std::string new_status;  // "succeeded", "pending" or "failed"
  int64_t retry_in_ms = 0;
  bool disable_endpoint = false;
  std::string disabled_reason;
  bool endpoint_failing = false;  // a failure: start the endpoint's failure clock
};

// Records the attempt and moves the delivery (and the endpoint) on, in one
// transaction. Returns, for a failure, how long the endpoint has been failing
// (ms since failing_since), so the caller can decide to disable it.
int64_t record_attempt(pqxx::connection& connection, const attempt_result& result);

void disable_endpoint(pqxx::connection& connection, const std::string& endpoint_id,
                      const std::string& reason);

}  // namespace tally::persistence
