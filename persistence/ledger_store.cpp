#include "persistence/ledger_store.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "domain/assert.hpp"
#include "domain/credit_lots.hpp"
#include "domain/ledger.hpp"
#include "persistence/pg_array.hpp"

namespace tally::persistence {
namespace {


constexpr std::pair<const char*, const char*> writer_statements[] = {
    // The whole batch in ONE statement when it touches no reservation: the
    // conditional projection update, the entries and the audit records, in
    // autocommit (one round trip, one commit). Entries and audit rows are
    // written only for the accounts whose condition held.
    {"journal_apply",
     "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], "
     "    $5::bigint[], $6::bigint[], $7::bigint[]) AS v(account_id, expected_seq, "
     "    available_before, reserved_before, last_seq, available, reserved)), "
     "upd AS (UPDATE ledger.accounts a SET available = v.available, reserved = v.reserved, "
     "    last_seq = v.last_seq, updated_at = now() FROM v "
     "  WHERE a.account_id = v.account_id AND a.last_seq = v.expected_seq "
     "    AND a.available = v.available_before AND a.reserved = v.reserved_before "
     "  RETURNING a.account_id), "
     "ent AS (INSERT INTO ledger.entries (account_id, seq, entry_id, kind, amount, "
     "    delta_available, delta_reserved, available_after, reserved_after, reference_type, "
     "    reference_id, idempotency_key, request_sha256, metadata) "
     "  SELECT a, s, e, k, am, da, dr, aa, ra, rt, ri, ik, sh, md::jsonb FROM unnest("
     "    $8::uuid[], $9::bigint[], $10::uuid[], $11::text[], $12::bigint[], $13::bigint[], "
     "    $14::bigint[], $15::bigint[], $16::bigint[], $17::text[], $18::text[], $19::text[], "
     "    $20::text[], $21::text[]) AS t(a, s, e, k, am, da, dr, aa, ra, rt, ri, ik, sh, md) "
     "  WHERE t.a IN (SELECT account_id FROM upd)), "
     "aud AS (INSERT INTO audit.records (actor, action, subject, amount, request_id, detail) "
     "  SELECT ac, act, 'account:' || acc::text, am, r, jsonb_build_object('entry_id', e, "
     "    'seq', q) FROM unnest($22::text[], $23::text[], $24::uuid[], $25::bigint[], "
     "    $26::text[], $27::text[], $28::bigint[]) AS t(ac, act, acc, am, r, e, q) "
     "  WHERE t.acc IN (SELECT account_id FROM upd)), "
     // One outbox row per entry (persistence/outbox.hpp): its events are
     // derived from the entry when relayed. Reuses the entries' columns.
     "obx AS (INSERT INTO ledger.outbox (account_id, seq) "
     "  SELECT a, s FROM unnest($8::uuid[], $9::bigint[]) AS t(a, s) "
     "  WHERE t.a IN (SELECT account_id FROM upd)) "
     "SELECT account_id::text FROM upd"},
    {"journal_existing_keys",
     "SELECT e.account_id::text, e.idempotency_key FROM ledger.entries e "
    "JOIN unnest($1::uuid[], $2::text[]) AS k(account_id, idempotency_key) "
    "ON e.account_id = k.account_id AND e.idempotency_key = k.idempotency_key"},
    {"journal_update_accounts",
     "UPDATE ledger.accounts a SET available = v.available, reserved = v.reserved, "
    "  last_seq = v.last_seq, updated_at = now() "
    "FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], "
    "  $6::bigint[], $7::bigint[]) "
    "  AS v(account_id, expected_seq, available_before, reserved_before, last_seq, available, "
    "       reserved) "
    "WHERE a.account_id = v.account_id AND a.last_seq = v.expected_seq "
    "  AND a.available = v.available_before AND a.reserved = v.reserved_before "
    "RETURNING a.account_id::text"},
    {"journal_insert_entries",
     "INSERT INTO ledger.entries (account_id, seq, entry_id, kind, amount, delta_available, "
    "  delta_reserved, available_after, reserved_after, reference_type, reference_id, "
    "  idempotency_key, request_sha256, metadata) "
    "SELECT a, s, e, k, am, da, dr, aa, ra, rt, ri, ik, sh, md::jsonb FROM unnest("
    "  $1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[], "
    "  $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], "
    "  $13::text[], $14::text[]) AS t(a, s, e, k, am, da, dr, aa, ra, rt, ri, ik, sh, md)"},
    {"journal_insert_outbox",
     "INSERT INTO ledger.outbox (account_id, seq) "
    "SELECT a, s FROM unnest($1::uuid[], $2::bigint[]) AS t(a, s)"},
    {"journal_insert_reservations",
     "INSERT INTO ledger.reservations (reservation_id, account_id, amount, status, expires_at, "
    "  lots) "
    "SELECT r, a, am, 'pending', to_timestamp(e / 1000.0), l::jsonb "
    "FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::text[]) "
    "  AS t(r, a, am, e, l)"},
    // Credit lots (migrations/0009): created by expiring grants, then moved by entries. Each
    // update is conditional on the remaining the actor computed from, like the projection.
    {"journal_insert_lots",
     "INSERT INTO ledger.credit_lots (lot_id, account_id, grant_seq, amount, remaining, "
    "  expires_at) "
    "SELECT l, a, s, am, am, to_timestamp(e / 1000.0) "
    "FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[]) "
    "  AS t(l, a, s, am, e)"},
    {"journal_update_lots",
     "UPDATE ledger.credit_lots c SET remaining = v.after, updated_at = now() "
    "FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS v(id, before, after) "
    "WHERE c.lot_id = v.id AND c.remaining = v.before"},
    {"journal_finish_reservations",
     "UPDATE ledger.reservations r SET status = v.status, committed_amount = v.committed, "
    "  updated_at = now() "
    "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS v(id, status, committed) "
    "WHERE r.reservation_id = v.id AND r.status = 'pending'"},
    {"journal_insert_audit",
     "INSERT INTO audit.records (actor, action, subject, amount, request_id, detail) "
    "SELECT a, ac, s, am, r, jsonb_build_object('entry_id', e, 'seq', q) FROM unnest("
    "  $1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[]) "
    "  AS t(a, ac, s, am, r, e, q)"},
};

// Prepared once per connection: libpqxx keeps the definitions and prepares
// lazily, so calling this on every batch costs a map lookup.
void prepare_writer_statements(pqxx::connection& connection) {
  for (const auto& [name, sql] : writer_statements) {
    connection.prepare(name, sql);
  }
}

const char* kind_name(uint8_t kind) {
  return to_string(static_cast<entry_kind>(kind));
}

// Column vectors of the items that survive the batch's checks.
struct batch_columns {
  std::vector<std::string> account, entry, kind, reference_type, reference_id, key, sha, metadata;
  std::vector<int64_t> seq, amount, delta_available, delta_reserved, available_after,
      reserved_after;

