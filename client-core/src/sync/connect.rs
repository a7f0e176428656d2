//! Connecting to the enrolled server over QUIC with this device's pins, and
//! keeping the pins in step with a certificate rotation (see `tls.rs`).

use std::time::Duration;

use crate::error::{ClientError, Result};
use crate::link::quic::{self, Session};
use crate::link::Connect;
use crate::local::Device;
use crate::store::meta;
use crate::tls::{Pins, Presented};

/// Opens QUIC connections to the server this device is enrolled with.
#[derive(Clone, Copy)]
pub(crate) struct Enrolled<'a> {
    pub device: &'a Device,
    pub timeout: Duration,
}

impl Connect for Enrolled<'_> {
    type Link = Session;

    async fn connect(&self) -> Result<Session> {
        self.connect_with(|server, pins, timeout| async move {
            quic::connect_pinned(&server, pins, timeout).await
        })
        .await
    }
}

impl Enrolled<'_> {
    /// Connects with `open` trusting the stored pins; once the handshake is
    /// complete, stores a promoted pin or a newly announced next certificate.
    pub(super) async fn connect_with<F, Fut>(&self, open: F) -> Result<Session>
    where
        F: FnOnce(String, Pins, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<Session>>,
    {
        let (server, pins) = {
            let store = self.device.lock_store();
            let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            let pins = meta::pins(store.conn(), &enrolment)?;
            (enrolment.server_addr, pins)
        };
        let session = open(server, pins, self.timeout).await?;
        remember(self.device, session.presented())?;
        Ok(session)
    }
}

/// Stores what a server proved in a completed handshake (`presented`, a
/// chain whose first certificate is pinned): a promoted pin, or a newly
/// announced next certificate. Run when a connection opens, and again after
/// a sync: a connection that tried to resume a session learns what a refused
/// resumption's full handshake presented only with its first answer, and a
/// device that resumed every time would otherwise never learn a rotation.
pub(crate) fn remember(device: &Device, presented: Presented) -> Result<()> {
    let mut store = device.lock_store();
    let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
    let pins = meta::pins(store.conn(), &enrolment)?;
    let tx = store.transaction()?;
    if meta::remember_presented(&tx, pins, presented)? {
        tx.commit()?;
        tracing::info!(
            promoted = presented.certificate != pins.current,
            announced_next = presented.announced_next.is_some(),
            "the server's certificate pins changed"
        );
    }
    Ok(())
}
