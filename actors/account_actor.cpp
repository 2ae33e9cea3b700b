// One ledger actor per account: the sole writer of its balance (DESIGN "The
// ledger"). It keeps the account in memory, refuses from memory, pipelines
// accepted mutations to its journal writer in order, and answers each only
// after the writer's transaction committed.
//
//   start ──load──> ready ──(a write failed)──> stale ──(pipeline drained)──> loading
//     ^                                                                         │
//     └───────────────────────────── loaded <───────────────────────────────────┘
//
// While not ready, requests wait (bounded) and run in arrival order once the
// account is loaded. A sequence conflict (another node or an older incarnation
// wrote first) reloads and retries the mutation; other write failures answer
// the client and reload. Idle for `idle` ms, the actor asks the router to
// passivate it; on stop it finishes its pipeline and quits.

#include <chrono>
#include <deque>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/ledger_internal.hpp"
#include "auth/auth.hpp"
#include "domain/assert.hpp"
#include "domain/credit_lots.hpp"
#include "domain/ledger.hpp"
#include "logging/log.hpp"

namespace tally {
namespace {

constexpr std::size_t recent_keys_max = 256;
constexpr uint32_t conflict_retries_max = 2;

struct in_flight {
  ledger_request request;
  journal_item item;
  caf::typed_response_promise<ledger_receipt> promise;
  uint32_t attempt = 0;
};

// Work queued until the account is ready, and how to refuse it if loading fails.
struct waiter {
  std::function<void()> work;
  std::function<void(errc)> refuse;
};

struct remembered_key {
  std::string request_sha256;
  ledger_receipt receipt;
};

struct account_state {
  static inline const char* name = "ledger_account";
  std::string account_id;
  journal_writer_actor writer;
  ledger_reader_actor reader;
  ledger_router_actor router;
  account_settings settings;

