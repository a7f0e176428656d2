//! Small settings: the public address, the server clock, dated markers.

use super::{write, StoreResult, Transact};

pub trait MetaStore: Transact {
    fn meta(&self, key: &str) -> StoreResult<Option<String>>;

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        write(self, |tx| tx.set_meta(key, value))
    }
}

pub trait MetaTx {
    fn meta(&mut self, key: &str) -> StoreResult<Option<String>>;
    fn set_meta(&mut self, key: &str, value: &str) -> StoreResult<()>;
}
