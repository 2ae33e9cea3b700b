#include "sandbox/state.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "domain/assert.hpp"
#include "domain/time_format.hpp"
#include "sandbox/cards.hpp"
#include "sandbox/form.hpp"
#include "sandbox/limits.hpp"

namespace tally::sandbox {

namespace {

using nlohmann::json;

constexpr std::string_view id_alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

bool is_known_failure(std::string_view code) {
  return !failure_message_for(code).empty();
}

// Year and month (1..12) of a Unix time, UTC.
std::pair<int64_t, int64_t> year_month(int64_t unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return {tm.tm_year + 1900, tm.tm_mon + 1};
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<int64_t> digits_at(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return std::nullopt;
    }
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

result<std::string> bounded_text(const json& body, std::string_view name) {
  auto value = string_field(body, name);
  if (!value) {
    return std::string();
  }
  if (value->size() > limits::text_bytes_max) {
    return invalid_charge(std::string(name) + " is too long");
  }
  return *value;
}

result<json> parse_metadata(const json& body) {
  const auto it = body.find("metadata");
  if (it == body.end() || it->is_null()) {
    return json::object();
  }
  if (!it->is_object()) {
    return invalid_charge("metadata must be an object");
  }
  if (it->size() > limits::metadata_keys_max) {
    return invalid_charge("metadata has too many keys");
  }
  if (it->dump().size() > limits::text_bytes_max * 4) {
    return invalid_charge("metadata is too large");
  }
  return *it;
}

}  // namespace

std::string id_generator::next(std::string_view prefix) {
  std::string id(prefix);
  std::uniform_int_distribution<std::size_t> pick(0, id_alphabet.size() - 1);
  for (int i = 0; i < 19; ++i) {
    id.push_back(id_alphabet[pick(random_)]);
  }
  return id;
}

std::optional<int64_t> parse_iso8601_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]
  const auto year = digits_at(text, 0, 4);
  const auto month = digits_at(text, 5, 2);
  const auto day = digits_at(text, 8, 2);
  const auto hour = digits_at(text, 11, 2);
  const auto minute = digits_at(text, 14, 2);
  const auto second = digits_at(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  std::size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ++at;
    }
    if (at == start) {
      return std::nullopt;
    }
  }
  const std::string_view zone = text.substr(at);
  if (zone != "Z" && zone != "z" && zone != "+00:00" && zone != "-00:00" && !zone.empty()) {
    return std::nullopt;  // the engine sends UTC; other offsets are not worth the code
  }
  return days_from_civil(*year, *month, *day) * 86'400 + *hour * 3'600 + *minute * 60 + *second;
}

result<card_input> parse_card_input(const json& body) {
  const auto card = body.find("card");
  if (card == body.end() || !card->is_object()) {
    return invalid_card("card is required");
  }
  card_input input;
  input.number = string_field(*card, "number").value_or("");
  input.name = string_field(*card, "name").value_or("");
  input.city = string_field(*card, "city").value_or("");
  input.postal_code = string_field(*card, "postal_code").value_or("");
  input.expiration_month = integer_field(*card, "expiration_month");
  input.expiration_year = integer_field(*card, "expiration_year");
  if (input.name.empty()) {
    return invalid_card("name can't be blank");
  }
  if (input.name.size() > limits::text_bytes_max || input.city.size() > limits::text_bytes_max ||
      input.postal_code.size() > limits::text_bytes_max) {
    return invalid_card("a card field is too long");
  }
  if (!input.expiration_month || !input.expiration_year) {
    return invalid_card("expiration month and year are required");
  }
  return input;
}