  bool ready = false;
  bool loading = false;
  bool stopping = false;
  balance committed;  // as of the last committed entry
  int64_t committed_seq = 0;
  balance projected;  // committed plus the pipeline
  int64_t projected_seq = 0;
  int64_t updated_at_ms = 0;
  std::unordered_map<std::string, pending_reservation> holds;  // projected pending holds
  lot_book lots;  // projected expiring credit lots (domain/credit_lots.hpp)
  std::deque<in_flight> pipeline;
  std::deque<waiter> waiting;  // bounded by 2 * in_flight_max
  std::unordered_map<std::string, std::string> keys_in_flight;  // key -> request sha
  std::unordered_map<std::string, remembered_key> recent_keys;
  std::deque<std::string> recent_order;
  uint64_t activity = 0;  // bumps on every message; the idle tick compares it
};

using account_self = account_actor::stateful_pointer<account_state>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

entry_kind kind_of(const ledger_request& r) {
  return static_cast<entry_kind>(r.kind);
}

// The sweeper's expiry of a credit lot (not of a reservation).
bool is_lot_expiry(const ledger_request& r) {
  return kind_of(r) == entry_kind::expire && r.reference_type == "credit_lot";
}

// The lot invariants (domain/credit_lots.hpp), asserted on load and after every mutation
// that touches an account with lots: lot credits fit in available; held lot credits fit in
// their holds and in reserved; every held lot is known. Also forgets lots nothing refers to.
void check_lots(account_state& st) {
  std::unordered_set<std::string> held;
  int64_t held_credits = 0;
  for (const auto& [id, hold] : st.holds) {
    const int64_t total = allocation_total(hold.lots);
    TALLY_ASSERT(total <= hold.amount);
    held_credits += total;
    for (const auto& share : hold.lots) {
      held.insert(share.lot_id);
    }
  }
  std::size_t known = 0;
  for (const auto& lot : st.lots.lots()) {
    known += held.count(lot.lot_id);
  }
  TALLY_ASSERT(known == held.size());
  st.lots.prune(held);
  TALLY_ASSERT(st.lots.size() <= credit_lots_max);
  TALLY_ASSERT(st.lots.remaining_total() <= st.projected.credits_available);
  TALLY_ASSERT(held_credits <= st.projected.credits_reserved);
}

void process(account_self self, ledger_request request,
             caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt);
void start_load(account_self self);

void remember_key(account_state& st, const std::string& key, const std::string& sha,
                  const ledger_receipt& receipt) {
  if (st.recent_keys.emplace(key, remembered_key{sha, receipt}).second) {
    st.recent_order.push_back(key);
    if (st.recent_order.size() > recent_keys_max) {
      st.recent_keys.erase(st.recent_order.front());
      st.recent_order.pop_front();
    }
  }
}

// Runs `work` now when the account is ready, else queues it (bounded).
void when_ready(account_self self, std::function<void()> work,
                const std::function<void(errc)>& refuse) {
  auto& st = self->state;
  if (st.ready) {
    return work();
  }
  if (st.waiting.size() >= 2 * st.settings.in_flight_max) {
    return refuse(errc::overloaded);
  }
  st.waiting.push_back(waiter{std::move(work), refuse});
  if (!st.loading && st.pipeline.empty()) {
    start_load(self);
  }
}

void maybe_quit(account_self self) {
  auto& st = self->state;
  if (st.stopping && st.pipeline.empty() && st.waiting.empty()) {
    self->quit();
  }
}

void start_load(account_self self) {
  auto& st = self->state;
  TALLY_ASSERT(st.pipeline.empty());
  st.loading = true;
  st.ready = false;
  self->request(st.reader, st.settings.request_timeout, load_atom_v, st.account_id)
      .then(
          [=](account_snapshot& snapshot) {
            auto& s = self->state;
            s.loading = false;
            s.ready = true;
            s.committed = balance{snapshot.available, snapshot.reserved};
            s.projected = s.committed;
            s.committed_seq = snapshot.last_seq;
            s.projected_seq = snapshot.last_seq;
            s.updated_at_ms = snapshot.updated_at_ms;
            s.holds.clear();
            int64_t held = 0;
            for (auto& hold : snapshot.reservations) {
              held += hold.amount;
              s.holds.emplace(hold.reservation_id, hold);
            }
            // Every credit reserved is held by exactly one pending reservation.
            TALLY_ASSERT(held == s.committed.credits_reserved);
            s.lots = lot_book(std::move(snapshot.lots));
            check_lots(s);  // pairs with the loader's and the writer's checks
            auto waiting = std::move(s.waiting);
            s.waiting.clear();
            for (auto& w : waiting) {
              w.work();
            }
            maybe_quit(self);
          },
          [=](caf::error& err) {
            auto& s = self->state;
            s.loading = false;
            auto waiting = std::move(s.waiting);
            s.waiting.clear();
            log::warn("ledger_load_failed", {{"account_id", s.account_id}});
            // Fail fast (503): the next request tries loading again.
            errc code = errc::storage_unavailable;
            as_errc(err, code);
            for (auto& w : waiting) {
              w.refuse(code);
            }
            maybe_quit(self);
          });
}

ledger_receipt receipt_of(const journal_item& item) {
  ledger_receipt r;
  r.entry_id = item.entry_id;
  r.seq = item.seq;
  r.kind = item.kind;
  r.amount = item.amount;
  r.available = item.available_after;
  r.reserved = item.reserved_after;
  r.reservation_id = item.reservation_id;
  r.reservation_status = item.reservation_status;
  r.reservation_amount = item.reservation_amount;
  r.committed_amount = item.committed_amount;
  r.expires_at_ms = item.expires_at_ms;
  return r;
}

void on_committed(account_self self, int64_t seq, const journal_ack& ack) {
  auto& st = self->state;
  auto it = std::find_if(st.pipeline.begin(), st.pipeline.end(),
                         [seq](const in_flight& f) { return f.item.seq == seq; });
  if (it == st.pipeline.end()) {
    return;  // already failed by a timeout; the reload will see the truth
  }
  in_flight done = std::move(*it);
  st.pipeline.erase(it);
  // Acks arrive in sequence order from the one writer of this account.
  TALLY_ASSERT(seq > st.committed_seq);
  st.committed = balance{done.item.available_after, done.item.reserved_after};
  st.committed_seq = seq;
  st.updated_at_ms = ack.committed_at_ms;
  TALLY_ASSERT(st.committed.credits_available >= 0);
  TALLY_ASSERT(st.committed.credits_reserved >= 0);
  const ledger_receipt receipt = receipt_of(done.item);
  if (!done.item.idempotency_key.empty()) {
    st.keys_in_flight.erase(done.item.idempotency_key);
    remember_key(st, done.item.idempotency_key, done.item.request_sha256, receipt);
  }
  done.promise.deliver(receipt);
  if (!st.ready && st.pipeline.empty() && !st.loading) {
    start_load(self);
  }
  maybe_quit(self);
}

// Answers a keyed request from the journal: the same body replays the stored
// receipt, another body is 422, and a key the journal does not hold gets
// `if_unknown`. Shared by the two paths below.
void answer_from_journal(account_self self, const ledger_request& request,
                         caf::typed_response_promise<ledger_receipt> promise,
                         caf::error if_unknown) {
  auto& st = self->state;
  self->request(st.reader, st.settings.request_timeout, lookup_atom_v, st.account_id,
                request.idempotency_key)
      .then(
          [=](ledger_receipt& receipt, std::string& sha) mutable {
            if (sha != request.request_sha256) {
              promise.deliver(caf::make_error(errc::idempotency_key_reused));
              return;
            }
            remember_key(self->state, request.idempotency_key, sha, receipt);
            promise.deliver(receipt);
          },
          [=](caf::error& err) mutable {
            errc code = errc::internal;
            if (as_errc(err, code) && code == errc::not_found) {
              promise.deliver(if_unknown);
              return;
            }
            promise.deliver(std::move(err));
          });
}

// The key is already journaled (a retry after a crash or from another node):
// answer from the stored entry.
void replay_from_journal(account_self self, const ledger_request& request,
                         caf::typed_response_promise<ledger_receipt> promise) {
  answer_from_journal(self, request, promise, caf::make_error(errc::not_found));
}

// A keyed request refused from memory (insufficient credits, a reservation no longer
// pending) may be the retry of one the journal already holds: this actor remembers only its
// recent keys, and nothing after a restart or passivation. The journal decides (invariant 4):
// the same body replays the first response, another body is 422, an unknown key gets
// `refusal`. Only refusals pay this lookup; accepted mutations meet the key in the writer.
void refuse_unless_journaled(account_self self, const ledger_request& request,
                             caf::typed_response_promise<ledger_receipt> promise,
                             caf::error refusal) {
  if (request.idempotency_key.empty()) {
    promise.deliver(std::move(refusal));
    return;
  }
  answer_from_journal(self, request, promise, std::move(refusal));
}

// Marks memory stale and queues `request` to run again once the account is reloaded (after
// the pipeline drains, as on_failed does).
void rerun_after_reload(account_self self, const ledger_request& request,
                        caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt) {
  auto& st = self->state;
  st.ready = false;
  st.projected = st.committed;
  st.projected_seq = st.committed_seq;
  st.waiting.push_back(
      waiter{[self, request, promise, attempt] { process(self, request, promise, attempt); },
             [promise](errc c) mutable { promise.deliver(caf::make_error(c)); }});
  if (st.pipeline.empty() && !st.loading) {
    start_load(self);
  }
}

// Memory refused `request` (insufficient credits), but memory is current only while this
// actor is the account's one writer: another engine on the same database may have granted
// or released credits since, and this actor would refuse from memory forever. With nothing
// in flight, the database decides: if the account moved since it was loaded, reload and run
// the request again (at most conflict_retries_max times); else the refusal stands. With
// writes in flight it stands at once: a foreign write fails them, and that reloads.
void refuse_unless_stale(account_self self, const ledger_request& request,
                         caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt,
                         caf::error refusal) {
  auto& st = self->state;
  if (!st.pipeline.empty() || attempt >= conflict_retries_max) {
    return refuse_unless_journaled(self, request, promise, std::move(refusal));
  }
  const int64_t seq_then = st.committed_seq;
  self->request(st.reader, st.settings.request_timeout, load_atom_v, st.account_id)
      .then(
          [=](account_snapshot& snapshot) mutable {
            if (snapshot.last_seq == seq_then) {
              return refuse_unless_journaled(self, request, promise, refusal);
            }
            rerun_after_reload(self, request, promise, attempt + 1);
          },
          [=](caf::error&) mutable { refuse_unless_journaled(self, request, promise, refusal); });
}

void on_failed(account_self self, int64_t seq, const caf::error& err) {
  auto& st = self->state;
  auto it = std::find_if(st.pipeline.begin(), st.pipeline.end(),
                         [seq](const in_flight& f) { return f.item.seq == seq; });
  if (it == st.pipeline.end()) {
    return;
  }
  in_flight failed = std::move(*it);
  st.pipeline.erase(it);
  if (!failed.item.idempotency_key.empty()) {
    st.keys_in_flight.erase(failed.item.idempotency_key);
  }
  // Whatever happened, memory may no longer match the journal: reload once
  // the pipeline has drained (later entries fail too: their seq is stale).
  st.ready = false;
  st.projected = st.committed;
  st.projected_seq = st.committed_seq;
  errc code = errc::internal;
  as_errc(err, code);
  if (code == errc::sequence_conflict && failed.attempt < conflict_retries_max) {
    auto request = failed.request;
    auto promise = failed.promise;
    const uint32_t attempt = failed.attempt + 1;
    st.waiting.push_back(
        waiter{[self, request, promise, attempt] { process(self, request, promise, attempt); },
               [promise](errc c) mutable { promise.deliver(caf::make_error(c)); }});
  } else if (code == errc::idempotency_key_reused) {
    auto request = failed.request;
    auto promise = failed.promise;
    st.waiting.push_back(
        waiter{[self, request, promise] { replay_from_journal(self, request, promise); },
               [promise](errc c) mutable { promise.deliver(caf::make_error(c)); }});
  } else {
    failed.promise.deliver(err);
  }
  if (st.pipeline.empty() && !st.loading) {
    start_load(self);
  }
}

// Finds the pending hold a commit/release/expire names, or answers why not.
void with_hold(account_self self, const ledger_request& request,
               caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt,
               const std::function<void(const pending_reservation&)>& use) {
  auto& st = self->state;
  auto hold = st.holds.find(request.reservation_id);
  if (hold != st.holds.end()) {
    return use(hold->second);
  }
  // Not pending here: finished (409) or never ours (404); the journal says which.
  self->request(st.reader, st.settings.request_timeout, reserv_atom_v, st.account_id,
                request.reservation_id)
      .then(
          [=](reservation_row& row) mutable {
            if (row.status == "pending") {
              // Reserved through another engine (or an older incarnation): memory is stale.
              if (attempt < conflict_retries_max) {
                return rerun_after_reload(self, request, promise, attempt + 1);
              }
              promise.deliver(caf::make_error(errc::sequence_conflict));
              return;
            }
            refuse_unless_journaled(self, request, promise,
                                    caf::make_error(errc::reservation_not_pending));
          },
          [=](caf::error& err) mutable {
            refuse_unless_journaled(self, request, promise, std::move(err));
          });
}

// Computes the entry for `request` against the projected state and sends it
// to the writer. Answers refusals itself.
void apply(account_self self, const ledger_request& request,
           caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt,
           const pending_reservation* hold) {
  auto& st = self->state;
  const entry_kind kind = kind_of(request);
  const int64_t now = now_ms();
  caf::expected<balance_delta> delta{balance_delta{}};
  journal_item item;
  item.entry_id = auth::new_uuid_v4();
  int64_t amount = request.amount;
  // Lot bookkeeping decided here and applied to st.lots only once the entry is accepted.
  std::vector<lot_share> taken;     // spend/reserve: lot credits leaving available
  std::vector<lot_share> returned;  // commit/release/expire: lot credits coming back
  std::string expiring_lot;         // the lot this entry expires
  // Credits leaving available burn lots first; dead (expired, unswept) lot credits are not
  // spendable, so the plan may refuse what spend_delta alone would accept.
  auto plan_take = [&](int64_t credits) -> caf::expected<balance_delta> {
    if (st.lots.empty()) {
      return balance_delta{};
    }
    auto plan = st.lots.plan_take(st.projected.credits_available, credits, now);
    if (!plan) {
      return plan.error();
    }
    taken = std::move(*plan);
    return balance_delta{};
  };
  switch (kind) {
    case entry_kind::spend:
      delta = plan_take(request.amount);
      if (delta) {
        delta = spend_delta(st.projected, request.amount);
      }
      break;
    case entry_kind::grant:
    case entry_kind::purchase:
    case entry_kind::adjustment:
      if (request.expires_at_ms > 0) {
        TALLY_ASSERT(kind == entry_kind::grant);  // only admin grants carry expires_at
        if (st.lots.is_full()) {
          delta = caf::make_error(errc::validation_failed);  // the route names expires_at
          break;
        }
        item.lot_expires_at_ms = request.expires_at_ms;
      }
      delta = grant_delta(st.projected, request.amount);
      break;
    case entry_kind::reserve:
      delta = plan_take(request.amount);
      if (delta) {
        delta = reserve_delta(st.projected, request.amount);
      }
      item.reservation_op = 1;
      item.reservation_id = auth::new_uuid_v4();
      item.reservation_amount = request.amount;
      item.reservation_status = "pending";
      item.expires_at_ms = now + request.ttl_s * 1000;
      break;
    case entry_kind::commit: {
      TALLY_ASSERT(hold != nullptr);
      const int64_t commit = request.commit_all ? hold->amount : request.amount;
      delta = commit_delta(st.projected, hold->amount, commit);
      item.committed_amount = commit;
      item.reservation_status = "committed";
      if (delta) {
        returned = split_allocation(hold->lots, commit).returned;
      }
      break;
    }
    case entry_kind::release:
    case entry_kind::expire:
      if (hold == nullptr) {
        // A credit lot's expiry (the sweeper): only its remaining, only once it is due.
        TALLY_ASSERT(is_lot_expiry(request));
        amount = st.lots.expirable(request.reference_id, now);
        if (amount == 0) {
          auto refusal = caf::make_error(errc::not_found);
          if (st.lots.find(request.reference_id) == nullptr) {
            // Unknown here: it may have been granted through another engine.
            return refuse_unless_stale(self, request, promise, attempt, refusal);
          }
          promise.deliver(refusal);  // not due yet (clock skew) or nothing left
          return;
        }
        delta = spend_delta(st.projected, amount);
        TALLY_ASSERT(delta);  // lot credits are always in available
        expiring_lot = request.reference_id;
        break;
      }
      delta = release_delta(st.projected, hold->amount);
      item.reservation_status = kind == entry_kind::expire ? "expired" : "released";
      returned = hold->lots;
      break;
    default:
      TALLY_ASSERT(false);  // the HTTP layer only sends the kinds above
  }
  if (!delta) {
    if (delta.error() == caf::make_error(errc::insufficient_credits)) {
      refuse_unless_stale(self, request, promise, attempt, delta.error());
    } else {
      refuse_unless_journaled(self, request, promise, delta.error());
    }
    return;
  }
  if (hold != nullptr) {
    item.reservation_op = 2;
    item.reservation_id = hold->reservation_id;
    item.reservation_amount = hold->amount;
    item.expires_at_ms = hold->expires_at_ms;
  }
  const balance before = st.projected;
  const balance after = apply_delta(before, *delta);
  TALLY_ASSERT(after.credits_available >= 0);
  TALLY_ASSERT(after.credits_reserved >= 0);
  if (kind == entry_kind::reserve || hold != nullptr) {
    if (kind != entry_kind::commit) {
      TALLY_ASSERT(credits_total(after) == credits_total(before));  // holds move, never create
    }
  }
  item.account_id = st.account_id;
  item.seq = st.projected_seq + 1;
  item.kind = request.kind;
  item.amount = kind == entry_kind::commit ? item.committed_amount
                : hold != nullptr          ? hold->amount
                                           : amount;
  item.delta_available = delta->available;
  item.delta_reserved = delta->reserved;
  item.available_after = after.credits_available;
  item.reserved_after = after.credits_reserved;
  if (!item.reservation_id.empty()) {
    item.reference_type = "reservation";
    item.reference_id = item.reservation_id;
  } else if (!expiring_lot.empty()) {
    item.reference_type = "credit_lot";
    item.reference_id = expiring_lot;
  } else {
    item.reference_type = request.reference_type;
    item.reference_id = request.reference_id;
  }
  item.idempotency_key = request.idempotency_key;
  item.request_sha256 = request.request_sha256;
  item.metadata_json = request.metadata_json;
  item.actor = request.actor;
  item.request_id = request.request_id;

  // The lots follow the entry: taken credits leave them, returned credits go back (even to a
  // lot past expires_at: they expire with it at the next sweep), a new lot starts whole.
  if (!taken.empty()) {
    item.lot_changes = st.lots.take(taken);
  }
  if (!returned.empty()) {
    item.lot_changes = st.lots.give_back(returned);
  }
  if (!expiring_lot.empty()) {
    item.lot_changes.push_back(st.lots.expire(expiring_lot, now));
  }
  if (item.lot_expires_at_ms > 0) {
    st.lots.add(
        credit_lot{item.entry_id, item.amount, item.amount, item.lot_expires_at_ms, item.seq});
  }
  item.reservation_lots = item.reservation_op == 1 ? taken : std::vector<lot_share>{};
  st.projected = after;
  st.projected_seq = item.seq;
  if (item.reservation_op == 1) {
    st.holds.emplace(item.reservation_id,
                     pending_reservation{item.reservation_id, item.reservation_amount,
                                         item.expires_at_ms, item.reservation_lots});
  } else if (item.reservation_op == 2) {
    st.holds.erase(item.reservation_id);
  }
  if (!st.lots.empty()) {
    check_lots(st);
  }
  if (!item.idempotency_key.empty()) {
    st.keys_in_flight.emplace(item.idempotency_key, item.request_sha256);
  }
  const int64_t seq = item.seq;
  st.pipeline.push_back(in_flight{request, item, promise, attempt});
  self->request(st.writer, st.settings.request_timeout, append_atom_v, item)
      .then([=](journal_ack& ack) { on_committed(self, seq, ack); },
            [=](caf::error& err) { on_failed(self, seq, err); });
}

void process(account_self self, ledger_request request,
             caf::typed_response_promise<ledger_receipt> promise, uint32_t attempt) {
  auto& st = self->state;
  if (!st.ready) {
    return when_ready(
        self, [=] { process(self, request, promise, attempt); },
        [promise](errc code) mutable { promise.deliver(caf::make_error(code)); });
  }
  const std::string& key = request.idempotency_key;
  if (!key.empty()) {
    if (auto it = st.keys_in_flight.find(key); it != st.keys_in_flight.end()) {
      promise.deliver(caf::make_error(it->second == request.request_sha256
                                                 ? errc::idempotency_key_in_flight
                                                 : errc::idempotency_key_reused));
      return;
    }
    if (auto it = st.recent_keys.find(key); it != st.recent_keys.end()) {
      if (it->second.request_sha256 != request.request_sha256) {
        promise.deliver(caf::make_error(errc::idempotency_key_reused));
        return;
      }
      auto receipt = it->second.receipt;
      receipt.replayed = true;
      promise.deliver(receipt);
      return;
    }
  }
  if (st.pipeline.size() >= st.settings.in_flight_max) {
    promise.deliver(caf::make_error(errc::overloaded));
    return;
  }
  const entry_kind kind = kind_of(request);
  if (is_lot_expiry(request)) {
    return apply(self, request, promise, attempt, nullptr);
  }
  if (kind == entry_kind::commit || kind == entry_kind::release || kind == entry_kind::expire) {
    return with_hold(self, request, promise, attempt, [=](const pending_reservation& hold) mutable {
      if (kind == entry_kind::expire && hold.expires_at_ms > now_ms()) {
        promise.deliver(caf::make_error(errc::reservation_not_pending));
        return;
      }
      auto copy = hold;
      apply(self, request, promise, attempt, &copy);
    });
  }
  apply(self, request, promise, attempt, nullptr);
}

void schedule_idle_tick(account_self self) {
  self->delayed_send(self, self->state.settings.idle, tick_atom_v, self->state.activity);
}

account_actor::behavior_type account_behavior(account_self self, std::string account_id,
                                              journal_writer_actor writer,
                                              ledger_reader_actor reader,
                                              ledger_router_actor router,
                                              account_settings settings) {
  auto& st = self->state;
  st.account_id = std::move(account_id);
  st.writer = std::move(writer);
  st.reader = std::move(reader);
  st.router = std::move(router);
  st.settings = settings;
  start_load(self);
  schedule_idle_tick(self);
  return {
      [=](mutate_atom, const ledger_request& request) -> caf::result<ledger_receipt> {
        ++self->state.activity;
        auto promise = self->make_response_promise<ledger_receipt>();
        process(self, request, promise, 0);
        return promise;
      },
      [=](balance_atom, const std::string&) -> caf::result<balance_view> {
        ++self->state.activity;
        auto promise = self->make_response_promise<balance_view>();
        when_ready(
            self,
            [=]() mutable {
              auto& s = self->state;
              // Committed, not projected: a balance never shows an unacknowledged write.
              promise.deliver(balance_view{s.committed.credits_available,
                                           s.committed.credits_reserved, s.committed_seq,
                                           s.updated_at_ms});
            },
            [promise](errc code) mutable { promise.deliver(caf::make_error(code)); });
        return promise;
      },
      [=](open_atom, const std::string&) -> caf::result<bool> {
        auto promise = self->make_response_promise<bool>();
        when_ready(
            self, [promise]() mutable { promise.deliver(true); },
            [promise](errc code) mutable { promise.deliver(caf::make_error(code)); });
        return promise;
      },
      [=](stop_atom) {
        self->state.stopping = true;
        maybe_quit(self);
      },
      [=](tick_atom, uint64_t activity_then) {
        auto& s = self->state;
        if (s.stopping) {
          return;
        }
        if (activity_then == s.activity && s.pipeline.empty() && s.waiting.empty()) {
          self->send(s.router, idle_atom_v, s.account_id, self->address());
        }
        schedule_idle_tick(self);
      },
  };
}

}  // namespace

account_actor spawn_account(caf::actor_system& sys, std::string account_id,
                            journal_writer_actor writer, ledger_reader_actor reader,
                            ledger_router_actor router, account_settings settings) {
  return sys.spawn(account_behavior, std::move(account_id), std::move(writer), std::move(reader),
                   std::move(router), settings);
}

}  // namespace tally
