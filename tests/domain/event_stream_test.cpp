// tests/domain/event_stream_test.cpp: covers domain/event_stream.cpp: the stream cursor's text
// form (what is accepted and what is refused), resume positions, items made from relayed
// events, the interleaving of sources, the SSE framing, ledger gap detection and the outbox
// repeat filter.
#include "domain/event_stream.hpp"

#include <catch2/catch.hpp>

#include "domain/error.hpp"

namespace {

using tally::stream_cursor;

tally::ledger_event_row spend_row(int64_t seq) {
  tally::ledger_event_row row;
  row.outbox_id = 99;
  row.account_id = "5d3c0c9e-1111-4a4a-8b8b-000000000001";
  row.seq = seq;
  row.entry_id = "e" + std::to_string(seq);
  row.kind = "spend";
  row.amount = 30;
  row.delta_available = -30;
  row.available_after = 70;
  row.created_at = "2026-01-01T00:00:00.000001Z";
  return row;
}

tally::stream_item item(uint8_t source, int64_t position, std::string time) {
  tally::stream_item i;
  i.source = source;
  i.position = position;
  i.event_id = std::to_string(source) + ":" + std::to_string(position);
  i.time = std::move(time);
  return i;
}

}  // namespace

TEST_CASE("a stream cursor round-trips through its text form", "[domain][events]") {
  const stream_cursor cursor{57, 12, 3};
  CHECK(tally::format_stream_cursor(cursor) == "1-57-12-3");
  auto parsed = tally::parse_stream_cursor("1-57-12-3");
  REQUIRE(parsed);
  CHECK(*parsed == cursor);
  CHECK(tally::format_stream_cursor({}) == "1-0-0-0");
  const stream_cursor largest{INT64_MAX, INT64_MAX, 0};
  auto big = tally::parse_stream_cursor(tally::format_stream_cursor(largest));
  REQUIRE(big);
  CHECK(*big == largest);
}

TEST_CASE("a stream cursor that format_stream_cursor would not write is refused",
          "[domain][events]") {
  for (const char* text : {"", "1", "1-2-3", "1-2-3-4-5", "2-1-1-1", "1-01-0-0", "1--0-0",
                           "1-a-0-0", "1-+1-0-0", "1--1-0-0", "1-9223372036854775808-0-0",
                           "1-99999999999999999999-0-0", " 1-0-0-0", "1-0-0-0\n", "1.0.0.0"}) {
    INFO("cursor: '" << text << "'");
    auto parsed = tally::parse_stream_cursor(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error() == caf::make_error(tally::errc::invalid_cursor));
  }
  CHECK_FALSE(tally::parse_stream_cursor(std::string(tally::stream_cursor_chars_max + 1, '1')));
}

TEST_CASE("the ledger part of the cursor follows the CloudEvent sequence of the journal",
          "[domain][events]") {
  // Entry 7 (a spend) yields credits.spent and balance.updated: sequences 56 and 57.
  const auto events = tally::events_from_ledger_row(spend_row(7));
  REQUIRE(events.size() == 2);
  auto first = tally::stream_item_of(events[0]);
  auto second = tally::stream_item_of(events[1]);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->position == 7 * tally::ledger_sequence_per_entry);
  CHECK(second->position == 7 * tally::ledger_sequence_per_entry + 1);
  CHECK(first->source == static_cast<uint8_t>(tally::stream_source::ledger));
  CHECK(first->type == "credits.spent");
  CHECK(first->event_id == events[0].id);
  CHECK(first->envelope == tally::to_structured_json(events[0]));

  // Resuming after the first event of entry 7 re-reads entry 7, and skips what was sent.
  stream_cursor cursor;
  tally::advance(cursor, *first);
  CHECK(cursor.ledger == 56);
  CHECK(tally::ledger_seq_to_read_after(cursor) == 6);
  CHECK(tally::is_covered(cursor, *first));
  CHECK_FALSE(tally::is_covered(cursor, *second));
  // "Everything of entry 7" covers every event entry 7 can have, and none of entry 8.
  stream_cursor after_entry{tally::ledger_position_after_entry(7), 0, 0};
  CHECK(tally::is_covered(after_entry, *second));
  auto next = tally::stream_item_of(tally::events_from_ledger_row(spend_row(8))[0]);
  REQUIRE(next);
  CHECK_FALSE(tally::is_covered(after_entry, *next));
  CHECK(tally::ledger_position_after_entry(0) == 0);
  CHECK(tally::ledger_seq_to_read_after({}) == 0);
}

