#pragma once
// The live event stream (GET /v1/events/stream, docs/events.md "The live stream"), the pure
// part: the resume cursor that every Server-Sent Event carries as its `id:`, the items a
// stream sends, the catch-up query and page the stream reader answers, and the SSE framing.
// No I/O.
//
// A user's events come from three independent, separately ordered sources: the ledger
// journal (CloudEvent `sequence` = journal seq x 8 + index: gapless and ordered per account)
// and the payments and workflows outboxes (outbox row id: increasing, not gapless). No order
// exists across them, so the cursor holds one position per source: "everything up to here
// was sent". Text form, versioned: "1-<ledger>-<payments>-<workflows>" in decimal, e.g.
// "1-57-12-3". Clients treat it as opaque and send it back as Last-Event-ID.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "domain/cloud_event.hpp"

namespace tally {

enum class stream_source : uint8_t { ledger = 0, payments = 1, workflows = 2 };
inline constexpr std::size_t stream_source_count = 3;

// Ledger events per journal entry in the CloudEvent sequence (domain/cloud_event.cpp:
// sequence = seq x 8 + index); tests/domain/event_stream_test.cpp keeps the two in step.
inline constexpr int64_t ledger_sequence_per_entry = 8;

// Longer Last-Event-ID values are refused before parsing (real ones are under 64 characters).
inline constexpr std::size_t stream_cursor_chars_max = 80;

// Per source, the position of the last event sent; 0: none yet.
struct stream_cursor {
  int64_t ledger = 0;     // CloudEvent sequence of the last ledger event
  int64_t payments = 0;   // payments.outbox row id of the last payments event
  int64_t workflows = 0;  // workflows.outbox row id of the last workflows event
};

inline bool operator==(const stream_cursor& a, const stream_cursor& b) {
  return a.ledger == b.ledger && a.payments == b.payments && a.workflows == b.workflows;
}

// The cursor's position for `source`.
int64_t position_in(const stream_cursor& cursor, stream_source source);

// "1-<ledger>-<payments>-<workflows>". REQUIRES: every position >= 0.
[[nodiscard]] std::string format_stream_cursor(const stream_cursor& cursor);

// The cursor format_stream_cursor wrote, or errc::invalid_cursor for anything else: empty or
// longer than stream_cursor_chars_max, another version, not exactly four fields, a field that
// is not 1..19 decimal digits (leading zeros refused) or does not fit an int64.
[[nodiscard]] caf::expected<stream_cursor> parse_stream_cursor(std::string_view text);

// The journal sequence after which a resume reads ledger entries: the entry holding the
// cursor's last ledger event may have events the client did not get yet.
int64_t ledger_seq_to_read_after(const stream_cursor& cursor);

// The ledger position that means "every event of journal entry `seq` was sent" (0 for 0).
// REQUIRES: seq >= 0.
int64_t ledger_position_after_entry(int64_t seq);

// One event as a stream sends it.
struct stream_item {
  uint8_t source = 0;    // a stream_source
  int64_t position = 0;  // within the source (see stream_cursor)
  std::string event_id;  // the CloudEvent id (source + id is unique)
  std::string type;      // the CloudEvent type: the SSE `event:` field
  std::string time;      // RFC 3339 UTC: catch-up pages interleave sources by it
  std::string envelope;  // the structured-mode JSON, one line: the SSE `data:` field
};

// The item for a relayed event, or nullopt when its source is not a known one or its
// sequence is not 1..20 digits (such an event cannot be resumed, so it is not streamed).
std::optional<stream_item> stream_item_of(const cloud_event& event);

// True when the cursor already covers `item`'s position in its source.
bool is_covered(const stream_cursor& cursor, const stream_item& item);

// Moves the cursor's position for `item`'s source up to `item`'s (never down).
void advance(stream_cursor& cursor, const stream_item& item);

// For a ledger item not covered by `cursor`: true when nothing of the user's journal lies
// between the cursor and it, i.e. it belongs to the entry holding the cursor's last event or
// to the next one (journal seqs are gapless per account). False: entries in between were
// published elsewhere (another node's relay) and must be read first.
// REQUIRES: item is a ledger item.
bool follows_without_gap(const stream_cursor& cursor, const stream_item& item);

// Which payments and workflows events a stream sent, to drop repeats. Outbox row ids may
// commit out of order, so a position below the cursor can still be new: each source keeps a
// floor (everything at or below it counts as sent: the stream's starting cursor) and the
// positions sent above it. At most `remembered_max` per source: beyond that the lowest is
// forgotten and the floor rises to it, so a forgotten event is still never repeated (an
// event of a lower id published that late is dropped instead: docs/events.md, exception 1).
class sent_outbox_events {
 public:
  // REQUIRES: remembered_max >= 1.
  explicit sent_outbox_events(std::size_t remembered_max);
  // REQUIRES: before the first mark_sent.
  void set_floor(const stream_cursor& floor);
  // True, and remembered, when `item` was not sent yet; false for a repeat.
  // REQUIRES: item is a payments or workflows item.
  [[nodiscard]] bool mark_sent(const stream_item& item);

 private:
  struct per_source {
    int64_t floor = 0;
    std::set<int64_t> above;  // positions sent above the floor
  };
  per_source& of(const stream_item& item);

  std::size_t remembered_max_;
  per_source payments_;
  per_source workflows_;
};

// The stream reader's question: the user's events after `after` (at most `rows_max` rows per
// source), or, when `from_head` is set, no events and the positions of the user's newest ones
// (where a stream that did not send Last-Event-ID starts).
struct stream_query {
  std::string user_id;
  stream_cursor after;
  int32_t rows_max = 0;
  bool from_head = false;
};

// Its answer: items in delivery order (each source in its own order; sources interleaved by
// time), not covered by the query's cursor. `has_more`: some source filled `rows_max`, ask
// again after these. `head`: the positions asked for with `from_head`.
struct stream_page {
  std::vector<stream_item> items;
  bool has_more = false;
  stream_cursor head;
};

// Interleaves per-source lists by `time`, keeping each list's own order.
std::vector<stream_item> interleave_by_time(std::vector<std::vector<stream_item>> lists);

// The Server-Sent Events frame for `item`, sent as id `cursor_text`:
// "id: <cursor>\nevent: <type>\ndata: <envelope>\n\n". The envelope is one line of JSON.
std::string sse_event_frame(std::string_view cursor_text, const stream_item& item);

// The frame that opens a stream: the client's reconnection delay and the starting cursor as
// an id without data (EventSource keeps the id, dispatches nothing):
// "retry: <ms>\nid: <cursor>\n\n".
std::string sse_open_frame(int64_t retry_ms, std::string_view cursor_text);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_cursor& x) {
  return f(caf::meta::type_name("stream_cursor"), x.ledger, x.payments, x.workflows);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_item& x) {
  return f(caf::meta::type_name("stream_item"), x.source, x.position, x.event_id, x.type, x.time,
           x.envelope);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_query& x) {
  return f(caf::meta::type_name("stream_query"), x.user_id, x.after, x.rows_max, x.from_head);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_page& x) {
  return f(caf::meta::type_name("stream_page"), x.items, x.has_more, x.head);
}

}  // namespace tally
