use serde_json::{json, Value};

use super::*;

const CODE_A: &str = "990102001001001";
const CODE_B: &str = "990102001001002";

fn square(x0: f64, y0: f64) -> Value {
    json!([[
        [x0, y0],
        [x0 + 0.003, y0],
        [x0 + 0.003, y0 + 0.003],
        [x0, y0 + 0.003],
        [x0, y0]
    ]])
}

fn feature(code: Value, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"code": code, "name": "cell"}, "geometry": geometry})
}

fn polygon(coords: Value) -> Value {
    json!({"type": "Polygon", "coordinates": coords})
}

fn collection(features: Vec<Value>) -> String {
    json!({"type": "FeatureCollection", "name": "layer v1", "features": features}).to_string()
}

fn two_good() -> Vec<Value> {
    vec![
        feature(json!(CODE_A), polygon(square(111.70, 40.84))),
        feature(json!(CODE_B), polygon(square(111.703, 40.84))),
    ]
}

/// Parses with the 15-digit pattern and returns the error message.
fn refusal(text: &str) -> String {
    parse_geojson(text, &CodePattern::default_15())
        .expect_err("should be refused")
        .to_string()
}

/// The second feature replaced by `bad`: the message must name index 1.
fn refusal_of_second(bad: Value) -> String {
    let mut features = two_good();
    features[1] = bad;
    refusal(&collection(features))
}

#[test]
fn accepts_polygons_names_and_ignores_foreign_members() {
    let mut features = two_good();
    features[1]["properties"] = json!({"code": CODE_B, "street": "001"});
    let cells = parse_geojson(&collection(features), &CodePattern::default_15()).unwrap();
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0].code, CODE_A);
    assert_eq!(cells[0].name.as_deref(), Some("cell"));
    assert_eq!(cells[1].name, None);
    // 0.003° square at 40.84°N ≈ 253 m × 333 m.
    assert!(
        (cells[0].area_m2 - 84_260.0).abs() < 1_000.0,
        "{}",
        cells[0].area_m2
    );
}

#[test]
fn accepts_multipolygons_and_holes() {
    let holed = json!([
        [
            [111.70, 40.84],
            [111.71, 40.84],
            [111.71, 40.85],
            [111.70, 40.85],
            [111.70, 40.84]
        ],
        [
            [111.702, 40.842],
            [111.702, 40.844],
            [111.704, 40.844],
            [111.704, 40.842],
            [111.702, 40.842]
        ]
    ]);
    let multi = json!({"type": "MultiPolygon", "coordinates": [square(111.72, 40.84), square(111.73, 40.84)]});
    let text = collection(vec![
        feature(json!(CODE_A), polygon(holed)),
        feature(json!(CODE_B), multi),
    ]);
    let cells = parse_geojson(&text, &CodePattern::default_15()).unwrap();
    assert_eq!(cells[0].geometry.0[0].interiors().len(), 1);
    assert_eq!(cells[1].geometry.0.len(), 2);
}

#[test]
fn malformed_json_gives_line_and_column() {
    let err = parse_geojson(
        "{\n  \"type\": \"FeatureCollection\",\n  \"features\": [,]\n}",
        &CodePattern::any(),
    )
    .unwrap_err();
    let GridError::Json { line, column, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*line, *column), (3, 16));
    assert!(
        err.to_string().contains("not valid JSON") && err.to_string().contains("line 3 column 16"),
        "{err}"
    );
}

