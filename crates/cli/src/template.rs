//! Go templates as Docker evaluates them: Go's `text/template` (the
//! `gotmpl` crate, a port of it) plus the functions Docker's CLI adds
//! (`json`, `join`, `split`, `lower`, `upper`, `title`, `truncate`, `pad`),
//! over the JSON document a verb produces. A missing key is an error, as in
//! Docker's raw-JSON evaluation (`missingkey=error`), never `<no value>`.
//!
//! `--format` of list verbs (`ps`, `images`, ...) also takes Docker's
//! `table` (a header, columns aligned like Go's tabwriter) and `json` (one
//! JSON object per line); see [`Listing`].

use anyhow::{anyhow, Result};
use gotmpl::{MissingKey, Template, Value as T};
use serde_json::Value;
use std::sync::Arc;

fn arg_str(args: &[T], i: usize, f: &str) -> gotmpl::Result<String> {
    match args.get(i) {
        Some(T::String(s)) => Ok(s.to_string()),
        Some(v) => Ok(v.to_string()),
        None => Err(gotmpl::TemplateError::Exec(format!(
            "wrong number of args for {f}: want {}, got {}",
            i + 1,
            args.len()
        ))),
    }
}

fn arg_int(args: &[T], i: usize, f: &str) -> gotmpl::Result<usize> {
    match args.get(i) {
        Some(T::Int(n)) => Ok((*n).max(0) as usize),
        Some(T::Uint(n)) => Ok(*n as usize),
        other => Err(gotmpl::TemplateError::Exec(format!(
            "{f}: argument {} must be an integer, not {other:?}",
            i + 1
        ))),
    }
}

/// `strings.Title`: the first letter of each word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    out
}

/// A template that does not parse: Docker's CLI exits 64 (EX_USAGE) for it.
#[derive(Debug)]
pub struct ParseError(String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template parsing error: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// A template parsed with Docker's functions, ready for many values.
pub struct Compiled(Template);

impl Compiled {
    /// A missing key is an error: Docker's reading of a JSON document
    /// (`inspect`'s raw fallback) and of its fixed row and info types.
    pub fn new(src: &str) -> Result<Compiled> {
        Compiled::with(src, MissingKey::Error)
    }

    /// A missing key prints `<no value>`, as Go does for a map (`events`'
    /// `.Actor.Attributes.NAME`).
    pub fn lenient(src: &str) -> Result<Compiled> {
        Compiled::with(src, MissingKey::Invalid)
    }

    fn with(src: &str, missing: MissingKey) -> Result<Compiled> {
        let t = Template::new("")
            .missing_key(missing)
            .func("json", |a| {
                let v = a.first().cloned().unwrap_or(T::Nil);
                Ok(T::String(Arc::from(to_json(&v).to_string())))
            })
            .func("join", |a| {
                let sep = arg_str(a, 1, "join")?;
                let items: Vec<String> = match a.first() {
                    Some(T::List(l)) => l
                        .iter()
                        .map(|v| match v {
                            T::String(s) => s.to_string(),
                            v => v.to_string(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Ok(T::String(Arc::from(items.join(&sep))))
            })
            .func("split", |a| {
                let (s, sep) = (arg_str(a, 0, "split")?, arg_str(a, 1, "split")?);
                Ok(T::List(
                    s.split(sep.as_str())
                        .map(|p| T::String(Arc::from(p)))
                        .collect(),
                ))
            })
            .func("lower", |a| {
                Ok(T::String(Arc::from(arg_str(a, 0, "lower")?.to_lowercase())))
            })
            .func("upper", |a| {
                Ok(T::String(Arc::from(arg_str(a, 0, "upper")?.to_uppercase())))
            })
            .func("title", |a| {
                Ok(T::String(Arc::from(title(&arg_str(a, 0, "title")?))))
            })
            .func("truncate", |a| {
                let s = arg_str(a, 0, "truncate")?;
                let n = arg_int(a, 1, "truncate")?;
                Ok(T::String(Arc::from(s.chars().take(n).collect::<String>())))
            })
            .func("pad", |a| {
                let s = arg_str(a, 0, "pad")?;
                let (pre, post) = (arg_int(a, 1, "pad")?, arg_int(a, 2, "pad")?);
                Ok(T::String(Arc::from(format!(
                    "{}{s}{}",
                    " ".repeat(pre),
                    " ".repeat(post)
                ))))
            })
            // `ps --format '{{.Label "k"}}'` (a method in Docker) arrives
            // here as `label . "k"`: the value of label k of the row's
            // `Labels` ("k=v,k2=v2"), or "".
            .func("label", |a| {
                let labels = match a.first() {
                    Some(T::Map(m)) => m.get("Labels").map(|v| v.to_string()).unwrap_or_default(),
                    _ => String::new(),
                };
                let key = arg_str(a, 1, "label")?;
                let value = labels
                    .split(',')
                    .find_map(|kv| {
                        kv.split_once('=')
                            .filter(|(k, _)| *k == key)
                            .map(|(_, v)| v)
                    })
                    .unwrap_or_default();
                Ok(T::String(Arc::from(value)))
            })
            .parse(src)
            .map_err(|e| anyhow::Error::new(ParseError(e.to_string())))?;
        Ok(Compiled(t))
    }

    pub fn render(&self, value: &Value) -> Result<String> {
        self.0
            .execute_to_string(&from_json(value))
            .map_err(|e| anyhow!("template parsing error: {e}"))
    }
}

/// Renders `template` over `value` once; a missing key is an error.
pub fn render_strict(template: &str, value: &Value) -> Result<String> {
    Compiled::new(template)?.render(value)
}

/// Renders `template` over `value` once; a missing key prints `<no value>`.
pub fn render(template: &str, value: &Value) -> Result<String> {
    Compiled::lenient(template)?.render(value)
}

fn from_json(v: &Value) -> T {
    match v {
        Value::Null => T::Nil,
        Value::Bool(b) => T::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => T::Int(i),
            (None, Some(u)) => T::Uint(u),
            _ => T::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => T::String(Arc::from(s.as_str())),
        Value::Array(a) => T::List(a.iter().map(from_json).collect()),
        Value::Object(o) => T::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), from_json(v)))
                .collect(),
        )),
    }
}

