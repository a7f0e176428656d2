//! What IT does to a data directory: import layers, add users, enrol devices,
//! list things. Each function works whether or not the server is running;
//! the running server sees the effect at its next request.

use anyhow::{bail, Context};
use gridwarden_grid::CodePattern;
use gridwarden_protocol::enrolment::{hex, EnrolmentCode};
use gridwarden_protocol::Role;
use serde::Serialize;

use crate::datadir::DataDir;
use crate::store::{StoreError, User};

mod access;
pub mod apikeys;
#[cfg(test)]
mod audit_tests;
pub mod backup;
pub mod cert;
pub mod gc;
pub mod grids;
mod recover;
pub mod status;
pub mod to_postgres;
pub mod workflow;

pub use access::{audit, cli_actor, revoke_device, set_user_disabled, AuditLine};
pub use grids::{GridImport, Held, ImportOutcome, ImportSummary};
pub use recover::{import_unsent, Imported};

/// Imports a layer and applies it whatever it removes (the programmatic
/// form of `grids import --apply`); `reassign` re-places every open report.
pub fn import_grid(
    data: &DataDir,
    geojson: &str,
    name: &str,
    pattern: &CodePattern,
    reassign: bool,
) -> anyhow::Result<ImportSummary> {
    import_grid_from(data, geojson.as_bytes(), name, pattern, reassign)
}

/// [`import_grid`] from a reader of any size (streamed, see
/// [`grids::import`]).
pub fn import_grid_from(
    data: &DataDir,
    reader: impl std::io::Read,
    name: &str,
    pattern: &CodePattern,
    reassign: bool,
) -> anyhow::Result<ImportSummary> {
    let how = GridImport {
        name,
        pattern,
        fields: &gridwarden_grid::Fields::default(),
        apply: true,
        reassign,
        dry_run: false,
    };
    match grids::import(data, reader, &how)? {
        ImportOutcome::Imported(summary) => Ok(summary),
        ImportOutcome::Held { why, .. } => bail!("the layer was held back ({why:?})"),
    }
}

pub fn add_user(
    data: &DataDir,
    name: &str,
    role: Role,
    cells: Vec<String>,
) -> anyhow::Result<User> {
    if name.is_empty()
        || name.len() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("a user name must be 1–64 characters without spaces");
    }
    let known = match data.service.grid()? {
        Some(grid) => cells
            .iter()
            .filter(|c| grid.cell(c).is_none())
            .cloned()
            .collect::<Vec<_>>(),
        None => Vec::new(),
    };
    if !known.is_empty() {
        bail!(
            "no cell with code {} in the current grid layer; see `gridwarden-server grids list`",
            known.join(", ")
        );
    }
    let user = User {
        name: name.to_owned(),
        role,
        cells,
        disabled: false,
    };
    let audit = access::record(
        data,
        "user.add",
        name,
        format!("role {role}, cells {}", user.cells.join(",")),
    );
    crate::store::write(data.store().as_ref(), |tx| {
        // An API client's name is the reporter of its requests: a user of
        // that name would own them.
        if tx.api_key(name)?.is_some() {
            return Ok(Err(anyhow::anyhow!(
                "`{name}` is the name of an Open311 API client (the reporter of its requests); pick another user name"
            )));
        }
        tx.add_user(&user, data.service.now())?;
        tx.append_audit(&audit)?;
        Ok(Ok(()))
    })??;
    Ok(user)
}

#[derive(Debug, Serialize)]
pub struct Enrolment {
    pub user: String,
    pub code: String,
    pub server_addr: String,
    pub fingerprint: String,
    pub expires_ms: i64,
}

/// Where devices should dial: the explicit address, else the public address
/// set on purpose (see [`settle_public_addr`]).
pub fn advertised_addr(data: &DataDir, explicit: Option<&str>) -> anyhow::Result<String> {
    if let Some(addr) = explicit {
        return Ok(addr.to_owned());
    }
    let store = data.store();
    Ok(store
        .meta(crate::PUBLIC_ADDR_KEY)?
        .unwrap_or_else(|| crate::DEFAULT_LISTEN.to_owned()))
}

