//! GeoJSON import of a grid layer.
//!
//! The document is read as plain JSON first, so a syntax error carries its
//! line and column and every later refusal can name the feature index (and
//! its code) instead of failing somewhere deep inside a generic decoder. Only
//! each feature's geometry goes through the `geojson` crate.

use std::collections::HashMap;
use std::io::Read;

use geojson::{Geometry, Value as GeoValue};
use serde_json::{Map, Value};

use crate::cell::{build_geometry, RawPolygon};
use crate::{Cell, CodePattern, GridError};

mod bom;
mod stream;

pub use stream::ImportError;

/// Which feature properties carry a cell's code and name: `code` and `name`
/// unless a file says otherwise (DataV's boundary files carry the code as
/// `adcode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub code: String,
    pub name: String,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            code: "code".to_owned(),
            name: "name".to_owned(),
        }
    }
}

/// Parses a FeatureCollection of Polygon/MultiPolygon features into cells.
///
/// Each feature needs `properties.code` matching `pattern` (a string, or a
/// whole number whose digits match); `properties.name` is optional. Foreign members (such as a layer `name`)
/// and other properties are ignored. All or nothing: the first problem found
/// is returned and no cells are.
pub fn parse_geojson(text: &str, pattern: &CodePattern) -> Result<Vec<Cell>, GridError> {
    let mut cells = Vec::new();
    read_geojson(text.as_bytes(), pattern, |cell| {
        cells.push(cell);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        ImportError::Grid(e) => e,
        ImportError::Sink(never) => match never {},
    })?;
    Ok(cells)
}

/// Reads a FeatureCollection from `reader` one feature at a time and hands
/// each cell to `sink` as soon as it is checked, so a city's layer (hundreds
/// of megabytes of GeoJSON) is never held whole, neither as text nor as a
/// JSON tree. The checks are those of [`parse_geojson`]; a caller that must
/// be all-or-nothing (the server's import) discards what `sink` received
/// when an error comes back. Returns the number of cells.
pub fn read_geojson<R: Read, E>(
    reader: R,
    pattern: &CodePattern,
    sink: impl FnMut(Cell) -> Result<(), E>,
) -> Result<usize, ImportError<E>> {
    read_geojson_fields(reader, pattern, &Fields::default(), sink)
}

/// [`read_geojson`] with the code and name read from the properties that
/// `fields` names. A UTF-8 byte-order mark at the start is skipped (files
/// saved by Windows tools carry one; JSON itself forbids it).
pub fn read_geojson_fields<R: Read, E>(
    reader: R,
    pattern: &CodePattern,
    fields: &Fields,
    sink: impl FnMut(Cell) -> Result<(), E>,
) -> Result<usize, ImportError<E>> {
    let reader = bom::skip(reader).map_err(|e| {
        ImportError::Grid(GridError::Json {
            detail: e.to_string(),
            line: 1,
            column: 1,
        })
    })?;
    stream::read(reader, pattern, fields, sink)
}

/// Codes seen so far, to refuse duplicates naming the first feature.
#[derive(Default)]
struct Seen {
    first: HashMap<String, usize>,
}

impl Seen {
    fn check(&mut self, index: usize, code: &str) -> Result<(), GridError> {
        if let Some(&first) = self.first.get(code) {
            return Err(GridError::DuplicateCode {
                index,
                code: code.to_owned(),
                first,
            });
        }
        self.first.insert(code.to_owned(), index);
        Ok(())
    }
}