result<charge_input> parse_charge_input(const json& body) {
  charge_input input;
  const auto amount = integer_field(body, "amount");
  if (!amount) {
    return invalid_charge("amount must be an integer");
  }
  if (*amount <= 0) {
    return invalid_charge("amount must be greater than 0");
  }
  if (*amount > limits::amount_max) {
    return invalid_charge("amount must be less than " + std::to_string(limits::amount_max + 1));
  }
  input.amount = *amount;
  input.currency = upper(string_field(body, "currency").value_or(""));
  if (input.currency.empty()) {
    return invalid_charge("currency is required");
  }
  if (bool_field(body, "capture") == std::optional<bool>(false)) {
    return invalid_charge("the sandbox captures every charge: capture=false is not supported");
  }
  input.card_token = string_field(body, "card").value_or("");
  if (const auto source = body.find("source"); source != body.end() && !source->is_null()) {
    if (source->is_object()) {
      input.inline_source_type = string_field(*source, "type").value_or("");
      if (input.inline_source_type.empty()) {
        return invalid_charge("source type is required");
      }
    } else {
      input.source_id = string_field(body, "source").value_or("");
    }
  }
  const bool has_source = !input.source_id.empty() || !input.inline_source_type.empty();
  if (input.card_token.empty() == !has_source) {
    return invalid_charge("exactly one of card or source is required");
  }
  for (auto [field, target] :
       {std::pair{"description", &input.description}, std::pair{"return_uri", &input.return_uri},
        std::pair{"ip", &input.ip}}) {
    auto text = bounded_text(body, field);
    if (!text) {
      return text.error();
    }
    *target = *text;
  }
  auto metadata = parse_metadata(body);
  if (!metadata) {
    return metadata.error();
  }
  input.metadata = *metadata;
  return input;
}

result<list_query> parse_list_query_values(const std::optional<std::string>& from,
                                           const std::optional<std::string>& to,
                                           const std::optional<std::string>& order,
                                           const std::optional<std::string>& limit,
                                           const std::optional<std::string>& offset) {
  list_query query;
  if (from && !from->empty()) {
    auto parsed = parse_iso8601_utc(*from);
    if (!parsed) {
      return bad_request("from is not an ISO 8601 time");
    }
    query.from_s = *parsed;
  }
  if (to && !to->empty()) {
    auto parsed = parse_iso8601_utc(*to);
    if (!parsed) {
      return bad_request("to is not an ISO 8601 time");
    }
    query.to_s = *parsed;
  }
  if (order && !order->empty()) {
    if (*order == "reverse_chronological") {
      query.is_newest_first = true;
    } else if (*order != "chronological") {
      return bad_request("order must be chronological or reverse_chronological");
    }
  }
  const json numbers = {{"limit", limit.value_or("")}, {"offset", offset.value_or("")}};
  if (limit && !limit->empty()) {
    auto value = integer_field(numbers, "limit");
    if (!value || *value < 1 || *value > limits::list_limit_max) {
      return bad_request("limit must be between 1 and " + std::to_string(limits::list_limit_max));
    }
    query.limit = static_cast<uint32_t>(*value);
  }
  if (offset && !offset->empty()) {
    auto value = integer_field(numbers, "offset");
    if (!value || *value < 0 || *value > static_cast<int64_t>(limits::charges_max)) {
      return bad_request("offset is out of range");
    }
    query.offset = static_cast<uint32_t>(*value);
  }
  return query;
}

sandbox_state::sandbox_state(state_options options, id_generator ids)
    : options_(std::move(options)), ids_(std::move(ids)) {
  TALLY_ASSERT(options_.amount_min >= 1);
  TALLY_ASSERT(options_.promptpay_ttl_s >= 1);
}

template <class Record>
void sandbox_state::insert_bounded(table<Record>& into, const std::string& id, Record record,
                                   std::size_t max) {
  TALLY_ASSERT(into.by_id.count(id) == 0);
  while (into.by_id.size() >= max) {
    into.by_id.erase(into.order.front());
    into.order.pop_front();
  }
  into.by_id.emplace(id, std::move(record));
  into.order.push_back(id);
  TALLY_ASSERT(into.by_id.size() <= max);
  TALLY_ASSERT(into.order.size() == into.by_id.size());
}

