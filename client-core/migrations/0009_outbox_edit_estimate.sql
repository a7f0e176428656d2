-- gridwarden client store, version 9: each queued op keeps the device's
-- estimate of the server's time at the moment of the edit. An op's clock
-- can run ahead of that estimate (the device saw a server clock that ran
-- ahead), and when the server refuses it for clock skew the op is stamped
-- again with the time of the edit, not of the resend, so a later edit of
-- another device still wins (ADR 0013). NULL for ops queued before.
ALTER TABLE outbox ADD COLUMN estimate_ms INTEGER;
