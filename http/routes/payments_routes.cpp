// Package and purchase endpoints (API.md "Packages and purchases") and the
// package admin endpoints. Handlers parse, validate, ask the purchase router
// (purchases) or the payments DB pool (packages, reads), respond.

#include <chrono>

#include <nlohmann/json.hpp>

#include "auth/secrets.hpp"
#include "domain/cursor.hpp"
#include "domain/payments.hpp"
#include "http/bridge.hpp"
#include "http/idempotency.hpp"
#include "http/problem.hpp"
#include "http/request_body.hpp"
#include "http/routes/route_files.hpp"

namespace tally::http {
namespace {

constexpr std::size_t package_id_bytes_max = 64;
// The purchase router's own deadline, plus time for the last DB write.
constexpr std::chrono::milliseconds purchase_answer_margin{5'000};

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

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json package_json(const package_record& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"credits", p.credits},
          {"price", {{"amount", p.amount}, {"currency", p.currency}}},
          {"active", p.active}};
}

// Answers a purchase error; payment_failed carries the gateway's codes.
void respond_purchase_error(const exchange_ptr& ex, const caf::error& err) {
  errc code = errc::internal;
  if (as_errc(err, code) && code == errc::payment_failed &&
      err.context().match_elements<std::string, std::string, std::string, bool>()) {
    const auto& context = err.context();
    problem p = problem_for(errc::payment_failed);
    p.extra = {{"purchase_id", context.get_as<std::string>(0)},
               {"failure_code", context.get_as<std::string>(1)},
               {"failure_message", context.get_as<std::string>(2)}};
    if (context.get_as<bool>(3)) {
      mark_replayed(ex);
    }
    return ex->respond_problem(p);
  }
  ex->respond_error(err);
}

void get_packages(const payments_routes_deps& deps, const exchange_ptr& ex) {
  ask<std::string>(
      *deps.sys, deps.queries, deps.timeout, ex,
      [ex](caf::expected<std::string> list) {
        if (!list) {
          return ex->respond_error(list.error());
        }
        auto items = nlohmann::json::parse(*list);
        for (auto& item : items) {
          item.erase("active");  // only active packages are listed
        }
        ex->respond_json(200, {{"items", std::move(items)}});
      },
      pkglist_atom_v, true);
}

// Reads the package fields of an admin create (every field required) or patch.
package_change read_package_change(const nlohmann::json& body, bool is_create,
                                   field_errors& errors) {
  package_change change;
  change.is_create = is_create;
  auto name = is_create ? required_string(body, "name", 1, package_name_code_points_max, errors)
                        : optional_string(body, "name", 1, package_name_code_points_max, errors);
  auto credits = is_create ? required_int64(body, "credits", 1, package_credits_max, errors)
                           : optional_int64(body, "credits", 1, package_credits_max, errors);
  auto price = is_create ? required_object(body, "price", 1024, errors)
                         : optional_object(body, "price", 1024, errors);
  auto active = optional_bool(body, "active", errors);
  if (price) {
    field_scope scope(errors, "price");
    auto amount = required_int64(*price, "amount", 1, package_price_amount_max, errors);
    auto currency = required_string(*price, "currency", 3, 3, errors);
    if (currency && !is_currency_code(*currency)) {
      errors.add("currency", "must be an upper-case ISO 4217 code");
    }
    change.has_price = amount && currency;
    change.amount = amount.value_or(0);
    change.currency = currency.value_or("");
  }
  change.has_name = name.has_value();
  change.name = name.value_or("");
  change.has_credits = credits.has_value();
  change.credits = credits.value_or(0);
  change.has_active = active.has_value();
  change.active = active.value_or(true);
  return change;
}

void put_package(const payments_routes_deps& deps, const exchange_ptr& ex, package_change change,
                 int status) {
  change.request_id = ex->request_id();
  ask<package_record>(
      *deps.sys, deps.queries, deps.timeout, ex,
      [ex, status](caf::expected<package_record> package) {
        if (!package) {
          errc code = errc::internal;
          if (as_errc(package.error(), code) && code == errc::validation_failed) {
            return ex->respond_problem(validation_problem({{"id", "is already taken"}}));
          }
          return ex->respond_error(package.error());
        }
        ex->respond_json(status, package_json(*package));
      },
      pkgput_atom_v, std::move(change));
}

void post_package(const payments_routes_deps& deps, const exchange_ptr& ex) {
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  auto id = optional_string(body, "id", 1, package_id_bytes_max, errors);
  if (id && !is_package_id(*id)) {
    errors.add("id", "must be 1-64 of a-z, 0-9, _ and -");
  }
  package_change change = read_package_change(body, true, errors);
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  change.id = id ? *id : "pkg_" + auth::new_uuid_v4().substr(0, 8);
  put_package(deps, ex, std::move(change), 201);
}

void patch_package(const payments_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_package_id(id)) {
    return ex->respond_error(errc::package_not_found);
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  field_errors errors;
  package_change change = read_package_change(body, false, errors);
  if (errors.empty() && !change.has_name && !change.has_credits && !change.has_price &&
      !change.has_active) {
    errors.add("body", "names none of name, credits, price, active");
  }
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  change.id = id;
  put_package(deps, ex, std::move(change), 200);
}

void post_purchase(const payments_routes_deps& deps, const exchange_ptr& ex) {
  auto key = read_idempotency(ex, "purchase", key_presence::required);
  if (!key) {
    return;
  }
  nlohmann::json body;
  if (!parse_json_body(ex, body)) {
    return;
  }
  // Before anything else reads the body: a card number is refused whole, in
  // whatever field it hides, and nothing of it is stored or logged.
  if (json_contains_card_number(body)) {
    return ex->respond_error(errc::raw_card_data_rejected);
  }
  field_errors errors;
  auto package_id = required_string(body, "package_id", 1, package_id_bytes_max, errors);
  auto gateway = optional_choice(body, "gateway", {"omise", "stripe", "sandbox"}, errors);
  auto method = required_choice(body, "method", {"card", "promptpay"}, errors);
  auto card_token = optional_string(body, "card_token", 1, card_token_bytes_max, errors);
  auto return_uri = optional_string(body, "return_uri", 1, return_uri_bytes_max, errors);
  if (method && *method == "card" && !card_token) {
    errors.add("card_token", "is required for card payments (tokenize the card first)");
  }
  if (return_uri && return_uri->rfind("https://", 0) != 0 && return_uri->rfind("http://", 0) != 0) {
    errors.add("return_uri", "must be an http(s) URL");
  }
  if (respond_if_invalid(ex, errors)) {
    return;
  }
  if (!is_package_id(*package_id)) {
    return ex->respond_error(errc::package_not_found);
  }
  purchase_request request;
  request.user_id = ex->caller().user_id;
  request.package_id = *package_id;
  request.gateway = gateway.value_or("");
  request.method = *method;
  request.card_token = *method == "card" ? card_token.value_or("") : "";
  request.return_uri = return_uri.value_or("");
  request.idempotency_key = key->scoped_key;
  request.request_sha256 = key->request_sha256;
  request.request_id = ex->request_id();
  ask<purchase_view>(
      *deps.sys, deps.purchases, deps.purchase_timeout + purchase_answer_margin, ex,
      [ex](caf::expected<purchase_view> view) {
        if (!view) {
          return respond_purchase_error(ex, view.error());
        }
        if (view->replayed) {
          mark_replayed(ex);
        }
        ex->respond_json(201, purchase_api_json(*view));
      },
      purchase_atom_v, std::move(request));
}

void get_purchases(const payments_routes_deps& deps, const exchange_ptr& ex) {
  auto limit_text = ex->query("limit");
  auto limit =
      parse_page_limit(limit_text ? std::optional<std::string_view>(*limit_text) : std::nullopt);
  if (!limit) {
    return ex->respond_problem(validation_problem({{"limit", "must be an integer in 1..100"}}));
  }
  purchase_query query;
  query.user_id = ex->caller().user_id;
  query.limit = *limit;
  if (auto status = ex->query("status")) {
    if (!parse_purchase_status(*status)) {
      return ex->respond_problem(validation_problem({{"status", "is not a purchase status"}}));
    }
    query.status = *status;
  }
  if (auto cursor = ex->query("cursor")) {
    auto position = decode_cursor(*cursor);
    if (!position || !is_uuid(position->id)) {
      return ex->respond_error(errc::invalid_cursor);
    }
    query.before_created_at_us = position->created_at_us;
    query.before_id = position->id;
  }
  ask<std::string>(
      *deps.sys, deps.queries, deps.timeout, ex,
      [ex](caf::expected<std::string> page) {
        if (!page) {
          return ex->respond_error(page.error());
        }
        auto parsed = nlohmann::json::parse(*page);
        const int64_t next_us = parsed["next_created_at_us"].get<int64_t>();
        nlohmann::json next_cursor = nullptr;
        if (next_us > 0) {
          next_cursor =
              encode_cursor(cursor_position{next_us, parsed["next_id"].get<std::string>()});
        }
        ex->respond_json(200, {{"items", std::move(parsed["items"])},
                               {"next_cursor", next_cursor},
                               {"has_more", next_us > 0}});
      },
      ppage_atom_v, query);
}

// A pending purchase asked about after its redirect: let the gateway say
// where it stands, through the purchase actor's one code path, throttled per
// purchase there; a slow or refused check answers the stored state.
void poll_pending(const payments_routes_deps& deps, const exchange_ptr& ex,
                  const purchase_view& stored) {
  ask<purchase_view>(
      *deps.sys, deps.purchases, deps.poll_wait, ex,
      [ex, stored](caf::expected<purchase_view> fresh) {
        ex->respond_json(200, purchase_api_json(fresh ? *fresh : stored));
      },
      ppoll_atom_v, stored.id);
}

void get_purchase(const payments_routes_deps& deps, const exchange_ptr& ex) {
  const std::string id(ex->param("id"));
  if (!is_uuid(id)) {
    return ex->respond_error(errc::purchase_not_found);
  }
  ask<purchase_view>(
      *deps.sys, deps.queries, deps.timeout, ex,
      [deps, ex](caf::expected<purchase_view> view) {
        if (!view) {
          return ex->respond_error(view.error());
        }
        const int64_t age_ms = unix_now_ms() - view->created_at_ms;
        if (view->status == "pending" && age_ms >= deps.poll_verify_after_s * 1000) {
          return poll_pending(deps, ex, *view);
        }
        ex->respond_json(200, purchase_api_json(*view));
      },
      pfind_atom_v, ex->caller().user_id, id);
}

}  // namespace

void add_payments_routes(route_table& table, payments_routes_deps deps) {
  auto route = [&](const char* method, const char* pattern, auth_kind auth, body_kind body,
                   void (*handler)(const payments_routes_deps&, const exchange_ptr&)) {
    table.add({method, pattern, auth, body, rate_policy::none,
               [deps, handler](const exchange_ptr& ex) { handler(deps, ex); }});
  };
  route("GET", "/v1/packages", auth_kind::none, body_kind::none, get_packages);
  route("POST", "/v1/admin/packages", auth_kind::admin, body_kind::json, post_package);
  route("PATCH", "/v1/admin/packages/{id}", auth_kind::admin, body_kind::json, patch_package);
  route("POST", "/v1/purchases", auth_kind::user, body_kind::json, post_purchase);
  route("GET", "/v1/purchases", auth_kind::user, body_kind::none, get_purchases);
  route("GET", "/v1/purchases/{id}", auth_kind::user, body_kind::none, get_purchase);
}

}  // namespace tally::http
