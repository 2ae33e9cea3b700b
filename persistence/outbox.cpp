#include "persistence/outbox.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "persistence/pg_array.hpp"

namespace tally::persistence {
namespace {

// Advisory-lock keys of the relay leases: one per context, distinct from the
// migration lock.
constexpr int64_t relay_lease_base = 0x7a11'e000;

constexpr const char* created_at_text =
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

// Schema names are SQL identifiers, never parameters: only these are accepted.
bool is_outbox_schema(const std::string& schema) {
  return std::any_of(std::begin(outbox_schemas), std::end(outbox_schemas),
                     [&](const char* s) { return schema == s; });
}

int64_t lease_key(const std::string& schema) {
  for (std::size_t i = 0; i < std::size(outbox_schemas); ++i) {
    if (schema == outbox_schemas[i]) {
      return relay_lease_base + static_cast<int64_t>(i);
    }
  }
  TALLY_ASSERT(false);
  return 0;
}

bool looks_like_uuid(const std::string& text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string text_or_empty(const pqxx::field& field) {
  return field.is_null() ? std::string() : field.as<std::string>();
}

// Columns: outbox_id, account_id, seq, entry_id, kind, amount, delta_available,
// delta_reserved, available_after, reserved_after, reference_type, reference_id, created_at.
ledger_event_row ledger_row_of(const pqxx::row& r) {
  ledger_event_row row;
  row.outbox_id = r[0].as<int64_t>();
  row.account_id = r[1].as<std::string>();
  row.seq = r[2].as<int64_t>();
  row.entry_id = r[3].as<std::string>();
  row.kind = r[4].as<std::string>();
  row.amount = r[5].as<int64_t>();
  row.delta_available = r[6].as<int64_t>();
  row.delta_reserved = r[7].as<int64_t>();
  row.available_after = r[8].as<int64_t>();
  row.reserved_after = r[9].as<int64_t>();
  row.reference_type = text_or_empty(r[10]);
  row.reference_id = text_or_empty(r[11]);
  row.created_at = r[12].as<std::string>();
  return row;
}

// Columns: outbox_id, event_id, type, subject, user_id, data, created_at.
context_event_row context_row_of(const pqxx::row& r) {
  return {r[0].as<int64_t>(),     r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
          r[6].as<std::string>()};
}

std::string context_columns() {
  return std::string("outbox_id, event_id::text, type, subject, user_id::text, data::text, ") +
         created_at_text;
}

}  // namespace

void append_event(pqxx::transaction_base& tx, const std::string& schema,
                  const outbox_event& event) {
  TALLY_ASSERT(schema == "payments" || schema == "workflows");
  const auto& types = known_event_types();
  if (std::find(types.begin(), types.end(), event.type) == types.end()) {
    throw std::invalid_argument("unknown event type");
  }
  if (!looks_like_uuid(event.user_id) ||
      (!event.event_id.empty() && !looks_like_uuid(event.event_id))) {
    throw std::invalid_argument("event ids must be uuids");
  }
  if (event.subject.empty() || event.subject.size() > 200 ||
      event.data_json.size() > event_data_bytes_max) {
    throw std::invalid_argument("event subject or data out of bounds");
  }
  const auto data = nlohmann::json::parse(event.data_json, nullptr, false);
  if (!data.is_object()) {
    throw std::invalid_argument("event data must be a JSON object");
  }
  tx.exec_params("INSERT INTO " + schema +
                     ".outbox (event_id, type, subject, user_id, data) "
                     "VALUES (coalesce(nullif($1, '')::uuid, gen_random_uuid()), $2, $3, $4, "
                     "$5::jsonb) ON CONFLICT (event_id) DO NOTHING",
                 event.event_id, event.type, event.subject, event.user_id, event.data_json);
}

bool try_relay_lease(pqxx::transaction_base& tx, const std::string& schema) {
  return tx.exec_params1("SELECT pg_try_advisory_xact_lock($1)", lease_key(schema))[0].as<bool>();
}

std::vector<ledger_event_row> unpublished_ledger_rows(pqxx::transaction_base& tx, int64_t limit) {
  auto rows = tx.exec_params(
      "SELECT o.outbox_id, o.account_id::text, o.seq, e.entry_id::text, e.kind, e.amount, "
      "  e.delta_available, e.delta_reserved, e.available_after, e.reserved_after, "
      "  e.reference_type, e.reference_id, "
      "  to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
      "FROM (SELECT outbox_id, account_id, seq FROM ledger.outbox WHERE published_at IS NULL "
      "      ORDER BY outbox_id LIMIT $1) o "
      "JOIN ledger.entries e ON e.account_id = o.account_id AND e.seq = o.seq "
      "ORDER BY o.outbox_id",
      limit);
  std::vector<ledger_event_row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(ledger_row_of(r));
  }
  return out;
}

std::vector<context_event_row> unpublished_context_rows(pqxx::transaction_base& tx,
                                                        const std::string& schema, int64_t limit) {
  TALLY_ASSERT(is_outbox_schema(schema) && schema != "ledger");
  auto rows = tx.exec_params("SELECT " + context_columns() + " FROM " + schema +
                                 ".outbox WHERE published_at IS NULL ORDER BY outbox_id LIMIT $1",
                             limit);
  std::vector<context_event_row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(context_row_of(r));
  }
  return out;
}

