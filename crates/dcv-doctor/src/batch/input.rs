//! Reading a batch's input as a stream: one physical line at a time, each
//! capped in size, numbered as the file numbers it, and turned into what one
//! check asks for (plain hostnames, CSV with a header row, or JSON Lines),
//! so memory never depends on the input's length and a bad line is only that
//! line's error.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::cli::InputFormat;
use crate::config::{CheckOptions, ConfigError, parse_ca, parse_method};

/// Longest input line kept, in bytes. A JSON Lines record with a 253-octet
/// hostname (RFC 1035 §2.3.4), a 256-character token, its key authorisation
/// (token + '.' + 43-character thumbprint, RFC 8555 §8.1) and 16 TXT values
/// of 255 octets fits in 5 KiB; 16 KiB leaves room for quoting. A longer
/// line is read to its end without being held and becomes a `too_long`
/// record.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// How much of a line that is not a record an error record repeats.
pub const MAX_ECHO_CHARS: usize = 256;

/// One physical line, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// UTF-8 text without its line ending.
    Text(String),
    /// Longer than [`MAX_LINE_BYTES`]; its bytes were skipped.
    TooLong,
    /// Not UTF-8.
    NotText,
}

/// Lines of a byte stream, numbered from 1, each at most [`MAX_LINE_BYTES`]
/// held in memory (`BufRead::lines` would hold a line of any length).
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    number: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            number: 0,
            buf: Vec::with_capacity(256),
        }
    }

    /// The next line and its 1-based number, or `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, RawLine)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut read_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let (part, used, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + part.len() > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            self.inner.consume(used);
            if ended {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, RawLine::TooLong)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let line = match std::str::from_utf8(&self.buf) {
            // A byte-order mark from a spreadsheet's export is not part of
            // the first field.
            Ok(text) => RawLine::Text(text.strip_prefix('\u{feff}').unwrap_or(text).to_owned()),
            Err(_) => RawLine::NotText,
        };
        Ok(Some((self.number, line)))
    }
}

/// Whether a line carries nothing: blank, or a `#` comment.
pub fn is_skipped(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t.starts_with('#')
}

/// The format the first line that is not skipped shows: `{` opens a JSON
/// Lines record; a comma, or a lone `hostname` column, is a CSV header;
/// anything else is a hostname.
pub fn detect(first: &str) -> InputFormat {
    let t = first.trim();
    if t.starts_with('{') {
        InputFormat::Jsonl
    } else if t.contains(',') || t.eq_ignore_ascii_case("hostname") {
        InputFormat::Csv
    } else {
        InputFormat::Lines
    }
}

/// Why a line is not a check (its record's `error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineErrorKind {
    /// The line is not UTF-8.
    NotText,
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// Not a CSV row of the header's columns, or not a JSON object of the
    /// known keys.
    Malformed,
    /// Not a hostname this check can take (`check` would refuse it too).
    Hostname,
    /// An option breaks the rule its `check` flag has.
    Option,
    /// The check itself stopped without a report (a bug: the record says so
    /// instead of ending the run).
    Internal,
    /// A queued job's check that its worker refused: it needs private,
    /// loopback or reserved addresses and the worker checks public targets
    /// only (`worker --allow-private` in a lab).
    Refused,
    /// A queued job's check that never completed: it timed out, or its
    /// workers kept stopping until its attempts ran out.
    Failed,
}

/// A line that is not a check, and why.
#[derive(Debug)]
pub enum LineError {
    NotText,
    TooLong,
    Malformed(String),
    Config(ConfigError),
}

impl LineError {
    pub fn kind(&self) -> LineErrorKind {
        match self {
            Self::NotText => LineErrorKind::NotText,
            Self::TooLong => LineErrorKind::TooLong,
            Self::Malformed(_) => LineErrorKind::Malformed,
            Self::Config(ConfigError::Option { .. }) => LineErrorKind::Option,
            Self::Config(_) => LineErrorKind::Hostname,
        }
    }

