//! Photo commands: written out or fetched back, attached, and the storage
//! budget that drops full files the server holds (ADR 0031).

use gridwarden_client_core::photo::PhotoStorage;
use gridwarden_client_core::Client;
use serde_json::json;

use crate::args::PhotoCommand;
use crate::commands::Output;
use crate::Failure;

pub fn photo(client: &Client, command: PhotoCommand, out: &mut Output<'_>) -> Result<(), Failure> {
    match command {
        PhotoCommand::Get { hash, output } => {
            let photo = client.resolve_photo(&hash)?;
            let size = client.fetch_photo_blocking(&photo, &output)?;
            out.emit(
                &json!({ "hash": photo.hash.to_hex(), "bytes": size, "file": output }),
                || format!("Wrote {size} bytes to {}.\n", output.display()),
            )
        }
        PhotoCommand::Fetch { hash, output } => {
            let photo = client.resolve_photo(&hash)?;
            let here = client.fetch_photo_here_blocking(&photo)?;
            let size = match &output {
                Some(output) => client.fetch_photo_blocking(&photo, output)?,
                None => std::fs::metadata(&here)?.len(),
            };
            out.emit(
                &json!({ "hash": photo.hash.to_hex(), "bytes": size, "path": here, "file": output }),
                || {
                    let mut text = format!(
                        "Photo {} is on this device whole ({size} bytes): {}\n",
                        &photo.hash.to_hex()[..12],
                        here.display()
                    );
                    if let Some(output) = &output {
                        text.push_str(&format!("Wrote it to {}.\n", output.display()));
                    }
                    text
                },
            )
        }
        PhotoCommand::Add { id, files } => {
            let id = crate::ids::report(client, &id, out.offset)?;
            client.attach_photos(id, &files)?;
            out.emit(&json!({ "id": id, "photos": files.len() }), || {
                format!(
                    "Attached {} photos to {id}; `gridwarden sync` sends them.\n",
                    files.len()
                )
            })
        }
        PhotoCommand::Budget { size: None } => {
            let storage = client.photo_storage()?;
            out.emit(&storage, || storage_text(&storage))
        }
        PhotoCommand::Budget { size: Some(size) } => {
            let budget = parse_budget(&size)?;
            let applied = client.set_photo_budget(budget)?;
            let storage = client.photo_storage()?;
            out.emit(
                &json!({ "budget": budget, "dropped": applied.dropped,
                         "dropped_bytes": applied.dropped_bytes, "storage": storage }),
                || {
                    let mut text = format!("Photo budget set to {}.\n", budget_text(budget));
                    if applied.dropped > 0 {
                        text.push_str(&format!(
                            "Dropped {} full photo files ({}) the server holds; their thumbnails stay, `gridwarden photo fetch` brings one back.\n",
                            applied.dropped,
                            megabytes(applied.dropped_bytes)
                        ));
                    }
                    text.push_str(&storage_text(&storage));
                    text
                },
            )
        }
    }
}

/// "50MB", "512 KB", "2GB", "1048576", "unlimited"; binary units, as the
/// rest of the command line prints sizes.
fn parse_budget(text: &str) -> Result<Option<u64>, Failure> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad_budget(text)),
    };
    let number: f64 = number.parse().map_err(|_| bad_budget(text))?;
    if !number.is_finite() || number < 0.0 {
        return Err(bad_budget(text));
    }
    Ok(Some((number * unit as f64) as u64))
}

fn bad_budget(text: &str) -> Failure {
    Failure::Usage(format!(
        "`{text}` is not a size; give one such as 50MB, 512KB or 2GB, or `unlimited`"
    ))
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

fn budget_text(budget: Option<u64>) -> String {
    budget.map_or_else(|| "unlimited".to_owned(), megabytes)
}

/// The budget and what the photos take, as `status` shows it too.
pub fn storage_text(s: &PhotoStorage) -> String {
    let u = &s.usage;
    let mut text = format!(
        "Photos held: {} whole ({}, budget {})",
        u.full_photos,
        megabytes(u.full_bytes),
        budget_text(s.budget)
    );
    if u.unsent_bytes > 0 {
        text.push_str(&format!(", {} not sent yet", megabytes(u.unsent_bytes)));
    }
    text.push_str(&format!(
        "; {} as thumbnails only; thumbnails {:.0} KB.\n",
        u.thumbnail_only,
        u.thumbnail_bytes as f64 / 1024.0
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::parse_budget;

    #[test]
    fn budgets_parse_in_binary_units() {
        assert_eq!(parse_budget("50MB").unwrap(), Some(50 << 20));
        assert_eq!(parse_budget("50 mb").unwrap(), Some(50 << 20));
        assert_eq!(parse_budget("1.5GB").unwrap(), Some(3 << 29));
        assert_eq!(parse_budget("512K").unwrap(), Some(512 << 10));
        assert_eq!(parse_budget("1000").unwrap(), Some(1000));
        assert_eq!(parse_budget("0").unwrap(), Some(0));
        assert_eq!(parse_budget("unlimited").unwrap(), None);
        assert!(parse_budget("lots").is_err());
        assert!(parse_budget("50 parsecs").is_err());
        assert!(parse_budget("").is_err());
    }
}
