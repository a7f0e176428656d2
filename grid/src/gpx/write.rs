//! GPX 1.1 export of a patrol.

use std::fmt::Write as _;

use gridwarden_protocol::track::{PatrolInfo, TrackPoint};

use crate::track::sorted;
use gridwarden_protocol::time::format_rfc3339;

/// A GPX 1.1 document (creator "gridwarden") with one `<trk>` named after
/// the patrol's note (or, without one, its id and warden), and one
/// `<trkseg>` per run of points sharing a `segment`, in `seq` order. Times
/// are UTC with milliseconds. Coordinates are written in Rust's shortest
/// round-trip form, so [`parse_gpx`](super::parse_gpx) reads back the very
/// same numbers. Points whose coordinates are not finite, and times outside
/// the years 0000–9999, cannot be written in GPX and are left out.
pub fn to_gpx(info: &PatrolInfo, points: &[TrackPoint]) -> String {
    let mut out = String::with_capacity(200 + points.len() * 90);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        "<gpx version=\"1.1\" creator=\"gridwarden\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
    );
    let name = if info.note.trim().is_empty() {
        format!("patrol {} by {}", info.id, info.warden)
    } else {
        info.note.clone()
    };
    out.push_str("  <metadata>\n");
    let _ = writeln!(out, "    <name>{}</name>", escape(&name));
    if let Some(t) = format_rfc3339(info.started_at_ms) {
        let _ = writeln!(out, "    <time>{t}</time>");
    }
    out.push_str("  </metadata>\n  <trk>\n");
    let _ = writeln!(out, "    <name>{}</name>", escape(&name));
    let _ = writeln!(
        out,
        "    <desc>{}</desc>",
        escape(&format!("gridwarden patrol {} by {}", info.id, info.warden))
    );

    let mut segment = None;
    for p in sorted(points) {
        if !(p.lon.is_finite() && p.lat.is_finite()) {
            continue;
        }
        if segment != Some(p.segment) {
            if segment.is_some() {
                out.push_str("    </trkseg>\n");
            }
            out.push_str("    <trkseg>\n");
            segment = Some(p.segment);
        }
        let _ = write!(out, "      <trkpt lat=\"{}\" lon=\"{}\">", p.lat, p.lon);
        if let Some(t) = p.time_ms.and_then(format_rfc3339) {
            let _ = write!(out, "<time>{t}</time>");
        }
        out.push_str("</trkpt>\n");
    }
    if segment.is_some() {
        out.push_str("    </trkseg>\n");
    }
    out.push_str("  </trk>\n</gpx>\n");
    out
}

/// Text fit for XML 1.0 element content: markup characters escaped, and
/// the characters XML 1.0 cannot hold at all (most control characters,
/// U+FFFE, U+FFFF) dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_hold() {
        assert_eq!(escape("a<b & c>d"), "a&lt;b &amp; c&gt;d");
        assert_eq!(escape("bell\u{7}\u{FFFF} 青山"), "bell 青山");
    }
}
