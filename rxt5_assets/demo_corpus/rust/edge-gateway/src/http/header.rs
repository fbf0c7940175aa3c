//! Header storage and parsing.
//!
//! Header names are case-insensitive; [`HeaderMap`] normalises them to
//! lowercase on insertion and keeps insertion order for repeated headers.

use std::fmt;

use crate::error::GatewayError;

/// Build a [`HeaderMap`] from literal pairs.
///
/// ```ignore
/// let headers = headers! {
///     "content-type" => "application/json",
///     "cache-control" => "no-store",
/// };
/// ```
#[macro_export]
macro_rules! headers {
    () => { $crate::http::HeaderMap::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {{
        let mut map = $crate::http::HeaderMap::new();
        $( map.append($name, $value.to_string()); )+
        map
    }};
}

/// Maximum accepted length of a single header line.
pub const MAX_HEADER_LINE: usize = 8 * 1024;

/// Ordered multimap of header names to values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(String, String)>,
}

impl HeaderMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a value, keeping existing values for the same name.
    pub fn append(&mut self, name: &str, value: String) {
        self.entries.push((name.to_ascii_lowercase(), value));
    }

    /// Replace all values for `name` with a single value.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.append(name, value.to_string());
    }

    /// The first value for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value for `name`, in insertion order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Remove every value for `name`, returning how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Display for HeaderMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.iter() {
            write!(f, "{name}: {value}\r\n")?;
        }
        Ok(())
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parse a `Name: value` header line into a lowercase name and trimmed value.
pub fn parse_header(line: &str) -> Result<(String, String), GatewayError> {
    if line.len() > MAX_HEADER_LINE {
        return Err(GatewayError::BadRequest("header line too long".into()));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| GatewayError::BadRequest(format!("header without colon: `{line}`")))?;
    if name.is_empty() || !name.chars().all(is_token_char) {
        return Err(GatewayError::BadRequest(format!("invalid header name `{name}`")));
    }
    let value = value.trim();
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(GatewayError::BadRequest(format!("control character in `{name}`")));
    }
    Ok((name.to_ascii_lowercase(), value.to_string()))
}

/// A media type with quality weight, as found in `Accept`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange<'a> {
    pub essence: &'a str,
    pub quality: f32,
}

/// Parse an `Accept` header, highest quality first. Ties keep header order.
pub fn parse_accept(value: &str) -> Vec<MediaRange<'_>> {
    let mut ranges: Vec<MediaRange<'_>> = value
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let essence = pieces.next().filter(|e| !e.is_empty())?;
            let quality = pieces
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some(MediaRange { essence, quality })
        })
        .collect();
    ranges.sort_by(|a, b| b.quality.partial_cmp(&a.quality).unwrap_or(std::cmp::Ordering::Equal));
    ranges
}

/// Credentials carried in an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials<'a> {
    Bearer(&'a str),
    Basic(&'a str),
    Other { scheme: &'a str, value: &'a str },
}

/// Split an `Authorization` header into its scheme and payload.
pub fn parse_authorization(value: &str) -> Option<Credentials<'_>> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    Some(match scheme {
        s if s.eq_ignore_ascii_case("bearer") => Credentials::Bearer(rest),
        s if s.eq_ignore_ascii_case("basic") => Credentials::Basic(rest),
        scheme => Credentials::Other { scheme, value: rest },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_header_normalises_name() {
        let (name, value) = parse_header("Content-Type:  application/json ").unwrap();
        assert_eq!(name, "content-type");
        assert_eq!(value, "application/json");
    }

    #[test]
    fn parse_header_rejects_garbage() {
        assert!(parse_header("no colon here").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header("x-evil: a\u{0}b").is_err());
    }

    #[test]
    fn header_map_is_case_insensitive_multimap() {
        let mut map = headers! { "Set-Cookie" => "a=1", "set-cookie" => "b=2" };
        assert_eq!(map.get_all("SET-COOKIE").collect::<Vec<_>>(), vec!["a=1", "b=2"]);
        map.insert("set-cookie", "c=3");
        assert_eq!(map.len(), 1);
        assert_eq!(map.to_string(), "set-cookie: c=3\r\n");
    }

    #[test]
    fn accept_is_sorted_by_quality() {
        let ranges = parse_accept("text/html;q=0.5, application/json, */*;q=0.1");
        let order: Vec<_> = ranges.iter().map(|r| r.essence).collect();
        assert_eq!(order, ["application/json", "text/html", "*/*"]);
    }

    #[test]
    fn authorization_schemes() {
        assert_eq!(parse_authorization("Bearer abc.def"), Some(Credentials::Bearer("abc.def")));
        assert_eq!(parse_authorization("basic dXNlcjpwdw=="), Some(Credentials::Basic("dXNlcjpwdw==")));
        assert_eq!(parse_authorization("Bearer "), None);
        assert!(matches!(parse_authorization("Digest x=1"), Some(Credentials::Other { scheme: "Digest", .. })));
    }
}
