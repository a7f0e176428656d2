//! The remote layer: requests the server answers on demand (a supervisor's
//! review: patrol summaries, tracks, photos) and enrolment, each over a
//! connection from any [`Connect`], so the simulation drives them like the
//! sync. Above the sync layer (it shares its Hello and, at enrolment, its
//! driver); below the [`crate::Client`] facade.

pub mod enrol;
pub mod patrols;
pub mod photos;

use gridwarden_protocol::{ClientMessage, ServerMessage};

use crate::error::Result;
use crate::link::{unexpected, Connect, Exchange};
use crate::local::Device;
use crate::sync::{hello, CLIENT_NAME};

/// Connects and says hello: a link the server has authenticated.
async fn open<C: Connect>(device: &Device, connect: &C) -> Result<C::Link> {
    let hello = hello(device.lock_store().conn(), CLIENT_NAME)?;
    let mut link = connect.connect().await?;
    match link.exchange(&ClientMessage::Hello(hello)).await {
        Ok(ServerMessage::Welcome(_)) => Ok(link),
        Ok(answer) => {
            link.close().await;
            Err(unexpected(answer, "hello"))
        }
        Err(e) => {
            link.close().await;
            Err(e)
        }
    }
}

/// Closes `link` and hands back what was done on it.
async fn closing<L: Exchange, T>(link: L, result: Result<T>) -> Result<T> {
    link.close().await;
    result
}
