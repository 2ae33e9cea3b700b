#include "domain/cloud_event.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include "domain/assert.hpp"
#include "domain/base64.hpp"

namespace tally {
namespace {

// An entry yields at most three events: the sequence leaves room for eight.
constexpr int64_t events_per_entry_max = 8;
constexpr std::size_t retry_schedule_entries_max = 20;
constexpr std::chrono::milliseconds retry_delay_max{std::chrono::hours(24 * 7)};
constexpr int64_t retry_after_s_max = 7 * 86'400;

// The event id: the entry's id and the type, '.' replaced (Standard Webhooks
// ids must not contain the signature delimiter).
std::string derived_id(const std::string& entry_id, std::string type) {
  std::replace(type.begin(), type.end(), '.', '_');
  return entry_id + "_" + type;
}

nlohmann::json reference_json(const ledger_event_row& row) {
  if (row.reference_type.empty()) {
    return nullptr;
  }
  return {{"type", row.reference_type}, {"id", row.reference_id}};
}

}  // namespace

std::string format_sequence(int64_t value) {
  TALLY_ASSERT(value >= 0);
  std::string digits = std::to_string(value);
  return std::string(20 - std::min<std::size_t>(20, digits.size()), '0') + digits;
}

std::string to_structured_json(const cloud_event& event) {
  nlohmann::json envelope = {{"specversion", "1.0"},
                             {"id", event.id},
                             {"source", event.source},
                             {"type", event.type},
                             {"subject", event.subject},
                             {"time", event.time},
                             {"datacontenttype", "application/json"},
                             {"sequence", event.sequence},
                             {"data", event.data}};
  return envelope.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<cloud_event> events_from_ledger_row(const ledger_event_row& row) {
  std::vector<cloud_event> out;
  auto add = [&](std::string type, std::string subject, nlohmann::json data) {
    TALLY_ASSERT(static_cast<int64_t>(out.size()) < events_per_entry_max);
    cloud_event e;
    e.id = derived_id(row.entry_id, type);
    e.source = ledger_event_source;
    e.type = std::move(type);
    e.subject = std::move(subject);
    e.time = row.created_at;
    e.user_id = row.account_id;
    e.sequence = format_sequence(row.seq * events_per_entry_max + static_cast<int64_t>(out.size()));
    e.outbox_id = row.outbox_id;
    data["user_id"] = row.account_id;
    e.data = std::move(data);
    out.push_back(std::move(e));
  };
  const std::string& kind = row.kind;
  // Credits that left the account for good (a spend, the committed part of a hold).
  const int64_t spent = -(row.delta_available + row.delta_reserved);
  const std::string entry_subject = "entries/" + row.entry_id;
  const std::string reservation_subject = "reservations/" + row.reference_id;
  if (kind == "grant" || kind == "purchase" || kind == "refund") {
    add("credits.granted", entry_subject,
        {{"entry_id", row.entry_id},
         {"kind", kind},
         {"amount", row.amount},
         {"reference", reference_json(row)}});
  } else if (kind == "spend") {
    add("credits.spent", entry_subject,
        {{"entry_id", row.entry_id}, {"amount", spent}, {"reference", reference_json(row)}});
  } else if (kind == "reserve") {
    add("reservation.created", reservation_subject,
        {{"reservation_id", row.reference_id}, {"entry_id", row.entry_id}, {"amount", row.amount}});
  } else if (kind == "commit") {
    add("reservation.committed", reservation_subject,
        {{"reservation_id", row.reference_id},
         {"entry_id", row.entry_id},
         {"committed_amount", spent},
         {"released_amount", row.delta_available}});
    add("credits.spent", entry_subject,
        {{"entry_id", row.entry_id}, {"amount", spent}, {"reference", reference_json(row)}});
  } else if (kind == "expire" && row.reference_type == "credit_lot") {
    // An expiring grant's unspent credits expired (docs/ledger.md "Expiring grants"): no
    // reservation is involved, and API.md's catalogue has no event of its own for it, so
    // balance.updated (kind "expire", reference in the entry) alone reports it.
  } else if (kind == "release" || kind == "expire") {
    add(kind == "release" ? "reservation.released" : "reservation.expired", reservation_subject,
        {{"reservation_id", row.reference_id},
         {"entry_id", row.entry_id},
         {"released_amount", row.delta_available}});
  }
  add("balance.updated", "accounts/" + row.account_id,
      {{"available", row.available_after},
       {"reserved", row.reserved_after},
       {"seq", row.seq},
       {"entry_id", row.entry_id},
       {"kind", kind},
       {"delta_available", row.delta_available},
       {"delta_reserved", row.delta_reserved}});
  const int64_t available_before = row.available_after - row.delta_available;
  if (row.low_threshold > 0 && row.available_after < row.low_threshold &&
      available_before >= row.low_threshold) {
    add("balance.low", "accounts/" + row.account_id,
        {{"available", row.available_after},
         {"threshold", row.low_threshold},
         {"seq", row.seq},
         {"entry_id", row.entry_id}});
  }
  return out;
}

cloud_event event_from_context_row(const char* source, const context_event_row& row) {
  cloud_event e;
  e.id = row.event_id;
  e.source = source;
  e.type = row.type;
  e.subject = row.subject;
  e.time = row.created_at;
  e.user_id = row.user_id;
  e.sequence = format_sequence(row.outbox_id);
  e.outbox_id = row.outbox_id;
  e.data = nlohmann::json::parse(row.data_json, nullptr, false);
  if (!e.data.is_object()) {
    e.data = nlohmann::json::object();
  }
  e.data["user_id"] = row.user_id;
  return e;
}

bool event_type_matches(const std::vector<std::string>& filter, std::string_view type) {
  return filter.empty() || std::find(filter.begin(), filter.end(), type) != filter.end();
}

const std::vector<std::string>& known_event_types() {
  static const std::vector<std::string> types{
      "balance.updated",     "balance.low",           "credits.granted",      "credits.spent",
      "reservation.created", "reservation.committed", "reservation.released", "reservation.expired",
      "purchase.created",    "purchase.completed",    "purchase.failed",      "purchase.expired",
      "run.started",         "run.succeeded",         "run.failed",           "run.compensated"};
  return types;
}

std::string format_whsec(std::string_view key) {
  return std::string(whsec_prefix) + base64_encode(key);
}

std::optional<std::string> parse_whsec(std::string_view secret) {
  if (secret.substr(0, whsec_prefix.size()) != whsec_prefix) {
    return std::nullopt;
  }
  // Padded, as format_whsec writes it; the unused bits are not checked.
  auto key = base64_decode(secret.substr(whsec_prefix.size()), base64_padding::required,
                           base64_trailing_bits::any);
  if (!key || key->size() < 24 || key->size() > 64) {
    return std::nullopt;
  }
  return key;
}

std::string webhook_signed_content(std::string_view message_id, int64_t timestamp_s,
                                   std::string_view body) {
  std::string out;
  out.reserve(message_id.size() + body.size() + 24);
  out.append(message_id);
  out += '.';
  out += std::to_string(timestamp_s);
  out += '.';
  out.append(body);
  return out;
}

std::string webhook_signature_header(std::string_view mac) {
  return "v1," + base64_encode(mac);
}

std::optional<retry_schedule> parse_retry_schedule(std::string_view text) {
  retry_schedule out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') {
      item.remove_prefix(1);
    }
    while (!item.empty() && item.back() == ' ') {
      item.remove_suffix(1);
    }
    std::size_t digits = 0;
    while (digits < item.size() && std::isdigit(static_cast<unsigned char>(item[digits]))) {
      ++digits;
    }
    if (digits == 0 || digits > 9) {
      return std::nullopt;
    }
    const int64_t value = std::stoll(std::string(item.substr(0, digits)));
    const std::string_view unit = item.substr(digits);
    std::chrono::milliseconds delay{0};
    if (unit == "ms") {
      delay = std::chrono::milliseconds(value);
    } else if (unit == "s") {
      delay = std::chrono::seconds(value);
    } else if (unit == "m") {
      delay = std::chrono::minutes(value);
    } else if (unit == "h") {
      delay = std::chrono::hours(value);
    } else {
      return std::nullopt;
    }
    if (delay.count() <= 0 || delay > retry_delay_max) {
      return std::nullopt;
    }
    out.push_back(delay);
    if (out.size() > retry_schedule_entries_max) {
      return std::nullopt;
    }
    start = comma + 1;
  }
  if (out.empty()) {
    return std::nullopt;
  }
  return out;
}