    /// The option at fault, for `option` errors.
    pub fn option(&self) -> Option<crate::config::CheckOption> {
        match self {
            Self::Config(ConfigError::Option { option, .. }) => Some(*option),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::NotText => "the line is not UTF-8 text".to_owned(),
            Self::TooLong => format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            Self::Malformed(why) => why.clone(),
            Self::Config(e) => e.for_line(),
        }
    }
}

impl From<ConfigError> for LineError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// One line's request: its number, what to show as its input, and the
/// options or why there are none.
#[derive(Debug)]
pub struct LineRequest {
    pub line: u64,
    /// The hostname as written, or the start of a line that is not a record.
    pub input: String,
    pub options: Result<CheckOptions, LineError>,
}

/// Why the input cannot be read at all (each line's own problems are
/// records).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The first line that is not blank is not UTF-8: not a list of names.
    #[error("not UTF-8 text")]
    NotText,
    /// The CSV header names no `hostname` column, an unknown column or one
    /// twice: no row could be read.
    #[error("line {line}: CSV header: {problem}")]
    Header { line: u64, problem: String },
}

/// The CSV columns a header may name (the `check` flags' names; `txt_value`
/// may repeat, one value per column).
pub const CSV_COLUMNS: [&str; 8] = [
    "hostname",
    "ca",
    "method",
    "http_token",
    "http_body",
    "txt_value",
    "dcv_delegation",
    "account_uri",
];

/// One CSV column's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Hostname,
    Ca,
    Method,
    HttpToken,
    HttpBody,
    TxtValue,
    DcvDelegation,
    AccountUri,
}

impl Column {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hostname" => Self::Hostname,
            "ca" => Self::Ca,
            "method" => Self::Method,
            "http_token" => Self::HttpToken,
            "http_body" => Self::HttpBody,
            "txt_value" => Self::TxtValue,
            "dcv_delegation" => Self::DcvDelegation,
            "account_uri" => Self::AccountUri,
            _ => return None,
        })
    }
}

/// A JSON Lines record: the `check` flags' names, `txt_values` a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    hostname: String,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    http_token: Option<String>,
    #[serde(default)]
    http_body: Option<String>,
    #[serde(default)]
    txt_values: Vec<String>,
    #[serde(default)]
    dcv_delegation: Option<String>,
    #[serde(default)]
    account_uri: Option<String>,
}

/// Where the parser is: the format not yet known, or known (with the CSV
/// header's columns).
#[derive(Debug)]
enum State {
    Undecided,
    Lines,
    Csv(Vec<Column>),
    CsvHeaderNext,
    Jsonl,
}

/// Turns lines into requests, one format for the whole input.
#[derive(Debug)]
pub struct LineParser {
    state: State,
    defaults: CheckOptions,
    /// Whether a line other than a blank or a comment was seen.
    started: bool,
}

impl LineParser {
    /// `format` as chosen (`Auto`: from the first line that is not skipped);
    /// `defaults` are the batch's flags, which each line's options override.
    pub fn new(format: InputFormat, defaults: CheckOptions) -> Self {
        let state = match format {
            InputFormat::Auto => State::Undecided,
            InputFormat::Lines => State::Lines,
            InputFormat::Csv => State::CsvHeaderNext,
            InputFormat::Jsonl => State::Jsonl,
        };
        Self {
            state,
            defaults,
            started: false,
        }
    }

