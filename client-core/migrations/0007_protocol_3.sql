-- gridwarden client store, version 7: protocol 3 added a report field
-- (`asset`), so the report states and outbox ops stored in protocol 2's
-- encoding are re-encoded (store/upgrade.rs runs with this step, in its
-- transaction). No table changes.
SELECT 1;
