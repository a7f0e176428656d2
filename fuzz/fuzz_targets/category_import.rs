//! The category table a city loads (`gridwarden-server categories import`,
//! `workflow/src/categories.rs`): the input as CSV, and as JSON.
//!
//! Must hold: nothing panics; an accepted table has unique, valid codes,
//! routes only to its own categories, and reads back the same from its own
//! JSON form.
#![no_main]

use gridwarden_workflow::categories::{from_csv, from_json, CategoryImport};
use libfuzzer_sys::fuzz_target;

fn check(import: &CategoryImport) {
    let codes: Vec<&str> = import
        .table
        .categories
        .iter()
        .map(|c| c.code.as_str())
        .collect();
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len(), "duplicate codes accepted");
    for (code, _) in &import.routes {
        assert!(
            codes.contains(&code.as_str()),
            "a route to an unknown category"
        );
    }
    let json = serde_json::json!({
        "categories": import.table.categories,
        "routes": import.routes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    let again = from_json(&json.to_string()).expect("a table's own JSON is refused");
    assert_eq!(again.table.categories, import.table.categories);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(import) = from_csv(text) {
        check(&import);
    }
    if let Ok(import) = from_json(text) {
        check(&import);
    }
});
