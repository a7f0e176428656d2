//! A patrol as GeoJSON, for a supervisor's map.

use gridwarden_protocol::track::{PatrolSummary, TrackPoint};
use serde_json::{json, Value};

use super::flag::{classify, Classified};
use super::sorted;
use gridwarden_protocol::time::format_rfc3339;

/// A FeatureCollection with the accepted track as one `MultiLineString`
/// feature, one line per segment (a recovered jump also starts a new line;
/// a run of a single point has no line to draw and is left out), carrying
/// the summary's figures; then one `Point` feature per flagged point with
/// `"flagged": true`, its `seq` and its time (`time_ms` and RFC 3339 `time`,
/// both `null` when unknown). Positions are `[lon, lat]`.
pub fn to_geojson(summary: &PatrolSummary, points: &[TrackPoint]) -> String {
    let points = sorted(points);
    let Classified { flagged, run_start } = classify(&points);

    let mut lines: Vec<Vec<[f64; 2]>> = Vec::new();
    let mut current: Vec<[f64; 2]> = Vec::new();
    let mut flagged_features = Vec::new();
    for ((p, &f), &starts_run) in points.iter().zip(&flagged).zip(&run_start) {
        if f {
            flagged_features.push(json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": position(p) },
                "properties": {
                    "flagged": true,
                    "seq": p.seq,
                    "time_ms": p.time_ms,
                    "time": p.time_ms.and_then(format_rfc3339),
                },
            }));
            continue;
        }
        if starts_run {
            finish(&mut lines, &mut current);
        }
        current.push([p.lon, p.lat]);
    }
    finish(&mut lines, &mut current);

    let info = &summary.info;
    let track = json!({
        "type": "Feature",
        "geometry": { "type": "MultiLineString", "coordinates": lines },
        "properties": {
            "patrol": info.id.to_string(),
            "warden": info.warden,
            "distance_m": summary.distance_m,
            "duration_ms": summary.duration_ms,
            "points": summary.points,
            "flagged": summary.flagged,
            "covered_cells": summary.covered_cells,
            "scope_cells": summary.scope_cells,
            "coverage": summary.coverage(),
        },
    });
    let mut features = vec![track];
    features.extend(flagged_features);
    let collection: Value = json!({ "type": "FeatureCollection", "features": features });
    collection.to_string()
}

/// GeoJSON can only hold finite numbers; a broken fix becomes `null`.
fn position(p: &TrackPoint) -> Value {
    if p.lon.is_finite() && p.lat.is_finite() {
        json!([p.lon, p.lat])
    } else {
        Value::Null
    }
}

fn finish(lines: &mut Vec<Vec<[f64; 2]>>, current: &mut Vec<[f64; 2]>) {
    if current.len() >= 2 {
        lines.push(std::mem::take(current));
    } else {
        current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::summarise;
    use super::super::test_support::walk_east;
    use super::*;
    use gridwarden_protocol::track::PatrolInfo;
    use uuid::Uuid;

    #[test]
    fn lines_per_segment_and_flagged_points() {
        let mut points = walk_east(10, 5, 1.4);
        points[3].lat += 0.005; // a ~550 m spike
        for p in &mut points[6..] {
            p.segment = 1;
        }
        let info = PatrolInfo {
            id: Uuid::from_u128(7),
            warden: "wang.li".into(),
            device: Uuid::from_u128(8),
            started_at_ms: 0,
            ended_at_ms: None,
            note: String::new(),
        };
        let summary = summarise(&info, &points, None, &[], vec![]);
        let text = to_geojson(&summary, &points);
        // The geojson crate reads it back as a valid FeatureCollection.
        let fc: geojson::FeatureCollection = text.parse().unwrap();
        assert_eq!(fc.features.len(), 2);
        let track = &fc.features[0];
        match &track.geometry.as_ref().unwrap().value {
            geojson::Value::MultiLineString(lines) => {
                assert_eq!(lines.len(), 2);
                assert_eq!(lines[0].len(), 5, "points 0-5 without the spike");
                assert_eq!(lines[1].len(), 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            track.property("warden").unwrap(),
            &Value::String("wang.li".into())
        );
        assert_eq!(track.property("coverage").unwrap(), &json!(0.0));
        let spike = &fc.features[1];
        assert_eq!(spike.property("flagged").unwrap(), &json!(true));
        assert_eq!(spike.property("seq").unwrap(), &json!(3));
        assert_eq!(
            spike.property("time").unwrap(),
            &json!("2024-05-17T00:30:15.000Z")
        );
    }
}
