//! Why a GPX file was refused, in words a person can act on: each message
//! says where (line, or point number counted from 1) and what to do.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum GpxError {
    #[error("not a readable XML file: {detail} (line {line}, column {column})")]
    NotXml {
        detail: String,
        line: usize,
        column: usize,
    },
    #[error(
        "the file ends inside <{element}> (opened on line {line}); it looks cut short, so copy \
         or export it again"
    )]
    Truncated { element: String, line: usize },
    #[error("not a GPX file: the document is <{found}>, not <gpx>; export the track as GPX")]
    NotGpx { found: String },
    #[error("point {point} (line {line}) has no {attribute} attribute; every <{element}> needs lat and lon")]
    MissingCoordinate {
        point: usize,
        line: usize,
        element: &'static str,
        attribute: &'static str,
    },
    #[error("point {point} (line {line}): {attribute}=\"{value}\" is not a number")]
    NotANumber {
        point: usize,
        line: usize,
        attribute: &'static str,
        value: String,
    },
    #[error("point {point} (line {line}): {detail}")]
    OffPlanet {
        point: usize,
        line: usize,
        detail: String,
    },
    #[error(
        "point {point} (line {line}): <time>{text}</time> is not a time; write it like \
         2024-05-17T08:30:00Z or 2024-05-17T16:30:00+08:00"
    )]
    BadTime {
        point: usize,
        line: usize,
        text: String,
    },
    #[error(
        "the GPX file has no track points: no <trkpt> in a <trkseg> and no <rtept> in a <rte>"
    )]
    NoPoints,
    #[error(
        "the GPX file has more than {limit} points, more than one patrol may hold; split the track"
    )]
    TooManyPoints { limit: u32 },
    #[error("elements are nested more than {limit} deep at line {line}; this is not a GPX track")]
    TooDeep { limit: usize, line: usize },
}