TEST_CASE("outbox events are positioned by their row id; unknown sources are not streamed",
          "[domain][events]") {
  tally::context_event_row row{41,
                               "0b0b0b0b-2222-4c4c-8d8d-000000000002",
                               "run.succeeded",
                               "runs/r1",
                               "5d3c0c9e-1111-4a4a-8b8b-000000000001",
                               R"({"run_id":"r1"})",
                               "2026-01-01T00:00:01.000000Z"};
  auto run =
      tally::stream_item_of(tally::event_from_context_row(tally::workflows_event_source, row));
  REQUIRE(run);
  CHECK(run->source == static_cast<uint8_t>(tally::stream_source::workflows));
  CHECK(run->position == 41);
  stream_cursor cursor{100, 5, 40};
  tally::advance(cursor, *run);
  CHECK(cursor == stream_cursor{100, 5, 41});
  tally::advance(cursor, item(2, 7, ""));  // never moves back
  CHECK(cursor.workflows == 41);

  auto foreign = tally::event_from_context_row("/elsewhere", row);
  CHECK_FALSE(tally::stream_item_of(foreign));
  auto unsequenced = tally::event_from_context_row(tally::payments_event_source, row);
  unsequenced.sequence = "12x";
  CHECK_FALSE(tally::stream_item_of(unsequenced));
}

TEST_CASE("sources are interleaved by time, each keeping its own order", "[domain][events]") {
  std::vector<std::vector<tally::stream_item>> lists(3);
  lists[0] = {item(0, 8, "t1"), item(0, 9, "t5")};
  lists[1] = {item(1, 3, "t2"), item(1, 4, "t0")};  // out of time order within its source
  lists[2] = {item(2, 1, "t1")};
  const auto merged = tally::interleave_by_time(lists);
  std::vector<std::string> ids;
  for (const auto& i : merged) {
    ids.push_back(i.event_id);
  }
  // Ties go to the earlier source (0:8 before 2:1, both at t1); payments keeps 3 before 4
  // although 4 is older.
  CHECK(ids == std::vector<std::string>{"0:8", "2:1", "1:3", "1:4", "0:9"});
}

TEST_CASE("SSE frames carry the cursor as id, the type as event and the envelope as data",
          "[domain][events]") {
  auto i = item(0, 64, "t");
  i.type = "credits.spent";
  i.envelope = R"({"a":"line\nbreak escaped"})";
  CHECK(tally::sse_event_frame("1-64-0-0", i) ==
        "id: 1-64-0-0\nevent: credits.spent\ndata: {\"a\":\"line\\nbreak escaped\"}\n\n");
  CHECK(tally::sse_open_frame(2000, "1-0-0-0") == "retry: 2000\nid: 1-0-0-0\n\n");
}

TEST_CASE("a ledger event follows the cursor without a gap only within the next entry",
          "[domain][events]") {
  constexpr uint8_t ledger = 0;
  const stream_cursor at_entry_7{7 * 8 + 1, 0, 0};  // entry 7's second event was sent
  CHECK(tally::follows_without_gap(at_entry_7, item(ledger, 7 * 8 + 2, "t")));
  CHECK(tally::follows_without_gap(at_entry_7, item(ledger, 8 * 8, "t")));
  CHECK(tally::follows_without_gap(at_entry_7, item(ledger, 8 * 8 + 2, "t")));
  CHECK_FALSE(tally::follows_without_gap(at_entry_7, item(ledger, 9 * 8, "t")));
  // A new account (nothing sent, head 0): its first entry is seq 1.
  CHECK(tally::follows_without_gap(stream_cursor{}, item(ledger, 1 * 8, "t")));
  CHECK_FALSE(tally::follows_without_gap(stream_cursor{}, item(ledger, 2 * 8, "t")));
  // A stream that started at the head of entry 5 (ledger_position_after_entry).
  const stream_cursor head{tally::ledger_position_after_entry(5), 0, 0};
  CHECK(tally::follows_without_gap(head, item(ledger, 6 * 8, "t")));
  CHECK_FALSE(tally::follows_without_gap(head, item(ledger, 7 * 8, "t")));
}

TEST_CASE("outbox events are sent once: above the floor by position, at or below never",
          "[domain][events]") {
  constexpr uint8_t payments = 1;
  constexpr uint8_t workflows = 2;
  tally::sent_outbox_events sent(2);
  sent.set_floor(stream_cursor{0, 10, 20});
  CHECK_FALSE(sent.mark_sent(item(payments, 10, "t")));  // the resume cursor covers it
  CHECK(sent.mark_sent(item(payments, 12, "t")));
  CHECK_FALSE(sent.mark_sent(item(payments, 12, "t")));  // a repeat (seam, relay retry)
  CHECK(sent.mark_sent(item(payments, 11, "t")));        // committed out of order: new
  // Each source has its own floor and positions.
  CHECK_FALSE(sent.mark_sent(item(workflows, 12, "t")));
  CHECK(sent.mark_sent(item(workflows, 21, "t")));
  // Beyond 2 remembered, the lowest is forgotten and the floor rises to it: still no repeat.
  CHECK(sent.mark_sent(item(payments, 15, "t")));
  CHECK_FALSE(sent.mark_sent(item(payments, 11, "t")));
  CHECK_FALSE(sent.mark_sent(item(payments, 12, "t")));
  CHECK_FALSE(sent.mark_sent(item(payments, 15, "t")));
  CHECK(sent.mark_sent(item(payments, 14, "t")));  // above the raised floor (11): new
}
