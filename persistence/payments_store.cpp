#include "persistence/payments_store.hpp"

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "persistence/audit_store.hpp"
#include "persistence/outbox.hpp"

namespace tally::persistence {
namespace {

constexpr const char* package_columns = "package_id, name, credits, price_amount, currency, active";

// Every purchase column a view needs, in purchase_from_row's order.
constexpr const char* purchase_columns =
    "p.purchase_id::text, p.user_id::text, p.package_id, p.status, p.gateway, p.method, "
    "coalesce(p.charge_id, ''), p.credits, p.amount, p.currency, coalesce(p.failure_code, ''), "
    "coalesce(p.failure_message, ''), coalesce(p.next_action::text, 'null'), "
    "(extract(epoch FROM p.created_at) * 1000)::bigint, "
    "coalesce((extract(epoch FROM p.completed_at) * 1000)::bigint, 0), "
    "(extract(epoch FROM p.created_at) * 1000000)::bigint";

package_record package_from_row(const pqxx::row& row) {
  package_record p;
  p.id = row[0].as<std::string>();
  p.name = row[1].as<std::string>();
  p.credits = row[2].as<int64_t>();
  p.amount = row[3].as<int64_t>();
  p.currency = row[4].as<std::string>();
  p.active = row[5].as<bool>();
  return p;
}

purchase_view purchase_from_row(const pqxx::row& row) {
  purchase_view v;
  v.id = row[0].as<std::string>();
  v.user_id = row[1].as<std::string>();
  v.package_id = row[2].as<std::string>();
  v.status = row[3].as<std::string>();
  v.gateway = row[4].as<std::string>();
  v.method = row[5].as<std::string>();
  v.charge_id = row[6].as<std::string>();
  v.credits = row[7].as<int64_t>();
  v.amount = row[8].as<int64_t>();
  v.currency = row[9].as<std::string>();
  v.failure_code = row[10].as<std::string>();
  v.failure_message = row[11].as<std::string>();
  v.next_action_json = row[12].as<std::string>();
  v.created_at_ms = row[13].as<int64_t>();
  v.completed_at_ms = row[14].as<int64_t>();
  TALLY_ASSERT(v.credits > 0);
  TALLY_ASSERT(v.amount > 0);
  return v;
}

std::optional<purchase_view> one_purchase(const pqxx::result& rows) {
  if (rows.empty()) {
    return std::nullopt;
  }
  return purchase_from_row(rows[0]);
}

std::optional<purchase_view> select_purchase(pqxx::transaction_base& tx,
                                             const std::string& purchase_id,
                                             const char* lock = "") {
  return one_purchase(tx.exec_params(std::string("SELECT ") + purchase_columns +
                                         " FROM payments.purchases p WHERE p.purchase_id = "
                                         "$1::uuid" +
                                         lock,
                                     purchase_id));
}

void audit_purchase(pqxx::transaction_base& tx, const purchase_view& v, const char* action,
                    const std::string& actor, const std::string& request_id,
                    nlohmann::json detail) {
  detail["package_id"] = v.package_id;
  detail["gateway"] = v.gateway;
  detail["amount"] = v.amount;
  detail["currency"] = v.currency;
  if (!v.charge_id.empty()) {
    detail["charge_id"] = v.charge_id;
  }
  append_audit(tx,
               {actor, action, "purchase:" + v.id,
                std::string_view(action) == "purchase.completed" ? std::optional<int64_t>(v.credits)
                                                                 : std::nullopt,
                request_id, "", std::move(detail)});
}

// The key record's claim holds this connection's backend (see the migration).
constexpr const char* claim_values =
    "pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())";

constexpr const char* claim_alive_sql =
    "k.claim_pid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_stat_activity a "
    "WHERE a.pid = k.claim_pid AND a.backend_start = k.claim_backend_start)";

// What a purchase event carries (docs/events.md): read back from the row the
// transaction just wrote, so the event describes exactly the committed row.
constexpr const char* announced_columns =
    "purchase_id::text, user_id::text, package_id, credits, amount, currency, status, "
    "COALESCE(failure_code, '')";

// Writes the purchase's new state to payments.outbox in the caller's
// transaction: the event commits (or rolls back) with the change.
void announce_purchase(pqxx::transaction_base& tx, const pqxx::row& row, const std::string& type) {
  const std::string id = row[0].as<std::string>();
  const std::string user_id = row[1].as<std::string>();
  nlohmann::json data = {{"purchase_id", id},
                         {"user_id", user_id},
                         {"package_id", row[2].as<std::string>()},
                         {"credits", row[3].as<int64_t>()},
                         {"amount", row[4].as<int64_t>()},
                         {"currency", row[5].as<std::string>()},
                         {"status", row[6].as<std::string>()}};
  if (const auto code = row[7].as<std::string>(); !code.empty()) {
    data["failure_code"] = code;
  }
  append_event(tx, "payments", {"", type, "purchases/" + id, user_id, data.dump()});
}

}  // namespace

std::string purchase_record_json(const purchase_view& v) {
  return nlohmann::json{{"id", v.id},
                        {"user_id", v.user_id},
                        {"package_id", v.package_id},
                        {"status", v.status},
                        {"gateway", v.gateway},
                        {"method", v.method},
                        {"charge_id", v.charge_id},
                        {"credits", v.credits},
                        {"amount", v.amount},
                        {"currency", v.currency},
                        {"failure_code", v.failure_code},
                        {"failure_message", v.failure_message},
                        {"next_action", v.next_action_json},
                        {"created_at_ms", v.created_at_ms},
                        {"completed_at_ms", v.completed_at_ms}}
      .dump();
}

purchase_view purchase_from_record_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  purchase_view v;
  v.id = j.at("id").get<std::string>();
  v.user_id = j.at("user_id").get<std::string>();
  v.package_id = j.at("package_id").get<std::string>();
  v.status = j.at("status").get<std::string>();
  v.gateway = j.at("gateway").get<std::string>();
  v.method = j.at("method").get<std::string>();
  v.charge_id = j.at("charge_id").get<std::string>();
  v.credits = j.at("credits").get<int64_t>();
  v.amount = j.at("amount").get<int64_t>();
  v.currency = j.at("currency").get<std::string>();
  v.failure_code = j.at("failure_code").get<std::string>();
  v.failure_message = j.at("failure_message").get<std::string>();
  v.next_action_json = j.at("next_action").get<std::string>();
  v.created_at_ms = j.at("created_at_ms").get<int64_t>();
  v.completed_at_ms = j.at("completed_at_ms").get<int64_t>();
  return v;
}

