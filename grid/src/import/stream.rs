//! The streaming reader behind [`super::read_geojson`]: serde visits the
//! document and each element of `features` is decoded, checked and handed
//! on before the next is read. A refusal found while visiting is parked in
//! [`State::failure`] and the visit is stopped with a placeholder error, so
//! the caller gets the same [`GridError`] the whole-document reader gave.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{describe, parse_feature, Fields, Seen};
use crate::{Cell, CodePattern, GridError};

/// Why a streamed import stopped: the layer (for the IT operator) or the
/// sink that stores its cells.
#[derive(Debug, thiserror::Error)]
pub enum ImportError<E> {
    #[error(transparent)]
    Grid(GridError),
    #[error("the cells could not be stored: {0}")]
    Sink(E),
}

struct State<'p, F, E> {
    pattern: &'p CodePattern,
    fields: &'p Fields,
    sink: F,
    seen: Seen,
    count: usize,
    /// `Some(Ok)` once `"type": "FeatureCollection"` was read.
    kind: Option<Result<(), String>>,
    had_features: bool,
    failure: Option<ImportError<E>>,
}

impl<F, E> State<'_, F, E> {
    fn fail<T, D: de::Error>(&mut self, e: ImportError<E>) -> Result<T, D> {
        self.failure = Some(e);
        Err(D::custom("stopped"))
    }

    fn not_fc<T, D: de::Error>(&mut self, found: String) -> Result<T, D> {
        self.fail(ImportError::Grid(GridError::NotFeatureCollection { found }))
    }
}

pub(super) fn read<R: Read, E>(
    reader: R,
    pattern: &CodePattern,
    fields: &Fields,
    sink: impl FnMut(Cell) -> Result<(), E>,
) -> Result<usize, ImportError<E>> {
    let mut state = State {
        pattern,
        fields,
        sink,
        seen: Seen::default(),
        count: 0,
        kind: None,
        had_features: false,
        failure: None,
    };
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    let visited = de::Deserializer::deserialize_any(&mut de, Document(&mut state));
    let visited = visited.and_then(|()| de.end());
    if let Some(failure) = state.failure.take() {
        return Err(failure);
    }
    if let Err(e) = visited {
        return Err(ImportError::Grid(GridError::Json {
            detail: e.to_string(),
            line: e.line(),
            column: e.column(),
        }));
    }
    match state.kind {
        Some(Ok(())) => {}
        Some(Err(found)) => {
            return Err(ImportError::Grid(GridError::NotFeatureCollection { found }))
        }
        None => {
            return Err(ImportError::Grid(GridError::NotFeatureCollection {
                found: "the top-level object has no \"type\"".to_owned(),
            }))
        }
    }
    if !state.had_features {
        return Err(ImportError::Grid(GridError::NotFeatureCollection {
            found: "it has no \"features\" array".to_owned(),
        }));
    }
    if state.count == 0 {
        return Err(ImportError::Grid(GridError::Empty));
    }
    Ok(state.count)
}

/// Visits the top-level value; anything but an object is refused with the
/// same words as the whole-document reader.
struct Document<'s, 'p, F, E>(&'s mut State<'p, F, E>);

/// Implements every non-map/seq visit of a visitor as "it is not what we
/// wanted", describing the value as `describe` does.
macro_rules! refuse_scalars {
    ($prefix:expr) => {
        fn visit_bool<D: de::Error>(self, v: bool) -> Result<Self::Value, D> {
            self.refuse(format!("{}the boolean {v}", $prefix))
        }
        fn visit_i64<D: de::Error>(self, v: i64) -> Result<Self::Value, D> {
            self.refuse(format!("{}the number {v}", $prefix))
        }
        fn visit_u64<D: de::Error>(self, v: u64) -> Result<Self::Value, D> {
            self.refuse(format!("{}the number {v}", $prefix))
        }
        fn visit_f64<D: de::Error>(self, v: f64) -> Result<Self::Value, D> {
            let n = serde_json::Number::from_f64(v)
                .map(|n| n.to_string())
                .unwrap_or_else(|| v.to_string());
            self.refuse(format!("{}the number {n}", $prefix))
        }
        fn visit_str<D: de::Error>(self, v: &str) -> Result<Self::Value, D> {
            self.refuse(format!("{}the string {v:?}", $prefix))
        }
        fn visit_unit<D: de::Error>(self) -> Result<Self::Value, D> {
            self.refuse(format!("{}null", $prefix))
        }
    };
}

impl<F, E> Document<'_, '_, F, E> {
    fn refuse<T, D: de::Error>(self, found: String) -> Result<T, D> {
        self.0.not_fc(found)
    }
}

impl<'de, F: FnMut(Cell) -> Result<(), E>, E> Visitor<'de> for Document<'_, '_, F, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection")
    }

    refuse_scalars!("the document is ");

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.refuse("the document is an array".to_owned())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let kind = match map.next_value::<Value>()? {
                        Value::String(t) if t == "FeatureCollection" => Ok(()),
                        Value::String(t) => Err(format!("its \"type\" is {t:?}")),
                        other => Err(format!("its \"type\" is {}", describe(&other))),
                    };
                    if let Err(found) = &kind {
                        // Refused before any feature is read, as the
                        // whole-document reader did.
                        return state.not_fc(found.clone());
                    }
                    state.kind = Some(kind);
                }
                "features" => {
                    state.had_features = true;
                    map.next_value_seed(Features(&mut *state))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `features` member: streamed element by element.
struct Features<'s, 'p, F, E>(&'s mut State<'p, F, E>);

impl<F, E> Features<'_, '_, F, E> {
    fn refuse<T, D: de::Error>(self, found: String) -> Result<T, D> {
        self.0
            .not_fc(format!("its \"features\" is {found}, not an array"))
    }
}

impl<'de, F: FnMut(Cell) -> Result<(), E>, E> DeserializeSeed<'de> for Features<'_, '_, F, E> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Cell) -> Result<(), E>, E> Visitor<'de> for Features<'_, '_, F, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of features")
    }

    refuse_scalars!("");

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.refuse("an object".to_owned())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        // One feature's JSON tree at a time: a few kilobytes, whatever the
        // size of the layer.
        while let Some(feature) = seq.next_element::<Value>()? {
            let index = state.count;
            let cell = match parse_feature(&feature, state.pattern, state.fields) {
                Ok(cell) => cell,
                Err((code, problem)) => {
                    return state.fail(ImportError::Grid(GridError::Feature {
                        index,
                        code,
                        problem,
                    }))
                }
            };
            if let Err(e) = state.seen.check(index, &cell.code) {
                return state.fail(ImportError::Grid(e));
            }
            if let Err(e) = (state.sink)(cell) {
                return state.fail(ImportError::Sink(e));
            }
            state.count += 1;
        }
        Ok(())
    }
}
