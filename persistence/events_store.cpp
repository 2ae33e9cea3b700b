#include "persistence/events_store.hpp"

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "persistence/pg_array.hpp"

namespace tally::persistence {
namespace {

// Advisory-lock keys of the delivery shards (distinct from the relay leases).
constexpr int64_t delivery_shard_base = 0x7a11'd000;

std::string rfc3339_sql(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}

std::string text_or_empty(const pqxx::field& field) {
  return field.is_null() ? std::string() : field.as<std::string>();
}

std::vector<std::string> types_of(const pqxx::field& json_array) {
  std::vector<std::string> out;
  for (const auto& t : nlohmann::json::parse(json_array.as<std::string>())) {
    out.push_back(t.get<std::string>());
  }
  return out;
}

std::string endpoint_columns() {
  return "endpoint_id::text, url, array_to_json(event_types)::text, status, "
         "coalesce(disabled_reason, ''), " +
         rfc3339_sql("created_at") + ", (extract(epoch FROM created_at) * 1000000)::bigint";
}

endpoint_row endpoint_of(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), types_of(r[2]),    r[3].as<std::string>(),
          r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<int64_t>()};
}

std::string delivery_columns() {
  return "delivery_id::text, message_id, event_type, status, attempts, " +
         rfc3339_sql("next_attempt_at") + ", coalesce(last_status_code, 0), " +
         rfc3339_sql("created_at") + ", " + rfc3339_sql("finished_at") +
         ", (extract(epoch FROM created_at) * 1000000)::bigint";
}

delivery_row delivery_of(const pqxx::row& r) {
  delivery_row d;
  d.delivery_id = r[0].as<std::string>();
  d.message_id = r[1].as<std::string>();
  d.event_type = r[2].as<std::string>();
  d.status = r[3].as<std::string>();
  d.attempt_count = r[4].as<int>();
  d.next_attempt_at = r[5].as<std::string>();
  d.last_status_code = r[6].as<int>();
  d.created_at = r[7].as<std::string>();
  d.finished_at = text_or_empty(r[8]);
  d.created_at_us = r[9].as<int64_t>();
  return d;
}

void load_attempts(pqxx::transaction_base& tx, std::vector<delivery_row>& deliveries) {
  if (deliveries.empty()) {
    return;
  }
  std::vector<std::string> ids;
  for (const auto& d : deliveries) {
    ids.push_back(d.delivery_id);
  }
  auto rows = tx.exec_params(
      "SELECT delivery_id::text, attempt, trigger, " + rfc3339_sql("at") +
          ", coalesce(status_code, 0), coalesce(error, ''), coalesce(response_excerpt, ''), "
          "latency_ms FROM (SELECT *, row_number() OVER (PARTITION BY delivery_id "
          "  ORDER BY attempt_id DESC) AS recent FROM events.delivery_attempts "
          "  WHERE delivery_id = ANY($1::uuid[])) a WHERE recent <= $2 "
          "ORDER BY delivery_id, attempt_id",
      text_array(ids, false), static_cast<int64_t>(attempts_listed_max));
  for (const auto& r : rows) {
    const std::string id = r[0].as<std::string>();
    for (auto& d : deliveries) {
      if (d.delivery_id == id) {
        d.attempts.push_back({r[1].as<int>(), r[2].as<std::string>(), r[3].as<std::string>(),
                              r[4].as<int>(), r[5].as<std::string>(), r[6].as<std::string>(),
                              r[7].as<int>()});
      }
    }
  }
}

}  // namespace

std::vector<endpoint_filter> active_endpoints(pqxx::connection& connection, int64_t limit) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT endpoint_id::text, array_to_json(event_types)::text FROM events.endpoints "
      "WHERE status = 'active' ORDER BY endpoint_id LIMIT $1",
      limit);
  std::vector<endpoint_filter> out;
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), types_of(r[1])});
  }
  return out;
}

void insert_deliveries(pqxx::connection& connection, const std::vector<new_delivery>& deliveries) {
  if (deliveries.empty()) {
    return;
  }
  std::vector<std::string> endpoint, message, type, payload;
  for (const auto& d : deliveries) {
    endpoint.push_back(d.endpoint_id);
    message.push_back(d.message_id);
    type.push_back(d.event_type);
    payload.push_back(d.payload);
  }
  pqxx::work tx{connection};
  // WITH ORDINALITY + ORDER BY: positions follow the relay's order.
  tx.exec_params(
      "INSERT INTO events.deliveries (delivery_id, endpoint_id, message_id, event_type, payload) "
      "SELECT gen_random_uuid(), e, m, t, p FROM unnest($1::uuid[], $2::text[], $3::text[], "
      "  $4::text[]) WITH ORDINALITY AS d(e, m, t, p, n) "
      "WHERE EXISTS (SELECT 1 FROM events.endpoints x WHERE x.endpoint_id = d.e) "
      "ORDER BY n ON CONFLICT (endpoint_id, message_id) DO NOTHING",
      text_array(endpoint, false), text_array(message, false), text_array(type, false),
      text_array(payload, false));
  tx.commit();
}