    /// The request for one line; `None` for blanks, comments and the CSV
    /// header.
    pub fn parse(&mut self, line: u64, raw: RawLine) -> Result<Option<LineRequest>, InputError> {
        let text = match raw {
            RawLine::Text(text) => text,
            RawLine::NotText if !self.started => return Err(InputError::NotText),
            RawLine::NotText => return Ok(Some(error(line, String::new(), LineError::NotText))),
            RawLine::TooLong => {
                self.started = true;
                return Ok(Some(error(line, String::new(), LineError::TooLong)));
            }
        };
        if is_skipped(&text) {
            return Ok(None);
        }
        self.started = true;
        if matches!(self.state, State::Undecided) {
            self.state = match detect(&text) {
                InputFormat::Csv => State::CsvHeaderNext,
                InputFormat::Jsonl => State::Jsonl,
                _ => State::Lines,
            };
        }
        match &self.state {
            State::Undecided | State::Lines => {
                let hostname = text.trim().to_owned();
                let opts = CheckOptions {
                    hostname: hostname.clone(),
                    ..self.defaults.clone()
                };
                Ok(Some(LineRequest {
                    line,
                    input: hostname,
                    options: Ok(opts),
                }))
            }
            State::CsvHeaderNext => {
                self.state = State::Csv(csv_header(line, &text)?);
                Ok(None)
            }
            State::Csv(columns) => Ok(Some(self.csv_row(line, &text, columns))),
            State::Jsonl => Ok(Some(self.json_line(line, &text))),
        }
    }

    fn csv_row(&self, line: u64, text: &str, columns: &[Column]) -> LineRequest {
        let fields = match split_csv_line(text) {
            Ok(fields) => fields,
            Err(why) => return error(line, echo(text), LineError::Malformed(why)),
        };
        if fields.len() != columns.len() {
            return error(
                line,
                echo(text),
                LineError::Malformed(format!(
                    "{} fields; the header has {} columns",
                    fields.len(),
                    columns.len()
                )),
            );
        }
        let mut opts = CheckOptions {
            hostname: String::new(),
            ..self.defaults.clone()
        };
        let mut set = |column: Column, value: &str| -> Result<(), ConfigError> {
            let value = value.trim();
            if value.is_empty() {
                return Ok(());
            }
            let owned = Some(value.to_owned());
            match column {
                Column::Hostname => opts.hostname = value.to_owned(),
                Column::Ca => opts.ca = parse_ca(value)?,
                Column::Method => opts.method = parse_method(value)?,
                Column::HttpToken => opts.http_token = owned,
                Column::HttpBody => opts.http_body = owned,
                Column::TxtValue => opts.txt_values.push(value.to_owned()),
                Column::DcvDelegation => opts.dcv_delegation = owned,
                Column::AccountUri => opts.account_uri = owned,
            }
            Ok(())
        };
        let mut result = Ok(());
        for (column, value) in columns.iter().zip(&fields) {
            result = result.and_then(|()| set(*column, value));
        }
        let input = opts.hostname.clone();
        LineRequest {
            line,
            input: if input.is_empty() { echo(text) } else { input },
            options: result.map(|()| opts).map_err(LineError::from),
        }
    }

    fn json_line(&self, line: u64, text: &str) -> LineRequest {
        let record: JsonLine = match serde_json::from_str(text) {
            Ok(record) => record,
            Err(e) => {
                return error(
                    line,
                    echo(text),
                    LineError::Malformed(format!("not a JSON Lines record: {e}")),
                );
            }
        };
        let build = || -> Result<CheckOptions, ConfigError> {
            let mut opts = CheckOptions {
                hostname: record.hostname.trim().to_owned(),
                http_token: record.http_token.clone(),
                http_body: record.http_body.clone(),
                txt_values: record.txt_values.clone(),
                dcv_delegation: record.dcv_delegation.clone(),
                ..self.defaults.clone()
            };
            if let Some(ca) = &record.ca {
                opts.ca = parse_ca(ca)?;
            }
            if let Some(method) = &record.method {
                opts.method = parse_method(method)?;
            }
            if record.account_uri.is_some() {
                opts.account_uri.clone_from(&record.account_uri);
            }
            Ok(opts)
        };
        LineRequest {
            line,
            input: record.hostname.trim().to_owned(),
            options: build().map_err(LineError::from),
        }
    }
}

