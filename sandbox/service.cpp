#include "sandbox/service.hpp"

#include <algorithm>
#include <vector>

#include "auth/secrets.hpp"
#include "domain/assert.hpp"
#include "domain/base64.hpp"
#include "logging/log.hpp"
#include "sandbox/form.hpp"

namespace tally::sandbox {

namespace {

using nlohmann::json;

constexpr std::size_t path_segments_max = 8;
constexpr std::size_t id_bytes_max = 64;

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t at = path.empty() || path[0] != '/' ? 0 : 1;
  while (at <= path.size() && segments.size() <= path_segments_max) {
    auto slash = path.find('/', at);
    if (slash == std::string_view::npos) {
      slash = path.size();
    }
    segments.emplace_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  if (!segments.empty() && segments.back().empty()) {
    segments.pop_back();  // a trailing slash
  }
  return segments;
}

// Ids the sandbox hands out are [a-z0-9_]; anything else cannot exist.
bool is_plausible_id(std::string_view id) {
  return !id.empty() && id.size() <= id_bytes_max && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

json ok_body() {
  return {{"status", "ok"}};
}

}  // namespace

bool is_authorized(std::optional<std::string_view> authorization, key_kind kind,
                   const std::string& configured) {
  if (kind == key_kind::none) {
    return true;
  }
  if (!authorization || authorization->size() < 6 ||
      lower(authorization->substr(0, 6)) != "basic ") {
    return false;
  }
  std::string_view encoded = authorization->substr(6);
  while (!encoded.empty() && encoded.front() == ' ') {
    encoded.remove_prefix(1);
  }
  const auto decoded = base64_decode(encoded, base64_padding::optional, base64_trailing_bits::any);
  if (!decoded) {
    return false;
  }
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    return false;
  }
  const std::string_view key = std::string_view(*decoded).substr(0, colon);
  if (!configured.empty()) {
    return auth::constant_time_equal(key, configured);
  }
  const std::string_view prefix = kind == key_kind::public_key ? "pkey_test_" : "skey_test_";
  return key.size() > prefix.size() && key.substr(0, prefix.size()) == prefix;
}

service::service(const settings& config, scheduler& delays, webhook_sender* sender, uint64_t seed)
    : config_(config), delays_(delays), sender_(sender), chaos_(config.chaos), random_(seed) {}

void service::open(std::string base_url) {
  state_options options;
  options.base_url = std::move(base_url);
  options.amount_min = config_.amount_min;
  options.promptpay_ttl_s = config_.promptpay_ttl_s;
  std::lock_guard<std::mutex> lock(state_mutex_);
  // Ids draw from their own stream so chaos draws do not shift them.
  state_.emplace(std::move(options), id_generator(random_() ^ 0x5eed));
}

int64_t service::now_s() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double service::draw() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void service::sweep() {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (!state_) {
      return;
    }
    state_->expire_due(now_s());
  }
  deliver_new_events();
}

void service::deliver_new_events() {
  std::vector<event_record> events;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    events = state_->take_new_events();
  }
  for (const auto& event : events) {
    log::info(
        "sandbox_event",
        {{"event_id", event.id}, {"key", event.key}, {"object_id", event.data.value("id", "")}});
    if (sender_ == nullptr ||
        (!config_.is_every_event_delivered && event.key != "charge.complete")) {
      continue;
    }
    delivery_fate fate;
    {
      std::lock_guard<std::mutex> lock(chaos_mutex_);
      const double drop_draw = draw();
      fate = decide_delivery(chaos_, drop_draw, draw());
    }
    sender_->enqueue(event.id, to_json(event).dump(), fate);
  }
}

void service::send(const http::exchange_ptr& ex, const reply& r, std::chrono::milliseconds delay) {
  std::string body = r.body.dump(-1, ' ', false, json::error_handler_t::replace);
  if (delay.count() <= 0) {
    return ex->respond(r.status, std::move(body));
  }
  delays_.after(delay, [ex, status = r.status, body = std::move(body)]() mutable {
    ex->respond(status, std::move(body));
  });
}