result<token_record> sandbox_state::create_token(const card_input& input, int64_t now_s) {
  const auto digits = normalize_card_number(input.number);
  if (!digits || !passes_luhn(*digits)) {
    return invalid_card("number is invalid");
  }
  const std::string brand = card_brand(*digits);
  if (brand.empty()) {
    return invalid_card("brand not supported (unknown)");
  }
  const int64_t month = input.expiration_month.value_or(0);
  const int64_t year = input.expiration_year.value_or(0);
  if (month < 1 || month > 12 || year < 1970 || year > 9999) {
    return invalid_card("expiration date is invalid");
  }
  const auto [this_year, this_month] = year_month(now_s);
  if (year < this_year || (year == this_year && month < this_month)) {
    return invalid_card("expiration date cannot be in the past");
  }
  token_record token;
  token.id = ids_.next("tokn_test_");
  token.created_at_s = now_s;
  token.card.id = ids_.next("card_test_");
  token.card.brand = brand;
  token.card.last_digits = digits->substr(digits->size() - 4);
  token.card.name = input.name;
  token.card.city = input.city;
  token.card.postal_code = input.postal_code;
  token.card.expiration_month = static_cast<int>(month);
  token.card.expiration_year = static_cast<int>(year);
  // Not derived from the number: nothing here may let the number be recovered.
  token.card.fingerprint = ids_.next("");
  token.card.outcome = outcome_for_card(*digits);
  token.card.created_at_s = now_s;
  insert_bounded(tokens_, token.id, token, limits::tokens_max);
  return token;
}

result<token_record> sandbox_state::find_token(const std::string& id) const {
  const auto it = tokens_.by_id.find(id);
  if (it == tokens_.by_id.end()) {
    return not_found("token", id);
  }
  return it->second;
}

result<source_record> sandbox_state::create_source(const json& body, int64_t now_s) {
  const auto type = string_field(body, "type").value_or("");
  if (type != "promptpay") {
    return bad_request("type is not supported by the sandbox (only promptpay)");
  }
  const auto amount = integer_field(body, "amount");
  if (!amount || *amount < options_.amount_min || *amount > limits::amount_max) {
    return invalid_charge("amount must be at least " + std::to_string(options_.amount_min));
  }
  const std::string currency = upper(string_field(body, "currency").value_or(""));
  if (currency != "THB") {
    return invalid_charge("currency is currently not supported");
  }
  source_record source;
  source.id = ids_.next("src_test_");
  source.type = type;
  source.amount = *amount;
  source.currency = currency;
  source.created_at_s = now_s;
  insert_bounded(sources_, source.id, source, limits::sources_max);
  return source;
}

result<source_record> sandbox_state::find_source(const std::string& id) const {
  const auto it = sources_.by_id.find(id);
  if (it == sources_.by_id.end()) {
    return not_found("source", id);
  }
  return it->second;
}

