#pragma once
// The sandbox's whole state and every rule that changes it: tokens are
// single-use, charges move pending -> successful | failed | expired and never
// back, refunds never exceed what was paid, and each change records the Omise
// event it causes. Pure: no I/O, no clock (callers pass `now_s`), ids from a
// seeded generator, so tests and `--seed` runs are repeatable.
//
// Not thread-safe: the service guards one instance with a mutex. Every table
// is bounded (limits.hpp); inserting into a full table evicts its oldest
// entry, so a later lookup of an evicted id is a plain 404.
//
//   charge state machine
//     card:       (create) --outcome--> successful | failed          (final at once)
//     promptpay:  (create) -> pending --pay--> successful
//                                      --fail--> failed
//                                      --expire / expires_at passed--> expired

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sandbox/objects.hpp"

namespace tally::sandbox {

// A value or the Omise error that refused it.
template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)) {}            // NOLINT: implicit by design
  result(omise_error error) : value_(std::move(error)) {}  // NOLINT
  explicit operator bool() const { return std::holds_alternative<T>(value_); }
  const T& operator*() const { return std::get<T>(value_); }
  const T* operator->() const { return &std::get<T>(value_); }
  const omise_error& error() const { return std::get<omise_error>(value_); }

 private:
  std::variant<T, omise_error> value_;
};

// Omise-looking ids: prefix + 19 characters of [0-9a-z].
class id_generator {
 public:
  explicit id_generator(uint64_t seed) : random_(seed) {}
  std::string next(std::string_view prefix);

 private:
  std::mt19937_64 random_;
};

struct state_options {
  std::string base_url = "http://127.0.0.1:8090";  // for QR download_uri
  int64_t amount_min = 2'000;                      // Omise's THB minimum: 20.00
  int64_t promptpay_ttl_s = 3'600;
  int64_t card_charge_ttl_s = 7 * 24 * 3'600;  // `expires_at` on card charges
};

// POST /tokens fields (card[...]). `number` is dropped once the token exists.
struct card_input {
  std::string number;
  std::string name;
  std::string city;
  std::string postal_code;
  std::optional<int64_t> expiration_month;
  std::optional<int64_t> expiration_year;
};

// POST /charges fields, after decoding.
struct charge_input {
  int64_t amount = 0;
  std::string currency;            // upper case
  std::string card_token;          // tokn_... (card)
  std::string source_id;           // src_... (an existing source)
  std::string inline_source_type;  // source[type]=promptpay
  std::string description;
  std::string return_uri;
  std::string ip;
  nlohmann::json metadata = nlohmann::json::object();
};

// Reads a POST /tokens body ({"card":{...}} or card[...] form fields).
result<card_input> parse_card_input(const nlohmann::json& body);
// Reads a POST /charges body; bounds and types only (lookups happen later).
result<charge_input> parse_charge_input(const nlohmann::json& body);

struct list_query {
  int64_t from_s = 0;
  std::optional<int64_t> to_s;  // default: now
  bool is_newest_first = false;
  uint32_t limit = 20;  // 1..limits::list_limit_max
  uint32_t offset = 0;
};
// Reads GET /charges' query (from, to, order, limit, offset) through `get`,
// which returns a decoded parameter or nullopt.
template <class Getter>
result<list_query> parse_list_query(Getter&& get);
result<list_query> parse_list_query_values(const std::optional<std::string>& from,
                                           const std::optional<std::string>& to,
                                           const std::optional<std::string>& order,
                                           const std::optional<std::string>& limit,
                                           const std::optional<std::string>& offset);

// Unix seconds of an ISO 8601 / RFC 3339 UTC time ("2026-11-27T03:00:00Z",
// fractional seconds and "+00:00" allowed), or nullopt.
std::optional<int64_t> parse_iso8601_utc(std::string_view text);

enum class settlement { pay, fail, expire };

class sandbox_state {
 public:
  sandbox_state(state_options options, id_generator ids);

  result<token_record> create_token(const card_input& input, int64_t now_s);
  result<token_record> find_token(const std::string& id) const;
  // POST /sources: {type:"promptpay", amount, currency}.
  result<source_record> create_source(const nlohmann::json& body, int64_t now_s);
  result<source_record> find_source(const std::string& id) const;
  result<charge_record> create_charge(const charge_input& input, int64_t now_s);
  // Expires the charge first when its expires_at has passed.
  result<charge_record> find_charge(const std::string& id, int64_t now_s);
  // GET /charges: Omise's list object over charges created in [from, to].
  nlohmann::json list_charges(const list_query& query, int64_t now_s);
  result<refund_record> refund_charge(const std::string& charge_id, const nlohmann::json& body,
                                      int64_t now_s);
  // Sandbox-only completion of a pending (PromptPay) charge. `failure_code`
  // is used by settlement::fail ("" = payment_rejected).
  result<charge_record> settle(const std::string& charge_id, settlement how,
                               const std::string& failure_code, int64_t now_s);
  result<event_record> find_event(const std::string& id) const;
  // Expires every pending charge whose expires_at <= now_s.
  void expire_due(int64_t now_s);
  // Events recorded since the last call, oldest first (for webhook delivery).
  std::vector<event_record> take_new_events();
  // The charge whose QR image lives at this path, or nullptr.
  const charge_record* charge_for_document(const std::string& charge_id,
                                           const std::string& document_id,
                                           const std::string& download_token) const;

  std::size_t token_count() const { return tokens_.size(); }
  std::size_t charge_count() const { return charges_.size(); }
  std::size_t event_count() const { return events_.size(); }
  const state_options& options() const { return options_; }

 private:
  template <class Record>
  struct table {
    std::unordered_map<std::string, Record> by_id;
    std::deque<std::string> order;  // insertion order, oldest first
    std::size_t size() const { return by_id.size(); }
  };
  template <class Record>
  static void insert_bounded(table<Record>& into, const std::string& id, Record record,
                             std::size_t max);

  void record_event(std::string key, nlohmann::json data, int64_t now_s);
  void complete(charge_record& charge, int64_t now_s);  // final state reached
  void expire_if_due(charge_record& charge, int64_t now_s);

  state_options options_;
  id_generator ids_;
  table<token_record> tokens_;
  table<source_record> sources_;
  table<charge_record> charges_;
  table<event_record> events_;
  std::set<std::string> pending_ids_;  // charges that can still expire
  std::vector<event_record> new_events_;
};

template <class Getter>
result<list_query> parse_list_query(Getter&& get) {
  return parse_list_query_values(get("from"), get("to"), get("order"), get("limit"), get("offset"));
}

}  // namespace tally::sandbox
