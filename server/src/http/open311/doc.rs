//! An answer as GeoReport v2 lays it out, written once and rendered as
//! JSON or XML: a list becomes a JSON array and an XML element holding one
//! element per item, a missing value `null` and an empty element.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The two formats of the spec, picked by the path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `requests.json` → (`requests`, JSON); `None` for another extension.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        let (stem, ext) = file.rsplit_once('.')?;
        match ext {
            "json" => Some((stem, Format::Json)),
            "xml" => Some((stem, Format::Xml)),
            _ => None,
        }
    }
}

/// A value of an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Text(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Null,
    Obj(Vec<(&'static str, Node)>),
    /// Items, and the XML element name each is wrapped in.
    List(&'static str, Vec<Node>),
}

impl Node {
    pub fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> Node {
        s.map_or(Node::Null, |s| Node::Text(s.into()))
    }

    fn json(&self) -> Value {
        match self {
            Node::Text(s) => Value::String(s.clone()),
            Node::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Node::Int(n) => Value::from(*n),
            Node::Bool(b) => Value::Bool(*b),
            Node::Null => Value::Null,
            Node::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.json()))
                    .collect::<Map<_, _>>(),
            ),
            Node::List(_, items) => Value::Array(items.iter().map(Node::json).collect()),
        }
    }

    fn xml(&self, name: &str, out: &mut String) {
        out.push('<');
        out.push_str(name);
        out.push('>');
        match self {
            Node::Text(s) => out.push_str(&quick_xml::escape::escape(xml_safe(s).as_str())),
            Node::Num(n) => out.push_str(&n.to_string()),
            Node::Int(n) => out.push_str(&n.to_string()),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Null => {}
            Node::Obj(fields) => {
                for (k, v) in fields {
                    v.xml(k, out);
                }
            }
            Node::List(item, items) => {
                for v in items {
                    v.xml(item, out);
                }
            }
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

/// Characters XML 1.0 cannot carry at all (stored text never has them; a
/// stray one must not make the document unreadable).
fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

/// A whole answer: its XML root element and its body.
pub fn render(status: StatusCode, format: Format, root: &str, body: &Node) -> Response {
    match format {
        Format::Json => {
            let text = serde_json::to_string(&body.json()).expect("json values serialise");
            (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                text,
            )
                .into_response()
        }
        Format::Xml => {
            let mut text = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            body.xml(root, &mut text);
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                text,
            )
                .into_response()
        }
    }
}

/// The spec's error answer: `[{"code", "description"}]` or
/// `<errors><error><code/><description/></error></errors>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Oops {
    pub status: StatusCode,
    pub description: String,
}

impl Oops {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
        }
    }

    pub fn bad(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }

    pub fn render(&self, format: Format) -> Response {
        let error = Node::Obj(vec![
            ("code", Node::Int(i64::from(self.status.as_u16()))),
            ("description", Node::text(self.description.clone())),
        ]);
        render(
            self.status,
            format,
            "errors",
            &Node::List("error", vec![error]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nest_and_text_is_escaped() {
        let body = Node::List(
            "request",
            vec![Node::Obj(vec![
                ("service_request_id", Node::text("a<b&c")),
                ("lat", Node::Num(40.5)),
                ("media_url", Node::Null),
            ])],
        );
        let mut xml = String::new();
        body.xml("service_requests", &mut xml);
        assert_eq!(
            xml,
            "<service_requests><request><service_request_id>a&lt;b&amp;c</service_request_id>\
             <lat>40.5</lat><media_url></media_url></request></service_requests>"
        );
        assert_eq!(
            body.json(),
            serde_json::json!([{"service_request_id": "a<b&c", "lat": 40.5, "media_url": null}])
        );
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            Format::split("requests.json"),
            Some(("requests", Format::Json))
        );
        assert_eq!(Format::split("a.b.xml"), Some(("a.b", Format::Xml)));
        assert_eq!(Format::split("requests.html"), None);
        assert_eq!(Format::split("requests"), None);
    }
}