result<charge_record> sandbox_state::create_charge(const charge_input& input, int64_t now_s) {
  if (input.amount < options_.amount_min) {
    return invalid_charge("amount must be at least " + std::to_string(options_.amount_min));
  }
  if (input.currency != "THB") {
    return invalid_charge("currency is currently not supported");
  }
  charge_record charge;
  charge.amount = input.amount;
  charge.currency = input.currency;
  charge.description = input.description;
  charge.metadata = input.metadata;
  charge.return_uri = input.return_uri;
  charge.ip = input.ip;
  charge.created_at_s = now_s;
  token_record* token = nullptr;
  source_record* source = nullptr;
  if (!input.card_token.empty()) {
    const auto it = tokens_.by_id.find(input.card_token);
    if (it == tokens_.by_id.end()) {
      return not_found("token", input.card_token);
    }
    if (it->second.is_used) {
      return used_token();
    }
    token = &it->second;
    charge.card = token->card;
  } else if (!input.source_id.empty()) {
    const auto it = sources_.by_id.find(input.source_id);
    if (it == sources_.by_id.end()) {
      return not_found("source", input.source_id);
    }
    if (it->second.is_used) {
      return invalid_charge("source was already used for a charge");
    }
    if (it->second.amount != input.amount || it->second.currency != input.currency) {
      return invalid_charge("amount and currency must match the source's");
    }
    source = &it->second;
    charge.source = *source;
  } else {
    if (input.inline_source_type != "promptpay") {
      return invalid_charge("source type is not supported by the sandbox (only promptpay)");
    }
    source_record inline_source;
    inline_source.id = ids_.next("src_test_");
    inline_source.amount = input.amount;
    inline_source.currency = input.currency;
    inline_source.created_at_s = now_s;
    inline_source.is_used = true;
    charge.source = inline_source;
  }
  // Nothing below refuses: the token or source is spent only on success.
  charge.id = ids_.next("chrg_test_");
  if (token != nullptr) {
    token->is_used = true;
    charge.expires_at_s = now_s + options_.card_charge_ttl_s;
    if (token->card.outcome.is_success()) {
      charge.status = charge_status::successful;
      charge.transaction = ids_.next("trxn_test_");
      charge.paid_at_s = now_s;
    } else {
      charge.status = charge_status::failed;
      charge.failure_code = token->card.outcome.failure_code;
      charge.failure_message = token->card.outcome.failure_message;
    }
  } else {
    if (source != nullptr) {
      source->is_used = true;
      charge.source->is_used = true;
    }
    charge.status = charge_status::pending;
    charge.document_id = ids_.next("docu_test_");
    charge.download_token = ids_.next("");
    charge.expires_at_s = now_s + options_.promptpay_ttl_s;
  }
  record_event("charge.create", to_json(charge, options_.base_url), now_s);
  if (charge.is_final()) {
    record_event("charge.complete", to_json(charge, options_.base_url), now_s);
  } else {
    pending_ids_.insert(charge.id);
  }
  insert_bounded(charges_, charge.id, charge, limits::charges_max);
  return charge;
}

void sandbox_state::record_event(std::string key, json data, int64_t now_s) {
  event_record event;
  event.id = ids_.next("evnt_test_");
  event.key = std::move(key);
  event.created_at_s = now_s;
  event.data = std::move(data);
  insert_bounded(events_, event.id, event, limits::events_max);
  if (new_events_.size() >= limits::events_max) {
    new_events_.erase(new_events_.begin());  // nobody is draining: keep the newest
  }
  new_events_.push_back(std::move(event));
}

void sandbox_state::complete(charge_record& charge, int64_t now_s) {
  TALLY_ASSERT(charge.is_final());
  pending_ids_.erase(charge.id);
  record_event("charge.complete", to_json(charge, options_.base_url), now_s);
}

void sandbox_state::expire_if_due(charge_record& charge, int64_t now_s) {
  if (charge.status != charge_status::pending || charge.expires_at_s == 0 ||
      charge.expires_at_s > now_s) {
    return;
  }
  charge.status = charge_status::expired;
  charge.expired_at_s = now_s;
  complete(charge, now_s);
}

result<charge_record> sandbox_state::find_charge(const std::string& id, int64_t now_s) {
  const auto it = charges_.by_id.find(id);
  if (it == charges_.by_id.end()) {
    return not_found("charge", id);
  }
  expire_if_due(it->second, now_s);
  return it->second;
}

void sandbox_state::expire_due(int64_t now_s) {
  std::vector<std::string> ids(pending_ids_.begin(), pending_ids_.end());
  for (const auto& id : ids) {
    const auto it = charges_.by_id.find(id);
    if (it == charges_.by_id.end()) {
      pending_ids_.erase(id);  // evicted while pending
      continue;
    }
    expire_if_due(it->second, now_s);
  }
}