  void add(const journal_item& item) {
    account.push_back(item.account_id);
    entry.push_back(item.entry_id);
    kind.push_back(kind_name(item.kind));
    reference_type.push_back(item.reference_type);
    reference_id.push_back(item.reference_id);
    key.push_back(item.idempotency_key);
    sha.push_back(item.request_sha256);
    metadata.push_back(item.metadata_json);
    seq.push_back(item.seq);
    amount.push_back(item.amount);
    delta_available.push_back(item.delta_available);
    delta_reserved.push_back(item.delta_reserved);
    available_after.push_back(item.available_after);
    reserved_after.push_back(item.reserved_after);
  }
};

std::set<std::pair<std::string, std::string>> existing_keys(
    pqxx::work& tx, const std::vector<journal_item>& items) {
  std::vector<std::string> accounts;
  std::vector<std::string> keys;
  for (const auto& item : items) {
    if (!item.idempotency_key.empty()) {
      accounts.push_back(item.account_id);
      keys.push_back(item.idempotency_key);
    }
  }
  std::set<std::pair<std::string, std::string>> found;
  if (keys.empty()) {
    return found;
  }
  auto rows = tx.exec_prepared("journal_existing_keys",
      text_array(accounts, false), text_array(keys, false));
  for (const auto& row : rows) {
    found.emplace(row[0].as<std::string>(), row[1].as<std::string>());
  }
  return found;
}

// Updates each account's projection to its last item's balances, on the
// condition that the account is still exactly where the first item started:
// last_seq is its predecessor and the balances are the ones it was computed
// from. The seq alone is not enough: an actor pipelines a chain of entries on
// its own uncommitted ones, and when the chain's head lost to another writer
// (another engine, an older incarnation of the actor) its tail's seqs can line
// up with that writer's entries; applying it there would journal deltas from a
// state that never existed. Returns the accounts whose condition held.
// Per account of a batch: where its chain must start and where it ends.
struct projection_columns {
  std::vector<std::string> accounts;
  std::vector<int64_t> expected, available_before, reserved_before, last, available, reserved;

