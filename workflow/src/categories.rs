//! A city's category table as it loads it: CSV (one row per subclass, with
//! its limits and default department) or JSON (the table as devices receive
//! it, plus optional routes). All or nothing: any bad row is refused with
//! its line and what is wrong, and nothing is imported.

use std::collections::{BTreeMap, HashSet};

use gridwarden_protocol::category::{Category, CategoryTable, Family, TimeLimit};
use gridwarden_protocol::validate;
use serde::Deserialize;

/// A category table and, per category code, the department it goes to by
/// default.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryImport {
    pub table: CategoryTable,
    pub routes: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ImportError(pub String);

/// `1h`, `4h`, `2d` (working hours or days), or empty for no limit.
pub fn parse_limit(text: &str) -> Result<Option<TimeLimit>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    // The unit is the last character, which may be any character at all.
    let unit_at = text.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = text.split_at(unit_at);
    let n: u32 = number
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0 && *n <= 10_000)
        .ok_or_else(|| format!("limit `{text}` is not like 4h or 2d"))?;
    match unit {
        "h" | "H" => Ok(Some(TimeLimit::WorkingHours(n))),
        "d" | "D" => Ok(Some(TimeLimit::WorkingDays(n))),
        _ => Err(format!(
            "limit `{text}` is not like 4h (working hours) or 2d (working days)"
        )),
    }
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    code: String,
    family: String,
    class_code: String,
    class_name: String,
    name: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    register_limit: String,
    #[serde(default)]
    dispose_limit: String,
    #[serde(default)]
    department: String,
}

fn family(text: &str) -> Result<Family, String> {
    match text.trim() {
        "component" | "部件" => Ok(Family::Component),
        "event" | "事件" => Ok(Family::Event),
        other => Err(format!(
            "family `{other}` is not component (部件) or event (事件)"
        )),
    }
}

/// Reads the CSV form. The header names the columns: `code, family,
/// class_code, class_name, name, name_en, register_limit, dispose_limit,
/// department` (the last four may be empty).
pub fn from_csv(text: &str) -> Result<CategoryImport, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut categories = Vec::new();
    let mut routes = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| ImportError(format!("line {line}: {e}")))?;
        let at = |m: String| ImportError(format!("line {line} (code {}): {m}", row.code));
        let category = Category {
            code: row.code.clone(),
            family: family(&row.family).map_err(at)?,
            class_code: row.class_code.clone(),
            class_name: row.class_name.clone(),
            name: row.name.clone(),
            name_en: row.name_en.clone(),
            register_limit: parse_limit(&row.register_limit).map_err(at)?,
            dispose_limit: parse_limit(&row.dispose_limit).map_err(at)?,
        };
        if !row.department.is_empty() {
            routes.push((row.code.clone(), row.department.clone()));
        }
        categories.push(category);
    }
    finish(categories, routes)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonImport {
    #[serde(default)]
    version: u64,
    categories: Vec<Category>,
    #[serde(default)]
    routes: BTreeMap<String, String>,
}

/// Reads the JSON form: `{"categories": [...], "routes": {"0101": "water"}}`.
pub fn from_json(text: &str) -> Result<CategoryImport, ImportError> {
    let parsed: JsonImport = serde_json::from_str(text)
        .map_err(|e| ImportError(format!("not a category table: {e}")))?;
    let _ = parsed.version;
    finish(parsed.categories, parsed.routes.into_iter().collect())
}

