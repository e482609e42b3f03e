//! The part of Go templates that `docker inspect -f` users rely on most:
//! `{{.A.B}}` field paths and `{{json .A}}`. Anything else is an error
//! rather than a silent wrong answer.

use anyhow::{bail, Result};
use serde_json::Value;

pub fn render(template: &str, value: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("template {template:?}: unclosed {{{{")
        };
        out.push_str(&action(after[..end].trim(), value, template)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action(expr: &str, value: &Value, template: &str) -> Result<String> {
    let (json, path) = match expr.strip_prefix("json ") {
        Some(p) => (true, p.trim()),
        None => (false, expr),
    };
    let Some(path) = path.strip_prefix('.') else {
        bail!("template {template:?}: only {{{{.Field}}}} and {{{{json .Field}}}} are supported")
    };
    let mut v = value;
    for field in path.split('.').filter(|f| !f.is_empty()) {
        v = v.get(field).unwrap_or(&Value::Null);
    }
    Ok(match (json, v) {
        (true, v) => v.to_string(),
        (false, Value::String(s)) => s.clone(),
        (false, Value::Null) => "<no value>".into(),
        (false, v) => v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn paths_and_json() {
        let v = json!({"State": {"Pid": 42, "Status": "running"}, "Args": ["a"]});
        assert_eq!(super::render("{{.State.Pid}}", &v).unwrap(), "42");
        assert_eq!(
            super::render("s={{ .State.Status }}", &v).unwrap(),
            "s=running"
        );
        assert_eq!(super::render("{{json .Args}}", &v).unwrap(), "[\"a\"]");
        assert_eq!(super::render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(super::render("{{range .Args}}", &v).is_err());
    }
}
