#pragma once
// Appends audit records (audit schema) inside the caller's transaction, so a
// change and its record commit or roll back together (DESIGN invariant 7).

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace tally::persistence {

struct audit_record {
  std::string actor;   // 'user:<id>', 'admin', 'system', 'anonymous'
  std::string action;  // dotted verb, e.g. 'user.registered'
  std::string subject;
  std::optional<int64_t> amount;
  std::string request_id;
  std::string source_ip;
  nlohmann::json detail = nlohmann::json::object();  // never secrets
};

void append_audit(pqxx::transaction_base& tx, const audit_record& record);

}  // namespace tally::persistence
