//! Open311 intake (docs/open311.md): API keys (hashes only), the requests'
//! extra fields and citizens' ratings.

use uuid::Uuid;

use super::{
    write, ApiKey, AuditRecord, Feedback, HotlineFilter, HotlineRequest, StoreResult, Transact,
};

pub trait Open311Store: Transact {
    fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    fn api_key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<ApiKey>>;
    fn hotline_request(&self, report_id: Uuid) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_request_by_token(&self, token: &str) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_request_by_external_id(
        &self,
        client: &str,
        external_id: &str,
    ) -> StoreResult<Option<HotlineRequest>>;
    fn hotline_requests(&self, filter: &HotlineFilter) -> StoreResult<Vec<HotlineRequest>>;
    fn feedback(&self) -> StoreResult<Vec<Feedback>>;

    /// Stores a new API key with `audit`.
    fn add_api_key(&self, key: &ApiKey, audit: &AuditRecord) -> StoreResult<()> {
        write(self, |tx| {
            tx.add_api_key(key)?;
            tx.append_audit(audit)?;
            Ok(())
        })
    }

    /// Revokes a key, appending `audit` in the same transaction if it
    /// changed anything; a revoked key is returned as it is.
    fn revoke_api_key(&self, name: &str, now_ms: i64, audit: &AuditRecord) -> StoreResult<ApiKey> {
        write(self, |tx| {
            let (key, changed) = tx.revoke_api_key(name, now_ms)?;
            if changed {
                tx.append_audit(audit)?;
            }
            Ok(key)
        })
    }

    /// [`Open311Tx::add_hotline_request`] as its own unit of work.
    fn add_hotline_request(&self, request: &HotlineRequest) -> StoreResult<HotlineRequest> {
        write(self, |tx| tx.add_hotline_request(request))
    }

    /// Stores a rating; refused with [`super::Clash::Feedback`] if the
    /// request was rated already.
    fn add_feedback(&self, feedback: &Feedback) -> StoreResult<()> {
        write(self, |tx| tx.add_feedback(feedback))
    }
}

pub trait Open311Tx {
    fn api_key(&mut self, name: &str) -> StoreResult<Option<ApiKey>>;
    /// Refused with [`super::Clash::ApiKey`] if the name is taken by a key.
    fn add_api_key(&mut self, key: &ApiKey) -> StoreResult<()>;
    /// Revokes a key; returns it and whether it changed. Refused with
    /// [`super::Missing::ApiKey`] for an unknown name.
    fn revoke_api_key(&mut self, name: &str, now_ms: i64) -> StoreResult<(ApiKey, bool)>;
    /// Records a request's extra fields; a request already recorded (same
    /// report, or same client and external id) is returned as it is.
    fn add_hotline_request(&mut self, request: &HotlineRequest) -> StoreResult<HotlineRequest>;
    fn add_feedback(&mut self, feedback: &Feedback) -> StoreResult<()>;
}
