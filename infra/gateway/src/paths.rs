//! The one reading of a request path. Route matching, the path parameters and the authorizer's method ARN
//! all come from the same canonical form, computed once per request, so no path can be one resource to
//! the router and another to the policy (a customer once read the admin audit log through
//! `/api//v1/admin/audit-logs`: the route matcher dropped the empty segment, the method ARN kept it, and the
//! admin Deny did not match).
//!
//! What API Gateway (REST API) does, and what this module does:
//! - a trailing slash: API Gateway routes `/x/` to the resource `/x` (the proxy event's `path` keeps the
//!   slash). Followed: one trailing slash is dropped for routing and for the method ARN.
//! - percent-encoding: API Gateway matches resources and fills path parameters on the decoded path.
//!   Followed: each segment is decoded exactly once (`%61dmin` is `admin`).
//! - empty segments (`//`), dot segments (`.`, `..`, also encoded) and encoded slashes (`%2F`, `%5C`): no
//!   resource path can contain them (API Gateway refuses them in resource names), and API Gateway does not
//!   document collapsing or resolving them. Refused, with the answer API Gateway gives a path that matches
//!   no resource. Refusing can only turn a request away, never let one through a policy it should meet.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// Decoded segments, without empty ones.
    pub segments: Vec<String>,
}

impl CanonicalPath {
    /// `/a/b`, or `/` for the root: what the method ARN carries after the method.
    pub fn as_path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the path does not start with /")]
    NotAbsolute,
    #[error("the path has an empty segment")]
    EmptySegment,
    #[error("the path has a . or .. segment")]
    DotSegment,
    #[error("a path segment holds an encoded slash")]
    EncodedSlash,
    #[error("a path segment is not valid percent-encoded UTF-8 or holds a control character")]
    Malformed,
}

fn decode(segment: &str) -> Result<Cow<'_, str>, Refused> {
    let bytes = segment.as_bytes();
    if !bytes.contains(&b'%') {
        return Ok(Cow::Borrowed(segment));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Refused::Malformed)?;
            let text = std::str::from_utf8(hex).map_err(|_| Refused::Malformed)?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| Refused::Malformed)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Refused::Malformed)
}

/// The canonical form of a raw request path (as sent, before any decoding), or why it is refused.
pub fn canonical(raw: &str) -> Result<CanonicalPath, Refused> {
    let rest = raw.strip_prefix('/').ok_or(Refused::NotAbsolute)?;
    // One trailing slash is allowed (API Gateway routes `/x/` as `/x`); the root is `/`.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(CanonicalPath {
            segments: Vec::new(),
        });
    }
    let mut segments = Vec::new();
    for raw_segment in rest.split('/') {
        if raw_segment.is_empty() {
            return Err(Refused::EmptySegment);
        }
        let segment = decode(raw_segment)?;
        if segment.contains(['/', '\\']) {
            return Err(Refused::EncodedSlash);
        }
        if segment.chars().any(char::is_control) {
            return Err(Refused::Malformed);
        }
        if segment == "." || segment == ".." {
            return Err(Refused::DotSegment);
        }
        segments.push(segment.into_owned());
    }
    Ok(CanonicalPath { segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<String, Refused> {
        canonical(raw).map(|p| p.as_path())
    }

    #[test]
    fn plain_paths_stay_as_they_are() {
        assert_eq!(
            path("/api/v1/admin/audit-logs").as_deref(),
            Ok("/api/v1/admin/audit-logs")
        );
        assert_eq!(path("/").as_deref(), Ok("/"));
    }

    #[test]
    fn one_trailing_slash_is_dropped_as_api_gateway_routes_it() {
        assert_eq!(path("/api/v1/me/").as_deref(), Ok("/api/v1/me"));
        assert_eq!(path("/api/v1/me//"), Err(Refused::EmptySegment));
    }

    #[test]
    fn segments_are_decoded_exactly_once() {
        assert_eq!(
            path("/api/v1/%61dmin/audit-logs").as_deref(),
            Ok("/api/v1/admin/audit-logs")
        );
        // %2561 decodes to the literal text `%61`, not to `a`.
        assert_eq!(path("/api/v1/%2561dmin").as_deref(), Ok("/api/v1/%61dmin"));
    }

    #[test]
    fn empty_dot_and_encoded_slash_segments_are_refused() {
        for (raw, why) in [
            ("/api//v1/admin/audit-logs", Refused::EmptySegment),
            ("/api/v1//admin/audit-logs", Refused::EmptySegment),
            ("//api/v1/me", Refused::EmptySegment),
            ("/api/v1/./admin/audit-logs", Refused::DotSegment),
            ("/api/v1/me/../admin/audit-logs", Refused::DotSegment),
            ("/api/v1/%2e%2E/admin", Refused::DotSegment),
            ("/api/v1%2Fadmin/audit-logs", Refused::EncodedSlash),
            ("/api/v1/admin%2faudit-logs", Refused::EncodedSlash),
            ("/api/v1/admin%5Caudit-logs", Refused::EncodedSlash),
            ("/api/v1/%zz", Refused::Malformed),
            ("/api/v1/%", Refused::Malformed),
            ("/api/v1/%ff%fe", Refused::Malformed),
            ("/api/v1/a%00b", Refused::Malformed),
            ("api/v1/me", Refused::NotAbsolute),
        ] {
            assert_eq!(path(raw), Err(why), "{raw}");
        }
    }
}