  projection_columns(const std::vector<journal_item>& items,
                     const std::map<std::string, std::vector<std::size_t>>& groups) {
    for (const auto& [account, indexes] : groups) {
      const auto& first = items[indexes.front()];
      const auto& final_item = items[indexes.back()];
      accounts.push_back(account);
      expected.push_back(first.seq - 1);
      available_before.push_back(first.available_after - first.delta_available);
      reserved_before.push_back(first.reserved_after - first.delta_reserved);
      last.push_back(final_item.seq);
      available.push_back(final_item.available_after);
      reserved.push_back(final_item.reserved_after);
    }
  }
};

std::set<std::string> update_projections(
    pqxx::work& tx, const std::vector<journal_item>& items,
    const std::map<std::string, std::vector<std::size_t>>& groups) {
  const projection_columns p(items, groups);
  std::set<std::string> updated;
  if (p.accounts.empty()) {
    return updated;
  }
  auto rows = tx.exec_prepared("journal_update_accounts",
      text_array(p.accounts, false), int_array(p.expected), int_array(p.available_before),
      int_array(p.reserved_before), int_array(p.last), int_array(p.available), int_array(p.reserved));
  for (const auto& row : rows) {
    updated.insert(row[0].as<std::string>());
  }
  return updated;
}

void insert_entries(pqxx::work& tx, const batch_columns& c) {
  tx.exec_prepared("journal_insert_entries",
      text_array(c.account, false), int_array(c.seq), text_array(c.entry, false),
      text_array(c.kind, false), int_array(c.amount), int_array(c.delta_available),
      int_array(c.delta_reserved), int_array(c.available_after), int_array(c.reserved_after),
      text_array(c.reference_type, true), text_array(c.reference_id, true),
      text_array(c.key, true), text_array(c.sha, true), text_array(c.metadata, true));
  // Each entry's outbox row commits with it (persistence/outbox.hpp).
  tx.exec_prepared("journal_insert_outbox", text_array(c.account, false), int_array(c.seq));
}

// A reservation's allocation as stored in ledger.reservations.lots.
std::string allocation_json(const std::vector<lot_share>& shares) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& share : shares) {
    out.push_back({{"lot_id", share.lot_id}, {"amount", share.amount}});
  }
  return out.dump();
}

std::vector<lot_share> allocation_from_json(const std::string& text) {
  std::vector<lot_share> shares;
  for (const auto& share : nlohmann::json::parse(text)) {
    shares.push_back({share.at("lot_id").get<std::string>(), share.at("amount").get<int64_t>()});
  }
  return shares;
}

void write_reservations(pqxx::work& tx, const std::vector<const journal_item*>& items) {
  std::vector<std::string> new_id, new_account, new_lots, finished_id, finished_status;
  std::vector<int64_t> new_amount, new_expiry, finished_committed;
  for (const auto* item : items) {
    if (item->reservation_op == 1) {
      new_id.push_back(item->reservation_id);
      new_account.push_back(item->account_id);
      new_amount.push_back(item->reservation_amount);
      new_expiry.push_back(item->expires_at_ms);
      new_lots.push_back(allocation_json(item->reservation_lots));
    } else if (item->reservation_op == 2) {
      finished_id.push_back(item->reservation_id);
      finished_status.push_back(item->reservation_status);
      finished_committed.push_back(item->committed_amount);
    }
  }
  if (!new_id.empty()) {
    tx.exec_prepared("journal_insert_reservations",
        text_array(new_id, false), text_array(new_account, false), int_array(new_amount),
        int_array(new_expiry), text_array(new_lots, false));
  }
  if (!finished_id.empty()) {
    auto result = tx.exec_prepared("journal_finish_reservations",
        text_array(finished_id, false), text_array(finished_status, false),
        int_array(finished_committed));
    if (result.affected_rows() != finished_id.size()) {
      // The ledger actor only finishes reservations it holds as pending: a
      // mismatch is a bug. Roll the batch back rather than journal it.
      throw std::logic_error("reservation finished twice or unknown");
    }
  }
}