void service::dispatch(const http::exchange_ptr& ex) {
  TALLY_ASSERT(state_.has_value());  // open() runs before the server does
  const auto segments = split_path(ex->path());
  const std::string_view method = ex->method();
  const bool is_get = method == "GET";
  const bool is_post = method == "POST";
  const std::size_t count = segments.size();
  const std::string first = count > 0 ? segments[0] : "";
  auto with_id = [&](std::string_view route, std::size_t index) {
    ex->set_route(route);
    ex->set_params({{"id", segments[index]}});
    return is_plausible_id(segments[index]);
  };

  if (is_get && count == 2 && first == "health" &&
      (segments[1] == "live" || segments[1] == "ready")) {
    ex->set_route(segments[1] == "live" ? "/health/live" : "/health/ready");
    return send(ex, {200, ok_body()}, {});
  }
  if (first == "tokens") {
    if (is_post && count == 1) {
      ex->set_route("/tokens");
      return handle_api(ex, key_kind::public_key, &service::post_token);
    }
    if (is_get && count == 2 && with_id("/tokens/:id", 1)) {
      return handle_api(ex, key_kind::public_key, &service::get_token);
    }
  }
  if (first == "sources") {
    if (is_post && count == 1) {
      ex->set_route("/sources");
      return handle_api(ex, key_kind::public_key, &service::post_source);
    }
    if (is_get && count == 2 && with_id("/sources/:id", 1)) {
      return handle_api(ex, key_kind::secret_key, &service::get_source);
    }
  }
  if (first == "charges") {
    if (count == 1 && (is_post || is_get)) {
      ex->set_route("/charges");
      return handle_api(ex, key_kind::secret_key,
                        is_post ? &service::post_charge : &service::list_charges);
    }
    if (is_get && count == 2 && with_id("/charges/:id", 1)) {
      return handle_api(ex, key_kind::secret_key, &service::get_charge);
    }
    if (is_post && count == 3 && segments[2] == "refunds" && with_id("/charges/:id/refunds", 1)) {
      return handle_api(ex, key_kind::secret_key, &service::post_refund);
    }
    if (is_get && count == 6 && segments[2] == "documents" && segments[4] == "downloads") {
      ex->set_route("/charges/:id/documents/:document/downloads/:token");
      ex->set_params({{"id", segments[1]}, {"document", segments[3]}, {"token", segments[5]}});
      return serve_qr(ex);
    }
  }
  if (first == "events" && is_get && count == 2 && with_id("/events/:id", 1)) {
    return handle_api(ex, key_kind::secret_key, &service::get_event);
  }
  if (first == "sandbox") {
    if (count == 2 && segments[1] == "chaos" && (is_get || is_post)) {
      ex->set_route("/sandbox/chaos");
      return chaos_endpoint(ex);
    }
    if (is_post && count == 4 && segments[1] == "charges" && is_plausible_id(segments[2])) {
      ex->set_params({{"id", segments[2]}});
      if (segments[3] == "pay") {
        ex->set_route("/sandbox/charges/:id/pay");
        return settle_charge(ex, settlement::pay);
      }
      if (segments[3] == "fail") {
        ex->set_route("/sandbox/charges/:id/fail");
        return settle_charge(ex, settlement::fail);
      }
      if (segments[3] == "expire") {
        ex->set_route("/sandbox/charges/:id/expire");
        return settle_charge(ex, settlement::expire);
      }
    }
  }
  // Omise answers unknown paths and methods with a not_found error object.
  send(ex, {404, to_json(omise_error{404, "not_found", "path was not found"})}, {});
}