fn finish(
    categories: Vec<Category>,
    routes: Vec<(String, String)>,
) -> Result<CategoryImport, ImportError> {
    if categories.is_empty() {
        return Err(ImportError("the table has no categories".into()));
    }
    let mut seen = HashSet::new();
    for c in &categories {
        validate::category(&c.code).map_err(|e| ImportError(format!("code {:?}: {e}", c.code)))?;
        if c.name.trim().is_empty() || c.class_name.trim().is_empty() {
            return Err(ImportError(format!(
                "code {}: a name and a class name are needed",
                c.code
            )));
        }
        if !seen.insert(c.code.clone()) {
            return Err(ImportError(format!("code {} appears twice", c.code)));
        }
    }
    for (code, department) in &routes {
        if !seen.contains(code) {
            return Err(ImportError(format!(
                "a route names category {code}, which is not in the table"
            )));
        }
        if department.trim().is_empty()
            || department.chars().count() > validate::MAX_DEPARTMENT_CHARS
        {
            return Err(ImportError(format!(
                "category {code}: department `{department}` is not a code"
            )));
        }
    }
    Ok(CategoryImport {
        table: CategoryTable {
            version: 0,
            categories,
        },
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str =
        "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department
0101,component,01,公用设施,上水井盖,water-supply manhole cover,1h,1d,water
1102,event,11,市容环境,暴露垃圾,exposed rubbish,1h,4h,sanitation
\"0201\",部件,02,道路交通,\"路灯, 杆\",street light,,3d,
";

    #[test]
    fn a_csv_table_loads_with_limits_and_routes() {
        let import = from_csv(CSV).unwrap();
        assert_eq!(import.table.categories.len(), 3);
        let light = import.table.get("0201").unwrap();
        assert_eq!(
            (light.family, light.name.as_str()),
            (Family::Component, "路灯, 杆")
        );
        assert_eq!(
            (light.register_limit, light.dispose_limit),
            (None, Some(TimeLimit::WorkingDays(3)))
        );
        assert_eq!(
            import.table.get("1102").unwrap().dispose_limit,
            Some(TimeLimit::WorkingHours(4))
        );
        assert_eq!(
            import.routes,
            [
                ("0101".to_string(), "water".to_string()),
                ("1102".into(), "sanitation".into())
            ]
        );
    }

    #[test]
    fn bad_rows_are_refused_by_line() {
        let header = "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department\n";
        let cases = [
            (
                "0101,component,01,x,y,z,1h,1w,\n",
                "line 2 (code 0101): limit `1w`",
            ),
            ("0101,thing,01,x,y,z,,,\n", "family `thing`"),
            (
                "0101,event,01,x,y,z,,,\n0101,event,01,x,y,z,,,\n",
                "appears twice",
            ),
            ("0101,event,01,x,y\n", "line 2"),
            (",event,01,x,y,z,,,\n", "empty"),
            ("0101,event,01,x,,z,,,\n", "a name"),
            ("0101,event,01,x,y,z,0h,,\n", "0h"),
            // Found by fuzzing: a limit ending in a multi-byte character panicked.
            ("0101,event,01,x,y,z,1ϖ,,\n", "1ϖ"),
        ];
        for (rows, expected) in cases {
            let err = from_csv(&format!("{header}{rows}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{rows:?}: {err}");
        }
        assert!(from_csv(header)
            .unwrap_err()
            .to_string()
            .contains("no categories"));
    }

    #[test]
    fn the_json_form_is_the_table_plus_routes() {
        let json = r#"{"categories": [{"code": "0101", "family": "component", "class_code": "01",
            "class_name": "公用设施", "name": "上水井盖", "name_en": "cover",
            "register_limit": {"working_hours": 1}, "dispose_limit": null}],
            "routes": {"0101": "water"}}"#;
        let import = from_json(json).unwrap();
        assert_eq!(import.routes, [("0101".to_string(), "water".to_string())]);
        let err = from_json(r#"{"categories": [], "routes": {}}"#).unwrap_err();
        assert!(err.to_string().contains("no categories"));
        let err = from_json(r#"{"categories": [{"code": "0101", "family": "component", "class_code": "01", "class_name": "a", "name": "b", "name_en": "", "register_limit": null, "dispose_limit": null}], "routes": {"9999": "water"}}"#).unwrap_err();
        assert!(err.to_string().contains("9999"), "{err}");
    }
}
