#pragma once
// The transactional outbox of each context (docs/events.md): rows written in
// the same transaction as the change they announce, and the relay's side of
// them (tail in order, mark published, prune after the retention window).
//
// Writers:
//  - the ledger: ledger.outbox, one row per journal entry, written by
//    ledger_store.cpp inside the journal writer's group commit;
//  - payments and workflows: append_event() below, inside their own
//    transactions, into payments.outbox / workflows.outbox.
// Blocking; call from detached actors only. Throws libpqxx exceptions.

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/cloud_event.hpp"

namespace tally::persistence {

// The contexts that own an outbox, by schema name.
inline constexpr const char* outbox_schemas[] = {"ledger", "payments", "workflows"};

// An event payments or workflows announce (a CloudEvent without the relay's
// parts). `type` is one of known_event_types(), e.g. "purchase.completed";
// `subject` names the resource ("purchases/<id>", "runs/<id>"); `user_id` is
// the owning user's uuid (the SSE stream and data.user_id use it);
// `data_json` is a JSON object (at most event_data_bytes_max bytes).
// `event_id` is a uuid unique per event; empty: generated here. Pass a
// deterministic one when the same step may run twice (a retried saga step):
// the second insert is then ignored instead of announcing the change twice.
struct outbox_event {
  std::string event_id;
  std::string type;
  std::string subject;
  std::string user_id;
  std::string data_json;
};

// Writes `event` into <schema>.outbox inside the caller's transaction, so it
// commits or rolls back with the change. `schema` is "payments" or
// "workflows" (anything else is a programmer error: TALLY_ASSERT). Throws
// std::invalid_argument when the event is malformed (unknown type, data not a
// JSON object or too large, user_id not a uuid).
void append_event(pqxx::transaction_base& tx, const std::string& schema, const outbox_event& event);

// --- The relay's side ---

// Takes the context's relay lease for this transaction: only one engine node
// tails a context at a time (per-account order survives several nodes).
// Returns false when another node holds it.
bool try_relay_lease(pqxx::transaction_base& tx, const std::string& schema);

// The oldest unpublished rows, in outbox order, at most `limit`.
std::vector<ledger_event_row> unpublished_ledger_rows(pqxx::transaction_base& tx, int64_t limit);
std::vector<context_event_row> unpublished_context_rows(pqxx::transaction_base& tx,
                                                        const std::string& schema, int64_t limit);

void mark_published(pqxx::transaction_base& tx, const std::string& schema,
                    const std::vector<int64_t>& outbox_ids);

// Unpublished rows, counted up to `cap`, and the age in ms of the oldest (0 if none).
std::pair<int64_t, int64_t> outbox_backlog(pqxx::connection& connection, const std::string& schema,
                                           int64_t cap);

// Deletes up to `limit` rows published more than `retention_s` ago; returns how many.
int64_t prune_outbox(pqxx::connection& connection, const std::string& schema, int64_t retention_s,
                     int64_t limit);

// SSE resume. The ledger's: the account's journal entries after `after_seq`
// (the primary key's range; the entries alone make the events), at most
// `limit`, with `low_threshold` for balance.low. The others: the user's rows
// after outbox row `after_outbox_id`.
std::vector<ledger_event_row> user_ledger_rows_after(pqxx::connection& connection,
                                                     const std::string& user_id, int64_t after_seq,
                                                     int64_t limit, int64_t low_threshold);
std::vector<context_event_row> user_context_rows_after(pqxx::connection& connection,
                                                       const std::string& schema,
                                                       const std::string& user_id,
                                                       int64_t after_outbox_id, int64_t limit);

// SSE start without Last-Event-ID: the user's newest position in `schema` ("ledger": the
// account's last journal seq; "payments"/"workflows": the user's highest outbox row id);
// 0 when there is none.
int64_t user_stream_head(pqxx::connection& connection, const std::string& schema,
                         const std::string& user_id);

}  // namespace tally::persistence