void service::handle_api(const http::exchange_ptr& ex, key_kind kind,
                         reply (service::*handler)(const http::exchange_ptr&)) {
  const std::string& key = kind == key_kind::public_key ? config_.public_key : config_.secret_key;
  if (!is_authorized(ex->header("authorization"), kind, key)) {
    return send(ex, {401, to_json(authentication_failure())}, {});
  }
  if (ex->param("id").size() > 0 && !is_plausible_id(ex->param("id"))) {
    return send(ex, {404, to_json(not_found("object", "?"))}, {});
  }
  request_fate fate;
  {
    std::lock_guard<std::mutex> lock(chaos_mutex_);
    const double fail_draw = draw();
    fate = decide_request(chaos_, fail_draw, draw());
  }
  if (fate.is_failed) {
    log::info("sandbox_chaos_failed", {{"route", std::string(ex->route())}});
    return send(ex, {500, to_json(internal_error())}, fate.delay);
  }
  const reply r = (this->*handler)(ex);
  deliver_new_events();
  if (fate.is_failed_after_effect) {
    log::info("sandbox_chaos_failed_after_effect",
              {{"route", std::string(ex->route())}, {"status", r.status}});
    return send(ex, {500, to_json(internal_error())}, fate.delay);
  }
  if (fate.is_held) {
    log::info("sandbox_chaos_held", {{"route", std::string(ex->route())},
                                     {"status", r.status},
                                     {"hold_ms", fate.delay.count()}});
  }
  send(ex, r, fate.delay);
}

namespace {

// The request body as one JSON object (form or JSON), or the Omise error.
result<json> decode_body(const http::exchange_ptr& ex) {
  std::string error;
  auto body = decode_request_body(ex->body(), ex->header("content-type").value_or(""), error);
  if (!body) {
    return bad_request("the request body is malformed: " + error);
  }
  return *body;
}

}  // namespace

service::reply service::post_token(const http::exchange_ptr& ex) {
  const auto body = decode_body(ex);
  if (!body) {
    return {body.error().status, to_json(body.error())};
  }
  const auto input = parse_card_input(*body);
  if (!input) {
    return {input.error().status, to_json(input.error())};
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto token = state_->create_token(*input, now_s());
  if (!token) {
    return {token.error().status, to_json(token.error())};
  }
  // The brand and outcome only: never the number (not even its last digits).
  log::info("sandbox_token_created",
            {{"token_id", token->id},
             {"brand", token->card.brand},
             {"outcome",
              token->card.outcome.is_success() ? "successful" : token->card.outcome.failure_code}});
  return {200, to_json(*token)};
}

service::reply service::get_token(const http::exchange_ptr& ex) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto token = state_->find_token(std::string(ex->param("id")));
  if (!token) {
    return {token.error().status, to_json(token.error())};
  }
  return {200, to_json(*token)};
}

service::reply service::post_source(const http::exchange_ptr& ex) {
  const auto body = decode_body(ex);
  if (!body) {
    return {body.error().status, to_json(body.error())};
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto source = state_->create_source(*body, now_s());
  if (!source) {
    return {source.error().status, to_json(source.error())};
  }
  return {200, to_json(*source, nullptr, state_->options().base_url)};
}

service::reply service::get_source(const http::exchange_ptr& ex) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto source = state_->find_source(std::string(ex->param("id")));
  if (!source) {
    return {source.error().status, to_json(source.error())};
  }
  return {200, to_json(*source, nullptr, state_->options().base_url)};
}