fn to_json(v: &T) -> Value {
    match v {
        T::Bool(b) => Value::Bool(*b),
        T::Int(i) => (*i).into(),
        T::Uint(u) => (*u).into(),
        T::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        T::String(s) => Value::String(s.to_string()),
        T::List(l) => Value::Array(l.iter().map(to_json).collect()),
        T::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        _ => Value::Null,
    }
}

/// How a list verb prints its rows: Docker's default table, `table` with a
/// template, a bare template (no header) or `json`.
pub struct Listing {
    /// The verb's default `table ...` template.
    pub default: &'static str,
    /// Column headers by field name (`ID` → `CONTAINER ID`).
    pub headers: &'static [(&'static str, &'static str)],
}

impl Listing {
    /// Prints `rows` (each a JSON object of the verb's fields) as `format` says.
    pub fn print(&self, format: Option<&str>, rows: &[Value]) -> Result<()> {
        print!("{}", self.render(format, rows)?);
        Ok(())
    }

    /// What [`Listing::print`] prints (`stats` redraws it in place).
    pub fn render(&self, format: Option<&str>, rows: &[Value]) -> Result<String> {
        let format = match format.map(str::trim) {
            None | Some("") | Some("table") => self.default,
            Some(f) => f,
        };
        let mut out = String::new();
        if format == "json" {
            for r in rows {
                out.push_str(&serde_json::to_string(r)?);
                out.push('\n');
            }
        } else if let Some(body) = format.strip_prefix("table") {
            let t = Compiled::new(&unescape(body.trim_start()))?;
            let header: serde_json::Map<String, Value> = self
                .headers
                .iter()
                .map(|(k, h)| (k.to_string(), Value::String(h.to_string())))
                .collect();
            let mut lines = vec![t.render(&Value::Object(header))?];
            for r in rows {
                lines.push(t.render(r)?);
            }
            out = crate::table::tabwrite(&lines);
        } else {
            let t = Compiled::new(&unescape(format))?;
            for r in rows {
                out.push_str(&t.render(r)?);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// Docker reads `\t` and `\n` in a `--format` as a tab and a newline.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::{render, render_strict};
    use serde_json::json;

    #[test]
    fn go_semantics_and_docker_functions() {
        let v = json!({"State": {"Pid": 42, "Status": "running"}, "Cmd": ["sleep", "30"],
                       "Labels": {"b": "2", "a": "1"}});
        let r = |t: &str| render_strict(t, &v).unwrap();
        assert_eq!(r("{{.State.Pid}}"), "42");
        assert_eq!(r("{{.Cmd}}"), "[sleep 30]");
        assert_eq!(r("{{.Labels}}"), "map[a:1 b:2]");
        assert_eq!(r("{{json .Cmd}}"), "[\"sleep\",\"30\"]");
        assert_eq!(r("{{range .Cmd}}<{{.}}>{{end}}"), "<sleep><30>");
        assert_eq!(r("{{if eq .State.Status \"running\"}}up{{end}}"), "up");
        assert_eq!(r("{{index .Labels \"a\"}} {{len .Cmd}}"), "1 2");
        assert_eq!(
            r("{{printf \"%s-%d\" .State.Status .State.Pid}}"),
            "running-42"
        );
        assert_eq!(r("{{join .Cmd \",\"}}"), "sleep,30");
        assert_eq!(
            r("{{upper .State.Status}} {{title \"a b\"}}"),
            "RUNNING A B"
        );
        assert_eq!(
            r("{{truncate .State.Status 3}}|{{pad \"x\" 1 2}}|"),
            "run| x  |"
        );
        assert_eq!(r("{{split \"a,b\" \",\"}}"), "[a b]");
        // A missing key fails instead of printing <no value>.
        let e = render_strict("{{.Nope}}", &v).unwrap_err().to_string();
        assert!(e.contains("Nope"), "{e}");
        assert!(render_strict("{{.State", &v).is_err());
        // ... unless asked for Go's default (a map's missing key).
        assert_eq!(render("{{.Labels.c}}", &v).unwrap(), "<no value>");
    }
}