/// One feature to one cell. The error carries the code when it is known.
pub(crate) fn parse_feature(
    feature: &Value,
    pattern: &CodePattern,
    fields: &Fields,
) -> Result<Cell, (Option<String>, String)> {
    let no_code = |problem: String| (None, problem);
    let Value::Object(obj) = feature else {
        return Err(no_code(format!(
            "is {}, not a Feature object",
            describe(feature)
        )));
    };
    match obj.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        Some(other) => {
            return Err(no_code(format!(
                "its \"type\" is {other}, expected \"Feature\""
            )));
        }
        None => return Err(no_code("has no \"type\"; expected \"Feature\"".to_owned())),
    }
    let props = match obj.get("properties") {
        Some(Value::Object(props)) => props,
        Some(Value::Null) | None => {
            return Err(no_code(format!(
                "has no properties; every cell needs a string properties.{}",
                fields.code
            )));
        }
        Some(other) => {
            return Err(no_code(format!(
                "its properties is {}, not an object",
                describe(other)
            )));
        }
    };
    let code = code_of(props, &fields.code, pattern).map_err(no_code)?;
    let with_code = |problem: String| (Some(code.clone()), problem);
    pattern.check(&code).map_err(|e| with_code(e.to_string()))?;
    let name = match props.get(&fields.name) {
        Some(Value::String(name)) => Some(name.clone()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(with_code(format!(
                "properties.{} is {}; a name must be a string",
                fields.name,
                describe(other)
            )));
        }
    };
    let polygons = polygons_of(obj.get("geometry")).map_err(with_code)?;
    let geometry = build_geometry(polygons).map_err(with_code)?;
    Ok(Cell::new(code, name, geometry))
}

/// The code property (`key`): a non-empty string, or a whole number whose
/// digits match `pattern`.
fn code_of(props: &Map<String, Value>, key: &str, pattern: &CodePattern) -> Result<String, String> {
    match props.get(key) {
        Some(Value::String(code)) if code.is_empty() => Err(format!("properties.{key} is empty")),
        Some(Value::String(code)) => Ok(code.clone()),
        Some(Value::Null) | None => {
            let mut known: Vec<&str> = props.keys().map(String::as_str).take(8).collect();
            if props.len() > known.len() {
                known.push("…");
            }
            let known = if known.is_empty() {
                String::new()
            } else {
                format!(" (its properties: {})", known.join(", "))
            };
            Err(format!(
                "has no properties.{key}; every cell needs a code{known}"
            ))
        }
        // DataV's boundary files (and many GIS exports) write codes such as
        // `adcode` as numbers. A whole number read exactly (serde_json keeps
        // integers up to 2^64 exact) whose digits fit the pattern is that
        // code; anything else (a fraction, an exponent, a code whose leading
        // zeros a number cannot carry) is refused rather than guessed.
        Some(Value::Number(n)) => match n.as_u64() {
            Some(whole) if pattern.check(&whole.to_string()).is_ok() => Ok(whole.to_string()),
            Some(whole) => Err(format!(
                "properties.{key} is the number {whole}, which does not match the code pattern ({}); a code that needs leading zeros must be a JSON string (write \"…\")",
                pattern.describe()
            )),
            None => Err(format!(
                "properties.{key} is the number {n}; codes must be whole numbers or JSON strings (write \"{n}\")"
            )),
        },
        Some(other) => Err(format!(
            "properties.{key} is {}; codes must be JSON strings",
            describe(other)
        )),
    }
}

/// The polygons of a feature's geometry, as plain rings.
fn polygons_of(geometry: Option<&Value>) -> Result<Vec<RawPolygon>, String> {
    let geometry = match geometry {
        None | Some(Value::Null) => {
            return Err("has no geometry; every cell needs a Polygon or MultiPolygon".to_owned());
        }
        Some(g) => g,
    };
    let geometry = Geometry::from_json_value(geometry.clone())
        .map_err(|e| format!("invalid geometry: {e}"))?;
    let to_raw = |rings: Vec<Vec<Vec<f64>>>| -> RawPolygon {
        rings
            .into_iter()
            // geojson guarantees at least two numbers per position; a third
            // (altitude) is not used by the grid.
            .map(|ring| ring.into_iter().map(|p| [p[0], p[1]]).collect())
            .collect()
    };
    match geometry.value {
        GeoValue::Polygon(rings) => Ok(vec![to_raw(rings)]),
        GeoValue::MultiPolygon(polys) => Ok(polys.into_iter().map(to_raw).collect()),
        other => Err(format!(
            "the geometry is a {}; only Polygon and MultiPolygon are accepted",
            other.type_name()
        )),
    }
}

/// A short description of a JSON value for messages ("an array", "the number 3").
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests;