fn error(line: u64, input: String, why: LineError) -> LineRequest {
    LineRequest {
        line,
        input,
        options: Err(why),
    }
}

/// The start of a line that is not a record, for its error record.
fn echo(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}...", &t[..cut]),
        None => t.to_owned(),
    }
}

fn csv_header(line: u64, text: &str) -> Result<Vec<Column>, InputError> {
    let header = |problem: String| InputError::Header { line, problem };
    let names = split_csv_line(text).map_err(header)?;
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let name = name.trim().to_ascii_lowercase();
        let column = Column::parse(&name).ok_or_else(|| {
            header(format!(
                "unknown column {name:?} (columns: {})",
                CSV_COLUMNS.join(", ")
            ))
        })?;
        if column != Column::TxtValue && columns.contains(&column) {
            return Err(header(format!("column {name:?} is named twice")));
        }
        columns.push(column);
    }
    if !columns.contains(&Column::Hostname) {
        return Err(header("no \"hostname\" column".to_owned()));
    }
    Ok(columns)
}

/// Splits one CSV line into fields (RFC 4180 §2: `,` separates, a field in
/// double quotes may hold `,` and `""` for a quote). A record is one line:
/// no value a check takes holds a line break, and a quote left open must
/// not swallow the rest of the input.
pub fn split_csv_line(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut column = 1usize;
    loop {
        // At the start of a field.
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let opened_at = column;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!(
                            "field {opened_at} opens a quote that the line does not close"
                        ));
                    }
                }
            }
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            match chars.peek() {
                None | Some(',') => {}
                Some(c) => {
                    return Err(format!(
                        "field {opened_at}: {c:?} after the closing quote (a quote inside a quoted field is written \"\")"
                    ));
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!(
                        "field {column}: a quote inside an unquoted field (quote the whole field)"
                    ));
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(std::mem::take(&mut field));
        match chars.next() {
            Some(',') => column += 1,
            None => return Ok(fields),
            Some(_) => unreachable!("a field ends at a comma or the end of the line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, RawLine)> {
        let mut reader = LineReader::new(input);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn lines_keep_their_numbers_and_long_or_binary_lines_are_marked_not_held() {
        let mut input = b"a.example\r\n\n".to_vec();
        input.extend(vec![b'x'; MAX_LINE_BYTES + 1]);
        input.extend(b"\n\xff\xfe\nlast");
        assert_eq!(
            lines(&input),
            [
                (1, RawLine::Text("a.example".into())),
                (2, RawLine::Text(String::new())),
                (3, RawLine::TooLong),
                (4, RawLine::NotText),
                (5, RawLine::Text("last".into())),
            ]
        );
        // Exactly the limit is kept; a small buffer splits the line across reads.
        let exact = vec![b'y'; MAX_LINE_BYTES];
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(7, &exact[..]));
        assert_eq!(
            reader.next_line().unwrap(),
            Some((1, RawLine::Text("y".repeat(MAX_LINE_BYTES))))
        );
        assert_eq!(reader.next_line().unwrap(), None);
    }

    #[test]
    fn csv_fields_follow_rfc_4180_on_one_line() {
        assert_eq!(
            split_csv_line(r#"a, "b,c" ,"say ""hi""",,"#).unwrap(),
            ["a", "b,c", "say \"hi\"", "", ""]
        );
        assert!(
            split_csv_line(r#"a,"open"#)
                .unwrap_err()
                .contains("field 2")
        );
        assert!(split_csv_line(r#"a,b"c"#).is_err());
        assert!(split_csv_line(r#""a"b"#).is_err());
    }

    #[test]
    fn the_format_is_detected_from_the_first_line_that_is_not_skipped() {
        assert_eq!(detect("www.example.com"), InputFormat::Lines);
        assert_eq!(detect("hostname"), InputFormat::Csv);
        assert_eq!(detect("hostname,method"), InputFormat::Csv);
        assert_eq!(detect(r#" {"hostname":"a.example"}"#), InputFormat::Jsonl);
    }

    fn parse_all(format: InputFormat, input: &str) -> Result<Vec<LineRequest>, InputError> {
        let mut parser = LineParser::new(format, CheckOptions::new(""));
        let mut out = Vec::new();
        for (n, raw) in lines(input.as_bytes()) {
            if let Some(request) = parser.parse(n, raw)? {
                out.push(request);
            }
        }
        Ok(out)
    }

    #[test]
    fn csv_rows_take_the_headers_columns_and_bad_rows_are_records() {
        let input = "# customers\nHostname, method ,txt_value,txt_value\nwww.example.com,dns,v1,v2\n\nshop.example.com,,,\nbad.example.com,dns,\"open\nx.example.com,smtp,,\n";
        let requests = parse_all(InputFormat::Auto, input).unwrap();
        let lines: Vec<u64> = requests.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 5, 6, 7]);
        let first = requests[0].options.as_ref().unwrap();
        assert_eq!(first.hostname, "www.example.com");
        assert_eq!(first.method, crate::cli::MethodArg::Dns);
        assert_eq!(first.txt_values, ["v1", "v2"]);
        let second = requests[1].options.as_ref().unwrap();
        assert_eq!(second.method, crate::cli::MethodArg::All);
        assert!(second.txt_values.is_empty());
        let bad = requests[2].options.as_ref().unwrap_err();
        assert_eq!(bad.kind(), LineErrorKind::Malformed);
        let smtp = requests[3].options.as_ref().unwrap_err();
        assert_eq!(smtp.kind(), LineErrorKind::Option);
        assert_eq!(requests[3].input, "x.example.com");
    }

    #[test]
    fn a_bad_header_stops_the_input_before_any_row() {
        for (header, says) in [
            ("hostname,colour", "unknown column \"colour\""),
            ("ca,method", "no \"hostname\" column"),
            ("hostname,ca,ca", "named twice"),
        ] {
            let e = parse_all(InputFormat::Csv, &format!("{header}\na.example,x,y\n")).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().starts_with("line 1: CSV header"), "{e}");
        }
    }

    #[test]
    fn json_lines_take_known_keys_only() {
        let input = "{\"hostname\":\"a.example\",\"ca\":\"google\",\"txt_values\":[\"v\"]}\n{\"hostname\":\"b.example\",\"colour\":\"red\"}\nnot json\n{\"hostname\":\"c.example\",\"method\":\"smtp\"}\n";
        let requests = parse_all(InputFormat::Auto, input).unwrap();
        let a = requests[0].options.as_ref().unwrap();
        assert_eq!(a.ca, crate::cli::CaArg::Google);
        assert_eq!(a.txt_values, ["v"]);
        let b = requests[1].options.as_ref().unwrap_err();
        assert_eq!(b.kind(), LineErrorKind::Malformed);
        assert!(b.message().contains("colour"), "{}", b.message());
        assert_eq!(requests[2].input, "not json");
        assert_eq!(
            requests[3].options.as_ref().unwrap_err().option(),
            Some(crate::config::CheckOption::Method)
        );
    }

    #[test]
    fn binary_before_any_line_is_not_a_list_but_later_it_is_one_bad_line() {
        let mut parser = LineParser::new(InputFormat::Auto, CheckOptions::new(""));
        assert_eq!(
            parser.parse(1, RawLine::NotText).unwrap_err(),
            InputError::NotText
        );
        let requests = parse_all(InputFormat::Auto, "a.example\n").unwrap();
        assert_eq!(requests.len(), 1);
        let mut parser = LineParser::new(InputFormat::Auto, CheckOptions::new(""));
        parser.parse(1, RawLine::Text("a.example".into())).unwrap();
        let later = parser.parse(2, RawLine::NotText).unwrap().unwrap();
        assert_eq!(later.options.unwrap_err().kind(), LineErrorKind::NotText);
    }
}
