#include "persistence/inbox_store.hpp"

#include "domain/assert.hpp"
#include "domain/time_format.hpp"

namespace tally::persistence {
namespace {

constexpr std::size_t last_error_bytes_max = 500;

// The columns every API view of a row selects, in row_json's order.
constexpr const char* row_columns =
    "id::text, gateway, event_id, event_key, object_id, status, attempts, "
    "(extract(epoch FROM next_attempt_at) * 1000)::bigint, last_error, purchase_id, charge_id, "
    "source_ip, octet_length(raw_body), (extract(epoch FROM created_at) * 1000000)::bigint, "
    "(extract(epoch FROM updated_at) * 1000)::bigint";

nlohmann::json row_json(const pqxx::row& row) {
  const auto text = [&](int i) { return row[i].as<std::string>(); };
  const std::string status = text(5);
  nlohmann::json out{{"id", text(0)},
                     {"gateway", text(1)},
                     {"event_id", text(2)},
                     {"event_key", text(3)},
                     {"object_id", text(4)},
                     {"status", status},
                     {"attempts", row[6].as<int64_t>()},
                     {"next_attempt_at", nullptr},
                     {"last_error", text(8)},
                     {"purchase_id", text(9)},
                     {"charge_id", text(10)},
                     {"source_ip", text(11)},
                     {"body_bytes", row[12].as<int64_t>()},
                     {"created_at", rfc3339_from_millis(row[13].as<int64_t>() / 1000)},
                     {"updated_at", rfc3339_from_millis(row[14].as<int64_t>())}};
  if (status == "received") {
    out["next_attempt_at"] = rfc3339_from_millis(row[7].as<int64_t>());
  }
  return out;
}

std::string bounded(std::string text) {
  if (text.size() > last_error_bytes_max) {
    text.resize(last_error_bytes_max);
  }
  return text;
}

}  // namespace

inbox_receipt insert_inbox(pqxx::transaction_base& tx, const inbox_insert& event) {
  // ON CONFLICT keeps a concurrent duplicate from aborting the transaction:
  // 16 simultaneous deliveries give one row and 15 clean "already there".
  auto inserted = tx.exec_params(
      "INSERT INTO payments.inbox (gateway, event_id, event_key, object_id, raw_body, headers, "
      "source_ip, request_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) "
      "ON CONFLICT (gateway, event_id) DO NOTHING RETURNING id::text, status",
      event.gateway, event.event_id, event.event_key, event.object_id, event.raw_body,
      event.headers_json.empty() ? std::string("{}") : event.headers_json, event.source_ip,
      event.request_id);
  if (!inserted.empty()) {
    return {inserted[0][0].as<std::string>(), inserted[0][1].as<std::string>(), false};
  }
  auto existing = tx.exec_params(
      "SELECT id::text, status FROM payments.inbox WHERE gateway = $1 AND event_id = $2",
      event.gateway, event.event_id);
  // The conflicting row committed before our insert saw it, so it is visible.
  TALLY_ASSERT(existing.size() == 1);
  return {existing[0][0].as<std::string>(), existing[0][1].as<std::string>(), true};
}

int park_exhausted_leases(pqxx::transaction_base& tx, int32_t attempts_max) {
  auto result = tx.exec_params(
      "UPDATE payments.inbox SET status = 'parked', lease_until = NULL, lease_owner = '', "
      "last_error = 'verification did not finish within its lease', updated_at = now() "
      "WHERE status = 'processing' AND lease_until <= now() AND attempts >= $1",
      attempts_max);
  return static_cast<int>(result.affected_rows());
}

std::vector<inbox_event> claim_inbox(pqxx::transaction_base& tx, int32_t batch_max,
                                     std::chrono::milliseconds lease,
                                     const std::string& lease_owner) {
  TALLY_ASSERT(batch_max >= 1);
  TALLY_ASSERT(lease.count() > 0);
  // Two locked scans, each served by its partial index; SKIP LOCKED lets other
  // nodes claim other rows at the same time instead of queueing behind ours.
  auto rows = tx.exec_params(
      "WITH expired AS ("
      "  SELECT id, lease_until AS due FROM payments.inbox "
      "  WHERE status = 'processing' AND lease_until <= now() "
      "  ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED), "
      "received AS ("
      "  SELECT id, next_attempt_at AS due FROM payments.inbox "
      "  WHERE status = 'received' AND next_attempt_at <= now() "
      "  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), "
      "chosen AS ("
      "  SELECT id FROM (SELECT * FROM expired UNION ALL SELECT * FROM received) c "
      "  ORDER BY due LIMIT $1) "
      "UPDATE payments.inbox i SET status = 'processing', "
      "  lease_until = now() + make_interval(secs => $2::double precision / 1000), "
      "  lease_owner = $3, attempts = i.attempts + 1, updated_at = now() "
      "FROM chosen WHERE i.id = chosen.id "
      "RETURNING i.id::text, i.gateway, i.event_id, i.object_id, i.source_ip, i.request_id, "
      "  i.attempts, (extract(epoch FROM now() - i.created_at) * 1000)::bigint",
      batch_max, static_cast<int64_t>(lease.count()), lease_owner);
  std::vector<inbox_event> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    inbox_event event;
    event.id = row[0].as<std::string>();
    event.gateway = row[1].as<std::string>();
    event.event_id = row[2].as<std::string>();
    event.object_id = row[3].as<std::string>();
    event.source_ip = row[4].as<std::string>();
    event.request_id = row[5].as<std::string>();
    event.lease_owner = lease_owner;
    event.attempts = row[6].as<int32_t>();
    event.age_ms = row[7].as<int64_t>();
    out.push_back(std::move(event));
  }
  TALLY_ASSERT(out.size() <= static_cast<std::size_t>(batch_max));
  return out;
}

