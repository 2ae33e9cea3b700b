// Events out (API.md "Events"): subscriber webhook endpoints, their delivery
// log and replay. Handlers parse, validate, ask the events admin pool, respond.

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "domain/cloud_event.hpp"
#include "domain/cursor.hpp"
#include "domain/ledger.hpp"
#include "domain/validation.hpp"
#include "http/bridge.hpp"
#include "http/problem.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"
#include "outbound/target_policy.hpp"

namespace tally::http {
namespace {

constexpr std::size_t url_chars_max = 2'048;
constexpr std::size_t event_types_max = 32;

bool is_uuid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

void respond_string(const exchange_ptr& ex, int status, caf::expected<std::string> answer) {
  if (!answer) {
    return ex->respond_error(answer.error());
  }
  ex->respond(status, std::move(*answer));
}

void post_endpoint(const events_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto url = required_string(body, "url", 1, url_chars_max, errors);
  if (url && deps.policy) {
    const auto verdict = deps.policy->check_url(*url);
    if (!verdict.is_allowed) {
      errors.add("url", std::string("is not an allowed destination: ") + verdict.reason);
    }
  }
  nlohmann::json types = nlohmann::json::array();
  if (body.contains("event_types")) {
    const auto& given = body["event_types"];
    if (!given.is_array() || given.size() > event_types_max) {
      errors.add("event_types", "must be an array of at most 32 event types");
    } else {
      const auto& known = known_event_types();
      for (const auto& t : given) {
        if (!t.is_string() ||
            std::find(known.begin(), known.end(), t.get<std::string>()) == known.end()) {
          errors.add("event_types", "contains an unknown event type");
          break;
        }
        if (std::find(types.begin(), types.end(), t) == types.end()) {
          types.push_back(t);
        }
      }
    }
  }
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 201, std::move(answer)); },
      epcreate_atom_v, *url, types.dump());
}

// ?limit&cursor -> (limit, cursor) or an answered error.
bool page_params(const exchange_ptr& ex, int& limit, std::string& cursor) {
  auto limit_text = ex->query("limit");
  auto parsed =
      parse_page_limit(limit_text ? std::optional<std::string_view>(*limit_text) : std::nullopt);
  field_errors errors;
  if (!parsed) {
    errors.add("limit", "must be an integer in 1..100");
  }
  if (respond_if_invalid(ex, errors)) {
    return false;
  }
  limit = *parsed;
  cursor = ex->query("cursor").value_or("");
  if (!cursor.empty()) {
    auto position = decode_cursor(cursor);
    if (!position || !is_uuid(position->id)) {
      ex->respond_error(errc::invalid_cursor);
      return false;
    }
  }
  return true;
}

void list_endpoints(const events_routes_deps& deps, const exchange_ptr& ex) {
  int limit = 0;
  std::string cursor;
  if (!page_params(ex, limit, cursor)) {
    return;
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      eplist_atom_v, cursor, static_cast<int32_t>(limit));
}

void get_endpoint(const events_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::not_found, "No webhook endpoint has this id.");
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      epget_atom_v, id);
}

void delete_endpoint(const events_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::not_found, "No webhook endpoint has this id.");
  }
  ask<bool>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<bool> answer) {
        if (!answer) {
          return ex->respond_error(answer.error());
        }
        ex->respond_empty(204);
      },
      epdelete_atom_v, id);
}

void list_deliveries(const events_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::not_found, "No webhook endpoint has this id.");
  }
  int limit = 0;
  std::string cursor;
  if (!page_params(ex, limit, cursor)) {
    return;
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      dlist_atom_v, id, cursor, static_cast<int32_t>(limit));
}

void replay_delivery(const events_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  const std::string delivery(ex->param("delivery_id"));
  if (!is_uuid(id) || !is_uuid(delivery)) {
    return ex->respond_error(errc::not_found, "No delivery has this id.");
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 202, std::move(answer)); },
      dreplay_atom_v, id, delivery);
}

// GET/PUT/DELETE /v1/credits/low-balance-threshold: the caller's own balance.low threshold.
void get_low_threshold(const events_routes_deps& deps, const exchange_ptr& ex) {
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      lowget_atom_v, ex->caller().user_id);
}

void put_low_threshold(const events_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  // Other fields are ignored (API.md: unknown fields in a request are ignored).
  auto threshold = required_int64(body, "threshold", 0, credits_max, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      lowset_atom_v, ex->caller().user_id, *threshold);
}

void delete_low_threshold(const events_routes_deps& deps, const exchange_ptr& ex) {
  ask<std::string>(
      *deps.sys, deps.admin, deps.timeout, ex,
      [ex](caf::expected<std::string> answer) { respond_string(ex, 200, std::move(answer)); },
      lowclear_atom_v, ex->caller().user_id);
}

}  // namespace

void add_events_routes(route_table& table, events_routes_deps deps) {
  auto bind = [deps](void (*fn)(const events_routes_deps&, const exchange_ptr&)) {
    return [deps, fn](const exchange_ptr& ex) { fn(deps, ex); };
  };
  table.add({"POST", "/v1/admin/webhook-endpoints", auth_kind::admin, body_kind::json,
             rate_policy::none, bind(post_endpoint)});
  table.add({"GET", "/v1/admin/webhook-endpoints", auth_kind::admin, body_kind::none,
             rate_policy::none, bind(list_endpoints)});
  table.add({"GET", "/v1/admin/webhook-endpoints/{id}", auth_kind::admin, body_kind::none,
             rate_policy::none, bind(get_endpoint)});
  table.add({"DELETE", "/v1/admin/webhook-endpoints/{id}", auth_kind::admin, body_kind::none,
             rate_policy::none, bind(delete_endpoint)});
  table.add({"GET", "/v1/admin/webhook-endpoints/{id}/deliveries", auth_kind::admin,
             body_kind::none, rate_policy::none, bind(list_deliveries)});
  table.add({"POST", "/v1/admin/webhook-endpoints/{id}/deliveries/{delivery_id}/replay",
             auth_kind::admin, body_kind::optional_json, rate_policy::none, bind(replay_delivery)});
  table.add({"GET", "/v1/credits/low-balance-threshold", auth_kind::user, body_kind::none,
             rate_policy::none, bind(get_low_threshold)});
  table.add({"PUT", "/v1/credits/low-balance-threshold", auth_kind::user, body_kind::json,
             rate_policy::none, bind(put_low_threshold)});
  table.add({"DELETE", "/v1/credits/low-balance-threshold", auth_kind::user, body_kind::none,
             rate_policy::none, bind(delete_low_threshold)});
}

}  // namespace tally::http