std::vector<package_record> list_packages(pqxx::transaction_base& tx, bool active_only) {
  std::vector<package_record> out;
  // Bounded: admins create packages by hand; a catalogue past this is a bug.
  const auto rows = tx.exec_params(std::string("SELECT ") + package_columns +
                                       " FROM payments.packages WHERE active OR NOT $1 "
                                       "ORDER BY price_amount, package_id LIMIT 1000",
                                   active_only);
  for (const auto& row : rows) {
    out.push_back(package_from_row(row));
  }
  return out;
}

std::optional<package_record> find_package(pqxx::transaction_base& tx, const std::string& id) {
  const auto rows = tx.exec_params(
      std::string("SELECT ") + package_columns + " FROM payments.packages WHERE package_id = $1",
      id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return package_from_row(rows[0]);
}

bool insert_package(pqxx::transaction_base& tx, const package_change& c) {
  TALLY_ASSERT(c.is_create && c.has_name && c.has_credits && c.has_price);
  const auto rows = tx.exec_params(
      "INSERT INTO payments.packages (package_id, name, credits, price_amount, currency, active) "
      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (package_id) DO NOTHING RETURNING 1",
      c.id, c.name, c.credits, c.amount, c.currency, c.has_active ? c.active : true);
  if (rows.empty()) {
    return false;
  }
  append_audit(
      tx,
      {"admin",
       "package.created",
       "package:" + c.id,
       std::nullopt,
       c.request_id,
       "",
       {{"name", c.name}, {"credits", c.credits}, {"amount", c.amount}, {"currency", c.currency}}});
  return true;
}

std::optional<package_record> update_package(pqxx::transaction_base& tx, const package_change& c) {
  const auto rows = tx.exec_params(
      std::string("UPDATE payments.packages SET "
                  "name = CASE WHEN $2 THEN $3 ELSE name END, "
                  "credits = CASE WHEN $4 THEN $5 ELSE credits END, "
                  "price_amount = CASE WHEN $6 THEN $7 ELSE price_amount END, "
                  "currency = CASE WHEN $6 THEN $8 ELSE currency END, "
                  "active = CASE WHEN $9 THEN $10 ELSE active END, updated_at = now() "
                  "WHERE package_id = $1 RETURNING ") +
          package_columns,
      c.id, c.has_name, c.name, c.has_credits, c.credits, c.has_price, c.amount, c.currency,
      c.has_active, c.active);
  if (rows.empty()) {
    return std::nullopt;
  }
  nlohmann::json detail = nlohmann::json::object();
  if (c.has_name) {
    detail["name"] = c.name;
  }
  if (c.has_credits) {
    detail["credits"] = c.credits;
  }
  if (c.has_price) {
    detail["amount"] = c.amount;
    detail["currency"] = c.currency;
  }
  if (c.has_active) {
    detail["active"] = c.active;
  }
  append_audit(tx, {"admin", "package.updated", "package:" + c.id, std::nullopt, c.request_id, "",
                    std::move(detail)});
  return package_from_row(rows[0]);
}

begin_result begin_purchase(pqxx::connection& connection, const purchase_request& request,
                            const std::string& gateway, const std::string& purchase_id) {
  TALLY_ASSERT(!request.idempotency_key.empty());
  pqxx::work tx{connection};
  begin_result out;
  // Claim the key first: of two concurrent requests with it, one inserts and
  // the other waits on the row lock, then sees the claim.
  const auto claimed =
      tx.exec_params(std::string("INSERT INTO payments.idempotency_keys (user_id, idempotency_key, "
                                 "request_sha256, purchase_id, claim_pid, claim_backend_start) "
                                 "VALUES ($1::uuid, $2, $3, $4::uuid, ") +
                         claim_values + ") ON CONFLICT DO NOTHING RETURNING 1",
                     request.user_id, request.idempotency_key, request.request_sha256, purchase_id);
  if (claimed.empty()) {
    const auto rows =
        tx.exec_params(std::string("SELECT k.request_sha256, k.purchase_id::text, k.response_code, "
                                   "k.response_view::text, ") +
                           claim_alive_sql +
                           " FROM payments.idempotency_keys k WHERE k.user_id = $1::uuid AND "
                           "k.idempotency_key = $2 FOR UPDATE",
                       request.user_id, request.idempotency_key);
    TALLY_ASSERT(rows.size() == 1);  // the insert conflicted on this very row
    const auto& row = rows[0];
    if (row[0].as<std::string>() != request.request_sha256) {
      out.status = begin_status::key_reused;
      return out;
    }
    if (!row[3].is_null()) {
      out.status = begin_status::replayed;
      out.begun.replayed = true;
      out.begun.view = purchase_from_record_json(row[3].as<std::string>());
      out.begun.view.replayed = true;
      out.begun.error_code = row[2].is_null() ? "" : row[2].as<std::string>();
      return out;
    }
    if (row[4].as<bool>()) {
      out.status = begin_status::key_in_flight;
      return out;
    }
    // The first attempt died with its process: take the claim over and resume.
    const std::string existing_id = row[1].as<std::string>();
    tx.exec_params(std::string("UPDATE payments.idempotency_keys SET (claim_pid, "
                               "claim_backend_start) = (SELECT ") +
                       claim_values + ") WHERE user_id = $1::uuid AND idempotency_key = $2",
                   request.user_id, request.idempotency_key);
    auto view = select_purchase(tx, existing_id);
    TALLY_ASSERT(view.has_value());  // written in the key record's transaction
    tx.commit();
    out.status = begin_status::resumed;
    out.begun.resumed = true;
    out.begun.view = std::move(*view);
    return out;
  }
  auto package = find_package(tx, request.package_id);
  if (!package || !package->active) {
    out.status = begin_status::package_not_found;
    return out;  // rolled back: the key is not spent on a refusal
  }
  tx.exec_params(
      "INSERT INTO payments.purchases (purchase_id, user_id, package_id, credits, amount, "
      "currency, gateway, method, idempotency_key) "
      "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9)",
      purchase_id, request.user_id, package->id, package->credits, package->amount,
      package->currency, gateway, request.method, request.idempotency_key);
  const auto created = tx.exec_params(std::string("SELECT ") + announced_columns +
                                          " FROM payments.purchases WHERE purchase_id = $1::uuid",
                                      purchase_id);
  TALLY_ASSERT(created.size() == 1);
  announce_purchase(tx, created[0], "purchase.created");
  auto view = select_purchase(tx, purchase_id);
  TALLY_ASSERT(view.has_value());
  audit_purchase(tx, *view, "purchase.created", "user:" + request.user_id, request.request_id,
                 {{"method", request.method}});
  tx.commit();
  out.begun.view = std::move(*view);
  return out;
}

purchase_view record_outcome(pqxx::connection& connection, const purchase_outcome& outcome,
                             bool& failed) {
  pqxx::work tx{connection};
  auto view = select_purchase(tx, outcome.purchase_id, " FOR UPDATE");
  TALLY_ASSERT(view.has_value());
  bool ended = false;
  if (outcome.has_charge) {
    const charge_snapshot& c = outcome.charge;
    const std::string next_action = next_action_json(c.authorize_uri, c.qr_image_url, c.expires_at);
    // Only a pending purchase without another charge is bound (a settle that
    // raced ahead of us has already moved it, and stays the truth).
    tx.exec_params(
        "UPDATE payments.purchases SET charge_id = $2, next_action = $3::jsonb, "
        "updated_at = now() WHERE purchase_id = $1::uuid AND status = 'pending' AND "
        "(charge_id IS NULL OR charge_id = $2)",
        outcome.purchase_id, c.id, next_action);
    if (c.status == "failed") {
      ended = end_purchase(tx, outcome.purchase_id, purchase_status::failed, c.failure_code,
                           c.failure_message);
    }
  } else if (!outcome.failure_code.empty()) {
    ended = end_purchase(tx, outcome.purchase_id, purchase_status::failed, outcome.failure_code,
                         outcome.failure_message);
  }
  // Neither: the purchase is answered as it stands (a resumed key whose purchase moved on).
  view = select_purchase(tx, outcome.purchase_id);
  if (ended) {
    audit_purchase(tx, *view, "purchase.failed", "user:" + view->user_id, outcome.request_id,
                   {{"failure_code", view->failure_code}});
  }
  failed = view->status == "failed";
  // The answer is kept for replay (API.md: the first response, replayed).
  tx.exec_params(
      "UPDATE payments.idempotency_keys SET response_code = $3, response_view = $4::jsonb, "
      "claim_pid = NULL, claim_backend_start = NULL "
      "WHERE user_id = $1::uuid AND idempotency_key = $2",
      outcome.user_id, outcome.idempotency_key, failed ? "payment_failed" : "",
      purchase_record_json(*view));
  tx.commit();
  return *view;
}

void release_claim(pqxx::connection& connection, const std::string& user_id,
                   const std::string& idempotency_key) {
  pqxx::work tx{connection};
  tx.exec_params(
      "UPDATE payments.idempotency_keys SET claim_pid = NULL, claim_backend_start = NULL "
      "WHERE user_id = $1::uuid AND idempotency_key = $2 AND response_view IS NULL",
      user_id, idempotency_key);
  tx.commit();
}

std::optional<purchase_view> find_purchase(pqxx::transaction_base& tx, const std::string& user_id,
                                           const std::string& purchase_id) {
  auto view = select_purchase(tx, purchase_id);
  if (view && !user_id.empty() && view->user_id != user_id) {
    return std::nullopt;  // another user's purchase does not exist for this caller
  }
  return view;
}

std::optional<purchase_view> find_purchase_by_charge(pqxx::transaction_base& tx,
                                                     const std::string& gateway,
                                                     const std::string& charge_id) {
  return one_purchase(tx.exec_params(std::string("SELECT ") + purchase_columns +
                                         " FROM payments.purchases p WHERE p.gateway = $1 AND "
                                         "p.charge_id = $2",
                                     gateway, charge_id));
}

bool bind_charge(pqxx::transaction_base& tx, const std::string& purchase_id,
                 const std::string& charge_id) {
  const auto rows = tx.exec_params(
      "UPDATE payments.purchases SET charge_id = $2, updated_at = now() "
      "WHERE purchase_id = $1::uuid AND (charge_id IS NULL OR charge_id = $2) RETURNING 1",
      purchase_id, charge_id);
  return !rows.empty();
}

bool complete_purchase(pqxx::transaction_base& tx, const std::string& purchase_id,
                       const std::string& grant_entry_id) {
  const auto rows = tx.exec_params(
      "UPDATE payments.purchases SET status = 'completed', grant_entry_id = $2::uuid, "
      "completed_at = now(), updated_at = now(), failure_code = NULL, failure_message = NULL "
      "WHERE purchase_id = $1::uuid AND status IN ('pending', 'failed', 'expired') RETURNING " +
          std::string(announced_columns),
      purchase_id, grant_entry_id);
  if (rows.empty()) {
    return false;
  }
  announce_purchase(tx, rows[0], "purchase.completed");
  return true;
}

bool end_purchase(pqxx::transaction_base& tx, const std::string& purchase_id,
                  purchase_status status, const std::string& failure_code,
                  const std::string& failure_message) {
  TALLY_ASSERT(status == purchase_status::failed || status == purchase_status::expired);
  const auto rows = tx.exec_params(
      "UPDATE payments.purchases SET status = $2, failure_code = NULLIF($3, ''), "
      "failure_message = NULLIF($4, ''), updated_at = now() "
      "WHERE purchase_id = $1::uuid AND status = 'pending' RETURNING " +
          std::string(announced_columns),
      purchase_id, to_string(status), failure_code.substr(0, 200), failure_message.substr(0, 1000));
  if (rows.empty()) {
    return false;
  }
  announce_purchase(tx, rows[0],
                    status == purchase_status::failed ? "purchase.failed" : "purchase.expired");
  return true;
}

std::string purchases_page_json(pqxx::transaction_base& tx, const purchase_query& q) {
  TALLY_ASSERT(q.limit >= 1 && q.limit <= 100);
  const auto rows = tx.exec_params(
      std::string("SELECT ") + purchase_columns +
          " FROM payments.purchases p WHERE p.user_id = $1::uuid "
          "AND ($2 = '' OR p.status = $2) "
          "AND ($3::bigint = 0 OR ((extract(epoch FROM p.created_at) * 1000000)::bigint, "
          "  p.purchase_id) < ($3::bigint, $4::uuid)) "
          "ORDER BY p.created_at DESC, p.purchase_id DESC LIMIT $5",
      q.user_id, q.status, q.before_created_at_us,
      q.before_id.empty() ? std::string("00000000-0000-0000-0000-000000000000") : q.before_id,
      q.limit + 1);
  nlohmann::json items = nlohmann::json::array();
  int64_t next_us = 0;
  std::string next_id;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<int>(i) == q.limit) {
      // One more row exists: the page ends at the previous one.
      next_us = rows[i - 1][15].as<int64_t>();
      next_id = rows[i - 1][0].as<std::string>();
      break;
    }
    items.push_back(purchase_api_json(purchase_from_row(rows[i])));
  }
  return nlohmann::json{{"items", items}, {"next_created_at_us", next_us}, {"next_id", next_id}}
      .dump();
}