bool has_lot_effect(const journal_item& item) {
  return item.lot_expires_at_ms != 0 || !item.lot_changes.empty();
}

// Creates the lots of expiring grants, then moves every lot the items change. An account's
// items may change one lot several times (a pipeline): each lot is written once, from the
// first item's remaining_before to the last item's remaining_after.
void write_lots(pqxx::work& tx, const std::vector<const journal_item*>& items) {
  std::vector<std::string> new_id, new_account;
  std::vector<int64_t> new_seq, new_amount, new_expiry;
  std::vector<std::string> changed_id;
  std::unordered_map<std::string, std::size_t> changed_index;
  std::vector<int64_t> before, after;
  for (const auto* item : items) {
    if (item->lot_expires_at_ms != 0) {
      new_id.push_back(item->entry_id);
      new_account.push_back(item->account_id);
      new_seq.push_back(item->seq);
      new_amount.push_back(item->amount);
      new_expiry.push_back(item->lot_expires_at_ms);
    }
    for (const auto& change : item->lot_changes) {
      auto [it, inserted] = changed_index.emplace(change.lot_id, changed_id.size());
      if (inserted) {
        changed_id.push_back(change.lot_id);
        before.push_back(change.remaining_before);
        after.push_back(change.remaining_after);
      } else {
        // One account's chain: each change starts where the previous one ended.
        TALLY_ASSERT(after[it->second] == change.remaining_before);
        after[it->second] = change.remaining_after;
      }
    }
  }
  if (!new_id.empty()) {
    tx.exec_prepared("journal_insert_lots", text_array(new_id, false),
                     text_array(new_account, false), int_array(new_seq), int_array(new_amount),
                     int_array(new_expiry));
  }
  if (!changed_id.empty()) {
    auto result = tx.exec_prepared("journal_update_lots", text_array(changed_id, false),
                                   int_array(before), int_array(after));
    if (result.affected_rows() != changed_id.size()) {
      // The account's condition held, so its lots are where its actor left them: a mismatch
      // is a bug. Roll the batch back rather than journal it.
      throw std::logic_error("credit lot changed concurrently or unknown");
    }
  }
}

void insert_audit(pqxx::work& tx, const std::vector<const journal_item*>& items) {
  std::vector<std::string> actor, action, subject, request_id, entry;
  std::vector<int64_t> amount, seq;
  for (const auto* item : items) {
    actor.push_back(item->actor.empty() ? "system" : item->actor);
    action.push_back(std::string("credits.") + kind_name(item->kind));
    subject.push_back("account:" + item->account_id);
    request_id.push_back(item->request_id);
    entry.push_back(item->entry_id);
    amount.push_back(item->amount);
    seq.push_back(item->seq);
  }
  tx.exec_prepared("journal_insert_audit",
      text_array(actor, false), text_array(action, false), text_array(subject, false),
      int_array(amount), text_array(request_id, true), text_array(entry, false), int_array(seq));
}

std::string rfc3339(const pqxx::field& field) {
  return field.is_null() ? std::string() : field.as<std::string>();
}

constexpr const char* created_at_text =
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

}  // namespace