service::reply service::post_charge(const http::exchange_ptr& ex) {
  const auto body = decode_body(ex);
  if (!body) {
    return {body.error().status, to_json(body.error())};
  }
  const auto input = parse_charge_input(*body);
  if (!input) {
    return {input.error().status, to_json(input.error())};
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto charge = state_->create_charge(*input, now_s());
  if (!charge) {
    return {charge.error().status, to_json(charge.error())};
  }
  log::info("sandbox_charge_created", {{"charge_id", charge->id},
                                       {"status", to_string(charge->status)},
                                       {"amount", charge->amount},
                                       {"method", charge->card ? "card" : "promptpay"},
                                       {"failure_code", charge->failure_code}});
  return {200, to_json(*charge, state_->options().base_url)};
}

service::reply service::list_charges(const http::exchange_ptr& ex) {
  const auto query = parse_list_query([&](const char* name) { return ex->query(name); });
  if (!query) {
    return {query.error().status, to_json(query.error())};
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  return {200, state_->list_charges(*query, now_s())};
}

service::reply service::get_charge(const http::exchange_ptr& ex) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto charge = state_->find_charge(std::string(ex->param("id")), now_s());
  if (!charge) {
    return {charge.error().status, to_json(charge.error())};
  }
  return {200, to_json(*charge, state_->options().base_url)};
}

service::reply service::post_refund(const http::exchange_ptr& ex) {
  const auto body = decode_body(ex);
  if (!body) {
    return {body.error().status, to_json(body.error())};
  }
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto refund = state_->refund_charge(std::string(ex->param("id")), *body, now_s());
  if (!refund) {
    return {refund.error().status, to_json(refund.error())};
  }
  log::info(
      "sandbox_refund_created",
      {{"refund_id", refund->id}, {"charge_id", refund->charge_id}, {"amount", refund->amount}});
  return {200, to_json(*refund)};
}

service::reply service::get_event(const http::exchange_ptr& ex) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  const auto event = state_->find_event(std::string(ex->param("id")));
  if (!event) {
    return {event.error().status, to_json(event.error())};
  }
  return {200, to_json(*event)};
}

void service::settle_charge(const http::exchange_ptr& ex, settlement how) {
  if (!is_authorized(ex->header("authorization"), key_kind::secret_key, config_.secret_key)) {
    return send(ex, {401, to_json(authentication_failure())}, {});
  }
  const auto body = decode_body(ex);
  if (!body) {
    return send(ex, {body.error().status, to_json(body.error())}, {});
  }
  reply r;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    const auto charge = state_->settle(std::string(ex->param("id")), how,
                                       string_field(*body, "failure_code").value_or(""), now_s());
    r = charge ? reply{200, to_json(*charge, state_->options().base_url)}
               : reply{charge.error().status, to_json(charge.error())};
    if (charge) {
      log::info("sandbox_charge_settled",
                {{"charge_id", charge->id}, {"status", to_string(charge->status)}});
    }
  }
  deliver_new_events();
  send(ex, r, {});
}

void service::chaos_endpoint(const http::exchange_ptr& ex) {
  if (!is_authorized(ex->header("authorization"), key_kind::secret_key, config_.secret_key)) {
    return send(ex, {401, to_json(authentication_failure())}, {});
  }
  if (ex->method() == "GET") {
    std::lock_guard<std::mutex> lock(chaos_mutex_);
    return send(ex, {200, to_json(chaos_)}, {});
  }
  const auto update = json::parse(ex->body(), nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> errors;
  json current;
  {
    std::lock_guard<std::mutex> lock(chaos_mutex_);
    if (update.is_discarded()) {
      errors.push_back("the body must be JSON");
    } else {
      apply_chaos_update(update, chaos_, errors);
    }
    current = to_json(chaos_);
  }
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) {
      message += (message.empty() ? "" : "; ") + e;
    }
    return send(ex, {400, to_json(bad_request(message))}, {});
  }
  log::info("sandbox_chaos_changed", {{"chaos", current}});
  send(ex, {200, current}, {});
}

void service::serve_qr(const http::exchange_ptr& ex) {
  std::string svg;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    const auto* charge = state_->charge_for_document(std::string(ex->param("id")),
                                                     std::string(ex->param("document")),
                                                     std::string(ex->param("token")));
    if (charge != nullptr) {
      svg = qr_placeholder_svg(charge->id);
    }
  }
  if (svg.empty()) {
    return send(ex, {404, to_json(not_found("document", ex->param("document")))}, {});
  }
  ex->respond(200, std::move(svg), "image/svg+xml");
}

void service::completed(const http::request_data& request, std::string_view route,
                        const std::string& request_id, const std::string&, int status,
                        double duration_s) {
  if (!log::enabled(log::level::info)) {
    return;
  }
  log::info("sandbox_access", {{"method", request.method},
                               {"route", route.empty() ? "unmatched" : std::string(route)},
                               {"status", status},
                               {"duration_ms", duration_s * 1000.0},
                               {"request_id", request_id}});
}

}  // namespace tally::sandbox
