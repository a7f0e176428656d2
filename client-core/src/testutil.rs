//! Fixtures shared by the unit tests.

use std::path::Path;

use gridwarden_protocol::category::{Category, CategoryTable, Family};
use gridwarden_protocol::grid::{GridCellWire, GridLayerWire, PolygonWire};
use gridwarden_protocol::{Location, NewReport, Role};
use uuid::Uuid;

use crate::store::meta::{self, Enrolment};
use crate::store::reference;
use crate::Client;

pub const DEVICE: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

/// A client in `dir` enrolled as warden `ann`, without any server.
pub fn enrolled_client(dir: &Path) -> Client {
    let client = Client::open(dir).unwrap();
    let mut store = client.lock_store();
    let tx = store.transaction().unwrap();
    meta::set_enrolment(
        &tx,
        &Enrolment {
            device_id: DEVICE,
            token: vec![7; 32],
            server_addr: "127.0.0.1:9".into(),
            fingerprint: [1; 32],
            user: "ann".into(),
            role: Role::Warden,
        },
    )
    .unwrap();
    tx.commit().unwrap();
    drop(store);
    client
}

pub fn new_report(category: &str, lon: f64, lat: f64) -> NewReport {
    NewReport {
        category: category.into(),
        location: Location {
            lon,
            lat,
            accuracy_m: Some(4.5),
        },
        address: Some("新华大街 12 号".into()),
        note: "manhole cover missing".into(),
        observed_at_ms: 1_700_000_000_000,
        patrol: None,
        asset: None,
    }
}

fn category(code: &str, name: &str, name_en: &str) -> Category {
    Category {
        code: code.into(),
        family: Family::Component,
        class_code: "01".into(),
        class_name: "公用设施".into(),
        name: name.into(),
        name_en: name_en.into(),
        register_limit: None,
        dispose_limit: None,
    }
}

pub fn category_table(version: u64) -> CategoryTable {
    CategoryTable {
        version,
        categories: vec![
            category("0101", "上水井盖", "water supply manhole cover"),
            category("0102", "污水井盖", "sewage manhole cover"),
        ],
    }
}

fn square(code: &str, x0: f64, y0: f64, d: f64) -> GridCellWire {
    GridCellWire {
        code: code.into(),
        name: None,
        polygons: vec![PolygonWire {
            exterior: vec![
                [x0, y0],
                [x0 + d, y0],
                [x0 + d, y0 + d],
                [x0, y0 + d],
                [x0, y0],
            ],
            holes: vec![],
        }],
    }
}

/// Two adjacent 0.01° cells west-east starting at (111.60, 40.80).
pub fn grid_layer(version: u64, west: &str, east: &str) -> GridLayerWire {
    GridLayerWire {
        version,
        name: "test".into(),
        cells: vec![
            square(west, 111.60, 40.80, 0.01),
            square(east, 111.61, 40.80, 0.01),
        ],
    }
}

/// Puts reference data in the client's cache as a sync would.
pub fn cache_reference(
    client: &Client,
    categories: Option<&CategoryTable>,
    grid: Option<&GridLayerWire>,
) {
    let mut store = client.lock_store();
    let tx = store.transaction().unwrap();
    if let Some(t) = categories {
        reference::put_categories(&tx, t).unwrap();
        meta::set_categories_version(&tx, t.version).unwrap();
    }
    if let Some(g) = grid {
        crate::store::grid_cells::put_whole_layer(&tx, g).unwrap();
        meta::set_grid_version(&tx, g.version).unwrap();
    }
    tx.commit().unwrap();
}
