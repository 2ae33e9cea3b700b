// Credit endpoints (API.md "Credits") and the ledger's admin endpoints.
// Handlers parse, validate, ask the ledger (router or reader), respond.

#include <chrono>

#include <nlohmann/json.hpp>

#include "domain/credit_lots.hpp"
#include "domain/cursor.hpp"
#include "domain/ledger.hpp"
#include "domain/time_format.hpp"
#include "http/bridge.hpp"
#include "http/idempotency.hpp"
#include "http/problem.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"

namespace tally::http {
namespace {

constexpr std::size_t reason_code_points_max = 500;
constexpr std::size_t metadata_bytes_max = 4096;
constexpr int64_t ttl_s_min = 1;
constexpr int64_t ttl_s_max = 86'400;
constexpr int64_t ttl_s_default = 300;
// A full replay reads the whole journal: about 11 s per 1,000,000 accounts
// on the benchmark machine (docs/ledger.md). `tally reconcile` has no limit.
constexpr std::chrono::minutes reconcile_timeout{10};
constexpr std::size_t timestamp_code_points_max = 64;

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

nlohmann::json reservation_json(const std::string& id, int64_t amount, int64_t committed,
                                const std::string& status, int64_t expires_at_ms) {
  return {{"id", id},
          {"amount", amount},
          {"committed_amount", committed},
          {"status", status},
          {"expires_at", rfc3339_from_millis(expires_at_ms)}};
}

nlohmann::json reservation_json(const ledger_receipt& r) {
  return reservation_json(r.reservation_id, r.reservation_amount, r.committed_amount,
                          r.reservation_status, r.expires_at_ms);
}

nlohmann::json entry_json(const ledger_receipt& r) {
  return {{"entry_id", r.entry_id},
          {"amount", r.amount},
          {"available", r.available},
          {"reserved", r.reserved}};
}

// Sends a mutation to the ledger and answers with `render(receipt)`.
template <class Render>
void mutate(const credits_routes_deps& deps, const exchange_ptr& ex, ledger_request request,
            int status, Render render) {
  request.request_id = ex->request_id();
  ask<ledger_receipt>(
      *deps.sys, deps.ledger, deps.timeout, ex,
      [ex, status, render](caf::expected<ledger_receipt> receipt) {
        if (!receipt) {
          return ex->respond_error(receipt.error());
        }
        if (receipt->replayed) {
          mark_replayed(ex);
        }
        ex->respond_json(status, render(*receipt));
      },
      mutate_atom_v, std::move(request));
}

std::string metadata_of(const std::optional<std::string>& reason,
                        const std::optional<nlohmann::json>& metadata) {
  nlohmann::json out = nlohmann::json::object();
  if (reason) {
    out["reason"] = *reason;
  }
  if (metadata) {
    out["metadata"] = *metadata;
  }
  return out.empty() ? std::string() : out.dump();
}

// The fields every ledger request from an HTTP route carries: whose account,
// what kind, the idempotency key with the request's fingerprint, and who acts.
ledger_request ledger_request_for(std::string account_id, entry_kind kind, const idempotency& key,
                                  std::string actor) {
  ledger_request request;
  request.account_id = std::move(account_id);
  request.kind = static_cast<uint8_t>(kind);
  request.idempotency_key = key.scoped_key;
  request.request_sha256 = key.request_sha256;
  request.actor = std::move(actor);
  return request;
}

// A request on the caller's own account.
ledger_request own_request(const exchange_ptr& ex, entry_kind kind, const idempotency& key) {
  return ledger_request_for(ex->caller().user_id, kind, key, "user:" + ex->caller().user_id);
}

void get_balance(const credits_routes_deps& deps, const exchange_ptr& ex) {
  ask<balance_view>(
      *deps.sys, deps.ledger, deps.timeout, ex,
      [ex](caf::expected<balance_view> view) {
        if (!view) {
          return ex->respond_error(view.error());
        }
        ex->respond_json(200, {{"available", view->available},
                               {"reserved", view->reserved},
                               {"updated_at", rfc3339_from_millis(view->updated_at_ms)}});
      },
      balance_atom_v, ex->caller().user_id);
}

void get_ledger(const credits_routes_deps& deps, const exchange_ptr& ex) {
  auto limit_text = ex->query("limit");
  auto limit =
      parse_page_limit(limit_text ? std::optional<std::string_view>(*limit_text) : std::nullopt);
  if (!limit) {
    return ex->respond_problem(validation_problem({{"limit", "must be an integer in 1..100"}}));
  }
  entries_query query;
  query.account_id = ex->caller().user_id;
  query.limit = *limit;
  if (auto kind = ex->query("kind")) {
    if (!parse_entry_kind(*kind)) {
      return ex->respond_problem(validation_problem({{"kind", "is not an entry kind"}}));
    }
    query.kind = *kind;
  }
  if (auto cursor = ex->query("cursor")) {
    // The ledger pages by sequence number: the cursor carries the seq to continue below.
    auto position = decode_cursor(*cursor);
    if (!position || position->id != "seq" || position->created_at_us <= 0) {
      return ex->respond_error(errc::invalid_cursor);
    }
    query.before_seq = position->created_at_us;
  }
  ask<std::string>(
      *deps.sys, deps.reader, deps.timeout, ex,
      [ex](caf::expected<std::string> page) {
        if (!page) {
          return ex->respond_error(page.error());
        }
        auto parsed = nlohmann::json::parse(*page);
        const int64_t next = parsed["next_before_seq"].get<int64_t>();
        nlohmann::json next_cursor = nullptr;
        if (next > 0) {
          next_cursor = encode_cursor(cursor_position{next, "seq"});
        }
        ex->respond_json(200, {{"items", std::move(parsed["items"])},
                               {"next_cursor", next_cursor},
                               {"has_more", next > 0}});
      },
      entries_atom_v, query);
}

void post_spend(const credits_routes_deps& deps, const exchange_ptr& ex) {
  auto key = read_idempotency(ex, "spend", key_presence::required);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto amount = required_int64(body, "amount", 1, credits_max, errors);
  auto reason = optional_string(body, "reason", 1, reason_code_points_max, errors);
  auto metadata = optional_object(body, "metadata", metadata_bytes_max, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ledger_request request = own_request(ex, entry_kind::spend, *key);
  request.amount = *amount;
  request.metadata_json = metadata_of(reason, metadata);
  mutate(deps, ex, std::move(request), 201, entry_json);
}

void post_reservation(const credits_routes_deps& deps, const exchange_ptr& ex) {
  auto key = read_idempotency(ex, "reserve", key_presence::optional);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto amount = required_int64(body, "amount", 1, credits_max, errors);
  auto ttl = optional_int64(body, "ttl_seconds", ttl_s_min, ttl_s_max, errors);
  auto reason = optional_string(body, "reason", 1, reason_code_points_max, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ledger_request request = own_request(ex, entry_kind::reserve, *key);
  request.amount = *amount;
  request.ttl_s = ttl.value_or(ttl_s_default);
  request.metadata_json = metadata_of(reason, std::nullopt);
  mutate(deps, ex, std::move(request), 201, [](const ledger_receipt& r) {
    nlohmann::json out = reservation_json(r);
    out.erase("committed_amount");
    return out;
  });
}

void get_reservation(const credits_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::reservation_not_found);
  }
  ask<reservation_row>(
      *deps.sys, deps.reader, deps.timeout, ex,
      [ex](caf::expected<reservation_row> row) {
        if (!row) {
          return ex->respond_error(row.error());
        }
        ex->respond_json(200,
                         reservation_json(row->reservation_id, row->amount, row->committed_amount,
                                          row->status, row->expires_at_ms));
      },
      reserv_atom_v, ex->caller().user_id, id);
}

// commit and release: the reservation's account is the caller's own.
void finish_reservation(const credits_routes_deps& deps, const exchange_ptr& ex, entry_kind kind) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::reservation_not_found);
  }
  auto key = read_idempotency(ex, kind == entry_kind::commit ? "commit" : "release",
                              key_presence::optional);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  ledger_request request = own_request(ex, kind, *key);
  request.reservation_id = id;
  if (kind == entry_kind::commit) {
    field_errors errors;
    auto amount = optional_int64(body, "amount", 0, credits_max, errors);
    if (respond_if_invalid(ex, errors)) {
      return;
    }
    request.commit_all = !amount.has_value();
    request.amount = amount.value_or(0);
  }
  mutate(deps, ex, std::move(request), 200,
         [](const ledger_receipt& r) { return reservation_json(r); });
}

