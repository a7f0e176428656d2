//! Finding things the way people name them: ids by any prefix (the UUIDv7
//! ids of reports made in the same minute share their first 8 digits, so a
//! fixed-length short id is ambiguous), the shortest prefix that names one
//! id among what the device holds, and the names of the codes in the
//! cached reference data.

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::store::ids::{self, IdKind};
use crate::store::reference;
use rusqlite::Connection;

/// Fewest hex digits a short id has: short enough to type, long enough that
/// it rarely changes as the device learns more ids.
pub const MIN_SHORT_ID_DIGITS: usize = 8;

/// What an id prefix matched: how many ids in all, and the first few (in
/// id order, which for UUIDv7 ids is the order they were made in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixMatches {
    pub total: u64,
    pub ids: Vec<Uuid>,
}

/// The hex digits of an id as typed: any case, dashes anywhere, spaces
/// around. Refuses anything else, and more digits than an id has.
pub fn id_prefix_digits(text: &str) -> Result<String> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if digits.is_empty() || digits.len() > 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ClientError::InvalidInput(format!(
            "`{}` is not an id: give the id as lists print it, or any part of its start \
             (hex digits 0-9 and a-f; dashes are optional)",
            text.trim()
        )));
    }
    Ok(digits)
}

/// The ids of one kind the device holds, sorted, to name each by the
/// shortest prefix no other of them shares.
#[derive(Clone, Debug, Default)]
pub struct ShortIds {
    sorted: Vec<Uuid>,
}

impl ShortIds {
    pub fn new(mut ids: Vec<Uuid>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        ShortIds { sorted: ids }
    }

    /// Adds ids the device learnt elsewhere (a server's listing).
    pub fn with(mut self, more: impl IntoIterator<Item = Uuid>) -> Self {
        self.sorted.extend(more);
        Self::new(self.sorted)
    }

    /// The shortest start of `id` (at least [`MIN_SHORT_ID_DIGITS`] hex
    /// digits) that no other known id shares, in the id's usual dashed form
    /// (`01a20317-29d7-7`): typed back, it names `id` alone.
    pub fn of(&self, id: &Uuid) -> String {
        let hex = id.simple().to_string();
        let shared = |other: &Uuid| {
            let o = other.simple().to_string();
            hex.bytes()
                .zip(o.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let at = self.sorted.partition_point(|x| x < id);
        let before = at.checked_sub(1).map(|i| shared(&self.sorted[i]));
        let after_at = if self.sorted.get(at) == Some(id) {
            at + 1
        } else {
            at
        };
        let after = self.sorted.get(after_at).map(shared);
        let longest_shared = before.into_iter().chain(after).max().unwrap_or(0);
        dashed_prefix(id, (longest_shared + 1).clamp(MIN_SHORT_ID_DIGITS, 32))
    }
}

/// The first `digits` hex digits of `id` in its dashed form.
fn dashed_prefix(id: &Uuid, digits: usize) -> String {
    let mut out = String::new();
    let mut seen = 0;
    for c in id.hyphenated().to_string().chars() {
        if seen == digits {
            break;
        }
        if c != '-' {
            seen += 1;
        }
        out.push(c);
    }
    out
}

/// Names of codes, from the cached reference data. Departments are not
/// in it (the device learns only their codes, from dispatch steps).
#[derive(Clone, Debug, Default)]
pub struct ReferenceNames {
    categories: HashMap<String, String>,
    cells: HashMap<String, String>,
}

impl ReferenceNames {
    pub fn category(&self, code: &str) -> Option<&str> {
        self.categories.get(code).map(String::as_str)
    }

    pub fn cell(&self, code: &str) -> Option<&str> {
        self.cells.get(code).map(String::as_str)
    }
}

/// Ids of `kind` whose hex starts with the typed prefix: how many, and the
/// first `limit`.
pub fn id_matches(
    conn: &Connection,
    kind: IdKind,
    text: &str,
    limit: usize,
) -> Result<PrefixMatches> {
    let digits = id_prefix_digits(text)?;
    let (total, ids) = ids::with_prefix(conn, kind, &digits, limit)?;
    Ok(PrefixMatches { total, ids })
}

/// Short ids unique among every id of `kind` on this device.
pub fn short_ids(conn: &Connection, kind: IdKind) -> Result<ShortIds> {
    Ok(ShortIds::new(ids::all(conn, kind)?))
}

/// Names of categories and grid cells in the cached reference data.
pub fn reference_names(conn: &Connection) -> Result<ReferenceNames> {
    let categories = reference::categories(conn)?
        .map(|t| t.categories.into_iter().map(|c| (c.code, c.name)).collect())
        .unwrap_or_default();
    let cells = crate::store::grid_cells::names(conn)?.into_iter().collect();
    Ok(ReferenceNames { categories, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).unwrap()
    }

    #[test]
    fn short_ids_grow_until_unique_among_what_is_held() {
        // Made in the same minute: the first 8 digits are all the same.
        let a = id("01a20317-29d7-70dd-a57d-0401b099ddc3");
        let b = id("01a20317-29d7-7abc-a57d-0401b099ddc3");
        let c = id("01a20317-29e1-7000-8000-000000000000");
        let lone = id("0f000000-0000-7000-8000-000000000000");
        let short = ShortIds::new(vec![c, a, b, lone]);
        assert_eq!(short.of(&a), "01a20317-29d7-70");
        assert_eq!(short.of(&b), "01a20317-29d7-7a");
        assert_eq!(short.of(&c), "01a20317-29e");
        assert_eq!(short.of(&lone), "0f000000", "never fewer than 8 digits");
        let all = [a, b, c, lone].map(|i| short.of(&i));
        for (i, s) in all.iter().enumerate() {
            let digits = s.replace('-', "");
            let starts = [a, b, c, lone]
                .iter()
                .filter(|x| x.simple().to_string().starts_with(&digits))
                .count();
            assert_eq!(starts, 1, "{s} (#{i}) names one id");
        }
    }

    #[test]
    fn a_short_id_of_an_id_not_held_is_unique_against_its_neighbours() {
        let a = id("01a20317-29d7-70dd-a57d-0401b099ddc3");
        let other = id("01a20317-29d7-70dd-a57d-0401b099ddc4");
        let short = ShortIds::new(vec![a]);
        assert_eq!(short.of(&other), other.hyphenated().to_string());
        assert_eq!(ShortIds::default().of(&a), "01a20317");
        assert_eq!(short.with([other]).of(&a), a.hyphenated().to_string());
    }

    #[test]
    fn typed_prefixes_are_hex_in_any_case_with_optional_dashes() {
        assert_eq!(id_prefix_digits(" 01A2-0317-29 ").unwrap(), "01a2031729");
        for bad in ["", "-", "xyz", "01a2 0317", &"0".repeat(33)] {
            let e = id_prefix_digits(bad).unwrap_err().to_string();
            assert!(e.contains("is not an id"), "{bad}: {e}");
        }
    }
}
