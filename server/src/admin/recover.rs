//! Stranded work comes home through IT: a phone that cannot sync any more
//! (revoked, lost, its pin broken) prints what it holds unsent with
//! `gridwarden export --json`; IT imports that file here. Its ops go
//! through the same rules as a push from that user's device (ownership,
//! scope, case rules, clocks), and ops carry their ids, so an op the phone
//! or an earlier import already landed is a duplicate: importing twice adds
//! nothing.

use std::path::Path;

use anyhow::Context;
use gridwarden_protocol::{Op, Outcome, Push};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::record;
use crate::datadir::DataDir;
use crate::service::Session;

/// The part of `gridwarden export --json` an import needs.
#[derive(Deserialize)]
struct UnsentFile {
    user: String,
    device_id: Uuid,
    ops: Vec<Op>,
}

/// What an import did.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub user: String,
    pub device_id: Uuid,
    pub applied: usize,
    /// Already on the server (sent by the phone before, or imported).
    pub duplicate: usize,
    /// Refused, each with its op id and the reason.
    pub refused: Vec<(Uuid, String)>,
}

/// Applies the unsent ops in `file` as pushed by `user`'s device named in
/// it. `user` must match the file's: IT says whose work it hands over.
pub fn import_unsent(data: &DataDir, file: &Path, user: &str) -> anyhow::Result<Imported> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let work: UnsentFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not the output of `gridwarden export --json`",
            file.display()
        )
    })?;
    if work.user != user {
        anyhow::bail!(
            "{} holds the unsent work of `{}`, not `{user}`; name its user with --user {}",
            file.display(),
            work.user,
            work.user
        );
    }
    let stored = data
        .store()
        .user(user)?
        .ok_or_else(|| anyhow::anyhow!("no user `{user}`; see `gridwarden-server users list`"))?;
    // Only a device the server enrolled for this user: its ops are stamped
    // with that device's clock, which the push rules check.
    match data.store().device(work.device_id)? {
        Some(d) if d.user == user => {}
        Some(d) => anyhow::bail!(
            "device {} was enrolled for `{}`, not `{user}`",
            work.device_id,
            d.user
        ),
        None => anyhow::bail!("this server never enrolled device {}", work.device_id),
    }
    let session = Session {
        device_id: work.device_id,
        user: stored.name.clone(),
        role: stored.role,
        cells: stored.cells.clone(),
        remote: None,
        seen_noted_ms: None,
    };
    let mut imported = Imported {
        user: stored.name,
        device_id: work.device_id,
        applied: 0,
        duplicate: 0,
        refused: Vec::new(),
    };
    let chunk = data.service.limits().max_push_ops.max(1);
    // Each chunk is one push with its own audit line, written in the push's
    // transaction: the log holds exactly the chunks that landed.
    for ops in work.ops.chunks(chunk) {
        let line = |outcomes: &[Outcome]| {
            let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
            record(
                data,
                "device.import",
                &work.device_id.to_string(),
                format!(
                    "recovered unsent work of `{user}` from {}: applied {}, already there {}, refused {}",
                    file.display(),
                    count(|o| matches!(o, Outcome::Applied)),
                    count(|o| matches!(o, Outcome::Duplicate)),
                    count(|o| matches!(o, Outcome::Rejected { .. })),
                ),
            )
        };
        let ack = data
            .service
            .push_audited(&session, Push { ops: ops.to_vec() }, &line)?;
        for result in ack.results {
            match result.outcome {
                Outcome::Applied => imported.applied += 1,
                Outcome::Duplicate => imported.duplicate += 1,
                Outcome::Rejected { reason, .. } => imported.refused.push((result.op_id, reason)),
            }
        }
    }
    Ok(imported)
}