std::vector<std::string> stale_purchases(pqxx::transaction_base& tx, int64_t older_than_s,
                                         int32_t limit) {
  std::vector<std::string> out;
  const auto rows = tx.exec_params(
      "SELECT purchase_id::text FROM payments.purchases WHERE status = 'pending' "
      "AND created_at <= now() - $1::double precision * interval '1 second' "
      "ORDER BY created_at LIMIT $2",
      older_than_s, limit);
  for (const auto& row : rows) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

bool purchase_claim_alive(pqxx::transaction_base& tx, const std::string& purchase_id) {
  const auto rows = tx.exec_params(std::string("SELECT 1 FROM payments.idempotency_keys k WHERE "
                                               "k.purchase_id = $1::uuid AND ") +
                                       claim_alive_sql,
                                   purchase_id);
  return !rows.empty();
}

int64_t prune_idempotency_keys(pqxx::transaction_base& tx, int64_t older_than_s, int64_t limit) {
  const auto rows = tx.exec_params(
      std::string("DELETE FROM payments.idempotency_keys WHERE ctid IN (SELECT k.ctid FROM "
                  "payments.idempotency_keys k WHERE k.created_at < now() - $1::double precision "
                  "* interval '1 second' AND NOT (") +
          claim_alive_sql + ") LIMIT $2) RETURNING 1",
      older_than_s, limit);
  return static_cast<int64_t>(rows.size());
}

}  // namespace tally::persistence
