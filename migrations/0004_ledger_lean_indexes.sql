-- Every index on ledger.entries is paid for on every spend. Pages filter by
-- kind within one account (the primary key's range scan serves them) and
-- entries are never looked up by entry_id alone, so both secondary indexes go;
-- entry ids stay random UUIDs, unique in practice.
DROP INDEX ledger.entries_kind;
ALTER TABLE ledger.entries DROP CONSTRAINT entries_entry_id_key;
