#pragma once
// Events out (docs/events.md), the pure part: CloudEvents 1.0 built from
// outbox rows, the Standard Webhooks signing scheme (content and header
// formats; the HMAC itself is computed by the caller), and the subscriber
// retry schedule. No I/O, no clock reads: callers pass times and random draws.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tally {

// CloudEvents `source` of each context's events (source + id is unique).
inline constexpr const char* ledger_event_source = "/tally/ledger";
inline constexpr const char* payments_event_source = "/tally/payments";
inline constexpr const char* workflows_event_source = "/tally/workflows";

// Events larger than this are refused by append_event (CloudEvents: every
// intermediary must forward 64 KiB).
inline constexpr std::size_t event_data_bytes_max = 32 * 1024;

// One ledger outbox row joined with its journal entry.
struct ledger_event_row {
  int64_t outbox_id = 0;
  std::string account_id;  // = the user's id
  int64_t seq = 0;         // the account's journal sequence (gapless)
  std::string entry_id;
  std::string kind;  // entry kind name (domain/ledger.hpp)
  int64_t amount = 0;
  int64_t delta_available = 0;
  int64_t delta_reserved = 0;
  int64_t available_after = 0;
  int64_t reserved_after = 0;
  std::string reference_type;  // may be empty
  std::string reference_id;
  std::string created_at;  // RFC 3339 UTC
  // balance.low fires when `available` crosses below this; 0 disables it.
  int64_t low_threshold = 0;
};

// One row of a context's generic outbox (payments, workflows).
struct context_event_row {
  int64_t outbox_id = 0;
  std::string event_id;
  std::string type;
  std::string subject;
  std::string user_id;
  std::string data_json;  // a JSON object
  std::string created_at;
};

struct cloud_event {
  std::string id;
  std::string source;
  std::string type;
  std::string subject;
  std::string time;
  std::string user_id;
  // Per (source, account) order: 20 zero-padded digits, so comparing the
  // strings compares the numbers (CloudEvents "sequence" extension).
  std::string sequence;
  int64_t outbox_id = 0;  // the row it came from (not part of the envelope)
  nlohmann::json data;
};

// The structured-mode JSON envelope (application/cloudevents+json): what
// Redis, subscriber webhooks and the SSE stream carry.
std::string to_structured_json(const cloud_event& event);

// 20 digits, zero-padded. REQUIRES: value >= 0.
std::string format_sequence(int64_t value);

// The events a journal entry produces, in order: the kind's own event
// (credits.granted/spent, reservation.*; none for an adjustment), then
// balance.updated, then balance.low when available crossed below the
// threshold. Ids are derived from the entry id, so relaying the same row
// again yields the same ids (at-least-once, de-duplicated by id).
std::vector<cloud_event> events_from_ledger_row(const ledger_event_row& row);

// The event a generic outbox row holds. `source` is the context's source.
cloud_event event_from_context_row(const char* source, const context_event_row& row);

// True when an endpoint subscribed to `filter` (empty: everything) wants `type`.
bool event_type_matches(const std::vector<std::string>& filter, std::string_view type);

// Event types subscribers may name (POST /v1/admin/webhook-endpoints).
const std::vector<std::string>& known_event_types();

// --- Standard Webhooks (conventions.md §1) ---

inline constexpr std::string_view whsec_prefix = "whsec_";
inline constexpr std::size_t whsec_key_bytes = 32;  // spec: 24..64

// "whsec_" + base64(key) (domain/base64.hpp, padded).
std::string format_whsec(std::string_view key);
// The key bytes of a "whsec_..." secret; nullopt when malformed (the base64 must be padded;
// its unused bits are not checked) or outside 24..64 bytes.
std::optional<std::string> parse_whsec(std::string_view secret);

// What is signed: "{id}.{timestamp}.{body}".
std::string webhook_signed_content(std::string_view message_id, int64_t timestamp_s,
                                   std::string_view body);
// The webhook-signature header value for an HMAC-SHA256 tag: "v1,<base64>".
std::string webhook_signature_header(std::string_view mac);

// --- Retry schedule (Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) ---

using retry_schedule = std::vector<std::chrono::milliseconds>;

// Parses "5s,5m,30m,2h,5h,10h,10h" (units ms, s, m, h). nullopt when malformed,
// empty, longer than 20 entries, or a delay is 0 or over 7 days.
std::optional<retry_schedule> parse_retry_schedule(std::string_view text);

inline constexpr double retry_jitter = 0.2;  // +-20%, as Svix

// What a delivery attempt's answer means.
enum class attempt_verdict : uint8_t {
  delivered,  // 2xx
  retry,      // anything else, or no answer
  gone,       // 410: disable the endpoint
};
attempt_verdict classify_attempt(int status_code);  // 0: no answer

// The delay before the retry that follows `attempts_done` failed attempts
// (1-based: after the first failure, schedule[0]), jittered by
// unit_random in [0,1) to +-20%. A Retry-After is honoured but clamped to
// [delay, 2 x delay] (as Svix). nullopt when the schedule is exhausted.
std::optional<std::chrono::milliseconds> next_retry_delay(
    const retry_schedule& schedule, uint32_t attempts_done, double unit_random,
    std::optional<std::chrono::seconds> retry_after);

// A Retry-After header in delay-seconds form; nullopt otherwise (an HTTP-date
// is ignored: the schedule's delay applies).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

}  // namespace tally
