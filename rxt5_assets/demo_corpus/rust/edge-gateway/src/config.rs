//! Gateway configuration file.
//!
//! One directive per line, `#` starts a comment:
//!
//! ```text
//! listen 0.0.0.0:8080
//! rate_limit 100/1s burst 20
//! upstream users 10.0.0.1:8080 weight=3
//! route GET /v1/users/:id users
//! breaker users threshold=5 cooldown=30s
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::circuit_breaker::BreakerConfig;
use crate::error::GatewayError;
use crate::http::Method;

/// A route entry: which upstream pool serves `method pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `None` means any method.
    pub method: Option<Method>,
    pub pattern: String,
    pub upstream: String,
}

/// Rate limit as capacity plus refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSpec {
    pub burst: u32,
    pub per_second: f64,
}

/// The parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    pub listen: Option<String>,
    pub rate_limit: Option<RateLimitSpec>,
    pub upstreams: BTreeMap<String, Vec<(String, u32)>>,
    pub routes: Vec<RouteSpec>,
    pub breakers: BTreeMap<String, BreakerConfig>,
}

impl GatewayConfig {
    /// Check cross-references: every route must point at a known upstream.
    pub fn validate(&self) -> Result<(), GatewayError> {
        match self.routes.iter().find(|r| !self.upstreams.contains_key(&r.upstream)) {
            Some(route) => Err(GatewayError::Config {
                line: 0,
                reason: format!("route {} uses unknown upstream `{}`", route.pattern, route.upstream),
            }),
            None => Ok(()),
        }
    }
}

/// Parse `250ms`, `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// Split `key=value` options into a map.
fn options<'a>(parts: &[&'a str]) -> BTreeMap<&'a str, &'a str> {
    parts.iter().filter_map(|p| p.split_once('=')).collect()
}

/// Parse the whole configuration file.
pub fn parse_config(text: &str) -> Result<GatewayConfig, GatewayError> {
    let mut config = GatewayConfig::default();

    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |reason: String| GatewayError::Config { line, reason };
        let content = raw.split('#').next().unwrap_or_default().trim();
        let words: Vec<&str> = content.split_whitespace().collect();

        match words.as_slice() {
            [] => continue,
            ["listen", addr] => config.listen = Some((*addr).to_string()),
            ["rate_limit", rate, "burst", burst] => {
                let (count, window) = rate
                    .split_once('/')
                    .ok_or_else(|| err(format!("expected N/window, got `{rate}`")))?;
                let count: f64 = count.parse().map_err(|_| err(format!("bad count `{count}`")))?;
                let window = parse_duration(window).ok_or_else(|| err(format!("bad window `{window}`")))?;
                let burst = burst.parse().map_err(|_| err(format!("bad burst `{burst}`")))?;
                config.rate_limit = Some(RateLimitSpec { burst, per_second: count / window.as_secs_f64() });
            }
            ["upstream", name, address, rest @ ..] => {
                let opts = options(rest);
                let weight = match opts.get("weight") {
                    Some(w) => w.parse().map_err(|_| err(format!("bad weight `{w}`")))?,
                    None => 1,
                };
                config.upstreams.entry((*name).to_string()).or_default().push(((*address).to_string(), weight));
            }
            ["route", method, pattern, upstream] => {
                let method = match *method {
                    "*" => None,
                    m => Some(m.parse().map_err(|_| err(format!("unknown method `{m}`")))?),
                };
                config.routes.push(RouteSpec {
                    method,
                    pattern: (*pattern).to_string(),
                    upstream: (*upstream).to_string(),
                });
            }
            ["breaker", name, rest @ ..] => {
                let opts = options(rest);
                let mut breaker = BreakerConfig::default();
                if let Some(t) = opts.get("threshold") {
                    breaker.failure_threshold = t.parse().map_err(|_| err(format!("bad threshold `{t}`")))?;
                }
                if let Some(c) = opts.get("cooldown") {
                    breaker.cool_down = parse_duration(c).ok_or_else(|| err(format!("bad cooldown `{c}`")))?;
                }
                config.breakers.insert((*name).to_string(), breaker);
            }
            [directive, ..] => return Err(err(format!("unknown or malformed directive `{directive}`"))),
        }
    }

    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        # edge config for staging
        listen 0.0.0.0:8080
        rate_limit 120/1m burst 30

        upstream users 10.0.0.1:8080 weight=3
        upstream users 10.0.0.2:8080
        upstream assets 10.0.1.1:80

        route GET /v1/users/:id users
        route *   /static/*path assets

        breaker users threshold=3 cooldown=15s
    "#;

    #[test]
    fn parses_sample_config() {
        let cfg = parse_config(SAMPLE).unwrap();
        assert_eq!(cfg.listen.as_deref(), Some("0.0.0.0:8080"));
        assert_eq!(cfg.rate_limit, Some(RateLimitSpec { burst: 30, per_second: 2.0 }));
        assert_eq!(cfg.upstreams["users"], vec![("10.0.0.1:8080".to_string(), 3), ("10.0.0.2:8080".to_string(), 1)]);
        assert_eq!(cfg.routes[1].method, None);
        assert_eq!(cfg.breakers["users"].failure_threshold, 3);
        assert_eq!(cfg.breakers["users"].cool_down, Duration::from_secs(15));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("5d"), None);
    }

    #[test]
    fn unknown_upstream_fails_validation() {
        let err = parse_config("route GET / nowhere").unwrap_err();
        assert!(err.to_string().contains("unknown upstream `nowhere`"));
    }

    #[test]
    fn errors_carry_line_numbers() {
        let err = parse_config("listen :80\nfrobnicate yes\n").unwrap_err();
        assert_eq!(err, GatewayError::Config { line: 2, reason: "unknown or malformed directive `frobnicate`".into() });
        assert!(matches!(parse_config("upstream a b weight=x"), Err(GatewayError::Config { line: 1, .. })));
    }
}
