// Gateway webhook receivers and the admin inbox endpoints (API.md "Gateway
// webhooks", "Admin and operations"; docs/webhooks.md).
//
// A receiver checks what it can without I/O (size — the server applies the
// webhook body limit to /v1/webhooks/ —, signature, JSON, event envelope),
// then asks an inbox worker to store the raw bytes and answers 200 only after
// that insert committed. It never trusts the body for state: verifiers
// re-fetch the event from the gateway after the response.

#include <cctype>
#include <ctime>

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "domain/cursor.hpp"
#include "domain/validation.hpp"
#include "domain/webhooks.hpp"
#include "http/bridge.hpp"
#include "http/problem.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"
#include "logging/log.hpp"

namespace tally::http {
namespace {

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

void count(const webhook_routes_deps& deps, const std::string& gateway, const char* outcome) {
  if (deps.received != nullptr) {
    deps.received->inc({gateway, outcome});
  }
}

// Headers kept with the event for operators (never credentials or signatures).
std::string headers_of_interest(const exchange_ptr& ex) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* name :
       {"content-type", "user-agent", "omise-signature-timestamp", "x-request-id"}) {
    if (auto value = ex->header(name)) {
      // Bounded: these are informational and a client controls them.
      out[name] = std::string(value->substr(0, 200));
    }
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void receive(const webhook_routes_deps& deps, const std::string& gateway, const exchange_ptr& ex) {
  const std::string& body = ex->body();
  // Signature first: unauthenticated bytes are not parsed further than needed.
  const gateway_signature_check::header_fn header = [&ex](std::string_view name) {
    std::string lower(name);
    for (auto& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return ex->header(lower).value_or(std::string_view());
  };
  caf::error signature =
      deps.check_signature
          ? deps.check_signature(gateway, body, header, static_cast<int64_t>(std::time(nullptr)))
          : caf::make_error(errc::invalid_signature);
  if (signature) {
    count(deps, gateway, "invalid_signature");
    log::warn(
        "webhook_signature_refused",
        {{"gateway", gateway}, {"source_ip", ex->source_ip()}, {"request_id", ex->request_id()}});
    return ex->respond_error(errc::invalid_signature);
  }
  auto parsed = parse_json_object(body);
  if (!parsed) {
    count(deps, gateway, "malformed");
    return ex->respond_problem(malformed_json("The body must be a JSON event object."));
  }
  auto envelope = webhooks::read_envelope(gateway, *parsed);
  if (!envelope) {
    count(deps, gateway, "malformed");
    return ex->respond_problem(
        malformed_json("The body must be an event object with a usable id."));
  }
  inbox_insert insert;
  insert.gateway = gateway;
  insert.event_id = std::move(envelope->event_id);
  insert.event_key = std::move(envelope->event_key);
  insert.object_id = std::move(envelope->object_id);
  insert.raw_body = body;
  insert.headers_json = headers_of_interest(ex);
  insert.source_ip = ex->source_ip();
  insert.request_id = ex->request_id();
  ask<inbox_receipt>(
      *deps.sys, deps.inbox, deps.timeout, ex,
      [deps, gateway, ex](caf::expected<inbox_receipt> receipt) {
        if (!receipt) {
          // Not stored: a non-2xx makes the gateway deliver again later.
          count(deps, gateway, "not_stored");
          return ex->respond_error(receipt.error());
        }
        count(deps, gateway, receipt->duplicate ? "duplicate" : "stored");
        if (!receipt->duplicate && deps.supervisor) {
          caf::anon_send(deps.supervisor, wh_poll_atom_v);
        }
        ex->respond_json(200, {{"received", true}});
      },
      wh_store_atom_v, std::move(insert));
}

void get_inbox(const webhook_routes_deps& deps, const exchange_ptr& ex) {
  auto limit_text = ex->query("limit");
  auto limit =
      parse_page_limit(limit_text ? std::optional<std::string_view>(*limit_text) : std::nullopt);
  field_errors errors;
  if (!limit) {
    errors.add("limit", "must be an integer in 1..100");
  }
  inbox_query query;
  if (auto status = ex->query("status")) {
    if (!webhooks::parse_inbox_status(*status)) {
      errors.add("status",
                 "must be one of received, processing, verified, rejected, parked, ignored");
    }
    query.status = *status;
  }
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  query.limit = *limit;
  if (auto cursor = ex->query("cursor")) {
    auto position = decode_cursor(*cursor);
    if (!position || !is_uuid(position->id)) {
      return ex->respond_error(errc::invalid_cursor);
    }
    query.after_created_us = position->created_at_us;
    query.after_id = position->id;
  }
  ask<std::string>(
      *deps.sys, deps.inbox, deps.timeout, ex,
      [ex](caf::expected<std::string> page) {
        if (!page) {
          return ex->respond_error(page.error());
        }
        auto parsed = nlohmann::json::parse(*page);
        const bool has_more = parsed["has_more"].get<bool>();
        nlohmann::json next_cursor = nullptr;
        if (has_more) {
          next_cursor = encode_cursor(cursor_position{parsed["last_created_us"].get<int64_t>(),
                                                      parsed["last_id"].get<std::string>()});
        }
        ex->respond_json(200, {{"items", std::move(parsed["items"])},
                               {"next_cursor", next_cursor},
                               {"has_more", has_more}});
      },
      wh_list_atom_v, query);
}

void post_retry(const webhook_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::not_found, "No inbox event has this id.");
  }
  ask<std::string>(
      *deps.sys, deps.inbox, deps.timeout, ex,
      [deps, ex](caf::expected<std::string> answer) {
        if (!answer) {
          errc code = errc::internal;
          if (as_errc(answer.error(), code) && code == errc::not_found) {
            return ex->respond_error(errc::not_found, "No inbox event has this id.");
          }
          return ex->respond_error(answer.error());
        }
        auto parsed = nlohmann::json::parse(*answer);
        if (!parsed["retried"].get<bool>()) {
          problem p;
          p.status = 409;
          p.code = "inbox_event_not_parked";
          p.title = "Inbox event not parked";
          p.detail = "Only a parked event can be retried; this one is " +
                     parsed["event"]["status"].get<std::string>() + ".";
          return ex->respond_problem(p);
        }
        if (deps.supervisor) {
          caf::anon_send(deps.supervisor, wh_poll_atom_v);
        }
        ex->respond_json(200, parsed["event"]);
      },
      wh_retry_atom_v, id);
}

}  // namespace

void add_webhook_routes(route_table& table, webhook_routes_deps deps) {
  for (const char* gateway : {"omise", "stripe", "sandbox"}) {
    table.add({"POST", std::string("/v1/webhooks/") + gateway, auth_kind::none, body_kind::raw,
               rate_policy::none, [deps, name = std::string(gateway)](const exchange_ptr& ex) {
                 receive(deps, name, ex);
               }});
  }
  table.add({"GET", "/v1/admin/webhooks/inbox", auth_kind::admin, body_kind::none,
             rate_policy::none, [deps](const exchange_ptr& ex) { get_inbox(deps, ex); }});
  table.add({"POST", "/v1/admin/webhooks/inbox/{id}/retry", auth_kind::admin,
             body_kind::optional_json, rate_policy::none,
             [deps](const exchange_ptr& ex) { post_retry(deps, ex); }});
}

}  // namespace tally::http
