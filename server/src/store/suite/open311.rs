//! The shared suite's Open311 cases: API keys and the requests' extra rows.
#![allow(clippy::unwrap_used)] // test code, as in `suite.rs`

use gridwarden_protocol::Role;
use uuid::Uuid;

use super::{audit, user};
use crate::store::*;

fn key(name: &str, hash: u8) -> ApiKey {
    ApiKey {
        name: name.into(),
        key_hash: [hash; 32],
        created_ms: 10,
        revoked_ms: None,
    }
}

pub fn keys_are_audited(s: &dyn Store) {
    let before = s.audit_log(None).unwrap().len();
    s.add_api_key(&key("12345", 1), &audit(10, "apikey.add", "12345"))
        .unwrap();
    let again = s
        .add_api_key(&key("12345", 2), &audit(11, "apikey.add", "12345"))
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    // Users and keys share names (the service keeps them apart): the store
    // answers both in a unit of work.
    s.add_user(&user("ann", Role::Warden, &[]), 1).unwrap();
    let (key_named, user_named) =
        write(s, |tx| Ok((tx.api_key("12345")?, tx.user("ann")?))).unwrap();
    assert_eq!(key_named, Some(key("12345", 1)));
    assert_eq!(user_named.map(|u| u.name).as_deref(), Some("ann"));

    assert_eq!(s.api_key_by_hash([1; 32]).unwrap(), Some(key("12345", 1)));
    assert_eq!(s.api_key_by_hash([2; 32]).unwrap(), None);
    let revoked = s
        .revoke_api_key("12345", 20, &audit(20, "apikey.revoke", "12345"))
        .unwrap();
    assert_eq!(revoked.revoked_ms, Some(20));
    let twice = s
        .revoke_api_key("12345", 30, &audit(30, "apikey.revoke", "12345"))
        .unwrap();
    assert_eq!(twice.revoked_ms, Some(20), "the first revocation stands");
    assert!(matches!(
        s.revoke_api_key("nobody", 40, &audit(40, "apikey.revoke", "nobody")),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.api_keys().unwrap(), vec![revoked]);
    let actions: Vec<String> = s.audit_log(None).unwrap()[before..]
        .iter()
        .map(|e| e.record.action.clone())
        .collect();
    assert_eq!(actions, ["apikey.add", "apikey.revoke"]);
}

fn request(n: u128, client: &str, external: Option<&str>, at: i64) -> HotlineRequest {
    HotlineRequest {
        report_id: Uuid::from_u128(n),
        token: format!("t{n}"),
        client: client.into(),
        external_id: external.map(str::to_owned),
        service_code: if matches!(n, 2 | 4) { "0101" } else { "0102" }.into(),
        description: "a broken lid".into(),
        requested_ms: at,
        media_url: None,
        attributes: vec![("ticket".into(), "A-1".into())],
        contact: vec![("email".into(), "a@example.org".into())],
    }
}

pub fn requests_are_kept_once(s: &dyn Store) {
    let first = request(1, "12345", Some("X1"), 100);
    assert_eq!(s.add_hotline_request(&first).unwrap(), first);
    // The same client's external id again returns the first one.
    let repeat = request(2, "12345", Some("X1"), 200);
    assert_eq!(s.add_hotline_request(&repeat).unwrap(), first);
    // Another client may use the same external id.
    let other = request(3, "12319", Some("X1"), 300);
    assert_eq!(s.add_hotline_request(&other).unwrap(), other);
    let plain = request(4, "12345", None, 400);
    s.add_hotline_request(&plain).unwrap();
    assert_eq!(s.hotline_request(Uuid::from_u128(2)).unwrap(), None);
    assert_eq!(
        s.hotline_request_by_token("t3").unwrap(),
        Some(other.clone())
    );
    assert_eq!(
        s.hotline_request_by_external_id("12345", "X1").unwrap(),
        Some(first.clone())
    );
    let all = |code: Option<&str>, limit| {
        s.hotline_requests(&HotlineFilter {
            since_ms: 100,
            until_ms: 400,
            service_code: code.map(str::to_owned),
            limit,
        })
        .unwrap()
        .into_iter()
        .map(|r| r.report_id.as_u128())
        .collect::<Vec<_>>()
    };
    assert_eq!(all(None, 10), [4, 3, 1], "newest first");
    assert_eq!(all(None, 2), [4, 3]);
    assert_eq!(all(Some("0101"), 10), [4]);

    let rating = Feedback {
        report_id: Uuid::from_u128(1),
        rating: 4,
        comment: "quick".into(),
        at_ms: 500,
    };
    s.add_feedback(&rating).unwrap();
    assert!(matches!(
        s.add_feedback(&rating),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.feedback().unwrap(), vec![rating]);
}
