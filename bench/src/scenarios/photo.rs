//! Photos: MB/s of a 20 MB upload, and the bytes sent when an upload cut at
//! 90 % resumes. Photos are issue 4 and not in the client core yet, so both
//! rows say so.
//!
//! Where to add them once `Client` can attach and upload a photo: record a
//! report with a 20 MB photo on a device enrolled like in `record.rs`, time
//! its upload to a `LocalServer` (MB/s, one value per run); then upload
//! another through `crate::relay::CountingRelay`, cut the relay's forwarding
//! when 90 % of the bytes have crossed (add a cut switch to the relay), sync
//! again through a fresh relay and report its `to_server_bytes` against the
//! missing 2 MB tail as the baseline.

use crate::context::Context;
use crate::table::{Row, Target};

const NOT_YET: &str = "not yet measured (issue 4)";

pub fn run(_ctx: &mut Context) -> anyhow::Result<Vec<Row>> {
    Ok(vec![
        Row::missing("photo: upload of a 20 MB photo", "MB/s", NOT_YET),
        Row::missing(
            "photo: bytes sent to resume an upload cut at 90 %",
            "MB",
            NOT_YET,
        )
        .target(Target::at_most(2.0, "only the missing tail (2 MB)")),
    ])
}
