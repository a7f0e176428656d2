//! Ids as typed: any unique start of a report's (so a case's) or a patrol's
//! id, in any case, dashes optional. An ambiguous start is a usage error
//! that lists the candidates, so the user can pick one by its short id.

use gridwarden_client_core::{Client, ListPatrols, PatrolSummary, PrefixMatches};
use uuid::Uuid;

use crate::render::{excerpt, table};
use crate::time::Offset;
use crate::Failure;

/// Candidates an ambiguous prefix lists.
const SHOWN: usize = 10;

/// Patrols of the server's listing a supervisor's prefix is looked up in.
const SERVER_PATROLS: u32 = 500;

/// A report id on this device from what the user typed.
pub fn report(client: &Client, text: &str, offset: Offset) -> Result<Uuid, Failure> {
    let found = client.report_id_matches(text, SHOWN)?;
    if let [one] = found.ids.as_slice() {
        return Ok(*one);
    }
    if found.total == 0 {
        return Err(Failure::Usage(format!(
            "no report on this device has an id starting `{}`; `gridwarden list` \
             shows them (sync to fetch new ones)",
            text.trim()
        )));
    }
    let short = client.report_short_ids()?;
    let mut rows = Vec::new();
    for id in &found.ids {
        let r = client.show_report(*id)?;
        let category = match &r.category_name {
            Some(name) => format!("{} {name}", r.category),
            None => r.category.clone(),
        };
        rows.push(vec![
            short.of(id),
            offset.short(r.observed_at_ms),
            category,
            excerpt(&r.note, 30),
        ]);
    }
    Err(ambiguous(text, "reports", &found, rows, offset))
}

/// A patrol on this device from what the user typed, or `None` when none
/// of this device's patrols starts so.
pub fn local_patrol(client: &Client, text: &str, offset: Offset) -> Result<Option<Uuid>, Failure> {
    let found = client.patrol_id_matches(text, SHOWN)?;
    match found.ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => {
            let short = client.patrol_short_ids()?;
            let mut rows = Vec::new();
            for id in &found.ids {
                let p = client.patrol(*id)?.summary;
                rows.push(patrol_row(&short.of(id), &p, offset));
            }
            Err(ambiguous(text, "patrols", &found, rows, offset))
        }
    }
}

/// The id, when what was typed is a whole one.
pub fn whole_id(text: &str) -> Option<Uuid> {
    let digits = gridwarden_client_core::lookup::id_prefix_digits(text).ok()?;
    Uuid::parse_str(&digits).ok()
}

/// A patrol among the server's latest from the start of its id a
/// supervisor typed.
pub fn server_patrol(client: &Client, text: &str, offset: Offset) -> Result<Uuid, Failure> {
    let digits = gridwarden_client_core::lookup::id_prefix_digits(text)?;
    let listed = client.remote_patrols_blocking(ListPatrols {
        warden: None,
        since_ms: None,
        until_ms: None,
        max_patrols: SERVER_PATROLS,
    })?;
    let mut hits: Vec<PatrolSummary> = listed
        .into_iter()
        .filter(|p| p.info.id.simple().to_string().starts_with(&digits))
        .collect();
    hits.sort_by_key(|p| p.info.id);
    match hits.as_slice() {
        [one] => Ok(one.info.id),
        [] => Err(Failure::Usage(format!(
            "no patrol has an id starting `{}`, on this device or among the server's \
             {SERVER_PATROLS} latest; `gridwarden patrols` lists them, give a whole id \
             for an older one",
            text.trim()
        ))),
        _ => {
            let short = client
                .patrol_short_ids()?
                .with(hits.iter().map(|p| p.info.id));
            let found = PrefixMatches {
                total: hits.len() as u64,
                ids: hits.iter().take(SHOWN).map(|p| p.info.id).collect(),
            };
            let rows = hits
                .iter()
                .take(SHOWN)
                .map(|p| patrol_row(&short.of(&p.info.id), p, offset))
                .collect();
            Err(ambiguous(text, "patrols", &found, rows, offset))
        }
    }
}

fn patrol_row(short: &str, p: &PatrolSummary, offset: Offset) -> Vec<String> {
    vec![
        short.to_owned(),
        offset.short(p.info.started_at_ms),
        p.info.warden.clone(),
        excerpt(&p.info.note, 30),
    ]
}

/// The usage error of an ambiguous prefix: the candidates as a table.
fn ambiguous(
    text: &str,
    what: &str,
    found: &PrefixMatches,
    rows: Vec<Vec<String>>,
    offset: Offset,
) -> Failure {
    let listed: String = table(&rows)
        .lines()
        .map(|line| format!("  {line}\n"))
        .collect();
    let more = match found.total.saturating_sub(rows.len() as u64) {
        0 => String::new(),
        n => format!("  … and {n} more\n"),
    };
    let message = format!(
        "`{}` is the start of {} {what}' ids; give more of the id. They are \
         (times UTC{}):\n{listed}{more}",
        text.trim(),
        found.total,
        offset.label()
    );
    Failure::Usage(message.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ambiguous_prefix_lists_the_first_candidates_and_counts_the_rest() {
        let found = PrefixMatches {
            total: 12,
            ids: vec![Uuid::nil(); 2],
        };
        let rows = vec![
            vec![
                "01a2482f-01a".into(),
                "2024-05-01 09:30".into(),
                "0101 上水井盖".into(),
            ],
            vec![
                "01a2482f-01c".into(),
                "2024-05-01 09:31".into(),
                "0102 污水井盖".into(),
            ],
        ];
        let Failure::Usage(text) =
            ambiguous(" 01a2482f ", "reports", &found, rows, Offset::default())
        else {
            panic!("a usage error");
        };
        assert_eq!(
            text,
            "`01a2482f` is the start of 12 reports' ids; give more of the id. They are \
             (times UTC+08:00):\n  01a2482f-01a  2024-05-01 09:30  0101 上水井盖\n  \
             01a2482f-01c  2024-05-01 09:31  0102 污水井盖\n  … and 10 more"
        );
    }

    #[test]
    fn a_whole_id_is_recognised_with_or_without_dashes() {
        let id = Uuid::parse_str("01a2482f-01a2-7000-8000-000000000001").unwrap();
        assert_eq!(whole_id("01A2482F01A270008000000000000001"), Some(id));
        assert_eq!(whole_id(" 01a2482f-01a2-7000-8000-000000000001 "), Some(id));
        assert_eq!(whole_id("01a2482f"), None);
        assert_eq!(whole_id("not an id"), None);
    }
}
