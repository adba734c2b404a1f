//! The filters of `GET /audit` (SPEC §7, §12): raw query parameters in, a validated
//! [`AuditFilter`] out, and the opaque pagination cursor.
//!
//! Records are listed newest first, ordered by `(timestamp, id)` descending; the cursor is
//! the position of the last record of a page, and the next page starts strictly after it,
//! so pages neither skip nor repeat records however many share a timestamp.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::record::{AuditStatus, format_timestamp};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The query string as sent: every value a string, nothing checked yet.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawAuditQuery {
    pub user: Option<String>,
    pub tool: Option<String>,
    pub server: Option<String>,
    pub status: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A page position: records strictly older than this `(timestamp, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", format_timestamp(&self.timestamp), self.id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (timestamp, id) = text.split_once('|')?;
        Some(Cursor {
            timestamp: DateTime::parse_from_rfc3339(timestamp)
                .ok()?
                .with_timezone(&Utc),
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// Validated filters of one `/audit` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub tool: Option<String>,
    /// Matches `mcp_server`.
    pub server: Option<String>,
    pub status: Option<AuditStatus>,
    /// `timestamp >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `timestamp < until`.
    pub until: Option<DateTime<Utc>>,
    /// 1..=[`MAX_LIMIT`].
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            user: None,
            tool: None,
            server: None,
            status: None,
            since: None,
            until: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// An empty parameter (`?user=`) counts as absent.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl AuditFilter {
    /// Check `raw`; relative times count back from `now`. The error is a message for the
    /// caller (400 `bad_request`).
    pub fn parse(raw: RawAuditQuery, now: DateTime<Utc>) -> Result<AuditFilter, String> {
        let status = match present(raw.status) {
            None => None,
            Some(text) => Some(AuditStatus::parse(&text).ok_or_else(|| {
                let accepted: Vec<_> = AuditStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!("status must be one of {}", accepted.join(", "))
            })?),
        };
        let since = present(raw.since)
            .map(|t| parse_time(&t, now).map_err(|e| format!("since: {e}")))
            .transpose()?;
        let until = present(raw.until)
            .map(|t| parse_time(&t, now).map_err(|e| format!("until: {e}")))
            .transpose()?;
        let limit = match present(raw.limit) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}"
                    ));
                }
                // Larger asks are served at the maximum rather than refused.
                Ok(n) => u32::try_from(n.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
            },
        };
        let cursor = present(raw.cursor)
            .map(|c| {
                Cursor::decode(&c)
                    .ok_or_else(|| "cursor is not one this endpoint returned".to_owned())
            })
            .transpose()?;
        Ok(AuditFilter {
            user: present(raw.user),
            tool: present(raw.tool),
            server: present(raw.server),
            status,
            since,
            until,
            limit,
            cursor,
        })
    }
}

/// RFC 3339 (`2026-11-21T10:00:00Z`), or a duration back from `now`: a whole number
/// followed by `s`, `m`, `h` or `d` (`90s`, `15m`, `1h`, `7d`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Some(back) = parse_relative(text) {
        let back = back.ok_or_else(|| format!("`{text}` is too far back"))?;
        return now
            .checked_sub_signed(back)
            .ok_or_else(|| format!("`{text}` is too far back"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("`{text}` is neither an RFC 3339 time nor a duration like 90s, 15m, 1h, 7d")
        })
}

