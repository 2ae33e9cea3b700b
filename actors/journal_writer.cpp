// The journal writer: a detached actor owning one Postgres connection that
// group-commits ledger entries (DESIGN "The ledger").
//
// Items accumulate while the writer is busy committing; the next batch goes
// out when it reaches journal_batch_max, or as soon as the mailbox is empty
// (after journal_flush_delay_us when that is set). Each item's promise is
// answered only after its batch's transaction committed, so a ledger actor
// never acknowledges an uncommitted entry (invariant 3).
//
// Within a batch, an account's items form one chain: one sender, consecutive
// sequence numbers (write_journal_batch asserts it). Two senders can write one
// account (a passivated actor still draining its pipeline and its successor),
// and one sender can restart its numbering (items it gave up on after a timeout
// are still queued here when it reloads and sends the same seqs again). An item
// that would break its account's chain first flushes the batch, so the stale
// chain and the new one meet the database's last_seq condition in separate
// transactions and the loser reloads.

#include <chrono>
#include <string>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors/ledger.hpp"
#include "actors/ledger_internal.hpp"
#include "domain/assert.hpp"
#include "logging/log.hpp"
#include "persistence/ledger_store.hpp"
#include "persistence/pg.hpp"

namespace tally {
namespace {

// The last item of an account in the current batch: who sent it, and its seq.
struct chain_end {
  caf::actor_addr sender;
  int64_t seq = 0;
};

struct writer_state {
  static inline const char* name = "journal_writer";
  std::unique_ptr<persistence::pg_session> db;
  std::vector<journal_item> batch;
  std::unordered_map<std::string, chain_end> chain_ends;  // by account, for `batch`
  std::vector<caf::typed_response_promise<journal_ack>> promises;
  uint32_t batch_max = 512;
  std::chrono::microseconds flush_delay{0};
  bool flush_scheduled = false;
};

using writer_self = journal_writer_actor::stateful_pointer<writer_state>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void flush(writer_self self) {
  auto& st = self->state;
  if (st.batch.empty()) {
    return;
  }
  auto items = std::move(st.batch);
  auto promises = std::move(st.promises);
  st.batch.clear();
  st.promises.clear();
  st.chain_ends.clear();
  TALLY_ASSERT(items.size() == promises.size());
  std::vector<persistence::append_outcome> outcomes;
  const errc failure = st.db->run([&](pqxx::connection& connection) {
    outcomes = persistence::write_journal_batch(connection, items);
  });
  if (failure != errc{}) {
    // Nothing of the batch committed: every mutation in it fails.
    log::warn("journal_batch_failed", {{"items", items.size()}, {"error", to_string(failure)}});
    for (auto& promise : promises) {
      promise.deliver(caf::make_error(failure));
    }
    return;
  }
  TALLY_ASSERT(outcomes.size() == items.size());
  const int64_t committed_at = now_ms();
  for (std::size_t i = 0; i < items.size(); ++i) {
    switch (outcomes[i]) {
      case persistence::append_outcome::committed:
        promises[i].deliver(journal_ack{items[i].seq, committed_at});
        break;
      case persistence::append_outcome::sequence_conflict:
        promises[i].deliver(caf::make_error(errc::sequence_conflict));
        break;
      case persistence::append_outcome::duplicate_key:
        promises[i].deliver(caf::make_error(errc::idempotency_key_reused));
        break;
    }
  }
}

journal_writer_actor::behavior_type writer_behavior(writer_self self, std::string database_url,
                                                    uint32_t batch_max, uint32_t flush_delay_us) {
  self->state.db =
      std::make_unique<persistence::pg_session>(database_url, std::chrono::seconds(5));
  self->state.batch_max = batch_max;
  self->state.flush_delay = std::chrono::microseconds(flush_delay_us);
  self->state.batch.reserve(batch_max);
  return {
      [=](append_atom, const journal_item& item) -> caf::result<journal_ack> {
        auto& st = self->state;
        const auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto end = st.chain_ends.find(item.account_id);
        if (end != st.chain_ends.end() &&
            (end->second.sender != sender || end->second.seq + 1 != item.seq)) {
          flush(self);  // this item starts another chain for its account
        }
        st.chain_ends[item.account_id] = chain_end{sender, item.seq};
        st.batch.push_back(item);
        st.promises.push_back(self->make_response_promise<journal_ack>());
        auto promise = st.promises.back();
        if (st.batch.size() >= st.batch_max) {
          flush(self);
        } else if (self->mailbox().empty()) {
          if (st.flush_delay.count() == 0) {
            flush(self);
          } else if (!st.flush_scheduled) {
            st.flush_scheduled = true;
            self->delayed_send(self, st.flush_delay, flush_atom_v);
          }
        }
        return promise;
      },
      [=](flush_atom) {
        self->state.flush_scheduled = false;
        flush(self);
      },
  };
}

}  // namespace

journal_writer_actor spawn_journal_writer(caf::actor_system& sys, const std::string& database_url,
                                          uint32_t batch_max, uint32_t flush_delay_us) {
  return sys.spawn<caf::detached>(writer_behavior, database_url, batch_max, flush_delay_us);
}

}  // namespace tally
