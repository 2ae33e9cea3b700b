// GET /v1/events/stream (API.md "Events", docs/events.md "The live stream"): the caller's own
// CloudEvents as Server-Sent Events, each with the resume cursor as its `id:`.
//
// One stream_session per open stream, living on its connection's io thread:
//
//   opening ──(reader: head, or first page after Last-Event-ID)──> catching_up <──> live
//      │ 429 over the per-user cap;                 │  ^ more pages, or the live   │
//      │ 503 over the total cap;                    │  | queue overflowed          │
//      │ the reader's error as a problem            └──┘                           v
//      v                                closed <── client gone, write timeout, token expiry,
//   (answered)                                     live queue overflow, server shutdown
//
// The session subscribes to the hub *before* its first read, so an event committed after a
// read's snapshot is published after it and waits in the queue: catch-up and live meet
// without a gap. Queued events the read already covered are dropped at the seam: ledger
// events by position (gapless and ordered per account), outbox events by position against
// what was sent (sent_outbox_events: their row ids may commit out of order). While catching
// up, an overflowing queue is emptied and the next read covers what it held; once live, an
// overflow ends the stream (the client resumes).
//
// The hub only carries what this node's relays publish; with several engine nodes, another
// node's relay may publish some batches. So live goes back to catching_up (a read from the
// cursor) when a ledger event does not follow the cursor without a gap, and once every
// heartbeat period anyway (for outbox events, whose ids have gaps, and for a last event
// published elsewhere).

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain/assert.hpp"
#include "domain/event_stream.hpp"
#include "http/bridge.hpp"
#include "http/event_hub.hpp"
#include "http/problem.hpp"
#include "http/routes/route_files.hpp"
#include "logging/log.hpp"

namespace tally::http {
namespace {

// Rows per source in one catch-up read (a ledger row yields up to three events).
constexpr int32_t catch_up_rows_max = 200;
// The reconnection delay the stream asks EventSource clients to use (SSE `retry:`).
constexpr int64_t reconnect_delay_ms = 2'000;
// Outbox positions remembered per source and stream above its floor (sent_outbox_events).
constexpr std::size_t sent_outbox_remembered_max = 1'024;
// Retry-After of the 429 (a user at the per-user cap) and the 503 (the node at its total cap).
constexpr const char* over_cap_retry_after_s = "5";
constexpr const char* heartbeat_frame = ": ping\n\n";

int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class stream_session final : public event_subscriber,
                             public std::enable_shared_from_this<stream_session> {
 public:
  stream_session(std::shared_ptr<const stream_routes_deps> deps, exchange_ptr ex,
                 std::optional<stream_cursor> resume)
      : deps_owner_(std::move(deps)),
        deps_(*deps_owner_),
        ex_(std::move(ex)),
        user_id_(ex_->caller().user_id),
        is_from_head_(!resume),
        cursor_(resume.value_or(stream_cursor{})) {}

  // io thread: joins the hub (or answers 429 or 503), then asks for the first read.
  void start() {
    switch (deps_.hub->subscribe(user_id_, shared_from_this())) {
      case subscribe_outcome::subscribed:
        return request_page();
      case subscribe_outcome::over_user_cap:
        ex_->add_response_header("Retry-After", over_cap_retry_after_s);
        return ex_->respond_error(errc::rate_limited,
                                  "At most " + std::to_string(deps_.hub->per_user_max()) +
                                      " event streams may be open per user; close one or retry "
                                      "later.");
      case subscribe_outcome::over_total_cap:
        ex_->add_response_header("Retry-After", over_cap_retry_after_s);
        return ex_->respond_error(errc::overloaded,
                                  "This node serves as many event streams as it may; retry "
                                  "later.");
    }
  }

  // A relay's thread: queue, and have the io thread look when it is live.
  void on_events(const std::vector<stream_item_ptr>& items) override {
    bool should_post = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (is_closed_) {
        return;
      }
      for (const auto& item : items) {
        if (queue_.size() >= deps_.queue_max) {
          queue_.clear();  // catching up: the next read covers them; live: the stream ends
          is_overflowed_ = true;
        }
        queue_.push_back(item);
      }
      should_post = !is_drain_posted_;
      is_drain_posted_ = true;
    }
    if (should_post) {
      ex_->post([self = shared_from_this()] { self->on_queue_posted(); });
    }
  }