std::map<std::string, int64_t> low_thresholds(pqxx::connection& connection,
                                              const std::vector<std::string>& user_ids) {
  std::map<std::string, int64_t> out;
  if (user_ids.empty()) {
    return out;
  }
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT user_id::text, threshold FROM events.balance_thresholds "
      "WHERE user_id = ANY($1::uuid[])",
      text_array(user_ids, false));
  for (const auto& r : rows) {
    out[r[0].as<std::string>()] = r[1].as<int64_t>();
  }
  return out;
}

void set_low_threshold(pqxx::connection& connection, const std::string& user_id,
                       int64_t threshold) {
  TALLY_ASSERT(threshold >= 0);
  pqxx::work tx{connection};
  tx.exec_params(
      "INSERT INTO events.balance_thresholds (user_id, threshold) VALUES ($1::uuid, $2) "
      "ON CONFLICT (user_id) DO UPDATE SET threshold = EXCLUDED.threshold",
      user_id, threshold);
  tx.commit();
}

bool clear_low_threshold(pqxx::connection& connection, const std::string& user_id) {
  pqxx::work tx{connection};
  const auto rows = tx.exec_params(
      "DELETE FROM events.balance_thresholds WHERE user_id = $1::uuid RETURNING 1", user_id);
  tx.commit();
  return !rows.empty();
}

void create_endpoint(pqxx::connection& connection, const std::string& endpoint_id,
                     const std::string& url, const std::vector<std::string>& event_types,
                     const std::string& secret) {
  pqxx::work tx{connection};
  tx.exec_params(
      "INSERT INTO events.endpoints (endpoint_id, url, event_types, secret) "
      "VALUES ($1::uuid, $2, $3::text[], $4)",
      endpoint_id, url, text_array(event_types, false), secret);
  tx.commit();
}

std::optional<endpoint_row> find_endpoint(pqxx::connection& connection,
                                          const std::string& endpoint_id) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT " + endpoint_columns() + " FROM events.endpoints WHERE endpoint_id::text = $1",
      endpoint_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  return endpoint_of(rows[0]);
}

std::vector<endpoint_row> endpoints_page(pqxx::connection& connection,
                                         const std::optional<cursor_position>& after, int limit) {
  pqxx::read_transaction tx{connection};
  auto rows =
      tx.exec_params("SELECT " + endpoint_columns() +
                         " FROM events.endpoints WHERE $1 OR (created_at, endpoint_id::text) < "
                         "  ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3) "
                         "ORDER BY created_at DESC, endpoint_id::text DESC LIMIT $4",
                     !after.has_value(), after ? after->created_at_us : 0,
                     after ? after->id : std::string(), limit + 1);
  std::vector<endpoint_row> out;
  for (const auto& r : rows) {
    out.push_back(endpoint_of(r));
  }
  return out;
}

bool delete_endpoint(pqxx::connection& connection, const std::string& endpoint_id) {
  pqxx::work tx{connection};
  auto result =
      tx.exec_params("DELETE FROM events.endpoints WHERE endpoint_id::text = $1", endpoint_id);
  tx.commit();
  return result.affected_rows() > 0;
}

std::vector<delivery_row> deliveries_page(pqxx::connection& connection,
                                          const std::string& endpoint_id,
                                          const std::optional<cursor_position>& after, int limit) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params("SELECT " + delivery_columns() +
                                 " FROM events.deliveries WHERE endpoint_id::text = $1 AND ($2 OR "
                                 "  (created_at, delivery_id::text) < ('epoch'::timestamptz + "
                                 "$3::bigint * interval '1 microsecond', $4)) "
                                 "ORDER BY created_at DESC, delivery_id::text DESC LIMIT $5",
                             endpoint_id, !after.has_value(), after ? after->created_at_us : 0,
                             after ? after->id : std::string(), limit + 1);
  std::vector<delivery_row> out;
  for (const auto& r : rows) {
    out.push_back(delivery_of(r));
  }
  load_attempts(tx, out);
  return out;
}

