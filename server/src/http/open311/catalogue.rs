//! The city's catalogue as GeoReport v2 lays it out: `discovery`, the
//! service list (one service per subclass of the category table, grouped by
//! class) and each service's definition (the city's extra attributes, and
//! the `external_id` every service takes).

use gridwarden_protocol::category::CategoryTable;

use super::doc::{Node, Oops};
use super::form::EXTERNAL_ID;
use crate::config::{AttributeDef, Open311Section};

/// The interface's own version, for `changeset`.
const CHANGESET: &str = "2026-12-05T00:00:00+00:00";

pub fn discovery(config: &Open311Section, base_url: &str) -> Node {
    let endpoint = Node::Obj(vec![
        (
            "specification",
            Node::text("http://wiki.open311.org/GeoReport_v2"),
        ),
        ("url", Node::text(base_url)),
        ("changeset", Node::text(CHANGESET)),
        ("type", Node::text("production")),
        (
            "formats",
            Node::List(
                "format",
                vec![Node::text("text/xml"), Node::text("application/json")],
            ),
        ),
    ]);
    Node::Obj(vec![
        ("changeset", Node::text(CHANGESET)),
        ("contact", Node::text(config.contact.clone())),
        ("key_service", Node::text(config.key_service.clone())),
        ("endpoints", Node::List("endpoint", vec![endpoint])),
    ])
}

pub fn services(categories: &CategoryTable, config: &Open311Section) -> Node {
    let items = categories
        .categories
        .iter()
        .map(|c| {
            let metadata = config.attributes.iter().any(|a| a.service_code == c.code);
            Node::Obj(vec![
                ("service_code", Node::text(c.code.clone())),
                ("service_name", Node::text(c.name.clone())),
                ("description", Node::text(c.name_en.clone())),
                ("metadata", Node::Bool(metadata)),
                ("type", Node::text("realtime")),
                (
                    "keywords",
                    Node::text(format!(
                        "{}, {}, {}",
                        c.class_name,
                        c.name_en,
                        c.family.as_str()
                    )),
                ),
                ("group", Node::text(c.class_name.clone())),
            ])
        })
        .collect();
    Node::List("service", items)
}

fn attribute(a: &AttributeDef) -> Node {
    Node::Obj(vec![
        ("variable", Node::Bool(true)),
        ("code", Node::text(a.code.clone())),
        ("datatype", Node::text(a.datatype.clone())),
        ("required", Node::Bool(a.required)),
        (
            "datatype_description",
            Node::text(a.datatype_description.clone()),
        ),
        ("order", Node::Int(i64::from(a.order))),
        ("description", Node::text(a.description.clone())),
        (
            "values",
            Node::List(
                "value",
                a.values
                    .iter()
                    .map(|v| {
                        Node::Obj(vec![
                            ("key", Node::text(v.key.clone())),
                            ("name", Node::text(v.name.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

pub fn definition(
    code: &str,
    categories: &CategoryTable,
    config: &Open311Section,
) -> Result<Node, Oops> {
    if categories.get(code).is_none() {
        return Err(Oops::not_found(format!(
            "service_code `{code}` not found; see services.json"
        )));
    }
    let mut defs: Vec<&AttributeDef> = config
        .attributes
        .iter()
        .filter(|a| a.service_code == code)
        .collect();
    defs.sort_by_key(|a| a.order);
    let external = AttributeDef {
        service_code: code.to_owned(),
        code: EXTERNAL_ID.into(),
        datatype: "string".into(),
        required: false,
        description: "Your own id for this request: sending it again (a retry) returns the first request instead of filing a second".into(),
        datatype_description: "at most 200 characters".into(),
        order: defs.iter().map(|a| a.order).max().unwrap_or(0) + 1,
        values: Vec::new(),
    };
    let attributes = defs
        .into_iter()
        .chain(std::iter::once(&external))
        .map(attribute)
        .collect();
    Ok(Node::Obj(vec![
        ("service_code", Node::text(code)),
        ("attributes", Node::List("attribute", attributes)),
    ]))
}
