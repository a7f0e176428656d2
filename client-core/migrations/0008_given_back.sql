-- gridwarden client store, version 8: what a restored server may lack.
--
-- Every op of this device the server acknowledged is kept here, so that when
-- the server's data turns out to be another (`Welcome::store_epoch` changed:
-- it was restored from a backup) the device can give back what the backup
-- may have missed. The server applies each op id at most once, so giving
-- back an op it holds is a duplicate and changes nothing.
CREATE TABLE given_ops (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id BLOB NOT NULL UNIQUE,
    op    BLOB NOT NULL          -- protocol Op, postcard, as acknowledged
);