json sandbox_state::list_charges(const list_query& query, int64_t now_s) {
  expire_due(now_s);
  const int64_t to_s = query.to_s.value_or(now_s);
  std::vector<const charge_record*> matching;
  for (const auto& id : charges_.order) {  // oldest first
    const charge_record& charge = charges_.by_id.at(id);
    if (charge.created_at_s >= query.from_s && charge.created_at_s <= to_s) {
      matching.push_back(&charge);
    }
  }
  if (query.is_newest_first) {
    std::reverse(matching.begin(), matching.end());
  }
  json data = json::array();
  for (std::size_t i = query.offset; i < matching.size() && data.size() < query.limit; ++i) {
    data.push_back(to_json(*matching[i], options_.base_url));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"limit", query.limit},
          {"offset", query.offset},
          {"total", matching.size()},
          {"location", "/charges"},
          {"order", query.is_newest_first ? "reverse_chronological" : "chronological"},
          {"from", rfc3339_from_seconds(query.from_s)},
          {"to", rfc3339_from_seconds(to_s)}};
}

result<refund_record> sandbox_state::refund_charge(const std::string& charge_id, const json& body,
                                                   int64_t now_s) {
  const auto it = charges_.by_id.find(charge_id);
  if (it == charges_.by_id.end()) {
    return not_found("charge", charge_id);
  }
  charge_record& charge = it->second;
  const auto amount = integer_field(body, "amount");
  if (!amount || *amount <= 0) {
    return failed_refund("amount must be an integer greater than 0");
  }
  if (charge.status != charge_status::successful) {
    return failed_refund("charge is not paid and can't be refunded");
  }
  if (*amount > charge.amount - charge.refunded_amount) {
    return failed_refund("amount can't be greater than the charge's refundable amount " +
                         std::to_string(charge.amount - charge.refunded_amount));
  }
  if (charge.refunds.size() >= limits::refunds_per_charge_max) {
    return failed_refund("charge has too many refunds");
  }
  refund_record refund;
  refund.id = ids_.next("rfnd_test_");
  refund.charge_id = charge.id;
  refund.transaction = ids_.next("trxn_test_");
  refund.amount = *amount;
  refund.currency = charge.currency;
  refund.created_at_s = now_s;
  charge.refunds.push_back(refund);
  charge.refunded_amount += *amount;
  TALLY_ASSERT(charge.refunded_amount <= charge.amount);
  record_event("refund.create", to_json(refund), now_s);
  return refund;
}

result<charge_record> sandbox_state::settle(const std::string& charge_id, settlement how,
                                            const std::string& failure_code, int64_t now_s) {
  const auto it = charges_.by_id.find(charge_id);
  if (it == charges_.by_id.end()) {
    return not_found("charge", charge_id);
  }
  charge_record& charge = it->second;
  expire_if_due(charge, now_s);
  if (charge.status != charge_status::pending) {
    return invalid_charge(std::string("charge is ") + to_string(charge.status) + ", not pending");
  }
  switch (how) {
    case settlement::pay:
      charge.status = charge_status::successful;
      charge.transaction = ids_.next("trxn_test_");
      charge.paid_at_s = now_s;
      break;
    case settlement::fail: {
      const std::string code = failure_code.empty() ? "payment_rejected" : failure_code;
      if (!is_known_failure(code)) {
        return bad_request("failure_code is not one the sandbox knows");
      }
      charge.status = charge_status::failed;
      charge.failure_code = code;
      charge.failure_message = failure_message_for(code);
      break;
    }
    case settlement::expire:
      charge.status = charge_status::expired;
      charge.expired_at_s = now_s;
      break;
  }
  complete(charge, now_s);
  return charge;
}

result<event_record> sandbox_state::find_event(const std::string& id) const {
  const auto it = events_.by_id.find(id);
  if (it == events_.by_id.end()) {
    return not_found("event", id);
  }
  return it->second;
}

std::vector<event_record> sandbox_state::take_new_events() {
  std::vector<event_record> taken;
  taken.swap(new_events_);
  return taken;
}

const charge_record* sandbox_state::charge_for_document(const std::string& charge_id,
                                                        const std::string& document_id,
                                                        const std::string& download_token) const {
  const auto it = charges_.by_id.find(charge_id);
  if (it == charges_.by_id.end() || it->second.document_id.empty() ||
      it->second.document_id != document_id || it->second.download_token != download_token) {
    return nullptr;
  }
  return &it->second;
}

}  // namespace tally::sandbox