bool finish_inbox(pqxx::transaction_base& tx, const std::string& id, const std::string& lease_owner,
                  const inbox_outcome& outcome) {
  TALLY_ASSERT(outcome.status != webhooks::inbox_status::processing);
  auto result = tx.exec_params(
      "UPDATE payments.inbox SET status = $3, lease_until = NULL, lease_owner = '', "
      "  next_attempt_at = CASE WHEN $3 = 'received' "
      "    THEN now() + make_interval(secs => $4::double precision / 1000) "
      "    ELSE next_attempt_at END, "
      "  last_error = $5, "
      "  purchase_id = CASE WHEN $6 = '' THEN purchase_id ELSE $6 END, "
      "  charge_id = CASE WHEN $7 = '' THEN charge_id ELSE $7 END, updated_at = now() "
      "WHERE id = $1::uuid AND status = 'processing' AND lease_owner = $2",
      id, lease_owner, std::string(webhooks::to_string(outcome.status)),
      static_cast<int64_t>(outcome.retry_in.count()), bounded(outcome.last_error),
      outcome.purchase_id, outcome.charge_id);
  return result.affected_rows() == 1;
}

inbox_page list_inbox(pqxx::transaction_base& tx, const inbox_query& query) {
  TALLY_ASSERT(query.limit >= 1 && query.limit <= 100);
  const bool first_page = query.after_id.empty();
  // One extra row tells whether another page follows.
  auto rows = tx.exec_params(
      std::string("SELECT ") + row_columns +
          " FROM payments.inbox WHERE ($1 = '' OR status = $1) "
          "AND ($2 OR (created_at, id) < "
          "(to_timestamp(0) + $3::bigint * interval '1 microsecond', $4::uuid)) ORDER BY "
          "created_at DESC, id DESC LIMIT $5",
      query.status, first_page, query.after_created_us,
      first_page ? std::string("00000000-0000-0000-0000-000000000000") : query.after_id,
      query.limit + 1);
  inbox_page page;
  for (const auto& row : rows) {
    if (page.items.size() == static_cast<std::size_t>(query.limit)) {
      page.has_more = true;
      break;
    }
    page.items.push_back(row_json(row));
    page.last_id = row[0].as<std::string>();
    page.last_created_us = row[13].as<int64_t>();
  }
  return page;
}

std::optional<std::pair<nlohmann::json, bool>> retry_inbox(pqxx::transaction_base& tx,
                                                           const std::string& id) {
  auto retried = tx.exec_params(
      std::string("UPDATE payments.inbox SET status = 'received', next_attempt_at = now(), "
                  "attempts = 0, last_error = '', updated_at = now() "
                  "WHERE id = $1::uuid AND status = 'parked' RETURNING ") +
          row_columns,
      id);
  if (!retried.empty()) {
    return std::make_pair(row_json(retried[0]), true);
  }
  auto existing = tx.exec_params(
      std::string("SELECT ") + row_columns + " FROM payments.inbox WHERE id = $1::uuid", id);
  if (existing.empty()) {
    return std::nullopt;
  }
  return std::make_pair(row_json(existing[0]), false);
}

}  // namespace tally::persistence
