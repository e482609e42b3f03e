//! Docker's table output: Go's `text/tabwriter` as Docker's CLI configures
//! it (minimum cell width 10, padding 3, spaces), header in capitals.
//! Hand-written (a few lines) rather than a crate: only this one
//! configuration of tabwriter's column rule is needed.

/// Renders `rows` under `header`, each column as wide as its widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut lines = vec![header.join("\t")];
    lines.extend(rows.iter().map(|r| r.join("\t")));
    tabwrite(&lines)
}

/// Aligns tab-separated cells: every tab-terminated cell is padded to its
/// column's width (its widest cell plus 3, at least 10); the last cell of
/// a line is printed as it is.
pub fn tabwrite(lines: &[String]) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let split: Vec<Vec<&str>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &split {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + PADDING).max(MIN_WIDTH);
            match widths.get_mut(i) {
                Some(have) => *have = (*have).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for cells in &split {
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_like_go_tabwriter() {
        let t = super::render(&["A", "NAME"], &[vec!["long-cell-xy".into(), "x".into()]]);
        assert_eq!(t, "A              NAME\nlong-cell-xy   x\n");
        let t = super::render(&["ID", "N"], &[vec!["1".into(), "x".into()]]);
        assert_eq!(t, "ID        N\n1         x\n");
    }
}
