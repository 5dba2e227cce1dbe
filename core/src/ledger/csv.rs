//! The CSV form of ledger lines (RFC 4180, every cell quoted and defused).

use super::FIELDS;

/// The fields of an event's JSON line (a flat object of strings, numbers and nulls), as
/// text: a string as it reads, a number as written, null as empty. `None` when the line
/// is not such an object.
pub fn fields_of(json_line: &str) -> Option<Vec<(String, String)>> {
    crate::json::whole(json_line, |r| {
        let mut fields = Vec::new();
        r.object(|r, key| {
            let value = match r.string_or_null() {
                Ok(s) => s.unwrap_or_default(),
                Err(_) => r.raw()?.to_string(),
            };
            fields.push((key.to_string(), value));
            Ok(())
        })?;
        Ok(fields)
    })
    .ok()
}

/// One CSV record (RFC 4180, `\r\n`-terminated) from the JSON line of an event, its
/// columns [`FIELDS`]. A cell that a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
pub fn csv_row(json_line: &str) -> Option<String> {
    let fields = fields_of(json_line)?;
    let mut row = String::new();
    for (i, field) in FIELDS.iter().enumerate() {
        if i > 0 {
            row.push(',');
        }
        let cell = fields.iter().find(|(k, _)| k == field).map_or("", |(_, v)| v.as_str());
        row.push_str(&csv_cell(cell));
    }
    row.push_str("\r\n");
    Some(row)
}

/// The CSV header record.
pub fn csv_header() -> String {
    let mut row = FIELDS.join(",");
    row.push_str("\r\n");
    row
}

/// A CSV cell: always quoted (a spreadsheet that splits on `;` or tabs keeps it whole),
/// defused when it starts like a formula.
fn csv_cell(text: &str) -> String {
    let guarded =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}