std::optional<delivery_row> replay_delivery(pqxx::connection& connection,
                                            const std::string& endpoint_id,
                                            const std::string& delivery_id) {
  pqxx::work tx{connection};
  auto rows = tx.exec_params(
      "UPDATE events.deliveries SET status = 'pending', manual = true, next_attempt_at = now(), "
      "  finished_at = NULL "
      "WHERE endpoint_id::text = $1 AND delivery_id::text = $2 RETURNING " +
          delivery_columns(),
      endpoint_id, delivery_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  std::vector<delivery_row> out{delivery_of(rows[0])};
  load_attempts(tx, out);
  tx.commit();
  return out.front();
}

std::vector<due_delivery> due_heads(pqxx::connection& connection, int shard, int shards,
                                    int64_t limit) {
  TALLY_ASSERT(shards > 0 && shard >= 0 && shard < shards);
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT h.delivery_id::text, h.endpoint_id::text, e.url, e.secret, h.message_id, "
      "  h.payload, h.attempts, h.manual "
      "FROM events.endpoints e CROSS JOIN LATERAL ("
      "  SELECT * FROM events.deliveries d WHERE d.endpoint_id = e.endpoint_id "
      "    AND d.status = 'pending' ORDER BY d.position LIMIT 1) h "
      "WHERE e.status = 'active' AND abs(hashtext(e.endpoint_id::text)::bigint) % $2 = $1 "
      "  AND h.next_attempt_at <= now() "
      "ORDER BY h.next_attempt_at LIMIT $3",
      shard, shards, limit);
  std::vector<due_delivery> out;
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                   r[6].as<int>(), r[7].as<bool>()});
  }
  return out;
}

bool try_lock_shard(pqxx::connection& connection, int shard) {
  pqxx::nontransaction tx{connection};
  return tx.exec_params1("SELECT pg_try_advisory_lock($1)", delivery_shard_base + shard)[0]
      .as<bool>();
}

void unlock_shard(pqxx::connection& connection, int shard) {
  pqxx::nontransaction tx{connection};
  tx.exec_params("SELECT pg_advisory_unlock($1)", delivery_shard_base + shard);
}

int64_t record_attempt(pqxx::connection& connection, const attempt_result& r) {
  pqxx::work tx{connection};
  tx.exec_params(
      "INSERT INTO events.delivery_attempts (delivery_id, attempt, trigger, status_code, error, "
      "  response_excerpt, latency_ms) "
      "VALUES ($1::uuid, $2, $3, nullif($4, 0), nullif($5, ''), nullif($6, ''), $7)",
      r.delivery_id, r.attempt, r.manual ? "manual" : "scheduled", r.status_code, r.error,
      r.response_excerpt, r.latency_ms);
  tx.exec_params(
      "UPDATE events.deliveries SET status = $2, attempts = $3, "
      "  last_status_code = nullif($4, 0), "
      "  next_attempt_at = now() + make_interval(secs => $5::bigint / 1000.0), "
      "  manual = CASE WHEN $2 = 'pending' THEN manual ELSE false END, "
      "  finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END "
      "WHERE delivery_id = $1::uuid",
      r.delivery_id, r.new_status, r.attempt, r.status_code, r.retry_in_ms);
  int64_t failing_ms = 0;
  if (r.new_status == "succeeded") {
    tx.exec_params(
        "UPDATE events.endpoints SET failing_since = NULL WHERE endpoint_id = $1::uuid "
        "  AND failing_since IS NOT NULL",
        r.endpoint_id);
  } else if (r.endpoint_failing) {
    auto row = tx.exec_params1(
        "UPDATE events.endpoints SET failing_since = coalesce(failing_since, now()) "
        "WHERE endpoint_id = $1::uuid "
        "RETURNING (extract(epoch FROM now() - failing_since) * 1000)::bigint",
        r.endpoint_id);
    failing_ms = row[0].as<int64_t>();
  }
  if (r.disable_endpoint) {
    tx.exec_params(
        "UPDATE events.endpoints SET status = 'disabled', disabled_reason = $2, "
        "  updated_at = now() WHERE endpoint_id = $1::uuid",
        r.endpoint_id, r.disabled_reason);
  }
  tx.commit();
  return failing_ms;
}

void disable_endpoint(pqxx::connection& connection, const std::string& endpoint_id,
                      const std::string& reason) {
  pqxx::work tx{connection};
  tx.exec_params(
      "UPDATE events.endpoints SET status = 'disabled', disabled_reason = $2, updated_at = now() "
      "WHERE endpoint_id = $1::uuid",
      endpoint_id, reason);
  tx.commit();
}

}  // namespace tally::persistence
