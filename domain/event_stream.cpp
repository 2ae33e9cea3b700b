#include "domain/event_stream.hpp"

#include <algorithm>
#include <limits>

#include "domain/assert.hpp"
#include "domain/error.hpp"

namespace tally {
namespace {

constexpr std::string_view cursor_version = "1";
constexpr char cursor_separator = '-';
constexpr std::size_t cursor_fields = 4;  // version + one position per source
constexpr std::size_t position_digits_max = 19;
constexpr std::size_t sequence_digits_max = 20;

// A non-negative decimal without leading zeros that fits an int64; nullopt otherwise.
std::optional<int64_t> parse_position(std::string_view digits) {
  if (digits.empty() || digits.size() > position_digits_max ||
      (digits.size() > 1 && digits.front() == '0')) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

// A CloudEvent sequence: 1..20 digits, zero-padded (format_sequence); nullopt otherwise.
std::optional<int64_t> parse_sequence(std::string_view digits) {
  if (digits.empty() || digits.size() > sequence_digits_max) {
    return std::nullopt;
  }
  const auto first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) {
    return int64_t{0};
  }
  return parse_position(digits.substr(first));
}

std::optional<stream_source> source_of(std::string_view source) {
  if (source == ledger_event_source) {
    return stream_source::ledger;
  }
  if (source == payments_event_source) {
    return stream_source::payments;
  }
  if (source == workflows_event_source) {
    return stream_source::workflows;
  }
  return std::nullopt;
}

int64_t& position_ref(stream_cursor& cursor, stream_source source) {
  switch (source) {
    case stream_source::ledger:
      return cursor.ledger;
    case stream_source::payments:
      return cursor.payments;
    case stream_source::workflows:
      return cursor.workflows;
  }
  TALLY_ASSERT(false);
  return cursor.ledger;
}

stream_source checked_source(const stream_item& item) {
  TALLY_ASSERT(item.source < stream_source_count);
  return static_cast<stream_source>(item.source);
}

}  // namespace

int64_t position_in(const stream_cursor& cursor, stream_source source) {
  stream_cursor copy = cursor;
  return position_ref(copy, source);
}

std::string format_stream_cursor(const stream_cursor& cursor) {
  TALLY_ASSERT(cursor.ledger >= 0);
  TALLY_ASSERT(cursor.payments >= 0);
  TALLY_ASSERT(cursor.workflows >= 0);
  std::string text(cursor_version);
  for (int64_t position : {cursor.ledger, cursor.payments, cursor.workflows}) {
    text += cursor_separator;
    text += std::to_string(position);
  }
  return text;
}

caf::expected<stream_cursor> parse_stream_cursor(std::string_view text) {
  if (text.empty() || text.size() > stream_cursor_chars_max) {
    return caf::make_error(errc::invalid_cursor);
  }
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (fields.size() <= cursor_fields) {
    const std::size_t end = text.find(cursor_separator, start);
    fields.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  if (fields.size() != cursor_fields || fields[0] != cursor_version) {
    return caf::make_error(errc::invalid_cursor);
  }
  const auto ledger = parse_position(fields[1]);
  const auto payments = parse_position(fields[2]);
  const auto workflows = parse_position(fields[3]);
  if (!ledger || !payments || !workflows) {
    return caf::make_error(errc::invalid_cursor);
  }
  return stream_cursor{*ledger, *payments, *workflows};
}

int64_t ledger_seq_to_read_after(const stream_cursor& cursor) {
  TALLY_ASSERT(cursor.ledger >= 0);
  return std::max<int64_t>(0, cursor.ledger / ledger_sequence_per_entry - 1);
}

int64_t ledger_position_after_entry(int64_t seq) {
  TALLY_ASSERT(seq >= 0);
  TALLY_ASSERT(seq <= std::numeric_limits<int64_t>::max() / ledger_sequence_per_entry - 1);
  if (seq == 0) {
    return 0;
  }
  return seq * ledger_sequence_per_entry + (ledger_sequence_per_entry - 1);
}

std::optional<stream_item> stream_item_of(const cloud_event& event) {
  const auto source = source_of(event.source);
  const auto position = parse_sequence(event.sequence);
  if (!source || !position) {
    return std::nullopt;
  }
  stream_item item;
  item.source = static_cast<uint8_t>(*source);
  item.position = *position;
  item.event_id = event.id;
  item.type = event.type;
  item.time = event.time;
  item.envelope = to_structured_json(event);
  return item;
}

bool is_covered(const stream_cursor& cursor, const stream_item& item) {
  return item.position <= position_in(cursor, checked_source(item));
}

void advance(stream_cursor& cursor, const stream_item& item) {
  TALLY_ASSERT(item.position >= 0);
  int64_t& position = position_ref(cursor, checked_source(item));
  position = std::max(position, item.position);
  TALLY_ASSERT(position >= item.position);
}

bool follows_without_gap(const stream_cursor& cursor, const stream_item& item) {
  TALLY_ASSERT(checked_source(item) == stream_source::ledger);
  const int64_t last_seq = cursor.ledger / ledger_sequence_per_entry;
  return item.position / ledger_sequence_per_entry <= last_seq + 1;
}

sent_outbox_events::sent_outbox_events(std::size_t remembered_max)
    : remembered_max_(remembered_max) {
  TALLY_ASSERT(remembered_max >= 1);
}

void sent_outbox_events::set_floor(const stream_cursor& floor) {
  TALLY_ASSERT(payments_.above.empty() && workflows_.above.empty());
  payments_.floor = floor.payments;
  workflows_.floor = floor.workflows;
}

sent_outbox_events::per_source& sent_outbox_events::of(const stream_item& item) {
  const stream_source source = checked_source(item);
  TALLY_ASSERT(source != stream_source::ledger);
  return source == stream_source::payments ? payments_ : workflows_;
}

bool sent_outbox_events::mark_sent(const stream_item& item) {
  per_source& sent = of(item);
  if (item.position <= sent.floor || !sent.above.insert(item.position).second) {
    return false;
  }
  if (sent.above.size() > remembered_max_) {
    sent.floor = *sent.above.begin();
    sent.above.erase(sent.above.begin());
  }
  TALLY_ASSERT(sent.above.size() <= remembered_max_);
  return true;
}

std::vector<stream_item> interleave_by_time(std::vector<std::vector<stream_item>> lists) {
  std::size_t total = 0;
  for (const auto& list : lists) {
    total += list.size();
  }
  std::vector<stream_item> out;
  out.reserve(total);
  std::vector<std::size_t> next(lists.size(), 0);
  while (out.size() < total) {
    // The earliest head; on a tie, the list named first (ledger before payments, ...).
    std::size_t best = lists.size();
    for (std::size_t i = 0; i < lists.size(); ++i) {
      if (next[i] < lists[i].size() &&
          (best == lists.size() || lists[i][next[i]].time < lists[best][next[best]].time)) {
        best = i;
      }
    }
    TALLY_ASSERT(best < lists.size());
    out.push_back(std::move(lists[best][next[best]++]));
  }
  return out;
}

std::string sse_event_frame(std::string_view cursor_text, const stream_item& item) {
  // A line break inside a field would end it early: ids are digits and dashes, types are
  // known_event_types(), and the envelope is JSON dumped on one line (escapes, no raw '\n').
  TALLY_ASSERT(item.envelope.find('\n') == std::string::npos);
  TALLY_ASSERT(item.type.find('\n') == std::string::npos);
  std::string frame;
  frame.reserve(cursor_text.size() + item.type.size() + item.envelope.size() + 24);
  frame.append("id: ").append(cursor_text).append("\nevent: ").append(item.type);
  frame.append("\ndata: ").append(item.envelope).append("\n\n");
  return frame;
}

std::string sse_open_frame(int64_t retry_ms, std::string_view cursor_text) {
  TALLY_ASSERT(retry_ms >= 0);
  std::string frame = "retry: " + std::to_string(retry_ms) + "\nid: ";
  frame.append(cursor_text).append("\n\n");
  return frame;
}

}  // namespace tally
