//! `/metrics` of a running server, parsed by prometheus-parse (a Prometheus
//! text parser written by others): for the e2e suite and the fleet benchmark.

use std::collections::{BTreeMap, HashMap};

use prometheus_parse::{Scrape, Value};

/// Every sample of one scrape of `ORIGIN/metrics`: `name{label=value,…}` →
/// value; a histogram as its `name_count` and `name_sum`.
pub fn scrape(origin: &str) -> Result<HashMap<String, f64>, String> {
    let response =
        reqwest::blocking::get(format!("{origin}/metrics")).map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("/metrics answered {}", response.status()));
    }
    let text = response.text().map_err(|e| e.to_string())?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<HashMap<String, f64>, String> {
    let parsed =
        Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).map_err(|e| e.to_string())?;
    let mut samples = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = if labels.is_empty() {
            s.metric.clone()
        } else {
            format!("{}{{{}}}", s.metric, labels.join(","))
        };
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                samples.insert(key, v);
            }
            // A histogram's `_count` and `_sum` lines come as samples of
            // their own; its buckets are left out.
            Value::Histogram(_) | Value::Summary(_) => {}
        }
    }
    Ok(samples)
}

/// What moved between two scrapes, by name (bucket lines left out).
pub fn deltas(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(k, _)| !k.contains("_bucket"))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}
