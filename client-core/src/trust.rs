//! Connecting to the enrolled server with this device's pins, and keeping the
//! pins in step with a certificate rotation (see `tls.rs`).

use crate::client::Client;
use crate::error::Result;
use crate::store::meta;
use crate::tls::Pins;
use crate::transport::{self, Session};

impl Client {
    /// Connects to `server` trusting `pins`; once the handshake is complete,
    /// stores a promoted pin or a newly announced next certificate.
    pub(crate) async fn connect_enrolled(&self, server: &str, pins: Pins) -> Result<Session> {
        let session = transport::connect_pinned(server, pins, self.connect_timeout()).await?;
        let presented = session.presented();
        let mut store = self.lock_store();
        let tx = store.transaction()?;
        if meta::remember_presented(&tx, pins, presented)? {
            tx.commit()?;
            tracing::info!(
                promoted = presented.certificate != pins.current,
                announced_next = presented.announced_next.is_some(),
                "the server's certificate pins changed"
            );
        }
        Ok(session)
    }
}
