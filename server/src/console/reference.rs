//! What the page needs besides cases: who is signed in, names for codes,
//! and the grid as GeoJSON with open and overdue counts per cell (the
//! choropleth), limited to the cells the user may see.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Value};

use super::queue::street_of;
use super::{Console, ConsoleUser};
use crate::service::ServiceResult;

#[derive(Debug, Serialize)]
pub struct BaseLayer {
    pub url: String,
    pub attribution: String,
}

#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub user: String,
    pub role: gridwarden_protocol::Role,
    /// The district's cells; `null` for the whole city.
    pub district: Option<Vec<String>>,
    pub csrf: String,
    pub utc_offset_minutes: i32,
    pub base_layer: Option<BaseLayer>,
}

impl Console {
    pub fn session_info(&self, user: &ConsoleUser) -> ServiceResult<SessionInfo> {
        let c = &self.config;
        Ok(SessionInfo {
            user: user.name().to_owned(),
            role: user.role(),
            district: (!user.cells().is_empty()).then(|| user.cells().to_vec()),
            csrf: user.csrf.clone(),
            utc_offset_minutes: super::time::offset_minutes(&self.service.calendar()?),
            base_layer: c.base_layer_url.as_ref().map(|url| BaseLayer {
                url: url.clone(),
                attribution: c.base_layer_attribution.clone().unwrap_or_default(),
            }),
        })
    }

    /// Whether the user sees the cell (a district supervisor: theirs only).
    pub fn sees_cell(user: &ConsoleUser, cell: &str) -> bool {
        user.cells().is_empty() || user.cells().iter().any(|c| c == cell)
    }

    pub fn meta(&self, user: &ConsoleUser) -> ServiceResult<Value> {
        let categories = self.service.categories()?;
        let departments = self.service.store().departments()?;
        let users = self.service.store().users()?;
        let grid = self.service.grid()?;
        let mut streets: BTreeMap<String, usize> = BTreeMap::new();
        let mut cells = Vec::new();
        for cell in grid.iter().flat_map(|g| g.cells()) {
            if !Self::sees_cell(user, &cell.code) {
                continue;
            }
            if let Some(s) = street_of(&cell.code) {
                *streets.entry(s.to_owned()).or_default() += 1;
            }
            cells.push(json!({"code": cell.code, "name": cell.name}));
        }
        Ok(json!({
            "categories": categories.categories.iter().map(|c| json!({
                "code": c.code, "name": c.name, "name_en": c.name_en,
                "class_code": c.class_code, "class_name": c.class_name,
                "family": c.family.as_str(),
            })).collect::<Vec<_>>(),
            "departments": departments.iter().map(|d| json!({
                "code": d.code, "name": d.name, "utility": d.utility,
            })).collect::<Vec<_>>(),
            "users": users.iter().filter(|u| !u.disabled).map(|u| json!({
                "name": u.name, "role": u.role,
            })).collect::<Vec<_>>(),
            // The code hierarchy has no street names: a street is named by
            // its code (and how many cells it holds).
            "streets": streets.iter().map(|(code, n)| json!({
                "code": code, "name": code, "cells": n,
            })).collect::<Vec<_>>(),
            "cells": cells,
        }))
    }

    /// The cells the user may see as a GeoJSON FeatureCollection.
    pub fn grid_geojson(&self, user: &ConsoleUser) -> ServiceResult<Value> {
        let now = self.service.now();
        let counts: HashMap<String, (u32, u32)> = self.with_entries(user, |entries| {
            let mut counts: HashMap<String, (u32, u32)> = HashMap::new();
            for e in entries.iter().filter(|e| e.is_open()) {
                if let Some(cell) = e.cell() {
                    let c = counts.entry(cell.to_owned()).or_default();
                    c.0 += 1;
                    c.1 += u32::from(e.is_overdue(now));
                }
            }
            counts
        })?;
        let layer = self.service.store().current_grid_layer()?;
        let features: Vec<Value> = layer
            .iter()
            .flat_map(|l| &l.cells)
            .filter(|c| Self::sees_cell(user, &c.code))
            .map(|cell| {
                let (open, overdue) = counts.get(&cell.code).copied().unwrap_or_default();
                // Six decimals is 0.1 m: plenty for a cell, and the whole
                // city's map stays small on the wire.
                let round = |ring: &Vec<[f64; 2]>| -> Vec<[f64; 2]> {
                    ring.iter()
                        .map(|[x, y]| [(x * 1e6).round() / 1e6, (y * 1e6).round() / 1e6])
                        .collect()
                };
                let polygons: Vec<Vec<Vec<[f64; 2]>>> = cell
                    .polygons
                    .iter()
                    .map(|p| {
                        std::iter::once(&p.exterior)
                            .chain(&p.holes)
                            .map(round)
                            .collect()
                    })
                    .collect();
                let street = street_of(&cell.code);
                json!({
                    "type": "Feature",
                    "geometry": {"type": "MultiPolygon", "coordinates": polygons},
                    "properties": {
                        "code": cell.code,
                        "name": cell.name,
                        "street": street,
                        "community": (cell.code.len() == 15).then(|| &cell.code[..12]),
                        "open": open,
                        "overdue": overdue,
                    }
                })
            })
            .collect();
        Ok(json!({"type": "FeatureCollection", "features": features}))
    }
}