namespace {

// The common case in one round trip: no idempotency-key lookup, no
// reservation rows (see "journal_apply"). Throws like write_batch.
std::vector<append_outcome> write_batch_in_one_statement(pqxx::connection& connection,
                                                         const std::vector<journal_item>& items) {
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& group = groups[items[i].account_id];
    TALLY_ASSERT(group.empty() || items[group.back()].seq + 1 == items[i].seq);
    group.push_back(i);
  }
  const projection_columns p(items, groups);
  batch_columns c;
  std::vector<std::string> actor, action, request_id;
  for (const auto& item : items) {
    c.add(item);
    actor.push_back(item.actor.empty() ? "system" : item.actor);
    action.push_back(std::string("credits.") + kind_name(item.kind));
    request_id.push_back(item.request_id);
  }
  pqxx::nontransaction tx{connection};  // one statement: atomic on its own
  auto rows = tx.exec_prepared(
      "journal_apply", text_array(p.accounts, false), int_array(p.expected),
      int_array(p.available_before), int_array(p.reserved_before), int_array(p.last),
      int_array(p.available), int_array(p.reserved), text_array(c.account, false),
      int_array(c.seq),
      text_array(c.entry, false), text_array(c.kind, false), int_array(c.amount),
      int_array(c.delta_available), int_array(c.delta_reserved), int_array(c.available_after),
      int_array(c.reserved_after), text_array(c.reference_type, true),
      text_array(c.reference_id, true), text_array(c.key, true), text_array(c.sha, true),
      text_array(c.metadata, true), text_array(actor, false), text_array(action, false),
      text_array(c.account, false), int_array(c.amount), text_array(request_id, true),
      text_array(c.entry, false), int_array(c.seq));
  std::set<std::string> updated;
  for (const auto& row : rows) {
    updated.insert(row[0].as<std::string>());
  }
  std::vector<append_outcome> outcome(items.size(), append_outcome::committed);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (updated.count(items[i].account_id) == 0) {
      outcome[i] = append_outcome::sequence_conflict;
    }
  }
  return outcome;
}

// One attempt at the batch. `check_keys` first looks up which idempotency keys
// are already journaled; without it a duplicate key aborts the transaction
// with a unique violation (the caller then retries with the check).
std::vector<append_outcome> write_batch(pqxx::connection& connection,
                                        const std::vector<journal_item>& items, bool check_keys) {
  std::vector<append_outcome> outcome(items.size(), append_outcome::committed);
  pqxx::work tx{connection};
  const auto duplicates =
      check_keys ? existing_keys(tx, items) : std::set<std::pair<std::string, std::string>>{};
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& group = groups[items[i].account_id];
    // An account's items arrive in order with consecutive sequence numbers.
    TALLY_ASSERT(group.empty() || items[group.back()].seq + 1 == items[i].seq);
    group.push_back(i);
  }
  // An account holding an already-journaled key is left out whole: its actor
  // looks the key up and replays, then retries the rest.
  for (auto it = groups.begin(); it != groups.end();) {
    bool has_duplicate = false;
    for (std::size_t index : it->second) {
      const auto& item = items[index];
      if (!item.idempotency_key.empty() &&
          duplicates.count({item.account_id, item.idempotency_key}) > 0) {
        outcome[index] = append_outcome::duplicate_key;
        has_duplicate = true;
      }
    }
    if (has_duplicate) {
      for (std::size_t index : it->second) {
        if (outcome[index] == append_outcome::committed) {
          outcome[index] = append_outcome::sequence_conflict;
        }
      }
      it = groups.erase(it);
    } else {
      ++it;
    }
  }
  const auto updated = update_projections(tx, items, groups);
  batch_columns columns;
  std::vector<const journal_item*> committed;
  for (const auto& [account, indexes] : groups) {
    const bool ok = updated.count(account) > 0;
    for (std::size_t index : indexes) {
      if (!ok) {
        outcome[index] = append_outcome::sequence_conflict;
        continue;
      }
      columns.add(items[index]);
      committed.push_back(&items[index]);
    }
  }
  if (!committed.empty()) {
    insert_entries(tx, columns);
    write_reservations(tx, committed);
    write_lots(tx, committed);
    insert_audit(tx, committed);
  }
  tx.commit();
  return outcome;
}

}  // namespace

std::vector<append_outcome> write_journal_batch(pqxx::connection& connection,
                                                const std::vector<journal_item>& items) {
  TALLY_ASSERT(!items.empty());
  prepare_writer_statements(connection);
  // Retried keys are rare: the fast path skips the lookup and lets the unique
  // index catch them, then the batch is written again with the lookup. Reservation and
  // credit-lot rows need the multi-statement transaction.
  const bool needs_transaction = std::any_of(
      items.begin(), items.end(),
      [](const journal_item& item) { return item.reservation_op != 0 || has_lot_effect(item); });
  try {
    if (!needs_transaction) {
      return write_batch_in_one_statement(connection, items);
    }
    return write_batch(connection, items, false);
  } catch (const pqxx::unique_violation&) {
    return write_batch(connection, items, true);
  }
}