/// `Some(Some(delta))` for a well-formed duration, `Some(None)` when it is well-formed but
/// too large, `None` when the text is not a duration at all.
fn parse_relative(text: &str) -> Option<Option<TimeDelta>> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds_per_unit: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    Some(
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(seconds_per_unit))
            .and_then(TimeDelta::try_seconds),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> RawAuditQuery {
        let query: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        serde_urlencoded_like(&query)
    }

    /// The test builds the raw struct by hand, like the query extractor would.
    fn serde_urlencoded_like(query: &str) -> RawAuditQuery {
        let mut raw = RawAuditQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            let v = Some(v.to_owned());
            match k {
                "user" => raw.user = v,
                "tool" => raw.tool = v,
                "server" => raw.server = v,
                "status" => raw.status = v,
                "since" => raw.since = v,
                "until" => raw.until = v,
                "limit" => raw.limit = v,
                "cursor" => raw.cursor = v,
                _ => panic!("unknown key {k}"),
            }
        }
        raw
    }

    #[test]
    fn relative_times_count_back_from_now() {
        for (text, seconds) in [
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("7d", 604_800),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_time(text, now()).unwrap(),
                now() - TimeDelta::seconds(seconds),
                "{text}"
            );
        }
    }

    #[test]
    fn rfc3339_times_are_read_in_any_offset() {
        assert_eq!(
            parse_time("2026-11-21T13:30:00+01:00", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 21, 12, 30, 0).unwrap()
        );
        assert_eq!(
            parse_time("2026-11-20T00:00:00.123Z", now())
                .unwrap()
                .timestamp_subsec_millis(),
            123
        );
    }

    #[test]
    fn bad_times_are_errors() {
        for text in [
            "",
            "h",
            "1",
            "-1h",
            "1.5h",
            "1w",
            "1 h",
            "yesterday",
            "2026-11-21",
            "2026-11-21T10:00:00",
            "1é",
            "99999999999999999999d",
            "9223372036854775807s",
        ] {
            assert!(parse_time(text, now()).is_err(), "{text}");
        }
    }

    #[test]
    fn defaults_and_limits() {
        let filter = AuditFilter::parse(RawAuditQuery::default(), now()).unwrap();
        assert_eq!(filter, AuditFilter::default());
        assert_eq!(filter.limit, 100);
        let big = AuditFilter::parse(raw(&[("limit", "5000")]), now()).unwrap();
        assert_eq!(big.limit, 1000);
        let small = AuditFilter::parse(raw(&[("limit", "1")]), now()).unwrap();
        assert_eq!(small.limit, 1);
        for bad in ["0", "-1", "ten", "1.5"] {
            assert!(AuditFilter::parse(raw(&[("limit", bad)]), now()).is_err());
        }
    }

    #[test]
    fn every_filter_is_read() {
        let filter = AuditFilter::parse(
            raw(&[
                ("user", "testuser"),
                ("tool", "a__b"),
                ("server", "a"),
                ("status", "rate_limited"),
                ("since", "1h"),
                ("until", "2026-11-21T11:59:00Z"),
                ("user", "testuser"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(filter.user.as_deref(), Some("testuser"));
        assert_eq!(filter.tool.as_deref(), Some("a__b"));
        assert_eq!(filter.server.as_deref(), Some("a"));
        assert_eq!(filter.status, Some(AuditStatus::RateLimited));
        assert_eq!(filter.since, Some(now() - TimeDelta::hours(1)));
        assert_eq!(
            filter.until,
            Some(Utc.with_ymd_and_hms(2026, 11, 21, 11, 59, 0).unwrap())
        );
    }

    #[test]
    fn empty_values_are_absent_and_bad_values_are_named() {
        let filter = AuditFilter::parse(raw(&[("user", ""), ("status", "")]), now()).unwrap();
        assert_eq!(filter.user, None);
        assert_eq!(filter.status, None);
        let error = AuditFilter::parse(raw(&[("status", "ok")]), now()).unwrap_err();
        assert!(error.contains("success"), "{error}");
        let error = AuditFilter::parse(raw(&[("since", "soon")]), now()).unwrap_err();
        assert!(error.starts_with("since:"), "{error}");
        let error = AuditFilter::parse(raw(&[("until", "soon")]), now()).unwrap_err();
        assert!(error.starts_with("until:"), "{error}");
        assert!(AuditFilter::parse(raw(&[("cursor", "nope")]), now()).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            timestamp: Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap(),
            id: Uuid::now_v7(),
        };
        let text = cursor.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&text), Some(cursor));
        let parsed = AuditFilter::parse(raw(&[("cursor", &text)]), now()).unwrap();
        assert_eq!(parsed.cursor, Some(cursor));
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("no-separator"),
            &URL_SAFE_NO_PAD.encode("2026-11-21T12:00:00Z|not-a-uuid"),
            &URL_SAFE_NO_PAD.encode(format!("yesterday|{}", Uuid::nil())),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