void mark_published(pqxx::transaction_base& tx, const std::string& schema,
                    const std::vector<int64_t>& outbox_ids) {
  TALLY_ASSERT(is_outbox_schema(schema));
  if (outbox_ids.empty()) {
    return;
  }
  tx.exec_params("UPDATE " + schema +
                     ".outbox SET published_at = now() "
                     "WHERE outbox_id = ANY($1::bigint[]) AND published_at IS NULL",
                 int_array(outbox_ids));
}

std::pair<int64_t, int64_t> outbox_backlog(pqxx::connection& connection, const std::string& schema,
                                           int64_t cap) {
  TALLY_ASSERT(is_outbox_schema(schema));
  pqxx::read_transaction tx{connection};
  auto row = tx.exec_params1(
      "SELECT (SELECT count(*) FROM (SELECT 1 FROM " + schema +
          ".outbox WHERE published_at IS NULL LIMIT $1) s), "
          "coalesce((SELECT (extract(epoch FROM now() - created_at) * 1000)::bigint FROM " +
          schema + ".outbox WHERE published_at IS NULL ORDER BY outbox_id LIMIT 1), 0)",
      cap);
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

int64_t prune_outbox(pqxx::connection& connection, const std::string& schema, int64_t retention_s,
                     int64_t limit) {
  TALLY_ASSERT(is_outbox_schema(schema));
  pqxx::work tx{connection};
  auto result = tx.exec_params(
      "DELETE FROM " + schema + ".outbox WHERE outbox_id IN (SELECT outbox_id FROM " + schema +
          ".outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)",
      retention_s, limit);
  tx.commit();
  return static_cast<int64_t>(result.affected_rows());
}

std::vector<ledger_event_row> user_ledger_rows_after(pqxx::connection& connection,
                                                     const std::string& user_id, int64_t after_seq,
                                                     int64_t limit, int64_t low_threshold) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      std::string("SELECT 0::bigint, account_id::text, seq, entry_id::text, kind, amount, "
                  "  delta_available, delta_reserved, available_after, reserved_after, "
                  "  reference_type, reference_id, ") +
          created_at_text +
          " FROM ledger.entries WHERE account_id = $1::uuid AND seq > $2 ORDER BY seq LIMIT $3",
      user_id, after_seq, limit);
  std::vector<ledger_event_row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(ledger_row_of(r));
    out.back().low_threshold = low_threshold;
  }
  return out;
}

std::vector<context_event_row> user_context_rows_after(pqxx::connection& connection,
                                                       const std::string& schema,
                                                       const std::string& user_id,
                                                       int64_t after_outbox_id, int64_t limit) {
  TALLY_ASSERT(is_outbox_schema(schema) && schema != "ledger");
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params("SELECT " + context_columns() + " FROM " + schema +
                                 ".outbox WHERE user_id = $1::uuid AND outbox_id > $2 "
                                 "ORDER BY outbox_id LIMIT $3",
                             user_id, after_outbox_id, limit);
  std::vector<context_event_row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(context_row_of(r));
  }
  return out;
}

int64_t user_stream_head(pqxx::connection& connection, const std::string& schema,
                         const std::string& user_id) {
  TALLY_ASSERT(is_outbox_schema(schema));
  pqxx::read_transaction tx{connection};
  // Both read the tail of an index: ledger.entries' primary key, <schema>.outbox_user.
  const std::string sql =
      schema == "ledger"
          ? std::string(
                "SELECT coalesce(max(seq), 0) FROM ledger.entries WHERE account_id = $1::uuid")
          : "SELECT coalesce(max(outbox_id), 0) FROM " + schema +
                ".outbox WHERE user_id = $1::uuid";
  return tx.exec_params1(sql, user_id)[0].as<int64_t>();
}

}  // namespace tally::persistence