bool open_account(pqxx::connection& connection, const std::string& account_id) {
  pqxx::work tx{connection};
  tx.exec_params("INSERT INTO ledger.accounts (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
                 account_id);
  tx.commit();
  return true;
}

account_snapshot load_account(pqxx::connection& connection, const std::string& account_id) {
  open_account(connection, account_id);
  // One snapshot for the row and its holds: under READ COMMITTED a batch committing between
  // the two statements (a draining older actor, another engine) would pair a balance with
  // another moment's reservations, and the actor asserts they agree.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx{connection};
  auto row = tx.exec_params1(
      "SELECT available, reserved, last_seq, (extract(epoch FROM updated_at) * 1000)::bigint "
      "FROM ledger.accounts WHERE account_id = $1",
      account_id);
  account_snapshot snapshot;
  snapshot.available = row[0].as<int64_t>();
  snapshot.reserved = row[1].as<int64_t>();
  snapshot.last_seq = row[2].as<int64_t>();
  snapshot.updated_at_ms = row[3].as<int64_t>();
  auto holds = tx.exec_params(
      "SELECT reservation_id::text, amount, (extract(epoch FROM expires_at) * 1000)::bigint, "
      "  lots::text "
      "FROM ledger.reservations WHERE account_id = $1 AND status = 'pending'",
      account_id);
  int64_t held_lot_credits = 0;
  for (const auto& hold : holds) {
    snapshot.reservations.push_back({hold[0].as<std::string>(), hold[1].as<int64_t>(),
                                     hold[2].as<int64_t>(),
                                     allocation_from_json(hold[3].as<std::string>())});
    held_lot_credits += allocation_total(snapshot.reservations.back().lots);
  }
  // Lots with credits left, and lots a pending reservation may still return credits to.
  // Both halves use an index (credit_lots_account; reservations_account and the key).
  auto lots = tx.exec_params(
      "SELECT lot_id::text, amount, remaining, (extract(epoch FROM expires_at) * 1000)::bigint, "
      "  grant_seq FROM ledger.credit_lots WHERE account_id = $1 AND remaining > 0 "
      "UNION "
      "SELECT lot_id::text, amount, remaining, (extract(epoch FROM expires_at) * 1000)::bigint, "
      "  grant_seq FROM ledger.credit_lots WHERE lot_id IN (SELECT (l->>'lot_id')::uuid "
      "  FROM ledger.reservations r, jsonb_array_elements(r.lots) l "
      "  WHERE r.account_id = $1 AND r.status = 'pending')",
      account_id);
  int64_t lot_credits = 0;
  for (const auto& lot : lots) {
    snapshot.lots.push_back({lot[0].as<std::string>(), lot[1].as<int64_t>(), lot[2].as<int64_t>(),
                             lot[3].as<int64_t>(), lot[4].as<int64_t>()});
    lot_credits += snapshot.lots.back().remaining;
  }
  // The loader re-checks what the writer asserted (paired assertions).
  TALLY_ASSERT(snapshot.available >= 0);
  TALLY_ASSERT(snapshot.reserved >= 0);
  TALLY_ASSERT(lot_credits <= snapshot.available);
  TALLY_ASSERT(held_lot_credits <= snapshot.reserved);
  TALLY_ASSERT(snapshot.lots.size() <= credit_lots_max);
  return snapshot;
}

std::optional<std::pair<ledger_receipt, std::string>> find_keyed_entry(
    pqxx::connection& connection, const std::string& account_id,
    const std::string& idempotency_key) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT e.entry_id::text, e.seq, e.kind, e.amount, e.available_after, e.reserved_after, "
      "  coalesce(e.request_sha256, ''), coalesce(r.reservation_id::text, ''), "
      "  coalesce(r.status, ''), coalesce(r.amount, 0), coalesce(r.committed_amount, 0), "
      "  coalesce((extract(epoch FROM r.expires_at) * 1000)::bigint, 0) "
      "FROM ledger.entries e LEFT JOIN ledger.reservations r "
      "  ON e.reference_type = 'reservation' AND r.reservation_id::text = e.reference_id "
      "WHERE e.account_id = $1 AND e.idempotency_key = $2",
      account_id, idempotency_key);
  if (rows.empty()) {
    return std::nullopt;
  }
  const auto& row = rows[0];
  ledger_receipt receipt;
  receipt.entry_id = row[0].as<std::string>();
  receipt.seq = row[1].as<int64_t>();
  auto kind = parse_entry_kind(row[2].as<std::string>());
  TALLY_ASSERT(kind.has_value());
  receipt.kind = static_cast<uint8_t>(*kind);
  receipt.amount = row[3].as<int64_t>();
  receipt.available = row[4].as<int64_t>();
  receipt.reserved = row[5].as<int64_t>();
  receipt.reservation_id = row[7].as<std::string>();
  receipt.reservation_status = row[8].as<std::string>();
  receipt.reservation_amount = row[9].as<int64_t>();
  receipt.committed_amount = row[10].as<int64_t>();
  receipt.expires_at_ms = row[11].as<int64_t>();
  receipt.replayed = true;
  return std::make_pair(receipt, row[6].as<std::string>());
}