#[test]
fn refuses_anything_but_a_feature_collection() {
    assert!(refusal("[1, 2]")
        .contains("must be a GeoJSON FeatureCollection, but the document is an array"));
    let feature = feature(json!(CODE_A), polygon(square(111.70, 40.84))).to_string();
    assert!(refusal(&feature).contains("its \"type\" is \"Feature\""));
    assert!(refusal(r#"{"type": "FeatureCollection"}"#).contains("no \"features\" array"));
    assert!(refusal(r#"{"features": []}"#).contains("no \"type\""));
}

#[test]
fn refuses_an_empty_collection() {
    let e = refusal(&collection(vec![]));
    assert!(e.contains("has no features"), "{e}");
}

#[test]
fn refuses_a_feature_without_geometry() {
    for geometry in [Value::Null, json!("nothing")] {
        let e = refusal_of_second(feature(json!(CODE_B), geometry));
        assert!(
            e.starts_with(&format!("feature 1 (code \"{CODE_B}\"):")),
            "{e}"
        );
    }
    let e = refusal_of_second(json!({"type": "Feature", "properties": {"code": CODE_B}}));
    assert!(e.contains("has no geometry"), "{e}");
}

#[test]
fn refuses_other_geometry_types() {
    let point = json!({"type": "Point", "coordinates": [111.7, 40.84]});
    let e = refusal_of_second(feature(json!(CODE_B), point));
    assert_eq!(
        e,
        format!("feature 1 (code \"{CODE_B}\"): the geometry is a Point; only Polygon and MultiPolygon are accepted")
    );
}

#[test]
fn refuses_missing_empty_and_non_string_codes() {
    let geometry = polygon(square(111.703, 40.84));
    let e = refusal_of_second(
        json!({"type": "Feature", "properties": {"name": "x"}, "geometry": geometry}),
    );
    assert_eq!(
        e,
        "feature 1: has no properties.code; every cell needs a code (its properties: name)"
    );
    let e = refusal_of_second(json!({"type": "Feature", "properties": null, "geometry": geometry}));
    assert!(e.starts_with("feature 1: has no properties"), "{e}");
    let e = refusal_of_second(feature(json!(""), geometry.clone()));
    assert_eq!(e, "feature 1: properties.code is empty");
    // A whole number is a code when its digits fit the pattern; one that
    // does not fit (a 15-digit code that lost its leading zero), or a
    // fraction, is refused rather than guessed.
    let e = refusal_of_second(feature(json!(90102001001002_u64), geometry.clone()));
    assert!(
        e.starts_with("feature 1: properties.code is the number 90102001001002, which does not match the code pattern (exactly 15 ASCII digits)"),
        "{e}"
    );
    assert!(e.contains("must be a JSON string"), "{e}");
    let e = refusal_of_second(feature(json!(990102001001.5), geometry.clone()));
    assert!(
        e.starts_with("feature 1: properties.code is the number 990102001001.5"),
        "{e}"
    );
    let e = refusal_of_second(feature(json!(["x"]), geometry.clone()));
    assert!(
        e.starts_with("feature 1: properties.code is an array"),
        "{e}"
    );
}

#[test]
fn refuses_codes_off_the_pattern() {
    let e = refusal_of_second(feature(
        json!("99010200100100"),
        polygon(square(111.703, 40.84)),
    ));
    assert!(e.starts_with("feature 1 (code \"99010200100100\"):"), "{e}");
    assert!(
        e.contains("has 14 digits; expected exactly 15 ASCII digits"),
        "{e}"
    );
    // The same file passes with a looser pattern.
    let mut features = two_good();
    features[1]["properties"]["code"] = json!("B-2");
    parse_geojson(&collection(features), &CodePattern::any()).unwrap();
}

#[test]
fn refuses_duplicate_codes() {
    let mut features = two_good();
    features.push(feature(json!(CODE_A), polygon(square(111.706, 40.84))));
    let e = refusal(&collection(features));
    assert_eq!(
        e,
        format!("feature 2 (code \"{CODE_A}\"): duplicate code, feature 0 already uses it")
    );
}

#[test]
fn refuses_non_finite_and_off_planet_coordinates() {
    // JSON has no NaN; a number too large for f64 is the way it shows up.
    let e = refusal(&collection(two_good()).replacen("111.703", "1e999", 1));
    assert!(e.contains("not valid JSON"), "{e}");

    let mut coords = square(111.703, 40.84);
    coords[0][2] = json!([181.0, 40.843]);
    let e = refusal_of_second(feature(json!(CODE_B), polygon(coords)));
    assert_eq!(
        e,
        format!("feature 1 (code \"{CODE_B}\"): exterior ring: position 2: longitude 181 is outside -180..180 (are lon and lat swapped, or is this not WGS84?)")
    );

    let mut coords = square(111.703, 40.84);
    coords[0][1] = json!([40.84, 111.706]);
    let e = refusal_of_second(feature(json!(CODE_B), polygon(coords)));
    assert!(
        e.contains("feature 1") && e.contains("latitude 111.706 is outside -90..90"),
        "{e}"
    );
}

#[test]
fn refuses_short_and_open_rings() {
    let short = json!([[[111.70, 40.84], [111.71, 40.84], [111.70, 40.84]]]);
    let e = refusal_of_second(feature(json!(CODE_B), polygon(short)));
    assert!(
        e.starts_with(&format!(
            "feature 1 (code \"{CODE_B}\"): exterior ring: has 3 positions"
        )),
        "{e}"
    );

    let open = json!([
        [
            [111.70, 40.84],
            [111.71, 40.84],
            [111.71, 40.85],
            [111.70, 40.85],
            [111.70, 40.84]
        ],
        [
            [111.702, 40.842],
            [111.702, 40.844],
            [111.704, 40.844],
            [111.704, 40.842]
        ]
    ]);
    let e = refusal_of_second(feature(json!(CODE_B), polygon(open)));
    assert!(
        e.contains("feature 1") && e.contains("hole 1: is not closed"),
        "{e}"
    );

    let multi = json!({"type": "MultiPolygon", "coordinates": [square(111.72, 40.84), [[[111.73, 40.84]]]]});
    let e = refusal_of_second(feature(json!(CODE_B), multi));
    assert!(
        e.contains("polygon 1, exterior ring: has 1 positions"),
        "{e}"
    );
}

#[test]
fn refuses_malformed_geometry_and_features() {
    let bad = json!({"type": "Polygon", "coordinates": [[[111.7], [111.71, 40.84]]]});
    let e = refusal_of_second(feature(json!(CODE_B), bad));
    assert!(
        e.starts_with(&format!("feature 1 (code \"{CODE_B}\"): invalid geometry:")),
        "{e}"
    );

    let e = refusal_of_second(json!("not a feature"));
    assert!(e.starts_with("feature 1: is the string"), "{e}");
    let mut wrong_type = two_good()[1].clone();
    wrong_type["type"] = json!("Polygon");
    let e = refusal_of_second(wrong_type);
    assert!(
        e.starts_with("feature 1: its \"type\" is \"Polygon\""),
        "{e}"
    );

    let mut bad_name = two_good()[1].clone();
    bad_name["properties"]["name"] = json!(7);
    let e = refusal_of_second(bad_name);
    assert!(
        e.contains("feature 1 (code") && e.contains("properties.name is the number 7"),
        "{e}"
    );
}

#[test]
fn numbers_matching_the_pattern_are_codes() {
    let mut features = two_good();
    features[1]["properties"]["code"] = json!(990102001001002_u64);
    let cells = parse_geojson(&collection(features), &CodePattern::default_15()).unwrap();
    assert_eq!(cells[1].code, CODE_B);
}

/// DataV GeoAtlas's boundary files: the code as the number `adcode`, the
/// name as `name`, more properties besides.
#[test]
fn other_properties_carry_the_code_and_the_name_when_told() {
    let datav = |adcode: Value, x0: f64| {
        json!({"type": "Feature", "properties": {
            "adcode": adcode, "name": "东城区", "center": [116.418757, 39.917544],
            "level": "district", "parent": {"adcode": 110000}, "acroutes": [100000, 110000]
        }, "geometry": polygon(square(x0, 39.9))})
    };
    let text = collection(vec![
        datav(json!(110101), 116.40),
        datav(json!(110102), 116.41),
    ]);
    let pattern = CodePattern::digits(6);
    let e = parse_geojson(&text, &pattern).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "feature 0: has no properties.code; every cell needs a code (its properties: "
        ),
        "{e}"
    );
    assert!(e.contains("adcode"), "{e}");
    let fields = Fields {
        code: "adcode".into(),
        name: "name".into(),
    };
    let mut cells = Vec::new();
    read_geojson_fields(text.as_bytes(), &pattern, &fields, |c| {
        cells.push(c);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap();
    let got: Vec<_> = cells
        .iter()
        .map(|c| (c.code.as_str(), c.name.as_deref()))
        .collect();
    assert_eq!(
        got,
        [("110101", Some("东城区")), ("110102", Some("东城区"))]
    );
    // A name property that is not a string is named in the refusal.
    let fields = Fields {
        code: "adcode".into(),
        name: "center".into(),
    };
    let e = read_geojson_fields(text.as_bytes(), &pattern, &fields, |_| {
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "feature 0 (code \"110101\"): properties.center is an array; a name must be a string"
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let text = format!("\u{feff}{}", collection(two_good()));
    let cells = parse_geojson(&text, &CodePattern::default_15()).unwrap();
    assert_eq!(cells.len(), 2);
    // A mark anywhere else is still not JSON.
    let e = refusal(&format!(" \u{feff}{}", collection(two_good())));
    assert!(e.starts_with("the grid layer is not valid JSON"), "{e}");
}
