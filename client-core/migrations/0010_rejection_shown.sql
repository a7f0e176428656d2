-- gridwarden client store, version 10: when a refusal was shown to the user
-- (the report opened, the refusals listed, the report edited or sent again).
-- A report's "rejected" status clears once its latest refusal was shown and
-- the report is back in step with the server (no op queued, what it shows is
-- what the server holds). NULL: not shown yet, and for refusals stored
-- before, which stay shown as rejected until the user has seen them.
ALTER TABLE rejections ADD COLUMN shown_ms INTEGER;
