//! A supervisor's review of patrols held by the server (a warden gets their
//! own): the list, and one patrol with its track.

use gridwarden_protocol::{
    ClientMessage, FetchPatrol, ListPatrols, PatrolSummary, PatrolTrack, ServerMessage,
};
use uuid::Uuid;

use super::{closing, open};
use crate::error::Result;
use crate::link::{unexpected, Connect, Exchange};
use crate::local::Device;

/// Patrol summaries from the server.
pub async fn list<C: Connect>(
    device: &Device,
    connect: &C,
    query: ListPatrols,
) -> Result<Vec<PatrolSummary>> {
    let mut link = open(device, connect).await?;
    let answer = link.exchange(&ClientMessage::ListPatrols(query)).await;
    let result = match answer {
        Ok(ServerMessage::Patrols(list)) => Ok(list),
        Ok(other) => Err(unexpected(other, "a patrol listing")),
        Err(e) => Err(e),
    };
    closing(link, result).await
}

/// One patrol and its track from the server.
pub async fn get<C: Connect>(device: &Device, connect: &C, patrol_id: Uuid) -> Result<PatrolTrack> {
    let mut link = open(device, connect).await?;
    let ask = ClientMessage::FetchPatrol(FetchPatrol { patrol_id });
    let result = match link.exchange(&ask).await {
        Ok(ServerMessage::PatrolTrack(track)) => Ok(track),
        Ok(other) => Err(unexpected(other, "a patrol fetch")),
        Err(e) => Err(e),
    };
    closing(link, result).await
}