 private:
  enum class phase { opening, catching_up, live, closed };

  void request_page() {
    TALLY_ASSERT(!is_page_in_flight_);
    is_page_in_flight_ = true;
    stream_query query{user_id_, cursor_, catch_up_rows_max,
                       is_from_head_ && phase_ == phase::opening};
    ask<stream_page>(
        *deps_.sys, deps_.reader, deps_.timeout, ex_,
        [self = shared_from_this()](caf::expected<stream_page> page) {
          self->on_page(std::move(page));
        },
        sseread_atom_v, std::move(query));
  }

  void on_page(caf::expected<stream_page> page) {
    is_page_in_flight_ = false;
    const bool was_periodic = is_periodic_read_;
    is_periodic_read_ = false;
    if (phase_ == phase::closed) {
      return;
    }
    if (!page) {
      if (phase_ == phase::opening) {  // nothing sent yet: the client gets a problem
        phase_ = phase::closed;
        deps_.hub->unsubscribe(user_id_, this);
        return ex_->respond_error(page.error());
      }
      if (was_periodic) {  // nothing known to be missing: live on, the next period retries
        phase_ = phase::live;
        return drain();
      }
      return stream_->close();  // the client resumes from the last id it got
    }
    if (phase_ == phase::opening) {
      open(*page);
    }
    has_more_ = page->has_more;
    send_items(page->items);
    if (!stream_->is_writing()) {
      on_idle();
    }
  }

  // Sends the response head and the opening frame (reconnect delay, starting cursor).
  void open(const stream_page& first) {
    if (is_from_head_) {
      cursor_ = first.head;
    }
    // Outbox events at or below the starting cursor were sent before (a resume) or are older
    // than the stream (the head): never send them, whatever the queue holds.
    sent_outbox_.set_floor(cursor_);
    response_data head;
    head.status = 200;
    head.content_type = "text/event-stream";
    head.headers = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
    stream_options options;
    options.heartbeat = deps_.heartbeat;
    options.heartbeat_bytes = heartbeat_frame;
    // The stream ends when the access token does; the client reconnects with a fresh one.
    options.close_at = std::chrono::steady_clock::now() +
                       std::chrono::seconds(ex_->caller().expires_at_s - unix_now_s());
    options.on_idle = [self = shared_from_this()] { self->on_idle(); };
    options.on_heartbeat = [self = shared_from_this()] { self->on_heartbeat(); };
    options.on_closed = [self = shared_from_this()] { self->on_closed(); };
    stream_ = ex_->start_stream(std::move(head), std::move(options));
    phase_ = phase::catching_up;
    stream_->write(sse_open_frame(reconnect_delay_ms, format_stream_cursor(cursor_)));
  }

  // Everything written: read on, go live, or send what the queue holds.
  void on_idle() {
    if (phase_ == phase::catching_up) {
      if (is_page_in_flight_) {
        return;
      }
      if (has_more_ || take_overflow()) {
        has_more_ = false;
        return request_page();
      }
      phase_ = phase::live;
    }
    if (phase_ == phase::live) {
      drain();
    }
  }

  // Every heartbeat period while live: read from the cursor, for what another node's relay
  // published (the hub never sees it). What was sent already is dropped as at the seam.
  void on_heartbeat() {
    if (phase_ != phase::live || is_page_in_flight_) {
      return;
    }
    phase_ = phase::catching_up;
    is_periodic_read_ = true;
    request_page();
  }

