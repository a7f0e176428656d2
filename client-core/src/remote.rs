//! Requests answered by the server on demand (a supervisor's review: patrol
//! summaries, tracks, photos), over a connection opened for them.

use std::future::Future;
use std::pin::Pin;

use gridwarden_protocol::ServerMessage;

use crate::error::{ClientError, Result};
use crate::store::meta;
use crate::sync::engine::SyncEngine;
use crate::transport::Session;
use crate::Client;

/// The work done on an open, authenticated session.
pub(crate) type OnSession<'s, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 's>>;

impl Client {
    /// Connects, says hello, runs `work` and closes the connection.
    pub(crate) async fn with_server<T>(
        &self,
        work: impl for<'s> FnOnce(&'s mut Session) -> OnSession<'s, T>,
    ) -> Result<T> {
        let (hello, server, pins) = {
            let store = self.lock_store();
            let enrolment = meta::enrolment(store.conn())?.ok_or(ClientError::NotEnrolled)?;
            let pins = meta::pins(store.conn(), &enrolment)?;
            let (_, hello) =
                SyncEngine::start(&store, crate::client::CLIENT_NAME, self.clock().clone())?;
            (hello, enrolment.server_addr, pins)
        };
        let mut session = self.connect_enrolled(&server, pins).await?;
        let result = match session.request(&hello).await {
            Ok(ServerMessage::Welcome(_)) => work(&mut session).await,
            Ok(answer) => Err(unexpected(answer, "hello")),
            Err(e) => Err(e),
        };
        session.close().await;
        result
    }
}

/// A server answer that is not the one asked for: a refusal carries the
/// server's reason; anything else is a protocol error.
pub(crate) fn unexpected(answer: ServerMessage, asked: &str) -> ClientError {
    match answer {
        ServerMessage::Error(e) => ClientError::Refused {
            code: e.code,
            message: e.message,
        },
        other => ClientError::Protocol(format!(
            "unexpected answer to {asked}: {}",
            crate::sync::engine::message_name(&other)
        )),
    }
}
