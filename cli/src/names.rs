//! Codes with their names, as people read them: `0101 上水井盖`.

use gridwarden_client_core::ReferenceNames;

use crate::render::excerpt;

/// `code name`, or the code alone where the device knows no name.
pub fn named(code: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{code} {name}"),
        None => code.to_owned(),
    }
}

/// A grid cell with its name cut to `cols` columns (cell names are long
/// and tables wide), `-` for none.
pub fn cell(names: &ReferenceNames, code: Option<&str>, cols: usize) -> String {
    match code {
        Some(code) => named(code, names.cell(code).map(|n| excerpt(n, cols)).as_deref()),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_with_its_name_when_known() {
        assert_eq!(named("0101", Some("上水井盖")), "0101 上水井盖");
        assert_eq!(named("water", None), "water");
        let none = ReferenceNames::default();
        assert_eq!(cell(&none, Some("990102001001007"), 10), "990102001001007");
        assert_eq!(cell(&none, None, 10), "-");
    }
}