/// The public address enrolment codes carry is configuration: it changes
/// only when `serve --public-addr` (or the config file's `public_addr`) says
/// so. A server that only listens somewhere records its listen address the
/// first time, when none is set, and never overwrites one: a test server on
/// another port once redirected every later enrolment to itself.
pub fn settle_public_addr(
    data: &DataDir,
    explicit: Option<&str>,
    listening: std::net::SocketAddr,
) -> anyhow::Result<Option<String>> {
    let store = data.store();
    let stored = store.meta(crate::PUBLIC_ADDR_KEY)?;
    let wanted = match (explicit, &stored) {
        (Some(addr), _) => addr.to_owned(),
        (None, Some(addr)) => return Ok(Some(addr.clone())),
        // 0.0.0.0 is where to listen, not where to dial.
        (None, None) if listening.ip().is_unspecified() => return Ok(None),
        (None, None) => listening.to_string(),
    };
    if stored.as_deref() != Some(wanted.as_str()) {
        let audit = access::record(
            data,
            "server.public_addr",
            &wanted,
            format!("was {}", stored.as_deref().unwrap_or("unset")),
        );
        crate::store::write(store.as_ref(), |tx| {
            tx.set_meta(crate::PUBLIC_ADDR_KEY, &wanted)?;
            tx.append_audit(&audit)?;
            Ok(())
        })?;
    }
    Ok(Some(wanted))
}

pub fn enrol_device(data: &DataDir, user: &str, addr: Option<&str>) -> anyhow::Result<Enrolment> {
    let server_addr = advertised_addr(data, addr)?;
    let audit = access::record(
        data,
        "device.enrolment_code",
        user,
        format!("dialling {server_addr}"),
    );
    let secret = data
        .service
        .new_enrolment_secret_audited(user, Some(&audit))
        .map_err(|e| match e {
            crate::service::ServiceError::Store(StoreError::NotFound(m)) => anyhow::anyhow!(m),
            other => anyhow::anyhow!(other),
        })?;
    let fingerprint = data.identity.fingerprint();
    let code = EnrolmentCode {
        secret,
        fingerprint,
        server_addr: server_addr.clone(),
    }
    .encode();
    Ok(Enrolment {
        user: user.to_owned(),
        code,
        server_addr,
        fingerprint: hex(&fingerprint),
        expires_ms: data.service.now() + data.service.limits().enrolment_ttl_ms,
    })
}

pub fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Limits;

    /// A square cell whose ring has `n` vertices.
    fn layer_with_vertices(n: usize) -> String {
        let mut ring: Vec<String> = (0..n)
            .map(|i| {
                let t = i as f64 / n as f64 * std::f64::consts::TAU;
                format!(
                    "[{:.7},{:.7}]",
                    111.7 + 0.01 * t.cos(),
                    40.84 + 0.01 * t.sin()
                )
            })
            .collect();
        ring.push(ring[0].clone());
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"code":"990102001001001"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}]}}"#,
            ring.join(",")
        )
    }

    #[test]
    fn a_layer_larger_than_a_frame_imports_and_a_cell_too_large_for_a_page_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_frame: 80 * 1024,
            ..Limits::default()
        };
        let data = DataDir::open(dir.path(), limits).unwrap();
        let before = data.store().grid_version().unwrap();
        let pattern = CodePattern::default_15();
        let err =
            import_grid(&data, &layer_with_vertices(4_000), "big", &pattern, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("feature 0 (code \"990102001001001\")"),
            "{err}"
        );
        assert!(err.to_string().contains("simplify that polygon"), "{err}");
        assert!(!err.to_string().contains("several layers"), "{err}");
        assert_eq!(data.store().grid_version().unwrap(), before);
        // 400 cells of 100 vertices: ~650 KiB for devices, eight frames.
        let city = gridwarden_grid::synth::StreetGrid::city(400, 100, 1);
        let summary = import_grid(&data, &city.geojson(), "city", &pattern, false).unwrap();
        assert_eq!((summary.version, summary.cells), (before + 1, 400));
        assert_eq!(data.service.grid().unwrap().unwrap().cells().len(), 400);
    }
}
