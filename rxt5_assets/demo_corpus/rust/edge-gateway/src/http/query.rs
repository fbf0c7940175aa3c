//! Query-string parsing and percent-decoding.

use std::str::FromStr;

use crate::error::GatewayError;

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decode `%XX` escapes and `+` (as space) in a query component.
pub fn percent_decode(input: &str) -> Result<String, GatewayError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(GatewayError::BadRequest(format!("bad escape in `{input}`"))),
                }
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| GatewayError::BadRequest("query is not valid UTF-8".into()))
}

/// Encode everything except unreserved characters.
pub fn percent_encode(input: &str) -> String {
    input
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decoded query parameters in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parse `a=1&b=two&flag`. A key without `=` gets an empty value.
    pub fn parse(query: &str) -> Result<Self, GatewayError> {
        let pairs = query
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                Ok((percent_decode(k)?, percent_decode(v)?))
            })
            .collect::<Result<Vec<_>, GatewayError>>()?;
        Ok(QueryParams(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Parse a parameter into any `FromStr` type.
    ///
    /// Returns `Ok(None)` when absent and an error when present but invalid.
    pub fn get_parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, GatewayError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|_| GatewayError::BadRequest(format!("invalid value for `{key}`: `{raw}`"))),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Re-encode into a canonical, sorted query string (used as a cache key).
    pub fn canonical(&self) -> String {
        let mut pairs: Vec<_> = self.0.iter().collect();
        pairs.sort();
        pairs
            .into_iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b c");
        assert_eq!(percent_decode("caf%C3%A9").unwrap(), "café");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
    }

    #[test]
    fn parses_pairs_in_order() {
        let q = QueryParams::parse("tag=a&tag=b&limit=10&verbose").unwrap();
        assert_eq!(q.get_all("tag"), vec!["a", "b"]);
        assert_eq!(q.get("verbose"), Some(""));
        assert_eq!(q.get_parsed::<u32>("limit").unwrap(), Some(10));
        assert_eq!(q.get_parsed::<u32>("missing").unwrap(), None);
        assert!(q.get_parsed::<u32>("tag").is_err());
    }

    #[test]
    fn canonical_form_is_sorted_and_encoded() {
        let q = QueryParams::parse("b=2&a=hello%20world").unwrap();
        assert_eq!(q.canonical(), "a=hello%20world&b=2");
    }
}
