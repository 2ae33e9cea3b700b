#include "domain/webhooks.hpp"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "domain/backoff.hpp"

namespace tally::webhooks {
namespace {

constexpr std::array<std::pair<inbox_status, const char*>, 6> status_names{{
    {inbox_status::received, "received"},
    {inbox_status::processing, "processing"},
    {inbox_status::verified, "verified"},
    {inbox_status::rejected, "rejected"},
    {inbox_status::parked, "parked"},
    {inbox_status::ignored, "ignored"},
}};

// A string member, or "" when absent or not a string.
std::string string_at(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

const char* to_string(inbox_status status) {
  for (const auto& [value, name] : status_names) {
    if (value == status) {
      return name;
    }
  }
  TALLY_ASSERT(false);
  return "";
}

std::optional<inbox_status> parse_inbox_status(std::string_view text) {
  for (const auto& [value, name] : status_names) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

bool is_final(inbox_status status) {
  return status == inbox_status::verified || status == inbox_status::rejected ||
         status == inbox_status::ignored;
}

bool can_transition(inbox_status from, inbox_status to) {
  switch (from) {
    case inbox_status::received:
      return to == inbox_status::processing;
    case inbox_status::processing:
      // Every outcome, a retry (→ received), and processing → processing: a
      // claim after the lease ran out.
      return true;
    case inbox_status::parked:
      return to == inbox_status::received;
    case inbox_status::verified:
    case inbox_status::rejected:
    case inbox_status::ignored:
      return false;
  }
  return false;
}

bool is_gateway_name(std::string_view name) {
  return name == "omise" || name == "stripe" || name == "sandbox";
}

bool is_safe_id(std::string_view id) {
  if (id.empty() || id.size() > id_bytes_max || id == "." || id == "..") {
    return false;
  }
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

caf::expected<envelope> read_envelope(std::string_view gateway, const nlohmann::json& body) {
  if (!body.is_object() || string_at(body, "object") != "event") {
    return caf::make_error(errc::invalid_argument);
  }
  envelope out;
  out.event_id = string_at(body, "id");
  if (!is_safe_id(out.event_id)) {
    return caf::make_error(errc::invalid_argument);
  }
  const bool stripe = gateway == "stripe";
  out.event_key = string_at(body, stripe ? "type" : "key");
  if (out.event_key.size() > 100) {
    out.event_key.resize(100);  // informational only; the column is bounded
  }
  auto data = body.find("data");
  if (data != body.end() && data->is_object()) {
    if (stripe) {
      auto object = data->find("object");
      if (object != data->end() && object->is_object()) {
        out.object_id = string_at(*object, "id");
      }
    } else {
      out.object_id = string_at(*data, "id");
    }
  }
  // An unsafe object id is only informational here; keep it out of the row.
  if (!out.object_id.empty() && !is_safe_id(out.object_id)) {
    out.object_id.clear();
  }
  return out;
}

bool is_settleable_object(std::string_view gateway, std::string_view object_type) {
  return gateway == "stripe" ? object_type == "payment_intent" : object_type == "charge";
}

const char* to_string(attempt_result result) {
  switch (result) {
    case attempt_result::settled:
      return "settled";
    case attempt_result::not_a_charge:
      return "not_a_charge";
    case attempt_result::forged:
      return "forged";
    case attempt_result::mismatch:
      return "mismatch";
    case attempt_result::unknown_charge:
      return "unknown_charge";
    case attempt_result::unavailable:
      return "unavailable";
    case attempt_result::not_configured:
      return "not_configured";
  }
  return "";
}

attempt_result from_gateway_error(errc code) {
  switch (code) {
    case errc::not_found:         // the gateway has no such event or charge
    case errc::invalid_argument:  // the gateway refused the id itself
      return attempt_result::forged;
    case errc::unauthorized:  // our keys are refused: nothing can be verified
    case errc::forbidden:
      return attempt_result::not_configured;
    default:
      return attempt_result::unavailable;
  }
}

attempt_result from_settle_error(errc code) {
  switch (code) {
    case errc::not_found:
    case errc::purchase_not_found:
      return attempt_result::unknown_charge;
    case errc::validation_failed:
      return attempt_result::mismatch;
    default:
      return attempt_result::unavailable;
  }
}

decision decide(attempt_result result, uint32_t attempts, std::chrono::milliseconds age,
                const retry_settings& settings, double unit_random) {
  TALLY_ASSERT(attempts >= 1);
  TALLY_ASSERT(unit_random >= 0.0 && unit_random < 1.0);
  TALLY_ASSERT(settings.delay_min <= settings.delay_max);
  const auto retry = [&] {
    return decision{
        inbox_status::received,
        backoff_delay(attempts - 1, settings.delay_min, settings.delay_max, unit_random), false};
  };
  switch (result) {
    case attempt_result::settled:
      return {inbox_status::verified, {}, false};
    case attempt_result::not_a_charge:
      return {inbox_status::ignored, {}, false};
    case attempt_result::forged:
    case attempt_result::mismatch:
      return {inbox_status::rejected, {}, true};
    case attempt_result::not_configured:
      return {inbox_status::parked, {}, false};
    case attempt_result::unknown_charge:
      // Bounded by time, not attempts: the purchase's commit may lag the webhook.
      if (age >= settings.unknown_charge_window) {
        return {inbox_status::parked, {}, false};
      }
      return retry();
    case attempt_result::unavailable:
      if (attempts >= settings.attempts_max) {
        return {inbox_status::parked, {}, false};
      }
      return retry();
  }
  TALLY_ASSERT(false);
  return {};
}

}  // namespace tally::webhooks