std::optional<reservation_row> find_reservation(pqxx::connection& connection,
                                                const std::string& account_id,
                                                const std::string& reservation_id) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      "SELECT reservation_id::text, account_id::text, amount, committed_amount, status, "
      "  (extract(epoch FROM expires_at) * 1000)::bigint "
      "FROM ledger.reservations WHERE reservation_id::text = $2 AND account_id = $1",
      account_id, reservation_id);
  if (rows.empty()) {
    return std::nullopt;
  }
  const auto& row = rows[0];
  return reservation_row{row[0].as<std::string>(), row[1].as<std::string>(),
                         row[2].as<int64_t>(),     row[3].as<int64_t>(),
                         row[4].as<std::string>(), row[5].as<int64_t>()};
}

std::string entries_page_json(pqxx::connection& connection, const entries_query& query) {
  pqxx::read_transaction tx{connection};
  auto rows = tx.exec_params(
      std::string("SELECT entry_id::text, seq, kind, amount, available_after, reserved_after, "
                  "  reference_type, reference_id, ") +
          created_at_text +
          " FROM ledger.entries WHERE account_id = $1 AND ($2 = 0 OR seq < $2) "
          "  AND ($3 = '' OR kind = $3) ORDER BY seq DESC LIMIT $4",
      query.account_id, query.before_seq, query.kind, query.limit + 1);
  nlohmann::json items = nlohmann::json::array();
  int64_t next_before = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    if (static_cast<int>(i) == query.limit) {
      next_before = rows[i - 1][1].as<int64_t>();
      break;
    }
    nlohmann::json reference = nullptr;
    if (!row[6].is_null()) {
      reference = {{"type", row[6].as<std::string>()}, {"id", rfc3339(row[7])}};
    }
    items.push_back({{"id", row[0].as<std::string>()},
                     {"seq", row[1].as<int64_t>()},
                     {"kind", row[2].as<std::string>()},
                     {"amount", row[3].as<int64_t>()},
                     {"available_after", row[4].as<int64_t>()},
                     {"reserved_after", row[5].as<int64_t>()},
                     {"reference", reference},
                     {"created_at", row[8].as<std::string>()}});
  }
  return nlohmann::json{{"items", items}, {"next_before_seq", next_before}}.dump();
}

namespace {

// Runs a due-work scan whose rows are (account id, item id) and flattens them.
std::vector<std::string> due_pairs(pqxx::connection& connection, const char* sql, int64_t limit) {
  pqxx::read_transaction tx{connection};
  std::vector<std::string> out;
  for (const auto& row : tx.exec_params(sql, limit)) {
    out.push_back(row[0].as<std::string>());
    out.push_back(row[1].as<std::string>());
  }
  return out;
}

}  // namespace

std::vector<std::string> expired_reservations(pqxx::connection& connection, int64_t limit) {
  return due_pairs(connection,
                   "SELECT account_id::text, reservation_id::text FROM ledger.reservations "
                   "WHERE status = 'pending' AND expires_at <= now() ORDER BY expires_at LIMIT $1",
                   limit);
}

std::vector<std::string> expired_lots(pqxx::connection& connection, int64_t limit) {
  return due_pairs(connection,
                   "SELECT account_id::text, lot_id::text FROM ledger.credit_lots "
                   "WHERE remaining > 0 AND expires_at <= now() ORDER BY expires_at LIMIT $1",
                   limit);
}

}  // namespace tally::persistence
