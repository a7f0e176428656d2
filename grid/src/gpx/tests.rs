//! GPX import and export against hand-written fixtures
//! (grid/tests/fixtures/gpx/) modelled on files real apps write.

use gridwarden_protocol::track::{PatrolInfo, TrackPoint, MAX_POINTS_PER_PATROL};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gpx/",
            $name
        ))
        .as_slice()
    };
}

/// 2024-05-17T00:30:00Z.
const T0: i64 = 1_715_905_800_000;

fn coords(track: &GpxTrack) -> Vec<(f64, f64)> {
    track.points.iter().map(|p| (p.lon, p.lat)).collect()
}

fn times(track: &GpxTrack) -> Vec<Option<i64>> {
    track.points.iter().map(|p| p.time_ms).collect()
}

fn segments(track: &GpxTrack) -> Vec<u32> {
    track.points.iter().map(|p| p.segment).collect()
}

fn error(bytes: &[u8]) -> String {
    parse_gpx(bytes).unwrap_err().to_string()
}

#[test]
fn a_phone_app_file_with_offsets_and_fractions() {
    let t = parse_gpx(fixture!("phone_app_1_1.gpx")).unwrap();
    assert_eq!(
        t.name.as_deref(),
        Some("Morning patrol: 青山 Street 1 & market")
    );
    assert_eq!(
        times(&t),
        vec![
            Some(T0),
            Some(T0 + 5_250),
            Some(T0 + 10_500),
            Some(T0 + 15_750),
            Some(T0 + 20_999),
            Some(T0 + 25_000),
        ]
    );
    assert_eq!(coords(&t)[1], (111.683_083_2, 40.849_451_2));
    assert_eq!(
        t.points.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(segments(&t), vec![0; 6]);
    assert!(t
        .points
        .iter()
        .all(|p| p.accuracy_m.is_none() && p.speed_mps.is_none()));
}

#[test]
fn a_file_without_timestamps() {
    let t = parse_gpx(fixture!("no_timestamps.gpx")).unwrap();
    assert_eq!(t.name.as_deref(), Some("Planned loop, Street 2"));
    assert_eq!(times(&t), vec![None; 4]);
    assert_eq!(coords(&t)[2], (111.7040, 40.84450));
}

#[test]
fn two_tracks_of_two_segments_number_the_segments_across_the_file() {
    let t = parse_gpx(fixture!("two_tracks_two_segments.gpx")).unwrap();
    assert_eq!(t.name.as_deref(), Some("Day 1"));
    // The afternoon's empty segment takes no number.
    assert_eq!(segments(&t), vec![0, 0, 1, 1, 1, 2, 3, 3]);
    assert_eq!(
        t.points.iter().map(|p| p.seq).collect::<Vec<_>>(),
        (0..8).collect::<Vec<u32>>()
    );
    assert_eq!(t.points[7].time_ms, Some(T0 + 6 * 3_600_000 + 8_000));
}

#[test]
fn gpx_1_0_with_a_default_namespace() {
    let t = parse_gpx(fixture!("gpx10_default_ns.gpx")).unwrap();
    assert_eq!(t.name.as_deref(), Some("ACTIVE LOG"));
    let at_two = T0 + 5_400_000; // 02:00:00Z
    assert_eq!(
        times(&t),
        vec![Some(at_two), Some(at_two + 6_000), Some(at_two + 12_000)]
    );
    assert_eq!(coords(&t)[0], (111.6831, 40.8291));
}

#[test]
fn a_route_only_file_is_read_as_one_segment() {
    let t = parse_gpx(fixture!("route_only.gpx")).unwrap();
    assert_eq!(t.name.as_deref(), Some("Market inspection route"));
    assert_eq!(t.points.len(), 3);
    assert_eq!(segments(&t), vec![0, 0, 0]);
    assert_eq!(coords(&t)[2], (111.7110, 40.83700));
}

#[test]
fn routes_are_ignored_when_there_is_a_track() {
    let text = r#"<gpx version="1.1"><rte><rtept lat="1" lon="2"/></rte>
        <trk><trkseg><trkpt lat="3" lon="4"/></trkseg></trk></gpx>"#;
    let t = parse_gpx(text.as_bytes()).unwrap();
    assert_eq!(coords(&t), vec![(4.0, 3.0)]);
}

#[test]
fn malformed_files_say_what_is_wrong_and_where() {
    let cases: [(&[u8], &str); 8] = [
        (
            fixture!("truncated.gpx"),
            "the file ends inside <trkseg> (opened on line 5); it looks cut short, so copy or \
             export it again",
        ),
        (
            fixture!("truncated_in_tag.gpx"),
            "the file ends inside <trkpt> (opened on line 7); it looks cut short, so copy or \
             export it again",
        ),
        (
            fixture!("root_kml.kml"),
            "not a GPX file: the document is <kml>, not <gpx>; export the track as GPX",
        ),
        (
            fixture!("trkpt_without_lat.gpx"),
            "point 2 (line 6) has no lat attribute; every <trkpt> needs lat and lon",
        ),
        (
            fixture!("lat_abc.gpx"),
            "point 1 (line 4): lat=\"abc\" is not a number",
        ),
        (
            fixture!("lat_95.gpx"),
            "point 1 (line 4): latitude 95 is outside -90..90",
        ),
        (
            fixture!("bad_time.gpx"),
            "point 3 (line 7): <time>17/05/2024 08:30:10</time> is not a time; write it like \
             2024-05-17T08:30:00Z or 2024-05-17T16:30:00+08:00",
        ),
        (
            b"<gpx version=\"1.1\"><trk><name>Empty</name><trkseg/></trk></gpx>",
            "the GPX file has no track points: no <trkpt> in a <trkseg> and no <rtept> in a <rte>",
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(error(bytes), expected);
    }
}

#[test]
fn files_that_are_not_xml() {
    assert_eq!(
        error(b""),
        "not a readable XML file: the file holds no XML element (line 1, column 1)"
    );
    assert_eq!(
        error(b"{\"type\": \"FeatureCollection\"}"),
        "not a readable XML file: text before the first element; the file does not start \
         with XML (line 1, column 1)"
    );
    let mismatched = error(b"<gpx>\n  <trk></trkseg></gpx>");
    assert!(
        mismatched.starts_with("not a readable XML file: ") && mismatched.contains("line 2"),
        "{mismatched}"
    );
    let lon = error(b"<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"200\"/></trkseg></trk></gpx>");
    assert_eq!(lon, "point 1 (line 1): longitude 200 is outside -180..180");
    let nan = error(b"<gpx><trk><trkseg><trkpt lat=\"NaN\" lon=\"1\"/></trkseg></trk></gpx>");
    assert_eq!(nan, "point 1 (line 1): lat=\"NaN\" is not a number");
}

#[test]
fn too_many_points_stops_early() {
    let mut text = String::from("<gpx><trk><trkseg>");
    for _ in 0..=MAX_POINTS_PER_PATROL {
        text.push_str("<trkpt lat=\"40.8\" lon=\"111.7\"/>");
    }
    text.push_str("</trkseg></trk></gpx>");
    assert_eq!(
        error(text.as_bytes()),
        "the GPX file has more than 50000 points, more than one patrol may hold; split the track"
    );
    // Exactly the limit is fine.
    let ok = text.replacen("<trkpt lat=\"40.8\" lon=\"111.7\"/>", "", 1);
    assert_eq!(
        parse_gpx(ok.as_bytes()).unwrap().points.len(),
        MAX_POINTS_PER_PATROL as usize
    );
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("<gpx>{}", "<extensions>".repeat(100));
    assert_eq!(
        error(text.as_bytes()),
        "elements are nested more than 64 deep at line 1; this is not a GPX track"
    );
}

#[test]
fn entities_are_not_expanded_beyond_the_predefined_ones() {
    let text = br#"<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<gpx><trk><name>&b; &#x9752;&#23665; &lt;1&gt;</name><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>"#;
    let t = parse_gpx(text).unwrap();
    assert_eq!(t.name.as_deref(), Some("青山 <1>"));
}

#[test]
fn blank_times_are_no_times_and_times_need_no_offset() {
    let text = br#"<gpx><trk><trkseg>
        <trkpt lat="1" lon="2"><time> </time></trkpt>
        <trkpt lat="1" lon="2"><time>2024-05-17T00:30:00</time></trkpt>
    </trkseg></trk></gpx>"#;
    let t = parse_gpx(text).unwrap();
    assert_eq!(times(&t), vec![None, Some(T0)]);
}

#[test]
fn latin_1_text_outside_names_and_times_is_harmless() {
    let text = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<gpx version=\"1.0\"><trk>\
        <name>Caf\xe9 loop</name><desc>Rue de l'\xc9glise</desc>\
        <trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></gpx>";
    let t = parse_gpx(text).unwrap();
    assert_eq!(t.name.as_deref(), Some("Caf\u{FFFD} loop"));
    assert_eq!(t.points.len(), 1);
}

#[test]
fn a_name_keeps_only_what_a_patrol_note_and_gpx_can_hold() {
    // Found by fuzzing: a NUL in the name made a patrol note the server
    // refuses, and U+FFFF could not be written back to GPX.
    let text = b"<gpx><trk><name>\x01 Pl\x00\x00a\x7fn \xef\xbf\xbf\r\n\tloop \x1b</name>\
        <trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></gpx>";
    let t = parse_gpx(text).unwrap();
    assert_eq!(t.name.as_deref(), Some("Plan \n\tloop"));
    let note = t.name.clone().unwrap();
    let start = gridwarden_protocol::PatrolOp::Start(gridwarden_protocol::NewPatrol {
        started_at_ms: T0,
        note,
    });
    gridwarden_protocol::validate::patrol_op(&start).unwrap();
    let back = parse_gpx(to_gpx(&info(&t.name.clone().unwrap()), &t.points).as_bytes()).unwrap();
    assert_eq!(back.name, t.name);
}

fn info(note: &str) -> PatrolInfo {
    PatrolInfo {
        id: Uuid::from_u128(0x1234),
        warden: "li.na".into(),
        device: Uuid::from_u128(5),
        started_at_ms: T0,
        ended_at_ms: Some(T0 + 3_600_000),
        note: note.into(),
    }
}

#[test]
fn export_is_gpx_1_1_that_reads_back() {
    let points = parse_gpx(fixture!("two_tracks_two_segments.gpx"))
        .unwrap()
        .points;
    let text = to_gpx(&info("Street 1 <east> & market"), &points);
    assert!(text.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"gridwarden\""
    ));
    assert!(text.contains("<name>Street 1 &lt;east&gt; &amp; market</name>"));
    assert!(text.contains("<time>2024-05-17T01:00:07.000Z</time>"));
    assert_eq!(text.matches("<trkseg>").count(), 4);
    let back = parse_gpx(text.as_bytes()).unwrap();
    assert_eq!(back.name.as_deref(), Some("Street 1 <east> & market"));
    assert_eq!(back.points, points);
    // Without a note the name says whose patrol it is.
    let unnamed = parse_gpx(to_gpx(&info(""), &points).as_bytes()).unwrap();
    assert_eq!(
        unnamed.name.as_deref(),
        Some("patrol 00000000-0000-0000-0000-000000001234 by li.na")
    );
}

fn arb_point() -> impl Strategy<Value = (f64, f64, Option<i64>, bool, u32)> {
    (
        -180.0f64..=180.0,
        -90.0f64..=90.0,
        // Years 1900–2100.
        proptest::option::of(-2_208_988_800_000i64..4_102_444_800_000),
        any::<bool>(),
        0u32..3,
    )
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let _ = parse_gpx(&bytes);
    }

    #[test]
    fn never_panics_on_a_damaged_real_file(
        cut in 0usize..2_500,
        flips in proptest::collection::vec((0usize..2_500, any::<u8>()), 0..8),
    ) {
        let mut bytes = fixture!("phone_app_1_1.gpx").to_vec();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        bytes.truncate(cut);
        let _ = parse_gpx(&bytes);
    }

    #[test]
    fn export_then_import_gives_the_same_track(
        raw in proptest::collection::vec(arb_point(), 1..60),
        note in "[a-zA-Z0-9 &<>'\"青山]{0,30}",
    ) {
        // Segments as a device numbers them: non-decreasing, maybe gapped.
        let mut segment = 0;
        let points: Vec<TrackPoint> = raw
            .iter()
            .enumerate()
            .map(|(i, &(lon, lat, time_ms, new_segment, gap))| {
                if new_segment && i > 0 {
                    segment += 1 + gap;
                }
                TrackPoint {
                    seq: 10 + 2 * i as u32,
                    time_ms,
                    lon,
                    lat,
                    accuracy_m: Some(4.0),
                    speed_mps: None,
                    segment,
                }
            })
            .collect();
        let back = parse_gpx(to_gpx(&info(&note), &points).as_bytes()).unwrap();
        prop_assert_eq!(back.points.len(), points.len());
        let mut expected_segment = 0;
        for (i, (a, b)) in points.iter().zip(&back.points).enumerate() {
            if i > 0 && a.segment != points[i - 1].segment {
                expected_segment += 1;
            }
            prop_assert_eq!(b.seq, i as u32);
            prop_assert_eq!((b.lon, b.lat, b.time_ms), (a.lon, a.lat, a.time_ms));
            prop_assert_eq!(b.segment, expected_segment);
        }
        let trimmed = note.trim();
        if !trimmed.is_empty() {
            prop_assert_eq!(back.name.as_deref(), Some(trimmed));
        }
    }
}
