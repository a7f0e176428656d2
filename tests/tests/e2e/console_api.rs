//! The supervisor console's HTTP API against a real server (QUIC and HTTP
//! on one runtime) with real devices: sign-in by password and one-time
//! link and what is refused, sessions that end when a user is disabled,
//! the district rule for cases and photos, steps through the device rules
//! that reach a phone's next pull, and KPIs equal to a device's.

use std::path::Path;

use gridwarden_client_core::workflow::{GroupBy, Period};
use gridwarden_client_core::Client;
use gridwarden_e2e::{report_at, TestServer};
use gridwarden_protocol::Role;
use gridwarden_server::admin;
use gridwarden_server::config::ConsoleSection;
use gridwarden_server::console::auth;
use reqwest::blocking::{Client as Http, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

fn console_config() -> ConsoleSection {
    ConsoleSection {
        http: "127.0.0.1:0".into(),
        ..ConsoleSection::default()
    }
}

/// A browser: keeps cookies, does not follow redirects (the tests look at them).
fn browser() -> Http {
    Http::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_password(server: &TestServer, user: &str) {
    auth::set_password(&server.admin().service, user, PASSWORD, "test").unwrap();
}

fn sign_in(server: &TestServer, http: &Http, user: &str, password: &str) -> Response {
    http.post(server.console_url("/api/login"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .unwrap()
}

/// Signs in and returns the CSRF token.
fn signed_in(server: &TestServer, http: &Http, user: &str) -> String {
    let r = sign_in(server, http, user, PASSWORD);
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn get(server: &TestServer, http: &Http, path: &str) -> (StatusCode, Value) {
    let r = http.get(server.console_url(path)).send().unwrap();
    let status = r.status();
    (status, r.json().unwrap_or(Value::Null))
}

fn post(
    server: &TestServer,
    http: &Http,
    csrf: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = http
        .post(server.console_url(path))
        .header("X-CSRF-Token", csrf)
        .json(&body)
        .send()
        .unwrap();
    let status = r.status();
    (status, r.json().unwrap_or(Value::Null))
}

fn link_token(server: &TestServer, user: &str) -> String {
    auth::new_link(&server.admin().service, user, "test").unwrap()
}

#[test]
fn console_sign_in_by_password_and_link_and_what_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(&tmp.path().join("server"), console_config());
    server.add_user("sup", Role::Supervisor, &[]);
    server.add_user("ann", Role::Warden, &[]);
    set_password(&server, "sup");

    // Wardens get neither a password nor a link, and cannot sign in.
    let err = auth::set_password(&server.admin().service, "ann", PASSWORD, "test").unwrap_err();
    assert!(err.to_string().contains("supervisors and admins"), "{err}");
    let err = auth::new_link(&server.admin().service, "ann", "test").unwrap_err();
    assert!(err.to_string().contains("supervisors and admins"), "{err}");

    let http = browser();
    // Not signed in: the API says so.
    let (status, body) = get(&server, &http, "/api/session");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");

    // A wrong password and an unknown name read the same.
    let wrong = sign_in(&server, &http, "sup", "not the password");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong: Value = wrong.json().unwrap();
    let unknown: Value = sign_in(&server, &http, "nobody", PASSWORD).json().unwrap();
    assert_eq!(wrong["error"], "wrong user name or password");
    assert_eq!(wrong, unknown);

    // The right one: a session cookie (HttpOnly, SameSite=Strict) and the CSRF token.
    let r = sign_in(&server, &http, "sup", PASSWORD);
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gw_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let csrf = r.json::<Value>().unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, session) = get(&server, &http, "/api/session");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["user"], "sup");
    assert_eq!(session["role"], "supervisor");
    assert_eq!(session["district"], Value::Null);
    assert_eq!(session["csrf"], csrf.as_str());
    assert_eq!(session["utc_offset_minutes"], 480);

    // A POST without the CSRF token, or with another, changes nothing.
    let r = http.post(server.console_url("/api/logout")).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().unwrap().contains("X-CSRF-Token"));
    let r = http
        .post(server.console_url("/api/logout"))
        .header("X-CSRF-Token", "0".repeat(64))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nor from another site's page, even with the token.
    let r = http
        .post(server.console_url("/api/logout"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(get(&server, &http, "/api/session").0, StatusCode::OK);
    let (status, _) = post(&server, &http, &csrf, "/api/logout", json!({}));
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&server, &http, "/api/session").0,
        StatusCode::UNAUTHORIZED
    );

    // A one-time link signs in once.
    let token = link_token(&server, "sup");
    let link = server.console_url(&format!("/login/link?token={token}"));
    let by_link = browser();
    let r = by_link.get(&link).send().unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/");
    assert_eq!(get(&server, &by_link, "/api/session").1["user"], "sup");
    let replay = browser().get(&link).send().unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(replay.text().unwrap().contains("already used"));
    // Forged: well-formed but never issued, or not a token at all.
    for forged in [
        "ab".repeat(32),
        "<script>alert(1)</script>".into(),
        String::new(),
    ] {
        let r = browser()
            .get(server.console_url("/login/link"))
            .query(&[("token", forged.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{forged}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        let text = r.text().unwrap();
        assert!(
            text.contains("not known") && !text.contains("<script>"),
            "{text}"
        );
    }

    // Every sign-in, failed or not, and the sign-out are in the audit log.
    let actions: Vec<String> = admin::audit(&server.admin(), None)
        .unwrap()
        .into_iter()
        .map(|l| l.action)
        .collect();
    for expected in [
        "console.signin_failed",
        "console.signin",
        "console.signout",
        "console.link",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
}

#[test]
fn sign_in_attempts_are_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let config = ConsoleSection {
        signin_burst: 3,
        signin_per_minute: 1,
        ..console_config()
    };
    let server = TestServer::start_console(&tmp.path().join("server"), config);
    server.add_user("sup", Role::Supervisor, &[]);
    set_password(&server, "sup");
    let http = browser();
    for _ in 0..3 {
        assert_eq!(
            sign_in(&server, &http, "sup", "guess").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The burst is spent: even the right password waits.
    let r = sign_in(&server, &http, "sup", PASSWORD);
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(
        body["error"].as_str().unwrap().contains("try again in"),
        "{body}"
    );
    assert_eq!(
        get(&server, &http, "/api/session").0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn disabling_a_user_ends_their_console_session_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(&tmp.path().join("server"), console_config());
    server.add_user("sup", Role::Supervisor, &[]);
    set_password(&server, "sup");
    let http = browser();
    signed_in(&server, &http, "sup");
    assert_eq!(get(&server, &http, "/api/cases").0, StatusCode::OK);
    admin::set_user_disabled(&server.admin(), "sup", true).unwrap();
    assert_eq!(
        get(&server, &http, "/api/cases").0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&server, &http, "sup", PASSWORD).status(),
        StatusCode::UNAUTHORIZED
    );
    // Enabling the user again does not bring the old session back.
    admin::set_user_disabled(&server.admin(), "sup", false).unwrap();
    assert_eq!(
        get(&server, &http, "/api/session").0,
        StatusCode::UNAUTHORIZED
    );
}

fn jpeg(dir: &Path, name: &str, seed: u8) -> std::path::PathBuf {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..4000u32).map(|i| (i as u8).wrapping_mul(seed)));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_district_supervisor_sees_only_their_district() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(&tmp.path().join("server"), console_config());
    let [(mine, here), (theirs, there)] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&mine, &theirs]);
    server.add_user("dis", Role::Supervisor, &[&mine]);
    server.add_user("city", Role::Supervisor, &[]);
    set_password(&server, "dis");
    set_password(&server, "city");
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    ann.sync().unwrap();
    let inside = ann
        .record_report_with_photos(
            report_at("0101", here, "inside"),
            &[jpeg(tmp.path(), "a.jpg", 3)],
        )
        .unwrap();
    let outside = ann
        .record_report_with_photos(
            report_at("0101", there, "outside"),
            &[jpeg(tmp.path(), "b.jpg", 7)],
        )
        .unwrap();
    ann.sync().unwrap();

    let dis = browser();
    signed_in(&server, &dis, "dis");
    let (_, session) = get(&server, &dis, "/api/session");
    assert_eq!(session["district"], json!([mine]));
    let (_, page) = get(&server, &dis, "/api/cases");
    assert_eq!(page["total"], 1);
    assert_eq!(page["rows"][0]["id"], inside.to_string());
    let (status, _) = get(&server, &dis, &format!("/api/cases/{inside}"));
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&server, &dis, &format!("/api/cases/{outside}"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    // Steps on the other district's case: 404 too, and nothing happens.
    let csrf = signed_in(&server, &dis, "dis");
    let (status, _) = post(
        &server,
        &dis,
        &csrf,
        &format!("/api/cases/{outside}/steps"),
        json!({"step": "register"}),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, features) = get(&server, &dis, "/api/grid");
    let codes: Vec<&str> = features["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![mine.as_str()]);
    assert_eq!(features["features"][0]["properties"]["open"], 1);
    // The map data goes gzipped to a browser that asks for it.
    let plain = dis
        .get(server.console_url("/api/grid"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let r = dis
        .get(server.console_url("/api/grid"))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(r.bytes().unwrap().len() < plain.len());

    let photo_of = |http: &Http, id| {
        let (_, detail) = get(&server, http, &format!("/api/cases/{id}"));
        detail["report"]["photos"][0]["hash"]
            .as_str()
            .map(str::to_owned)
    };
    let city = browser();
    signed_in(&server, &city, "city");
    let inside_photo = photo_of(&dis, inside).unwrap();
    let outside_photo = photo_of(&city, outside).unwrap();
    let r = dis
        .get(server.console_url(&format!("/api/photos/{inside_photo}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().unwrap().len(), 4004);
    let r = dis
        .get(server.console_url(&format!("/api/photos/{outside_photo}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = city
        .get(server.console_url(&format!("/api/photos/{outside_photo}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(get(&server, &city, "/api/cases").1["total"], 2);
}

/// Departments, and a category table whose 0101 goes to `water`.
fn case_workflow(server: &TestServer, dir: &Path) {
    let data = server.admin();
    admin::workflow::add_department(&data, "water", "自来水公司 water company", true).unwrap();
    admin::workflow::add_department(&data, "sanitation", "环卫处 sanitation", false).unwrap();
    let csv = dir.join("categories.csv");
    std::fs::write(
        &csv,
        "code,family,class_code,class_name,name,name_en,register_limit,dispose_limit,department\n\
         0101,component,01,公用设施,上水井盖,water-supply manhole cover,1h,1d,water\n\
         1102,event,11,市容环境,暴露垃圾,exposed rubbish,1h,4h,sanitation\n",
    )
    .unwrap();
    admin::workflow::import_categories(&data, &csv).unwrap();
}

fn device_status(device: &Client, id: uuid::Uuid) -> String {
    device.case(id).unwrap().status
}

#[test]
fn console_steps_go_through_the_device_rules_and_reach_the_next_pull() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_console(&tmp.path().join("server"), console_config());
    case_workflow(&server, tmp.path());
    let [(cell, here), _] = server.two_cells();
    server.add_user("ann", Role::Warden, &[&cell]);
    server.add_user("sup", Role::Supervisor, &[]);
    set_password(&server, "sup");
    let ann = server.enrol(&tmp.path().join("ann"), "ann");
    let sam = server.enrol(&tmp.path().join("sam"), "sup");
    ann.sync().unwrap();
    let script = "<script>alert('x')</script> 井盖 broken";
    let ids: Vec<uuid::Uuid> = [
        ("0101", script),
        ("1102", "rubbish"),
        ("1102", "more rubbish"),
    ]
    .iter()
    .map(|(c, n)| ann.record_report(report_at(c, here, n)).unwrap())
    .collect();
    ann.sync().unwrap();

    let http = browser();
    let csrf = signed_in(&server, &http, "sup");

    // Filter values that are not codes: 400 naming the filter.
    for (query, names) in [
        ("status=open", "status"),
        ("cell=999", "cell"),
        ("department=fire", "department"),
        ("subclass=9999", "subclass"),
        ("from=2026-02-30", "from"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
    ] {
        let (status, body) = get(&server, &http, &format!("/api/cases?{query}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["code"], "bad_request");
        assert!(
            body["error"].as_str().unwrap().contains(names),
            "{query}: {body}"
        );
    }

    // A note holding markup comes back as JSON data, found by its text.
    let r = http
        .get(server.console_url("/api/cases"))
        .query(&[("q", "<SCRIPT>")])
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let page: Value = r.json().unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["rows"][0]["note"], script);
    assert_eq!(page["rows"][0]["category_name"], "上水井盖");
    assert_eq!(page["rows"][0]["status"], "reported");

    // Filters and names.
    let (_, page) = get(
        &server,
        &http,
        "/api/cases?subclass=1102&sort=observed&dir=asc",
    );
    assert_eq!(page["total"], 2);
    let (_, page) = get(
        &server,
        &http,
        &format!("/api/cases?cell={cell}&class=11&status=reported,registered"),
    );
    assert_eq!(page["total"], 2);

    // Ids recorded in the same millisecond share their start: a prefix
    // naming several is a 409 with the matches; a unique one finds its case.
    let first = ids[0].simple().to_string();
    let (status, body) = get(&server, &http, &format!("/api/cases/{}", &first[..4]));
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "ambiguous");
    assert!(body["matches"].as_array().unwrap().len() >= 2, "{body}");
    let (status, detail) = get(&server, &http, &format!("/api/cases/{}", ids[0]));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["actions"], json!(["register", "reject"]));
    assert_eq!(detail["defaults"]["department"], "water");

    // A step the machine refuses: its reason, and nothing changed.
    let audit_before = admin::audit(&server.admin(), None).unwrap().len();
    let (status, body) = post(
        &server,
        &http,
        &csrf,
        &format!("/api/cases/{}/steps", ids[0]),
        json!({"step": "close"}),
    );
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("cannot close a case that is reported"),
        "{body}"
    );
    let (status, body) = post(
        &server,
        &http,
        &csrf,
        &format!("/api/cases/{}/steps", ids[0]),
        json!({"step": "reject", "text": "  "}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("needs a reason"),
        "{body}"
    );
    let (status, _) = post(
        &server,
        &http,
        &csrf,
        &format!("/api/cases/{}/steps", ids[0]),
        json!({"step": "explode"}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Without the CSRF token nothing is even tried.
    let r = http
        .post(server.console_url(&format!("/api/cases/{}/steps", ids[0])))
        .json(&json!({"step": "register"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The refusals are evidence (ADR 0015); nothing else was written.
    let since: Vec<String> = admin::audit(&server.admin(), None).unwrap()[audit_before..]
        .iter()
        .map(|l| l.action.clone())
        .collect();
    assert!(since.iter().all(|a| a == "security.refused"), "{since:?}");
    assert_eq!(
        get(&server, &http, &format!("/api/cases/{}", ids[0])).1["history"],
        json!([])
    );

    // Register and dispatch (to the category's route) one by one…
    let (status, detail) = post(
        &server,
        &http,
        &csrf,
        &format!("/api/cases/{}/steps", ids[0]),
        json!({"step": "register", "text": "立案"}),
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["case"]["status"], "registered");
    let (status, detail) = post(
        &server,
        &http,
        &csrf,
        &format!("/api/cases/{}/steps", ids[0]),
        json!({"step": "dispatch"}),
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["case"]["status"], "dispatched");
    assert_eq!(detail["case"]["department"], "water");
    assert_eq!(detail["history"][1]["actor"], "sup");
    assert_eq!(detail["actions"], json!(["dispatch", "postpone"]));
    // …and the others in bulk; one refusal does not stop the rest.
    let bulk_ids: Vec<String> = ids[1..].iter().map(|i| i.to_string()).collect();
    let (status, body) = post(
        &server,
        &http,
        &csrf,
        "/api/cases/bulk",
        json!({"ids": bulk_ids, "step": "register"}),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ok"] == true),
        "{body}"
    );
    let mut with_bad = bulk_ids.clone();
    with_bad.push(uuid::Uuid::now_v7().to_string());
    let (_, body) = post(
        &server,
        &http,
        &csrf,
        "/api/cases/bulk",
        json!({"ids": with_bad, "step": "dispatch", "department": "sanitation"}),
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        results.iter().filter(|r| r["ok"] == true).count(),
        2,
        "{body}"
    );
    assert!(
        results[2]["error"].as_str().unwrap().contains("no case"),
        "{body}"
    );

    // The devices' next pull carries the console's steps.
    ann.sync().unwrap();
    sam.sync().unwrap();
    for id in &ids {
        assert_eq!(device_status(&ann, *id), "dispatched");
        assert_eq!(device_status(&sam, *id), "dispatched");
    }
    assert_eq!(
        ann.case(ids[0]).unwrap().department.as_deref(),
        Some("water")
    );
    let (_, page) = get(
        &server,
        &http,
        "/api/cases?status=dispatched&department=sanitation",
    );
    assert_eq!(page["total"], 2);

    // The CSV holds exactly what the filters show, for a spreadsheet.
    let r = http
        .get(server.console_url("/api/cases.csv?department=sanitation"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let text = r.text().unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(text.lines().count(), 3, "{text}");

    // KPIs over HTTP equal the supervisor's device's, row by row.
    for by in ["grid", "street", "department", "warden"] {
        let (status, table) = get(
            &server,
            &http,
            &format!("/api/kpi?by={by}&from=2020-01-01&to=2030-01-01"),
        );
        assert_eq!(status, StatusCode::OK, "{table}");
        let group: GroupBy = by.parse().unwrap();
        let from_ms = 1_577_808_000_000; // 2020-01-01T00:00+08:00
        let to_ms = 1_893_427_200_000; // 2030-01-01T00:00+08:00
        let device = sam.kpi(group, Period { from_ms, to_ms }).unwrap();
        let mut web: Vec<Value> = table["rows"].as_array().unwrap().clone();
        for row in &mut web {
            row.as_object_mut().unwrap().remove("name");
        }
        assert_eq!(
            web,
            serde_json::to_value(&device)
                .unwrap()
                .as_array()
                .unwrap()
                .clone(),
            "by {by}"
        );
    }
    let (_, table) = get(
        &server,
        &http,
        "/api/kpi?by=department&from=2020-01-01&to=2030-01-01",
    );
    assert_eq!(table["total"]["dispatched"], 3);
    assert!(table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "环卫处 sanitation"));
    let (status, body) = get(&server, &http, "/api/kpi?by=colour");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("by:"), "{body}");
}

/// Runs `gridwarden-server ARGS`, feeding `stdin`; (exit code, stdout, stderr).
fn server_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(gridwarden_e2e::bins::path("gridwarden-server"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn serve_prints_the_console_url_and_the_command_line_signs_people_in() {
    use gridwarden_e2e::process::{free_udp_port, ServerProcess};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    let (code, _, err) = server_cli(&["init", "--data", data_arg], "");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = server_cli(
        &[
            "--data",
            data_arg,
            "users",
            "add",
            "sam",
            "--role",
            "supervisor",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let server = ServerProcess::start(&data, free_udp_port());
    let line = server
        .banner
        .iter()
        .find(|l| l.starts_with("supervisor console at "))
        .unwrap_or_else(|| panic!("{:?}", server.banner));
    let url = line.trim_start_matches("supervisor console at ").to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/console/"),
        "{url}"
    );

    // The page (or its placeholder) with the security headers.
    let http = browser();
    let r = http.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-eval"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let origin = url.trim_end_matches("/console/");
    let r = http.get(format!("{origin}/")).send().unwrap();
    assert!(r.status().is_redirection());

    // `users passwd` reads the password from stdin; too short is refused.
    let (code, _, err) = server_cli(&["--data", data_arg, "users", "passwd", "sam"], "short\n");
    assert_ne!(code, 0);
    assert!(err.contains("10 to 1024 characters"), "{err}");
    let (code, out, err) = server_cli(
        &["--data", data_arg, "users", "passwd", "sam"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password of `sam` set"), "{out}");
    let r = http
        .post(format!("{origin}/api/login"))
        .json(&json!({"user": "sam", "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // `console link` prints a URL at the address `serve` printed.
    let (code, out, err) = server_cli(
        &["--data", data_arg, "console", "link", "--user", "sam"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let link = out.trim();
    assert!(
        link.starts_with(&format!("{origin}/login/link?token=")),
        "{link}"
    );
    let by_link = browser();
    assert_eq!(
        by_link.get(link).send().unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get_at(&by_link, &format!("{origin}/api/session"))["user"],
        "sam"
    );
    assert_eq!(
        browser().get(link).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (code, _, err) = server_cli(
        &["--data", data_arg, "console", "link", "--user", "nobody"],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("no user named `nobody`"), "{err}");
}

fn get_at(http: &Http, url: &str) -> Value {
    http.get(url).send().unwrap().json().unwrap()
}
