//! GPX import: a single pass over quick-xml's events with a small state
//! machine. Elements are matched by local name, so `gpx:trkpt`, a default
//! namespace, GPX 1.0 and GPX 1.1 all read the same; anything unknown
//! (`<ele>`, `<extensions>`, waypoints) is skipped.

use gridwarden_protocol::track::{TrackPoint, MAX_PATROL_NOTE_CHARS, MAX_POINTS_PER_PATROL};
use gridwarden_protocol::validate;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{GpxError, GpxTrack, MAX_POINTS};
use gridwarden_protocol::time::{parse_rfc3339, Leniency};

/// Deepest element nesting read: GPX needs 5 (`gpx/trk/trkseg/trkpt/time`),
/// extensions a few more. The limit bounds the parser's stack on hostile
/// input.
const MAX_DEPTH: usize = 64;

/// Longest `<time>` text kept, bytes; a valid one is at most ~35.
const MAX_TIME_BYTES: usize = 64;

/// Reads a GPX 1.0 or 1.1 document: every `<trkpt>` of every `<trkseg>` of
/// every `<trk>`, in file order, with its `<time>` when present (RFC 3339,
/// `Z` or an offset, any fraction; a time without an offset is UTC). When
/// the file has no track points, its routes (`<rte>`/`<rtept>`) are read
/// instead, one segment per route. Each point passes
/// [`validate::track_point`]. The first problem found is returned.
pub fn parse_gpx(bytes: &[u8]) -> Result<GpxTrack, GpxError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut state = State::new(bytes);
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let pos = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
            match e {
                // Every syntax error quick-xml reports is the input ending
                // inside some markup (a tag, a comment, a quoted value).
                quick_xml::Error::Syntax(_) => GpxError::Truncated {
                    element: state.element_name(pos),
                    line: state.line(pos),
                },
                other => state.not_xml(other.to_string(), pos),
            }
        })?;
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        match event {
            Event::Start(e) => state.open(&e, at, false)?,
            Event::Empty(e) => state.open(&e, at, true)?,
            Event::End(_) => {
                if state.close()? {
                    break;
                }
            }
            // Raw bytes: only `<time>` and `<name>` text is decoded, so a
            // stray Latin-1 `<desc>` in an old file does not sink it.
            Event::Text(t) => state.text(&t, at)?,
            Event::CData(t) => state.text(&t, at)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => r
                        .decode()
                        .ok()
                        .and_then(|name| resolve_predefined_entity(&name))
                        .map(str::to_owned),
                    Err(e) => return Err(state.not_xml(e.to_string(), at)),
                };
                // Entities a DTD would define are not expanded (no entity
                // bombs); they read as nothing.
                if let Some(s) = resolved {
                    state.text(s.as_bytes(), at)?;
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    state.finish()
}

/// Where an element sits, as far as GPX is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Gpx,
    Metadata,
    Trk,
    TrkSeg,
    Rte,
    /// A `<trkpt>` (or `<rtept>` when `route`) being read.
    Point,
    Time,
    Name,
    Other,
}

/// The point being read.
#[derive(Debug)]
struct Open {
    point: TrackPoint,
    /// 1-based number of the point in the file, for messages.
    number: usize,
    /// The `<time>` text so far and where the element starts.
    time: Option<(String, usize)>,
}

struct State<'a> {
    bytes: &'a [u8],
    /// Open elements and the byte offset each starts at.
    stack: Vec<(Tag, usize)>,
    root_seen: bool,
    track: Vec<TrackPoint>,
    route: Vec<TrackPoint>,
    /// Non-empty segments finished so far, tracks and routes apart.
    track_segments: u32,
    route_segments: u32,
    /// Whether the open `<trkseg>` or `<rte>` has a point yet.
    segment_has_points: bool,
    open: Option<Open>,
    /// Points seen (track and route), for messages.
    numbered: usize,
    track_name: Option<String>,
    metadata_name: Option<String>,
    route_name: Option<String>,
    /// The `<name>` being read, and whose it is.
    name: Option<(String, Tag)>,
}

