#include "persistence/audit_store.hpp"

namespace tally::persistence {

void append_audit(pqxx::transaction_base& tx, const audit_record& record) {
  const char* sql =
      "INSERT INTO audit.records (actor, action, subject, amount, request_id, source_ip, detail) "
      "VALUES ($1, $2, NULLIF($3, ''), $4, NULLIF($5, ''), NULLIF($6, ''), $7::jsonb)";
  tx.exec_params(sql, record.actor, record.action, record.subject, record.amount,
                 record.request_id, record.source_ip, record.detail.dump());
}

}  // namespace tally::persistence