void post_grant(const credits_routes_deps& deps, const exchange_ptr& ex) {
  const std::string user_id(ex->param("id"));
  if (!is_uuid(user_id)) {
    return ex->respond_error(errc::not_found, "No such user.");
  }
  auto key = read_idempotency(ex, "grant", key_presence::optional);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto amount = required_int64(body, "amount", 1, credits_max, errors);
  auto reason = required_string(body, "reason", 1, reason_code_points_max, errors);
  // expires_at makes the grant a credit lot (docs/ledger.md "Expiring grants").
  auto expires_at = optional_string(body, "expires_at", 1, timestamp_code_points_max, errors);
  std::optional<int64_t> expires_at_ms;
  if (expires_at) {
    expires_at_ms = millis_from_rfc3339(*expires_at);
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    if (!expires_at_ms) {
      errors.add("expires_at", "must be an RFC 3339 date-time, e.g. 2030-01-31T00:00:00Z");
    } else if (!is_valid_lot_expiry(*expires_at_ms, now_ms)) {
      errors.add("expires_at", "must be in the future and at most 10 years ahead");
    }
  }
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  ledger_request request = ledger_request_for(user_id, entry_kind::grant, *key, "admin");
  request.amount = *amount;
  request.expires_at_ms = expires_at_ms.value_or(0);
  request.metadata_json = metadata_of(reason, std::nullopt);
  request.reference_type = "admin_grant";
  // Grants go only to existing users (the identity context decides).
  ask<user_profile>(
      *deps.sys, deps.identity, deps.timeout, ex,
      [deps, ex, request](caf::expected<user_profile> profile) mutable {
        if (!profile) {
          errc code = errc::internal;
          if (as_errc(profile.error(), code) && code == errc::unauthorized) {
            return ex->respond_error(errc::not_found, "No such user.");
          }
          return ex->respond_error(profile.error());
        }
        if (request.expires_at_ms == 0) {
          return mutate(deps, ex, std::move(request), 201, entry_json);
        }
        // The ledger refuses an expiring grant with validation_failed only when the account
        // already holds credit_lots_max lots: name the field.
        request.request_id = ex->request_id();
        ask<ledger_receipt>(
            *deps.sys, deps.ledger, deps.timeout, ex,
            [ex](caf::expected<ledger_receipt> receipt) {
              if (!receipt) {
                errc code = errc::internal;
                if (as_errc(receipt.error(), code) && code == errc::validation_failed) {
                  return ex->respond_problem(validation_problem(
                      {{"expires_at", "the account already holds " +
                                          std::to_string(credit_lots_max) +
                                          " expiring grants with credits left"}}));
                }
                return ex->respond_error(receipt.error());
              }
              if (receipt->replayed) {
                mark_replayed(ex);
              }
              ex->respond_json(201, entry_json(*receipt));
            },
            mutate_atom_v, std::move(request));
      },
      profile_atom_v, user_id);
}

