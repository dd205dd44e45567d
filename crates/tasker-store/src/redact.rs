//! Database URLs with their secrets hidden, for every message that shows one.
//!
//! The URL is parsed with the `url` crate (the WHATWG URL standard, the same parser sqlx uses,
//! and the same standard as Node's `URL`, which `src/redact-url.ts` uses for the TypeScript
//! side; both run the same table of cases, `__tests__/fixtures/redaction-cases.json`).

/// Query parameters whose value is a secret: libpq's `password` and `sslpassword`, and, to be
/// safe, any parameter whose name contains `password`, `secret` or `token`.
pub fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|s| name.contains(s))
}

const HIDDEN: &str = "***";

/// `url` with every credential replaced by `***`: the password of the userinfo
/// (`postgres://bob:***@host/db`) and the value of every secret query parameter
/// (`?password=***`, `?sslpassword=***`, see [`is_secret_parameter`]). A URL that cannot be
/// parsed, or whose userinfo would be misread (an unencoded `/`, `?` or `#` in the password
/// leaves an `@` after the host), loses everything between `://` and its last `@` instead.
/// Text without `://` is read as a libpq `keyword=value` string (`host=db password=***`).
pub fn redact(url: &str) -> String {
    if !url.contains("://") {
        return redact_keyword_values(url);
    }
    match url::Url::parse(url) {
        Ok(mut parsed) if !after_authority(&parsed).contains('@') => {
            if parsed.password().is_some() {
                // Fails only for URLs that cannot have a password, which have none.
                let _ = parsed.set_password(Some(HIDDEN));
            }
            if let Some(query) = parsed.query() {
                let query = redact_query(query);
                parsed.set_query(Some(&query));
            }
            parsed.to_string()
        }
        _ => redact_unparsed(url),
    }
}

/// The path, query and fragment as written.
fn after_authority(url: &url::Url) -> String {
    format!(
        "{}{}{}",
        url.path(),
        url.query().unwrap_or(""),
        url.fragment().unwrap_or("")
    )
}

/// `a=1&password=x` → `a=1&password=***`, every other byte kept as written.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let decoded = percent_decode(name);
            if is_secret_parameter(&decoded) {
                format!("{name}={HIDDEN}")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `host=db password='a b'` → `host=db password=***` (libpq's format: optional spaces around
/// `=`, values single-quoted with `\'` and `\\` escapes, or up to the next space).
fn redact_keyword_values(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < n {
        if c[i].is_whitespace() {
            out.push(c[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !c[i].is_whitespace() && c[i] != '=' {
            i += 1;
        }
        let keyword: String = c[start..i].iter().collect();
        let mut j = i;
        while j < n && c[j].is_whitespace() {
            j += 1;
        }
        if j >= n || c[j] != '=' {
            out.push_str(&keyword);
            continue;
        }
        j += 1;
        while j < n && c[j].is_whitespace() {
            j += 1;
        }
        let value_start = j;
        if j < n && c[j] == '\'' {
            j += 1;
            while j < n && c[j] != '\'' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            j += 1;
        } else {
            while j < n && !c[j].is_whitespace() {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
        }
        let j = j.min(n);
        out.extend(&c[start..value_start]);
        if is_secret_parameter(&keyword) {
            out.push_str(HIDDEN);
        } else {
            out.extend(&c[value_start..j]);
        }
        i = j;
    }
    out
}

/// The fallback for text the parser rejects (or would misread): hide the userinfo up to the
/// last `@`, and secret query parameters.
fn redact_unparsed(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end);
    let rest = match rest.rfind('@') {
        Some(at) => format!("{HIDDEN}{}", &rest[at..]),
        None => rest.to_string(),
    };
    match rest.split_once('?') {
        Some((before, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let mut out = format!("{head}{before}?{}", redact_query(query));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
            out
        }
        None => format!("{head}{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table both implementations (this one and `src/redact-url.ts`) must agree with.
    const CASES: &str = include_str!("../../../__tests__/fixtures/redaction-cases.json");

    #[test]
    fn redacts_every_credential_form() {
        let cases: Vec<serde_json::Value> = serde_json::from_str(CASES).expect("valid JSON");
        assert!(cases.len() >= 10);
        let mut failures = Vec::new();
        for case in &cases {
            let input = case["url"].as_str().expect("url");
            let expected = case["redacted"].as_str().expect("redacted");
            let got = redact(input);
            if got != expected {
                failures.push(format!("{input}\n  expected {expected}\n  got      {got}"));
            }
            if let Some(secret) = case["secret"].as_str() {
                assert!(!got.contains(secret), "{input} → {got} shows {secret}");
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