impl<'a> State<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        State {
            bytes,
            stack: Vec::new(),
            root_seen: false,
            track: Vec::new(),
            route: Vec::new(),
            track_segments: 0,
            route_segments: 0,
            segment_has_points: false,
            open: None,
            numbered: 0,
            track_name: None,
            metadata_name: None,
            route_name: None,
            name: None,
        }
    }

    fn parent(&self) -> Option<Tag> {
        self.stack.last().map(|(t, _)| *t)
    }

    /// Handles a start tag (or an empty element tag, which closes at once).
    fn open(&mut self, e: &BytesStart<'_>, at: usize, empty: bool) -> Result<(), GpxError> {
        let local = e.local_name();
        let name = local.as_ref();
        let tag = match (self.parent(), name) {
            (None, _) => {
                if self.root_seen {
                    // A second root: not XML; the first one is the document.
                    return Err(self.not_xml("a second root element after </gpx>".into(), at));
                }
                self.root_seen = true;
                if !name.eq_ignore_ascii_case(b"gpx") {
                    let found: String = String::from_utf8_lossy(name).chars().take(40).collect();
                    return Err(GpxError::NotGpx { found });
                }
                Tag::Gpx
            }
            (Some(Tag::Gpx), b"metadata") => Tag::Metadata,
            (Some(Tag::Gpx), b"trk") => Tag::Trk,
            (Some(Tag::Gpx), b"rte") => {
                self.segment_has_points = false;
                Tag::Rte
            }
            (Some(Tag::Trk), b"trkseg") => {
                self.segment_has_points = false;
                Tag::TrkSeg
            }
            (Some(Tag::TrkSeg), b"trkpt") => {
                self.start_point(e, at, false)?;
                Tag::Point
            }
            (Some(Tag::Rte), b"rtept") => {
                self.start_point(e, at, true)?;
                Tag::Point
            }
            (Some(Tag::Point), b"time") => {
                if let Some(open) = &mut self.open {
                    open.time = Some((String::new(), at));
                }
                Tag::Time
            }
            (Some(parent @ (Tag::Trk | Tag::Rte | Tag::Metadata)), b"name") => {
                self.name = Some((String::new(), parent));
                Tag::Name
            }
            _ => Tag::Other,
        };
        if self.stack.len() >= MAX_DEPTH {
            return Err(GpxError::TooDeep {
                limit: MAX_DEPTH,
                line: self.line(at),
            });
        }
        self.stack.push((tag, at));
        if empty {
            self.close()?;
        }
        Ok(())
    }

    /// Handles an end tag; `true` when it closed the root.
    fn close(&mut self) -> Result<bool, GpxError> {
        let Some((tag, _)) = self.stack.pop() else {
            return Ok(false);
        };
        match tag {
            Tag::Gpx => return Ok(true),
            Tag::Point => self.end_point()?,
            Tag::TrkSeg if self.segment_has_points => self.track_segments += 1,
            Tag::Rte if self.segment_has_points => self.route_segments += 1,
            Tag::Name => self.end_name(),
            _ => {}
        }
        Ok(false)
    }

    fn text(&mut self, raw: &[u8], at: usize) -> Result<(), GpxError> {
        let text = || String::from_utf8_lossy(raw);
        match self.parent() {
            Some(Tag::Time) => {
                if let Some(Open {
                    time: Some((buf, _)),
                    ..
                }) = &mut self.open
                {
                    // One past the longest valid time, so a long one fails.
                    let room = (MAX_TIME_BYTES + 1).saturating_sub(buf.len());
                    buf.extend(text().chars().take(room));
                }
            }
            Some(Tag::Name) => {
                if let Some((buf, _)) = &mut self.name {
                    // A little over the limit, so trimming still leaves it.
                    let room = (MAX_PATROL_NOTE_CHARS * 2).saturating_sub(buf.chars().count());
                    buf.extend(text().chars().take(room));
                }
            }
            None if !self.root_seen && !raw.iter().all(u8::is_ascii_whitespace) => {
                return Err(self.not_xml(
                    "text before the first element; the file does not start with XML".into(),
                    at,
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn start_point(&mut self, e: &BytesStart<'_>, at: usize, route: bool) -> Result<(), GpxError> {
        // Routes matter only while no track point has been seen.
        if route && !self.track.is_empty() {
            self.numbered += 1;
            return Ok(());
        }
        if !route && !self.route.is_empty() {
            self.route.clear();
        }
        if self.track.len() + self.route.len() >= MAX_POINTS {
            return Err(GpxError::TooManyPoints {
                limit: MAX_POINTS_PER_PATROL,
            });
        }
        self.numbered += 1;
        let number = self.numbered;
        let element = if route { "rtept" } else { "trkpt" };
        let (mut lat, mut lon) = (None, None);
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.not_xml(err.to_string(), at))?;
            match attr.key.local_name().as_ref() {
                b"lat" => lat = Some(attr.value),
                b"lon" => lon = Some(attr.value),
                _ => {}
            }
        }
        // Counting lines is linear in the file: only for a message.
        let line = || self.line(at);
        let coordinate = |value: Option<std::borrow::Cow<'_, [u8]>>, attribute| {
            let value = value.ok_or_else(|| GpxError::MissingCoordinate {
                point: number,
                line: line(),
                element,
                attribute,
            })?;
            let text = String::from_utf8_lossy(&value);
            match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(GpxError::NotANumber {
                    point: number,
                    line: line(),
                    attribute,
                    value: text.chars().take(40).collect(),
                }),
            }
        };
        let lat = coordinate(lat, "lat")?;
        let lon = coordinate(lon, "lon")?;
        let off = |detail: String| GpxError::OffPlanet {
            point: number,
            line: line(),
            detail,
        };
        if !(-90.0..=90.0).contains(&lat) {
            return Err(off(format!("latitude {lat} is outside -90..90")));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(off(format!("longitude {lon} is outside -180..180")));
        }
        let list = if route { &self.route } else { &self.track };
        let point = TrackPoint {
            seq: u32::try_from(list.len()).unwrap_or(u32::MAX),
            time_ms: None,
            lon,
            lat,
            accuracy_m: None,
            speed_mps: None,
            segment: if route {
                self.route_segments
            } else {
                self.track_segments
            },
        };
        validate::track_point(&point).map_err(|e| off(e.to_string()))?;
        self.open = Some(Open {
            point,
            number,
            time: None,
        });
        Ok(())
    }

    fn end_point(&mut self) -> Result<(), GpxError> {
        // A skipped route point has nothing open.
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        if let Some((text, at)) = open.time.as_ref().filter(|(t, _)| !t.trim().is_empty()) {
            open.point.time_ms =
                Some(
                    parse_rfc3339(text, Leniency::Lenient).ok_or_else(|| GpxError::BadTime {
                        point: open.number,
                        line: self.line(*at),
                        text: text.trim().chars().take(MAX_TIME_BYTES).collect(),
                    })?,
                );
        }
        let route = self.stack.last().is_some_and(|(t, _)| *t == Tag::Rte);
        if route {
            self.route.push(open.point);
        } else {
            self.track.push(open.point);
        }
        self.segment_has_points = true;
        Ok(())
    }

    fn end_name(&mut self) {
        let Some((text, whose)) = self.name.take() else {
            return;
        };
        // The name becomes a patrol note, which may not hold control
        // characters (`validate::patrol_op`), and is written back to GPX,
        // which cannot hold U+FFFE/U+FFFF: such characters are dropped here
        // rather than sinking the import or the export.
        let text: String = text
            .chars()
            .filter(|&c| {
                !(c.is_control() && c != '\n' && c != '\t') && c != '\u{FFFE}' && c != '\u{FFFF}'
            })
            .collect();
        let text: String = text.trim().chars().take(MAX_PATROL_NOTE_CHARS).collect();
        let text = text.trim_end().to_owned();
        if text.is_empty() {
            return;
        }
        let slot = match whose {
            Tag::Trk => &mut self.track_name,
            Tag::Rte => &mut self.route_name,
            _ => &mut self.metadata_name,
        };
        slot.get_or_insert(text);
    }

    fn finish(self) -> Result<GpxTrack, GpxError> {
        if let Some(&(_, at)) = self.stack.last() {
            return Err(GpxError::Truncated {
                element: self.element_name(at),
                line: self.line(at),
            });
        }
        if !self.root_seen {
            return Err(GpxError::NotXml {
                detail: "the file holds no XML element".into(),
                line: 1,
                column: 1,
            });
        }
        let (points, name) = if !self.track.is_empty() {
            (self.track, self.track_name.or(self.metadata_name))
        } else if !self.route.is_empty() {
            (
                self.route,
                self.route_name.or(self.metadata_name).or(self.track_name),
            )
        } else {
            return Err(GpxError::NoPoints);
        };
        Ok(GpxTrack { name, points })
    }

    /// The element name written at byte `at` (which holds its `<`).
    fn element_name(&self, at: usize) -> String {
        let rest = self.bytes.get(at + 1..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'))
            .unwrap_or(rest.len())
            .min(40);
        String::from_utf8_lossy(&rest[..end]).into_owned()
    }

    /// 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        let upto = &self.bytes[..at.min(self.bytes.len())];
        1 + upto.iter().filter(|&&b| b == b'\n').count()
    }

    fn not_xml(&self, detail: String, at: usize) -> GpxError {
        let upto = &self.bytes[..at.min(self.bytes.len())];
        let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        GpxError::NotXml {
            detail,
            line: self.line(at),
            column: 1 + String::from_utf8_lossy(&upto[line_start..]).chars().count(),
        }
    }
}