void get_reconcile(const credits_routes_deps& deps, const exchange_ptr& ex) {
  ask<std::string>(
      *deps.sys, deps.reconciler, reconcile_timeout, ex,
      [ex](caf::expected<std::string> report) {
        if (!report) {
          return ex->respond_error(report.error());
        }
        ex->respond(200, std::move(*report));
      },
      reconcile_atom_v);
}

}  // namespace

void add_credits_routes(route_table& table, credits_routes_deps deps) {
  auto route = [&](const char* method, const char* pattern, auth_kind auth, body_kind body,
                   void (*handler)(const credits_routes_deps&, const exchange_ptr&)) {
    table.add({method, pattern, auth, body, rate_policy::none,
               [deps, handler](const exchange_ptr& ex) { handler(deps, ex); }});
  };
  route("GET", "/v1/credits/balance", auth_kind::user, body_kind::none, get_balance);
  route("GET", "/v1/credits/ledger", auth_kind::user, body_kind::none, get_ledger);
  route("POST", "/v1/credits/spend", auth_kind::user, body_kind::json, post_spend);
  route("POST", "/v1/credits/reservations", auth_kind::user, body_kind::json, post_reservation);
  route("GET", "/v1/credits/reservations/{id}", auth_kind::user, body_kind::none, get_reservation);
  route("POST", "/v1/credits/reservations/{id}/commit", auth_kind::user, body_kind::optional_json,
        [](const credits_routes_deps& d, const exchange_ptr& ex) {
          finish_reservation(d, ex, entry_kind::commit);
        });
  route("POST", "/v1/credits/reservations/{id}/release", auth_kind::user, body_kind::optional_json,
        [](const credits_routes_deps& d, const exchange_ptr& ex) {
          finish_reservation(d, ex, entry_kind::release);
        });
  route("POST", "/v1/admin/users/{id}/grants", auth_kind::admin, body_kind::json, post_grant);
  route("GET", "/v1/admin/reconcile", auth_kind::admin, body_kind::none, get_reconcile);
}

}  // namespace tally::http