attempt_verdict classify_attempt(int status_code) {
  if (status_code >= 200 && status_code < 300) {
    return attempt_verdict::delivered;
  }
  if (status_code == 410) {
    return attempt_verdict::gone;
  }
  return attempt_verdict::retry;
}

std::optional<std::chrono::milliseconds> next_retry_delay(
    const retry_schedule& schedule, uint32_t attempts_done, double unit_random,
    std::optional<std::chrono::seconds> retry_after) {
  TALLY_ASSERT(unit_random >= 0.0 && unit_random < 1.0);
  if (attempts_done == 0 || attempts_done > schedule.size()) {
    return std::nullopt;
  }
  const auto base = schedule[attempts_done - 1];
  const double factor = 1.0 - retry_jitter + 2.0 * retry_jitter * unit_random;
  auto delay = std::chrono::milliseconds(
      std::max<int64_t>(1, std::llround(static_cast<double>(base.count()) * factor)));
  if (retry_after) {
    const auto asked = std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after);
    delay = std::clamp(asked, delay, delay * 2);
  }
  return delay;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  if (value.empty() || value.size() > 9) {
    return std::nullopt;
  }
  for (char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  const int64_t seconds = std::stoll(std::string(value));
  return std::chrono::seconds(std::min(seconds, retry_after_s_max));
}

}  // namespace tally
