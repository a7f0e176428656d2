//! A layer out again as GeoJSON, one cell at a time, in the form the import
//! reads back to the same cells (the same codes, names and rings, so the
//! same content hashes on the server).

use std::io::{self, Write};

use gridwarden_protocol::grid::{GridCellWire, PolygonWire};
use serde_json::{json, Value};

/// Writes a FeatureCollection to `out` as cells arrive: the layer is never
/// held whole. Call [`LayerWriter::cell`] for each cell, then
/// [`LayerWriter::finish`].
pub struct LayerWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> LayerWriter<W> {
    /// Starts the collection; `name` becomes its foreign member `name`
    /// (which the import ignores).
    pub fn begin(mut out: W, name: &str) -> io::Result<Self> {
        write!(
            out,
            "{{\"type\":\"FeatureCollection\",\"name\":{},\"features\":[",
            Value::from(name)
        )?;
        Ok(LayerWriter { out, first: true })
    }

    pub fn cell(&mut self, cell: &GridCellWire) -> io::Result<()> {
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        self.out.write_all(sep.as_bytes())?;
        serde_json::to_writer(&mut self.out, &cell_feature(cell))?;
        Ok(())
    }

    /// Closes the collection and hands the writer back, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One cell as a GeoJSON Feature: `properties.code` and `properties.name`
/// (`null` when it has none); a Polygon, or a MultiPolygon for a cell in
/// several parts. Rings as stored: closed, exteriors counter-clockwise.
pub fn cell_feature(cell: &GridCellWire) -> Value {
    let polygon = |p: &PolygonWire| -> Value {
        std::iter::once(&p.exterior)
            .chain(&p.holes)
            .map(|ring| json!(ring))
            .collect()
    };
    let geometry = match cell.polygons.as_slice() {
        [one] => json!({"type": "Polygon", "coordinates": polygon(one)}),
        many => json!({
            "type": "MultiPolygon",
            "coordinates": many.iter().map(polygon).collect::<Vec<_>>(),
        }),
    };
    json!({
        "type": "Feature",
        "properties": {"code": cell.code, "name": cell.name},
        "geometry": geometry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cell_to_wire, parse_geojson, CodePattern};

    #[test]
    fn an_exported_layer_imports_back_to_the_same_cells() {
        let city = crate::synth::StreetGrid::city(30, 12, 4);
        let cells = parse_geojson(&city.geojson(), &CodePattern::default_15()).unwrap();
        let mut writer = LayerWriter::begin(Vec::new(), "city \"v1\"").unwrap();
        for cell in &cells {
            writer.cell(&cell_to_wire(cell)).unwrap();
        }
        let text = String::from_utf8(writer.finish().unwrap()).unwrap();
        let back = parse_geojson(&text, &CodePattern::default_15()).unwrap();
        let wire = |cells: &[crate::Cell]| cells.iter().map(cell_to_wire).collect::<Vec<_>>();
        assert_eq!(wire(&back), wire(&cells));

        // Holes, several parts and a cell without a name survive too.
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"code":"990102001001001"},"geometry":{"type":"Polygon","coordinates":[
            [[111.70,40.84],[111.71,40.84],[111.71,40.85],[111.70,40.85],[111.70,40.84]],
            [[111.702,40.842],[111.702,40.844],[111.704,40.844],[111.704,40.842],[111.702,40.842]]]}},
          {"type":"Feature","properties":{"code":"990102001001002","name":"二"},"geometry":{"type":"MultiPolygon","coordinates":[
            [[[111.72,40.84],[111.723,40.84],[111.723,40.843],[111.72,40.84]]],
            [[[111.73,40.84],[111.733,40.84],[111.733,40.843],[111.73,40.84]]]]}}]}"#;
        let cells = parse_geojson(text, &CodePattern::default_15()).unwrap();
        let mut writer = LayerWriter::begin(Vec::new(), "parts").unwrap();
        for cell in &cells {
            writer.cell(&cell_to_wire(cell)).unwrap();
        }
        let out = String::from_utf8(writer.finish().unwrap()).unwrap();
        let back = parse_geojson(&out, &CodePattern::default_15()).unwrap();
        assert_eq!(wire(&back), wire(&cells));
        assert_eq!(back[1].geometry.0.len(), 2);
        assert_eq!(back[0].geometry.0[0].interiors().len(), 1);
    }

    #[test]
    fn a_coordinate_with_every_digit_used_exports_and_imports_to_the_same_bits() {
        // Found by the geojson_import fuzz target: serde_json's default float
        // parser may land one unit in the last place off on such a number, so
        // a layer exported and imported again moved its cell's border. The
        // workspace turns on serde_json's `float_roundtrip`.
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"code":"990102001001001"},"geometry":{"type":"Polygon","coordinates":[
            [[111.682,40.8508],[111.11111111156854539,40.8506748],[110.6856,40.8536],[111.682,40.8508]]]}}]}"#;
        let cells = parse_geojson(text, &CodePattern::default_15()).unwrap();
        let mut writer = LayerWriter::begin(Vec::new(), "digits").unwrap();
        writer.cell(&cell_to_wire(&cells[0])).unwrap();
        let out = String::from_utf8(writer.finish().unwrap()).unwrap();
        let back = parse_geojson(&out, &CodePattern::default_15()).unwrap();
        let bits = |cells: &[crate::Cell]| -> Vec<u64> {
            cells[0].geometry.0[0]
                .exterior()
                .0
                .iter()
                .flat_map(|c| [c.x.to_bits(), c.y.to_bits()])
                .collect()
        };
        assert_eq!(bits(&back), bits(&cells));
    }
}