  void on_queue_posted() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      is_drain_posted_ = false;
    }
    if (phase_ == phase::live) {
      drain();
    }
  }

  // Live: sends the queued events, unless a write is still in flight (on_idle comes back).
  void drain() {
    if (!stream_->is_open() || stream_->is_writing()) {
      return;
    }
    std::deque<stream_item_ptr> items;
    bool is_overflowed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items.swap(queue_);
      is_overflowed = is_overflowed_;
    }
    if (is_overflowed) {
      log::info("event_stream_overflow", {{"user_id", user_id_},
                                          {"queue_max", deps_.queue_max},
                                          {"request_id", ex_->request_id()}});
      return stream_->close();
    }
    std::string frames;
    bool has_gap = false;
    for (const auto& item : items) {
      // A ledger event beyond the next entry: the entries between were published by another
      // node. Neither send it nor move the cursor past them; the read below returns them and
      // it (and any later ledger event of this batch: the cursor did not move, so they are
      // skipped the same way). Outbox events of the batch are sent as usual.
      if (item->source == static_cast<uint8_t>(stream_source::ledger) &&
          !is_covered(cursor_, *item) && !follows_without_gap(cursor_, *item)) {
        has_gap = true;
        continue;
      }
      frames += frame_if_new(*item);
    }
    if (!frames.empty()) {
      stream_->write(std::move(frames));
    }
    if (has_gap) {  // live never has a read in flight (on_heartbeat leaves live for one)
      log::debug("event_stream_gap", {{"user_id", user_id_}, {"request_id", ex_->request_id()}});
      phase_ = phase::catching_up;
      request_page();
    }
  }

  void send_items(const std::vector<stream_item>& items) {
    std::string frames;
    for (const auto& item : items) {
      frames += frame_if_new(item);
    }
    if (!frames.empty()) {
      stream_->write(std::move(frames));
    }
  }

  // The frame for `item` with the cursor moved past it, or "" when it was sent already.
  std::string frame_if_new(const stream_item& item) {
    if (item.source == static_cast<uint8_t>(stream_source::ledger)) {
      if (is_covered(cursor_, item)) {
        return {};
      }
    } else if (!sent_outbox_.mark_sent(item)) {
      return {};
    }
    advance(cursor_, item);
    return sse_event_frame(format_stream_cursor(cursor_), item);
  }

  // True (once) when the queue overflowed since the last look.
  bool take_overflow() {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was = is_overflowed_;
    is_overflowed_ = false;
    return was;
  }

  void on_closed() {
    phase_ = phase::closed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      is_closed_ = true;
      queue_.clear();
    }
    deps_.hub->unsubscribe(user_id_, this);
    stream_.reset();
  }

  const std::shared_ptr<const stream_routes_deps> deps_owner_;
  const stream_routes_deps& deps_;
  const exchange_ptr ex_;  // never reset: relay threads post through it
  const std::string user_id_;
  const bool is_from_head_;

  // io thread only.
  phase phase_ = phase::opening;
  std::shared_ptr<response_stream> stream_;
  stream_cursor cursor_;  // of the last event sent
  sent_outbox_events sent_outbox_{sent_outbox_remembered_max};
  bool is_page_in_flight_ = false;
  bool is_periodic_read_ = false;  // the read in flight is on_heartbeat's
  bool has_more_ = false;

  // Shared with the relays' threads.
  std::mutex mutex_;
  std::deque<stream_item_ptr> queue_;  // guarded by mutex_; at most deps_.queue_max
  bool is_overflowed_ = false;         // guarded by mutex_
  bool is_drain_posted_ = false;       // guarded by mutex_
  bool is_closed_ = false;             // guarded by mutex_
};

// Last-Event-ID (or ?last_event_id= for clients that cannot set headers): nullopt when
// absent or empty; errc::invalid_cursor when it does not parse.
caf::expected<std::optional<stream_cursor>> resume_cursor(const exchange_ptr& ex) {
  std::string text;
  if (auto header = ex->header("last-event-id")) {
    text = std::string(*header);
  } else if (auto query = ex->query("last_event_id")) {
    text = *query;
  }
  if (text.empty()) {
    return std::optional<stream_cursor>{};
  }
  auto cursor = parse_stream_cursor(text);
  if (!cursor) {
    return cursor.error();
  }
  return std::optional<stream_cursor>{*cursor};
}

void get_stream(const std::shared_ptr<const stream_routes_deps>& deps, const exchange_ptr& ex) {
  TALLY_ASSERT(deps->hub != nullptr);
  auto resume = resume_cursor(ex);
  if (!resume) {
    return ex->respond_error(errc::invalid_cursor, "Last-Event-ID is not an id this stream sent.");
  }
  std::make_shared<stream_session>(deps, ex, *resume)->start();
}

}  // namespace

void add_stream_routes(route_table& table, stream_routes_deps deps) {
  auto shared = std::make_shared<const stream_routes_deps>(std::move(deps));
  table.add({"GET", "/v1/events/stream", auth_kind::user, body_kind::none, rate_policy::none,
             [shared](const exchange_ptr& ex) { get_stream(shared, ex); }});
}

}  // namespace tally::http
