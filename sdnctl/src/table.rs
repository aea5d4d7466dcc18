//! Plain-text tables and field lists, aligned for a terminal, with no trailing spaces.

/// A table: upper-case headers, one row per object, columns separated by three spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; an empty cell is shown as `-`.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending with a newline.
    pub fn render(&self) -> String {
        let cell = |c: &str| -> String {
            if c.is_empty() {
                "-".to_string()
            } else {
                c.replace('\n', " ")
            }
        };
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| cell(c)).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    l.push_str("   ");
                }
                l.push_str(c);
                if i + 1 < cells.len() {
                    l.extend(std::iter::repeat_n(' ', w - c.chars().count()));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        line(&headers);
        for r in &rows {
            line(r);
        }
        out
    }
}

/// A list of `Label: value` lines with the values aligned (the detail view of one object).
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let label = format!("{k}:");
        let v = if v.is_empty() { "-" } else { v.as_str() };
        out.push_str(&format!("{label:<width$}  {v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut t = Table::new(&["ID", "NAME", "STATE"]);
        t.row(vec!["a".into(), "web-net".into(), "active".into()]);
        t.row(vec!["bbbb".into(), "".into(), "deleting".into()]);
        assert_eq!(
            t.render(),
            "ID     NAME      STATE\n\
             a      web-net   active\n\
             bbbb   -         deleting\n"
        );
    }

    #[test]
    fn empty_last_cell_and_newlines() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x\ny".into(), "".into()]);
        assert_eq!(t.render(), "A     B\nx y   -\n");
        assert!(Table::new(&["A"]).is_empty());
    }

    #[test]
    fn field_lists_align_values() {
        let s = fields(&[("Name", "web".into()), ("Description", "".into())]);
        assert_eq!(s, "Name:         web\nDescription:  -\n");
    }
}
